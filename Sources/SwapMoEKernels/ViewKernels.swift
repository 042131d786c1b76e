import Foundation

// The kernels over typed views (Views.swift): each checks the shapes of its operands once, then runs the pointer
// kernel of this module on them, so results are bit-identical to calling that kernel directly. Inlined into the
// caller (which keeps the checks); the per-element work stays in the -Ounchecked pointer kernels.

/// y[t] = W · x[t] (+ bias) for every row t; with `accumulate`, y[t] += W · x[t] (+ bias).
@inlinable
public func gemm(_ y: Rows, _ w: Matrix, _ x: Rows, bias: [Float]? = nil, accumulate: Bool = false, pool: ThreadPool? = nil) {
    precondition(x.width == w.cols && y.width == w.rows && y.count == x.count,
                 "gemm: [\(y.count), \(y.width)] = [\(w.rows), \(w.cols)] · [\(x.count), \(x.width)]")
    if let bias {
        precondition(bias.count == w.rows, "gemm: \(bias.count) biases for \(w.rows) rows")
        bias.withUnsafeBufferPointer { b in
            gemm(y.base, w.base, w.type, x.base, tokens: x.count, d: w.rows, n: w.cols, bias: b.baseAddress, accumulate: accumulate, pool: pool)
        }
    } else {
        gemm(y.base, w.base, w.type, x.base, tokens: x.count, d: w.rows, n: w.cols, accumulate: accumulate, pool: pool)
    }
}

/// y_j = W_j · x (+ b_j) for several matrices over the same rows x (q, k and v; a SwiGLU's gate and up).
public func gemmGroup(_ outputs: [(y: Rows, w: Matrix, bias: [Float]?)], _ x: Rows, pool: ThreadPool? = nil) {
    outputs.withUnsafeBufferPointer { o in
        gemmGroup(count: o.count, { o[$0].y }, { o[$0].w }, { _ in x }, { o[$0].bias }, pool: pool)
    }
}

/// y_j = W_j · x_j (+ b_j) for several matrices, each over its rows x_j (the down projections of a decoded token's
/// experts). Where every x_j is one row, the matrices of each type (all of them, usually) in one `gemvGroup` (each
/// x converted once, one pass over the pool); otherwise a `gemm` each. The same results either way.
public func gemmGroup(_ outputs: [(y: Rows, w: Matrix, x: Rows, bias: [Float]?)], pool: ThreadPool? = nil) {
    outputs.withUnsafeBufferPointer { o in
        gemmGroup(count: o.count, { o[$0].y }, { o[$0].w }, { o[$0].x }, { o[$0].bias }, pool: pool)
    }
}

/// The two `gemmGroup`s, output j's parts read through the closures. Each output's views are read once into plain
/// pointers on the stack: a decode runs this for q, k and v of every layer, and the first form (a key path over the
/// outputs, arrays for the group and its flags, the tuples copied at every test) spent ~3.5 us a call on reference
/// counts and generic copies, more than the k and v rows' GEMV.
@inline(__always)
func gemmGroup(count: Int, _ y: (Int) -> Rows, _ w: (Int) -> Matrix, _ x: (Int) -> Rows, _ bias: (Int) -> [Float]?,
               pool: ThreadPool?) {
    var oneRow = true
    for j in 0..<count {
        let yj = y(j), wj = w(j), xj = x(j), bj = bias(j)?.count
        precondition(xj.width == wj.cols && yj.width == wj.rows && yj.count == xj.count && (bj ?? wj.rows) == wj.rows,
                     "gemmGroup: [\(yj.count), \(yj.width)] = [\(wj.rows), \(wj.cols)] · [\(xj.count), \(xj.width)] + \(bj ?? 0) biases")
        oneRow = oneRow && xj.count == 1
    }
    guard oneRow else {
        for j in 0..<count { gemm(y(j), w(j), x(j), bias: bias(j), pool: pool) }
        return
    }
    withBiasPointers(count: count, bias) { biases in
        withUnsafeTemporaryAllocation(of: GEMVOutput.self, capacity: count) { parts in
            withUnsafeTemporaryAllocation(of: Bool.self, capacity: count) { done in
                done.initialize(repeating: false)
                for i in 0..<count where !done[i] {
                    let type = w(i).type, cols = w(i).cols
                    var k = 0
                    for j in i..<count where !done[j] {
                        let wj = w(j)
                        guard wj.type == type && wj.cols == cols else { continue }
                        parts.initializeElement(at: k, to: GEMVOutput(y(j).base, wj.base, d: wj.rows, bias: biases[j], x: x(j).base))
                        k &+= 1
                        done[j] = true
                    }
                    gemvGroup(UnsafeBufferPointer(rebasing: parts[0..<k]), type, nil, n: cols, pool: pool)
                }
            }
        }
    }
}

/// h[t] = silu(gate · x[t]) ⊙ (up · x[t]) for every row t, `up` (the shape of h) as scratch for the up projection.
public func swiGLUHidden(_ h: Rows, gate: Matrix, up: Matrix, _ x: Rows, scratch u: Rows, pool: ThreadPool? = nil) {
    swiGLUHidden([(h: h, gate: gate, up: up, scratch: u)], x, pool: pool)
}

/// h_j[t] = silu(gate_j · x[t]) ⊙ (up_j · x[t]) for several SwiGLUs over the same rows x (a decoded token's experts),
/// `scratch_j` (the shape of h_j) for the up projection. One decoded row and matrices all of one type: one
/// `gemvSwiGLU` (the product inside each chunk of rows, the rows of every SwiGLU in one pass over the pool);
/// otherwise `gemmGroup` then `siluMul` for each. The same results either way.
public func swiGLUHidden(_ parts: [(h: Rows, gate: Matrix, up: Matrix, scratch: Rows)], _ x: Rows, pool: ThreadPool? = nil) {
    for p in parts {
        precondition(x.width == p.gate.cols && x.width == p.up.cols && p.gate.rows == p.up.rows && p.h.width == p.gate.rows
                        && p.h.count == x.count && p.scratch.count == x.count && p.scratch.width == p.h.width,
                     "swiGLUHidden: [\(p.h.count), \(p.h.width)] = silu([\(p.gate.rows), \(p.gate.cols)] · x) ⊙ [\(p.up.rows), \(p.up.cols)] · [\(x.count), \(x.width)]")
    }
    guard let type = parts.first?.gate.type else { return }
    if x.count == 1 && parts.allSatisfy({ $0.gate.type == type && $0.up.type == type }) {
        gemvSwiGLU(parts.map { SwiGLUOutput($0.h.base, gate: $0.gate.base, up: $0.up.base, d: $0.gate.rows, scratch: $0.scratch.base) },
                   type, x.base, n: x.width, pool: pool)
    } else {
        for p in parts {
            gemmGroup([(p.h, p.gate, nil), (p.scratch, p.up, nil)], x, pool: pool)
            siluMul(p.h, p.h, p.scratch)
        }
    }
}

/// The base addresses of arrays 0 ..< count (`array(i)`; nil stays nil), valid inside `body`. No allocation (a
/// decode calls this for every group of matrices; the nested form allocated at each level).
@inline(__always)
func withBiasPointers(count: Int, _ array: (Int) -> [Float]?, _ body: (UnsafeBufferPointer<UnsafePointer<Float>?>) -> Void) {
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: count) { buf in
        buf.initialize(repeating: nil)
        func next(_ i: Int) {
            guard i < count else { body(UnsafeBufferPointer(buf)); return }
            if let a = array(i) {
                a.withUnsafeBufferPointer { buf[i] = $0.baseAddress; next(i &+ 1) }
            } else {
                next(i &+ 1)
            }
        }
        next(0)
    }
}

/// W · x[t] for every row t, as a new `[x.count, w.rows]` array (logits).
public func gemm(_ w: Matrix, _ x: Rows, pool: ThreadPool? = nil) -> [Float] {
    precondition(x.width == w.cols, "gemm: [\(w.rows), \(w.cols)] · [\(x.count), \(x.width)]")
    var out = [Float](repeating: 0, count: x.count * w.rows)
    out.withUnsafeMutableBufferPointer { o in
        if let p = o.baseAddress { gemm(p, w.base, w.type, x.base, tokens: x.count, d: w.rows, n: w.cols, pool: pool) }
    }
    return out
}

/// out[t] = rmsnorm(x[t]) · w for every row t (`out` may be `x`).
@inlinable
public func rmsnorm(_ out: Rows, _ x: Rows, _ w: [Float], eps: Float) {
    precondition(out.count == x.count && out.width == x.width && w.count == x.width,
                 "rmsnorm: [\(out.count), \(out.width)] from [\(x.count), \(x.width)] with \(w.count) weights")
    let n = x.width, o = out.base, xs = x.base
    w.withUnsafeBufferPointer { wp in
        for t in 0..<x.count { rmsnorm(o + t * n, xs + t * n, wp.baseAddress!, n: n, eps: eps) }
    }
}

/// out[t] = layerNorm(x[t]) · w + b for every row t (`out` may be `x`).
public func layerNorm(_ out: Rows, _ x: Rows, _ w: [Float], _ b: [Float], eps: Float) {
    precondition(out.count == x.count && out.width == x.width && w.count == x.width && b.count == x.width,
                 "layerNorm: [\(out.count), \(out.width)] from [\(x.count), \(x.width)] with \(w.count) weights, \(b.count) biases")
    let n = x.width, o = out.base, xs = x.base
    w.withUnsafeBufferPointer { wp in
        b.withUnsafeBufferPointer { bp in
            for t in 0..<x.count { layerNorm(o + t * n, xs + t * n, wp.baseAddress!, bp.baseAddress!, n: n, eps: eps) }
        }
    }
}

/// Softmax of every row, in place.
@inlinable
public func softmax(_ x: Rows) {
    let n = x.width, p = x.base
    for t in 0..<x.count { softmax(p + t * n, n: n) }
}

/// y += a · x, elementwise over views of one shape.
@inlinable
public func axpy(_ y: Rows, _ a: Float, _ x: Rows) {
    precondition(y.count == x.count && y.width == x.width, "axpy: [\(y.count), \(y.width)] += a · [\(x.count), \(x.width)]")
    axpy(y.base, a, x.base, n: x.elementCount)
}

/// y += x, elementwise over views of one shape.
@inlinable
public func add(_ y: Rows, _ x: Rows) { axpy(y, 1, x) }

/// a · b over all the floats of two views of one shape.
@inlinable
public func dot(_ a: Rows, _ b: Rows) -> Float {
    precondition(a.count == b.count && a.width == b.width, "dot: [\(a.count), \(a.width)] · [\(b.count), \(b.width)]")
    return dot(a.base, b.base, n: a.elementCount)
}

/// out = silu(gate) ⊙ up, elementwise over views of one shape (`out` may be `gate` or `up`).
@inlinable
public func siluMul(_ out: Rows, _ gate: Rows, _ up: Rows) {
    precondition(out.count == gate.count && out.width == gate.width && up.count == gate.count && up.width == gate.width,
                 "siluMul: views of different shapes")
    siluMul(out.base, gate.base, up.base, n: gate.elementCount)
}

/// Row t of `out` (width I) from row t of `gateUp` (width 2I, gate and up interleaved): see the pointer `clampedSwiGLU`.
public func clampedSwiGLU(_ out: Rows, gateUp: Rows, alpha: Float, limit: Float) {
    precondition(out.count == gateUp.count && 2 * out.width == gateUp.width, "clampedSwiGLU: [\(out.count), \(out.width)] from [\(gateUp.count), \(gateUp.width)]")
    // Row t's pairs start at 2 · t · I, where the pairs of one flat run of n · I would: one call covers every row.
    clampedSwiGLU(out.base, gateUp.base, n: out.elementCount, alpha: alpha, limit: limit)
}

/// x = max(x, 0), in place.
@inlinable
public func relu(_ x: Rows) { relu(x.base, n: x.elementCount) }

/// x = min(max(x, -limit), limit), in place.
@inlinable
public func clamp(_ x: Rows, limit: Float) { clamp(x.base, n: x.elementCount, lower: -limit, upper: limit) }

/// x *= a, in place.
@inlinable
public func scale(_ x: Rows, by a: Float) { scale(x.base, a, n: x.elementCount) }

/// dst = src, for views of one shape.
@inlinable
public func copy(_ dst: Rows, from src: Rows) {
    precondition(dst.count == src.count && dst.width == src.width, "copy: [\(dst.count), \(dst.width)] = [\(src.count), \(src.width)]")
    dst.base.update(from: src.base, count: src.elementCount)
}

/// The k largest floats of a view as (index, value), largest first (see the pointer `topK`).
@inlinable
public func topK(_ values: Rows, k: Int) -> [(index: Int, value: Float)] { topK(values.base, n: values.elementCount, k: k) }

extension RoPE {
    /// Rotates every row of `x` (`heads` heads of `headDim`), row t at position `start + t`.
    @inlinable
    public func apply(_ x: Rows, heads: Int, start: Int) {
        precondition(x.width == heads * headDim, "RoPE: rows of \(x.width) floats are not \(heads) heads of \(headDim)")
        let n = x.width, p = x.base
        for t in 0..<x.count { apply(p + t * n, heads: heads, position: start + t) }
    }
}

/// Causal grouped-query attention of the `q.count` queries at positions `start ..< start + q.count` over a cache
/// whose rows (one per position, `kvHeads * headDim` wide) already hold positions `0 ..< start + q.count`
/// (see the pointer `causalAttention`).
@inlinable
public func causalAttention(_ out: Rows, _ q: Rows, keys: Rows, values: Rows, start: Int, heads: Int, kvHeads: Int,
                            headDim: Int, window: Int? = nil, sinks: [Float]? = nil, ring: Bool = false, pool: ThreadPool? = nil) {
    precondition(q.width == heads * headDim && out.count == q.count && out.width == q.width, "attention: query and output shapes")
    precondition(keys.width == kvHeads * headDim && values.width == keys.width && values.count == keys.count, "attention: key and value rows")
    if ring {
        // Position p at row p % keys.count: the oldest key the first query attends to must survive the batch's writes.
        precondition(start >= 0 && keys.count >= (window ?? .max) + q.count - 1, "attention: a ring of \(keys.count) rows is too short for this window and batch")
    } else {
        precondition(start >= 0 && keys.count >= start + q.count, "attention: the cache lacks positions")
    }
    precondition(sinks.map { $0.count == heads } ?? true, "attention: one sink per head")
    func run(_ sinks: UnsafePointer<Float>?) {
        causalAttention(out.base, q.base, keys: keys.base, values: values.base, start: start, tokens: q.count, heads: heads,
                        kvHeads: kvHeads, headDim: headDim, window: window, sinks: sinks, ring: ring ? keys.count : nil, pool: pool)
    }
    if let sinks { sinks.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
}

/// Rows `start ..< start + src.count` of `ring` (position p at row p % ring.count) = src: at most two copies.
@inlinable
public func copy(ring: Rows, at start: Int, from src: Rows) {
    let first = start % ring.count, head = min(src.count, ring.count - first)
    precondition(src.count <= ring.count, "copy: \(src.count) rows into a ring of \(ring.count)")
    copy(ring.rows(first..<(first + head)), from: src.rows(0..<head))
    if head < src.count { copy(ring.rows(0..<(src.count - head)), from: src.rows(head..<src.count)) }
}

/// T5 attention of the `q.count` queries at positions `start ...` over the first `keyCount` rows of `keys` and
/// `values`, with per head a row of `bias` (`bias.count == heads`) holding offsets `biasFrom ...` (see the
/// pointer `relativeAttention`).
@inlinable
public func relativeAttention(_ out: Rows, _ q: Rows, keys: Rows, values: Rows, keyCount: Int, start: Int, heads: Int,
                              headDim: Int, causal: Bool, bias: Rows? = nil, biasFrom: Int = 0, pool: ThreadPool? = nil) {
    precondition(q.width == heads * headDim && out.count == q.count && out.width == q.width, "attention: query and output shapes")
    precondition(keys.width == q.width && values.width == q.width, "attention: key and value rows")
    precondition(keyCount >= 0 && keys.count >= keyCount && values.count >= keyCount, "attention: fewer keys than keyCount")
    if let bias {
        precondition(bias.count == heads, "attention: \(bias.count) bias rows for \(heads) heads")
        if q.count > 0 && keyCount > 0 {
            // The offsets used (key position - query position) run from key 0 of the last query up to the last
            // key the first query sees.
            let lowest = -(start + q.count - 1), highest = causal ? min(keyCount - 1 - start, 0) : keyCount - 1 - start
            precondition(biasFrom <= lowest && highest - biasFrom < bias.width, "attention: the bias rows miss offsets")
        }
        relativeAttention(out.base, q.base, keys: keys.base, values: values.base, keyCount: keyCount, start: start, tokens: q.count,
                          heads: heads, headDim: headDim, causal: causal, bias: bias.base, biasStride: bias.width,
                          biasFrom: biasFrom, pool: pool)
    } else {
        relativeAttention(out.base, q.base, keys: keys.base, values: values.base, keyCount: keyCount, start: start, tokens: q.count,
                          heads: heads, headDim: headDim, causal: causal, pool: pool)
    }
}

/// log Σ exp(x), computed stably (max first, then a Double sum of exp(x - max)).
public func logSumExp(_ x: ArraySlice<Float>) -> Double {
    x.withUnsafeBufferPointer { b in
        var m = -Float.infinity
        for v in b { m = max(m, v) }
        var s = 0.0
        for v in b { s += Double(expf(v - m)) }
        return Double(m) + log(s)
    }
}
