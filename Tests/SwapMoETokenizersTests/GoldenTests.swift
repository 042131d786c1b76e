import Foundation
import Testing
import SwapMoECore
@testable import SwapMoETokenizers

/// Fixture tokenizers with goldens produced by transformers' AutoTokenizer, or for mistral-v1 by the `tokenizers`
/// library (Tools/make_tokenizer_goldens.py).
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // SwapMoETokenizersTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repo root

    static let tokenizersDirectory = repoRoot.appendingPathComponent("Tests/Fixtures/tokenizers")

    static let goldenNames = ["bytelevel-small", "sentencepiece-small", "sentencepiece-metaspace", "gpt2", "mistral", "mistral-v1",
                              "t5-unigram"]

    static func directory(_ name: String) -> URL { tokenizersDirectory.appendingPathComponent(name) }

    static func tokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(directory: directory(name))
    }

    struct Case: Sendable {
        let text: String
        let ids: [Int]
        let idsNoSpecial: [Int]
        let tokens: [String]
        let decoded: String
        let decodedSkipSpecial: String
        /// transformers 5's AutoTokenizer ids where they differ from `ids` / `idsNoSpecial` (mistral-v1 only).
        let transformers5: (ids: [Int], idsNoSpecial: [Int])?
    }

    /// Reads golden.json. (Not with JSONSerialization: Foundation drops a leading U+FEFF from strings, and one
    /// golden text starts with a byte order mark.)
    static func golden(_ name: String) throws -> JSONValue {
        let data = try Data(contentsOf: directory(name).appendingPathComponent("golden.json"))
        return try JSONParser.parse([UInt8](data), file: "golden.json")
    }

    static func cases(_ name: String) throws -> [Case] {
        let cases = try #require(try golden(name)["cases"]?.arrayValue)
        return try cases.map { c in
            func ints(_ k: String, in object: JSONValue) throws -> [Int] {
                let values = object[k]?.arrayValue?.compactMap { $0.intValue }
                return try #require(values)
            }
            func str(_ k: String) throws -> String { try #require(c[k]?.stringValue) }
            let transformers5 = try c["transformers5"].map { (ids: try ints("ids", in: $0), idsNoSpecial: try ints("ids_no_special", in: $0)) }
            return Case(text: try str("text"), ids: try ints("ids", in: c), idsNoSpecial: try ints("ids_no_special", in: c),
                        tokens: (c["tokens"]?.arrayValue ?? []).compactMap { $0.stringValue },
                        decoded: try str("decoded"), decodedSkipSpecial: try str("decoded_skip_special"), transformers5: transformers5)
        }
    }
}

@Suite("Goldens from transformers AutoTokenizer and the tokenizers library")
struct GoldenTests {
    @Test("encode(text) equals the golden input_ids, with and without special tokens", arguments: Fixtures.goldenNames)
    func encode(name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let cases = try Fixtures.cases(name)
        #expect(cases.count >= 250)
        for c in cases {
            let ids = tok.encode(c.text)
            #expect(ids == c.ids, "\(name) encode \(c.text.debugDescription)")
            let plain = tok.encode(c.text, addSpecialTokens: false)
            #expect(plain == c.idsNoSpecial, "\(name) encode(addSpecialTokens: false) \(c.text.debugDescription)")
        }
    }

    @Test("idToToken gives the golden token strings", arguments: Fixtures.goldenNames)
    func tokens(name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        for c in try Fixtures.cases(name) {
            let tokens = c.ids.map { tok.idToToken($0) ?? "<nil>" }
            #expect(tokens == c.tokens, "\(name) tokens of \(c.text.debugDescription)")
        }
    }

    @Test("decode(ids) equals tokenizer.decode, with and without skipping special tokens", arguments: Fixtures.goldenNames)
    func decode(name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        for c in try Fixtures.cases(name) {
            #expect(tok.decode(c.ids) == c.decoded, "\(name) decode of \(c.text.debugDescription)")
            #expect(tok.decode(c.ids, skipSpecialTokens: true) == c.decodedSkipSpecial, "\(name) decode(skip) of \(c.text.debugDescription)")
        }
    }

    @Test("streaming decode, one id at a time, concatenates to decode(ids)", arguments: Fixtures.goldenNames)
    func streaming(name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        for c in try Fixtures.cases(name) {
            for skip in [false, true] {
                var stream = tok.makeStreamingDecoder(skipSpecialTokens: skip)
                var text = ""
                for id in c.ids {
                    let piece = stream.push(id)
                    // Each emitted piece is whole text: no unfinished UTF-8 character at its end.
                    #expect(piece.unicodeScalars.last != "\u{FFFD}" || c.decoded.contains("\u{FFFD}"),
                            "\(name) streaming emitted a replacement character for \(c.text.debugDescription)")
                    text += piece
                }
                text += stream.finish()
                let expected = skip ? c.decodedSkipSpecial : c.decoded
                #expect(text.unicodeScalars.elementsEqual(expected.unicodeScalars),
                        "\(name) streaming (skip: \(skip)) of \(c.text.debugDescription)")
            }
        }
    }

    @Test("metadata: vocabulary size and special tokens", arguments: Fixtures.goldenNames)
    func metadata(name: String) throws {
        let tok = try Fixtures.tokenizer(name)
        let meta = try #require(try Fixtures.golden(name)["meta"])
        if let size = meta["vocab_size_with_added"]?.intValue { #expect(tok.vocabSize == size) }
        if let bos = meta["bos_token"]?.stringValue { #expect(tok.bosTokenId == tok.tokenToId(bos)) } else { #expect(tok.bosTokenId == nil) }
        if let eos = meta["eos_token"]?.stringValue {
            #expect(tok.eosTokenId == tok.tokenToId(eos))
            #expect(tok.eosTokenIds.first == tok.eosTokenId)
        }
        #expect(!tok.summary.isEmpty)
    }
}

@Suite("Facade")
struct FacadeTests {
    @Test("one Tokenizer encodes concurrently from many tasks with the same results (shared word cache)")
    func concurrentEncode() async throws {
        let tok = try Fixtures.tokenizer("bytelevel-small")
        let cases = try Fixtures.cases("bytelevel-small")
        let results = await withTaskGroup(of: Bool.self) { group in
            for shard in 0..<4 {
                group.addTask {
                    cases.enumerated().filter { $0.offset % 4 == shard }.allSatisfy { tok.encode($0.element.text) == $0.element.ids }
                }
            }
            var all: [Bool] = []
            for await r in group { all.append(r) }
            return all
        }
        #expect(results == [true, true, true, true])
    }

    @Test("summary names the kind, vocabulary size and special tokens")
    func summary() throws {
        let gpt2 = try Fixtures.tokenizer("gpt2")
        #expect(gpt2.summary.hasPrefix("byte-level BPE, vocab 50257"))
        #expect(gpt2.summary.contains("\"<|endoftext|>\"=50256"))
        let mistral = try Fixtures.tokenizer("mistral")
        #expect(mistral.summary.hasPrefix("SentencePiece-style BPE, vocab 32000"))
        #expect(mistral.bosTokenId == 1 && mistral.eosTokenId == 2)
        #expect(mistral.specialTokenIds == [0, 1, 2])
        #expect(mistral.idToToken(1) == "<s>" && mistral.tokenToId("</s>") == 2)
        #expect(mistral.idToToken(99_999) == nil)
    }

    @Test("tokenizer.json's pipeline decides: Metaspace \"first\" prefixes only the first piece, Prepend every piece")
    func llamaLayouts() throws {
        // sentencepiece-metaspace (LlamaTokenizer, legacy false): "Hello</s>World" keeps "World" unprefixed.
        let metaspace = try Fixtures.tokenizer("sentencepiece-metaspace")
        let legacy = try Fixtures.tokenizer("sentencepiece-small")  // Prepend normalizer: every piece gets ▁
        // Values from AutoTokenizer (transformers 5.24), the same in both modes since that tokenizer.json is what
        // transformers 5's LlamaTokenizer builds.
        #expect(metaspace.encode("Hello</s>World", addSpecialTokens: false) == [408, 630, 1455, 2, 1497, 284, 319])  // ▁H ell o </s> W or ld
        let rebuilt = try Tokenizer(directory: Fixtures.directory("sentencepiece-metaspace"), compatibility: .transformers5)
        #expect(rebuilt.encode("Hello</s>World", addSpecialTokens: false) == [408, 630, 1455, 2, 1497, 284, 319])
        #expect(legacy.encode("Hello</s>World", addSpecialTokens: false) == [408, 630, 1455, 2, 423, 284, 319])  // ... </s> ▁W or ld
    }

    @Test("a LlamaTokenizer with legacy Prepend normalizer keeps the ▁ of a leading space and of text after <s> (issue 15)")
    func mistralV1LeadingSpace() throws {
        // Mistral 7B v0.1 as transformers 4 converted it. Values from sentencepiece, tokenizers 0.23.3 and
        // transformers 4.57.6, which agree; transformers 5.24 gives the `.transformers5` ones.
        let tok = try Fixtures.tokenizer("mistral-v1")
        #expect(tok.encode(" Hello world") == [1, 28705, 22557, 1526])  // <s> ▁ ▁Hello ▁world
        #expect(tok.encode("  two leading") == [1, 259, 989, 5374])  // <s> ▁▁ ▁two ▁leading
        #expect(tok.encode("<s> literal bos") == [1, 1, 28705, 20819, 16158])  // <s> <s> ▁ ▁literal ▁bos
        #expect(tok.decode([1, 28705, 22557, 1526], skipSpecialTokens: true) == " Hello world")
        let rebuilt = try Tokenizer(directory: Fixtures.directory("mistral-v1"), compatibility: .transformers5)
        #expect(rebuilt.encode(" Hello world") == [1, 22557, 1526])
        #expect(rebuilt.encode("  two leading") == [1, 28705, 989, 5374])
        #expect(rebuilt.encode("<s> literal bos") == [1, 1, 20819, 16158])
    }

    @Test("TokenizerCompatibility.transformers5 reproduces transformers 5's AutoTokenizer on every mistral-v1 golden")
    func transformers5Compatibility() throws {
        let tok = try Tokenizer(directory: Fixtures.directory("mistral-v1"), compatibility: .transformers5)
        let cases = try Fixtures.cases("mistral-v1")
        #expect(cases.contains { $0.transformers5 != nil })
        for c in cases {
            #expect(tok.encode(c.text) == (c.transformers5?.ids ?? c.ids), "transformers5 encode \(c.text.debugDescription)")
            #expect(tok.encode(c.text, addSpecialTokens: false) == (c.transformers5?.idsNoSpecial ?? c.idsNoSpecial),
                    "transformers5 encode(addSpecialTokens: false) \(c.text.debugDescription)")
            // Same decoder in both: the golden ids decode the same.
            #expect(tok.decode(c.ids) == c.decoded, "transformers5 decode of \(c.text.debugDescription)")
        }
    }
}
