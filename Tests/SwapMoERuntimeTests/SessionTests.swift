import Foundation
import Testing
import SwapMoECore
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// The library API on its own, without the command line: sessions opened on packed fixtures, generating.
@Suite("Session: the library API", .serialized)
struct SessionTests {
    /// A generated Mixtral with a real tokenizer (sentencepiece-small), experts large enough that a cap matters
    /// (4 layers x 16 experts of 192 KiB), packed with LZ4 + shuffle so exact loads decode. Remove `dir` when done.
    static func packedDecoder() throws -> (dir: String, archive: String) {
        let dir = TestPaths.tempDir()
        var maker = CheckpointMaker.mixtral(hidden: 128, intermediate: 256, layers: 4, experts: 16, vocab: 1536)
        maker.tokenizerFixture = "sentencepiece-small"
        try maker.write(to: dir + "/ckpt")
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/m.swm", compress: .lz4, shuffle: true))
        return (dir, dir + "/m.swm")
    }

    static func options(_ archive: String, context: Int = 128) -> SessionOptions {
        var o = SessionOptions(archive: archive)
        o.threads = 1
        o.context = context
        o.contextGiven = true
        return o
    }

    /// Generates greedily, returning the result and the pieces `onToken` saw.
    static func greedy(_ s: Session, _ prompt: String, _ n: Int, stopAfter: Int? = nil) throws -> (GenerationResult, [String]) {
        var pieces: [String] = []
        let r = try s.generate(prompt, maxNewTokens: n, sampler: .greedy, eos: []) { _, text in
            pieces.append(text)
            return stopAfter.map { pieces.count < $0 } ?? true
        }
        return (r, pieces)
    }

    @Test("resident and exact under a cap generate the same greedy tokens; streamed pieces make the text")
    func residentEqualsExact() throws {
        let m = try Self.packedDecoder()
        defer { TestPaths.remove(m.dir) }
        let resident = try Session(options: Self.options(m.archive))
        #expect(resident.policy == .resident && resident.plan == nil && !resident.isEncoderDecoder && resident.context == 128)
        let (a, pieces) = try Self.greedy(resident, "Once upon a time", 16)
        #expect(a.tokens.count == 16 && a.finishReason == .length)
        #expect(a.promptTokens == resident.encode("Once upon a time") && a.promptTokens.first == 1)
        #expect(pieces.count == 16 && pieces.joined() == a.text)
        #expect(a.text == resident.decode(a.tokens))
        // The same call again starts over from position 0.
        #expect(try Self.greedy(resident, "Once upon a time", 16).0.tokens == a.tokens)

        // A quarter of the experts' bytes (the prompt and 16 tokens route to about half of them), measured against
        // this process as it is now (the session measures it again, so 1 MiB to spare).
        let config = try resident.archive.modelConfig()
        let planner = try Session.makePlanner(resident.archive, config: config, context: 128, baseline: Int(ProcessMemory.currentRSS()))
        var o = Self.options(m.archive)
        o.policy = .exact
        o.maxRSS = planner.cap(expertShare: max(0.25, planner.minimumExpertShare(.exact)), policy: .exact, ioThreads: o.ioThreads) + (1 << 20)
        let exact = try Session(options: o)
        let plan = try #require(exact.plan)
        #expect(exact.policy == .exact && plan.slots < exact.archive.experts.count)
        let (b, exactPieces) = try Self.greedy(exact, "Once upon a time", 16)
        #expect(b.tokens == a.tokens && b.text == a.text && exactPieces.joined() == b.text)
        let stats = exact.expertStats
        #expect(stats["policy"] as? String == "exact" && (stats["misses"] as? Int ?? 0) > 0 && (stats["evictions"] as? Int ?? 0) > 0, "\(plan.slots) \(stats)")
        #expect(exact.expertStatsLine.hasPrefix("exact: "))
    }

    @Test("onToken returning false stops; a full context ends generation; the stream variant yields the same")
    func stopping() async throws {
        let m = try Self.packedDecoder()
        defer { TestPaths.remove(m.dir) }
        let s = try Session(options: Self.options(m.archive, context: 16))
        let (stopped, pieces) = try Self.greedy(s, "Once upon a time", 12, stopAfter: 3)
        #expect(stopped.tokens.count == 3 && pieces.count == 3 && stopped.finishReason == .stopped)
        #expect(stopped.text.hasPrefix(pieces.joined()))

        // 10 prompt tokens in a context of 16: the prompt's logits give one token, then 6 steps fill the context.
        let prompt = Array(100..<110)
        let full = try s.generate(prompt, maxNewTokens: 100, sampler: .greedy, eos: [])
        #expect(full.finishReason == .contextFull && full.tokens.count == 7)

        var streamed: [Int] = [], text = "", finished: GenerationResult?
        for try await event in s.generateStream(prompt, maxNewTokens: 100, sampler: .greedy, eos: []) {
            switch event {
            case let .token(id, piece): streamed.append(id); text += piece
            case let .finished(r): finished = r
            }
        }
        #expect(streamed == full.tokens && text == full.text && finished?.tokens == full.tokens)
        // Leaving the loop early stops generation.
        var seen = 0
        for try await event in s.generateStream(prompt, maxNewTokens: 100, sampler: .greedy, eos: []) {
            if case .token = event { seen += 1 }
            break
        }
        #expect(seen == 1)
        #expect(throws: SessionError.emptyPrompt) { try s.generate([Int](), maxNewTokens: 4) }
    }

    @Test("an encoder-decoder archive generates transformers' greedy ids and text, resident and exact")
    func encoderDecoder() throws {
        let folder = try #require(TestPaths.seq2seqFixtures.first { $0.hasSuffix("/switch") })
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm", compress: .lz4, shuffle: true))
        struct Golden: Decodable {
            struct Case: Decodable {
                let inputText: String, greedyIds: [Int], greedyText: String
                enum CodingKeys: String, CodingKey { case inputText = "input_text", greedyIds = "greedy_ids", greedyText = "greedy_text" }
            }
            let cases: [Case]
        }
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json")))
        var o = SessionOptions(archive: dir + "/m.swm")
        o.threads = 1
        let resident = try Session(options: o)
        #expect(resident.isEncoderDecoder && resident.context == Session.seq2seqContext)
        o.policy = .exact
        o.maxRSS = 1 << 30
        let exact = try Session(options: o)
        for cs in golden.cases {
            for s in [resident, exact] {
                var pieces: [String] = []
                let r = try s.generate(cs.inputText, maxNewTokens: cs.greedyIds.count, sampler: .greedy) { _, text in pieces.append(text); return true }
                #expect(r.tokens == cs.greedyIds && r.text == cs.greedyText && pieces.joined() == r.text)
                #expect(r.finishReason == (r.tokens.last.map(s.eosTokenIds.contains) == true ? .eos : .length))
            }
        }
        #expect(throws: SessionError.self) { try Session(options: o, accept: .decoderOnly(command: "bench")) }
        #expect(throws: SessionError.needsDecoderOnly("perplexity")) { try resident.perplexity([1, 2, 3]) }
    }

    @Test("validate gives the command line's messages")
    func validate() throws {
        var o = SessionOptions(archive: "x.swm")
        try o.validate()
        o.policy = .swap
        #expect(throws: SessionError.policyNeedsMaxRSS("swap")) { try o.validate() }
        o.maxRSS = 1 << 30
        o.policy = .static
        #expect(throws: SessionError.staticNeedsCalibration) { try o.validate() }
        o.policy = nil
        o.threads = 0
        #expect(throws: SessionError.self) { try o.validate() }
        #expect(SessionError.policyNeedsMaxRSS("swap").description == "--policy swap needs --max-rss SIZE to size the expert arena")
    }
}
