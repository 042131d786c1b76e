import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime
import SwapMoEEngine

/// gpt-oss's experts carry biases in their blocks and, from the hub, MXFP4 weights: every provider serves them as
/// units. Exact under the smallest cap it runs with gives resident's tokens; swap and static run under a cap.
@Suite("gpt-oss under a cap", .serialized)
struct GptOssSessionTests {
    static func greedy(_ o: SessionOptions) throws -> [Int] {
        try Session(options: o).generate("It is a truth universally acknowledged", maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
    }

    @Test("exact at the minimum cap gives resident's greedy tokens; swap and static run under a cap",
          arguments: ["gpt_oss", "gpt_oss_mxfp4"], [PackOptions.Compression.none, .lz4])
    func policies(fixture: String, compress: PackOptions.Compression) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/" + fixture, output: archive, compress: compress))
        if fixture.hasSuffix("mxfp4") {
            // Kept as MXFP4 blocks (17 bytes per 32 weights, rows interleaved by 8: MXFP4_X8), never widened.
            let a = try Archive(path: archive)
            #expect(a.manifest.expertLayouts.allSatisfy { l in l.tensors.filter { $0.shape.count == 2 }.allSatisfy { $0.dtype == .mxfp4x8 } })
        }
        try PlannedCaps.expectPolicies(archive: archive, dir: dir, greedy: Self.greedy)
    }
}
