import Foundation
import Testing
@testable import SwapMoETokenizers

/// Fixture tokenizers with goldens produced by transformers' AutoTokenizer (Tools/make_tokenizer_goldens.py).
enum Fixtures {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // SwapMoETokenizersTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repo root

    static let tokenizersDirectory = repoRoot.appendingPathComponent("Tests/Fixtures/tokenizers")

    static let goldenNames = ["bytelevel-small", "sentencepiece-small", "sentencepiece-metaspace", "gpt2", "mistral"]

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
            func ints(_ k: String) throws -> [Int] {
                let values = c[k]?.arrayValue?.compactMap { $0.intValue }
                return try #require(values)
            }
            func str(_ k: String) throws -> String { try #require(c[k]?.stringValue) }
            return Case(text: try str("text"), ids: try ints("ids"), idsNoSpecial: try ints("ids_no_special"),
                        tokens: (c["tokens"]?.arrayValue ?? []).compactMap { $0.stringValue },
                        decoded: try str("decoded"), decodedSkipSpecial: try str("decoded_skip_special"))
        }
    }
}

@Suite("Goldens from transformers AutoTokenizer")
struct GoldenTests {
    @Test("encode(text) equals AutoTokenizer input_ids, with and without special tokens", arguments: Fixtures.goldenNames)
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
