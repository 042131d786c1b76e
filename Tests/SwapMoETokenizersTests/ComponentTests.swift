import Foundation
import Testing
@testable import SwapMoETokenizers

/// Builds a tokenizer.json with a tiny BPE model. Expected values in these tests come from the Rust
/// `tokenizers` library (0.23) run on the same JSON.
func tinyTokenizer(vocab: [String: Int], merges: [String], model extra: String = "", normalizer: String = "null",
                   preTokenizer: String = "null", postProcessor: String = "null", decoder: String = "null",
                   addedTokens: String = "[]") throws -> Tokenizer {
    let vocabJSON = String(data: try JSONSerialization.data(withJSONObject: vocab, options: [.sortedKeys]), encoding: .utf8)!
    let mergesJSON = String(data: try JSONSerialization.data(withJSONObject: merges), encoding: .utf8)!
    let json = """
    {"version": "1.0", "added_tokens": \(addedTokens), "normalizer": \(normalizer), "pre_tokenizer": \(preTokenizer),
     "post_processor": \(postProcessor), "decoder": \(decoder),
     "model": {"type": "BPE", "vocab": \(vocabJSON), "merges": \(mergesJSON) \(extra)}}
    """
    return try Tokenizer(tokenizerJSON: Data(json.utf8))
}

@Suite("BPE model")
struct BPETests {
    let vocab = ["a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5, "<0xC3>": 6, "<0xA9>": 7, "<unk>": 8, "▁": 9, "▁a": 10]
    let metaspace = #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}"#

    @Test("merges apply by rank, not by position: b+c (rank 0) before a+b (rank 1)")
    func mergeRanks() throws {
        let tok = try tinyTokenizer(vocab: vocab, merges: ["b c", "a b", "a bc", "▁ a"], preTokenizer: metaspace)
        #expect(tok.encode("abc") == [9, 5])
        #expect(tok.encode("ab c") == [9, 3, 9, 2])
        #expect(tok.encode("abcab") == [9, 5, 3])
    }

    @Test("merges written as [\"a\", \"b\"] pairs equal the \"a b\" string form")
    func mergePairs() throws {
        let strings = try tinyTokenizer(vocab: vocab, merges: ["a b", "b c", "ab c"])
        let json = """
        {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5},
                   "merges": [["a", "b"], ["b", "c"], ["ab", "c"]]}}
        """
        let pairs = try Tokenizer(tokenizerJSON: Data(json.utf8))
        #expect(strings.encode("abc") == [5])
        #expect(pairs.encode("abc") == [5])
        #expect(pairs.encode("cab") == strings.encode("cab"))
    }

    @Test("byte_fallback turns an unknown character into <0xNN> tokens; fuse_unk joins unknown runs into one <unk>")
    func byteFallbackAndUnk() throws {
        let tok = try tinyTokenizer(vocab: vocab, merges: ["b c", "a b", "a bc", "▁ a"],
                                    model: #", "byte_fallback": true, "unk_token": "<unk>", "fuse_unk": true"#,
                                    preTokenizer: metaspace)
        #expect(tok.encode("é") == [9, 6, 7])  // é = C3 A9
        #expect(tok.encode("a中文b") == [10, 8, 1])  // 中文 has no byte tokens: one fused <unk>
    }

    @Test("unknown characters without unk_token or byte fallback are dropped, as in the Rust library")
    func droppedUnknown() throws {
        let tok = try tinyTokenizer(vocab: ["a": 0, "b": 1], merges: [])
        #expect(tok.encode("axb") == [0, 1])
    }

    @Test("ignore_merges takes a whole word that is in the vocabulary")
    func ignoreMerges() throws {
        let v = ["a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4]
        let with = try tinyTokenizer(vocab: v, merges: ["a b"], model: #", "ignore_merges": true"#)
        let without = try tinyTokenizer(vocab: v, merges: ["a b"])
        #expect(with.encode("abc") == [4])
        #expect(without.encode("abc") == [3, 2])
    }

    @Test("vocabulary keys compare by bytes: precomposed and decomposed é stay distinct")
    func exactKeys() throws {
        // (A Swift dictionary literal cannot even hold both keys: String equality is canonical equivalence.)
        let json = #"{"model": {"type": "BPE", "vocab": {"\u00e9": 0, "e": 1, "\u0301": 2, "e\u0301": 3}, "merges": ["e \u0301"]}}"#
        let tok = try Tokenizer(tokenizerJSON: Data(json.utf8))
        #expect(tok.encode("\u{E9}") == [0])
        #expect(tok.encode("e\u{301}") == [3])
        #expect(tok.tokenToId("e\u{301}") == 3)
    }
}

@Suite("Added tokens")
struct AddedTokenTests {
    static let vocab: [String: Int] = {
        var v: [String: Int] = [:]
        for (i, c) in "abcdefghijklmnopqrstuvwxyz_ <>/|".enumerated() { v[String(c)] = i }
        return v
    }()

    func tokenizer(_ added: String) throws -> Tokenizer {
        try tinyTokenizer(vocab: AddedTokenTests.vocab, merges: [], addedTokens: added)
    }

    @Test("the longest added token wins at the leftmost position; raw-text tokens are found before normalized ones")
    func longestMatch() throws {
        let tok = try tokenizer("""
        [{"id": 32, "content": "<a>", "special": true}, {"id": 33, "content": "<a>b", "special": false, "normalized": false},
         {"id": 34, "content": "ab", "special": false}, {"id": 35, "content": "<a>bc", "special": false, "normalized": false}]
        """)
        #expect(tok.encode("x<a>bc") == [23, 35])
        #expect(tok.encode("x<a>bb") == [23, 33, 1])
        #expect(tok.encode("x<a>c") == [23, 32, 2])
        #expect(tok.encode("aab") == [0, 34])
    }

    @Test("ids inconsistent with the vocabulary are reassigned the way the Rust library does")
    func idAssignment() throws {
        let tok = try tokenizer("""
        [{"id": 100, "content": "<a>", "special": true}, {"id": 101, "content": "<a>b", "special": false},
         {"id": 5, "content": "ab", "special": false}, {"id": 7, "content": "a", "special": false}]
        """)
        #expect(tok.tokenToId("<a>") == 32)
        #expect(tok.tokenToId("<a>b") == 33)
        #expect(tok.tokenToId("ab") == 34)
        #expect(tok.tokenToId("a") == 0)
        #expect(tok.encode("x<a>bc") == [23, 32, 1, 2])
    }

    @Test("single_word needs non-word characters (regex \\w) around the token")
    func singleWord() throws {
        let tok = try tokenizer(#"[{"id": 32, "content": "ab", "single_word": true, "special": false}]"#)
        #expect(tok.encode("ab") == [32])
        #expect(tok.encode("xab") == [23, 0, 1])
        #expect(tok.encode("ab_") == [0, 1, 26])
        #expect(tok.encode(" ab ") == [27, 32, 27])
    }

    @Test("lstrip and rstrip swallow the surrounding whitespace")
    func strip() throws {
        let tok = try tokenizer(#"[{"id": 32, "content": "ab", "lstrip": true, "rstrip": true, "special": false}]"#)
        #expect(tok.encode("x  ab  y") == [23, 32, 24])
        #expect(tok.encode("ab ab") == [32, 32])
    }

    @Test("special tokens are skipped by decode(skipSpecialTokens: true), other added tokens are not")
    func skipSpecial() throws {
        let tok = try tokenizer("""
        [{"id": 32, "content": "<s>", "special": true}, {"id": 33, "content": "<x>", "special": false}]
        """)
        let ids = tok.encode("<s>a<x>b")
        #expect(ids == [32, 0, 33, 1])
        #expect(tok.decode(ids) == "<s> a <x> b")  // no decoder: tokens joined by spaces
        #expect(tok.decode(ids, skipSpecialTokens: true) == "a <x> b")
        #expect(tok.specialTokenIds == [32])
    }
}

@Suite("Pre-tokenizer regular expressions")
struct RegexTests {
    func split(_ pattern: String, _ text: String) throws -> [String] {
        let regex = try BacktrackingRegex(pattern)
        let scalars = Array(text.unicodeScalars)
        return regex.findMatches(in: scalars).map { r in
            var s = String()
            s.unicodeScalars.append(contentsOf: scalars[r])
            return s
        }
    }

    @Test("the GPT-2 pattern splits words, numbers, punctuation and keeps the last space for the next word")
    func gpt2() throws {
        #expect(try split(gpt2SplitPattern, "Hello world's  123 !!") == ["Hello", " world", "'s", " ", " 123", " !!"])
        #expect(try split(gpt2SplitPattern, "a   \n b") == ["a", "   \n", " b"])
    }

    @Test("the Qwen2 pattern: case-insensitive contractions, single digits, newline runs")
    func qwen2() throws {
        let p = TransformersProfile.qwen2Pattern
        #expect(try split(p, "I'M 123") == ["I", "'M", " ", "1", "2", "3"])
        #expect(try split(p, "x \n\n  y") == ["x", " \n\n", " ", " y"])
        #expect(try split(p, "(hi)") == ["(hi", ")"])
    }

    @Test("lookahead \\s+(?!\\S) leaves one space for the following word; at the end it takes them all")
    func lookahead() throws {
        #expect(try split(#"\s+(?!\S)|\s+"#, "a   b   ") == ["  ", " ", "   "])
    }

    @Test("unsupported syntax falls back to NSRegularExpression, with UTF-16 offsets mapped back to scalars")
    func icuFallback() throws {
        #expect((try? BacktrackingRegex(#"\bword\b"#)) == nil)
        let regex = try compileRegex(#"\b\w+\b"#)
        let scalars = Array("😀 ab 😀cd".unicodeScalars)
        #expect(regex.findMatches(in: scalars) == [2..<4, 6..<8])
        // \s keeps Oniguruma's meaning (Unicode White_Space, with U+000B and U+0085) under ICU too.
        let spaces = try ICURegex(#"\b\s+"#)
        #expect(spaces.findMatches(in: Array("a\u{0B}\u{85} b".unicodeScalars)) == [1..<4])
        let nonSpace = try ICURegex(#"\b[^\s]+"#)
        #expect(nonSpace.findMatches(in: Array("ab\u{85}cd".unicodeScalars)) == [0..<2, 3..<5])
    }
}

@Suite("Decoding")
struct DecodingTests {
    @Test("streaming never emits half of a UTF-8 character split over byte-level tokens")
    func streamingUTF8() throws {
        // "€" is E2 82 AC: give each byte its own token.
        let chars = [0xE2, 0x82, 0xAC].map { String(ByteLevelAlphabet.byteToScalar[$0]) }
        let vocab = [chars[0]: 0, chars[1]: 1, chars[2]: 2, "a": 3]
        let tok = try tinyTokenizer(vocab: vocab, merges: [], decoder: #"{"type": "ByteLevel"}"#)
        var stream = tok.makeStreamingDecoder()
        #expect(stream.push(3) == "a")
        #expect(stream.push(0) == "")
        #expect(stream.push(1) == "")
        #expect(stream.push(2) == "€")
        #expect(stream.push(0) == "")
        #expect(stream.finish() == "\u{FFFD}")
        #expect(tok.decode([3, 0, 1, 2, 0]) == "a€\u{FFFD}")
    }

    @Test("ByteFallback: an invalid byte run becomes one U+FFFD per byte")
    func byteFallbackDecode() throws {
        let vocab = ["<0xE2>": 0, "<0x82>": 1, "<0xAC>": 2, "a": 3]
        let tok = try tinyTokenizer(vocab: vocab, merges: [], decoder: #"{"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}"#)
        #expect(tok.decode([0, 1, 2, 3]) == "€a")
        #expect(tok.decode([0, 1, 3]) == "\u{FFFD}\u{FFFD}a")
        var stream = tok.makeStreamingDecoder()
        let pieces = [0, 1, 3, 0, 1, 2].map { stream.push($0) } + [stream.finish()]
        #expect(pieces.joined() == "\u{FFFD}\u{FFFD}a€")
    }

    @Test("clean_up_tokenization_spaces, when forced, is applied in streaming exactly as in decode")
    func cleanUp() {
        #expect(Tokenizer.cleanUp("a , b . c n't d 's") == "a, b. cn't d's")
    }
}

@Suite("Errors")
struct ErrorTests {
    @Test("malformed JSON names the file, line and column")
    func invalidJSON() {
        do {
            _ = try Tokenizer(tokenizerJSON: Data("{\n  \"model\": {\"type\": \"BPE\",, }\n}".utf8))
            Issue.record("no error")
        } catch let e as TokenizerError {
            #expect(e.description.hasPrefix("tokenizer.json is not valid JSON at line 2, column"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("an unsupported component is an error that lists the supported types")
    func unsupportedPreTokenizer() throws {
        #expect(throws: TokenizerError.self) {
            _ = try tinyTokenizer(vocab: ["a": 0], merges: [], preTokenizer: #"{"type": "UnicodeScripts"}"#)
        }
        do {
            _ = try tinyTokenizer(vocab: ["a": 0], merges: [], preTokenizer: #"{"type": "UnicodeScripts"}"#)
        } catch {
            #expect("\(error)".hasPrefix("unsupported pre_tokenizer type 'UnicodeScripts' in tokenizer.json (supported: Sequence, ByteLevel, Split"))
        }
    }

    @Test("an unsupported model or normalizer is an error, never silently wrong output")
    func unsupportedModel() {
        #expect(throws: TokenizerError.unsupportedComponent(kind: "model", type: "WordPiece", supported: ["BPE", "Unigram"])) {
            _ = try Tokenizer(tokenizerJSON: Data(#"{"model": {"type": "WordPiece", "vocab": {}}}"#.utf8))
        }
        #expect(throws: TokenizerError.self) {
            _ = try tinyTokenizer(vocab: ["a": 0], merges: [], normalizer: #"{"type": "Precompiled", "precompiled_charsmap": ""}"#)
        }
    }

    @Test("a merge naming a token outside the vocabulary is reported with the merge")
    func badMerge() {
        #expect(throws: TokenizerError.tokenNotInVocabulary(token: "z", context: "merge #0")) {
            _ = try tinyTokenizer(vocab: ["a": 0], merges: ["a z"])
        }
    }

    @Test("an id past 2^31 is an error naming the token, on one line even when the token is a newline")
    func hugeIdOneLine() {
        #expect {
            _ = try Tokenizer(tokenizerJSON: Data(#"{"model": {"type": "BPE", "vocab": {"a": 0, "\n": 4294967296}, "merges": []}}"#.utf8))
        } throws: { error in
            let text = "\(error)"
            return text.contains("model.vocab.\\n") && text.contains("from 0 to 2147483647") && !text.contains("\n")
        }
    }
}
