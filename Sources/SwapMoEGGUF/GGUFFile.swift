import Foundation
import SwapMoECore

/// One tensor of a GGUF model: its ggml dims and type, and where its bytes are.
public struct GGUFTensorInfo: Sendable, Hashable {
    public let name: String
    /// ggml's dims, `ne[0]` first: the row length, then rows, then (3-D expert stacks) experts.
    public let ne: [Int]
    public let type: GGMLType
    /// The offset as stored: relative to the start of its file's data section.
    public let offset: Int
    /// Absolute byte range in its file.
    public let range: Range<Int>
    /// Which file of a split set holds it (0 for a single file).
    public let part: Int

    /// The shape in PyTorch / safetensors order (`ne` reversed): `[experts, rows, cols]`, `[rows, cols]`, `[n]`.
    public var shape: [Int] { ne.reversed() }
    public var byteCount: Int { range.count }
    public var elementCount: Int { ne.reduce(1, *) }
    /// The swapmoe type of the stored bytes, nil when the kernels cannot compute with this ggml type yet.
    public var dtype: DType? { type.dtype }

    func moved(toPart part: Int) -> GGUFTensorInfo {
        GGUFTensorInfo(name: name, ne: ne, type: type, offset: offset, range: range, part: part)
    }
}

/// One GGUF file, memory-mapped and validated when opened: header, every metadata key and value, every tensor
/// info, alignment, and every tensor's bytes inside the data section, aligned and not overlapping (see
/// GGUFParser.swift). Nothing is copied until a tensor's bytes are asked for.
public final class GGUFFile: Sendable {
    public let path: String
    /// The file name used in messages.
    public let fileName: String
    public let version: UInt32
    /// Metadata keys in file order.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Where the data section starts (tensor offsets are relative to it).
    public let dataOffset: Int
    public let mapping: MappedFile
    private let index: [String: Int]

    public init(path: String) throws(GGUFError) {
        self.path = path
        fileName = (path as NSString).lastPathComponent
        let map: MappedFile
        do { map = try MappedFile(path: path) } catch { throw .io(error) }
        mapping = map
        let name = fileName
        let parsed = try map.withBytes(0..<map.count) { (bytes) throws(GGUFError) in try parseGGUF(bytes, file: name) }
        version = parsed.version
        keys = parsed.keys
        metadata = parsed.metadata
        tensors = parsed.tensors
        alignment = parsed.alignment
        dataOffset = parsed.dataOffset
        index = Dictionary(uniqueKeysWithValues: parsed.tensors.enumerated().map { ($1.name, $0) })
    }

    public var fileSize: Int { mapping.count }

    public func tensor(_ name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// Calls `body` with the tensor's bytes, straight from the mapping (valid only inside the call).
    public func withTensorBytes<R, E: Error>(_ info: GGUFTensorInfo, _ body: (BorrowedBytes) throws(E) -> R) throws(E) -> R {
        try mapping.withBytes(info.range) { (buffer) throws(E) in try body(BorrowedBytes(buffer)) }
    }

    /// A copy of the tensor's bytes.
    public func bytes(of info: GGUFTensorInfo) -> [UInt8] {
        mapping.withBytes(info.range) { Array($0) }
    }

    /// Drops the mapped pages of a tensor this process is done with (keeps streaming passes' RSS flat).
    public func release(_ info: GGUFTensorInfo) { mapping.release(info.range) }
}

extension GGUFFile {
    /// The value of `key`, or a `missingKey` error.
    public func value(_ key: String) throws(GGUFError) -> GGUFValue {
        guard let v = metadata[key] else { throw .missingKey(file: fileName, key: key) }
        return v
    }

    public func string(_ key: String) throws(GGUFError) -> String {
        let v = try value(key)
        guard let s = v.stringValue else { throw .wrongKeyType(file: fileName, key: key, expected: "a string", found: v.type.description) }
        return s
    }

    /// An integer key of any integer type, nil when absent.
    public func optionalInt(_ key: String) throws(GGUFError) -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.intValue else { throw .wrongKeyType(file: fileName, key: key, expected: "an integer", found: v.type.description) }
        return i
    }

    public func int(_ key: String) throws(GGUFError) -> Int {
        guard let i = try optionalInt(key) else { throw .missingKey(file: fileName, key: key) }
        return i
    }

    public func optionalDouble(_ key: String) throws(GGUFError) -> Double? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.doubleValue else { throw .wrongKeyType(file: fileName, key: key, expected: "a number", found: v.type.description) }
        return d
    }

    public func optionalBool(_ key: String) throws(GGUFError) -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.boolValue else { throw .wrongKeyType(file: fileName, key: key, expected: "a BOOL", found: v.type.description) }
        return b
    }

    public func optionalString(_ key: String) throws(GGUFError) -> String? {
        guard metadata[key] != nil else { return nil }
        return try string(key)
    }

    /// An array key, nil when absent.
    public func optionalArray(_ key: String) throws(GGUFError) -> GGUFArray? {
        guard let v = metadata[key] else { return nil }
        guard let a = v.arrayValue else { throw .wrongKeyType(file: fileName, key: key, expected: "an array", found: v.type.description) }
        return a
    }
}
