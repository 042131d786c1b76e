import Foundation
import SwapMoECore

/// The model families swapmoe understands, by the `model_type` string of their `config.json`.
public enum ModelFamily: String, Sendable, CaseIterable, Codable {
    case mixtral
    case qwen2Moe = "qwen2_moe"
    case qwen3Moe = "qwen3_moe"
    case olmoe

    /// The `model_type` strings accepted, as listed to a user whose model is not one of them.
    public static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Decodes the typed config of this family from `config.json` bytes and validates it.
    public func decodeConfig(_ data: Data) throws(ModelError) -> any FamilyConfig {
        func decode<C: FamilyConfig>(_ type: C.Type) throws(ModelError) -> C {
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
        }
    }

    /// Reads `model_type` from `config.json` bytes and decodes that family's config.
    public static func detect(configData: Data) throws(ModelError) -> any FamilyConfig {
        struct Probe: Decodable { let model_type: String? }
        guard let probe = try? JSONDecoder().decode(Probe.self, from: configData) else {
            throw .badConfig(family: "?", reason: "config.json is not a JSON object")
        }
        guard let type = probe.model_type else { throw .missingModelType }
        guard let family = ModelFamily(rawValue: type) else { throw .unsupported(modelType: type) }
        return try family.decodeConfig(configData)
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
    case contextFull(context: Int)
    case badToken(Int, vocab: Int)

    public var description: String {
        switch self {
        case .missingModelType:
            "config.json has no \"model_type\"; swapmoe needs it to know the architecture (supported: \(ModelFamily.supportedList))"
        case .unsupported(let t):
            "unsupported model_type '\(t)' (supported: \(ModelFamily.supportedList)); swapmoe serves Mixture-of-Experts decoders of these families"
        case let .badConfig(family, reason):
            "config.json of this \(family) model is not usable: \(reason)"
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
        case .unsupportedFeature(let what):
            "\(what) is not supported yet; please open an issue with the model name"
        case let .badExpertTensor(name, shape, expected):
            "expert tensor '\(name)' has shape \(shape), expected \(expected); the checkpoint does not match its config.json"
        }
    }
}

func describeDecodingError(_ error: any Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ ctx: DecodingError.Context) -> String { ctx.codingPath.map(\.stringValue).joined(separator: ".") }
    switch e {
    case .keyNotFound(let key, _): return "missing key \"\(key.stringValue)\""
    case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "key \"\(path(ctx))\" has the wrong type"
    case .dataCorrupted(let ctx): return "invalid JSON at \"\(path(ctx))\": \(ctx.debugDescription)"
    @unknown default: return "\(error)"
    }
}

/// What every MoE family's config tells the packer and the engine.
public protocol FamilyConfig: Sendable, Decodable {
    static var family: ModelFamily { get }
    var hiddenSize: Int { get }
    var numLayers: Int { get }
    var numExperts: Int { get }
    var expertsPerToken: Int { get }
    var vocabSize: Int { get }
    var tieWordEmbeddings: Bool { get }
    /// Whether decoder layer `layer` routes through experts (false for dense layers among MoE layers).
    func isMoELayer(_ layer: Int) -> Bool
    /// The intermediate width of the routed experts of `layer`.
    func expertIntermediate(layer: Int) -> Int
    /// Where this family's expert weights live in a checkpoint.
    var expertNaming: ExpertNaming { get }
    func validate() throws(ModelError)
}

extension FamilyConfig {
    public var family: ModelFamily { Self.family }
    public var moeLayers: [Int] { (0..<numLayers).filter(isMoELayer) }

    /// Checks shared by every family.
    func validateCommon(headCount: Int, kvHeads: Int) throws(ModelError) {
        let name = Self.family.rawValue
        guard hiddenSize > 0, numLayers > 0, vocabSize > 0 else {
            throw .badConfig(family: name, reason: "hidden_size, num_hidden_layers and vocab_size must be positive")
        }
        guard numExperts > 0, expertsPerToken > 0, expertsPerToken <= numExperts else {
            throw .badConfig(family: name, reason: "experts per token (\(expertsPerToken)) must be between 1 and the expert count (\(numExperts))")
        }
        guard headCount > 0, kvHeads > 0, headCount % kvHeads == 0 else {
            throw .badConfig(family: name, reason: "num_attention_heads (\(headCount)) must be a positive multiple of num_key_value_heads (\(kvHeads))")
        }
    }
}

/// Expert counts are read from `num_experts` or `num_local_experts` in every family: hub Qwen3-MoE configs
/// write the first, transformers 5 writes the second for the same model.
///
/// RoPE base frequency: transformers 4.x and hub checkpoints write `rope_theta`; transformers 5.x writes
/// `rope_parameters: {"rope_theta": ..., "rope_type": "default"}`. Both are accepted.
struct RopeKeys: Decodable {
    struct Params: Decodable {
        let rope_theta: Double?
        let rope_type: String?
    }
    let rope_theta: Double?
    let rope_parameters: Params?
    var theta: Double? { rope_theta ?? rope_parameters?.rope_theta }
}
