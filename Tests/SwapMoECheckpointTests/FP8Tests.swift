import Foundation
import Testing
import SwapMoECore
import SwapMoETestSupport
@testable import SwapMoECheckpoint

/// Fine-grained FP8 checkpoints (`FP8BlockFormat`, `FP8Weight`): the e4m3 decoding against torch, block scales
/// applied per (partial) block, and every malformed layout refused at open with the tensor named.
@Suite("FP8 block-quantized checkpoints")
struct FP8Tests {
    static let fixture = "deepseek_v3_fp8"

    @Test("e4m3 decoding equals torch's float8_e4m3fn for all 256 bytes (0x7F and 0xFF NaN, no infinities, max 448)")
    func e4m3Table() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixtures + "/quant/e4m3.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let values = try #require(root["values"] as? [Any])
        #expect(values.count == 256)
        for (byte, v) in values.enumerated() {
            let got = FP8E4M3.table[byte]
            if let want = (v as? NSNumber)?.doubleValue {
                #expect(Double(got) == want && got.sign == (byte >= 128 ? .minus : .plus), "byte \(byte): \(got) vs \(want)")
            } else {
                #expect(got.isNaN, "byte \(byte) should be NaN")
            }
        }
        #expect(Set(FP8E4M3.table.indices.filter { FP8E4M3.table[$0].isNaN }) == [0x7F, 0xFF])
        #expect(FP8E4M3.table.filter { !$0.isNaN }.max() == 448 && !FP8E4M3.table.contains { $0.isInfinite })
    }

    @Test("a weight's value is its e4m3 value times the scale of its block, partial edge blocks included")
    func dequantizeBlocks() throws {
        let c = try Checkpoint(folder: TestPaths.fixtures + "/models/" + Self.fixture)
        #expect(c.fp8Format == FP8BlockFormat(blockRows: 16, blockCols: 8))
        let name = "model.layers.0.self_attn.kv_b_proj.weight"   // [66, 20]: 5 x 3 blocks of 16 x 8, both edges partial
        let w = try #require(c.fp8Weights[name])
        #expect(w.scale.shape == [5, 3] && w.scale.dtype == .f32 && c.isFP8Scale(name + "_scale_inv") && !c.isFP8Scale(name))
        let bytes = try #require(c.withTensorBytes(name) { _, b in Array(b) })
        let scales = try #require(c.withTensorBytes(name + "_scale_inv") { _, b in Array(b.bindMemory(to: Float.self)) })
        var out = [Float](repeating: 0, count: 66 * 20)
        try #require(c.withTensorBytes(name) { _, wb in
            c.withTensorBytes(name + "_scale_inv") { _, sb in
                out.withUnsafeMutableBufferPointer { w.dequantize(rows: 0..<66, weight: wb, scales: sb, into: $0) }
            }
        })
        for r in 0..<66 { for col in 0..<20 {
            #expect(out[r * 20 + col] == FP8E4M3.table[Int(bytes[r * 20 + col])] * scales[(r / 16) * 3 + col / 8])
        } }
        // A window of rows lands where the whole matrix put it.
        var window = [Float](repeating: 0, count: 3 * 20)
        try #require(c.withTensorBytes(name) { _, wb in
            c.withTensorBytes(name + "_scale_inv") { _, sb in
                window.withUnsafeMutableBufferPointer { w.dequantize(rows: 63..<66, weight: wb, scales: sb, into: $0) }
            }
        })
        #expect(window == Array(out[(63 * 20)...]))
    }

    static func open(config: (inout [String: Any]) -> Void = { _ in }, tensors: (inout [CheckpointMaker.Tensor]) -> Void = { _ in },
                     _ tag: String = #function) throws -> (dir: String, result: Result<Checkpoint, CheckpointError>) {
        let dir = TestPaths.tempDir(tag)
        try CheckpointMaker.copyFixture(fixture, to: dir, config: config, tensors: tensors)
        do { return (dir, .success(try Checkpoint(folder: dir))) } catch { return (dir, .failure(error)) }
    }

    static let weight = "model.layers.1.mlp.experts.4.down_proj.weight"

    @Test("refused at open, naming the tensor and the remedy: missing scales, wrong grid, bad scale dtype, F8 without quantization_config, e5m2, a one-number block size",
          arguments: ["missing", "shape", "dtype", "config", "e5m2", "block"])
    func refused(_ broken: String) throws {
        let scale = Self.weight + "_scale_inv"
        let (dir, result) = try Self.open(config: { c in
            if broken == "config" { c["quantization_config"] = nil }
            if broken == "block" { c["quantization_config"] = ["quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [16]] }
        }, tensors: { ts in
            switch broken {
            case "missing": ts.removeAll { $0.name == scale }
            case "shape": if let i = ts.firstIndex(where: { $0.name == scale }) { ts[i].shape = [ts[i].shape.reduce(1, *)] }
            case "dtype": if let i = ts.firstIndex(where: { $0.name == scale }) { ts[i].dtype = .i32 }
            case "e5m2": if let i = ts.firstIndex(where: { $0.name == Self.weight }) { ts[i].dtype = .f8e5m2 }
            default: break
            }
        })
        defer { TestPaths.remove(dir) }
        guard case .failure(let error) = result else { Issue.record("\(broken): opened"); return }
        let text = "\(error)"
        let expected = ["missing": "'\(scale)' are missing", "shape": "needs [3, 2]", "dtype": "dtype I32",
                        "config": "no quantization_config", "e5m2": "F8_E5M2", "block": "weight_block_size"][broken]!
        #expect(text.contains(expected), "\(text)")
        if broken != "config" && broken != "block" { #expect(text.contains(Self.weight), "\(text)") }
        #expect(!text.contains("\n"))
    }

    @Test("fmt e5m2 and static activation scales are refused by name; a float checkpoint with an fp8 config opens")
    func configKnobs() throws {
        for (edit, key) in [("fmt", "fmt 'e5m2'"), ("activation_scheme", "activation_scheme 'static'")] {
            let (dir, result) = try Self.open(config: { c in
                var q = c["quantization_config"] as? [String: Any] ?? [:]
                q[edit] = edit == "fmt" ? "e5m2" : "static"
                c["quantization_config"] = q
            })
            defer { TestPaths.remove(dir) }
            guard case .failure(let error) = result else { Issue.record("\(edit) accepted"); continue }
            #expect("\(error)".contains(key), "\(error)")
        }
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.copyFixture("deepseek_v3", to: dir, config: { $0["quantization_config"] = ["quant_method": "fp8", "weight_block_size": [128, 128]] })
        let c = try Checkpoint(folder: dir)
        #expect(c.fp8Weights.isEmpty && c.fp8Format?.text == "128x128")
    }
}
