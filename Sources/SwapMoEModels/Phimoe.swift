import Foundation

/// Phi-3.5-MoE (microsoft/Phi-3.5-MoE-instruct, Phi-mini-MoE-instruct): Mixtral's layout (GQA attention, every
/// layer a MoE of SwiGLU experts under `block_sparse_moe`) with LayerNorms that have biases, q/k/v/o biases, an
/// LM-head bias, LongRoPE, and the sparsemixer router:
///
///     n(x)  = (x - mean x) / √(var x + ε) · w + b                     (input, post-attention and final norms)
///     h     = x + W_o · Attn(LongRoPE(W_q n(x) + b_q), LongRoPE(W_k n(x) + b_k), W_v n(x) + b_v) + b_o
///     l     = W_g · n(h);  (i₁, w₁), (i₂, w₂) = sparsemixer(l, router_jitter_noise)       (see `SparseMixer`)
///     out   = h + w₁ E_{i₁}(n(h)) + w₂ E_{i₂}(n(h)),   E(y) = W2 (silu(W1 y) ⊙ W3 y)
///     logits = W_lm · n(x) + b_lm
///
/// Keys read besides `DecoderBase`'s: `attention_bias`, `lm_head_bias`, `router_jitter_noise`, `sliding_window`,
/// `hidden_act` (only `silu`), LongRoPE's `rope_scaling` (`short_factor`, `long_factor`, `short_mscale`,
/// `long_mscale`, `original_max_position_embeddings`, at the top level too). `num_experts_per_tok` must be 2 (the
/// sparsemixer always picks two). Training-only keys (`input_jitter_noise`, `router_aux_loss_coef`,
/// `output_router_logits`, `attention_dropout`, `hidden_dropout`, `initializer_range`) change nothing at inference.
public struct PhimoeConfig: DecoderFamily {
    public static let family = ModelFamily.phimoe
    public let base: DecoderBase
    public let attentionBias: Bool
    public let lmHeadBias: Bool
    public let routerJitterNoise: Double
    /// Attention window (absent, null or 0 = full attention).
    public let slidingWindow: Int?
    public let hiddenAct: String

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 6400, experts: 16, expertsPerToken: 2, eps: 1e-5, ropeTheta: 1e6))
        attentionBias = try decoder.optional("attention_bias") ?? false
        lmHeadBias = try decoder.optional("lm_head_bias") ?? false
        routerJitterNoise = try decoder.optional("router_jitter_noise") ?? 0.01
        slidingWindow = try decoder.optional("sliding_window", Int.self).flatMap { $0 > 0 ? $0 : nil }
        hiddenAct = try decoder.optional("hidden_act") ?? "silu"
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.block_sparse_moe.experts.{e}.", "model.layers.{l}.mlp.experts.{e}."],
                fused: ["model.layers.{l}.mlp.experts.", "model.layers.{l}.block_sparse_moe.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { base.intermediateSize }

    public func validate() throws(ModelError) {
        try base.validate(family: Self.family)
        func bad(_ reason: String) -> ModelError { .badConfig(family: Self.family.rawValue, reason: reason) }
        if base.expertsPerToken != 2 {
            throw .unsupportedFeature("Phi-3.5-MoE with num_experts_per_tok \(base.expertsPerToken) (its sparsemixer router always picks 2)")
        }
        guard routerJitterNoise.isFinite, routerJitterNoise >= 0 else { throw bad("router_jitter_noise \(routerJitterNoise) must be a finite number >= 0") }
        if let w = slidingWindow { try ConfigLimits.check(Self.family, "sliding_window", w, 1...Int.max) }
        if hiddenAct != "silu" { throw .unsupportedFeature("Phi-3.5-MoE hidden_act '\(hiddenAct)' (only silu)") }
        if let l = base.longRoPE, l.shortMscale == nil || l.longMscale == nil {
            throw bad("rope_scaling needs short_mscale and long_mscale (transformers refuses a Phi-3.5-MoE LongRoPE without them)")
        }
    }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        var s = base.spec(qkvBias: attentionBias, outputBias: attentionBias, qkNorm: .none, window: slidingWindow, router: .renormalize,
                          routerNames: { ["model.layers.\($0).block_sparse_moe.gate.weight", "model.layers.\($0).mlp.router.weight"] })
        s.layerNorm = true
        s.lmHeadBias = lmHeadBias
        s.sparseMixer = SparseMixer(jitter: Float(routerJitterNoise))
        return s
    }
}
