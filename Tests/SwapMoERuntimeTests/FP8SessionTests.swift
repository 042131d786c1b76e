import Foundation
import Testing
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// Archives packed from fine-grained and compressed-tensors FP8 checkpoints (Tools/make_fp8_fixtures.py), through the library API: every
/// expert resident, and exact at the smallest cap it runs with, generate the greedy tokens transformers generated
/// from the same dequantized weights (golden.json, which `ParityTests` also checks logit by logit).
@Suite("FP8 checkpoints under a cap", .serialized)
struct FP8SessionTests {
    @Test("packed from FP8, resident and exact at the minimum cap generate transformers' greedy tokens",
          arguments: ["deepseek_v3_fp8", "glm4_moe_fp8", "qwen3_next_fp8", "glm4_moe_ct", "deepseek_v3_ct_tensor"])
    func goldenUnderCap(fixture: String) throws {
        let folder = TestPaths.fixtures + "/models/" + fixture
        let golden = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json"))) as? [String: Any])
        let want = try #require(golden["greedy_ids"] as? [Int])
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        var o = SessionOptions(archive: dir + "/m.swm")
        o.threads = 1; o.context = 64; o.contextGiven = true
        let resident = try PlannedCaps.austenGreedy(o)   // golden.json's prompt, 12 new tokens
        #expect(resident == Array(want.prefix(12)), "\(fixture): resident")
        let caps = try PlannedCaps(o)
        try caps.expectResidentTokens(resident, exactShares: [try caps.minimumShare(.exact)], greedy: PlannedCaps.austenGreedy)
    }
}
