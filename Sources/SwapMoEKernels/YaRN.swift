import Foundation

/// A RoPE frequency scaling (`rope_scaling` / `rope_parameters` with a `rope_type` other than `default`).
public enum RoPEScaling: Sendable, Equatable {
    case yarn(YaRN)
    case longRoPE(LongRoPE)
}

/// YaRN (arXiv 2309.00071) exactly as transformers' `_compute_yarn_parameters` computes it (gpt-oss, DeepSeek-V2/V3):
///
///     pos_freqs[i] = theta^(2i / d)                         (i < d/2, float32)
///     low, high    = correction range of beta_fast, beta_slow rotations over original_max_position_embeddings
///                    (floor/ceil when `truncate`), clamped to [0, d - 1]
///     ramp[i]      = clamp((i - low) / (high - low), 0, 1)  (high += 0.001 when low == high)
///     e[i]         = 1 - ramp[i]                            (how much of dimension i extrapolates)
///     inv_freq[i]  = 1 / (factor · pos_freqs[i]) · (1 - e[i]) + 1 / pos_freqs[i] · e[i]
///
/// and the attention factor, which multiplies cos and sin (so q · k by its square):
/// `attention_factor` if given, else `mscale(factor, mscale) / mscale(factor, mscale_all_dim)` when both are
/// given and non-zero, else `mscale(factor)`, with mscale(s, m) = 1 if s <= 1 else 0.1 · m · ln(s) + 1.
public struct YaRN: Sendable, Equatable {
    public var factor: Double
    /// The context the model was trained for before the extension.
    public var originalMaxPositions: Int
    public var betaFast: Double
    public var betaSlow: Double
    public var mscale: Double?
    public var mscaleAllDim: Double?
    /// An explicit `attention_factor` (overrides the mscale formula).
    public var attentionFactor: Double?
    /// Rounds the correction range outward to whole dimensions (transformers' default: true; gpt-oss: false).
    public var truncate: Bool

    public init(factor: Double, originalMaxPositions: Int, betaFast: Double = 32, betaSlow: Double = 1, mscale: Double? = nil,
                mscaleAllDim: Double? = nil, attentionFactor: Double? = nil, truncate: Bool = true) {
        self.factor = factor; self.originalMaxPositions = originalMaxPositions; self.betaFast = betaFast; self.betaSlow = betaSlow
        self.mscale = mscale; self.mscaleAllDim = mscaleAllDim; self.attentionFactor = attentionFactor; self.truncate = truncate
    }

    /// 0.1 · m · ln(scale) + 1, or 1 when scale <= 1 (transformers' `get_mscale`).
    public static func mscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * log(scale) + 1 }

    /// The factor cos and sin are multiplied by (transformers' `attention_scaling`).
    public var attentionScaling: Float {
        if let attentionFactor { return Float(attentionFactor) }
        if let m = mscale, let a = mscaleAllDim, m != 0, a != 0 { return Float(YaRN.mscale(factor, m) / YaRN.mscale(factor, a)) }
        return Float(YaRN.mscale(factor))
    }

    /// The dimension (of `dim`) whose wavelength fits `rotations` turns in the original context.
    func correctionDim(_ rotations: Double, dim: Int, theta: Double) -> Double {
        Double(dim) * log(Double(originalMaxPositions) / (rotations * 2 * Double.pi)) / (2 * log(theta))
    }

    /// The dimensions between which the frequencies blend from extrapolated to interpolated.
    public func correctionRange(dim: Int, theta: Double) -> (low: Double, high: Double) {
        var low = correctionDim(betaFast, dim: dim, theta: theta), high = correctionDim(betaSlow, dim: dim, theta: theta)
        if truncate { low = low.rounded(.down); high = high.rounded(.up) }
        return (max(low, 0), min(high, Double(dim - 1)))
    }

    /// The scaled inverse frequencies of a `headDim` rotation, in float32 as transformers computes them.
    public func invFreq(headDim: Int, theta: Double) -> [Float] {
        var (low, high) = correctionRange(dim: headDim, theta: theta)
        if low == high { high += 0.001 }
        let lo = Float(low), span = Float(high - low), f = Float(factor)
        return (0..<headDim / 2).map { i in
            let posFreq = powf(Float(theta), Float(2 * i) / Float(headDim))
            let ramp = min(max((Float(i) - lo) / span, 0), 1)
            let extrapolation = 1 - ramp
            return 1 / (f * posFreq) * (1 - extrapolation) + 1 / posFreq * extrapolation
        }
    }
}
