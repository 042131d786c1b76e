import Foundation
import Testing
import SwapMoECore
import SwapMoETokenizers
@testable import SwapMoEGGUF

// Serialized: each case builds a whole tokenizer (Mistral's has 32000 tokens); run one at a time they move this test
// process's RSS less, which the memory-cap tests running beside them measure.
@Suite("GGUF tokenizer metadata as tokenizer.json", .serialized)
struct GGUFTokenizerTests {
    static func load(_ t: GGUFTokenizer) throws -> Tokenizer {
        let enc = JSONEncoder()
        return try Tokenizer(tokenizerJSON: try enc.encode(t.tokenizerJSON), tokenizerConfigJSON: try enc.encode(t.tokenizerConfig))
    }

    struct Case { let text: String; let llama: [Int]; let hf: [Int] }

    /// llama-tokenize's ids (parse special on, BOS as the file says) and HF tokenizers' on the source tokenizer.json.
    static func goldens(_ model: String) throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.path("tokens-\(model).json")))
        let root = try JSONParser.parse([UInt8](data), file: "tokens-\(model).json")
        return try #require(root["cases"]?.arrayValue).map {
            Case(text: $0["text"]?.stringValue ?? "", llama: $0["llama_ids"]?.arrayValue?.compactMap(\.intValue) ?? [],
                 hf: $0["hf_ids"]?.arrayValue?.compactMap(\.intValue) ?? [])
        }
    }

    @Test("the tokenizer rebuilt from each fixture encodes every golden text as llama-tokenize does on that GGUF",
          arguments: [("mixtral-f32.gguf", "mixtral"), ("qwen2_moe-f32.gguf", "qwen2_moe"), ("qwen3_moe-bf16.gguf", "qwen3_moe"),
                      ("olmoe-split-00001-of-00003.gguf", "olmoe"), ("mistral-vocab.gguf", "mistral")])
    func matchesLlamaTokenize(gguf: String, model: String) throws {
        let t = try GGUFModel(path: GGUFFixtures.path(gguf)).tokenizer()
        let tok = try Self.load(t)
        let cases = try Self.goldens(model)
        #expect(cases.count >= 19)
        for c in cases {
            #expect(!c.llama.isEmpty || c.text.isEmpty)
            #expect(tok.encode(c.text) == c.llama, "\(gguf): \(c.text.debugDescription)")
        }
    }

    @Test("on Mistral's real vocabulary, llama.cpp (and sentencepiece) split runs of spaces unlike HF's tokenizer.json; the GGUF tokenizer follows llama.cpp")
    func mistralSpaces() throws {
        let cases = try Self.goldens("mistral")
        let differing = cases.filter { $0.hf != $0.llama }
        #expect(differing.count >= 3)
        #expect(differing.contains { $0.text == " Hello  world " })
        let tok = try Self.load(try GGUFModel(path: GGUFFixtures.path("mistral-vocab.gguf")).tokenizer())
        #expect(tok.encode(" Hello  world ") == [1, 28705, 22557, 28705, 1526, 28705])
    }

    @Test("decoding what was encoded gives the text back (specials skipped), for SentencePiece and byte-level files",
          arguments: ["mixtral-f32.gguf", "qwen2_moe-f32.gguf"])
    func roundTrip(gguf: String) throws {
        let tok = try Self.load(try GGUFModel(path: GGUFFixtures.path(gguf)).tokenizer())
        for text in ["Hello world", " two  spaces ", "café 日本語 😀", "def f(x):\n    return x\n", "tab\there"] {
            #expect(tok.decode(tok.encode(text), skipSpecialTokens: true) == text, "\(text.debugDescription)")
        }
    }

    @Test("special-token facts: ids, BOS insertion, names in tokenizer_config, types of added tokens")
    func facts() throws {
        let spm = try GGUFModel(path: GGUFFixtures.path("mixtral-f32.gguf")).tokenizer()
        #expect(spm.bosTokenId == 1 && spm.eosTokenId == 2 && spm.unknownTokenId == 0 && spm.addBOS && !spm.addEOS)
        #expect(spm.tokenizerConfig["bos_token"]?.stringValue == "<s>")
        let tok = try Self.load(spm)
        #expect(tok.bosTokenId == 1 && tok.eosTokenId == 2)
        #expect(tok.kind == "SentencePiece-style BPE")
        let bpe = try GGUFModel(path: GGUFFixtures.path("qwen2_moe-f32.gguf")).tokenizer()
        #expect(bpe.bosTokenId == nil && bpe.eosTokenId == 1531 && bpe.padTokenId == 1531 && !bpe.addBOS)
        let btok = try Self.load(bpe)
        #expect(btok.kind == "byte-level BPE")
        #expect(btok.isSpecialToken(1532) && !btok.isSpecialToken(1534))
        #expect(btok.eosTokenIds.contains(1533))
    }

    @Test("SentencePiece merges derived from vocabulary and scores are those of the tokenizer.json the GGUF came from, ranked in the same order of merged tokens")
    func spmMerges() throws {
        let t = try GGUFModel(path: GGUFFixtures.path("mixtral-f32.gguf")).tokenizer()
        let ours = try #require(t.tokenizerJSON["model"]?["merges"]?.arrayValue)
        let data = try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.hfFolder("mixtral") + "/tokenizer.json"))
        let hf = try #require(try JSONParser.parse([UInt8](data), file: "tokenizer.json")["model"]?["merges"]?.arrayValue)
        #expect(ours.count == hf.count)
        #expect(Set(ours) == Set(hf))
        // The splits of one token may be listed in another order (transformers versions differ); that order never
        // changes an encoding, since one segmentation holds at most one pair forming a given token at a position.
        func mergedOrder(_ merges: [JSONValue]) -> [String] {
            var seen = Set<String>(), out: [String] = []
            for m in merges {
                let joined = (m.arrayValue ?? []).compactMap(\.stringValue).joined()
                if seen.insert(joined).inserted { out.append(joined) }
            }
            return out
        }
        #expect(mergedOrder(ours) == mergedOrder(hf))
    }

    /// A byte-level vocabulary of the 256 byte symbols and no merges.
    static func byteLevelMetadata(pre: String?) -> [String: GGUFValue] {
        var symbols: [String] = []
        for b in 0..<256 {
            let v: Int
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) { v = b } else {
                v = 256 + symbols.count(where: { $0.unicodeScalars.first!.value >= 256 })
            }
            symbols.append(String(UnicodeScalar(UInt32(v))!))
        }
        var md: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.tokens": .array(.strings(symbols)),
            "tokenizer.ggml.merges": .array(.strings([])),
        ]
        if let pre { md["tokenizer.ggml.pre"] = .string(pre) }
        return md
    }

    @Test("every supported tokenizer.ggml.pre compiles in our regex engine and splits text; unknown ones are refused by name")
    func preTokenizers() throws {
        for pre in GGUFTokenizerMapping.preTokenizers.keys.sorted() {
            let t = try GGUFTokenizerMapping.tokenizer(fileName: "m.gguf", metadata: Self.byteLevelMetadata(pre: pre))
            let tok = try Self.load(t)
            let text = "Hello, World! 12345 don't 日本語 \n\n  x"
            #expect(tok.decode(tok.encode(text)) == text, "\(pre)")
        }
        // No pre: llama.cpp's default.
        _ = try GGUFTokenizerMapping.tokenizer(fileName: "m.gguf", metadata: Self.byteLevelMetadata(pre: nil))
        #expect { try GGUFTokenizerMapping.tokenizer(fileName: "m.gguf", metadata: Self.byteLevelMetadata(pre: "chameleon")) } throws: {
            "\($0)".contains("'chameleon'") && "\($0)".contains("qwen2") && "\($0)".contains("llama-bpe")
        }
        var md = Self.byteLevelMetadata(pre: "qwen2")
        md["tokenizer.ggml.model"] = .string("bert")
        #expect { try GGUFTokenizerMapping.tokenizer(fileName: "m.gguf", metadata: md) } throws: { "\($0)".contains("'bert'") }
        md = Self.byteLevelMetadata(pre: "qwen2")
        md["tokenizer.ggml.merges"] = .array(.strings(["ab"]))
        #expect { try GGUFTokenizerMapping.tokenizer(fileName: "m.gguf", metadata: md) } throws: { "\($0)".contains("merges[0]") }
        md = Self.byteLevelMetadata(pre: "qwen2")
        md["tokenizer.ggml.eos_token_id"] = .uint(9999, .uint32)
        #expect { try GGUFTokenizerMapping.tokenizer(fileName: "m.gguf", metadata: md) } throws: { "\($0)".contains("9999") }
    }
}
