import Foundation
import Testing
import SwapMoETestSupport

/// The fixtures of issue 19's families, each with state of its own that `plan` must count: MLA's compressed
/// latent cache (DeepSeek-V2/V3), partial rotary and q/k norms (GLM-4.5), sliding-window rings and sinks (gpt-oss,
/// float and hub MXFP4 experts), LayerNorm with biases, a sliding window and LongRoPE (Phi-3.5-MoE), the Gated
/// DeltaNet's conv and recurrent state (Qwen3-Next); and other layouts of the same families: DeepSeek-V3's FP8
/// hub weights and GLM-4.5's compressed-tensors FP8 (dequantized on packing), and Phi-3.5-MoE's fused experts. Names missing from Tests/Fixtures/models
/// are left out.
let capFamilies = ["deepseek_v2", "deepseek_v3", "deepseek_v3_fp8", "glm4_moe", "glm4_moe_ct", "gpt_oss", "gpt_oss_mxfp4", "phimoe", "phimoe_fused",
                   "qwen3_next"]
    .filter { FileManager.default.fileExists(atPath: TestPaths.fixtures + "/models/\($0)/config.json") }

@Suite("Memory caps held by the kernel, per family (issue 19)", .serialized)
struct FamilyCapTests {
    /// Long enough that the KV cache / recurrent state `plan` counts for it is allocated whole (the cache is
    /// zeroed, so resident, at start), and prompt + generation pass phimoe's window (16) and its LongRoPE
    /// switch (40 positions) and gpt-oss's sliding window.
    static let ctx = 512

    @Test("""
          at exact's and swap's minimum cap, inside a cgroup v1 memory limit of that cap: exit 0, no OOM kill, peak RSS \
          under the cap, exact's greedy ids equal resident's
          """,
          .enabled(if: cgroupsAvailable, "needs root and a writable cgroup v1 memory controller at /sys/fs/cgroup/memory"),
          arguments: capFamilies)
    func minimumCapInCgroup(family: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/\(family).swm"
        let p = try runCommand(TestPaths.swapmoeBinary, ["pack", TestPaths.fixtures + "/models/\(family)", "-o", archive,
                                                         "--compress", "lz4", "--shuffle"])
        try #require(p.status == 0, "pack \(family): \(p.stderr)")
        let run = ["run", archive, "-p", "Anne Elliot walked along the Cobb at Lyme, thinking of Captain Wentworth and the",
                   "-n", "32", "--temp", "0", "--ignore-eos", "--ctx", "\(Self.ctx)", "--json"]
        let resident = try jsonObject(try runCommand(TestPaths.swapmoeBinary, run))
        let residentIds = try #require(resident["generated_ids"] as? [Int], "\(family): resident run")
        #expect(residentIds.count == 32)
        for policy in ["exact", "swap"] {
            let cap = try minimumCap(archive, policy: policy, ctx: Self.ctx)
            let (r, kills) = try runInCgroup(limit: cap, run + ["--policy", policy, "--max-rss", "\(cap)"])
            #expect(kills == 0, "\(family) \(policy) at \(cap): OOM kill inside the cgroup")
            #expect(r.status == 0, "\(family) \(policy) at \(cap): exit \(r.status): \(r.stderr)")
            guard r.status == 0 else { continue }
            let o = try jsonObject(r)
            #expect((o["peak_rss_bytes"] as? Int ?? .max) <= cap, "\(family) \(policy): peak RSS \(o["peak_rss_bytes"] ?? "?") over the cap \(cap)")
            if policy == "exact" {
                #expect(o["generated_ids"] as? [Int] == residentIds, "\(family): exact at its minimum cap differs from resident")
            } else {
                #expect(o["stall_seconds"] as? Double == 0, "\(family): swap stalled")
                #expect((o["generated_ids"] as? [Int])?.count == 32)
            }
        }
    }
}
