import Foundation

// RoPE on a slice of each head rather than the whole head: DeepSeek's rope part (after `qk_nope_head_dim`
// floats, in interleaved pairs) and GLM-4.5's partial rotary (the first `partial_rotary_factor` of each head).

/// Puts the rope slice `x (rope,)` into the layout the half-split `applyRoPE` pairs: DeepSeek rotates
/// interleaved pairs (x0, x1), (x2, x3), ...; writing the even elements first and the odd ones after makes
/// pair i (2i, 2i+1) into (i, i + rope/2). Queries and keys get the same permutation, so every q · k is unchanged,
/// and the rotated result is exactly transformers' `apply_rotary_pos_emb_interleave` output.
@inline(__always)
func deinterleave(_ x: UnsafeMutablePointer<Float>, rope: Int, scratch: UnsafeMutablePointer<Float>) {
    let half = rope / 2
    for i in 0..<half { scratch[i] = x[2 * i]; scratch[half + i] = x[2 * i + 1] }
    x.update(from: scratch, count: rope)
}

/// Rotates `heads` slices of `rope.headDim` floats, `stride` apart from `x`, for `position` (de-interleaving them
/// first when `interleaved`).
@inline(__always)
func rotateSlices(_ x: UnsafeMutablePointer<Float>, heads: Int, stride: Int, rope: RoPE, position: Int, interleaved: Bool) {
    let d = rope.headDim, half = d / 2
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * d) { buf in
        let c = buf.baseAddress!, s = c + half, scratch = c + d
        rope.cosSin(position: position, cos: c, sin: s)
        for h in 0..<heads {
            let p = x + h * stride
            if interleaved { deinterleave(p, rope: d, scratch: scratch) }
            applyRoPE(p, heads: 1, headDim: d, cos: c, sin: s)
        }
    }
}

extension RoPE {
    /// Partial rotary: rotates the first `self.headDim` floats of each of the `heads` heads of `headDim` in every row
    /// of `x`, row t at position `start + t`; the rest of each head passes unchanged (transformers' `q[..., :rotary_dim]`).
    public func applyPartial(_ x: Rows, heads: Int, headDim: Int, start: Int) {
        precondition(x.width == heads * headDim && self.headDim <= headDim, "partial RoPE: rows of \(x.width) floats are not \(heads) heads of \(headDim)")
        for t in 0..<x.count {
            rotateSlices(x.base + t * x.width, heads: heads, stride: headDim, rope: self, position: start + t, interleaved: false)
        }
    }
}
