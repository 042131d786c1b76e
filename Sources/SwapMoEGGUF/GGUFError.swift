import SwapMoECore

/// Everything that can be wrong with a GGUF file (or a set of split files) and what it means for swapmoe, each
/// message one line naming the file, the key or tensor, and what to do about it.
public enum GGUFError: Error, CustomStringConvertible, Sendable {
    case io(SystemError)
    case notGGUF(file: String, magic: [UInt8])
    case unsupportedVersion(file: String, version: UInt32)
    case bigEndian(file: String)
    /// The file ends inside a structure (`what`: "the header", "key 'x'", "tensor info 3", ...).
    case truncated(file: String, what: String, needs: Int, fileSize: Int)
    case malformed(file: String, what: String, reason: String)
    case duplicateKey(file: String, key: String)
    case duplicateTensor(file: String, tensor: String)
    case badAlignment(file: String, value: String)
    case unknownTensorType(file: String, tensor: String, typeID: UInt32)
    case badTensor(file: String, tensor: String, reason: String)
    case tensorOutOfBounds(file: String, tensor: String, end: Int, fileSize: Int)
    case tensorsOverlap(file: String, first: String, second: String)
    case unsupportedTensorType(file: String, tensor: String, type: String)
    case missingKey(file: String, key: String)
    case wrongKeyType(file: String, key: String, expected: String, found: String)
    case missingSplit(file: String, missing: String)
    case inconsistentSplit(file: String, reason: String)
    case missingTensor(file: String, tensor: String)
    case unsupportedArchitecture(file: String, architecture: String, supported: [String])
    case badMetadata(file: String, key: String, reason: String)
    case unsupportedTokenizer(file: String, key: String, value: String, supported: [String])
    case unmappedTensor(file: String, tensor: String, architecture: String)
    /// A family swapmoe runs from its Hugging Face checkpoint, whose GGUF files llama.cpp computes differently.
    case checkpointOnly(file: String, architecture: String, reason: String)

    public var description: String {
        switch self {
        case .io(let e):
            return e.description
        case let .notGGUF(file, magic):
            let shown = magic.map { (0x20...0x7e).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()
            return "\(file) is not a GGUF file: it starts with '\(shown)', not 'GGUF'; pass a .gguf model file (llama.cpp's format)"
        case let .unsupportedVersion(file, version):
            if version == 1 {
                return "\(file) is GGUF version 1, which stored 32-bit counts and is no longer read by llama.cpp either; convert the model again with a current convert_hf_to_gguf.py"
            }
            return "\(file) is GGUF version \(version); swapmoe reads versions 2 and 3, convert the model with a llama.cpp converter of that format or update swapmoe"
        case let .bigEndian(file):
            return "\(file) is a big-endian GGUF file; swapmoe reads little-endian GGUF only, convert the model again without --bigendian"
        case let .truncated(file, what, needs, size):
            return "\(file) is truncated: \(what) ends at byte \(needs) but the file has \(size) bytes; download it again"
        case let .malformed(file, what, reason):
            return "\(file) is corrupt: \(what) \(reason); download or convert it again"
        case let .duplicateKey(file, key):
            return "\(file) is corrupt: metadata key '\(key.escapingControlCharacters)' appears twice; convert the model again"
        case let .duplicateTensor(file, tensor):
            return "\(file) is corrupt: tensor '\(tensor.escapingControlCharacters)' appears twice; convert the model again"
        case let .badAlignment(file, value):
            return "\(file) is corrupt: general.alignment is \(value), it must be a power of two (UINT32); convert the model again"
        case let .unknownTensorType(file, tensor, id):
            let name = GGMLType.name(ofID: id).map { " (\($0))" } ?? ""
            return "\(file): tensor '\(tensor.escapingControlCharacters)' has ggml type \(id)\(name), which this reader does not know (removed from or newer than llama.cpp's table); re-quantize the model with llama-quantize to Q8_0, Q4_K, Q5_K, Q6_K or F16"
        case let .badTensor(file, tensor, reason):
            return "\(file) is corrupt: tensor '\(tensor.escapingControlCharacters)' \(reason); download or convert it again"
        case let .tensorOutOfBounds(file, tensor, end, size):
            return "\(file) is truncated: tensor '\(tensor.escapingControlCharacters)' ends at byte \(end) but the file has \(size) bytes; download it again"
        case let .tensorsOverlap(file, first, second):
            return "\(file) is corrupt: the data of tensors '\(first.escapingControlCharacters)' and '\(second.escapingControlCharacters)' overlap; convert the model again"
        case let .unsupportedTensorType(file, tensor, type):
            return "\(file): tensor '\(tensor.escapingControlCharacters)' is stored as \(type), which swapmoe cannot compute with yet (supported: \(GGMLType.supportedNames)); re-quantize with `llama-quantize --allow-requantize \(file) out.gguf Q4_K_M` (or Q8_0), or pack from the Hugging Face checkpoint"
        case let .missingKey(file, key):
            return "\(file) has no metadata key '\(key)'; the file is incomplete or not a model converted by llama.cpp's convert_hf_to_gguf.py"
        case let .wrongKeyType(file, key, expected, found):
            return "\(file): metadata key '\(key)' is \(found), expected \(expected); the file is corrupt or was written by an incompatible tool"
        case let .missingSplit(file, missing):
            return "\(file) is part of a split GGUF but part '\(missing)' is missing; download every part into the same folder"
        case let .inconsistentSplit(file, reason):
            return "split GGUF \(file) is inconsistent: \(reason); download every part of the same model again"
        case let .missingTensor(file, tensor):
            return "\(file) has no tensor '\(tensor)'; the model is incomplete or of another architecture"
        case let .unsupportedArchitecture(file, arch, supported):
            return "\(file) is a '\(arch.escapingControlCharacters)' model; swapmoe reads these GGUF architectures: \(supported.joined(separator: ", ")) (Mixture-of-Experts models)"
        case let .badMetadata(file, key, reason):
            return "\(file): metadata '\(key)' \(reason); the file is corrupt or describes a model swapmoe does not support"
        case let .unsupportedTokenizer(file, key, value, supported):
            return "\(file): \(key) is '\(value.escapingControlCharacters)', which swapmoe cannot rebuild (supported: \(supported.joined(separator: ", "))); pack from the Hugging Face checkpoint to use its tokenizer.json"
        case let .unmappedTensor(file, tensor, arch):
            return "\(file): tensor '\(tensor.escapingControlCharacters)' has no Hugging Face counterpart for a '\(arch)' model; the file has extra tensors swapmoe does not know, please open an issue"
        case let .checkpointOnly(file, arch, reason):
            return "\(file) is a '\(arch)' GGUF, which swapmoe does not pack: \(reason); pack the Hugging Face checkpoint instead (swapmoe pack <folder with config.json and safetensors>)"
        }
    }
}
