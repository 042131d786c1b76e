import Foundation
import SwapMoEKernels

/// The `config.json` keys every MoE decoder family shares, decoded in one place. Families differ only in their
/// defaults (what transformers assumes when a key is absent) and in a few keys of their own.
///
/// Expert counts are read from `num_experts` or `num_local_experts`: hub Qwen3-MoE configs write the first,
/// transformers 5 writes the second for the same model. RoPE's base is `rope_theta` (transformers 4.x, hub) or
/// `rope_parameters.rope_theta` (transformers 5).
public struct DecoderBase: Sendable {
    public let hiddenSize: Int
    /// Width of dense MLPs (and of the experts in families without `moe_intermediate_size`).
    public let intermediateSize: Int
    public let numLayers: Int
    public let numHeads: Int
    public let numKVHeads: Int
    /// `head_dim` (absent: hidden / heads); for MLA families the width RoPE rotates (`qk_rope_head_dim`).
    public internal(set) var headDim: Int
    public let numExperts: Int
    public let expertsPerToken: Int
    public let vocabSize: Int
    public let rmsNormEps: Double
    public let ropeTheta: Double
    public let tieWordEmbeddings: Bool
    public let normTopKProb: Bool
    public let decoderSparseStep: Int
    public let mlpOnlyLayers: [Int]
    /// DeepSeek / GLM-4.5: the first `first_k_dense_replace` layers are dense, then every `moe_layer_freq`-th is MoE.
    public let firstKDenseReplace: Int
    public let moeLayerFreq: Int
    /// The positions the model was trained for (`max_position_embeddings`), when the config says.
    public let maxPositionEmbeddings: Int?
    /// A RoPE scaling kind (`yarn`, `linear`, ...); nil for plain RoPE. Only `yarn`, and only for the families in
    /// `yarnFamilies`, is implemented.
    public let ropeScaling: String?
    /// YaRN's parameters when `ropeScaling` is `yarn`.
    public let yarn: YaRN?
    /// The families whose transformers code applies YaRN (the others are refused with it).
    static let yarnFamilies: Set<ModelFamily> = [.gptOss, .deepseekV3, .deepseekV2, .glm4Moe]
    /// LongRoPE's parameters when `ropeScaling` is `longrope` (only Phi-3.5-MoE's family applies it).
    public let longRoPE: LongRoPE?

    /// transformers' defaults for one family.
    struct Defaults {
        var intermediate: Int
        var experts: Int
        var expertsPerToken: Int
        var eps: Double
        var ropeTheta: Double
    }

    enum Keys: String, CodingKey {
        case hiddenSize = "hidden_size", intermediateSize = "intermediate_size", numLayers = "num_hidden_layers"
        case numHeads = "num_attention_heads", numKVHeads = "num_key_value_heads", headDim = "head_dim"
        case numExperts = "num_experts", numLocalExperts = "num_local_experts", expertsPerToken = "num_experts_per_tok"
        case vocabSize = "vocab_size", rmsNormEps = "rms_norm_eps", tieWordEmbeddings = "tie_word_embeddings"
        case normTopKProb = "norm_topk_prob", decoderSparseStep = "decoder_sparse_step", mlpOnlyLayers = "mlp_only_layers"
        case maxPositionEmbeddings = "max_position_embeddings"
        case nRoutedExperts = "n_routed_experts", firstKDenseReplace = "first_k_dense_replace", moeLayerFreq = "moe_layer_freq"
    }

    init(from decoder: Decoder, defaults d: Defaults) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediate
        numLayers = try c.decode(Int.self, forKey: .numLayers)
        numHeads = try c.decode(Int.self, forKey: .numHeads)
        numKVHeads = try c.decodeIfPresent(Int.self, forKey: .numKVHeads) ?? numHeads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / max(numHeads, 1)
        numExperts = try c.decodeIfPresent(Int.self, forKey: .numExperts) ?? c.decodeIfPresent(Int.self, forKey: .numLocalExperts)
            ?? c.decodeIfPresent(Int.self, forKey: .nRoutedExperts) ?? d.experts
        expertsPerToken = try c.decodeIfPresent(Int.self, forKey: .expertsPerToken) ?? d.expertsPerToken
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        rmsNormEps = try c.decodeIfPresent(Double.self, forKey: .rmsNormEps) ?? d.eps
        let rope = try RopeKeys(from: decoder)
        ropeTheta = rope.theta ?? d.ropeTheta
        ropeScaling = rope.scaling
        yarn = rope.yarn
        longRoPE = rope.longRoPE
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        normTopKProb = try c.decodeIfPresent(Bool.self, forKey: .normTopKProb) ?? false
        decoderSparseStep = try c.decodeIfPresent(Int.self, forKey: .decoderSparseStep) ?? 1
        mlpOnlyLayers = try c.decodeIfPresent([Int].self, forKey: .mlpOnlyLayers) ?? []
        firstKDenseReplace = try c.decodeIfPresent(Int.self, forKey: .firstKDenseReplace) ?? 0
        moeLayerFreq = try c.decodeIfPresent(Int.self, forKey: .moeLayerFreq) ?? 1
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings)
    }

    /// transformers (Qwen2/3-MoE): `layer not in mlp_only_layers and num_experts > 0 and (layer + 1) % decoder_sparse_step == 0`.
    /// Mixtral and OLMoE configs have neither key, so every layer is sparse for them. DeepSeek's reference code
    /// (and GLM-4.5's): `layer >= first_k_dense_replace and layer % moe_layer_freq == 0` (transformers reads only
    /// the first; every hub config has `moe_layer_freq` 1); both keys are absent from the other families.
    public func isMoELayer(_ layer: Int) -> Bool {
        !mlpOnlyLayers.contains(layer) && numExperts > 0 && (layer + 1) % max(decoderSparseStep, 1) == 0
            && layer >= firstKDenseReplace && layer % max(moeLayerFreq, 1) == 0
    }

    /// Checks shared by every family: every size within `ConfigLimits`, the head and expert counts consistent.
    func validate(family: ModelFamily) throws(ModelError) {
        let name = family.rawValue
        func check(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws(ModelError) {
            try ConfigLimits.check(family, key, value, range)
        }
        try check("hidden_size", hiddenSize, 1...ConfigLimits.width)
        try check("intermediate_size", intermediateSize, 1...ConfigLimits.width)
        try check("num_hidden_layers", numLayers, 1...ConfigLimits.layers)
        try check("vocab_size", vocabSize, 1...ConfigLimits.vocab)
        try check("num_attention_heads", numHeads, 1...ConfigLimits.heads)
        try check("num_key_value_heads", numKVHeads, 1...numHeads)
        guard numHeads % numKVHeads == 0 else {
            throw .badConfig(family: name, reason: "num_attention_heads (\(numHeads)) must be a multiple of num_key_value_heads (\(numKVHeads))")
        }
        try check("head_dim", headDim, 2...ConfigLimits.width)
        // RoPE rotates pairs of dimensions.
        guard headDim % 2 == 0 else { throw .badConfig(family: name, reason: "head_dim \(headDim) must be even (RoPE rotates pairs)") }
        try check("num_attention_heads x head_dim", numHeads * headDim, 1...ConfigLimits.width)
        try check("the expert count (num_experts / num_local_experts)", numExperts, 1...ConfigLimits.experts)
        try check("num_experts_per_tok", expertsPerToken, 1...numExperts)
        try check("decoder_sparse_step", decoderSparseStep, 1...Int.max)
        try check("first_k_dense_replace", firstKDenseReplace, 0...numLayers)
        try check("moe_layer_freq", moeLayerFreq, 1...ConfigLimits.layers)
        if let p = maxPositionEmbeddings { try check("max_position_embeddings", p, 1...ConfigLimits.positions) }
        guard rmsNormEps.isFinite, rmsNormEps >= 0 else { throw .badConfig(family: name, reason: "rms_norm_eps \(rmsNormEps) must be a finite number >= 0") }
        guard ropeTheta.isFinite, ropeTheta > 0 else { throw .badConfig(family: name, reason: "rope_theta \(ropeTheta) must be a finite number > 0") }
        if let s = ropeScaling, !(s == "yarn" && DecoderBase.yarnFamilies.contains(family)) && !(s == "longrope" && family == .phimoe) {
            throw .unsupportedFeature("RoPE scaling '\(s)' (rope_scaling / rope_parameters.rope_type)")
        }
        if let y = yarn { try validate(y, family: family) }
        if let l = longRoPE { try validate(l, family: family) }
    }

    /// LongRoPE's parameters: one short and one long factor per rotated pair, all finite and > 0.
    private func validate(_ r: LongRoPE, family: ModelFamily) throws(ModelError) {
        func bad(_ reason: String) -> ModelError { .badConfig(family: family.rawValue, reason: reason) }
        try ConfigLimits.check(family, "rope_scaling.original_max_position_embeddings", r.originalMaxPositions, 1...ConfigLimits.positions)
        for (key, list) in [("short_factor", r.shortFactor), ("long_factor", r.longFactor)] {
            guard list.count == headDim / 2 else { throw bad("rope_scaling.\(key) has \(list.count) entries; LongRoPE needs head_dim / 2 = \(headDim / 2)") }
            if let v = list.first(where: { !$0.isFinite || $0 <= 0 }) { throw bad("rope_scaling.\(key) has \(v); every factor must be a finite number > 0") }
        }
        let values: [(String, Double?)] = [("factor", r.factor), ("attention_factor", r.attentionFactor), ("short_mscale", r.shortMscale),
                                           ("long_mscale", r.longMscale)]
        for case let (key, v?) in values where !v.isFinite || v < 0 {
            throw bad("rope_scaling.\(key) \(v) must be a finite number >= 0")
        }
    }

    /// YaRN's parameters: finite, a factor >= 1, an original context within bounds.
    private func validate(_ y: YaRN, family: ModelFamily) throws(ModelError) {
        try ConfigLimits.check(family, "rope_scaling.original_max_position_embeddings", y.originalMaxPositions, 1...ConfigLimits.positions)
        let values: [(String, Double?)] = [("factor", y.factor), ("beta_fast", y.betaFast), ("beta_slow", y.betaSlow), ("mscale", y.mscale),
                                           ("mscale_all_dim", y.mscaleAllDim), ("attention_factor", y.attentionFactor)]
        for case let (key, v?) in values where !v.isFinite || v < 0 {
            throw .badConfig(family: family.rawValue, reason: "rope_scaling.\(key) \(v) must be a finite number >= 0")
        }
        guard y.factor >= 1 else { throw .badConfig(family: family.rawValue, reason: "rope_scaling.factor \(y.factor) must be >= 1 (YaRN extends the context)") }
    }

    /// The parts of a `DecoderSpec` every family fills the same way.
    func spec(qkvBias: Bool, outputBias: Bool, qkNorm: DecoderSpec.QKNorm, clipQKV: Float? = nil, window: Int? = nil,
              router: DecoderSpec.RouterRule, sharedExpertIntermediate: Int? = nil,
              routerNames: @escaping @Sendable (Int) -> [String]) -> DecoderSpec {
        var s = DecoderSpec(hidden: hiddenSize, layers: numLayers, heads: numHeads, kvHeads: numKVHeads, headDim: headDim, vocab: vocabSize,
                    eps: Float(rmsNormEps), ropeTheta: ropeTheta, qkvBias: qkvBias, outputBias: outputBias, qkNorm: qkNorm,
                    clipQKV: clipQKV, window: Array(repeating: window, count: numLayers), experts: numExperts,
                    expertsPerToken: expertsPerToken, router: router, moeLayers: Set((0..<numLayers).filter(isMoELayer)),
                    denseIntermediate: intermediateSize, sharedExpertIntermediate: sharedExpertIntermediate,
                    tieEmbeddings: tieWordEmbeddings, routerNames: routerNames)
        s.ropeScaling = yarn.map { .yarn($0) } ?? longRoPE.map { .longRoPE($0) }
        return s
    }
}

/// Family keys beyond `DecoderBase`, decoded with their own small key sets.
struct ExtraKeys: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// The value of a family-specific key, or nil when absent or null.
    func optional<T: Decodable>(_ key: String, _: T.Type = T.self) throws -> T? {
        try container(keyedBy: ExtraKeys.self).decodeIfPresent(T.self, forKey: ExtraKeys(key))
    }
}
