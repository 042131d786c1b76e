import Foundation

/// Mixtral (mistralai/Mixtral-8x7B and relatives): Llama attention with GQA and RoPE; every layer's MLP is
/// a sparse MoE block. Router: softmax over all experts, top-k, renormalise the k weights to sum to one.
///
///     h   = x + Attn(RMSNorm(x))
///     p   = softmax(W_g · RMSNorm(h));  K = topk(p, k);  w_i = p_i / Σ_{j∈K} p_j
///     out = h + Σ_{i∈K} w_i · W2_i (silu(W1_i · y) ⊙ W3_i · y),  y = RMSNorm(h)
public struct MixtralConfig: FamilyConfig, Decodable {
    public static let family = ModelFamily.mixtral
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let numLayers: Int
    public let numHeads: Int
    public let numKVHeads: Int
    public let headDim: Int
    public let numExperts: Int
    public let expertsPerToken: Int
    public let vocabSize: Int
    public let rmsNormEps: Double
    public let ropeTheta: Double
    public let maxPositions: Int
    public let tieWordEmbeddings: Bool
    /// Attention window (transformers' `sliding_window`; nil or 0 = full attention).
    public let slidingWindow: Int?

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numLayers = "num_hidden_layers"
        case numHeads = "num_attention_heads", numKVHeads = "num_key_value_heads", headDim = "head_dim"
        case numExperts = "num_local_experts", numExpertsAlt = "num_experts", expertsPerToken = "num_experts_per_tok", vocabSize = "vocab_size"
        case rmsNormEps = "rms_norm_eps", maxPositions = "max_position_embeddings", tieWordEmbeddings = "tie_word_embeddings"
        case slidingWindow = "sliding_window"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        numKVHeads = try c.decodeIfPresent(Int.self, forKey: .numKVHeads) ?? numHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(numHeads, 1)
        numExperts = try c.decodeIfPresent(Int.self, forKey: .numExperts) ?? c.decodeIfPresent(Int.self, forKey: .numExpertsAlt) ?? 8
        expertsPerToken = try c.decodeIfPresent(Int.self, forKey: .expertsPerToken) ?? 2
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-5
        ropeTheta = try RopeKeys(from: decoder).theta ?? 1e6
        maxPositions = try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? 32768
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        slidingWindow = (try c.decodeIfPresent(Int.self, forKey: .slidingWindow)).flatMap { $0 > 0 ? $0 : nil }
    }

    public func isMoELayer(_ layer: Int) -> Bool { true }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.block_sparse_moe.experts.{e}.", "model.layers.{l}.mlp.experts.{e}."],
                fused: ["model.layers.{l}.mlp.experts.", "model.layers.{l}.block_sparse_moe.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { intermediateSize }

    public func validate() throws(ModelError) { try validateCommon(headCount: numHeads, kvHeads: numKVHeads) }
}

extension MixtralConfig: DecoderFamily {
    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        DecoderSpec(hidden: hiddenSize, layers: numLayers, heads: numHeads, kvHeads: numKVHeads, headDim: headDim, vocab: vocabSize,
                    eps: Float(rmsNormEps), ropeTheta: ropeTheta, qkvBias: false, outputBias: false, qkNorm: .none, clipQKV: nil,
                    window: Array(repeating: slidingWindow, count: numLayers), experts: numExperts, expertsPerToken: expertsPerToken,
                    router: .renormalize, moeLayers: Set(0..<numLayers), denseIntermediate: intermediateSize,
                    sharedExpertIntermediate: nil, tieEmbeddings: tieWordEmbeddings,
                    routerNames: { ["model.layers.\($0).block_sparse_moe.gate.weight", "model.layers.\($0).mlp.gate.weight"] })
    }
}
