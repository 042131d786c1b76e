import Foundation
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive
import SwapMoEKernels

/// The model families swapmoe understands, by the `model_type` string of their `config.json`.
public enum ModelFamily: String, Sendable, CaseIterable, Codable {
    case mixtral
    case qwen2Moe = "qwen2_moe"
    case qwen3Moe = "qwen3_moe"
    case olmoe
    case gptOss = "gpt_oss"
    case switchTransformers = "switch_transformers"
    case deepseekV3 = "deepseek_v3"
    case deepseekV2 = "deepseek_v2"
    case glm4Moe = "glm4_moe"
    case phimoe
    case qwen3Next = "qwen3_next"

    /// Other `model_type` strings of checkpoints that are one of these families: Kimi-K2's config says `kimi_k2`
    /// for DeepSeek-V3's architecture (`DeepseekV3ForCausalLM`, with its own remote code of the same equations).
    static let aliases: [String: ModelFamily] = ["kimi_k2": .deepseekV3]

    /// The `model_type` strings accepted, as listed to a user whose model is not one of them.
    public static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Decodes the typed config of this family from `config.json` bytes and validates it.
    public func decodeConfig(_ data: Data) throws(ModelError) -> any ModelConfig {
        func decode<C: ModelConfig>(_ type: C.Type) throws(ModelError) -> C {
            let c: C
            do { c = try JSONDecoder().decode(C.self, from: data) }
            catch { throw .badConfig(family: rawValue, reason: describeDecodingError(error)) }
            try c.validate()
            return c
        }
        switch self {
        case .mixtral: return try decode(MixtralConfig.self)
        case .qwen2Moe: return try decode(Qwen2MoEConfig.self)
        case .qwen3Moe: return try decode(Qwen3MoEConfig.self)
        case .olmoe: return try decode(OLMoEConfig.self)
        case .gptOss: return try decode(GptOssConfig.self)
        case .switchTransformers: return try decode(SwitchTransformersConfig.self)
        case .deepseekV3: return try decode(DeepSeekV3Config.self)
        case .deepseekV2: return try decode(DeepSeekV2Config.self)
        case .glm4Moe: return try decode(Glm4MoEConfig.self)
        case .phimoe: return try decode(PhimoeConfig.self)
        case .qwen3Next: return try decode(Qwen3NextConfig.self)
        }
    }

    /// Reads `model_type` from `config.json` bytes and decodes that family's config.
    public static func detect(configData: Data) throws(ModelError) -> any ModelConfig {
        struct Probe: Decodable { let model_type: String? }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: configData) else {
            throw .badConfig(family: "?", reason: "config.json is not a JSON object")
        }
        guard let type = probe.model_type else { throw .missingModelType }
        guard let family = ModelFamily(rawValue: type) ?? aliases[type] else { throw .unsupported(modelType: type) }
        try checkQuantization(configData, family: family)
        return try family.decodeConfig(configData)
    }

    /// `quantization_config.quant_method`, read once for every family: `fp8` (fine-grained e4m3 blocks) and
    /// compressed-tensors' FP8 formats (`float-quantized`, `naive-quantized`), whose details the checkpoint reader
    /// checks (`FP8BlockFormat`), are accepted for all; `mxfp4` is left to gpt-oss (whose hub experts are MXFP4);
    /// anything else, other compressed-tensors formats included, is refused by name with what to do.
    static func checkQuantization(_ configData: Data, family: ModelFamily) throws(ModelError) {
        struct Method: Decodable { let quant_method: String?; let format: String? }
        struct Probe: Decodable { let quantization_config: Method? }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: configData), let q = probe.quantization_config else { return }
        let method = q.quant_method ?? "(none)"
        switch method {
        case "fp8": return
        case "compressed-tensors" where q.format == nil || q.format == "float-quantized" || q.format == "naive-quantized": return
        case "compressed-tensors":
            throw .unsupportedQuantization(method: method, scheme: "format \(q.format ?? "?"), not FP8 float-quantized")
        case "mxfp4" where family == .gptOss: return
        default:
            throw .unsupportedQuantization(method: method, scheme: nil)
        }
    }

    /// `detect`, for callers that run a decoder-only model: an encoder-decoder family is refused.
    public static func detectDecoder(configData: Data) throws(ModelError) -> any FamilyConfig {
        let c = try detect(configData: configData)
        guard let d = c as? any FamilyConfig else { throw .notDecoderOnly(family: type(of: c).family.rawValue) }
        return d
    }
}

/// What is wrong with a model's configuration or tensors, and what to do.
public enum ModelError: Error, CustomStringConvertible, Sendable {
    case missingModelType
    case unsupported(modelType: String)
    case badConfig(family: String, reason: String)
    case missingExperts(layer: Int, tried: [String])
    case badExpertTensor(name: String, shape: [Int], expected: String)
    case missingTensor(String)
    case badTensor(name: String, reason: String)
    case unsupportedFeature(String)
    /// A `quantization_config.quant_method` no reader here decodes (`scheme` describes it when known).
    case unsupportedQuantization(method: String, scheme: String?)
    case contextFull(context: Int)
    case badToken(Int, vocab: Int)
    case notDecoderOnly(family: String)
    case inputTooLong(tokens: Int, limit: Int)
    case isDecoderOnly(family: String)
    case residentMemory(bytes: Int, reason: String)
    case corruptArchive(String)
    case archiveMismatch(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingModelType:
            "config.json has no \"model_type\"; swapmoe needs it to know the architecture (supported: \(ModelFamily.supportedList))"
        case .unsupported(let t):
            "unsupported model_type '\(t)' (supported: \(ModelFamily.supportedList)); swapmoe serves Mixture-of-Experts models of these families"
        case let .badConfig(family, reason):
            "config.json of this \(family) model is not usable: \(reason); correct config.json and pack the model again"
        case let .missingExperts(layer, tried):
            "layer \(layer) is a MoE layer but none of its expert tensors were found (looked for \(tried.prefix(4).joined(separator: ", "))); the checkpoint is incomplete or its layout is not supported"
        case .missingTensor(let name):
            "the archive has no tensor '\(name)'; it was packed from an incomplete checkpoint, re-pack it from the full Hugging Face folder"
        case let .badTensor(name, reason):
            "tensor '\(name)' \(reason); the archive does not match its config, re-pack it"
        case .contextFull(let c):
            "the sequence reached the context size \(c); raise --ctx or shorten the prompt"
        case let .badToken(t, vocab):
            "token id \(t) is outside the vocabulary (0..<\(vocab)); the tokenizer does not match the model"
        case let .unsupportedQuantization(method, scheme):
            "quantization_config.quant_method '\(method)'\(scheme.map { " (\($0))" } ?? "") is not supported (only fp8 with e4m3 block scales, compressed-tensors FP8, and mxfp4 for gpt-oss); pack the model's bf16 or FP8 release, or convert the weights to bf16 first"
        case .unsupportedFeature(let what):
            "\(what) is not supported yet; please open an issue with the model name"
        case .notDecoderOnly(let f):
            "\(f) is an encoder-decoder model; it runs through the sequence-to-sequence path (Seq2SeqModel), not the decoder-only one"
        case let .inputTooLong(tokens, limit):
            "the input has \(tokens) tokens, more than the \(limit) the model was set up for; raise --max-input or shorten the input"
        case .isDecoderOnly(let f):
            "\(f) is a decoder-only model; it runs through DecoderModel, not the sequence-to-sequence path"
        case .corruptArchive(let message):
            message
        case let .archiveMismatch(path, reason):
            "archive '\(path)' does not match its config.json: \(reason); re-pack the model with this swapmoe"
        case let .residentMemory(bytes, reason):
            "cannot allocate \(ByteSize.format(bytes)) to hold every expert resident (\(reason)); run under a cap with --max-rss SIZE (policy exact or swap), or serve a raw archive in place with --io mmap"
        case let .badExpertTensor(name, shape, expected):
            "expert tensor '\(name)' has shape \(shape), expected \(expected); the checkpoint does not match its config.json"
        }
    }
}

/// What every family's config tells the packer, the planner and `inspect`: the model's size facts and its
/// stacks of layers with where their experts live. Decoder-only families have one stack (`decoder`);
/// encoder-decoder families have `encoder` and `decoder`, whose layer numbers overlap (experts are keyed by
/// stack, layer and expert).
public protocol ModelConfig: Sendable, Decodable {
    static var family: ModelFamily { get }
    var hiddenSize: Int { get }
    var vocabSize: Int { get }
    /// Experts each token is routed to (top-k; 1 for Switch).
    var expertsPerToken: Int { get }
    var tieWordEmbeddings: Bool { get }
    /// The stacks, in archive order (encoder before decoder).
    var stacks: [ModelStack] { get }
    var isEncoderDecoder: Bool { get }
    /// The positions the model was trained for (`max_position_embeddings`); nil when it has no such limit.
    var maxPositionEmbeddings: Int? { get }
    func validate() throws(ModelError)
    /// Whether the packer leaves out a checkpoint tensor the model never reads (DeepSeek-V3's multi-token-prediction
    /// layer); false by default.
    func packIgnores(_ tensor: String) -> Bool
}

/// One stack of layers and the experts of its MoE layers.
public struct ModelStack: Sendable {
    public let name: ExpertStack
    public let layers: Int
    public let moeLayers: [Int]
    public let experts: Int
    public let naming: ExpertNaming
    /// The intermediate width of the routed experts of a layer.
    public let intermediate: @Sendable (Int) -> Int

    public init(name: ExpertStack, layers: Int, moeLayers: [Int], experts: Int, naming: ExpertNaming, intermediate: @escaping @Sendable (Int) -> Int) {
        self.name = name; self.layers = layers; self.moeLayers = moeLayers; self.experts = experts; self.naming = naming
        self.intermediate = intermediate
    }

    /// The parts of every expert of `layer` in `checkpoint` (see `ExpertNaming.resolve`).
    public func resolve(layer: Int, hidden: Int, in checkpoint: some TensorCatalog) throws(ModelError) -> [[ExpertPart]] {
        try naming.resolve(layer: layer, experts: experts, hidden: hidden, intermediate: intermediate(layer), in: checkpoint)
    }
}

extension ModelConfig {
    public var family: ModelFamily { Self.family }
    public var isEncoderDecoder: Bool { false }
    public var maxPositionEmbeddings: Int? { nil }
    public func packIgnores(_ tensor: String) -> Bool { false }
    public var totalExperts: Int { stacks.reduce(0) { $0 + $1.moeLayers.count * $1.experts } }
    public func stack(_ name: ExpertStack) -> ModelStack? { stacks.first { $0.name == name } }
}

/// A decoder-only MoE family. It decodes its `DecoderBase` (the shared keys, with its own defaults) plus its own
/// keys, says where its experts live on disk, and states its structural choices as a `DecoderSpec`.
public protocol FamilyConfig: ModelConfig {
    var base: DecoderBase { get }
    /// Where this family's expert weights live in a checkpoint.
    var expertNaming: ExpertNaming { get }
    /// The intermediate width of the routed experts of `layer`.
    func expertIntermediate(layer: Int) -> Int
    /// The config.json key that width comes from (for error messages).
    var expertIntermediateKey: String { get }
    /// The decoder structure of this family.
    func decoderSpec() throws(ModelError) -> DecoderSpec
    func validate() throws(ModelError)
}

/// A family the decoder can run (every supported family).
public typealias DecoderFamily = FamilyConfig

extension FamilyConfig {
    public var hiddenSize: Int { base.hiddenSize }
    public var numLayers: Int { base.numLayers }
    public var numHeads: Int { base.numHeads }
    public var numKVHeads: Int { base.numKVHeads }
    public var headDim: Int { base.headDim }
    public var numExperts: Int { base.numExperts }
    public var expertsPerToken: Int { base.expertsPerToken }
    public var vocabSize: Int { base.vocabSize }
    public var ropeTheta: Double { base.ropeTheta }
    public var tieWordEmbeddings: Bool { base.tieWordEmbeddings }
    /// Whether decoder layer `layer` routes through experts (false for dense layers among MoE layers).
    public func isMoELayer(_ layer: Int) -> Bool { base.isMoELayer(layer) }
    public var moeLayers: [Int] { (0..<numLayers).filter(isMoELayer) }
    public var stacks: [ModelStack] {
        [ModelStack(name: .decoder, layers: numLayers, moeLayers: moeLayers, experts: numExperts, naming: expertNaming,
                     intermediate: { [self] in self.expertIntermediate(layer: $0) })]
    }
    public var maxPositionEmbeddings: Int? { base.maxPositionEmbeddings }
    public var expertIntermediateKey: String { "intermediate_size" }
    /// The shared checks (`DecoderBase.validate`), then the family's own widths as its spec uses them.
    public func validate() throws(ModelError) {
        try base.validate(family: Self.family)
        for width in Set(moeLayers.map(expertIntermediate)) {
            try ConfigLimits.check(Self.family, expertIntermediateKey, width, 1...ConfigLimits.width)
        }
        // A spec this build cannot run (an unsupported feature) is refused when the model is built, not here.
        guard let spec = try? decoderSpec() else { return }
        if let s = spec.sharedExpertIntermediate {
            try ConfigLimits.check(Self.family, "shared_expert_intermediate_size", s, 1...ConfigLimits.width)
        }
        if let c = spec.clipQKV, !(c.isFinite && c > 0) {
            throw .badConfig(family: Self.family.rawValue, reason: "clip_qkv \(c) must be a finite number > 0")
        }
    }
    public func spec() throws(ModelError) -> DecoderSpec { try decoderSpec() }
}

/// RoPE base frequency: transformers 4.x and hub checkpoints write `rope_theta`; transformers 5.x writes
/// `rope_parameters: {"rope_theta": ..., "rope_type": "default"}`. Both are accepted.
///
/// A scaled variant (`rope_scaling` in 4.x, a `rope_type` other than `default` in 5.x: linear, dynamic, yarn,
/// llama3, ...) is reported by `scaling`; `yarn`'s parameters are read into `YaRN` for the families that
/// implement it, and `validate` refuses every other case rather than computing silently wrong outputs.
struct RopeKeys: Decodable {
    struct Params: Decodable {
        let rope_theta: Double?
        let rope_type: String?
        let type: String?
        let factor: Double?
        let beta_fast: Double?
        let beta_slow: Double?
        let mscale: Double?
        let mscale_all_dim: Double?
        let attention_factor: Double?
        let original_max_position_embeddings: Int?
        let truncate: Bool?
        let short_factor: [Double]?
        let long_factor: [Double]?
        let short_mscale: Double?
        let long_mscale: Double?
    }
    let rope_theta: Double?
    let rope_parameters: Params?
    let rope_scaling: Params?
    let max_position_embeddings: Int?
    let original_max_position_embeddings: Int?
    var theta: Double? { rope_theta ?? rope_parameters?.rope_theta }
    /// The parameters of the scaled variant, and its kind, when it is not plain RoPE.
    var scaled: (kind: String, params: Params)? {
        for p in [rope_parameters, rope_scaling].compactMap({ $0 }) {
            if let t = p.rope_type ?? p.type, t != "default" { return (t, p) }
        }
        return nil
    }
    var scaling: String? { scaled?.kind }

    /// YaRN's parameters with transformers' fallbacks (`standardize_rope_params`, `_compute_yarn_parameters`): the
    /// original context from the top-level key (Phi-3 style), the parameters, or `max_position_embeddings`; the
    /// factor from `max_position_embeddings / original` when absent; `beta_fast`/`beta_slow` 32/1 when absent or 0.
    var yarn: YaRN? {
        guard let (kind, p) = scaled.map({ ($0.kind, $0.params) }), kind == "yarn" else { return nil }
        let original = original_max_position_embeddings ?? p.original_max_position_embeddings ?? max_position_embeddings ?? 0
        let factor = p.factor ?? (original > 0 ? Double(max_position_embeddings ?? 0) / Double(original) : 0)
        return YaRN(factor: factor, originalMaxPositions: original, betaFast: p.beta_fast.flatMap { $0 == 0 ? nil : $0 } ?? 32,
                    betaSlow: p.beta_slow.flatMap { $0 == 0 ? nil : $0 } ?? 1, mscale: p.mscale, mscaleAllDim: p.mscale_all_dim,
                    attentionFactor: p.attention_factor, truncate: p.truncate ?? true)
    }

    /// LongRoPE's parameters with transformers' fallbacks (`_compute_longrope_parameters`): the original context
    /// as for YaRN, the factor from `max_position_embeddings / original` when absent. Missing factor lists decode
    /// as empty (refused by `DecoderBase.validate`).
    var longRoPE: LongRoPE? {
        guard let (kind, p) = scaled.map({ ($0.kind, $0.params) }), kind == "longrope" else { return nil }
        let original = p.original_max_position_embeddings ?? original_max_position_embeddings ?? max_position_embeddings ?? 0
        let factor = p.factor ?? (original > 0 ? Double(max_position_embeddings ?? 0) / Double(original) : 0)
        return LongRoPE(shortFactor: p.short_factor ?? [], longFactor: p.long_factor ?? [], originalMaxPositions: original,
                        factor: factor, attentionFactor: p.attention_factor, shortMscale: p.short_mscale, longMscale: p.long_mscale)
    }
}
