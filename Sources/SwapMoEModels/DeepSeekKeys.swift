import Foundation
import SwapMoEKernels

/// The `config.json` keys DeepSeek-V2 and V3 add to `DecoderBase`, read once for both (`version` picks the
/// defaults and the router). Every key a hub config of DeepSeek-V3, DeepSeek-V2-Lite, Moonlight or Kimi-K2
/// carries is read; the ones that change nothing at inference on one machine are named here and ignored:
/// `aux_loss_alpha` and `seq_aux` (training losses), `ep_size` (expert parallelism across devices),
/// `pretraining_tp`, `attention_dropout`, `initializer_range`, `use_cache`. `quantization_config` (the hub's FP8
/// weights) is the checkpoint reader's (`FP8BlockFormat`) and `ModelFamily.checkQuantization`'s.
public struct DeepSeekKeys: Sendable {
    public let version: Int
    public let moeIntermediateSize: Int
    public let nSharedExperts: Int
    public let kvLoraRank: Int
    public let qLoraRank: Int?
    public let qkNopeHeadDim: Int
    public let qkRopeHeadDim: Int
    public let vHeadDim: Int
    public let routedScalingFactor: Double
    public let nGroup: Int
    public let topkGroup: Int
    public let topkMethod: String
    public let scoringFunc: String
    public let normTopKProb: Bool
    public let attentionBias: Bool
    public let mlpBias: Bool
    public let ropeInterleave: Bool
    public let hiddenAct: String
    /// Multi-token-prediction layers after the last layer (`num_nextn_predict_layers`): not run, not packed.
    public let nextTokenPredictionLayers: Int

    public init(from decoder: Decoder, version: Int) throws {
        self.version = version
        let v3 = version == 3
        moeIntermediateSize = try decoder.optional("moe_intermediate_size") ?? (v3 ? 2048 : 1407)
        nSharedExperts = try decoder.optional("n_shared_experts") ?? (v3 ? 1 : 2)
        kvLoraRank = try decoder.optional("kv_lora_rank") ?? 512
        // Present and null (V2-Lite, Moonlight) means no q LoRA; absent means transformers' default.
        let qLora = try decoder.container(keyedBy: ExtraKeys.self).contains(ExtraKeys("q_lora_rank"))
        qLoraRank = qLora ? try decoder.optional("q_lora_rank") : 1536
        qkNopeHeadDim = try decoder.optional("qk_nope_head_dim") ?? 128
        qkRopeHeadDim = try decoder.optional("qk_rope_head_dim") ?? 64
        vHeadDim = try decoder.optional("v_head_dim") ?? 128
        routedScalingFactor = try decoder.optional("routed_scaling_factor") ?? (v3 ? 2.5 : 1.0)
        nGroup = try decoder.optional("n_group") ?? (v3 ? 8 : 1)
        topkGroup = try decoder.optional("topk_group") ?? (v3 ? 4 : 1)
        topkMethod = try decoder.optional("topk_method") ?? (v3 ? "noaux_tc" : "greedy")
        scoringFunc = try decoder.optional("scoring_func") ?? (v3 ? "sigmoid" : "softmax")
        normTopKProb = try decoder.optional("norm_topk_prob") ?? v3
        attentionBias = try decoder.optional("attention_bias") ?? false
        mlpBias = try decoder.optional("mlp_bias") ?? false
        ropeInterleave = v3 ? try decoder.optional("rope_interleave") ?? true : true
        hiddenAct = try decoder.optional("hidden_act") ?? "silu"
        nextTokenPredictionLayers = try decoder.optional("num_nextn_predict_layers") ?? decoder.optional("num_mtp_layers") ?? 0
    }

    var qkHeadDim: Int { qkNopeHeadDim + qkRopeHeadDim }

    /// Every value in range and every feature implemented, or the one-line error naming the key.
    func validate(_ base: DecoderBase, family: ModelFamily) throws(ModelError) {
        let name = family.rawValue
        func check(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws(ModelError) {
            try ConfigLimits.check(family, key, value, range)
        }
        func bad(_ reason: String) -> ModelError { .badConfig(family: name, reason: reason) }
        // YaRN: the RoPE frequencies and the attention factor on cos/sin come from `DecoderBase.yarn` (the kernels'
        // `YaRN`, with mscale / mscale_all_dim) through `base.spec()`; the softmax scale's mscale² is `softmaxScale`.
        // Before the shared checks: `head_dim` there is qk_rope_head_dim, named here by its own key.
        try check("qk_rope_head_dim", qkRopeHeadDim, 2...ConfigLimits.width)
        guard qkRopeHeadDim % 2 == 0 else { throw bad("qk_rope_head_dim \(qkRopeHeadDim) must be even (RoPE rotates pairs)") }
        try base.validate(family: family)
        try check("kv_lora_rank", kvLoraRank, 1...ConfigLimits.width)
        if let q = qLoraRank { try check("q_lora_rank", q, 1...ConfigLimits.width) }
        try check("qk_nope_head_dim", qkNopeHeadDim, 1...ConfigLimits.width)
        try check("v_head_dim", vHeadDim, 1...ConfigLimits.width)
        try check("num_attention_heads x (qk_nope_head_dim + v_head_dim)", base.numHeads * (qkNopeHeadDim + vHeadDim + qkRopeHeadDim), 1...ConfigLimits.width)
        try check("moe_intermediate_size", moeIntermediateSize, 1...ConfigLimits.width)
        try check("n_shared_experts", nSharedExperts, 0...ConfigLimits.experts)
        try check("n_shared_experts x moe_intermediate_size", nSharedExperts * moeIntermediateSize, 0...ConfigLimits.width)
        try check("num_nextn_predict_layers", nextTokenPredictionLayers, 0...ConfigLimits.layers)
        try GroupedRouter.validate(groups: nGroup, groupsPerToken: topkGroup, experts: base.numExperts, k: base.expertsPerToken,
                                   scalingFactor: routedScalingFactor, minGroupSize: version == 3 ? 2 : 1, family: family)
        guard hiddenAct == "silu" else { throw .unsupportedFeature("hidden_act '\(hiddenAct)' (DeepSeek MLPs are SiLU-gated)") }
        if mlpBias { throw .unsupportedFeature("DeepSeek-V2 with mlp_bias") }
        if version == 3 {
            guard scoringFunc == "sigmoid" else { throw .unsupportedFeature("deepseek_v3 with scoring_func '\(scoringFunc)' (transformers computes sigmoid scores)") }
            guard topkMethod == "noaux_tc" else { throw .unsupportedFeature("deepseek_v3 with topk_method '\(topkMethod)' (only noaux_tc)") }
        } else {
            guard scoringFunc == "softmax" else { throw .unsupportedFeature("deepseek_v2 with scoring_func '\(scoringFunc)' (only softmax)") }
            guard topkMethod == "greedy" || topkMethod == "group_limited_greedy" else {
                throw .unsupportedFeature("deepseek_v2 with topk_method '\(topkMethod)' (greedy or group_limited_greedy)")
            }
        }
    }

    /// The softmax scale: `1/sqrt(qk_head_dim)`, times `mscale²` when YaRN (`DecoderBase.yarn`, the one reading of
    /// `rope_scaling`) sets `mscale_all_dim` (transformers' `yarn_get_mscale(factor, mscale_all_dim)`).
    func softmaxScale(_ yarn: YaRN?) -> Float {
        var scale = 1 / Double(qkHeadDim).squareRoot()
        if let y = yarn, let m = y.mscaleAllDim, m != 0 {
            let mscale = YaRN.mscale(y.factor, m)
            scale *= mscale * mscale
        }
        return Float(scale)
    }

    func spec(_ base: DecoderBase) throws(ModelError) -> DecoderSpec {
        let v3 = version == 3
        var spec = base.spec(qkvBias: false, outputBias: false, qkNorm: .none, router: .normTopKProb(normTopKProb),
                             sharedExpertIntermediate: nSharedExperts > 0 ? nSharedExperts * moeIntermediateSize : nil,
                             routerNames: mlpRouterName)
        spec.kvHeads = base.numHeads
        spec.mla = MLASpec(qLoraRank: qLoraRank,
                           shape: LatentShape(heads: base.numHeads, rank: kvLoraRank, nope: qkNopeHeadDim, rope: qkRopeHeadDim, value: vHeadDim),
                           interleavedRoPE: ropeInterleave, attentionBias: attentionBias, scale: softmaxScale(base.yarn))
        spec.groupedRouter = v3
            ? .sigmoidGrouped(groups: nGroup, groupsPerToken: topkGroup, renormalize: normTopKProb, scalingFactor: routedScalingFactor)
            : GroupedRouter(scoring: .softmax, groups: topkMethod == "group_limited_greedy" ? nGroup : 1, groupsPerToken: topkGroup,
                            groupScore: .max, selectionBias: false, renormalize: normTopKProb,
                            scalingFactor: Float(routedScalingFactor), scaleRenormalized: false)
        spec.sharedExpertPrefix = "mlp.shared_experts."
        spec.sharedExpertGated = false
        return spec
    }

    /// A tensor of the multi-token-prediction layers hub checkpoints append (`model.layers.{num_hidden_layers...}`,
    /// DeepSeek-V3's `model.layers.61`, GLM-4.5's `model.layers.92`): transformers drops them on load, so does the packer.
    static func isNextTokenPredictionLayer(_ tensor: String, layers: Int) -> Bool {
        guard tensor.hasPrefix("model.layers.") else { return false }
        let rest = tensor.dropFirst("model.layers.".count)
        guard let l = Int(rest.prefix { $0.isNumber }) else { return false }
        return l >= layers
    }
}
