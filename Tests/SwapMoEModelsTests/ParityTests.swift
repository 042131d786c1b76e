import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEPacker
import SwapMoETokenizers
import SwapMoETestSupport
@testable import SwapMoEModels
import SwapMoEEngine

/// Reference outputs saved by `Tools/make_fixtures.py` from Hugging Face `transformers` (float32).
struct Golden: Decodable {
    struct Window: Decodable { let ctx: Int; let windows: Int; let ppl: Double; let predictedTokens: Int
        enum CodingKeys: String, CodingKey { case ctx, windows, ppl, predictedTokens = "predicted_tokens" } }
    /// `{"tokens": N, "ctx1024": {...}, "ctx64": {...}, ...}`
    struct Eval: Decodable {
        let tokens: Int
        let windows: [Window]
        struct Key: CodingKey { var stringValue: String; var intValue: Int? { nil }; init(stringValue: String) { self.stringValue = stringValue }; init?(intValue: Int) { nil } }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            tokens = try c.decode(Int.self, forKey: Key(stringValue: "tokens"))
            windows = try c.allKeys.filter { $0.stringValue.hasPrefix("ctx") }.map { try c.decode(Window.self, forKey: $0) }.sorted { $0.ctx < $1.ctx }
        }
    }
    let promptText: String
    let promptIds: [Int]
    let greedyIds: [Int]
    let greedyEOSSuppressed: Bool
    let logitsLast: [Float]
    let eval: Eval
    enum CodingKeys: String, CodingKey {
        case promptText = "prompt_text", promptIds = "prompt_ids", greedyIds = "greedy_ids", greedyEOSSuppressed = "greedy_eos_suppressed"
        case logitsLast = "logits_last", eval
    }
}

/// Decoder-only model fixtures that carry a golden.json (the encoder-decoder ones have their own tests).
let parityFixtures: [String] = TestPaths.decoderFixtures.filter { FileManager.default.fileExists(atPath: $0 + "/golden.json") }

@Suite("Parity with transformers")
struct ParityTests {
    @Test("logits, greedy generation and perplexity match transformers", arguments: parityFixtures)
    func parity(folder: String) throws {
        try Self.check(folder: folder, golden: "golden.json", dtype: nil)
    }

    /// FP8 fixtures (Tools/make_fp8_fixtures.py) also carry the golden of their dequantized weights kept in f32.
    @Test("FP8 weights packed with --dtype f32 match transformers on the f32 dequantized weights",
          arguments: parityFixtures.filter { FileManager.default.fileExists(atPath: $0 + "/golden_f32.json") })
    func parityF32(folder: String) throws {
        try Self.check(folder: folder, golden: "golden_f32.json", dtype: .f32)
    }

    /// Packs `folder` (`--dtype dtype`; `interleave`: the packer's default layouts, else `--no-interleave`) and compares
    /// the last prompt logits (1e-4 of their scale), greedy ids and perplexities (1e-4) with its golden file. An archive
    /// with MXFP4_X8 matrices (hub MXFP4 experts, interleaved) multiplies 8-bit activations in prefill too, as
    /// llama.cpp multiplies MXFP4 (QuantGEMM+Interleaved.swift): its logits are compared within 1e-2 of their scale
    /// and its perplexities within 1e-3 (measured on gpt_oss_mxfp4: 4.5e-3 and 1.9e-4), and the same fixture is
    /// checked again with plain rows, whose prefill dequantizes to f32, at 1e-4.
    static func check(folder: String, golden file: String, dtype: DType?, interleave: Bool = true) throws {
        let name = URL(fileURLWithPath: folder).lastPathComponent + "/" + file
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/" + file)))
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var options = PackOptions(input: folder, output: dir + "/m.swm", dtype: dtype)
        options.interleave = interleave
        _ = try Packer.pack(options)
        let archive = try Archive(path: dir + "/m.swm")
        let eightBit = archive.manifest.expertLayouts.contains { $0.tensors.contains { $0.dtype == .mxfp4x8 } }
            || archive.manifest.dense.contains { $0.dtype == .mxfp4x8 }
        let logitsTolerance: Float = eightBit ? 1e-2 : 1e-4, pplTolerance = eightBit ? 1e-3 : 1e-4
        let tokenizer = try Tokenizer(tokenizerJSON: try #require(try archive.fileData("tokenizer.json")),
                                      tokenizerConfigJSON: try archive.fileData("tokenizer_config.json"))
        #expect(tokenizer.encode(golden.promptText) == golden.promptIds, "\(name): prompt ids")

        let maxCtx = max(1024, golden.eval.windows.map(\.ctx).max() ?? 0, golden.promptIds.count + golden.greedyIds.count + 1)
        let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: maxCtx, threads: 2)
        var logits = try model.forward(golden.promptIds)
        let scale = golden.logitsLast.map(abs).max() ?? 1
        let maxDiff = zip(logits, golden.logitsLast).map { abs($0 - $1) }.max() ?? .infinity
        #expect(logits.count == golden.logitsLast.count, "\(name): vocab")
        #expect(maxDiff <= logitsTolerance * max(scale, 1), "\(name): last-position logits differ by \(maxDiff) (scale \(scale))")

        var generated: [Int] = []
        while generated.count < golden.greedyIds.count {
            let next = Sampler.argmax(logits)
            generated.append(next)
            logits = try model.forward([next])
        }
        #expect(generated == golden.greedyIds, "\(name): greedy ids")

        let text = try String(contentsOfFile: TestPaths.fixtures + "/texts/eval.txt", encoding: .utf8)
        let ids = tokenizer.encode(text)
        #expect(ids.count == golden.eval.tokens, "\(name): eval token count")
        for e in golden.eval.windows {
            let r = try model.perplexity(ids, context: e.ctx)
            #expect(r.predicted == e.predictedTokens, "\(name): predicted tokens at ctx \(e.ctx)")
            #expect(r.windows == e.windows, "\(name): windows at ctx \(e.ctx)")
            #expect(abs(r.ppl - e.ppl) <= pplTolerance * e.ppl, "\(name): ppl \(r.ppl) vs \(e.ppl) at ctx \(e.ctx)")
        }
        if eightBit && interleave { try check(folder: folder, golden: file, dtype: dtype, interleave: false) }
    }
}
