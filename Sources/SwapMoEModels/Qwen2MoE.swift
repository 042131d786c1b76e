import Foundation

/// Qwen2-MoE (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): Qwen2 attention (q/k/v bias, GQA, RoPE); MoE layers with
/// fine-grained experts plus one shared expert gated by a sigmoid. Layers listed in `mlp_only_layers`, or not
/// on the `decoder_sparse_step` grid, are dense SwiGLU MLPs of width `intermediate_size`.
///
///     p   = softmax(W_g · y);  K = topk(p, k);  w_i = norm_topk_prob ? p_i / Σ_K p_j : p_i
///     moe = Σ_{i∈K} w_i · E_i(y) + σ(w_s · y) · E_shared(y)
public struct Qwen2MoEConfig: DecoderFamily {
    public static let family = ModelFamily.qwen2Moe
    public let base: DecoderBase
    public let moeIntermediateSize: Int
    public let sharedExpertIntermediateSize: Int
    public let qkvBias: Bool
    public let useSlidingWindow: Bool

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 5632, experts: 60, expertsPerToken: 4, eps: 1e-6, ropeTheta: 1e6))
        moeIntermediateSize = try decoder.optional("moe_intermediate_size") ?? 1408
        sharedExpertIntermediateSize = try decoder.optional("shared_expert_intermediate_size") ?? 5632
        qkvBias = try decoder.optional("qkv_bias") ?? true
        useSlidingWindow = try decoder.optional("use_sliding_window") ?? false
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { moeIntermediateSize }
    public var expertIntermediateKey: String { "moe_intermediate_size" }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        if useSlidingWindow { throw .unsupportedFeature("Qwen2-MoE with use_sliding_window") }
        return base.spec(qkvBias: qkvBias, outputBias: false, qkNorm: .none, router: .normTopKProb(base.normTopKProb),
                         sharedExpertIntermediate: sharedExpertIntermediateSize, routerNames: mlpRouterName)
    }
}
