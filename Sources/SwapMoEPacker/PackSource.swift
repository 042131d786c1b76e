import Foundation
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive
import SwapMoEGGUF

/// What the packer reads a model from: a Hugging Face folder (`Checkpoint`) or a GGUF file (`GGUFSource`), both
/// seen as Hugging Face tensor names with their stored dtype, HF shape and bytes. `Packer.run` is one loop over
/// this; expert resolution goes through `TensorCatalog`.
protocol PackSource: TensorCatalog {
    /// What the archive records as its origin (`PackSettings.source`); nil for a Hugging Face folder.
    var origin: SourceInfo? { get }
    /// `config.json` (for a GGUF: derived from its metadata).
    var configData: Data { get }
    var config: JSONValue { get }
    /// Every tensor name, sorted.
    var tensorNames: [String] { get }
    /// Bytes of every tensor, for the progress bar and the summary.
    var totalTensorBytes: Int { get }
    /// Files the archive carries (tokenizer, generation config).
    func sideFiles() throws -> [(name: String, data: Data)]
    /// What the user should know that does not stop the pack (e.g. a GGUF tokenizer that cannot be rebuilt).
    var warnings: [String] { get }
    /// Paths whose content the archive must not overwrite (the files being read).
    var inputPaths: [String] { get }
    /// Calls `body` with the tensor's info and its bytes in HF layout (mapped where possible; valid inside the call).
    func withBytes<R>(_ name: String, _ body: (TensorInfo, UnsafeRawBufferPointer) throws -> R) throws -> R
    /// Drops the mapped pages of `piece`, a part of the bytes `base` that `withBytes(name)` handed out.
    func release(_ name: String, piece: UnsafeRawBufferPointer, of base: UnsafeRawBufferPointer)
    /// The FP8 weight `name` with its block scales, when the source holds it so (a fine-grained FP8 checkpoint).
    func fp8Weight(_ name: String) -> FP8Weight?
    /// Whether `name` is the block scales of an FP8 weight (read with it, never packed alone).
    func isFP8Scale(_ name: String) -> Bool
    /// The FP8 block format of the checkpoint, nil when it holds no FP8 weights.
    var fp8Format: FP8BlockFormat? { get }
}

extension PackSource {
    func fp8Weight(_ name: String) -> FP8Weight? { nil }
    func isFP8Scale(_ name: String) -> Bool { false }
    var fp8Format: FP8BlockFormat? { nil }

    func tensorInfo(_ name: String) throws -> TensorInfo {
        guard let t = info(name) else { throw PackError.missingTensor(name) }
        return t
    }
}

extension Checkpoint: PackSource {
    var origin: SourceInfo? { nil }

    func sideFiles() throws -> [(name: String, data: Data)] { sideFileContents() }

    var warnings: [String] { [] }

    func fp8Weight(_ name: String) -> FP8Weight? { fp8Weights[name] }

    var inputPaths: [String] { shards.map(\.path) }

    func withBytes<R>(_ name: String, _ body: (TensorInfo, UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let r = try withTensorBytes(name, { (info, bytes) throws(any Error) -> R in try body(info, bytes) }) else {
            throw CheckpointError.missingTensor(name, folder: folder)
        }
        return r
    }

    func release(_ name: String, piece: UnsafeRawBufferPointer, of base: UnsafeRawBufferPointer) {
        guard let info = info(name), let s = piece.baseAddress, let b = base.baseAddress else { return }
        let start = info.range.lowerBound + (s - b)
        releaseRange(name, start..<(start + piece.count))
    }
}

/// Which reader `pack <input>` uses.
enum PackInput: Equatable {
    case huggingFace(folder: String)
    case gguf(path: String)

    /// A `.gguf` file (or any part of a split set) is read as GGUF. A folder is read as a Hugging Face checkpoint
    /// when it has `config.json` and safetensors weights (the existing behaviour, whatever else it holds);
    /// otherwise as the one GGUF model it holds (one file, or one split set, opened from its first part).
    static func detect(_ path: String) throws -> PackInput {
        if path.lowercased().hasSuffix(".gguf") { return .gguf(path: path) }  // GGUFModel names a missing file itself
        guard FileSystem.exists(path) else { throw CheckpointError.notADirectory(path) }
        guard FileSystem.isDirectory(path) else {
            if startsWithGGUFMagic(path) { return .gguf(path: path) }
            throw PackError.notAModel(path)
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
        let hasWeights = names.contains { $0.hasSuffix(".safetensors") } || names.contains("model.safetensors.index.json")
        let ggufs = names.filter { $0.lowercased().hasSuffix(".gguf") }
        if ggufs.isEmpty && !names.contains("config.json") { throw PackError.noModel(folder: path) }
        if (names.contains("config.json") && hasWeights) || ggufs.isEmpty { return .huggingFace(folder: path) }
        // One split set: every name is <prefix>-NNNNN-of-MMMMM.gguf with one prefix and count.
        let setKeys = Set(ggufs.map(splitSetKey))
        guard setKeys.count == 1 else { throw PackError.severalGGUF(folder: path, files: ggufs) }
        return .gguf(path: path + "/" + ggufs[0])
    }

    /// `model-00001-of-00003.gguf` -> `model-of-00003`; a file that is not a split part -> its own name.
    static func splitSetKey(_ name: String) -> String {
        let parts = name.dropLast(5).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[parts.count - 2] == "of", parts[parts.count - 1].count == 5, parts[parts.count - 3].count == 5,
              parts[parts.count - 1].allSatisfy(\.isNumber), parts[parts.count - 3].allSatisfy(\.isNumber) else { return name }
        return parts.dropLast(3).joined(separator: "-") + "-of-" + parts[parts.count - 1]
    }

    static func startsWithGGUFMagic(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        return (try? h.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    func open() throws -> any PackSource {
        switch self {
        case .huggingFace(let folder): try Checkpoint(folder: folder)
        case .gguf(let path): try GGUFSource(path: path)
        }
    }
}
