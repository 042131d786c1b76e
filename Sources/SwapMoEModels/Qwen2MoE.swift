import Foundation

/// Qwen2-MoE (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): Qwen2 attention (q/k/v bias, GQA, RoPE); MoE layers with
/// fine-grained experts plus one shared expert gated by a sigmoid. Layers listed in `mlp_only_layers`, or not
/// on the `decoder_sparse_step` grid, are dense SwiGLU MLPs of width `intermediate_size`.
///
///     p   = softmax(W_g · y);  K = topk(p, k);  w_i = norm_topk_prob ? p_i / Σ_K p_j : p_i
///     moe = Σ_{i∈K} w_i · E_i(y) + σ(w_s · y) · E_shared(y)
public struct Qwen2MoEConfig: FamilyConfig, Decodable {
    public static let family = ModelFamily.qwen2Moe
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let moeIntermediateSize: Int
    public let sharedExpertIntermediateSize: Int
    public let numLayers: Int
    public let numHeads: Int
    public let numKVHeads: Int
    public let headDim: Int
    public let numExperts: Int
    public let expertsPerToken: Int
    public let normTopKProb: Bool
    public let decoderSparseStep: Int
    public let mlpOnlyLayers: [Int]
    public let vocabSize: Int
    public let rmsNormEps: Double
    public let ropeTheta: Double
    public let tieWordEmbeddings: Bool
    public let qkvBias: Bool
    public let useSlidingWindow: Bool

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", moeIntermediateSize = "moe_intermediate_size"
        case sharedExpertIntermediateSize = "shared_expert_intermediate_size", numLayers = "num_hidden_layers"
        case numHeads = "num_attention_heads", numKVHeads = "num_key_value_heads", headDim = "head_dim"
        case numExperts = "num_experts", numExpertsAlt = "num_local_experts", expertsPerToken = "num_experts_per_tok", normTopKProb = "norm_topk_prob"
        case decoderSparseStep = "decoder_sparse_step", mlpOnlyLayers = "mlp_only_layers", vocabSize = "vocab_size"
        case rmsNormEps = "rms_norm_eps", tieWordEmbeddings = "tie_word_embeddings"
        case qkvBias = "qkv_bias", useSlidingWindow = "use_sliding_window"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 5632
        moeIntermediateSize = try c.decodeIfPresent(Int.self, forKey: .moeIntermediateSize) ?? 1408
        sharedExpertIntermediateSize = try c.decodeIfPresent(Int.self, forKey: .sharedExpertIntermediateSize) ?? 5632
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        numKVHeads = try c.decodeIfPresent(Int.self, forKey: .numKVHeads) ?? numHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(numHeads, 1)
        numExperts = try c.decodeIfPresent(Int.self, forKey: .numExperts) ?? c.decodeIfPresent(Int.self, forKey: .numExpertsAlt) ?? 60
        expertsPerToken = try c.decodeIfPresent(Int.self, forKey: .expertsPerToken) ?? 4
        normTopKProb = try c.decodeIfPresent(Bool.self, forKey: .normTopKProb) ?? false
        decoderSparseStep = try c.decodeIfPresent(Int.self, forKey: .decoderSparseStep) ?? 1
        mlpOnlyLayers = try c.decodeIfPresent([Int].self, forKey: .mlpOnlyLayers) ?? []
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-6
        ropeTheta = try RopeKeys(from: decoder).theta ?? 1e6
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        qkvBias = try c.decodeIfPresent(Bool.self, forKey: .qkvBias) ?? true
        useSlidingWindow = try c.decodeIfPresent(Bool.self, forKey: .useSlidingWindow) ?? false
    }

    /// transformers: `layer not in mlp_only_layers and num_experts > 0 and (layer + 1) % decoder_sparse_step == 0`.
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

extension Qwen2MoEConfig: DecoderFamily {
    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        if useSlidingWindow { throw .unsupportedFeature("Qwen2-MoE with use_sliding_window") }
        return DecoderSpec(hidden: hiddenSize, layers: numLayers, heads: numHeads, kvHeads: numKVHeads, headDim: headDim, vocab: vocabSize,
                           eps: Float(rmsNormEps), ropeTheta: ropeTheta, qkvBias: qkvBias, outputBias: false, qkNorm: .none, clipQKV: nil,
                           window: Array(repeating: nil, count: numLayers), experts: numExperts, expertsPerToken: expertsPerToken,
                           router: .normTopKProb(normTopKProb), moeLayers: Set(moeLayers), denseIntermediate: intermediateSize,
                           sharedExpertIntermediate: sharedExpertIntermediateSize, tieEmbeddings: tieWordEmbeddings, routerNames: mlpRouterName)
    }
}
