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
/// The score pass runs position-major (every head of the range at position j before j + 1), so the chunk's keys are
/// read as one forward stream rather than once per head at a row stride (in decode the weights streamed since the
/// last token have evicted them); four heads' dot products are reduced together (`hsum4`). The value pass runs four
/// heads at a time over the positions, their o in registers 64 features at a time instead of loaded and stored at
/// every position. Each head's arithmetic is that of `dot` and `axpy` for a head alone (the same sums in the same
/// order), and a chunk's that of a chunk alone: any split of heads and chunks among threads gives identical results.
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
        // Each head's offset in a cache row, divided out once rather than at every position.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: heads.count) { offsets in
            for (i, h) in heads.enumerated() { offsets.initializeElement(at: i, to: h / group * headDim) }
            /// The cache row of the chunk's j-th position.
            @inline(__always) func row(_ j: Int) -> Int { ring.map { (span.first + from + j) % $0 } ?? span.first + from + j }
            /// Head h's offset in a cache row.
            @inline(__always) func kvOffset(_ h: Int) -> Int { offsets[h &- heads.lowerBound] }
            for j in 0..<m {
                let kj = k + row(j) * kvStride
                var t = heads.lowerBound
                while t < heads.upperBound {
                    // Up to four heads: their sums reduced together; a missing head's lanes are zeros and unused.
                    let c = min(4, heads.upperBound &- t)
                    @inline(__always) func parts(_ e: Int) -> SIMD16<Float> {
                        e < c ? dotParts(q + (t &+ e) * headDim, kj + kvOffset(t &+ e), n: headDim) : SIMD16()
                    }
                    let r = hsum4(parts(0), parts(1), parts(2), parts(3))
                    for e in 0..<c {
                        let h = t &+ e, i = h &- heads.lowerBound
                        scores[i * width + j] = dotTail(r[e], q + h * headDim, kj + kvOffset(h), n: headDim) * scale
                    }
                    t &+= c
                }
            }
            for (i, h) in heads.enumerated() {
                let (mx, sum) = exponentiate(scores + i * width, n: m)
                let p = partial(h)
                p[stride - 16] = mx; p[stride - 15] = sum
            }
            var t = heads.lowerBound
            while t < heads.upperBound {
                let c = min(4, heads.upperBound &- t)
                // o of heads t ..< t + c, 64 features at a time (the last block 16, 32 or 48), each in four registers.
                var d = 0
                while d &+ 16 <= headDim {
                    let nv = min(4, (headDim &- d) / 16)
                    typealias Block = (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>)
                    var o: Block = (SIMD16(), SIMD16(), SIMD16(), SIMD16())
                    var o1 = o, o2 = o, o3 = o
                    @inline(__always) func add(_ acc: inout Block, _ e: Int, _ vj: UnsafePointer<Float>, _ j: Int) {
                        let h = t &+ e, x = vj + kvOffset(h) + d
                        let w = SIMD16<Float>(repeating: scores[(h &- heads.lowerBound) * width + j])
                        acc.0.madd(w, loadF32x16(x, 0))
                        if nv > 1 { acc.1.madd(w, loadF32x16(x, 16)) }
                        if nv > 2 { acc.2.madd(w, loadF32x16(x, 32)) }
                        if nv > 3 { acc.3.madd(w, loadF32x16(x, 48)) }
                    }
                    for j in 0..<m {
                        let vj = v + row(j) * kvStride
                        add(&o, 0, vj, j)
                        if c > 1 { add(&o1, 1, vj, j) }
                        if c > 2 { add(&o2, 2, vj, j) }
                        if c > 3 { add(&o3, 3, vj, j) }
                    }
                    @inline(__always) func store(_ acc: Block, _ e: Int) {
                        let p = UnsafeMutableRawPointer(partial(t &+ e) + d)
                        p.storeBytes(of: acc.0, as: SIMD16<Float>.self)
                        if nv > 1 { p.storeBytes(of: acc.1, toByteOffset: 64, as: SIMD16<Float>.self) }
                        if nv > 2 { p.storeBytes(of: acc.2, toByteOffset: 128, as: SIMD16<Float>.self) }
                        if nv > 3 { p.storeBytes(of: acc.3, toByteOffset: 192, as: SIMD16<Float>.self) }
                    }
                    store(o, 0)
                    if c > 1 { store(o1, 1) }
                    if c > 2 { store(o2, 2) }
                    if c > 3 { store(o3, 3) }
                    d &+= 16 &* nv
                }
                // Features past the last multiple of 16: `axpy`'s scalar tail, position by position.
                if d < headDim {
                    for e in 0..<c {
                        let h = t &+ e, p = partial(h) + d
                        p.initialize(repeating: 0, count: headDim &- d)
                        for j in 0..<m {
                            let w = scores[(h &- heads.lowerBound) * width + j]
                            axpy(p, w, v + row(j) * kvStride + kvOffset(h) + d, n: headDim &- d)
                        }
                    }
                }
                t &+= c
            }
        }
    }
}

/// hsum of four vectors at once, each by `hsum`'s own tree (lo8 + hi8, lo4 + hi4, lo2 + hi2, [0] + [1]): the same
/// sums with the shuffles shared.
@inline(__always)
func hsum4(_ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>, _ d: SIMD16<Float>) -> SIMD4<Float> {
    let ab = SIMD16(lowHalf: a.lowHalf, highHalf: b.lowHalf) + SIMD16(lowHalf: a.highHalf, highHalf: b.highHalf)
    let cd = SIMD16(lowHalf: c.lowHalf, highHalf: d.lowHalf) + SIMD16(lowHalf: c.highHalf, highHalf: d.highHalf)
    let s4 = SIMD16(lowHalf: SIMD8(lowHalf: ab.lowHalf.lowHalf, highHalf: ab.highHalf.lowHalf),
                    highHalf: SIMD8(lowHalf: cd.lowHalf.lowHalf, highHalf: cd.highHalf.lowHalf))
        + SIMD16(lowHalf: SIMD8(lowHalf: ab.lowHalf.highHalf, highHalf: ab.highHalf.highHalf),
                 highHalf: SIMD8(lowHalf: cd.lowHalf.highHalf, highHalf: cd.highHalf.highHalf))
    let s2 = SIMD8(s4[0], s4[1], s4[4], s4[5], s4[8], s4[9], s4[12], s4[13])
        + SIMD8(s4[2], s4[3], s4[6], s4[7], s4[10], s4[11], s4[14], s4[15])
    return SIMD4(s2[0], s2[2], s2[4], s2[6]) + SIMD4(s2[1], s2[3], s2[5], s2[7])
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
