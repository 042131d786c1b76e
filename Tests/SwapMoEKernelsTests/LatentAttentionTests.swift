import Foundation
import Testing
@testable import SwapMoEKernels

@Suite("Latent attention (MLA)")
struct LatentAttentionTests {
    @Test("the absorbed form equals attention over keys and values expanded per head; prefill equals decode bit for bit",
          arguments: [LatentShape(heads: 3, rank: 20, nope: 12, rope: 8, value: 10), LatentShape(heads: 5, rank: 33, nope: 6, rope: 4, value: 17)])
    func absorbedMatchesExpanded(shape m: LatentShape) {
        var rng = TestRNG(seed: UInt64(m.rank))
        let start = 4, tokens = 5, length = start + tokens
        let q = randomFloats(tokens * m.heads * m.qkDim, &rng, range: -1...1)
        let cache = randomFloats(length * m.cacheWidth, &rng), kvB = randomFloats(m.heads * m.kvBRows * m.rank, &rng, range: -0.5...0.5)
        let scale = 1 / Float(m.qkDim).squareRoot()
        let ref = latentAttentionReference(q: q, cache: cache, kvB: kvB, tokens: tokens, start: start, shape: m, scale: Double(scale))
        let qb = FloatBuffer(count: q.count), cb = FloatBuffer(count: cache.count)
        let qr = qb.rows(tokens, width: m.heads * m.qkDim), cr = cb.rows(length, width: m.cacheWidth)
        for i in q.indices { qr[i] = q[i] }
        for i in cache.indices { cr[i] = cache[i] }
        for pool in testPools {
            let out = FloatBuffer(count: tokens * m.heads * m.value).rows(tokens, width: m.heads * m.value)
            latentAttention(out, qr, cache: cr, kvB: kvB, start: start, shape: m, scale: scale, pool: pool)
            let got = out.array()
            for i in got.indices { #expect(abs(got[i] - ref[i]) < 1e-5, "i=\(i)") }
            // Token by token (decode) gives the same bits.
            for t in 0..<tokens {
                let one = FloatBuffer(count: m.heads * m.value).rows(1, width: m.heads * m.value)
                latentAttention(one, qr.rows(t..<(t + 1)), cache: cr, kvB: kvB, start: start + t, shape: m, scale: scale, pool: pool)
                #expect(bitsEqual(one.array(), out.row(t).array()))
            }
        }
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
