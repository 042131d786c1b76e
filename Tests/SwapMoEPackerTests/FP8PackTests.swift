import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoETestSupport
@testable import SwapMoEPacker
@testable import SwapMoEModels
import SwapMoECheckpoint

/// Packing fine-grained FP8 checkpoints (issue 19): the weights are dequantized on reading and stored as floats
/// (bf16 by default, as fp8_cast_bf16.py writes them), or quantized from those floats with `--quant`. Parity with
/// transformers is `ParityTests` (both goldens) and `DeepSeekSessionTests` (exact at the minimum cap).
@Suite("Packing FP8 checkpoints")
struct FP8PackTests {
    static let fixture = TestPaths.fixtures + "/models/deepseek_v3_fp8"

    @Test("scales are not packed, FP8 matrices are stored as bf16 (the f32 dequantized values rounded once), the archive's config drops quantization_config, and pack says so")
    func storedAsBF16() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let summary = try Packer.pack(PackOptions(input: Self.fixture, output: dir + "/bf16.swm"))
        _ = try Packer.pack(PackOptions(input: Self.fixture, output: dir + "/f32.swm", dtype: .f32))
        let bf16 = try Archive(path: dir + "/bf16.swm"), f32 = try Archive(path: dir + "/f32.swm")
        #expect(!bf16.manifest.dense.contains { $0.name.hasSuffix("_scale_inv") })
        #expect(bf16.manifest.config["quantization_config"] == nil && bf16.manifest.config["model_type"]?.stringValue == "deepseek_v3")
        #expect(bf16.manifest.pack.dequantized == "fp8 e4m3, 16x8 blocks")
        // 3 layers x 5 attention matrices, 3 dense MLP matrices, 2 x 3 shared-expert matrices, 2 x 9 x 3 expert matrices.
        #expect(summary.dequantizedFP8 == 15 + 3 + 6 + 54, "\(summary.dequantizedFP8)")
        #expect(summary.line.contains("78 FP8 e4m3 matrices (16x8 blocks) dequantized"), "\(summary.line)")
        for t in bf16.manifest.dense where t.name.hasSuffix("proj.weight") || t.name.hasSuffix("mqa.weight") {
            #expect(t.dtype == .bf16, "\(t.name)")
            let wide = try #require(f32.dense(t.name))
            #expect(wide.dtype == .f32)
            let rounded = f32.withDenseBytes(wide) { Array($0.bindMemory(to: Float.self)).map { floatToBF16($0) } }
            let stored = bf16.withDenseBytes(t) { Array($0.bindMemory(to: UInt16.self)) }
            #expect(stored == rounded, "\(t.name)")
        }
        // Tensors stored in float keep their type (embeddings bf16; the router's correction bias f32).
        #expect(bf16.dense("model.embed_tokens.weight")?.dtype == .bf16)
        #expect(bf16.dense("model.layers.1.mlp.gate.e_score_correction_bias")?.dtype == .f32)
    }

    @Test("compressed-tensors FP8 (channel with dynamic activations, tensor with static input_scale): weight and input scales are not packed, the matrices are stored as bf16, and pack says which scales it read",
          arguments: [("glm4_moe_ct", "per-channel scales"), ("deepseek_v3_ct_tensor", "per-tensor scales")])
    func compressedTensors(fixture: String, scales: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let folder = TestPaths.fixtures + "/models/" + fixture
        let summary = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let ckpt = try Checkpoint(folder: folder)
        #expect(!archive.manifest.dense.contains { $0.name.hasSuffix("_scale") || $0.name.hasSuffix("input_scale") })
        #expect(archive.manifest.config["quantization_config"] == nil)
        #expect(archive.manifest.pack.dequantized == "compressed-tensors fp8 e4m3, " + scales)
        #expect(summary.dequantizedFP8 == ckpt.fp8Weights.count && summary.warnings.isEmpty, "\(summary.warnings)")
        #expect(summary.line.contains("\(ckpt.fp8Weights.count) FP8 e4m3 matrices (\(scales)) dequantized"), "\(summary.line)")
        for t in archive.manifest.dense where ckpt.fp8Weights[t.name] != nil { #expect(t.dtype == .bf16, "\(t.name)") }
        #expect(archive.dense("model.layers.1.mlp.gate.weight")?.dtype == .bf16)
    }

    @Test("the model families accept compressed-tensors' FP8 formats and refuse its others by name, before any tensor is read")
    func familyCheck() throws {
        let base = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: TestPaths.fixtures + "/models/glm4_moe_ct/config.json"))) as? [String: Any])
        for format in ["float-quantized", "naive-quantized", "pack-quantized", "int-quantized"] {
            var c = base, q = try #require(base["quantization_config"] as? [String: Any])
            q["format"] = format
            c["quantization_config"] = q
            let data = try JSONSerialization.data(withJSONObject: c)
            if format.hasPrefix("float") || format.hasPrefix("naive") {
                #expect(throws: Never.self) { try ModelFamily.detect(configData: data) }
            } else {
                #expect { try ModelFamily.detect(configData: data) } throws: { "\($0)".contains("format \(format), not FP8") }
            }
        }
    }

    /// `maker`'s expert matrices as FP8 (random e4m3 bytes, NaN excluded, random f32 block scales in `block`s),
    /// beside the same model with those matrices as their f32 values.
    static func fp8Twins(_ maker: CheckpointMaker, block: [Int]) -> (fp8: CheckpointMaker, f32: CheckpointMaker) {
        var rng = SplitMix64(state: 19)
        var fp8 = maker, f32 = maker
        fp8.tensors = []; f32.tensors = []
        fp8.config["quantization_config"] = ["quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": block]
        for t in maker.tensors {
            guard t.name.contains("experts") else { fp8.tensors.append(t); f32.tensors.append(t); continue }
            let rows = t.shape[t.shape.count - 2], cols = t.shape[t.shape.count - 1]
            let lead = t.shape.dropLast(2).reduce(1, *)
            let gr = (rows + block[0] - 1) / block[0], gc = (cols + block[1] - 1) / block[1]
            let bytes = (0..<(lead * rows * cols)).map { _ in UInt8(rng.below(256)) }.map { $0 & 0x7F == 0x7F ? $0 ^ 1 : $0 }
            let scales = (0..<(lead * gr * gc)).map { _ in Float(rng.below(1000) + 1) * 1e-5 }
            var values = [Float](repeating: 0, count: bytes.count)
            for r in 0..<(lead * rows) {
                for c in 0..<cols {
                    values[r * cols + c] = FP8E4M3.table[Int(bytes[r * cols + c])] * scales[(r / rows) * gr * gc + (r % rows) / block[0] * gc + c / block[1]]
                }
            }
            fp8.tensors.append(t.with(dtype: .f8e4m3, bytes: bytes))
            fp8.tensors.append(CheckpointMaker.Tensor(name: t.name + "_scale_inv", dtype: .f32, shape: t.shape.dropLast(2) + [gr, gc],
                                                      bytes: scales.withUnsafeBytes { Array($0) }))
            f32.tensors.append(t.with(dtype: .f32, bytes: values.withUnsafeBytes { Array($0) }))
        }
        return (fp8, f32)
    }

    @Test("FP8 experts, per expert or fused 3-D (leading dims, ragged blocks), pack to the bytes of their f32 values, with --dtype f32 and with --quant experts=q8_0",
          arguments: [false, true])
    func sameAsFloat(fused: Bool) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let (fp8, f32) = Self.fp8Twins(CheckpointMaker.mixtral(hidden: 64, intermediate: 64, layers: 1, experts: 3, fused: fused), block: [32, 24])
        try fp8.write(to: dir + "/fp8")
        try f32.write(to: dir + "/f32")
        for (dtype, quant) in [(DType.f32, QuantSpec()), (nil, QuantSpec(experts: .q8_0))] {
            let s = try Packer.pack(PackOptions(input: dir + "/fp8", output: dir + "/a.swm", dtype: dtype, quant: quant))
            _ = try Packer.pack(PackOptions(input: dir + "/f32", output: dir + "/b.swm", dtype: dtype, quant: quant))
            let a = try Archive(path: dir + "/a.swm"), b = try Archive(path: dir + "/b.swm")
            #expect(s.dequantizedFP8 == 9 && a.manifest.pack.dequantized == "fp8 e4m3, 32x24 blocks")
            #expect(a.experts.count == 3 && a.manifest.expertLayouts == b.manifest.expertLayouts)
            for (x, y) in zip(a.experts, b.experts) {
                #expect(try a.expertBytes(x) == b.expertBytes(y), "expert \(x.expert) (\(dtype?.rawValue ?? "q8_0"))")
                #expect(x.norm == y.norm)
            }
            if quant.experts != nil { #expect(s.quantized[.q8_0] == 9, "\(s.line)") }
        }
    }

    @Test("pack refuses other quantization methods with one line naming the method and what to do",
          arguments: ["bitsandbytes", "gptq", "awq"])
    func unknownMethod(_ method: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        // A float checkpoint: the model families' check names the method; FP8 weights under it: the reader does.
        for fixture in ["deepseek_v3", "deepseek_v3_fp8"] {
            try CheckpointMaker.copyFixture(fixture, to: dir + "/" + fixture, config: { $0["quantization_config"] = ["quant_method": method] })
            #expect { try Packer.pack(PackOptions(input: dir + "/" + fixture, output: dir + "/m.swm")) } throws: { error in
                let text = "\(error)"
                return text.contains("quant_method '\(method)'") && !text.contains("\n")
                    && (fixture.hasSuffix("fp8") ? text.contains("F8_E4M3") : text.contains("convert the weights to bf16"))
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/m.swm"))
        }
    }
}
