import Foundation
import Testing
import SwapMoECore
import SwapMoETestSupport
@testable import SwapMoECheckpoint

/// compressed-tensors FP8 checkpoints (`FP8BlockFormat+CompressedTensors.swift`): channel, tensor and block
/// `weight_scale` grids read by the block-FP8 path, `input_scale` skipped, and every scheme or layout this reader
/// does not do refused at open in one line.
@Suite("compressed-tensors FP8 checkpoints")
struct FP8CompressedTensorsTests {
    static func open(_ name: String) throws -> Checkpoint { try Checkpoint(folder: TestPaths.fixtures + "/models/" + name) }

    /// `name`'s rows dequantized whole, with the weight's bytes and its scales as floats.
    static func dequantized(_ c: Checkpoint, _ name: String) throws -> (out: [Float], bytes: [UInt8], scales: [Float], w: FP8Weight) {
        let w = try #require(c.fp8Weights[name])
        let bytes = try #require(c.withTensorBytes(name) { _, b in Array(b) })
        let scales: [Float] = try #require(c.withTensorBytes(w.scale.name) { t, b in
            t.dtype == .bf16 ? Array(b.bindMemory(to: UInt16.self)).map(bf16ToFloat) : Array(b.bindMemory(to: Float.self))
        })
        var out = [Float](repeating: 0, count: w.rowCount * w.cols)
        try #require(c.withTensorBytes(name) { _, wb in
            c.withTensorBytes(w.scale.name) { _, sb in
                out.withUnsafeMutableBufferPointer { w.dequantize(rows: 0..<w.rowCount, weight: wb, scales: sb, into: $0) }
            }
        })
        return (out, bytes, scales, w)
    }

    @Test("channel strategy: each row's e4m3 values times that row's bf16 weight_scale; the scales are not model tensors")
    func channel() throws {
        let c = try Self.open("glm4_moe_ct")
        #expect(c.fp8Format?.strategy == .channel && c.fp8Format?.method == .compressedTensors)
        #expect(c.fp8Format?.summary == "compressed-tensors fp8 e4m3, per-channel scales")
        let name = "model.layers.1.mlp.experts.2.down_proj.weight"
        let (out, bytes, scales, w) = try Self.dequantized(c, name)
        #expect(w.scale.shape == [w.rowCount, 1] && w.scale.dtype == .bf16 && c.isFP8Scale(name + "_scale") && !c.isFP8Scale(name))
        for r in 0..<w.rowCount { for col in 0..<w.cols {
            #expect(out[r * w.cols + col] == FP8E4M3.table[Int(bytes[r * w.cols + col])] * scales[r])
        } }
        #expect(c.fp8Weights["model.layers.1.mlp.gate.weight"] == nil && c.fp8Weights["lm_head.weight"] == nil)
    }

    @Test("tensor strategy: one f32 scale of shape [1] for the matrix; static input_scale tensors are skipped, not model tensors")
    func tensor() throws {
        let c = try Self.open("deepseek_v3_ct_tensor")
        #expect(c.fp8Format?.strategy == .tensor)
        let name = "model.layers.0.self_attn.kv_b_proj.weight"
        let (out, bytes, scales, w) = try Self.dequantized(c, name)
        #expect(w.scale.shape == [1] && scales.count == 1)
        #expect(out == bytes.map { FP8E4M3.table[Int($0)] * scales[0] })
        let inputScales = c.tensorNames.filter { $0.hasSuffix(".input_scale") }
        #expect(!inputScales.isEmpty && inputScales.allSatisfy(c.isFP8Scale))
        #expect(inputScales.count == c.fp8Weights.count)
    }

    /// `deepseek_v3_fp8` restated in compressed-tensors' block scheme: the same bytes and scales, `_scale` names.
    static func blockTwin(to dir: String, edit: (inout [String: Any]) -> Void = { _ in },
                          tensors: (inout [CheckpointMaker.Tensor]) -> Void = { _ in }) throws {
        try CheckpointMaker.copyFixture("deepseek_v3_fp8", to: dir, config: { c in
            c["quantization_config"] = ["quant_method": "compressed-tensors", "format": "float-quantized",
                                        "config_groups": ["group_0": ["targets": ["Linear"], "input_activations": NSNull(),
                                                                      "weights": ["num_bits": 8, "type": "float", "strategy": "block",
                                                                                  "block_structure": [16, 8], "symmetric": true, "dynamic": false]]],
                                        "ignore": ["lm_head", "re:.*mlp.gate$"]]
            edit(&c)
        }, tensors: { ts in
            for i in ts.indices where ts[i].name.hasSuffix("_scale_inv") { ts[i].name.removeLast(4) }
            tensors(&ts)
        })
    }

    @Test("block strategy reads as the fp8 method's blocks: the same values from the same bytes and scales")
    func block() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try Self.blockTwin(to: dir)
        let ct = try Checkpoint(folder: dir), fp8 = try Self.open("deepseek_v3_fp8")
        #expect(ct.fp8Format?.text == "16x8" && ct.fp8Format?.method == .compressedTensors)
        #expect(Set(ct.fp8Weights.keys) == Set(fp8.fp8Weights.keys))
        for name in ["model.layers.0.self_attn.kv_b_proj.weight", "model.layers.2.mlp.experts.8.gate_proj.weight"] {
            #expect(try Self.dequantized(ct, name).out == Self.dequantized(fp8, name).out, "\(name)")
        }
    }

    static let weight = "model.layers.1.mlp.experts.4.down_proj.weight"

    /// Each malformed case, the config or tensor edit making it, and what its one-line error must say.
    static let broken: [String: (String, Bool)] = [
        "missing": ("'\(weight)_scale' are missing", true), "shape": ("needs [3, 2]", true),
        "pack-quantized": ("format 'pack-quantized' (int4/int8 weights packed into int32", false),
        "int8": ("weights are int with 8 num_bits", false), "group": ("weight strategy 'group'", false),
        "groups": ("different weight schemes", false), "asymmetric": ("asymmetric", false),
        "kv": ("kv_cache_scheme", false), "no groups": ("no config_groups", false),
        "block size": ("block_structure [16] must be two block sizes", false),
    ]

    @Test("refused at open in one line naming the tensor or setting and what to do",
          arguments: ["missing", "shape", "pack-quantized", "int8", "group", "groups", "asymmetric", "kv", "no groups", "block size"])
    func refused(_ what: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try Self.blockTwin(to: dir, edit: { c in
            var q = c["quantization_config"] as! [String: Any]
            var groups = q["config_groups"] as! [String: Any]
            var g = groups["group_0"] as! [String: Any]
            var w = g["weights"] as! [String: Any]
            switch what {
            case "pack-quantized": q["format"] = what; w["num_bits"] = 4; w["type"] = "int"; w["strategy"] = "group"
            case "int8": w["type"] = "int"
            case "group": w["strategy"] = "group"; w["group_size"] = 128
            case "asymmetric": w["symmetric"] = false
            case "kv": q["kv_cache_scheme"] = ["num_bits": 8, "type": "float", "strategy": "tensor"]
            case "block size": w["block_structure"] = [16]
            default: break
            }
            g["weights"] = w
            groups["group_0"] = g
            if what == "groups" {
                var other = w
                other["strategy"] = "channel"; other["block_structure"] = NSNull()
                groups["group_1"] = ["targets": ["re:.*experts.*"], "weights": other]
            }
            q["config_groups"] = what == "no groups" ? [String: Any]() : groups
            c["quantization_config"] = q
        }, tensors: { ts in
            let scale = Self.weight + "_scale"
            switch what {
            case "missing": ts.removeAll { $0.name == scale }
            case "shape": if let i = ts.firstIndex(where: { $0.name == scale }) { ts[i].shape = [ts[i].shape.reduce(1, *)] }
            default: break
            }
        })
        #expect { try Checkpoint(folder: dir) } throws: { error in
            let text = "\(error)", (needle, named) = Self.broken[what]!
            return text.contains(needle) && !text.contains("\n") && (!named || text.contains(Self.weight))
                && (named || text.contains("quant_method compressed-tensors"))
        }
    }

    @Test("the model families accept compressed-tensors (the reader decides) and a naive-quantized FP8 format opens")
    func naiveFormat() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try Self.blockTwin(to: dir, edit: { c in
            var q = c["quantization_config"] as! [String: Any]
            q["format"] = "naive-quantized"
            c["quantization_config"] = q
        })
        #expect(try Checkpoint(folder: dir).fp8Weights.count == Self.open("deepseek_v3_fp8").fp8Weights.count)
    }
}
