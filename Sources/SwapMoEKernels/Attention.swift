import Foundation

/// Grouped-query attention for one new token against a Float32 KV cache.
///
/// Shapes: q (heads, headDim); keys/values (length, kvHeads, headDim) with position p of kv head j at
/// `keys + p*kvStride + j*headDim` (default `kvStride = kvHeads*headDim`); out (heads, headDim).
/// The cache must already hold the new token's K/V at position `length - 1`. Query head h reads kv head
/// `h / (heads / kvHeads)` (HF `repeat_kv`). scores = (q . k) * scale, stable softmax, out = Σ p v.
/// - Parameters:
///   - scale: defaults to 1/sqrt(headDim).
///   - window: sliding window (attend to the last `window` positions only); nil = full causal.
///   - pool: threads to share the heads and positions; results are identical for any pool.
public func attention(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
                      keys: UnsafePointer<Float>, values: UnsafePointer<Float>, length: Int,
                      heads: Int, kvHeads: Int, headDim: Int, kvStride: Int? = nil,
                      scale: Float? = nil, window: Int? = nil, pool: ThreadPool? = nil) {
    causalAttention(out, q, keys: keys, values: values, start: length - 1, tokens: 1, heads: heads, kvHeads: kvHeads,
                    headDim: headDim, kvStride: kvStride, scale: scale, window: window, pool: pool)
}

/// Causal grouped-query attention for a batch of `tokens` new queries (prefill).
///
/// Shapes: q (tokens, heads, headDim); out (tokens, heads, headDim); keys/values as in `attention`, already
/// holding positions 0 ..< start + tokens. Query t sits at position `start + t` and attends to positions
/// 0 ... start + t. Each (token, head) is computed by the same routine as `attention`, so prefill and
/// decode give bit-identical attention outputs for the same cache. `sinks` (heads,): gpt-oss's learned per-head
/// logit that joins each softmax's denominator and attends to nothing (see `combineChunks`). `ring`: the cache holds
/// that many rows, position p at row p % ring (a sliding layer's ring, which must hold every position attended to).
public func causalAttention(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
                            keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                            start: Int, tokens: Int, heads: Int, kvHeads: Int, headDim: Int,
                            kvStride: Int? = nil, scale: Float? = nil, window: Int? = nil,
                            sinks: UnsafePointer<Float>? = nil, ring: Int? = nil, pool: ThreadPool? = nil) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "heads must be a multiple of kvHeads")
    let stride = kvStride ?? kvHeads * headDim
    let sc = scale ?? 1 / Float(headDim).squareRoot()
    let group = heads / kvHeads
    let qStride = heads * headDim
    let threads = pool?.threadCount ?? 1
    /// Token t: its (head range, chunk) items, `units` head ranges a chunk, through `run`, then the chunks combined.
    @inline(__always) func attend(_ t: Int, units: (AttentionSpan) -> Int, _ run: (Int, (Int) -> Void) -> Void) {
        let span = AttentionSpan(length: start + t + 1, window: window), units = units(span), width = heads / units
        AttentionSpan.withPartials(heads: heads, chunks: span.chunks, headDim: headDim) { partials in
            run(units * span.chunks) { item in
                let lower = (item % units) * width
                attendChunk(partials, q + t * qStride, keys: keys, values: values, heads: lower ..< lower + width, of: heads,
                            group: group, span: span, chunk: item / units, headDim: headDim, kvStride: stride, scale: sc, ring: ring)
            }
            combineChunks(out + t * qStride, partials, heads: heads, chunks: span.chunks, headDim: headDim, sinks: sinks)
        }
    }
    if let pool, threads > 1, tokens < 2 * threads {
        // Few tokens (decode): the threads share each token's items. Whole chunks when there are enough for every
        // thread, as each thread then reads whole cache rows of its own positions (two threads splitting every row
        // ran slower than one at 2048 positions); else the kv heads split evenly among the threads (each thread one
        // part of every row), or single heads.
        for t in 0..<tokens {
            attend(t, units: { $0.chunks >= threads ? 1 : kvHeads % threads == 0 ? threads : heads }) { pool.runChunks($0, $1) }
        }
        return
    }
    // Otherwise one token per work item, every head and chunk in turn.
    let body = { (t: Int) in attend(t, units: { _ in 1 }) { n, item in for i in 0..<n { item(i) } } }
    if let pool, threads > 1 {
        pool.runChunks(tokens, body)
    } else {
        for t in 0..<tokens { body(t) }
    }
}

/// The positions one query attends to, in chunks of `chunk`: the last `window` of `0 ..< length` (the
/// query's own included: transformers' sliding mask `kv_idx > q_idx - sliding_window`), or all of them.
struct AttentionSpan {
    /// Positions scored per chunk. Fixed, not chosen per thread count, so that results do not depend on it.
    static let chunk = 256

    /// Floats per (chunk, head) partial: o (headDim, padded to a multiple of 16 so that every o starts on a 64-byte
    /// line), then M and S in a last 16.
    static func partialStride(_ headDim: Int) -> Int { (headDim + 15) / 16 * 16 + 16 }

    /// body(partials) with room for `heads` heads' partials of `chunks` chunks, 64-byte aligned.
    @inline(__always)
    static func withPartials(heads: Int, chunks: Int, headDim: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) {
        withAlignedFloats(max(1, heads * chunks * partialStride(headDim)), body)
    }

    /// The first position attended to, and how many.
    let first: Int, count: Int
    var chunks: Int { (count + Self.chunk - 1) / Self.chunk }

    init(length: Int, window: Int?) {
        first = window.map { max(0, length - $0) } ?? 0
        count = max(0, length - first)
    }
}

/// body(floats) with `count` floats of scratch, 64-byte aligned (on the stack when small).
@inline(__always)
func withAlignedFloats(_ count: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) {
    withUnsafeTemporaryAllocation(byteCount: count * MemoryLayout<Float>.stride, alignment: 64) { raw in
        body(raw.baseAddress!.bindMemory(to: Float.self, capacity: count))
    }
}

/// Chunk `chunk` of `span` for query heads `heads` (of `all`) of one token (split-K attention, as flash-decoding):
/// with s_j = (q · k_j) * scale over the chunk's positions j, head h's partial at partials + (chunk * all + h) * stride
/// (`AttentionSpan.partialStride`) holds o = Σ_j e^(s_j - M) v_j, then M = max_j s_j and S = Σ_j e^(s_j - M) at
/// [stride - 16] and [stride - 15] (`combineChunks` joins them).
/// q (heads, hd) rows at q + h*hd; head h reads kv head h / group, whose row for position p sits at
/// k + p*kvStride + (h / group)*hd; `ring`: position p at row p % ring.
///
/// Both passes run position-major (every head of the range at position j before j + 1), so the chunk of the cache
/// is read as one forward stream rather than once per head at a row stride (in decode the weights streamed since
/// the last token have evicted it). Each head's arithmetic is that of a head alone, and a chunk's that of a chunk
/// alone: any split of heads and chunks among threads gives identical results.
@inline(__always)
func attendChunk(_ partials: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
                 keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, heads: Range<Int>, of all: Int, group: Int,
                 span: AttentionSpan, chunk: Int, headDim: Int, kvStride: Int, scale: Float, ring: Int?) {
    let from = chunk * AttentionSpan.chunk, m = min(AttentionSpan.chunk, span.count - from)
    let stride = AttentionSpan.partialStride(headDim)
    @inline(__always) func partial(_ h: Int) -> UnsafeMutablePointer<Float> { partials + (chunk * all + h) * stride }
    // Head i's scores at scores + i * width: a multiple of 16 floats, odd in 64-byte lines, so that the heads' rows
    // (each position writes, and the value pass reads, one score of every head) fall in different L1 sets.
    let width = (m + 16) / 16 % 2 == 0 ? (m + 16) / 16 * 16 + 16 : (m + 16) / 16 * 16
    withAlignedFloats(heads.count * width) { scores in
        /// The cache row of the chunk's j-th position.
        @inline(__always) func row(_ j: Int) -> Int { ring.map { (span.first + from + j) % $0 } ?? span.first + from + j }
        /// body(i, h, offset of h's kv head in a cache row) for each head of the range, without a division.
        @inline(__always) func eachHead(_ body: (Int, Int, Int) -> Void) {
            var kv = heads.lowerBound / group, member = heads.lowerBound % group
            for (i, h) in heads.enumerated() {
                body(i, h, kv * headDim)
                member += 1
                if member == group { member = 0; kv += 1 }
            }
        }
        for j in 0..<m {
            let kj = k + row(j) * kvStride
            eachHead { i, h, kv in scores[i * width + j] = dot(q + h * headDim, kj + kv, n: headDim) * scale }
        }
        for (i, h) in heads.enumerated() {
            let (mx, sum) = exponentiate(scores + i * width, n: m)
            let p = partial(h)
            p[stride - 16] = mx; p[stride - 15] = sum
            p.initialize(repeating: 0, count: headDim)
        }
        for j in 0..<m {
            let vj = v + row(j) * kvStride
            eachHead { i, h, kv in axpy(partial(h), scores[i * width + j], vj + kv, n: headDim) }
        }
    }
}

/// The `heads` heads of one token's output o (heads, hd) from their chunks' partials (`attendChunk`), in chunk order:
/// M* = max(max_c M_c, sink), o = Σ_c e^(M_c - M*) o_c / (Σ_c e^(M_c - M*) S_c + e^(sink - M*)). A sink is one more
/// logit in the head's softmax whose probability is dropped (gpt-oss):
///
///     p_j = exp(s_j - m) / (Σ_i exp(s_i - m) + exp(sink - m)),  m = max(max_i s_i, sink)
///
/// No positions (an empty window): zeros.
func combineChunks(_ o: UnsafeMutablePointer<Float>, _ partials: UnsafePointer<Float>, heads: Int, chunks: Int,
                   headDim: Int, sinks: UnsafePointer<Float>?) {
    let stride = AttentionSpan.partialStride(headDim)
    for h in 0..<heads {
        let oh = o + h * headDim
        oh.initialize(repeating: 0, count: headDim)
        if chunks == 0 { continue }
        @inline(__always) func partial(_ c: Int) -> UnsafePointer<Float> { partials + (c * heads + h) * stride }
        var top = sinks?[h] ?? -.infinity
        for c in 0..<chunks { top = max(top, partial(c)[stride - 16]) }
        var denominator = sinks.map { expf($0[h] - top) } ?? 0
        for c in 0..<chunks {
            let p = partial(c), w = expf(p[stride - 16] - top)
            denominator += w * p[stride - 15]
            axpy(oh, w, p, n: headDim)
        }
        let inv = 1 / denominator
        for i in 0..<headDim { oh[i] *= inv }
    }
}

/// Naive reference: (tokens, heads, hd) causal GQA in Double, for tests.
func attentionReference(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
                        keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                        start: Int, tokens: Int, heads: Int, kvHeads: Int, headDim: Int, window: Int? = nil,
                        sinks: [Float]? = nil) {
    let stride = kvHeads * headDim
    let group = heads / kvHeads
    let scale = 1 / Double(headDim).squareRoot()
    for t in 0..<tokens {
        let len = start + t + 1
        let first = window.map { max(0, len - $0) } ?? 0
        for h in 0..<heads {
            let qh = q + (t * heads + h) * headDim
            let kv = (h / group) * headDim
            var sc = [Double](repeating: 0, count: len - first)
            for p in first..<len {
                var s = 0.0
                for i in 0..<headDim { s += Double(qh[i]) * Double(keys[p * stride + kv + i]) }
                sc[p - first] = s * scale
            }
            let sink = sinks.map { Double($0[h]) }
            let mx = max(sc.max() ?? 0, sink ?? -.infinity)
            let e = sc.map { Foundation.exp($0 - mx) }
            let tot = e.reduce(0, +) + (sink.map { Foundation.exp($0 - mx) } ?? 0)
            for i in 0..<headDim {
                var acc = 0.0
                for p in first..<len { acc += e[p - first] / tot * Double(values[p * stride + kv + i]) }
                out[(t * heads + h) * headDim + i] = Float(acc)
            }
        }
    }
}

/// Attention with an additive bias that depends on the key-minus-query offset (T5 / Switch Transformers), and
/// an explicit score scale (T5 uses 1: it does not divide q·k by sqrt(headDim)). One kv head per query head.
///
/// Shapes: q (tokens, heads, headDim) with query t at position `start + t`; keys/values hold `keyCount`
/// positions, position p of head h at `keys + p*kvStride + h*headDim` (default `kvStride = heads*headDim`);
/// out (tokens, heads, headDim).
///
///     score(t, h, j) = (q_th · k_jh) * scale + bias[h * biasStride + (j - (start + t)) - biasFrom]
///     out_th = Σ_j softmax_j(score) v_jh,   j < keyCount, and j <= start + t when `causal`
///
/// `bias` is nil for none (cross-attention), else per head a row of `biasStride` values for offsets
/// `biasFrom, biasFrom + 1, ...` that must cover every offset used. Softmax is the stable Float32 `softmax`.
/// - Parameter pool: threads to split (token, head) pairs over; results are identical for any pool.
public func relativeAttention(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
                              keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyCount: Int,
                              start: Int, tokens: Int, heads: Int, headDim: Int, kvStride: Int? = nil,
                              causal: Bool, scale: Float = 1,
                              bias: UnsafePointer<Float>? = nil, biasStride: Int = 0, biasFrom: Int = 0,
                              pool: ThreadPool? = nil) {
    let stride = kvStride ?? heads * headDim
    let qStride = heads * headDim
    let body = { (c: Int) in
        let t = c / heads, h = c % heads
        let position = start + t
        let m = causal ? min(keyCount, position + 1) : keyCount
        let o = out + t * qStride + h * headDim, qh = q + t * qStride + h * headDim
        o.initialize(repeating: 0, count: headDim)
        if m <= 0 { return }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: m) { buf in
            let s = buf.baseAddress!
            for j in 0..<m { s[j] = dot(qh, keys + j * stride + h * headDim, n: headDim) * scale }
            if let bias {
                let row = bias + h * biasStride - position - biasFrom
                for j in 0..<m { s[j] += row[j] }
            }
            softmax(s, n: m)
            for j in 0..<m { axpy(o, s[j], values + j * stride + h * headDim, n: headDim) }
        }
    }
    if let pool, pool.threadCount > 1, tokens * heads > 1, tokens * keyCount * headDim >= 4096 {
        pool.runChunks(tokens * heads, body)
    } else {
        for c in 0 ..< tokens * heads { body(c) }
    }
}

/// Naive reference of `relativeAttention` in Double, for tests. `bias(h, offset)` gives the additive bias.
func relativeAttentionReference(_ out: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>,
                                keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyCount: Int,
                                start: Int, tokens: Int, heads: Int, headDim: Int, causal: Bool, scale: Double,
                                bias: (Int, Int) -> Double) {
    let stride = heads * headDim
    for t in 0..<tokens {
        let m = causal ? min(keyCount, start + t + 1) : keyCount
        for h in 0..<heads {
            var sc = [Double](repeating: 0, count: m)
            for j in 0..<m {
                var s = 0.0
                for i in 0..<headDim { s += Double(q[(t * heads + h) * headDim + i]) * Double(keys[j * stride + h * headDim + i]) }
                sc[j] = s * scale + bias(h, j - (start + t))
            }
            let mx = sc.max() ?? 0
            let e = sc.map { Foundation.exp($0 - mx) }
            let tot = e.reduce(0, +)
            for i in 0..<headDim {
                var acc = 0.0
                for j in 0..<m { acc += e[j] / tot * Double(values[j * stride + h * headDim + i]) }
                out[(t * heads + h) * headDim + i] = Float(acc)
            }
        }
    }
}
