import Foundation

/// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): attention with per-head RMSNorm on q and k, explicit
/// `head_dim`, no qkv bias by default; MoE layers without a shared expert; `mlp_only_layers` stay dense.
///
///     q = RMSNorm_head(W_q · y),  k = RMSNorm_head(W_k · y)     (per head, over head_dim)
///     p = softmax(W_g · y);  K = topk(p, k);  w_i = norm_topk_prob ? p_i / Σ_K p_j : p_i
public struct Qwen3MoEConfig: DecoderFamily {
    public static let family = ModelFamily.qwen3Moe
    public let base: DecoderBase
    public let moeIntermediateSize: Int
    public let attentionBias: Bool
    public let useSlidingWindow: Bool

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 6144, experts: 128, expertsPerToken: 8, eps: 1e-6, ropeTheta: 1e6))
        moeIntermediateSize = try decoder.optional("moe_intermediate_size") ?? 768
        attentionBias = try decoder.optional("attention_bias") ?? false
        useSlidingWindow = try decoder.optional("use_sliding_window") ?? false
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { moeIntermediateSize }
    public var expertIntermediateKey: String { "moe_intermediate_size" }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        if useSlidingWindow { throw .unsupportedFeature("Qwen3-MoE with use_sliding_window") }
        return base.spec(qkvBias: attentionBias, outputBias: attentionBias, qkNorm: .perHead, router: .normTopKProb(base.normTopKProb),
                         routerNames: mlpRouterName)
    }
}
