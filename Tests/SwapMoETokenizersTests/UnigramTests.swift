import Foundation
import Testing
import SwapMoECore
@testable import SwapMoETokenizers

/// Builds a tokenizer.json around a small Unigram model. Expected values in these tests come from the Rust
/// `tokenizers` library (0.23.3) run on the same JSON.
func unigramTokenizer(_ vocab: [(String, Double)], unkId: Int? = 0, byteFallback: Bool = false, normalizer: String = "null",
                      preTokenizer: String = "null") throws -> Tokenizer {
    let pairs = vocab.map { piece, score in
        let key = String(data: try! JSONSerialization.data(withJSONObject: [piece]), encoding: .utf8)!.dropFirst().dropLast()
        return "[\(key), \(score)]"
    }
    let json = """
    {"version": "1.0", "added_tokens": [], "normalizer": \(normalizer), "pre_tokenizer": \(preTokenizer),
     "post_processor": null, "decoder": null,
     "model": {"type": "Unigram", "unk_id": \(unkId.map(String.init) ?? "null"), "vocab": [\(pairs.joined(separator: ", "))],
               "byte_fallback": \(byteFallback)}}
    """
    return try Tokenizer(tokenizerJSON: Data(json.utf8))
}

@Suite("Unigram model")
struct UnigramTests {
    @Test("Viterbi picks the best-scoring segmentation (the Rust library's own doc example)")
    func viterbi() throws {
        let tok = try unigramTokenizer([("<unk>", 0), ("a", 0), ("b", 0), ("c", 0), ("d", 0), ("cd", 1), ("ab", 2), ("abc", 5), ("abcd", 10)])
        #expect(tok.tokenize("abcdacdxx") == ["abcd", "a", "cd", "<unk>"])  // Rust: the <unk> token keeps the text "xx"
        #expect(tok.encode("abcdacdxx") == [8, 1, 5, 0])
    }

    @Test("scores decide, not piece length; on a tie the piece starting earlier keeps the position")
    func scoresAndTies() throws {
        let tok = try unigramTokenizer([("<unk>", 0), ("a", -1), ("b", -1), ("ab", -5), ("c", -1), ("bc", -2), ("abc", -7)])
        #expect(tok.tokenize("ab") == ["a", "b"])
        #expect(tok.tokenize("abc") == ["a", "bc"])
        // a + bc and ab + c both score -3: the path through the piece ending first ("a") was set first and stays.
        let tie = try unigramTokenizer([("<unk>", 0), ("a", -1), ("b", -1), ("c", -1), ("ab", -2), ("bc", -2)])
        #expect(tie.encode("abc") == [1, 5])
    }

    @Test("unknown characters: a run of them is one <unk>, a literal <unk> piece joins the run")
    func unknown() throws {
        let tok = try unigramTokenizer([("<unk>", 0), ("a", -1), ("b", -2), ("é", -3)])
        #expect(tok.tokenize("axyb") == ["a", "<unk>", "b"])
        #expect(tok.encode("xé中b") == [0, 3, 0, 2])
        #expect(tok.encode("a<unk>b") == [1, 0, 2])
        #expect(tok.encode("x<unk>") == [0])
        #expect(tok.encode("中文") == [0])
        // unk_id need not be 0.
        let mid = try unigramTokenizer([("a", -1), ("<unk>", 0), ("b", -2)], unkId: 1)
        #expect(mid.encode("axxb") == [0, 1, 2])
    }

    @Test("byte_fallback spells an unknown run as <0xNN> pieces when all its bytes have one, else <unk>")
    func byteFallback() throws {
        let tok = try unigramTokenizer([("<unk>", 0), ("a", -1), ("<0xC3>", -5), ("<0xA9>", -5), ("<0xA8>", -5)], byteFallback: true)
        #expect(tok.encode("aé") == [1, 2, 3])
        #expect(tok.encode("éè") == [2, 3, 2, 4])
        #expect(tok.encode("aéa") == [1, 2, 3, 1])
        #expect(tok.encode("a中") == [1, 0])
    }

    @Test("without unk_id an unknown character is dropped (the Rust library raises MissingUnkId instead)")
    func missingUnk() throws {
        let tok = try unigramTokenizer([("a", -1)], unkId: nil)
        #expect(tok.encode("ab") == [0])
    }

    @Test("with Metaspace, as T5 uses it")
    func metaspace() throws {
        let metaspace = #"{"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true}"#
        let tok = try unigramTokenizer([("<unk>", 0), ("▁", -2), ("▁a", -1), ("b", -3), ("▁ab", -2.5), ("a", -2)], preTokenizer: metaspace)
        #expect(tok.encode("ab ab") == [4, 4])
        #expect(tok.encode("a b") == [2, 1, 3])
        #expect(tok.encode("aab") == [2, 5, 3])
    }

    @Test("a large vocabulary: every piece is found by the trie, including many children of one node")
    func largeVocabulary() throws {
        var vocab: [(String, Double)] = [("<unk>", 0)]
        for a in Unicode.Scalar(0x21)!.value...0x7E {
            for b in [0x61, 0x62, 0x7A, 0xE9, 0x4E2D] as [UInt32] {
                var s = String()
                s.unicodeScalars.append(Unicode.Scalar(a)!)
                s.unicodeScalars.append(Unicode.Scalar(b)!)
                vocab.append((s, -Double(vocab.count)))
            }
        }
        let tok = try unigramTokenizer(vocab)
        for (id, (piece, _)) in vocab.enumerated() where id > 0 {
            #expect(tok.encode(piece) == [id], "\(piece)")
        }
    }

    @Test("an unk_id outside the vocabulary is an error, as in the Rust library")
    func badUnkId() {
        #expect(throws: TokenizerError.self) { _ = try unigramTokenizer([("a", -1)], unkId: 1) }
    }
}

@Suite("Precompiled normalizer")
struct PrecompiledTests {
    /// The nmt_nfkc charsmap of the t5-unigram fixture.
    static func t5Normalizer() throws -> JSONValue {
        let data = try Data(contentsOf: Fixtures.directory("t5-unigram").appendingPathComponent("tokenizer.json"))
        return try #require(try JSONParser.parse([UInt8](data), file: "tokenizer.json")["normalizer"])
    }

    static func normalize(_ normalizer: Normalizer?, _ text: String) -> String {
        var s = String()
        s.unicodeScalars.append(contentsOf: normalizer?.normalize(Array(text.unicodeScalars)) ?? [])
        return s
    }

    @Test("nmt_nfkc: full-width letters and digits, ligatures, compatibility characters, whitespace")
    func nmtNFKC() throws {
        let n = try Normalizer.from(json: try PrecompiledTests.t5Normalizer())
        let cases: [(String, String)] = [
            ("\u{FF21}\u{FF22}\u{FF23} \u{FF44}\u{FF45}\u{FF46} \u{FF11}\u{FF12}\u{FF13}", "ABC def 123"),
            ("\u{FB01}ne \u{FB02}ow \u{FB00}", "fine flow ff"),
            ("a\u{3000}b\tc\nd", "a b c d"),
            ("x\u{A0}y\u{200B}z", "x y z"),
            ("\u{2460}\u{337F}", "1\u{682A}\u{5F0F}\u{4F1A}\u{793E}"),
            ("\u{2122}\u{2026}\u{BD}", "TM...1\u{2044}2"),
            ("e\u{301}", "\u{E9}"),
            ("a\u{0}b", "a\u{0}b"),
            ("\u{1100}\u{1161}\u{11A8}", "\u{1100}\u{1161}\u{11A8}"),
            ("\u{1F44B}\u{1F3FD}", "\u{1F44B}\u{1F3FD}"),
        ]
        for (input, expected) in cases {
            #expect(PrecompiledTests.normalize(n, input).unicodeScalars.elementsEqual(expected.unicodeScalars), "\(input.debugDescription)")
        }
    }

    @Test("grapheme clusters under 6 bytes are replaced whole when their start is a key; longer ones per character")
    func clusters() throws {
        let n = try Normalizer.from(json: try PrecompiledTests.t5Normalizer())
        let cases: [(String, String)] = [
            ("\u{FF21}\u{301}", "A"),  // 5 bytes: the mark goes with the full-width A
            ("\u{FF21}\u{301}\u{302}", "A\u{301}\u{302}"),  // 7 bytes: character by character
            ("\u{FF76}\u{FF9E}", "\u{30AB}\u{3099}"),  // 6 bytes: character by character
            ("\r\n", " "),  // one cluster: \r's replacement stands for both
        ]
        for (input, expected) in cases {
            #expect(PrecompiledTests.normalize(n, input).unicodeScalars.elementsEqual(expected.unicodeScalars), "\(input.debugDescription)")
        }
    }

    @Test("in a Sequence with Strip and Replace(\" {2,}\"), as transformers' SpmConverter writes it")
    func sequence() throws {
        let charsmap = try PrecompiledTests.t5Normalizer()
        var withStrip = JSONObject()
        withStrip.keys = ["type", "normalizers"]
        withStrip.values = [.string("Sequence"), .array([
            charsmap,
            .object(JSONObject(keys: ["type", "strip_left", "strip_right"], values: [.string("Strip"), .bool(false), .bool(true)])),
            .object(JSONObject(keys: ["type", "pattern", "content"],
                               values: [.string("Replace"), .object(JSONObject(keys: ["Regex"], values: [.string(" {2,}")])), .string("▁")])),
        ])]
        let n = try Normalizer.from(json: .object(withStrip))
        #expect(PrecompiledTests.normalize(n, "\u{FF21}\u{FF22}   \u{FF43}  \u{3000}") == "AB▁c")
    }

    @Test("with the \\A / \\z space trimming of transformers' build_tokenizer_from_spm_proto")
    func spmProtoSequence() throws {
        let charsmap = try PrecompiledTests.t5Normalizer()
        func replace(_ kind: String, _ pattern: String, _ content: String) -> JSONValue {
            .object(JSONObject(keys: ["type", "pattern", "content"],
                               values: [.string("Replace"), .object(JSONObject(keys: [kind], values: [.string(pattern)])), .string(content)]))
        }
        let sequence = JSONValue.object(JSONObject(keys: ["type", "normalizers"], values: [.string("Sequence"), .array([
            charsmap, replace("Regex", #"\A +| +\z"#, ""), replace("Regex", " {2,}", " "), replace("String", " ", "▁"),
            replace("Regex", #"\A▁"#, "▁▁"),
        ])]))
        let n = try Normalizer.from(json: sequence)
        let cases: [(String, String)] = [("  \u{FF21}\u{FF22}   \u{FF43}  \u{3000} ", "AB▁c"), ("a", "a"), (" ", ""), ("▁x y", "x▁y"), ("x\n  y ", "x▁y")]
        for (input, expected) in cases {
            #expect(PrecompiledTests.normalize(n, input) == expected, "\(input.debugDescription)")
        }
    }

    @Test("a charsmap that is not base64 of a trie is an error naming the field")
    func invalid() {
        for blob in ["", "not base64!", "AAAAAA=="] {
            #expect(throws: TokenizerError.self) {
                _ = try Normalizer.from(json: .object(JSONObject(keys: ["type", "precompiled_charsmap"], values: [.string("Precompiled"), .string(blob)])))
            }
        }
    }
}

@Suite("T5 pipeline")
struct T5PipelineTests {
    @Test("sentinels are special added tokens; </s> ends every encoding; decode drops the first ▁")
    func sentinels() throws {
        let tok = try Fixtures.tokenizer("t5-unigram")
        #expect(tok.eosTokenId == 1 && tok.bosTokenId == nil)
        #expect(tok.tokenToId("<extra_id_0>") == 2099 && tok.tokenToId("<extra_id_99>") == 2000)
        let ids = tok.encode("The <extra_id_0> walks")
        #expect(ids.last == 1 && ids.contains(2099))
        #expect(tok.decode(ids, skipSpecialTokens: true) == "The walks")
        #expect(tok.summary.hasPrefix("SentencePiece Unigram, vocab 2100"))
    }
}
