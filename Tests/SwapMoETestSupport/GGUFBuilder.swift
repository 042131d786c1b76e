import Foundation

/// Writes small GGUF files byte by byte (the malformed-file tests, and model-shaped files for the packer's):
/// every field can be overridden, and `boundaries` lists where each structure starts (for truncation tests).
public struct GGUFBuilder {
    public var magic: [UInt8] = Array("GGUF".utf8)
    public var version: UInt32 = 3
    public var bigEndianVersion = false
    public var tensorCountOverride: UInt64?
    public var kvCountOverride: UInt64?
    public var kvs: [(key: String, encoded: [UInt8])] = []
    public var tensors: [Tensor] = []
    public var alignment = 32

    public init() {}

    public struct Tensor {
        public var name: String
        public var ne: [UInt64]
        public var type: UInt32 = 0
        public var nDimsOverride: UInt32?
        public var offset: UInt64?
        public var data: [UInt8]

        public init(name: String, ne: [UInt64], type: UInt32 = 0, nDimsOverride: UInt32? = nil, offset: UInt64? = nil, data: [UInt8]) {
            self.name = name; self.ne = ne; self.type = type; self.nDimsOverride = nDimsOverride; self.offset = offset; self.data = data
        }
    }

    public static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    public static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    public static func rawStr(_ b: [UInt8]) -> [UInt8] { le(UInt64(b.count)) + b }

    public mutating func add(_ key: String, type: UInt32, value: [UInt8]) { kvs.append((key, GGUFBuilder.le(type) + value)) }
    public mutating func add(_ key: String, u32 v: UInt32) { add(key, type: 4, value: GGUFBuilder.le(v)) }
    public mutating func add(_ key: String, f32 v: Float) { add(key, type: 6, value: GGUFBuilder.le(v.bitPattern)) }
    public mutating func add(_ key: String, string v: String) { add(key, type: 8, value: GGUFBuilder.str(v)) }
    public mutating func add(_ key: String, bool v: Bool) { add(key, type: 7, value: [v ? 1 : 0]) }
    public mutating func add(_ key: String, strings: [String]) {
        add(key, type: 9, value: GGUFBuilder.le(UInt32(8)) + GGUFBuilder.le(UInt64(strings.count)) + strings.flatMap(GGUFBuilder.str))
    }
    public mutating func add(_ key: String, f32s: [Float]) {
        add(key, type: 9, value: GGUFBuilder.le(UInt32(6)) + GGUFBuilder.le(UInt64(f32s.count)) + f32s.flatMap { GGUFBuilder.le($0.bitPattern) })
    }
    public mutating func add(_ key: String, i32s: [Int32]) {
        add(key, type: 9, value: GGUFBuilder.le(UInt32(5)) + GGUFBuilder.le(UInt64(i32s.count)) + i32s.flatMap { GGUFBuilder.le($0) })
    }

    public mutating func addTensor(_ name: String, ne: [UInt64], type: UInt32 = 0, bytes: Int? = nil, fill: UInt8 = 0) {
        let count = bytes ?? Int(ne.reduce(1, *)) * 4
        tensors.append(Tensor(name: name, ne: ne, type: type, data: (0..<count).map { UInt8(truncatingIfNeeded: $0 &+ Int(fill)) }))
    }

    /// The file, and the offsets where the header, each key/value, each tensor info, the data and each tensor start.
    public func build() -> (bytes: [UInt8], boundaries: [Int]) {
        var out = magic
        var marks = [0, 4]
        out += bigEndianVersion ? withUnsafeBytes(of: version.bigEndian) { Array($0) } : GGUFBuilder.le(version)
        marks.append(out.count)
        out += GGUFBuilder.le(tensorCountOverride ?? UInt64(tensors.count))
        marks.append(out.count)
        out += GGUFBuilder.le(kvCountOverride ?? UInt64(kvs.count))
        for kv in kvs {
            marks.append(out.count)
            out += GGUFBuilder.str(kv.key) + kv.encoded
        }
        var next: UInt64 = 0
        var offsets: [UInt64] = []
        for t in tensors {
            let off = t.offset ?? next
            offsets.append(off)
            guard off < 1 << 30 else { continue }
            next = max(next, (off + UInt64(t.data.count) + UInt64(alignment) - 1) / UInt64(alignment) * UInt64(alignment))
        }
        for (t, off) in zip(tensors, offsets) {
            marks.append(out.count)
            out += GGUFBuilder.str(t.name) + GGUFBuilder.le(t.nDimsOverride ?? UInt32(t.ne.count)) + t.ne.flatMap { GGUFBuilder.le($0) }
            out += GGUFBuilder.le(t.type) + GGUFBuilder.le(off)
        }
        while out.count % alignment != 0 { out.append(0) }
        let data = out.count
        marks.append(data)
        for (t, off) in zip(tensors, offsets) where off < 1 << 30 {
            let at = data + Int(off)
            if out.count < at { out += [UInt8](repeating: 0, count: at - out.count) }
            marks.append(at)
            if out.count < at + t.data.count { out += [UInt8](repeating: 0, count: at + t.data.count - out.count) }
            out.replaceSubrange(at..<(at + t.data.count), with: t.data)
        }
        return (out, marks)
    }

    /// A small valid model-like file: a few keys of each kind and three tensors (f32, f16, Q8_0).
    public static func valid() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.add("general.architecture", string: "llama")
        b.add("general.alignment", u32: 32)
        b.add("llama.block_count", u32: 1)
        b.add("llama.rope.freq_base", f32: 10000)
        b.add("tokenizer.ggml.add_bos_token", bool: true)
        b.add("tokenizer.ggml.tokens", strings: ["<unk>", "<s>", "a", "b", "ab"])
        b.add("tokenizer.ggml.scores", f32s: [0, 0, -1, -2, -3])
        b.add("tokenizer.ggml.token_type", i32s: [2, 3, 1, 1, 1])
        b.addTensor("token_embd.weight", ne: [8, 5])
        b.addTensor("blk.0.attn_norm.weight", ne: [8], type: 1, bytes: 16, fill: 7)
        b.addTensor("blk.0.ffn_gate_exps.weight", ne: [32, 2, 2], type: 8, bytes: 4 * 34, fill: 3)
        return b
    }

    public func write(to path: String) throws { try Data(build().bytes).write(to: URL(fileURLWithPath: path)) }

    /// A GGUF file's bytes with tensor `name`'s ggml type id replaced by `type`, its data left as they are (a file
    /// holding a type swapmoe does not compute with, made from a fixture): the new type must not need more bytes.
    /// Nil when the tensor info is not found.
    public static func settingType(of name: String, to type: UInt32, in bytes: [UInt8]) -> [UInt8]? {
        let key = str(name)
        guard let at = (0...(bytes.count - key.count)).first(where: { bytes[$0..<($0 + key.count)].elementsEqual(key) }) else { return nil }
        var o = at + key.count
        let nDims = Int(bytes[o]) | Int(bytes[o + 1]) << 8
        o += 4 + 8 * nDims
        var out = bytes
        out.replaceSubrange(o..<(o + 4), with: le(type))
        return out
    }
}
