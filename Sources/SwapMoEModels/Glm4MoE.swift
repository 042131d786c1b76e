import Foundation

/// GLM-4.5 MoE (GLM-4.5, GLM-4.5-Air, GLM-4.6; `model_type` `glm4_moe`): GQA attention with q/k/v biases
/// (`attention_bias`), optional per-head q/k RMSNorm (`use_qk_norm`), explicit `head_dim`, and RoPE on the first
/// `partial_rotary_factor` of each head only; the first `first_k_dense_replace` layers dense, then DeepSeek-V3's MoE:
///
///     s = σ(W_g · y);  K = grouped top-k of s + e_score_correction_bias
///     w_i = s_i (/ Σ_K s_j if norm_topk_prob) · routed_scaling_factor;   moe = Σ_{i∈K} w_i · E_i(y) + E_shared(y)
public struct Glm4MoEConfig: DecoderFamily {
    public static let family = ModelFamily.glm4Moe
    public let base: DecoderBase
    public let moeIntermediateSize: Int
    public let nSharedExperts: Int
    public let routedScalingFactor: Double
    public let nGroup: Int
    public let topkGroup: Int
    public let normTopKProb: Bool
    public let useQKNorm: Bool
    public let attentionBias: Bool
    public let partialRotaryFactor: Double
    public let hiddenAct: String
    /// Multi-token-prediction layers after the last layer (`num_nextn_predict_layers`): not run, not packed.
    public let nextTokenPredictionLayers: Int

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 10944, experts: 128, expertsPerToken: 8, eps: 1e-5, ropeTheta: 10000))
        moeIntermediateSize = try decoder.optional("moe_intermediate_size") ?? 1408
        nSharedExperts = try decoder.optional("n_shared_experts") ?? 1
        routedScalingFactor = try decoder.optional("routed_scaling_factor") ?? 1.0
        nGroup = try decoder.optional("n_group") ?? 1
        topkGroup = try decoder.optional("topk_group") ?? 1
        normTopKProb = try decoder.optional("norm_topk_prob") ?? true
        useQKNorm = try decoder.optional("use_qk_norm") ?? false
        attentionBias = try decoder.optional("attention_bias") ?? false
        struct Partial: Decodable { let partial_rotary_factor: Double? }
        partialRotaryFactor = try decoder.optional("partial_rotary_factor")
            ?? decoder.optional("rope_parameters", Partial.self)?.partial_rotary_factor ?? 0.5
        hiddenAct = try decoder.optional("hidden_act") ?? "silu"
        nextTokenPredictionLayers = try decoder.optional("num_nextn_predict_layers") ?? decoder.optional("num_mtp_layers") ?? 0
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }
    public func expertIntermediate(layer: Int) -> Int { moeIntermediateSize }
    public var expertIntermediateKey: String { "moe_intermediate_size" }
    public func packIgnores(_ tensor: String) -> Bool { DeepSeekKeys.isNextTokenPredictionLayer(tensor, layers: base.numLayers) }

    /// The width RoPE turns in each head: transformers' `int(head_dim * partial_rotary_factor)`.
    var rotaryDim: Int { Int(Double(base.headDim) * partialRotaryFactor) }

    public func validate() throws(ModelError) {
        let f = Self.family
        try base.validate(family: f)
        try ConfigLimits.check(f, "moe_intermediate_size", moeIntermediateSize, 1...ConfigLimits.width)
        try ConfigLimits.check(f, "n_shared_experts x moe_intermediate_size", nSharedExperts * moeIntermediateSize, 0...ConfigLimits.width)
        try ConfigLimits.check(f, "num_nextn_predict_layers", nextTokenPredictionLayers, 0...ConfigLimits.layers)
        try GroupedRouter.validate(groups: nGroup, groupsPerToken: topkGroup, experts: base.numExperts, k: base.expertsPerToken,
                                   scalingFactor: routedScalingFactor, minGroupSize: 2, family: f)
        guard partialRotaryFactor > 0 && partialRotaryFactor <= 1, rotaryDim >= 2, rotaryDim % 2 == 0 else {
            throw .badConfig(family: f.rawValue, reason: "partial_rotary_factor \(partialRotaryFactor) of head_dim \(base.headDim) must give an even rotary width of at least 2")
        }
        guard hiddenAct == "silu" else { throw .unsupportedFeature("hidden_act '\(hiddenAct)' (GLM-4.5 MLPs are SiLU-gated)") }
    }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        var spec = base.spec(qkvBias: attentionBias, outputBias: false, qkNorm: useQKNorm ? .perHead : .none, router: .normTopKProb(normTopKProb),
                             sharedExpertIntermediate: nSharedExperts > 0 ? nSharedExperts * moeIntermediateSize : nil, routerNames: mlpRouterName)
        spec.groupedRouter = .sigmoidGrouped(groups: nGroup, groupsPerToken: topkGroup, renormalize: normTopKProb,
                                             scalingFactor: routedScalingFactor)
        spec.sharedExpertPrefix = "mlp.shared_experts."
        spec.sharedExpertGated = false
        spec.rotaryDim = rotaryDim < base.headDim ? rotaryDim : nil
        return spec
    }
}
