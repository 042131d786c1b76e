import Foundation
import Testing
import SwapMoECore
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// Phi-3.5-MoE routes through its sparsemixer: masked routing (swap, static) picks among allowed experts only, and
/// exact under the smallest cap it runs with gives resident's tokens. The greedy run crosses the fixture's
/// LongRoPE original context (40), so the per-call mscale switch runs under every policy.
@Suite("Phi-3.5-MoE under a cap", .serialized)
struct PhimoeSessionTests {
    static func greedy(_ o: SessionOptions) throws -> [Int] {
        try Session(options: o).generate("It is a truth universally acknowledged, that a single man in possession of a good fortune",
                                         maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
    }

    @Test("exact at the minimum cap gives resident's greedy tokens; swap and static run under a cap",
          arguments: [PackOptions.Compression.none, .lz4])
    func policies(compress: PackOptions.Compression) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/phimoe", output: archive, compress: compress))
        var o = SessionOptions(archive: archive)
        o.threads = 1; o.context = 64; o.contextGiven = true
        let resident = try Self.greedy(o)
        #expect(resident.count == 12)

        let caps = try PlannedCaps(o)
        try caps.expectResidentTokens(resident, exactShares: [try caps.minimumShare(.exact)], greedy: Self.greedy)
        var s = o
        s.policy = .swap
        s.maxRSS = try caps.cap(0.7, .swap)
        #expect(try Self.greedy(s).count == 12, "swap at 70%")

        let calibration = dir + "/calibration.txt"
        try "It is a truth universally acknowledged, that a single man".write(toFile: calibration, atomically: true, encoding: .utf8)
        var st = o
        st.policy = .static
        st.calibration = calibration
        st.maxRSS = try caps.cap(0.7, .static)
        #expect(try Self.greedy(st).count == 12, "static at 70%")
    }
}
