import Foundation
import Testing
import SwapMoECore
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// Conversation slots: each keeps its KV cache, a prompt that extends it runs only its new tokens, several
/// slots generate together from threads of their own, and the planner counts every slot's cache.
@Suite("Session: slots and chat formats", .serialized)
struct SlotTests {
    static func options(_ archive: String, slots: Int = 1) -> SessionOptions {
        var o = SessionTests.options(archive)
        o.slots = slots
        return o
    }

    @Test("a prompt extending the slot's last conversation reuses its cache and gives a fresh run's tokens")
    func reuse() throws {
        let m = try SessionTests.packedDecoder()
        defer { TestPaths.remove(m.dir) }
        let s = try Session(options: Self.options(m.archive))
        let first = s.encode("Once upon a time")
        let r1 = try s.generate(in: s.slots[0], prompt: first, maxNewTokens: 8, sampler: .greedy, eos: [])
        #expect(r1.reusedTokens == 0 && r1.tokens.count == 8)
        // The next turn: the first prompt, the answer, and more text.
        let second = first + r1.tokens + s.encode("and then", addSpecialTokens: false)
        let r2 = try s.generate(in: s.slots[0], prompt: second, maxNewTokens: 8, sampler: .greedy, eos: [])
        // Everything but the answer's last token (never run) was in the cache.
        #expect(r2.reusedTokens == first.count + r1.tokens.count - 1)
        let fresh = try Session(options: Self.options(m.archive)).generate(second, maxNewTokens: 8, sampler: .greedy, eos: [])
        #expect(r2.tokens == fresh.tokens)
        // A prompt sharing nothing starts over; the same prompt again reruns only its last token.
        let other = s.encode("The cat")
        #expect(try s.generate(in: s.slots[0], prompt: other, maxNewTokens: 2, sampler: .greedy, eos: []).reusedTokens <= 1)
        let again = try s.generate(in: s.slots[0], prompt: other, maxNewTokens: 2, sampler: .greedy, eos: [])
        #expect(again.reusedTokens == other.count - 1)
        // Plain generate uses slot 0's sequence and forgets what the slot held.
        _ = try s.generate("Hello", maxNewTokens: 2, sampler: .greedy, eos: [])
        #expect(s.slots[0].cachedTokens.isEmpty)
    }

    @Test("slots generating from four threads at once give the tokens each prompt gives alone")
    func concurrentSlots() throws {
        let m = try SessionTests.packedDecoder()
        defer { TestPaths.remove(m.dir) }
        let prompts = ["Once upon a time", "The quick brown fox", "In the beginning", "It was a dark and stormy night"]
        let alone = try Session(options: Self.options(m.archive))
        let expected = try prompts.map { try alone.generate($0, maxNewTokens: 10, sampler: .greedy, eos: []).tokens }
        let s = try Session(options: Self.options(m.archive, slots: 4))
        #expect(s.slots.count == 4)
        let results = Results(count: prompts.count)
        let threads = prompts.indices.map { i in
            Thread {
                let r = try? s.generate(in: s.slots[i], prompt: s.encode(prompts[i]), maxNewTokens: 10, sampler: .greedy, eos: [])
                results.set(i, r?.tokens ?? [])
            }
        }
        threads.forEach { $0.start() }
        #expect(results.wait(seconds: 120))
        #expect(results.values == expected)
    }

    @Test("one batched decode step over three sequences gives each sequence's own one-token logits")
    func batchedStep() throws {
        let m = try SessionTests.packedDecoder()
        defer { TestPaths.remove(m.dir) }
        let s = try Session(options: Self.options(m.archive))
        let model = try #require(s.decoder)
        let prompts = ["Once upon a time", "The quick brown fox jumps", "In"].map { s.encode($0) }
        let next = [5, 17, 300]
        func prefilled() throws -> [DecoderSequence] {
            try prompts.map { p in
                let q = model.makeSequence()
                model.use(q)
                _ = try model.forward(p)
                return q
            }
        }
        let alone = try prefilled()
        let expected = try zip(alone, next).map { q, t in model.use(q); return try model.forward([t]) }
        let together = try prefilled()
        let rows = try model.step(Array(zip(together, next)).map { (sequence: $0.0, token: $0.1) })
        #expect(rows.count == 3)
        for (r, e) in zip(rows, expected) {
            let scale = e.map(abs).max() ?? 1
            let worst = zip(r, e).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-3 * scale, "max difference \(worst) of logits up to \(scale)")
            #expect(Sampler.argmax(r) == Sampler.argmax(e))
        }
        #expect(together.map(\.position) == prompts.map { $0.count + 1 })
        // The next step of each continues from there, batched or not.
        let again = try model.step(Array(zip(together, [1, 2, 3])).map { (sequence: $0.0, token: $0.1) })
        let alone2 = try zip(alone, [1, 2, 3]).map { q, t in model.use(q); return try model.forward([t]) }
        for (r, e) in zip(again, alone2) { #expect(Sampler.argmax(r) == Sampler.argmax(e)) }
    }

    @Test("a prompt that fills the context is refused; the planner counts one KV cache per slot")
    func limits() throws {
        let m = try SessionTests.packedDecoder()
        defer { TestPaths.remove(m.dir) }
        var o = Self.options(m.archive)
        o.context = 16
        let s = try Session(options: o)
        let long = Array(repeating: s.encode("a", addSpecialTokens: false)[0], count: 16)
        #expect(throws: SessionError.promptTooLong(16, context: 16)) {
            try s.generate(in: s.slots[0], prompt: long, maxNewTokens: 1)
        }
        let config = try s.archive.modelConfig()
        let one = try Session.makePlanner(s.archive, config: config, context: 64, baseline: 0, sequences: 1)
        let four = try Session.makePlanner(s.archive, config: config, context: 64, baseline: 0, sequences: 4)
        let spec = try (config as! any FamilyConfig).spec()
        #expect(four.runtime - one.runtime == 3 * DecoderSequence.bytes(spec: spec, context: 64))
        var bad = Self.options(m.archive, slots: 0)
        bad.slots = 0
        #expect(throws: SessionError.outOfRange("--parallel", "0", 1...SessionOptions.maxSlots)) { try bad.validate() }
    }

    @Test("chat formats: the archive's template, a file, ChatML when there is none, and a broken one named")
    func chatFormats() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var maker = CheckpointMaker.mixtral(hidden: 32, intermediate: 32, layers: 1, experts: 2, vocab: 1536)
        maker.tokenizerFixture = "sentencepiece-small"
        try maker.write(to: dir + "/ckpt")
        let plain = dir + "/plain.swm"
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: plain))
        let template = "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
        try Data(#"{"chat_template": "\#(template.replacingOccurrences(of: "\n", with: "\\n"))"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/ckpt/chat_template.json"))
        let templated = dir + "/templated.swm"
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: templated))
        let messages: [JSONValue] = [.object(JSONObject(keys: ["role", "content"], values: [.string("user"), .string("Hi")]))]

        let s = try Session(options: SessionTests.options(templated))
        let (format, warning) = try s.chatFormat()
        #expect(warning == nil && format.source == .archive("chat_template.json"))
        #expect(try format.render(messages) == "[user] Hi\n[assistant] ")

        let fallback = try Session(options: SessionTests.options(plain)).chatFormat()
        #expect(fallback.format.source == .chatML && fallback.warning != nil)
        #expect(try fallback.format.render(messages) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(fallback.format.stopStrings == ["<|im_end|>"])

        let file = dir + "/t.jinja"
        try Data("{{ messages[0].content }}!".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try s.chatFormat(templateFile: file).format.render(messages) == "Hi!")
        try Data("{% if %}".utf8).write(to: URL(fileURLWithPath: file))
        #expect {
            try s.chatFormat(templateFile: file)
        } throws: { e in
            guard case SessionError.chatTemplate(let source, _) = e else { return false }
            return source == "'\(file)'" && "\(e)".contains("--chat-template")
        }
        #expect(throws: SessionError.unreadable(dir + "/missing.jinja")) { try s.chatFormat(templateFile: dir + "/missing.jinja") }
    }

    @Test("stop strings: text before the first one is shown, a possible start is held back")
    func stopMatcher() {
        var m = StopMatcher(stops: ["</s>", "\n\nUser:"])
        #expect(m.push("Hello") == ("Hello", false))
        #expect(m.push(" wor<") == (" wor", false))
        #expect(m.push("/x") == ("</x", false))
        #expect(m.push("ld\n") == ("ld", false))
        #expect(m.push("\nUs") == ("", false))
        #expect(m.push("er: more") == ("", true))
        var n = StopMatcher(stops: ["END"])
        #expect(n.push("abcEN") == ("abc", false))
        #expect(n.finish() == "EN")
        var none = StopMatcher(stops: [])
        #expect(none.push("x") == ("x", false))
        var inside = StopMatcher(stops: ["lo"])
        #expect(inside.push("hello there") == ("hel", true))
    }
}

/// Results written by threads, waited for by the test.
private final class Results: @unchecked Sendable {
    private let condition = PthreadCondition()
    private var slots: [[Int]?]
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: [Int]) { condition.lock(); slots[i] = v; condition.broadcast(); condition.unlock() }
    func wait(seconds: Double) -> Bool {
        let deadline = monotonicSeconds() + seconds
        condition.lock()
        defer { condition.unlock() }
        while slots.contains(where: { $0 == nil }) {
            if monotonicSeconds() > deadline { return false }
            condition.wait(seconds: 0.5)
        }
        return true
    }
    var values: [[Int]] { condition.lock(); defer { condition.unlock() }; return slots.map { $0 ?? [] } }
}
