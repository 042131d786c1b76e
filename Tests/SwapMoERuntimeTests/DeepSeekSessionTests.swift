import Foundation
import Testing
import SwapMoECore
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime
import SwapMoEEngine

/// The DeepSeek and GLM-4.5 fixtures (their FP8 hub-layout variants included) under every policy through the library API: exact near the smallest cap the
/// planner allows generates what resident does, swap and static (routing among resident experts only, through
/// the grouped routers' masks) run. The caps are 64 MiB above the planner's minimum, planned just before each
/// session, as tests of other suites grow the RSS the session measures again; the fixtures' experts are a few KiB,
/// so such a cap holds most of them (`DeepSeekTests` runs exact with k + 1 slots).
@Suite("DeepSeek under a cap", .serialized)
struct DeepSeekSessionTests {
    @Test("exact at the minimum cap == resident; swap and static generate",
          arguments: ["deepseek_v3", "deepseek_v3_plain", "deepseek_v2", "glm4_moe", "deepseek_v3_fp8", "glm4_moe_fp8"])
    func policies(fixture: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/" + fixture, output: archive, compress: .lz4, shuffle: true))
        let prompt = "It is a truth universally acknowledged"
        var o = SessionOptions(archive: archive)
        o.threads = 1; o.context = 96; o.contextGiven = true
        let resident = try Session(options: o)
        let reference = try resident.generate(prompt, maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
        #expect(reference.count == 12)

        try "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife."
            .write(toFile: dir + "/calibration.txt", atomically: true, encoding: .utf8)
        for policy in [Policy.exact, .swap, .static] {
            var p = o
            p.policy = policy
            if policy == .static { p.calibration = dir + "/calibration.txt" }
            // Planned just before the session on this process's RSS as it is now: the suites running beside this one
            // grew it past a 16 MiB slack between one plan and the last session (CI, 2026-12-04), as in
            // QuantizedSessionTests, hence 64 MiB. Slack only grows the arena; exact output does not depend on it.
            let planner = try Session.makePlanner(resident.archive, config: try resident.archive.modelConfig(), context: 96,
                                                  baseline: Int(ProcessMemory.currentRSS()))
            p.maxRSS = planner.cap(expertShare: planner.minimumExpertShare(policy), policy: policy, ioThreads: p.ioThreads) + (64 << 20)
            let s = try Session(options: p)
            let plan = try #require(s.plan)
            let got = try s.generate(prompt, maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
            if policy == .exact { #expect(got == reference, "\(fixture): exact at \(plan.slots) slots") } else { #expect(got.count == 12) }
        }
    }
}
