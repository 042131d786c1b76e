/// The absorbed form of `latentAttention` (`LatentAttentionPath.absorbed`): per head h and query t
///
///     q̃      = W_UK_hᵀ q_nope                                  (rank,)   a transposed product over the nope key rows
///     s_p    = scale · (q̃ · c_p + q_rope · r_p)                p ≤ start + t
///     out_h  = W_UV_h · Σ_p softmax_p(s) c_p                   (value,)  a GEMV of the value rows
///
/// `kvB` (heads * (nope + value), rank) is read as stored (`type`): each key row is widened to f32 once per call
/// (`convertToFloat`) and added into every query's q̃ (`axpy`), and the value rows go through `gemv`, so any
/// weight type the GEMV reads (float or quantized) works without an f32 copy of the matrix. q (tokens, heads *
/// (nope + rope)), cache (≥ start + tokens, rank + rope), out (tokens, heads * value).
func absorbedLatentAttention(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>, cache: UnsafePointer<Float>,
                             kvB: UnsafeRawPointer, _ type: WeightType, tokens: Int, start: Int, shape m: LatentShape,
                             scale: Float, pool: ThreadPool?) {
    let rank = m.rank, cw = m.cacheWidth, rowBytes = type.rowBytes(rank)
    let qStride = m.heads * m.qkDim, oStride = m.heads * m.value
    forEachHead(m.heads, pool: pool) { h in
        let wk = kvB + h * m.kvBRows * rowBytes, wv = wk + m.nope * rowBytes
        withUnsafeTemporaryAllocation(of: Float.self, capacity: (tokens + 2) * rank + start + tokens) { buf in
            let qLatent = buf.baseAddress!, row = qLatent + tokens * rank, acc = row + rank, s = acc + rank
            qLatent.initialize(repeating: 0, count: tokens * rank)
            // q̃_t += q_nope_t[j] · W_UK_h[j, :], key row j widened once for all the tokens; j in order for each t.
            for j in 0..<m.nope {
                convertToFloat(row, wk + j * rowBytes, type, count: rank)
                for t in 0..<tokens { axpy(qLatent + t * rank, q[t * qStride + h * m.qkDim + j], row, n: rank) }
            }
            for t in 0..<tokens {
                let qh = q + t * qStride + h * m.qkDim, ql = qLatent + t * rank, length = start + t + 1
                for p in 0..<length {
                    let c = cache + p * cw
                    s[p] = (dot(ql, c, n: rank) + dot(qh + m.nope, c + rank, n: m.rope)) * scale
                }
                softmax(s, n: length)
                acc.initialize(repeating: 0, count: rank)
                for p in 0..<length { axpy(acc, s[p], cache + p * cw, n: rank) }
                gemv(out + t * oStride + h * m.value, wv, type, acc, d: m.value, n: rank)
            }
        }
    }
}
