import SwapMoECore

/// A ggml tensor type as GGUF stores it (a `UInt32` id), with its block layout: `blockSize` elements take
/// `blockBytes` bytes, blocks run along a row (ggml's `ne[0]`). The table is llama.cpp's (`ggml.h`,
/// gguf-py `GGML_QUANT_SIZES`); every id is known so that an error can name the type, and `dtype` says which ones
/// swapmoe keeps as stored.
public struct GGMLType: Sendable, Hashable, CustomStringConvertible {
    public let id: UInt32
    public let name: String
    public let blockSize: Int
    public let blockBytes: Int

    public var description: String { name }

    /// The swapmoe type this ggml type is bit-compatible with, when the kernels compute with it; nil otherwise.
    public var dtype: DType? { GGMLType.keptAsStored[id] }

    /// The bytes of a tensor of ggml dims `ne` (`ne[0]` is the row length), or nil when a row is not a whole number
    /// of blocks, a dim is not positive, or the size overflows.
    public func byteCount(ne: [Int]) -> Int? {
        guard let row = ne.first, row > 0, row % blockSize == 0, ne.allSatisfy({ $0 > 0 }) else { return nil }
        guard let rowBytes = Checked.product([row / blockSize, blockBytes]) else { return nil }
        return Checked.product([rowBytes] + ne.dropFirst())
    }

    /// Bytes of one row of `row` elements (nil when not whole blocks).
    public func rowBytes(_ row: Int) -> Int? {
        guard row > 0, row % blockSize == 0 else { return nil }
        return Checked.product([row / blockSize, blockBytes])
    }

    /// The type of id `id`, or nil for an id ggml never had or has removed (its layout is unknown).
    public init?(id: UInt32) {
        guard let t = GGMLType.table[id] else { return nil }
        self = t
    }

    init(_ id: UInt32, _ name: String, _ blockSize: Int, _ blockBytes: Int) {
        self.id = id; self.name = name; self.blockSize = blockSize; self.blockBytes = blockBytes
    }

    /// The name of any id ggml has used, removed ones included ("Q4_0_4_4 (removed)"), for error messages.
    public static func name(ofID id: UInt32) -> String? {
        table[id]?.name ?? removed[id].map { "\($0), removed from ggml" }
    }

    /// The ggml types swapmoe keeps as stored, by id: plain floats and the block types the kernels implement.
    /// When a kernel for another block type lands (IQ3_S, ...), its DType case is added here and nowhere else in
    /// this module.
    static let keptAsStored: [UInt32: DType] = [
        0: .f32, 1: .f16, 30: .bf16,
        8: .q8_0, 2: .q4_0, 3: .q4_1, 6: .q5_0, 7: .q5_1, 10: .q2_K, 11: .q3_K, 12: .q4_K, 13: .q5_K, 14: .q6_K,
        39: .mxfp4, 20: .iq4_nl, 23: .iq4_xs,
    ]

    /// The supported type names, for messages.
    public static var supportedNames: String {
        keptAsStored.keys.sorted().compactMap { table[$0]?.name }.joined(separator: ", ")
    }

    private static let qk = 256
    /// Every type id of llama.cpp's current table with its block layout.
    static let table: [UInt32: GGMLType] = {
        let all: [GGMLType] = [
            .init(0, "F32", 1, 4), .init(1, "F16", 1, 2),
            .init(2, "Q4_0", 32, 2 + 16), .init(3, "Q4_1", 32, 2 + 2 + 16),
            .init(6, "Q5_0", 32, 2 + 4 + 16), .init(7, "Q5_1", 32, 2 + 2 + 4 + 16),
            .init(8, "Q8_0", 32, 2 + 32), .init(9, "Q8_1", 32, 2 + 2 + 32),
            .init(10, "Q2_K", qk, 2 + 2 + qk / 16 + qk / 4), .init(11, "Q3_K", qk, 2 + qk / 4 + qk / 8 + 12),
            .init(12, "Q4_K", qk, 2 + 2 + qk / 2 + 12), .init(13, "Q5_K", qk, 2 + 2 + qk / 2 + qk / 8 + 12),
            .init(14, "Q6_K", qk, 2 + qk / 2 + qk / 4 + qk / 16), .init(15, "Q8_K", qk, 4 + qk + qk / 8),
            .init(16, "IQ2_XXS", qk, 2 + qk / 4), .init(17, "IQ2_XS", qk, 2 + qk / 4 + qk / 32),
            .init(18, "IQ3_XXS", qk, 2 + qk / 4 + qk / 8), .init(19, "IQ1_S", qk, 2 + qk / 8 + qk / 16),
            .init(20, "IQ4_NL", 32, 2 + 16), .init(21, "IQ3_S", qk, 2 + qk / 4 + qk / 8 + qk / 32 + 4),
            .init(22, "IQ2_S", qk, 2 + qk / 4 + qk / 16), .init(23, "IQ4_XS", qk, 2 + 2 + qk / 2 + qk / 64),
            .init(24, "I8", 1, 1), .init(25, "I16", 1, 2), .init(26, "I32", 1, 4), .init(27, "I64", 1, 8),
            .init(28, "F64", 1, 8), .init(29, "IQ1_M", qk, qk / 8 + qk / 16 + qk / 32), .init(30, "BF16", 1, 2),
            .init(34, "TQ1_0", qk, 2 + 4 * 13), .init(35, "TQ2_0", qk, 2 + 64),
            .init(39, "MXFP4", 32, 1 + 16), .init(40, "NVFP4", 64, 4 + 32),
            .init(41, "Q1_0", 128, 2 + 16), .init(42, "Q2_0", 64, 2 + 16),
        ]
        return Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    }()

    /// Ids ggml used once and removed (their data cannot be read by current llama.cpp either).
    static let removed: [UInt32: String] = [
        4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8",
        36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8",
    ]
}
