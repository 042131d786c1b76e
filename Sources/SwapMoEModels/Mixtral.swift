import Foundation

/// Mixtral (mistralai/Mixtral-8x7B and relatives): Llama attention with GQA and RoPE; every layer's MLP is
/// a sparse MoE block. Router: softmax over all experts, top-k, renormalise the k weights to sum to one.
///
///     h   = x + Attn(RMSNorm(x))
///     p   = softmax(W_g · RMSNorm(h));  K = topk(p, k);  w_i = p_i / Σ_{j∈K} p_j
///     out = h + Σ_{i∈K} w_i · W2_i (silu(W1_i · y) ⊙ W3_i · y),  y = RMSNorm(h)
public struct MixtralConfig: DecoderFamily {
    public static let family = ModelFamily.mixtral
    public let base: DecoderBase
    /// Attention window (transformers' `sliding_window`; absent, null or 0 = full attention).
    public let slidingWindow: Int?

    public init(from decoder: Decoder) throws {
        base = try DecoderBase(from: decoder, defaults: .init(intermediate: 14336, experts: 8, expertsPerToken: 2, eps: 1e-5, ropeTheta: 1e6))
        slidingWindow = try decoder.optional("sliding_window", Int.self).flatMap { $0 > 0 ? $0 : nil }
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.block_sparse_moe.experts.{e}.", "model.layers.{l}.mlp.experts.{e}."],
                fused: ["model.layers.{l}.mlp.experts.", "model.layers.{l}.block_sparse_moe.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { base.intermediateSize }

    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        base.spec(qkvBias: false, outputBias: false, qkNorm: .none, window: slidingWindow, router: .renormalize,
                  routerNames: { ["model.layers.\($0).block_sparse_moe.gate.weight", "model.layers.\($0).mlp.gate.weight"] })
    }
}
