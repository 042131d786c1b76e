import Foundation

/// The sizes of multi-head latent attention (MLA, DeepSeek-V2/V3) in one layer.
///
/// Per head, a query is `nope` floats without position plus `rope` floats rotated by RoPE; the keys and values
/// of every head come out of one shared latent `c` of `rank` floats (`kv_b_proj`: `k_nope_h = W_UK_h c`,
/// `v_h = W_UV_h c`) plus one rotated key `r` of `rope` floats shared by every head. The cache keeps only
/// `c` and `r` per position (`cacheWidth` floats, for all heads together).
public struct LatentShape: Sendable, Equatable {
    public let heads: Int
    public let rank: Int
    public let nope: Int
    public let rope: Int
    public let value: Int

    public init(heads: Int, rank: Int, nope: Int, rope: Int, value: Int) {
        self.heads = heads; self.rank = rank; self.nope = nope; self.rope = rope; self.value = value
    }

    /// Floats of one head's query (`nope`, then `rope`).
    public var qkDim: Int { nope + rope }
    /// Floats of one cached position: the normalised latent, then the rotated rope key.
    public var cacheWidth: Int { rank + rope }
    /// Rows of `kv_b_proj` per head (`nope` key rows, then `value` value rows).
    public var kvBRows: Int { nope + value }
}

/// New cache rows, made in place from `kv_a_proj_with_mqa`'s output `rows (tokens, rank + rope)` for positions
/// `start ..< start + tokens`: the latent (first `rank` floats) RMS-normalised with `norm`, the rope key (the
/// last `rope` floats) rotated for its position.
public func prepareLatentRows(_ rows: Rows, norm: [Float], eps: Float, shape: LatentShape, rope: RoPE, start: Int,
                              interleaved: Bool) {
    precondition(rows.width == shape.cacheWidth && norm.count == shape.rank && rope.headDim == shape.rope, "latent rows: shapes")
    norm.withUnsafeBufferPointer { w in
        for t in 0..<rows.count {
            let p = rows.base + t * rows.width
            rmsnorm(p, p, w.baseAddress!, n: shape.rank, eps: eps)
            rotateSlices(p + shape.rank, heads: 1, stride: 0, rope: rope, position: start + t, interleaved: interleaved)
        }
    }
}

/// Rotates the rope part of every head of the queries `q (tokens, heads * (nope + rope))`, row t at position
/// `start + t`.
public func rotateQueryRope(_ q: Rows, shape: LatentShape, rope: RoPE, start: Int, interleaved: Bool) {
    precondition(q.width == shape.heads * shape.qkDim && rope.headDim == shape.rope, "latent queries: shapes")
    for t in 0..<q.count {
        rotateSlices(q.base + t * q.width + shape.nope, heads: shape.heads, stride: shape.qkDim, rope: rope,
                     position: start + t, interleaved: interleaved)
    }
}

/// Causal MLA of the queries `q (tokens, heads * (nope + rope))` (rope parts rotated) at positions
/// `start ..< start + tokens` over a compressed cache `cache (≥ start + tokens, rank + rope)` that already holds
/// them, in the absorbed form: `W_UK` folds into the query and `W_UV` applies once to the weighted latent, so the
/// cache is never expanded per head.
///
///     q̃_h    = W_UK_hᵀ q_nope_h                                  (rank,)    W_UK_h = kvB rows [h(nope+value), +nope)
///     s_h,p  = scale · (q̃_h · c_p + q_rope_h · r_p)              p ≤ position
///     out_h  = W_UV_h · Σ_p softmax_p(s_h) c_p                   (value,)   W_UV_h = the next `value` rows
///
/// which equals transformers' `(q_nope·W_UK_h c_p + q_rope·r_p) · scale` attention over `v_h = W_UV_h c_p`.
/// `kvB` is `kv_b_proj` in f32, `[heads * (nope + value), rank]` row-major; out is `(tokens, heads * value)`.
public func latentAttention(_ out: Rows, _ q: Rows, cache: Rows, kvB: [Float], start: Int, shape m: LatentShape,
                            scale: Float, pool: ThreadPool? = nil) {
    precondition(q.width == m.heads * m.qkDim && out.width == m.heads * m.value && out.count == q.count
                 && cache.width == m.cacheWidth && cache.count >= start + q.count && kvB.count == m.heads * m.kvBRows * m.rank,
                 "latent attention: shapes")
    let tokens = q.count, rank = m.rank, cw = m.cacheWidth
    let qBase = q.base, qStride = q.width, oBase = out.base, oStride = out.width, cBase = cache.base
    kvB.withUnsafeBufferPointer { wb in
        let w = wb.baseAddress!
        let body = { (c: Int) in
            let t = c / m.heads, h = c % m.heads
            let qh = qBase + t * qStride + h * m.qkDim, o = oBase + t * oStride + h * m.value
            let wk = w + h * m.kvBRows * rank, wv = wk + m.nope * rank
            let length = start + t + 1
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * rank + length) { buf in
                let qLatent = buf.baseAddress!, acc = qLatent + rank, s = acc + rank
                qLatent.initialize(repeating: 0, count: 2 * rank)
                for j in 0..<m.nope { axpy(qLatent, qh[j], wk + j * rank, n: rank) }
                for p in 0..<length {
                    let row = cBase + p * cw
                    s[p] = (dot(qLatent, row, n: rank) + dot(qh + m.nope, row + rank, n: m.rope)) * scale
                }
                softmax(s, n: length)
                for p in 0..<length { axpy(acc, s[p], cBase + p * cw, n: rank) }
                for i in 0..<m.value { o[i] = dot(wv + i * rank, acc, n: rank) }
            }
        }
        if let pool, pool.threadCount > 1, tokens * m.heads > 1 {
            pool.runChunks(tokens * m.heads, body)
        } else {
            for c in 0..<(tokens * m.heads) { body(c) }
        }
    }
}

/// Naive reference of `latentAttention` in Double, expanding every cached position per head as transformers
/// does (`k_h = [W_UK_h c_p, r_p]`, `v_h = W_UV_h c_p`), for tests.
func latentAttentionReference(q: [Float], cache: [Float], kvB: [Float], tokens: Int, start: Int, shape m: LatentShape,
                              scale: Double) -> [Float] {
    var out = [Float](repeating: 0, count: tokens * m.heads * m.value)
    for t in 0..<tokens {
        let length = start + t + 1
        for h in 0..<m.heads {
            let qh = t * m.heads * m.qkDim + h * m.qkDim
            var scores = [Double](repeating: 0, count: length)
            var values = [[Double]](repeating: [], count: length)
            for p in 0..<length {
                let c = p * m.cacheWidth
                var s = 0.0
                for j in 0..<m.nope {
                    var k = 0.0
                    for r in 0..<m.rank { k += Double(kvB[(h * m.kvBRows + j) * m.rank + r]) * Double(cache[c + r]) }
                    s += Double(q[qh + j]) * k
                }
                for j in 0..<m.rope { s += Double(q[qh + m.nope + j]) * Double(cache[c + m.rank + j]) }
                scores[p] = s * scale
                values[p] = (0..<m.value).map { i in
                    (0..<m.rank).reduce(0.0) { $0 + Double(kvB[(h * m.kvBRows + m.nope + i) * m.rank + $1]) * Double(cache[c + $1]) }
                }
            }
            let mx = scores.max() ?? 0
            let e = scores.map { Foundation.exp($0 - mx) }, total = e.reduce(0, +)
            for i in 0..<m.value {
                out[(t * m.heads + h) * m.value + i] = Float((0..<length).reduce(0.0) { $0 + e[$1] / total * values[$1][i] })
            }
        }
    }
    return out
}
