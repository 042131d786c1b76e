import SwapMoECore

/// Everything that can be wrong with a Hugging Face checkpoint folder, each with what to do about it.
public enum CheckpointError: Error, CustomStringConvertible, Sendable {
    case notADirectory(String)
    case missingConfig(String)
    case badConfig(path: String, reason: String)
    case noWeights(String)
    case badSafetensors(path: String, reason: String)
    case tensorOutOfBounds(path: String, tensor: String, end: Int, fileSize: Int)
    case missingShard(index: String, shard: String)
    case missingTensor(String, folder: String)
    /// An `F8_E4M3` weight that cannot be read: `reason` follows the tensor name and says what to do.
    case badFP8(tensor: String, path: String, reason: String)
    case io(SystemError)

    public var description: String {
        switch self {
        case .notADirectory(let p):
            "'\(p)' is not a directory; pass the folder of a Hugging Face checkpoint (with config.json and *.safetensors)"
        case .missingConfig(let p):
            "no config.json in '\(p)'; pass the folder of a Hugging Face checkpoint (download it with all files)"
        case let .badConfig(path, reason):
            "config '\(path)' is not usable: \(reason)"
        case .noWeights(let p):
            "no *.safetensors weights in '\(p)'; only safetensors checkpoints are supported (convert .bin files with transformers' save_pretrained)"
        case let .badSafetensors(path, reason):
            "safetensors file '\(path)' is corrupt or incomplete: \(reason); re-download it"
        case let .tensorOutOfBounds(path, tensor, end, size):
            "tensor '\(tensor)' data ends at byte \(end) but '\(path)' has \(size) bytes; the file is truncated or corrupt, re-download it"
        case let .missingShard(index, shard):
            "'\(index)' names shard '\(shard)', which is missing; download all shards of the checkpoint"
        case let .missingTensor(name, folder):
            "tensor '\(name)' is not in the checkpoint '\(folder)'; the checkpoint is incomplete or of another architecture"
        case let .badFP8(tensor, path, reason):
            "tensor '\(tensor)' in '\(path)' \(reason)"
        case .io(let e): e.description
        }
    }
}
