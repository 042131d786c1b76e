import Foundation

/// Qwen3-MoE (Qwen3-30B-A3B, Qwen3-235B-A22B): attention with per-head RMSNorm on q and k, explicit
/// `head_dim`, no qkv bias by default; MoE layers without a shared expert; `mlp_only_layers` stay dense.
///
///     q = RMSNorm_head(W_q · y),  k = RMSNorm_head(W_k · y)     (per head, over head_dim)
///     p = softmax(W_g · y);  K = topk(p, k);  w_i = norm_topk_prob ? p_i / Σ_K p_j : p_i
public struct Qwen3MoEConfig: FamilyConfig, Decodable {
    public static let family = ModelFamily.qwen3Moe
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let moeIntermediateSize: Int
    public let numLayers: Int
    public let numHeads: Int
    public let numKVHeads: Int
    public let headDim: Int
    public let attentionBias: Bool
    public let numExperts: Int
    public let expertsPerToken: Int
    public let normTopKProb: Bool
    public let decoderSparseStep: Int
    public let mlpOnlyLayers: [Int]
    public let vocabSize: Int
    public let rmsNormEps: Double
    public let ropeTheta: Double
    public let tieWordEmbeddings: Bool
    public let useSlidingWindow: Bool

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", moeIntermediateSize = "moe_intermediate_size"
        case numLayers = "num_hidden_layers", numHeads = "num_attention_heads", numKVHeads = "num_key_value_heads"
        case headDim = "head_dim", attentionBias = "attention_bias"
        case numExperts = "num_experts", numExpertsAlt = "num_local_experts", expertsPerToken = "num_experts_per_tok", normTopKProb = "norm_topk_prob"
        case decoderSparseStep = "decoder_sparse_step", mlpOnlyLayers = "mlp_only_layers", vocabSize = "vocab_size"
        case rmsNormEps = "rms_norm_eps", tieWordEmbeddings = "tie_word_embeddings"
        case useSlidingWindow = "use_sliding_window"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 6144
        moeIntermediateSize = try c.decodeIfPresent(Int.self, forKey: .moeIntermediateSize) ?? 768
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        numKVHeads = try c.decodeIfPresent(Int.self, forKey: .numKVHeads) ?? numHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(numHeads, 1)
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        numExperts = try c.decodeIfPresent(Int.self, forKey: .numExperts) ?? c.decodeIfPresent(Int.self, forKey: .numExpertsAlt) ?? 128
        expertsPerToken = try c.decodeIfPresent(Int.self, forKey: .expertsPerToken) ?? 8
        normTopKProb = try c.decodeIfPresent(Bool.self, forKey: .normTopKProb) ?? false
        decoderSparseStep = try c.decodeIfPresent(Int.self, forKey: .decoderSparseStep) ?? 1
        mlpOnlyLayers = try c.decodeIfPresent([Int].self, forKey: .mlpOnlyLayers) ?? []
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        ropeTheta = try RopeKeys(from: decoder).theta ?? 1e6
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
    }

    public func isMoELayer(_ layer: Int) -> Bool {
        !mlpOnlyLayers.contains(layer) && numExperts > 0 && (layer + 1) % max(decoderSparseStep, 1) == 0
    }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { moeIntermediateSize }

    public func validate() throws(ModelError) {
        try validateCommon(headCount: numHeads, kvHeads: numKVHeads)
        guard decoderSparseStep >= 1 else { throw .badConfig(family: Self.family.rawValue, reason: "decoder_sparse_step must be >= 1") }
    }
}

extension Qwen3MoEConfig: DecoderFamily {
    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        if useSlidingWindow { throw .unsupportedFeature("Qwen3-MoE with use_sliding_window") }
        return DecoderSpec(hidden: hiddenSize, layers: numLayers, heads: numHeads, kvHeads: numKVHeads, headDim: headDim, vocab: vocabSize,
                           eps: Float(rmsNormEps), ropeTheta: ropeTheta, qkvBias: attentionBias, outputBias: attentionBias, qkNorm: .perHead,
                           clipQKV: nil, window: Array(repeating: nil, count: numLayers), experts: numExperts,
                           expertsPerToken: expertsPerToken, router: .normTopKProb(normTopKProb), moeLayers: Set(moeLayers),
                           denseIntermediate: intermediateSize, sharedExpertIntermediate: nil, tieEmbeddings: tieWordEmbeddings,
                           routerNames: mlpRouterName)
    }
}
