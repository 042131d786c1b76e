import Foundation

/// OLMoE (allenai/OLMoE-1B-7B): attention with RMSNorm over the whole q and k projections (not per head),
/// optional `clip_qkv` (applied after the norms); every layer is MoE with 64 small experts, top-8,
/// `norm_topk_prob` false by default.
///
///     q = clip(RMSNorm_d(W_q · y)),  k = clip(RMSNorm_kv(W_k · y)),  v = clip(W_v · y)
///     p = softmax(W_g · y);  K = topk(p, k);  w_i = norm_topk_prob ? p_i / Σ_K p_j : p_i
public struct OLMoEConfig: DecoderFamily {
    public static let family = ModelFamily.olmoe
    public let base: DecoderBase
    public let clipQKV: Double?
    public let attentionBias: Bool

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 1024, experts: 64, expertsPerToken: 8, eps: 1e-5, ropeTheta: 10000))
        clipQKV = try decoder.optional("clip_qkv")
        attentionBias = try decoder.optional("attention_bias") ?? false
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { base.intermediateSize }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        // transformers normalises q over hidden_size and k over (hidden / heads) * kv_heads.
        guard base.numHeads * base.headDim == base.hiddenSize else {
            throw .unsupportedFeature("OLMoE with num_attention_heads * head_dim != hidden_size")
        }
        return base.spec(qkvBias: attentionBias, outputBias: attentionBias, qkNorm: .wholeProjection, clipQKV: clipQKV.map(Float.init),
                         router: .normTopKProb(base.normTopKProb), routerNames: mlpRouterName)
    }
}
