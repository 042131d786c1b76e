import Foundation
import Testing
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive
import SwapMoEKernels
import SwapMoEModels
import SwapMoETestSupport
@testable import SwapMoEPacker

/// gpt-oss's expert layouts at pack time: the hub's MXFP4 blocks become GGUF MXFP4 blocks bit for bit in value,
/// the dequantized `[E, H, 2I]` layout is transposed, and biases travel in the expert block.
@Suite("gpt-oss pack")
struct GptOssPackTests {
    /// The hub's reading of a block: code 2j in the low nibble of byte j, 2j + 1 in the high one, E2M1 · 2^(s - 127).
    static func hubValue(_ nibbles: [UInt8], _ scale: UInt8, _ i: Int) -> Float {
        let e2m1: [Float] = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6]
        let code = i % 2 == 0 ? nibbles[i / 2] & 15 : nibbles[i / 2] >> 4
        return e2m1[Int(code)] * powf(2, Float(Int(scale) - 127))
    }

    @Test("hub MXFP4 repacked to GGUF blocks decodes to the hub's values, every code and a range of scales")
    func repack() {
        var rng = SystemRandomNumberGenerator()
        let blocks = 64
        let nibbles = (0..<(blocks * 16)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let scales = (0..<blocks).map { UInt8(100 + $0 % 50) }
        var out = [UInt8](repeating: 0, count: blocks * 17)
        nibbles.withUnsafeBytes { n in scales.withUnsafeBytes { s in out.withUnsafeMutableBytes { o in
            ExpertPart.repackMXFP4(nibbles: n, scales: s, into: o)
        } } }
        var values = [Float](repeating: .nan, count: blocks * 32)
        out.withUnsafeBytes { o in values.withUnsafeMutableBufferPointer { convertToFloat($0.baseAddress!, o.baseAddress!, .mxfp4, count: blocks * 32) } }
        for b in 0..<blocks {
            let block = Array(nibbles[(b * 16)..<((b + 1) * 16)])
            for i in 0..<32 { #expect(values[b * 32 + i] == Self.hubValue(block, scales[b], i), "block \(b) element \(i)") }
        }
    }

    @Test("the hub-layout fixture packs without widening: MXFP4 experts the size of the download, biases in float")
    func keepsMXFP4() throws {
        let folder = TestPaths.fixtures + "/models/gpt_oss_mxfp4"
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let summary = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let ckpt = try Checkpoint(folder: folder)
        let expertSource = ckpt.tensorNames.filter { $0.contains(".experts.") }.reduce(0) { $0 + ckpt.info($1)!.byteCount }
        let expertStored = archive.manifest.experts.reduce(0) { $0 + $1.rawLength }
        // Blocks and scales are the same bytes regrouped (17 per 32 weights); only 64-byte alignment pads.
        #expect(expertStored >= expertSource && expertStored <= expertSource + archive.manifest.experts.count * 4 * 64)
        #expect(summary.keptQuantized[.mxfp4] == archive.manifest.experts.count * 2)
        for l in archive.manifest.expertLayouts {
            #expect(l.tensors.map(\.role) == ["gate_up", "down", "gate_up_bias", "down_bias"])
            // Kept as MXFP4's blocks, rows interleaved eight at a time for the GEMV (MXFP4_X8: the same bytes).
            #expect(l.tensors.map(\.dtype) == [.mxfp4x8, .mxfp4x8, .f32, .f32])
        }
        // The same checkpoint asked for Q8_0 experts keeps the MXFP4 it has, and its biases in float.
        let q = try Packer.pack(PackOptions(input: folder, output: dir + "/q.swm", quant: try QuantSpec(parsing: "experts=q8_0")))
        #expect(q.quantized.isEmpty && q.keptQuantized[.mxfp4] == summary.keptQuantized[.mxfp4])
    }

    @Test("the dequantized layout is transposed into [out, in] with gate and up rows still interleaved")
    func transposed() throws {
        let folder = TestPaths.fixtures + "/models/gpt_oss"
        let ckpt = try Checkpoint(folder: folder)
        let config = try ModelFamily.detect(configData: ckpt.configData)
        let stack = try #require(config.stacks.first)
        let parts = try stack.resolve(layer: 1, hidden: config.hiddenSize, in: ckpt)
        let gateUp = try #require(parts[2].first { $0.role == "gate_up" })
        let info = try #require(ckpt.info(gateUp.tensor))   // [E, H, 2I]
        let (h, twoI) = (info.shape[1], info.shape[2])
        var got: [Float] = []
        try gateUp.withBytes(info, in: ckpt) { bytes, _ in got = Array(bytes.bindMemory(to: Float.self)) }
        let all: [Float] = ckpt.withTensorBytes(gateUp.tensor) { _, b in Array(b.bindMemory(to: Float.self)) }!
        #expect(gateUp.shape == [twoI, h] && got.count == twoI * h)
        for o in 0..<twoI { for i in 0..<h { #expect(got[o * h + i] == all[2 * h * twoI + i * twoI + o]) } }
    }
}
