import Foundation
import SwapMoECore

/// One tensor inside a safetensors file: its dtype, shape and byte range within the file.
public struct TensorInfo: Sendable, Hashable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// Absolute byte range in the file (header included in the offset).
    public let range: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { range.count }
}

/// A safetensors file, memory-mapped; nothing is copied until a tensor's bytes are asked for.
///
/// Layout (https://github.com/huggingface/safetensors): `u64 little-endian N`, then N bytes of JSON header
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the data. Every offset is
/// checked against the file size with overflow-checked arithmetic when the file is opened, not when read.
public final class SafetensorsFile: Sendable {
    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    public let mapping: MappedFile

    public init(path: String) throws(CheckpointError) {
        self.path = path
        let map: MappedFile
        do { map = try MappedFile(path: path) } catch { throw .io(error) }
        mapping = map
        guard map.count >= 8 else { throw .badSafetensors(path: path, reason: "file has \(map.count) bytes, fewer than the 8-byte header length") }
        let headerLen = map.withBytes(0..<8) { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLen <= UInt64(map.count - 8), headerLen <= 100_000_000 else {
            throw .badSafetensors(path: path, reason: "header length \(headerLen) exceeds the file size \(map.count)")
        }
        let dataStart = 8 + Int(headerLen)
        let headerData = map.withBytes(8..<dataStart) { Data($0) }
        guard let root = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw .badSafetensors(path: path, reason: "header is not a JSON object")
        }
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtypeName = entry["dtype"] as? String,
                  let shapeAny = entry["shape"] as? [Any],
                  let offsAny = entry["data_offsets"] as? [Any], offsAny.count == 2 else {
                throw .badSafetensors(path: path, reason: "entry '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw .badSafetensors(path: path, reason: "tensor '\(name)' has unsupported dtype \(dtypeName)")
            }
            let shape = shapeAny.compactMap { ($0 as? NSNumber)?.intValue }
            let offs = offsAny.compactMap { ($0 as? NSNumber)?.intValue }
            guard shape.count == shapeAny.count, offs.count == 2, shape.allSatisfy({ $0 >= 0 }),
                  offs[0] >= 0, offs[1] >= offs[0] else {
                throw .badSafetensors(path: path, reason: "tensor '\(name)' has a malformed shape or offsets")
            }
            guard let bytes = Checked.byteCount(shape: shape, elementSize: dtype.size) else {
                throw .badSafetensors(path: path, reason: "tensor '\(name)' shape overflows")
            }
            guard bytes == offs[1] - offs[0] else {
                throw .badSafetensors(path: path, reason: "tensor '\(name)' is \(offs[1] - offs[0]) bytes but shape \(shape) of \(dtypeName) needs \(bytes)")
            }
            let (begin, o2) = dataStart.addingReportingOverflow(offs[0])
            let (end, o3) = dataStart.addingReportingOverflow(offs[1])
            guard !o2, !o3, end <= map.count else {
                throw .tensorOutOfBounds(path: path, tensor: name, end: end, fileSize: map.count)
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape, range: begin..<end)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Calls `body` with the tensor's bytes, straight from the mapping.
    public func withTensorBytes<R, E: Error>(_ info: TensorInfo, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try mapping.withBytes(info.range, body)
    }

    /// Drops the mapped pages of a tensor this process is done with (keeps streaming passes' RSS flat).
    public func release(_ info: TensorInfo) { mapping.release(info.range) }
}
