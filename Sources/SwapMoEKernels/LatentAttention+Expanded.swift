/// The expanded form of `latentAttention` (`LatentAttentionPath.expanded`), as transformers computes MLA: per head
/// h, every cached latent is expanded once per call into its key and value,
///
///     [k_nope_p; v_p] = W_kvb_h c_p          (nope + value,)   one GEMM over the positions: C (length, rank) · W_kvb_hᵀ
///     s_p             = scale · (q_nope · k_nope_p + q_rope · r_p)    p ≤ start + t
///     out_h           = Σ_p softmax_p(s) v_p                   (value,)
///
/// `kvB` (heads * (nope + value), rank) is read as stored (`type`) by `gemm`, whose rows per head are exactly
/// `W_kvb_h`. The latents are first gathered into one contiguous (length, rank) block; heads run one after the
/// other, each expanded by the pool's threads together and then attended to by them token by token, so the
/// scratch is `length * (rank + nope + value)` floats whatever the thread count (`expandedLatentScratchFloats`).
/// Shapes as `absorbedLatentAttention`.
func expandedLatentAttention(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                             kvB: UnsafeRawPointer, _ type: WeightType, tokens: Int, start: Int, shape m: LatentShape,
                             scale: Float, pool: ThreadPool?) {
    let rank = m.rank, cw = m.cacheWidth, kvRows = m.kvBRows, rowBytes = type.rowBytes(rank)
    let qStride = m.heads * m.qkDim, oStride = m.heads * m.value, length = start + tokens
    withUnsafeTemporaryAllocation(of: Float.self, capacity: expandedLatentScratchFloats(m, length: length)) { buf in
        let latents = buf.baseAddress!, kv = latents + length * rank
        for p in 0..<length { (latents + p * rank).update(from: cache + p * cw, count: rank) }
        for h in 0..<m.heads {
            gemm(kv, kvB + h * kvRows * rowBytes, type, latents, tokens: length, d: kvRows, n: rank, pool: pool)
            let body = { (t: Int) in
                let qh = q + t * qStride + h * m.qkDim, o = out + t * oStride + h * m.value, seen = start + t + 1
                withUnsafeTemporaryAllocation(of: Float.self, capacity: seen) { sb in
                    let s = sb.baseAddress!
                    for p in 0..<seen {
                        s[p] = (dot(qh, kv + p * kvRows, n: m.nope) + dot(qh + m.nope, cache + p * cw + rank, n: m.rope)) * scale
                    }
                    softmax(s, n: seen)
                    o.initialize(repeating: 0, count: m.value)
                    for p in 0..<seen { axpy(o, s[p], kv + p * kvRows + m.nope, n: m.value) }
                }
            }
            if let pool, pool.threadCount > 1, tokens > 1 { pool.runChunks(tokens, body) } else { for t in 0..<tokens { body(t) } }
        }
    }
}

/// Floats the expanded path allocates for a call over `length` positions (the planner counts them for the context).
public func expandedLatentScratchFloats(_ m: LatentShape, length: Int) -> Int { length * (m.rank + m.kvBRows) }
