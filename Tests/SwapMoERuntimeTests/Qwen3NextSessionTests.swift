import Foundation
import Testing
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// Qwen3-Next under every policy: its DeltaNet layers keep a recurrent state per sequence instead of KV rows, so
/// the planner's per-sequence bytes include it, and exact at the smallest cap it runs with gives resident's tokens.
@Suite("Qwen3-Next under a cap", .serialized)
struct Qwen3NextSessionTests {
    @Test("exact at the minimum cap gives resident's greedy tokens; swap and static run under a cap",
          arguments: [("qwen3_next", PackOptions.Compression.none), ("qwen3_next", .lz4), ("qwen3_next_fp8", .none)])
    func policies(fixture: String, compress: PackOptions.Compression) throws {
        try PlannedCaps.expectPolicies(fixture: fixture, compress: compress)
    }

    @Test("a conversation slot continues its recurrent state across turns and starts over when the prompt diverges")
    func slots() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/qwen3_next", output: archive))
        var o = SessionOptions(archive: archive)
        o.threads = 1; o.context = 128; o.contextGiven = true; o.slots = 2
        let s = try Session(options: o)
        let fresh = try Session(options: { var f = o; f.slots = 1; return f }())
        let prompt = s.encode("It is a truth universally acknowledged")
        let slot = s.slots[0]
        let first = try s.generate(in: slot, prompt: prompt, maxNewTokens: 4, sampler: .greedy, eos: []) { _, _ in true }.tokens
        // The next turn extends what the slot holds: only the new tokens run, over the kept state.
        let longer = prompt + first + s.encode(", that a single man")
        let turn = try s.generate(in: slot, prompt: longer, maxNewTokens: 4, sampler: .greedy, eos: []) { _, _ in true }
        #expect(turn.reusedTokens == prompt.count + first.count - 1, "the slot keeps all it computed")
        let reused = turn.tokens
        let alone = try fresh.generate(in: fresh.slots[0], prompt: longer, maxNewTokens: 4, sampler: .greedy, eos: []) { _, _ in true }.tokens
        #expect(reused == alone)
        // A prompt that shares only a prefix cannot cut the state back: the slot starts over, with the same result.
        let diverged = Array(prompt.prefix(3)) + s.encode(" in possession of a good fortune")
        let restart = try s.generate(in: slot, prompt: diverged, maxNewTokens: 4, sampler: .greedy, eos: []) { _, _ in true }
        #expect(restart.reusedTokens == 0)
        let again = restart.tokens
        let alone2 = try fresh.generate(in: fresh.slots[0], prompt: diverged, maxNewTokens: 4, sampler: .greedy, eos: []) { _, _ in true }.tokens
        #expect(again == alone2)
    }
}
