import Foundation

/// Qwen3-Next (Qwen3-Next-80B-A3B; `model_type` `qwen3_next`): hybrid layers, most of them Gated DeltaNet linear
/// attention (`layer_types`, or every `full_attention_interval`-th layer full attention), all norms zero-centred,
/// and Qwen2-MoE's MoE with a sigmoid-gated shared expert:
///
///     n(x)   = x / √(mean x² + ε) · (1 + w)                                  (every RMSNorm but the DeltaNet's gated one)
///     linear: h = x + W_out · GatedDeltaNet(n(x))                              (see `DeltaNetSpec`)
///     full:   [q, gate] = W_q n(x);  q = RoPE_partial(n_q(q)), k = RoPE_partial(n_k(W_k n(x))), v = W_v n(x)
///             h = x + W_o · (Attn(q, K, V) ⊙ σ(gate))
///     p = softmax(W_g · n(h));  K = topk(p, k);  w_i = norm_topk_prob ? p_i / Σ_K p_j : p_i
///     out = h + Σ_{i∈K} w_i E_i(n(h)) + σ(w_s · n(h)) · E_shared(n(h))          (dense MLP on `mlp_only_layers`)
///
/// Keys read besides `DecoderBase`'s: `moe_intermediate_size`, `shared_expert_intermediate_size`, `attention_bias`,
/// `partial_rotary_factor` (top level or in `rope_parameters`), `layer_types` / `full_attention_interval`,
/// `linear_conv_kernel_dim`, `linear_key_head_dim`, `linear_value_head_dim`, `linear_num_key_heads`,
/// `linear_num_value_heads`, `hidden_act` (only `silu`), `use_sliding_window` (only false), and the multi-token
/// prediction head's `mtp_num_hidden_layers` (its `mtp.*` tensors are not run, not packed). Training-only keys
/// (`router_aux_loss_coef`, `output_router_logits`, `attention_dropout`, `initializer_range`) change nothing at
/// inference.
public struct Qwen3NextConfig: DecoderFamily {
    public static let family = ModelFamily.qwen3Next
    public let base: DecoderBase
    public let moeIntermediateSize: Int
    public let sharedExpertIntermediateSize: Int
    public let attentionBias: Bool
    public let partialRotaryFactor: Double
    /// `full_attention_interval`: without `layer_types`, layer i is full attention when (i + 1) % interval == 0.
    public let fullAttentionInterval: Int
    let explicitLayerTypes: [String]?
    public let convKernel: Int
    public let keyHeadDim: Int
    public let valueHeadDim: Int
    public let keyHeads: Int
    public let valueHeads: Int
    public let hiddenAct: String
    public let useSlidingWindow: Bool
    public let mtpLayers: Int

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 5632, experts: 512, expertsPerToken: 10, eps: 1e-6, ropeTheta: 10000))
        moeIntermediateSize = try decoder.optional("moe_intermediate_size") ?? 512
        sharedExpertIntermediateSize = try decoder.optional("shared_expert_intermediate_size") ?? 512
        attentionBias = try decoder.optional("attention_bias") ?? false
        struct Partial: Decodable { let partial_rotary_factor: Double? }
        partialRotaryFactor = try decoder.optional("partial_rotary_factor")
            ?? decoder.optional("rope_parameters", Partial.self)?.partial_rotary_factor ?? 0.25
        fullAttentionInterval = try decoder.optional("full_attention_interval") ?? 4
        explicitLayerTypes = try decoder.optional("layer_types")
        convKernel = try decoder.optional("linear_conv_kernel_dim") ?? 4
        keyHeadDim = try decoder.optional("linear_key_head_dim") ?? 128
        valueHeadDim = try decoder.optional("linear_value_head_dim") ?? 128
        keyHeads = try decoder.optional("linear_num_key_heads") ?? 16
        valueHeads = try decoder.optional("linear_num_value_heads") ?? 32
        hiddenAct = try decoder.optional("hidden_act") ?? "silu"
        useSlidingWindow = try decoder.optional("use_sliding_window") ?? false
        mtpLayers = try decoder.optional("mtp_num_hidden_layers") ?? 0
    }

    /// `linear_attention` or `full_attention` per layer, as transformers' `Qwen3NextConfig` derives them.
    public var layerTypes: [String] {
        explicitLayerTypes ?? (0..<max(base.numLayers, 0)).map {
            ($0 + 1) % max(fullAttentionInterval, 1) == 0 ? "full_attention" : "linear_attention"
        }
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }
    public func expertIntermediate(layer: Int) -> Int { moeIntermediateSize }
    public var expertIntermediateKey: String { "moe_intermediate_size" }
    /// The multi-token-prediction head (`mtp.*`) is for speculative decoding, which swapmoe does not run.
    public func packIgnores(_ tensor: String) -> Bool { tensor.hasPrefix("mtp.") }

    /// The width RoPE turns in each head: transformers' `int(head_dim * partial_rotary_factor)`.
    var rotaryDim: Int { Int(Double(base.headDim) * partialRotaryFactor) }

    public func validate() throws(ModelError) {
        let f = Self.family
        func bad(_ reason: String) -> ModelError { .badConfig(family: f.rawValue, reason: reason) }
        try base.validate(family: f)
        try ConfigLimits.check(f, "moe_intermediate_size", moeIntermediateSize, 1...ConfigLimits.width)
        try ConfigLimits.check(f, "shared_expert_intermediate_size", sharedExpertIntermediateSize, 1...ConfigLimits.width)
        try ConfigLimits.check(f, "linear_conv_kernel_dim", convKernel, 1...64)
        try ConfigLimits.check(f, "linear_key_head_dim", keyHeadDim, 1...ConfigLimits.width)
        try ConfigLimits.check(f, "linear_value_head_dim", valueHeadDim, 1...ConfigLimits.width)
        try ConfigLimits.check(f, "linear_num_key_heads", keyHeads, 1...ConfigLimits.heads)
        try ConfigLimits.check(f, "linear_num_value_heads", valueHeads, 1...ConfigLimits.heads)
        try ConfigLimits.check(f, "linear_num_value_heads x linear_value_head_dim", valueHeads * valueHeadDim, 1...ConfigLimits.width)
        try ConfigLimits.check(f, "linear_num_key_heads x linear_key_head_dim", keyHeads * keyHeadDim, 1...ConfigLimits.width)
        try ConfigLimits.check(f, "mtp_num_hidden_layers", mtpLayers, 0...ConfigLimits.layers)
        try ConfigLimits.check(f, "full_attention_interval", fullAttentionInterval, 1...ConfigLimits.layers)
        guard valueHeads % keyHeads == 0 else {
            throw bad("linear_num_value_heads (\(valueHeads)) must be a multiple of linear_num_key_heads (\(keyHeads))")
        }
        guard layerTypes.count == base.numLayers else { throw bad("layer_types has \(layerTypes.count) entries for \(base.numLayers) layers") }
        if let t = layerTypes.first(where: { $0 != "linear_attention" && $0 != "full_attention" }) {
            throw .unsupportedFeature("Qwen3-Next layer type '\(t)' (layer_types: only linear_attention and full_attention)")
        }
        guard partialRotaryFactor > 0 && partialRotaryFactor <= 1, rotaryDim >= 2, rotaryDim % 2 == 0 else {
            throw bad("partial_rotary_factor \(partialRotaryFactor) of head_dim \(base.headDim) must give an even rotary width of at least 2")
        }
        if hiddenAct != "silu" { throw .unsupportedFeature("Qwen3-Next hidden_act '\(hiddenAct)' (only silu)") }
        if useSlidingWindow { throw .unsupportedFeature("Qwen3-Next with use_sliding_window") }
    }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        var s = base.spec(qkvBias: attentionBias, outputBias: attentionBias, qkNorm: .perHead, router: .normTopKProb(base.normTopKProb),
                          sharedExpertIntermediate: sharedExpertIntermediateSize, routerNames: mlpRouterName)
        s.rotaryDim = rotaryDim < base.headDim ? rotaryDim : nil
        s.gatedAttention = true
        s.zeroCentredNorms = true
        s.deltaNet = DeltaNetSpec(keyHeads: keyHeads, valueHeads: valueHeads, keyDim: keyHeadDim, valueDim: valueHeadDim, convKernel: convKernel,
                                  layers: Set(layerTypes.indices.filter { layerTypes[$0] == "linear_attention" }))
        return s
    }
}
