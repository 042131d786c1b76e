import Foundation

/// LongRoPE (Phi-3, Phi-3.5-MoE) exactly as transformers' `_compute_longrope_parameters` computes it:
///
///     ext[i]      = long_factor[i] if seq_len > original_max_position_embeddings else short_factor[i]   (float32)
///     inv_freq[i] = 1 / (ext[i] · theta^(2i / d))                                                        (i < d/2)
///     factor      = `factor`, else max_position_embeddings / original_max_position_embeddings
///     attention   = `attention_factor`, else 1 if factor <= 1 else √(1 + ln factor / ln original)
///
/// Phi-3.5-MoE (transformers 5.24 `PhimoeRotaryEmbedding.forward`) calls it without a sequence length on every
/// call, so its frequencies always come from the short factors, and multiplies cos and sin by `short_mscale`, or by
/// `long_mscale` when the call's last position + 1 exceeds the original context (`mscale(callEnd:)`): the switch to
/// the long regime changes the scale, not the frequencies.
public struct LongRoPE: Sendable, Equatable {
    public var shortFactor: [Double]
    public var longFactor: [Double]
    /// The context the model was pretrained for (`original_max_position_embeddings`).
    public var originalMaxPositions: Int
    /// `factor`, or `max_position_embeddings / original_max_position_embeddings`.
    public var factor: Double
    public var attentionFactor: Double?
    /// Phi-3.5-MoE's scales of cos and sin within and past the original context.
    public var shortMscale: Double?
    public var longMscale: Double?

    public init(shortFactor: [Double], longFactor: [Double], originalMaxPositions: Int, factor: Double,
                attentionFactor: Double? = nil, shortMscale: Double? = nil, longMscale: Double? = nil) {
        self.shortFactor = shortFactor; self.longFactor = longFactor; self.originalMaxPositions = originalMaxPositions
        self.factor = factor; self.attentionFactor = attentionFactor; self.shortMscale = shortMscale; self.longMscale = longMscale
    }

    /// transformers' `attention_scaling`.
    public var attentionScaling: Float {
        if let attentionFactor { return Float(attentionFactor) }
        return factor <= 1 ? 1 : Float((1 + log(factor) / log(Double(originalMaxPositions))).squareRoot())
    }

    /// What cos and sin are multiplied by in a forward call whose last position is `callEnd - 1`: the mscale of its
    /// regime when the config gives one (Phi-3.5-MoE), else `attentionScaling`.
    public func mscale(callEnd: Int) -> Float {
        let m = callEnd > originalMaxPositions ? longMscale : shortMscale
        return m.map(Float.init) ?? attentionScaling
    }

    /// The inverse frequencies of a `headDim` rotation for a sequence of `seqLen` positions (nil: the short factors,
    /// as transformers' call without a length), in float32 as transformers computes them.
    public func invFreq(headDim: Int, theta: Double, seqLen: Int? = nil) -> [Float] {
        let ext = (seqLen ?? 0) > originalMaxPositions ? longFactor : shortFactor
        precondition(ext.count == headDim / 2, "LongRoPE: \(ext.count) factors for \(headDim / 2) frequencies")
        return (0..<headDim / 2).map { i in 1 / (Float(ext[i]) * powf(Float(theta), Float(2 * i) / Float(headDim))) }
    }
}
