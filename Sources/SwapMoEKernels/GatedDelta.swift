import Foundation

// Gated DeltaNet's per-token pieces (Qwen3-Next's linear-attention layers), f32: a head's state is [dk, dv] floats
// and the recurrence runs token by token (the exact form; transformers' chunked prefill computes the same sums in
// another order).

/// One token of a causal depthwise conv1d with SiLU, channels last:
/// x (c,) the newest input; state (kernel - 1, c) the inputs before it, oldest first; w (c, kernel) one kernel per
/// channel (`nn.Conv1d(groups: c).weight[ch, 0, :]`) ->
/// out (c,)[ch] = silu(Σ_j w[ch, j] · window[j][ch]), window = state ++ [x]; then the state drops its oldest row
/// and takes x. `out` must not overlap `x` or `state`.
func causalConv1dStep(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>,
                      weight w: UnsafePointer<Float>, channels c: Int, kernel: Int) {
    let past = kernel - 1
    for ch in 0..<c {
        var acc: Float = 0
        for j in 0..<past { acc += w[ch * kernel + j] * state[j * c + ch] }
        acc += w[ch * kernel + past] * x[ch]
        out[ch] = silu(acc)
    }
    if past > 0 {
        if past > 1 { state.update(from: state + c, count: (past - 1) * c) }
        (state + (past - 1) * c).update(from: x, count: c)
    }
}

/// The gated delta rule for one token over every value head h (served by key head h / (vHeads / kHeads)):
///
///     S_h = exp(g_h) · S_h;   S_h += k ⊗ β_h (v_h − S_hᵀ k);   out_h = S_hᵀ q
///
/// q, k (kHeads, dk) (L2-normalised; q also scaled by 1/√dk); v, out (vHeads, dv); g, beta (vHeads,);
/// state (vHeads, dk, dv), updated in place.
///
/// Two passes over each head's state, row by row (row i: the dv floats of key dimension i), so the inner loops
/// run over contiguous floats and vectorise: (1) decay row i and add row i · k_i to S_hᵀ k; (2) add k_i · δ to row
/// i and row i · q_i to out. Every sum runs over i in ascending order as the column-by-column form did, so the
/// results are bit-identical to it; walking S column by column (stride dv) made the recurrence ~half of a
/// 512-token prefill of the ~1.2B Qwen3-Next benchmark model (Docs/Benchmarks.md), now a tenth.
func gatedDeltaStep(_ out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                    g: UnsafePointer<Float>, beta: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>,
                    kHeads: Int, vHeads: Int, dk: Int, dv: Int) {
    let group = vHeads / kHeads
    withUnsafeTemporaryAllocation(of: Float.self, capacity: dv) { scratch in
        let delta = scratch.baseAddress!
        for h in 0..<vHeads {
            let s = state + h * dk * dv, kh = k + (h / group) * dk, qh = q + (h / group) * dk
            let vh = v + h * dv, oh = out + h * dv, decay = expf(g[h])
            for j in 0..<dv { delta[j] = 0 }
            for i in 0..<dk {
                let row = s + i * dv, ki = kh[i]
                for j in 0..<dv { row[j] *= decay; delta[j] += row[j] * ki }
            }
            for j in 0..<dv { delta[j] = (vh[j] - delta[j]) * beta[h] }
            for j in 0..<dv { oh[j] = 0 }
            for i in 0..<dk {
                let row = s + i * dv, ki = kh[i], qi = qh[i]
                for j in 0..<dv { row[j] += ki * delta[j]; oh[j] += row[j] * qi }
            }
        }
    }
}

/// Conv1d steps for every row of `x` in order (row t after row t - 1), into the rows of `out` (see the pointer
/// `causalConv1dStep`; `state` is `[kernel - 1, c]`, `weight` `c · kernel` floats).
public func causalConv1d(_ out: Rows, _ x: Rows, state: Rows, weight: [Float], kernel: Int) {
    let c = x.width
    precondition(out.count == x.count && out.width == c && state.width == c && state.count == kernel - 1 && weight.count == c * kernel,
                 "conv1d: [\(out.count), \(out.width)] from [\(x.count), \(c)] with state [\(state.count), \(state.width)], "
                 + "\(weight.count) weights, kernel \(kernel)")
    weight.withUnsafeBufferPointer { w in
        for t in 0..<x.count {
            causalConv1dStep(out.base + t * c, x.base + t * c, state: state.base, weight: w.baseAddress!, channels: c, kernel: kernel)
        }
    }
}

/// The gated delta rule over the rows of q, k, v in order (see the pointer `gatedDeltaStep`): `state` is
/// `[vHeads · dk, dv]`, `g` and `beta` `[tokens, vHeads]`.
public func gatedDeltaRule(_ out: Rows, q: Rows, k: Rows, v: Rows, g: Rows, beta: Rows, state: Rows, kHeads: Int, dk: Int) {
    let vHeads = g.width, dv = state.width
    precondition(kHeads > 0 && vHeads % kHeads == 0 && q.width == kHeads * dk && k.width == q.width && v.width == vHeads * dv
                 && out.width == v.width && state.count == vHeads * dk && beta.width == vHeads,
                 "delta rule: shapes of q [\(q.width)], k [\(k.width)], v [\(v.width)], state [\(state.count), \(dv)], \(vHeads) value heads")
    precondition([k.count, v.count, out.count, g.count, beta.count].allSatisfy { $0 == q.count }, "delta rule: row counts differ")
    for t in 0..<q.count {
        gatedDeltaStep(out.base + t * out.width, q: q.base + t * q.width, k: k.base + t * k.width, v: v.base + t * v.width,
                       g: g.base + t * vHeads, beta: beta.base + t * vHeads, state: state.base, kHeads: kHeads, vHeads: vHeads, dk: dk, dv: dv)
    }
}

/// x[t] = x[t] · rsqrt(Σ x[t]² + eps) · scale for every row t, in place (FLA's `l2norm`, as transformers has it).
public func l2normalize(_ x: Rows, eps: Float, scale: Float = 1) {
    let n = x.width
    for t in 0..<x.count {
        let p = x.base + t * n
        let inv = 1 / (sumOfSquares(p, n: n) + eps).squareRoot()
        for i in 0..<n { p[i] = p[i] * inv }
        if scale != 1 { for i in 0..<n { p[i] *= scale } }
    }
}

/// x *= σ(gate), elementwise over views of one shape (Qwen3-Next's gated attention output).
public func mulSigmoid(_ x: Rows, gate: Rows) {
    precondition(x.count == gate.count && x.width == gate.width, "mulSigmoid: views of different shapes")
    let p = x.base, q = gate.base
    for i in 0..<x.elementCount { p[i] *= 1 / (1 + expf(-q[i])) }
}

/// dst[t][dstColumn ..< dstColumn + width] = src[t][srcColumn ..< srcColumn + width] for every row t.
public func copyColumns(_ dst: Rows, at dstColumn: Int, from src: Rows, at srcColumn: Int, width: Int) {
    precondition(dst.count == src.count && width >= 0 && dstColumn >= 0 && srcColumn >= 0
                 && dstColumn + width <= dst.width && srcColumn + width <= src.width,
                 "copyColumns: \(width) columns from \(srcColumn) of [\(src.count), \(src.width)] to \(dstColumn) of [\(dst.count), \(dst.width)]")
    for t in 0..<src.count { (dst.base + t * dst.width + dstColumn).update(from: src.base + t * src.width + srcColumn, count: width) }
}
