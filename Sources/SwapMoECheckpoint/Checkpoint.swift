import Foundation
import SwapMoECore

/// A Hugging Face model folder: `config.json`, weights in one or more safetensors files (with
/// `model.safetensors.index.json` when sharded), and tokenizer files.
///
/// The index file is preferred over a glob of `*.safetensors`, as mlx-swift-lm's `Load.swift` does: folders
/// often hold stray files (consolidated weights, optimizer states) that are not part of the model.
public final class Checkpoint: Sendable {
    public let folder: String
    /// `config.json` as parsed JSON (unknown keys kept).
    public let config: JSONValue
    public let configData: Data
    public let shards: [SafetensorsFile]
    /// Tensor name -> the shard holding it.
    private let owner: [String: Int]
    /// The scale format of an FP8 checkpoint (`quant_method: fp8`, or compressed-tensors FP8), else nil.
    public let fp8Format: FP8BlockFormat?
    /// Every `F8_E4M3` weight with its scales, by weight name (checked at open).
    public let fp8Weights: [String: FP8Weight]
    /// The names of those scales and of the format's side tensors (compressed-tensors' `input_scale`): read with
    /// their weights or not at all, never packed as tensors of their own.
    private let fp8Scales: Set<String>

    /// The tokenizer and generation files carried into the archive, when present.
    public static let sideFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                   "generation_config.json", "tokenizer.model", "spiece.model", "chat_template.jinja", "chat_template.json"]

    public init(folder: String) throws(CheckpointError) {
        guard FileSystem.exists(folder) else { throw .notADirectory(folder) }
        guard FileSystem.isDirectory(folder) else { throw .notADirectory(folder) }
        self.folder = folder
        let configPath = folder + "/config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else { throw .missingConfig(folder) }
        configData = data
        do { config = try JSONDecoder().decode(JSONValue.self, from: data) }
        catch { throw .badConfig(path: configPath, reason: "not valid JSON (\(error))") }
        guard case .object = config else { throw .badConfig(path: configPath, reason: "not a JSON object") }

        let shardNames = try Checkpoint.shardFiles(in: folder)
        var shards: [SafetensorsFile] = []
        var owner: [String: Int] = [:]
        for name in shardNames {
            let file = try SafetensorsFile(path: folder + "/" + name)
            for t in file.tensors.keys { owner[t] = shards.count }
            shards.append(file)
        }
        self.shards = shards
        self.owner = owner
        let format = try FP8BlockFormat.parse(config: config, path: configPath)
        fp8Format = format
        var fp8: [String: FP8Weight] = [:]
        let all = shards.flatMap { f in f.tensors.values.map { (path: f.path, info: $0) } }.sorted { $0.info.name < $1.info.name }
        for (path, t) in all {
            let name = t.name
            if t.dtype == .f8e5m2 {
                throw .badFP8(tensor: name, path: path, reason: "is F8_E5M2, which is not supported (only e4m3 block-quantized weights); convert the checkpoint to bf16 first")
            }
            guard t.dtype == .f8e4m3 else { continue }
            guard let format else {
                let method = config["quantization_config"]?["quant_method"]?.stringValue.map { "quant_method '\($0)'" } ?? "no quantization_config"
                throw .badFP8(tensor: name, path: path, reason: "is F8_E4M3 but config.json has \(method), not fp8 with a weight_block_size or compressed-tensors FP8; restore the checkpoint's original config.json")
            }
            let scaleName = format.scaleName(of: name)
            let scale = owner[scaleName].flatMap { shards[$0].tensors[scaleName] }
            fp8[name] = try FP8Weight(weight: t, scale: scale, format: format, path: path)
        }
        fp8Weights = fp8
        fp8Scales = Set(fp8.values.map(\.scale.name)).union(all.map(\.info.name).filter { format?.isSideTensor($0) == true })
    }

    /// Whether `name` is the scales of an FP8 weight or another tensor of its format (read with it or skipped, not a
    /// tensor of the model).
    public func isFP8Scale(_ name: String) -> Bool { fp8Scales.contains(name) }

    /// The safetensors files making up the model, in a stable order.
    static func shardFiles(in folder: String) throws(CheckpointError) -> [String] {
        let indexPath = folder + "/model.safetensors.index.json"
        if let data = FileManager.default.contents(atPath: indexPath) {
            guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = root["weight_map"] as? [String: String] else {
                throw .badConfig(path: indexPath, reason: "no weight_map object")
            }
            let names = Array(Set(map.values)).sorted()
            for n in names where !FileSystem.exists(folder + "/" + n) {
                throw .missingShard(index: indexPath, shard: n)
            }
            return names
        }
        let all = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let st = all.filter { $0.hasSuffix(".safetensors") }.sorted()
        guard !st.isEmpty else { throw .noWeights(folder) }
        if st.contains("model.safetensors") { return ["model.safetensors"] }
        return st
    }

    /// Every tensor name, sorted.
    public var tensorNames: [String] { owner.keys.sorted() }

    public func info(_ name: String) -> TensorInfo? {
        guard let i = owner[name] else { return nil }
        return shards[i].tensors[name]
    }

    public func contains(_ name: String) -> Bool { owner[name] != nil }

    public func require(_ name: String) throws(CheckpointError) -> TensorInfo {
        guard let t = info(name) else { throw .missingTensor(name, folder: folder) }
        return t
    }

    /// Calls `body` with the tensor's bytes (mapped, no copy).
    public func withTensorBytes<R, E: Error>(_ name: String, _ body: (TensorInfo, UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R? {
        guard let i = owner[name], let t = shards[i].tensors[name] else { return nil }
        return try shards[i].withTensorBytes(t) { (buf) throws(E) -> R in try body(t, buf) }
    }

    /// Drops the mapped pages of a tensor that has been consumed.
    public func release(_ name: String) {
        guard let i = owner[name], let t = shards[i].tensors[name] else { return }
        shards[i].release(t)
    }

    /// Drops the mapped pages of a byte range (absolute file offsets) of the shard holding `name`.
    public func releaseRange(_ name: String, _ range: Range<Int>) {
        guard let i = owner[name] else { return }
        shards[i].mapping.release(range)
    }

    /// Total bytes of all tensors.
    public var totalTensorBytes: Int { shards.reduce(0) { $0 + $1.tensors.values.reduce(0) { $0 + $1.byteCount } } }

    /// The side files (tokenizer, generation config) that exist in the folder, with their contents.
    public func sideFileContents() -> [(name: String, data: Data)] {
        Checkpoint.sideFiles.compactMap { n in
            FileManager.default.contents(atPath: folder + "/" + n).map { (n, $0) }
        }
    }
}
