import Foundation
import Testing
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive
import SwapMoEModels
import SwapMoEKernels
import SwapMoETestSupport
@testable import SwapMoEPacker

/// Packs `folder` and checks that every checkpoint tensor comes back bit-identical from the archive: dense
/// tensors by name, expert matrices through the family's naming (whole tensors or fused row slices). FP8 weights
/// come back as their dequantized values in the stored float type (`expectedBytes`), their scales read with them.
func assertRoundTrip(_ folder: String, _ options: (String) -> PackOptions, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let tmp = TestPaths.tempDir()
    defer { TestPaths.remove(tmp) }
    let out = tmp + "/model.swm"
    let summary = try Packer.pack(options(out))
    let archive = try Archive(path: out)
    let ckpt = try Checkpoint(folder: folder)
    let config = try ModelFamily.detect(configData: ckpt.configData)
    #expect(summary.experts == config.totalExperts, sourceLocation: sourceLocation)
    #expect(try archive.verify().isEmpty, sourceLocation: sourceLocation)

    var covered = Set<String>()
    for d in archive.manifest.dense {
        let info = try #require(ckpt.info(d.name), sourceLocation: sourceLocation)
        #expect(d.shape == info.shape && (d.dtype == info.dtype || ckpt.fp8Weights[d.name] != nil), "\(d.name)", sourceLocation: sourceLocation)
        let a = archive.withDenseBytes(d) { Array($0) }
        let b = try expectedBytes(ckpt, d.name, rows: nil, as: d.dtype)
        #expect(a == b, "dense tensor \(d.name) differs", sourceLocation: sourceLocation)
        covered.insert(d.name)
        if let fp8 = ckpt.fp8Weights[d.name] { covered.insert(fp8.scale.name) }
    }
    for stack in config.stacks { for layer in stack.moeLayers {
        let parts = try stack.resolve(layer: layer, hidden: config.hiddenSize, in: ckpt)
        for (e, expertParts) in parts.enumerated() {
            let entry = try #require(archive.expert(ExpertKey(stack: stack.name, layer: layer, expert: e)), sourceLocation: sourceLocation)
            let raw = try archive.expertBytes(entry)
            let layout = archive.layout(of: entry)
            for p in expertParts {
                let t = try #require(layout.tensor(p.role), sourceLocation: sourceLocation)
                let info = try #require(ckpt.info(p.tensor), sourceLocation: sourceLocation)
                // Parts stored as they are come back as the checkpoint's rows; transformed ones (gpt-oss's transposed or
                // MXFP4 experts, checked on their own in GptOssPackTests) as the packer lays them out.
                var src = try expectedBytes(ckpt, p.tensor, rows: p.rows, as: t.dtype.plain)
                if p.transform != .none { try p.withBytes(info, in: ckpt) { bytes, _ in src = Array(bytes) } }
                src = storedLayout(src, t.dtype, shape: t.shape)
                #expect(Array(raw[t.offset..<(t.offset + t.length)]) == src, "layer \(layer) expert \(e) \(p.role)", sourceLocation: sourceLocation)
                #expect(t.offset % ArchiveFormat.tensorAlignment == 0, sourceLocation: sourceLocation)
                covered.formUnion(p.tensors)
                if let fp8 = ckpt.fp8Weights[p.tensor] { covered.insert(fp8.scale.name) }
            }
            #expect(entry.offset % ArchiveFormat.blockAlignment == 0, sourceLocation: sourceLocation)
            #expect(entry.norm > 0, sourceLocation: sourceLocation)
        }
    } }
    // compressed-tensors' input_scale tensors are skipped on purpose (activations stay float): not stored at all.
    let skipped = Set(ckpt.tensorNames.filter { ckpt.fp8Format?.isSideTensor($0) == true })
    #expect(covered.isDisjoint(with: skipped) && covered.union(skipped) == Set(ckpt.tensorNames),
            "every checkpoint tensor is stored exactly once, or skipped as an activation scale", sourceLocation: sourceLocation)
}

/// A matrix's plain bytes as an archive stores them as `dtype`: rows interleaved eight at a time (`interleave`) for the
/// interleaved types (Q4_K_X8, MXFP4_X8, ...), else unchanged.
func storedLayout(_ plain: [UInt8], _ dtype: DType, shape: [Int]) -> [UInt8] {
    guard dtype.rowGroup > 1, let type = WeightType(dtype), shape.count == 2 else { return plain }
    var out = plain
    plain.withUnsafeBytes { p in out.withUnsafeMutableBytes { interleave($0.baseAddress!, p.baseAddress!, as: type, rows: shape[0], cols: shape[1]) } }
    return out
}

/// The bytes `rows` of tensor `name` (all when nil) are packed to: as stored, or for an FP8 weight its dequantized
/// values (`FP8Weight.dequantize`, checked against torch in FP8Tests) as `dtype`.
func expectedBytes(_ ckpt: Checkpoint, _ name: String, rows: Range<Int>?, as dtype: DType) throws -> [UInt8] {
    let info = try #require(ckpt.info(name))
    guard let fp8 = ckpt.fp8Weights[name] else {
        return try #require(ckpt.withTensorBytes(name) { _, buf in Array(Packer.rowSlice(buf, info: info, rows: rows)) })
    }
    let rows = rows ?? 0..<fp8.rowCount
    var floats = [Float](repeating: 0, count: rows.count * fp8.cols)
    try #require(ckpt.withTensorBytes(name) { _, w in
        ckpt.withTensorBytes(fp8.scale.name) { _, s in floats.withUnsafeMutableBufferPointer { fp8.dequantize(rows: rows, weight: w, scales: s, into: $0) } }
    })
    switch dtype {
    case .bf16: return floats.map { floatToBF16($0) }.withUnsafeBytes { Array($0) }
    case .f32: return floats.withUnsafeBytes { Array($0) }
    default: Issue.record("FP8 weight \(name) stored as \(dtype.rawValue)"); return []
    }
}

@Suite("Packer")
struct PackerTests {
    @Test("per-expert Mixtral tensors round-trip bit-identically, raw and LZ4+shuffle", arguments: [false, true])
    func perExpert(lz4: Bool) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral().write(to: dir + "/ckpt")
        try assertRoundTrip(dir + "/ckpt") { PackOptions(input: dir + "/ckpt", output: $0, compress: lz4 ? .lz4 : .none, shuffle: lz4) }
    }

    @Test("fused transformers-5 expert tensors are sliced per expert")
    func fused() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(fused: true).write(to: dir + "/ckpt")
        try assertRoundTrip(dir + "/ckpt") { PackOptions(input: dir + "/ckpt", output: $0, compress: .lz4, shuffle: true) }
    }

    @Test("sharded checkpoints with an index, f32 and f16 sources")
    func shardedAndDtypes() throws {
        for dtype in [DType.f32, .f16] {
            let dir = TestPaths.tempDir()
            defer { TestPaths.remove(dir) }
            try CheckpointMaker.mixtral(hidden: 96, intermediate: 40, layers: 3, experts: 3, dtype: dtype).write(to: dir + "/ckpt", shards: 3)
            try assertRoundTrip(dir + "/ckpt") { PackOptions(input: dir + "/ckpt", output: $0, compress: .lz4, shuffle: true) }
        }
    }

    @Test("every committed model fixture packs and round-trips, raw and LZ4+shuffle")
    func fixtures() throws {
        for folder in TestPaths.modelFixtures {
            try assertRoundTrip(folder) { PackOptions(input: folder, output: $0) }
            try assertRoundTrip(folder) { PackOptions(input: folder, output: $0, compress: .lz4, shuffle: true) }
        }
    }

    @Test("experts larger than one LZ4 chunk decode exactly")
    func multiChunk() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        // gate+up+down = 3 x 512 x 400 bf16 = 1.2 MB per expert: two chunks.
        try CheckpointMaker.mixtral(hidden: 400, intermediate: 512, layers: 1, experts: 2).write(to: dir + "/ckpt")
        try assertRoundTrip(dir + "/ckpt") { PackOptions(input: dir + "/ckpt", output: $0, compress: .lz4, shuffle: true) }
        try assertRoundTrip(dir + "/ckpt") { PackOptions(input: dir + "/ckpt", output: $0, compress: .lz4, shuffle: false) }
    }

    @Test("--dtype converts floats with round-to-nearest-even and norms follow the stored values")
    func dtypeConversion() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let maker = CheckpointMaker.mixtral(layers: 1, experts: 2, dtype: .f32)
        try maker.write(to: dir + "/ckpt")
        let out = dir + "/bf16.swm"
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: out, dtype: .bf16))
        let archive = try Archive(path: out)
        let src = try #require(maker.tensors.first { $0.name == "model.embed_tokens.weight" })
        let d = try #require(archive.dense("model.embed_tokens.weight"))
        #expect(d.dtype == .bf16 && d.length == src.bytes.count / 2)
        let got = archive.withDenseBytes(d) { b in (0..<(d.length / 2)).map { b.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self) } }
        let want = src.bytes.withUnsafeBytes { b in (0..<(src.bytes.count / 4)).map { floatToBF16(b.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self)) } }
        #expect(got == want)
        let e = try #require(archive.expert(ExpertKey(layer: 0, expert: 1)))
        let raw = try archive.expertBytes(e)
        var sumSq = 0.0
        for t in archive.layout(of: e).tensors {
            raw.withUnsafeBytes { sumSq += sumOfSquares(.bf16, $0.baseAddress! + t.offset, count: t.elementCount) }
        }
        #expect(abs(sumSq.squareRoot() - e.norm) < 1e-9 * max(1, e.norm))
    }

    @Test("unsupported model_type names the supported families")
    func unsupported() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var maker = CheckpointMaker.mixtral(layers: 1, experts: 2)
        maker.config["model_type"] = "llama"
        try maker.write(to: dir + "/ckpt")
        #expect {
            try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/x.swm"))
        } throws: { error in
            let text = "\(error)"
            return text.contains("unsupported model_type 'llama'") && text.contains("mixtral, qwen2_moe, qwen3_moe, olmoe")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.swm"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.swm.partial"))
    }

    @Test("a missing expert tensor fails cleanly and leaves no output")
    func missingExpert() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var maker = CheckpointMaker.mixtral(layers: 2, experts: 3)
        maker.tensors.removeAll { $0.name == "model.layers.1.block_sparse_moe.experts.2.w3.weight" }
        try maker.write(to: dir + "/ckpt")
        #expect(throws: PackError.self) { try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/x.swm")) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.swm"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.swm.partial"))
    }

    @Test("expert shapes that contradict config.json are rejected")
    func wrongShape() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var maker = CheckpointMaker.mixtral(layers: 1, experts: 2)
        maker.config["intermediate_size"] = 50
        try maker.write(to: dir + "/ckpt")
        #expect { try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/x.swm")) } throws: { "\($0)".contains("expected [50, 80]") }
    }
}
