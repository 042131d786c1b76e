import Foundation
import Testing
import SwapMoECore
@testable import SwapMoEKernels

@Suite("Latent attention (MLA)")
struct LatentAttentionTests {
    /// `kv_b_proj` stored as `type` (random values in ±0.5), and those weights read back in f32 for the reference.
    final class StoredKVB {
        let bytes: UnsafeMutableRawPointer, matrix: Matrix, decoded: [Float]
        init(_ m: LatentShape, _ type: WeightType, _ rng: inout TestRNG) {
            let rows = m.heads * m.kvBRows, values = randomFloats(rows * m.rank, &rng, range: -0.5...0.5)
            let rowBytes = type.rowBytes(m.rank)
            bytes = .allocate(byteCount: rows * rowBytes + 1, alignment: 64)
            // One byte off alignment, as rows in an archive may be.
            let base = bytes + 1
            var decoded = [Float](repeating: 0, count: values.count)
            values.withUnsafeBufferPointer { v in
                decoded.withUnsafeMutableBufferPointer { d in
                    for r in 0..<rows {
                        let row = base + r * rowBytes
                        if type.isQuantized {
                            quantizeRow(v.baseAddress! + r * m.rank, row, type, count: m.rank)
                        } else {
                            for c in 0..<m.rank {
                                let x = v[r * m.rank + c]
                                switch type {
                                case .f32: row.storeBytes(of: x, toByteOffset: 4 * c, as: Float.self)
                                case .f16: row.storeBytes(of: floatToF16(x), toByteOffset: 2 * c, as: UInt16.self)
                                default: row.storeBytes(of: floatToBF16(x), toByteOffset: 2 * c, as: UInt16.self)
                                }
                            }
                        }
                        convertToFloat(d.baseAddress! + r * m.rank, row, type, count: m.rank)
                    }
                }
            }
            self.decoded = decoded
            matrix = Matrix(bytes: BorrowedBytes(start: base, count: rows * rowBytes), type: type, rows: rows, cols: m.rank)!
        }
        deinit { bytes.deallocate() }
    }

    static let shapes = [LatentShape(heads: 3, rank: 20, nope: 12, rope: 8, value: 10), LatentShape(heads: 5, rank: 33, nope: 6, rope: 4, value: 17),
                         LatentShape(heads: 2, rank: 64, nope: 16, rope: 8, value: 16)]

    @Test("both paths equal attention over keys and values expanded per head in Double, kv_b_proj read as stored, for any thread count",
          arguments: shapes, [WeightType.f32, .f16, .bf16, .q8_0, .q4_0])
    func pathsMatchReference(shape m: LatentShape, type: WeightType) {
        guard m.rank % type.blockSize == 0 else { return }
        var rng = TestRNG(seed: UInt64(m.rank))
        let start = 4, tokens = 5, length = start + tokens
        let q = randomFloats(tokens * m.heads * m.qkDim, &rng, range: -1...1)
        let cache = randomFloats(length * m.cacheWidth, &rng), kvB = StoredKVB(m, type, &rng)
        let scale = 1 / Float(m.qkDim).squareRoot()
        let ref = latentAttentionReference(q: q, cache: cache, kvB: kvB.decoded, tokens: tokens, start: start, shape: m, scale: Double(scale))
        let qb = FloatBuffer(count: q.count), cb = FloatBuffer(count: cache.count)
        let qr = qb.rows(tokens, width: m.heads * m.qkDim), cr = cb.rows(length, width: m.cacheWidth)
        for i in q.indices { qr[i] = q[i] }
        for i in cache.indices { cr[i] = cache[i] }
        // The absorbed path's value GEMV quantizes its input to 8-bit blocks for quantized weights (as every
        // quantized GEMV does), so the weighted latent is rounded to ~1/127 of its largest value.
        let tolerance: Float = type.isQuantized ? 2e-2 : 1e-5
        for path in LatentAttentionPath.allCases {
            var first: [Float]?
            for pool in testPools {
                let out = FloatBuffer(count: tokens * m.heads * m.value).rows(tokens, width: m.heads * m.value)
                latentAttention(out, qr, cache: cr, kvB: kvB.matrix, start: start, shape: m, scale: scale, path: path, pool: pool)
                let got = out.array()
                for i in got.indices { #expect(abs(got[i] - ref[i]) < tolerance, "\(path) \(type) i=\(i): \(got[i]) vs \(ref[i])") }
                if let first { #expect(bitsEqual(got, first), "\(path) \(type): another thread count, other bits") } else { first = got }
            }
        }
        withExtendedLifetime(kvB) {}   // its matrix borrows its bytes: kept until the last product has read them
    }

    @Test("absorbed prefill equals decode token by token bit for bit", arguments: shapes)
    func absorbedPrefillEqualsDecode(shape m: LatentShape) {
        var rng = TestRNG(seed: 3)
        let start = 2, tokens = 6, length = start + tokens
        let kvB = StoredKVB(m, .bf16, &rng)
        let qb = FloatBuffer(count: tokens * m.heads * m.qkDim), cb = FloatBuffer(count: length * m.cacheWidth)
        let qr = qb.rows(tokens, width: m.heads * m.qkDim), cr = cb.rows(length, width: m.cacheWidth)
        for (i, v) in randomFloats(qr.elementCount, &rng).enumerated() { qr[i] = v }
        for (i, v) in randomFloats(cr.elementCount, &rng).enumerated() { cr[i] = v }
        let scale = 1 / Float(m.qkDim).squareRoot(), width = m.heads * m.value
        for pool in testPools {
            let out = FloatBuffer(count: tokens * width).rows(tokens, width: width)
            latentAttention(out, qr, cache: cr, kvB: kvB.matrix, start: start, shape: m, scale: scale, path: .absorbed, pool: pool)
            for t in 0..<tokens {
                let one = FloatBuffer(count: width).rows(1, width: width)
                latentAttention(one, qr.rows(t..<(t + 1)), cache: cr, kvB: kvB.matrix, start: start + t, shape: m, scale: scale, pool: pool)
                #expect(bitsEqual(one.array(), out.row(t).array()))
            }
        }
        withExtendedLifetime(kvB) {}
    }

    @Test("the preferred path: absorbed for one token and short chunks deep in the context, expanded for chunks from 0")
    func preferredPath() {
        let v3 = LatentShape(heads: 128, rank: 512, nope: 128, rope: 64, value: 128)
        #expect(LatentAttentionPath.preferred(tokens: 1, start: 0, shape: v3) == .absorbed)
        #expect(LatentAttentionPath.preferred(tokens: 1, start: 4000, shape: v3) == .absorbed)
        // A chunk from position 0 pays the same per-row products either way and fewer per pair expanded.
        #expect(LatentAttentionPath.preferred(tokens: 2, start: 0, shape: v3) == .expanded)
        #expect(LatentAttentionPath.preferred(tokens: 64, start: 0, shape: v3) == .expanded)
        // Deep into the context, a short chunk does not repay expanding every position before it.
        #expect(LatentAttentionPath.preferred(tokens: 16, start: 256, shape: v3) == .absorbed)
        #expect(LatentAttentionPath.preferred(tokens: 64, start: 448, shape: v3) == .absorbed)
    }

    @Test("interleaved RoPE on the rope slices equals rotating pairs (2i, 2i+1), output de-interleaved")
    func interleavedRoPE() {
        let m = LatentShape(heads: 2, rank: 4, nope: 3, rope: 6, value: 2)
        let rope = RoPE(headDim: 6, theta: 10000)
        var rng = TestRNG(seed: 7)
        let x = randomFloats(m.heads * m.qkDim, &rng)
        let q = FloatBuffer(count: x.count).rows(1, width: x.count)
        for i in x.indices { q[i] = x[i] }
        rotateQueryRope(q, shape: m, rope: rope, start: 5, interleaved: true)
        for h in 0..<m.heads {
            let b = h * m.qkDim
            for j in 0..<m.nope { #expect(q[b + j] == x[b + j]) }
            for i in 0..<3 {
                let a = Float(5) * rope.invFreq[i], x0 = x[b + 3 + 2 * i], x1 = x[b + 3 + 2 * i + 1]
                #expect(abs(q[b + 3 + i] - (x0 * cosf(a) - x1 * sinf(a))) < 1e-6)
                #expect(abs(q[b + 3 + 3 + i] - (x1 * cosf(a) + x0 * sinf(a))) < 1e-6)
            }
        }
    }
}
