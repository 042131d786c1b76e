import Foundation

/// OLMoE (allenai/OLMoE-1B-7B): attention with RMSNorm over the whole q and k projections (not per head),
/// optional `clip_qkv`; every layer is MoE with 64 small experts, top-8, `norm_topk_prob` false by default.
///
///     q = RMSNorm_d(W_q · y),  k = RMSNorm_kv(W_k · y)
///     p = softmax(W_g · y);  K = topk(p, k);  w_i = norm_topk_prob ? p_i / Σ_K p_j : p_i
public struct OLMoEConfig: FamilyConfig, Decodable {
    public static let family = ModelFamily.olmoe
    public let hiddenSize: Int
    public let intermediateSize: Int
    public let numLayers: Int
    public let numHeads: Int
    public let numKVHeads: Int
    public let headDim: Int
    public let numExperts: Int
    public let expertsPerToken: Int
    public let normTopKProb: Bool
    public let clipQKV: Double?
    public let vocabSize: Int
    public let rmsNormEps: Double
    public let ropeTheta: Double
    public let tieWordEmbeddings: Bool
    public let attentionBias: Bool

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numLayers = "num_hidden_layers"
        case numHeads = "num_attention_heads", numKVHeads = "num_key_value_heads", headDim = "head_dim"
        case numExperts = "num_experts", numExpertsAlt = "num_local_experts", expertsPerToken = "num_experts_per_tok", normTopKProb = "norm_topk_prob"
        case clipQKV = "clip_qkv", vocabSize = "vocab_size", rmsNormEps = "rms_norm_eps"
        case tieWordEmbeddings = "tie_word_embeddings", attentionBias = "attention_bias"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? 1024
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        numKVHeads = try c.decodeIfPresent(Int.self, forKey: .numKVHeads) ?? numHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(numHeads, 1)
        numExperts = try c.decodeIfPresent(Int.self, forKey: .numExperts) ?? c.decodeIfPresent(Int.self, forKey: .numExpertsAlt) ?? 64
        expertsPerToken = try c.decodeIfPresent(Int.self, forKey: .expertsPerToken) ?? 8
        normTopKProb = try c.decodeIfPresent(Bool.self, forKey: .normTopKProb) ?? false
        clipQKV = try c.decodeIfPresent(Double.self, forKey: .clipQKV)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? 1e-5
        ropeTheta = try RopeKeys(from: decoder).theta ?? 10000
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
    }

    public func isMoELayer(_ layer: Int) -> Bool { true }

    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }

    public func expertIntermediate(layer: Int) -> Int { intermediateSize }

    public func validate() throws(ModelError) { try validateCommon(headCount: numHeads, kvHeads: numKVHeads) }
}

extension OLMoEConfig: DecoderFamily {
    public func decoderSpec() throws(ModelError) -> DecoderSpec {
        // transformers normalises q over hidden_size and k over (hidden / heads) * kv_heads.
        guard numHeads * headDim == hiddenSize else {
            throw .unsupportedFeature("OLMoE with num_attention_heads * head_dim != hidden_size")
        }
        return DecoderSpec(hidden: hiddenSize, layers: numLayers, heads: numHeads, kvHeads: numKVHeads, headDim: headDim, vocab: vocabSize,
                           eps: Float(rmsNormEps), ropeTheta: ropeTheta, qkvBias: attentionBias, outputBias: attentionBias,
                           qkNorm: .wholeProjection, clipQKV: clipQKV.map(Float.init), window: Array(repeating: nil, count: numLayers),
                           experts: numExperts, expertsPerToken: expertsPerToken, router: .normTopKProb(normTopKProb),
                           moeLayers: Set(0..<numLayers), denseIntermediate: intermediateSize, sharedExpertIntermediate: nil,
                           tieEmbeddings: tieWordEmbeddings, routerNames: mlpRouterName)
    }
}
