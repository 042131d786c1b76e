import Foundation

/// gpt-oss (openai/gpt-oss-20b, gpt-oss-120b): GQA attention with q/k/v/o biases, YaRN RoPE and a learned sink
/// logit per head; layers alternate sliding-window and full attention (`layer_types`); every layer is MoE, with
/// a biased router and experts that are clamped SwiGLUs with biases:
///
///     Attn: p = softmax([q · k_j / √d ..., sink_h]) without its last entry   (the sink absorbs probability)
///     l = W_r · y + b_r;  K = topk(l, k);  w_i = softmax(l_K)_i            (= p_i / Σ_K p_j, p = softmax(l))
///     [g; u] = W_gu · y + b_gu  (rows alternate g, u);  g = min(g, L);  u = clamp(u, -L, L)
///     E(y) = W_d · ((u + 1) ⊙ g ⊙ σ(α g)) + b_d,   α = swiglu_alpha (1.702), L = swiglu_limit
///
/// Keys read besides `DecoderBase`'s: `attention_bias`, `sliding_window`, `layer_types`, `swiglu_limit`,
/// `swiglu_alpha`, `experts_per_token` (the hub's copy of `num_experts_per_tok`: they must agree),
/// `quantization_config` (only `mxfp4`, which `pack` keeps as MXFP4 blocks), `hidden_act` (only `silu`, the name
/// transformers gives the clamped SwiGLU). Training-only keys (`router_aux_loss_coef`, `output_router_logits`,
/// `attention_dropout`, `initializer_range`) and `initial_context_length` (the hub's copy of YaRN's original
/// context) change nothing at inference.
public struct GptOssConfig: DecoderFamily {
    public static let family = ModelFamily.gptOss
    public let base: DecoderBase
    public let attentionBias: Bool
    /// Positions a sliding layer attends to, its own included.
    public let slidingWindow: Int?
    public let layerTypes: [String]
    public let swigluLimit: Double
    public let swigluAlpha: Double
    public let expertsPerTokenAlias: Int?
    public let quantMethod: String?
    public let hiddenAct: String

    struct QuantizationConfig: Decodable { let quant_method: String? }

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 2880, experts: 128, expertsPerToken: 4, eps: 1e-5, ropeTheta: 150_000))
        attentionBias = try decoder.optional("attention_bias") ?? true
        slidingWindow = try decoder.optional("sliding_window", Int.self)
        layerTypes = try decoder.optional("layer_types")
            ?? (0..<base.numLayers).map { $0 % 2 == 0 ? "sliding_attention" : "full_attention" }
        swigluLimit = try decoder.optional("swiglu_limit") ?? 7
        swigluAlpha = try decoder.optional("swiglu_alpha") ?? 1.702
        expertsPerTokenAlias = try decoder.optional("experts_per_token")
        quantMethod = try decoder.optional("quantization_config", QuantizationConfig.self)?.quant_method
        hiddenAct = try decoder.optional("hidden_act") ?? "silu"
    }

    public var expertNaming: ExpertNaming { .gptOss(prefix: "model.layers.{l}.mlp.experts.") }

    public func expertIntermediate(layer: Int) -> Int { base.intermediateSize }

    public func validate() throws(ModelError) {
        try base.validate(family: Self.family)
        try ConfigLimits.check(Self.family, "intermediate_size", base.intermediateSize, 1...ConfigLimits.width)
        func bad(_ reason: String) -> ModelError { .badConfig(family: Self.family.rawValue, reason: reason) }
        guard layerTypes.count == base.numLayers else {
            throw bad("layer_types has \(layerTypes.count) entries for \(base.numLayers) layers (num_hidden_layers)")
        }
        if let t = layerTypes.first(where: { $0 != "sliding_attention" && $0 != "full_attention" }) {
            throw .unsupportedFeature("gpt-oss layer type '\(t)' (layer_types: only sliding_attention and full_attention)")
        }
        if layerTypes.contains("sliding_attention") {
            guard let w = slidingWindow else { throw bad("layer_types has sliding_attention layers but sliding_window is null; set it (gpt-oss: 128)") }
            try ConfigLimits.check(Self.family, "sliding_window", w, 1...ConfigLimits.positions)
        }
        guard swigluLimit.isFinite, swigluLimit > 0 else { throw bad("swiglu_limit \(swigluLimit) must be a finite number > 0") }
        guard swigluAlpha.isFinite else { throw bad("swiglu_alpha \(swigluAlpha) must be a finite number") }
        if let k = expertsPerTokenAlias, k != base.expertsPerToken {
            throw bad("experts_per_token (\(k)) disagrees with num_experts_per_tok (\(base.expertsPerToken)); transformers uses num_experts_per_tok, make them equal")
        }
        if let q = quantMethod, q != "mxfp4" { throw .unsupportedFeature("gpt-oss quantization_config.quant_method '\(q)' (only mxfp4)") }
        if hiddenAct != "silu" { throw .unsupportedFeature("gpt-oss hidden_act '\(hiddenAct)' (its experts are clamped SwiGLUs, hidden_act silu)") }
    }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        var s = base.spec(qkvBias: attentionBias, outputBias: attentionBias, qkNorm: .none, router: .renormalize,
                          routerNames: { ["model.layers.\($0).mlp.router.weight"] })
        s.window = layerTypes.map { $0 == "sliding_attention" ? slidingWindow : nil }
        s.attentionSinks = true
        s.routerBias = true
        s.expertActivation = .clampedSwiGLU(alpha: Float(swigluAlpha), limit: Float(swigluLimit))
        return s
    }
}
