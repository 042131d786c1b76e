// GGUFParser: reads the header, metadata and tensor infos of a GGUF file from its mapped bytes.
//
// Layout (llama.cpp docs/gguf.md, ggml/src/gguf.cpp), little-endian:
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count x { string key, u32 type, value }          string = u64 length + UTF-8 bytes (no NUL)
//   tensor_count x { string name, u32 n_dims, n_dims x u64 ne, u32 ggml_type, u64 offset }
//   padding to general.alignment (default 32), then the data section; offsets are relative to its start.
// Every length and count is checked against the bytes left before anything is allocated, so a hostile file
// cannot make the reader allocate more than a small multiple of its own size.

import SwapMoECore

/// A bounded reader over the mapped header bytes. Only this file touches the raw buffer.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    var pos = 0
    /// Memory the decoded metadata may take. Counts are already bounded by the file's size; this bounds the
    /// decoded form too (an array element takes up to 8x its bytes in the file), far above any real model's
    /// metadata (a 256k-token vocabulary with its merges decodes to tens of MB).
    var metadataBudget = 1 << 30

    /// Charges `n` bytes of decoded metadata to the budget.
    mutating func charge(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        metadataBudget -= n
        guard metadataBudget >= 0 else {
            throw .malformed(file: file, what: what(), reason: "makes the metadata larger than 1 GiB in memory; no model has that much")
        }
    }

    var remaining: Int { bytes.count - pos }

    /// Advances over `n` bytes of `what`, returning where they start; a truncation error when the file ends first.
    mutating func take(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> Int {
        guard n >= 0, n <= remaining else {
            let end = Checked.sum(pos, max(n, 0)) ?? Int.max
            throw .truncated(file: file, what: what(), needs: end, fileSize: bytes.count)
        }
        let start = pos
        pos += n
        return start
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        let at = try take(MemoryLayout<T>.size, what())
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: T.self))
    }

    mutating func u8(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt8 { try load(UInt8.self, what()) }
    mutating func u32(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt32 { try load(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt64 { try load(UInt64.self, what()) }

    /// A count or length stored as u64, bounded so that `count * minimumSize` bytes remain.
    mutating func count(_ what: @autoclosure () -> String, minimumSize: Int) throws(GGUFError) -> Int {
        let at = pos
        let raw = try u64(what())
        let limit = UInt64(remaining / max(minimumSize, 1))
        guard raw <= limit else {
            let needs = Checked.product([Int(clamping: raw), max(minimumSize, 1)]).flatMap { Checked.sum(pos, $0) } ?? Int.max
            throw .truncated(file: file, what: "\(what()) (count \(raw) at byte \(at))", needs: needs, fileSize: bytes.count)
        }
        return Int(raw)
    }

    /// A GGUF string: u64 length, UTF-8 bytes.
    mutating func string(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let n = try count("the length of \(what())", minimumSize: 1)
        try charge(n, what())
        let at = try take(n, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)])
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw .malformed(file: file, what: what(), reason: "is not valid UTF-8 (at byte \(at))")
        }
        return s
    }

    mutating func valueType(_ what: @autoclosure () -> String) throws(GGUFError) -> GGUFValueType {
        let raw = try u32("the type of \(what())")
        guard let t = GGUFValueType(rawValue: raw) else {
            throw .malformed(file: file, what: what(), reason: "has value type \(raw), which GGUF does not define (0...12)")
        }
        return t
    }

    /// One value of type `type` (arrays nest at most `depth` deep).
    mutating func value(_ type: GGUFValueType, _ what: @autoclosure () -> String, depth: Int = 0) throws(GGUFError) -> GGUFValue {
        switch type {
        case .uint8: return .uint(UInt64(try u8(what())), type)
        case .uint16: return .uint(UInt64(try load(UInt16.self, what())), type)
        case .uint32: return .uint(UInt64(try u32(what())), type)
        case .uint64: return .uint(try u64(what()), type)
        case .int8: return .int(Int64(try load(Int8.self, what())), type)
        case .int16: return .int(Int64(try load(Int16.self, what())), type)
        case .int32: return .int(Int64(try load(Int32.self, what())), type)
        case .int64: return .int(try load(Int64.self, what()), type)
        case .float32: return .float(Double(Float(bitPattern: try u32(what()))), type)
        case .float64: return .float(Double(bitPattern: try u64(what())), type)
        case .bool:
            let b = try u8(what())
            guard b <= 1 else { throw .malformed(file: file, what: what(), reason: "is a BOOL of value \(b), not 0 or 1") }
            return .bool(b == 1)
        case .string: return .string(try string(what()))
        case .array: return .array(try array(what(), depth: depth + 1))
        }
    }

    mutating func array(_ what: @autoclosure () -> String, depth: Int) throws(GGUFError) -> GGUFArray {
        guard depth <= 4 else { throw .malformed(file: file, what: what(), reason: "nests arrays more than 4 deep") }
        let element = try valueType("the element type of \(what())")
        let n = try count("the element count of \(what())", minimumSize: element.minimumSize)
        try charge(n * (element == .string ? 16 : element == .array ? 32 : 8), what())
        func each<T>(_ read: (inout ByteCursor, Int) throws(GGUFError) -> T) throws(GGUFError) -> [T] {
            var out: [T] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try read(&self, i)) }
            return out
        }
        switch element {
        case .uint8, .uint16, .uint32, .uint64:
            return .uints(try each { (c, i) throws(GGUFError) in
                guard case .uint(let v, _) = try c.value(element, "\(what())[\(i)]") else { return 0 }
                return v
            }, element)
        case .int8, .int16, .int32, .int64:
            return .ints(try each { (c, i) throws(GGUFError) in
                guard case .int(let v, _) = try c.value(element, "\(what())[\(i)]") else { return 0 }
                return v
            }, element)
        case .float32, .float64:
            return .floats(try each { (c, i) throws(GGUFError) in
                guard case .float(let v, _) = try c.value(element, "\(what())[\(i)]") else { return 0 }
                return v
            }, element)
        case .bool:
            return .bools(try each { (c, i) throws(GGUFError) in try c.value(.bool, "\(what())[\(i)]").boolValue ?? false })
        case .string:
            return .strings(try each { (c, i) throws(GGUFError) in try c.string("\(what())[\(i)]") })
        case .array:
            return .arrays(try each { (c, i) throws(GGUFError) in try c.array("\(what())[\(i)]", depth: depth + 1) })
        }
    }
}

/// What the parser hands to `GGUFFile`.
struct ParsedGGUF {
    var version: UInt32
    var keys: [String]
    var metadata: [String: GGUFValue]
    var tensors: [GGUFTensorInfo]
    var alignment: Int
    var dataOffset: Int
}

/// ggml's limit on tensor names (`GGML_MAX_NAME` = 64 including the NUL).
let maxTensorNameBytes = 63
/// ggml's limit on dimensions (`GGML_MAX_DIMS`).
let maxDims = 4

/// Parses and validates everything before the data section of `bytes` (the whole file).
func parseGGUF(_ bytes: UnsafeRawBufferPointer, file: String) throws(GGUFError) -> ParsedGGUF {
    var c = ByteCursor(bytes: bytes, file: file)
    let magicBytes = Array(bytes.prefix(4))
    guard bytes.count >= 4 else {
        if magicBytes == Array("GGUF".utf8.prefix(magicBytes.count)) {
            throw .truncated(file: file, what: "the header", needs: 24, fileSize: bytes.count)
        }
        throw .notGGUF(file: file, magic: magicBytes)
    }
    guard magicBytes == Array("GGUF".utf8) else { throw .notGGUF(file: file, magic: magicBytes) }
    _ = try c.take(4, "the magic")
    let version = try c.u32("the header")
    if version > 0xFFFF, (1...3).contains(version.byteSwapped) { throw .bigEndian(file: file) }
    guard version == 2 || version == 3 else { throw .unsupportedVersion(file: file, version: version) }
    // Minimum bytes of one tensor info (name length + 1 byte, n_dims, one dim, type, offset) and one key/value.
    let tensorCount = try c.count("the tensor count", minimumSize: 8 + 1 + 4 + 8 + 4 + 8)
    let kvCount = try c.count("the metadata count", minimumSize: 8 + 1 + 4 + 1)

    var keys: [String] = []
    var metadata: [String: GGUFValue] = [:]
    keys.reserveCapacity(kvCount)
    for i in 0..<kvCount {
        let key = try c.string("metadata key \(i)")
        guard !key.isEmpty else { throw .malformed(file: file, what: "metadata key \(i)", reason: "is empty") }
        guard metadata[key] == nil else { throw .duplicateKey(file: file, key: key) }
        let type = try c.valueType("metadata key '\(key)'")
        metadata[key] = try c.value(type, "the value of '\(key)'")
        keys.append(key)
    }

    var alignment = 32
    if let a = metadata["general.alignment"] {
        guard case .uint(let v, .uint32) = a, v > 0, v & (v - 1) == 0 else {
            throw .badAlignment(file: file, value: "\(a.intValue.map(String.init) ?? "a value") of type \(a.type)")
        }
        alignment = Int(v)
    }

    var tensors: [GGUFTensorInfo] = []
    var seen = Set<String>()
    for i in 0..<tensorCount {
        let name = try c.string("the name of tensor \(i)")
        guard !name.isEmpty else { throw .malformed(file: file, what: "the name of tensor \(i)", reason: "is empty") }
        guard name.utf8.count <= maxTensorNameBytes else {
            throw .badTensor(file: file, tensor: name, reason: "has a name of \(name.utf8.count) bytes, more than ggml's \(maxTensorNameBytes)")
        }
        guard seen.insert(name).inserted else { throw .duplicateTensor(file: file, tensor: name) }
        let nDims = try c.u32("the dimension count of tensor '\(name)'")
        guard (1...UInt32(maxDims)).contains(nDims) else {
            throw .badTensor(file: file, tensor: name, reason: "has \(nDims) dimensions; ggml tensors have 1 to \(maxDims)")
        }
        var ne: [Int] = []
        for d in 0..<Int(nDims) {
            let raw = try c.u64("dimension \(d) of tensor '\(name)'")
            guard raw >= 1, raw <= UInt64(Int.max) else {
                throw .badTensor(file: file, tensor: name, reason: "has dimension \(d) of extent \(Int64(bitPattern: raw)); extents must be at least 1")
            }
            ne.append(Int(raw))
        }
        let typeID = try c.u32("the type of tensor '\(name)'")
        guard let type = GGMLType(id: typeID) else { throw .unknownTensorType(file: file, tensor: name, typeID: typeID) }
        let rawOffset = try c.u64("the offset of tensor '\(name)'")
        guard let bytes = type.byteCount(ne: ne) else {
            if ne[0] % type.blockSize != 0 {
                throw .badTensor(file: file, tensor: name, reason: "has rows of \(ne[0]) elements, not a multiple of \(type.name)'s block of \(type.blockSize)")
            }
            throw .badTensor(file: file, tensor: name, reason: "has dims \(ne) whose size overflows")
        }
        guard rawOffset <= UInt64(Int.max), Int(rawOffset) % alignment == 0 else {
            throw .badTensor(file: file, tensor: name, reason: "has data offset \(rawOffset), not a multiple of the alignment \(alignment)")
        }
        tensors.append(GGUFTensorInfo(name: name, ne: ne, type: type, offset: Int(rawOffset), range: 0..<bytes, part: 0))
    }

    // The data section starts at the next multiple of the alignment.
    guard let padded = Checked.sum(c.pos, alignment - 1) else {
        throw .malformed(file: file, what: "the header", reason: "is too long")
    }
    let dataOffset = padded / alignment * alignment
    if !tensors.isEmpty && dataOffset > bytes.count {
        throw .truncated(file: file, what: "the padding before the tensor data", needs: dataOffset, fileSize: bytes.count)
    }
    for i in tensors.indices {
        let t = tensors[i]
        guard let begin = Checked.sum(dataOffset, t.offset), let end = Checked.sum(begin, t.range.count) else {
            throw .badTensor(file: file, tensor: t.name, reason: "has data offset \(t.offset) past any file size")
        }
        guard end <= bytes.count else { throw .tensorOutOfBounds(file: file, tensor: t.name, end: end, fileSize: bytes.count) }
        tensors[i] = GGUFTensorInfo(name: t.name, ne: t.ne, type: t.type, offset: t.offset, range: begin..<end, part: 0)
    }
    let byStart = tensors.sorted { $0.range.lowerBound < $1.range.lowerBound }
    for (a, b) in zip(byStart, byStart.dropFirst()) where b.range.lowerBound < a.range.upperBound {
        throw .tensorsOverlap(file: file, first: a.name, second: b.name)
    }
    return ParsedGGUF(version: version, keys: keys, metadata: metadata, tensors: tensors, alignment: alignment, dataOffset: dataOffset)
}

/// Parses `bytes` as a whole GGUF file held in memory (tests and fuzzing; files are opened by `GGUFFile`).
func parseGGUF(bytes: [UInt8], file: String) throws(GGUFError) -> ParsedGGUF {
    let result: Result<ParsedGGUF, GGUFError> = bytes.withUnsafeBytes { raw in
        do throws(GGUFError) { return .success(try parseGGUF(raw, file: file)) } catch { return .failure(error) }
    }
    return try result.get()
}
