import Foundation
import SwapMoECore

/// A GGUF model: one file, or every part of a split set (`name-00001-of-00003.gguf`, written by `llama-gguf-split`)
/// opened from any one of them, with one tensor table across the parts. Metadata is the first part's (the others
/// carry only the `split.*` keys). Every part is validated when opened (see `GGUFFile`); the set is checked to be
/// complete and consistent (`split.no`, `split.count`, `split.tensors.count`, no tensor in two parts).
public final class GGUFModel: Sendable {
    /// The parts in order (one for an unsplit file).
    public let parts: [GGUFFile]
    /// Every tensor of every part, in part then file order; `part` says which file holds it.
    public let tensors: [GGUFTensorInfo]
    private let index: [String: Int]

    /// The first part: the file whose metadata describes the model.
    public var file: GGUFFile { parts[0] }
    public var metadata: [String: GGUFValue] { parts[0].metadata }
    public var fileName: String { parts[0].fileName }

    public init(path: String) throws(GGUFError) {
        let given = try GGUFFile(path: path)
        let name = given.fileName
        // A file without split.count, or a set of one part, is read as it is, whatever its name.
        let count = try given.optionalInt("split.count") ?? 1
        if count == 1 {
            parts = [given]
            tensors = given.tensors
            index = Dictionary(uniqueKeysWithValues: given.tensors.enumerated().map { ($1.name, $0) })
            return
        }
        guard (2...99_999).contains(count) else {
            throw .inconsistentSplit(file: name, reason: "split.count is \(count), expected 1...99999")
        }
        guard let no = try given.optionalInt("split.no"), (0..<count).contains(no) else {
            throw .inconsistentSplit(file: name, reason: "split.no is missing or outside 0..<\(count)")
        }
        guard let prefix = GGUFModel.splitPrefix(path: path, number: no + 1, count: count) else {
            throw .inconsistentSplit(file: name, reason: "its name does not end in -\(GGUFModel.five(no + 1))-of-\(GGUFModel.five(count)).gguf as split.no \(no) and split.count \(count) say; keep the names llama-gguf-split gave the parts")
        }
        var parts: [GGUFFile] = []
        for i in 0..<count {
            let partPath = GGUFModel.splitPath(prefix: prefix, number: i + 1, count: count)
            let part: GGUFFile
            if i == no {
                part = given
            } else {
                guard FileManager.default.fileExists(atPath: partPath) else {
                    throw .missingSplit(file: name, missing: (partPath as NSString).lastPathComponent)
                }
                part = try GGUFFile(path: partPath)
            }
            guard try part.optionalInt("split.no") == i, try part.optionalInt("split.count") == count else {
                throw .inconsistentSplit(file: part.fileName, reason: "its split.no / split.count are not \(i) / \(count)")
            }
            parts.append(part)
        }
        var tensors: [GGUFTensorInfo] = []
        var index: [String: Int] = [:]
        for (p, part) in parts.enumerated() {
            for t in part.tensors {
                guard index[t.name] == nil else {
                    throw .inconsistentSplit(file: part.fileName, reason: "tensor '\(t.name)' is also in part \(tensors[index[t.name]!].part + 1)")
                }
                index[t.name] = tensors.count
                tensors.append(t.moved(toPart: p))
            }
        }
        if let expected = try parts[0].optionalInt("split.tensors.count"), expected != tensors.count {
            throw .inconsistentSplit(file: parts[0].fileName, reason: "split.tensors.count is \(expected) but the parts hold \(tensors.count) tensors")
        }
        self.parts = parts
        self.tensors = tensors
        self.index = index
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor `name`, or a `missingTensor` error.
    public func requireTensor(_ name: String) throws(GGUFError) -> GGUFTensorInfo {
        guard let t = tensor(name) else { throw .missingTensor(file: fileName, tensor: name) }
        return t
    }

    /// The swapmoe type of a tensor's stored bytes, or an error naming the tensor and its ggml type with the
    /// `llama-quantize` remedy when the kernels cannot compute with that type yet.
    public func dtype(of info: GGUFTensorInfo) throws(GGUFError) -> DType {
        guard let d = info.dtype else {
            throw .unsupportedTensorType(file: parts[info.part].fileName, tensor: info.name, type: info.type.name)
        }
        return d
    }

    /// Checks every tensor is of a type swapmoe computes with (the first one that is not is reported).
    public func checkTypesSupported() throws(GGUFError) {
        for t in tensors { _ = try dtype(of: t) }
    }

    /// Calls `body` with the tensor's bytes, straight from its part's mapping (valid only inside the call).
    public func withTensorBytes<R, E: Error>(_ info: GGUFTensorInfo, _ body: (BorrowedBytes) throws(E) -> R) throws(E) -> R {
        try parts[info.part].withTensorBytes(info, body)
    }

    /// A copy of the tensor's bytes.
    public func bytes(of info: GGUFTensorInfo) -> [UInt8] { parts[info.part].bytes(of: info) }

    public func release(_ info: GGUFTensorInfo) { parts[info.part].release(info) }

    // MARK: Split names (llama.cpp's llama_split_path: "%s-%05d-of-%05d.gguf")

    static func five(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, 5 - s.count)) + s
    }

    static func splitPath(prefix: String, number: Int, count: Int) -> String {
        "\(prefix)-\(five(number))-of-\(five(count)).gguf"
    }

    /// The prefix of a part's path when it ends in `-NNNNN-of-MMMMM.gguf` for `number` and `count`.
    static func splitPrefix(path: String, number: Int, count: Int) -> String? {
        let suffix = "-\(five(number))-of-\(five(count)).gguf"
        guard path.hasSuffix(suffix) else { return nil }
        return String(path.dropLast(suffix.count))
    }
}
