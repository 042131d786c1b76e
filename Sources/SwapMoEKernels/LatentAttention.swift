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

/// How `latentAttention` attends over the compressed cache. Both give transformers' result within float rounding;
/// they differ in cost (per head, for `tokens` queries over `length` cached positions):
public enum LatentAttentionPath: String, Sendable, CaseIterable {
    /// `W_UK` folded into each query, `W_UV` applied once to the softmax-weighted latent: about
    /// `tokens · length · (2 rank + rope)` multiply-adds, nothing expanded (`LatentAttention+Absorbed.swift`).
    case absorbed
    /// Every cached latent expanded once per call (`[k_nope_h; v_h] = W_kvb_h c_p`, one GEMM over the positions),
    /// then ordinary attention with `k = [k_nope_h, r_p]`: `length · rank · (nope + value)` for the expansion plus
    /// `tokens · length · (nope + rope + value)` (`LatentAttention+Expanded.swift`).
    case expanded

    /// The path for `tokens` queries at positions `start ..< start + tokens`. Both forms pay `rank · (nope + value)`
    /// multiply-adds per head once per query (absorbed: `W_UK_hᵀ q_nope` and `W_UV_h` on the weighted latent) or
    /// once per position (expanded: the GEMM), and then per (query, position) pair `2 rank + rope` (absorbed)
    /// against `nope + rope + value` (expanded). So a chunk starting at 0 is always cheaper expanded, decode always
    /// absorbed, and a chunk deep into the context expanded only when its pairs repay expanding the positions
    /// before it. The GEMM's multiply-adds are weighed with `expandedWeight` against the attention loops',
    /// measured in Docs/Benchmarks.md ("DeepSeek MLA: absorbed or expanded").
    public static func preferred(tokens: Int, start: Int, shape m: LatentShape) -> LatentAttentionPath {
        guard tokens > 1 else { return .absorbed }
        let perRow = Double(m.rank * m.kvBRows), pairs = Double(tokens * start + tokens * (tokens + 1) / 2)
        let absorbed = Double(tokens) * perRow + pairs * Double(2 * m.rank + m.rope)
        let expanded = Double(start + tokens) * perRow * expandedWeight + pairs * Double(m.qkDim + m.value)
        return expanded < absorbed ? .expanded : .absorbed
    }

    /// The cost of one multiply-add of the expansion GEMM relative to one of the absorbed form's loops: fitted to
    /// the kernel benchmark (`Benchmarks/latentPaths`), whose winners it predicts.
    static let expandedWeight = 0.75
}

/// Causal MLA of the queries `q (tokens, heads * (nope + rope))` (rope parts rotated) at positions
/// `start ..< start + tokens` over a compressed cache `cache (≥ start + tokens, rank + rope)` that already holds
/// them, with `kvB` (`kv_b_proj`, `[heads * (nope + value), rank]`, read in the type it is stored in: per head `nope`
/// rows of `W_UK_h`, then `value` rows of `W_UV_h`):
///
///     s_h,p  = scale · (q_nope_h · W_UK_h c_p + q_rope_h · r_p)    p ≤ position
///     out_h  = Σ_p softmax_p(s_h) W_UV_h c_p                      (value,)
///
/// as transformers computes it, along `path` (nil: `LatentAttentionPath.preferred`); out is `(tokens, heads * value)`.
/// Every (head, token) is computed by one thread in a fixed order, so results do not depend on the thread count;
/// along the absorbed path a token's result is also the same bits whether it runs alone (decode) or in a chunk.
public func latentAttention(_ out: Rows, _ q: Rows, cache: Rows, kvB: Matrix, start: Int, shape m: LatentShape,
                            scale: Float, path: LatentAttentionPath? = nil, pool: ThreadPool? = nil) {
    precondition(q.width == m.heads * m.qkDim && out.width == m.heads * m.value && out.count == q.count
                 && cache.width == m.cacheWidth && start >= 0 && cache.count >= start + q.count
                 && kvB.rows == m.heads * m.kvBRows && kvB.cols == m.rank, "latent attention: shapes")
    guard q.count > 0 else { return }
    switch path ?? .preferred(tokens: q.count, start: start, shape: m) {
    case .absorbed:
        absorbedLatentAttention(out.base, q.base, cache: cache.base, kvB: kvB.base, kvB.type, tokens: q.count, start: start,
                                shape: m, scale: scale, pool: pool)
    case .expanded:
        expandedLatentAttention(out.base, q.base, cache: cache.base, kvB: kvB.base, kvB.type, tokens: q.count, start: start,
                                shape: m, scale: scale, pool: pool)
    }
}

/// Runs `body(h)` for every head, over the pool's threads when there are several.
@inline(__always)
func forEachHead(_ heads: Int, pool: ThreadPool?, _ body: (Int) -> Void) {
    if let pool, pool.threadCount > 1, heads > 1 {
        pool.runChunks(heads, body)
    } else {
        for h in 0..<heads { body(h) }
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
