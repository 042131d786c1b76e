import Foundation

/// Rotary position embedding, Hugging Face `rotate_half` convention.
///
/// Within each head of size `headDim`, element i (i < headDim/2) pairs with element i + headDim/2:
///   out[i]        = x[i] * cos(p θ_i) - x[i + h] * sin(p θ_i)
///   out[i + h]    = x[i + h] * cos(p θ_i) + x[i] * sin(p θ_i)
/// with θ_i = 1 / theta^(2i / headDim), matching HF's float32 `inv_freq`, `freqs = pos * inv_freq`, cos/sin.
/// (Interleaved GPT-J/llama2.c-style pairs (2i, 2i+1) are not this convention.) `headDim` must be even;
/// 48, 64, 128 ... all work.
public struct RoPE: Sendable {
    /// Rotated dimensions (the head size; partial rotary is not supported yet).
    public let headDim: Int
    /// inv_freq[i] for i < headDim/2.
    public let invFreq: [Float]
    /// transformers' `attention_scaling`: cos and sin are both multiplied by it (1 for plain RoPE; YaRN's mscale),
    /// so q · k is scaled by its square.
    public let attentionFactor: Float
    /// LongRoPE's scale switch (Phi-3.5-MoE): the factor of calls ending past `original` positions (see `forCall`).
    let longRegime: (original: Int, factor: Float)?

    /// Standard RoPE: inv_freq[i] = 1 / theta^(2i / headDim), evaluated in Float32 like HF; with `scaling`, its
    /// scaled frequencies and attention factor (see `YaRN`).
    public init(headDim: Int, theta: Float, scaling: RoPEScaling? = nil) {
        precondition(headDim > 0 && headDim % 2 == 0, "RoPE headDim must be even")
        self.headDim = headDim
        switch scaling {
        case nil:
            invFreq = (0 ..< headDim / 2).map { i in 1 / powf(theta, Float(2 * i) / Float(headDim)) }
            attentionFactor = 1; longRegime = nil
        case .yarn(let y):
            invFreq = y.invFreq(headDim: headDim, theta: Double(theta)); attentionFactor = y.attentionScaling; longRegime = nil
        case .longRoPE(let l):
            invFreq = l.invFreq(headDim: headDim, theta: Double(theta)); attentionFactor = l.mscale(callEnd: 0)
            longRegime = (l.originalMaxPositions, l.mscale(callEnd: l.originalMaxPositions + 1))
        }
    }

    private init(invFreq: [Float], attentionFactor: Float, longRegime: (original: Int, factor: Float)?) {
        headDim = invFreq.count * 2
        self.invFreq = invFreq; self.attentionFactor = attentionFactor; self.longRegime = longRegime
    }

    /// This rotation for a forward call whose last position is `callEnd - 1`: LongRoPE's long-regime scale when
    /// `callEnd` exceeds the original context (transformers decides per call, from `max(position_ids) + 1`), else
    /// unchanged.
    public func forCall(end callEnd: Int) -> RoPE {
        guard let r = longRegime, callEnd > r.original else { return self }
        return RoPE(invFreq: invFreq, attentionFactor: r.factor, longRegime: nil)
    }

    /// Custom frequencies (for scaled variants computed by the caller).
    public init(invFreq: [Float], attentionFactor: Float = 1) {
        headDim = invFreq.count * 2
        self.invFreq = invFreq
        self.attentionFactor = attentionFactor
        longRegime = nil
    }

    /// cos (headDim/2,), sin (headDim/2,) for one position; reuse them for every head of that token.
    public func cosSin(position: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let p = Float(position)
        for i in 0 ..< headDim / 2 {
            let angle = p * invFreq[i]
            cos[i] = cosf(angle) * attentionFactor
            sin[i] = sinf(angle) * attentionFactor
        }
    }

    /// x (heads, headDim) rotated in place for one position.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let half = headDim / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * half) { buf in
            let c = buf.baseAddress!, s = c + half
            cosSin(position: position, cos: c, sin: s)
            applyRoPE(x, heads: heads, headDim: headDim, cos: c, sin: s)
        }
    }
}

/// x (heads, headDim) in place with precomputed cos (headDim/2,), sin (headDim/2,), rotate_half pairing.
public func applyRoPE(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
                      cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = headDim / 2
    for h in 0..<heads {
        let a = x + h * headDim, b = a + half
        var i = 0
        while i &+ 8 <= half {
            let x1 = loadF32x8(UnsafePointer(a), i), x2 = loadF32x8(UnsafePointer(b), i)
            let c = loadF32x8(cos, i), s = loadF32x8(sin, i)
            UnsafeMutableRawPointer(a + i).storeBytes(of: x1 * c - x2 * s, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(b + i).storeBytes(of: x2 * c + x1 * s, as: SIMD8<Float>.self)
            i &+= 8
        }
        while i < half {
            let x1 = a[i], x2 = b[i]
            a[i] = x1 * cos[i] - x2 * sin[i]
            b[i] = x2 * cos[i] + x1 * sin[i]
            i &+= 1
        }
    }
}

func ropeReference(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, position: Int, theta: Float) {
    let half = headDim / 2
    for h in 0..<heads {
        let a = x + h * headDim
        for i in 0..<half {
            let f = 1 / powf(theta, Float(2 * i) / Float(headDim))
            let ang = Float(position) * f
            let x1 = a[i], x2 = a[i + half]
            a[i] = x1 * cosf(ang) - x2 * sinf(ang)
            a[i + half] = x2 * cosf(ang) + x1 * sinf(ang)
        }
    }
}
