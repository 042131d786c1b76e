import Foundation
import Testing
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// Phi-3.5-MoE routes through its sparsemixer: masked routing (swap, static) picks among allowed experts only, and
/// exact under the smallest cap it runs with gives resident's tokens. The prompt (34 tokens) and 12 greedy tokens
/// cross the fixture's LongRoPE original context (40), so the per-call mscale switch runs under every policy.
@Suite("Phi-3.5-MoE under a cap", .serialized)
struct PhimoeSessionTests {
    static func greedy(_ o: SessionOptions) throws -> [Int] {
        let prompt = "It is a truth universally acknowledged, that a single man in possession of a good fortune"
        return try Session(options: o).generate(prompt, maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
    }

    @Test("exact at the minimum cap gives resident's greedy tokens; swap and static run under a cap",
          arguments: [PackOptions.Compression.none, .lz4])
    func policies(compress: PackOptions.Compression) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/phimoe", output: archive, compress: compress))
        try PlannedCaps.expectPolicies(archive: archive, dir: dir, greedy: Self.greedy)
    }
}
