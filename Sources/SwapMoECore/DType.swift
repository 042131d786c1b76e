/// Element types a tensor can be stored as, named as safetensors names them ("BF16", "F32", ...), and the
/// quantized block types named as GGUF names them ("Q8_0", "Q4_K", ...). The archive manifest uses the same
/// spellings so a reader in another language needs one table.
public enum DType: String, Sendable, Codable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL"
    /// Blocks of weights with shared scales, bit-compatible with GGUF's types of the same name
    /// (Docs/ArchiveFormat.md, "Quantized blocks"). Blocks run along a matrix row (the last dimension).
    case q8_0 = "Q8_0", q4_0 = "Q4_0", q4_1 = "Q4_1", q5_0 = "Q5_0", q5_1 = "Q5_1"
    case q2_K = "Q2_K", q3_K = "Q3_K", q4_K = "Q4_K", q5_K = "Q5_K", q6_K = "Q6_K"
    case mxfp4 = "MXFP4"
    /// llama.cpp's non-linear 4-bit types: codes index 16 fixed levels (`kvalues_iq4nl`) times a block scale.
    case iq4_nl = "IQ4_NL", iq4_xs = "IQ4_XS"
    /// Q4_K with a matrix's rows stored eight at a time, interleaved for the GEMV (swapmoe's own layout of Q4_K's
    /// bytes, Docs/ArchiveFormat.md): written by the packer, never found in a GGUF file.
    case q4_Kx8 = "Q4_K_X8"
    /// Q5_K, Q6_K, Q4_0 and Q8_0 stored the same way.
    case q5_Kx8 = "Q5_K_X8", q6_Kx8 = "Q6_K_X8", q4_0x8 = "Q4_0_X8", q8_0x8 = "Q8_0_X8"
    /// MXFP4 stored the same way (gpt-oss's experts), and Q5_0 (with a column of fifth bits).
    case mxfp4x8 = "MXFP4_X8", q5_0x8 = "Q5_0_X8"
    /// Q4_1 and Q5_1 stored the same way (their d and min side by side per row).
    case q4_1x8 = "Q4_1_X8", q5_1x8 = "Q5_1_X8"
    /// Q3_K and Q2_K stored the same way (Q3_K_M's and Q2_K's expert matrices).
    case q3_Kx8 = "Q3_K_X8", q2_Kx8 = "Q2_K_X8"
    /// IQ4_NL and IQ4_XS stored the same way.
    case iq4_nlx8 = "IQ4_NL_X8", iq4_xsx8 = "IQ4_XS_X8"

    /// Rows stored together: 8 for the interleaved types (their matrices have a multiple of 8 rows), else 1.
    public var rowGroup: Int { plain != self ? 8 : 1 }

    /// The interleaved form of a type that has one (Q4_K, Q5_K, Q6_K, Q4_0, Q8_0, MXFP4, Q5_0, Q4_1, Q5_1, Q3_K, Q2_K, IQ4_NL, IQ4_XS), else
    /// nil.
    public var interleaved: DType? {
        switch self {
        case .q4_K: .q4_Kx8
        case .q5_K: .q5_Kx8
        case .q6_K: .q6_Kx8
        case .q4_0: .q4_0x8
        case .q8_0: .q8_0x8
        case .mxfp4: .mxfp4x8
        case .q5_0: .q5_0x8
        case .q4_1: .q4_1x8
        case .q5_1: .q5_1x8
        case .q3_K: .q3_Kx8
        case .q2_K: .q2_Kx8
        case .iq4_nl: .iq4_nlx8
        case .iq4_xs: .iq4_xsx8
        default: nil
        }
    }

    /// The type whose rows an interleaved type stores (itself for the others).
    public var plain: DType {
        switch self {
        case .q4_Kx8: .q4_K
        case .q5_Kx8: .q5_K
        case .q6_Kx8: .q6_K
        case .q4_0x8: .q4_0
        case .q8_0x8: .q8_0
        case .mxfp4x8: .mxfp4
        case .q5_0x8: .q5_0
        case .q4_1x8: .q4_1
        case .q5_1x8: .q5_1
        case .q3_Kx8: .q3_K
        case .q2_Kx8: .q2_K
        case .iq4_nlx8: .iq4_nl
        case .iq4_xsx8: .iq4_xs
        default: self
        }
    }

    /// The quantized block types a user can ask for (GGUF's; Q4_K_X8 is a layout the packer picks for Q4_K).
    public static let quantized: [DType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .mxfp4,
                                            .iq4_nl, .iq4_xs]

    /// Elements per block: 1 for plain element types, 32 or 256 for quantized ones.
    public var blockSize: Int {
        switch self {
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .mxfp4, .iq4_nl, .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .iq4_nlx8: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs, .q4_Kx8, .q5_Kx8, .q6_Kx8, .q3_Kx8, .q2_Kx8, .iq4_xsx8: 256
        default: 1
        }
    }

    /// Bytes per block (per element for plain types).
    public var blockBytes: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: 1
        case .q8_0, .q8_0x8: 34      // f16 scale + 32 x i8
        case .q4_0, .q4_0x8: 18      // f16 scale + 32 x 4 bits
        case .q4_1, .q4_1x8: 20      // f16 scale, f16 min + 32 x 4 bits
        case .q5_0, .q5_0x8: 22      // f16 scale + 32 fifth bits + 32 x 4 bits
        case .q5_1, .q5_1x8: 24      // f16 scale, f16 min + 32 fifth bits + 32 x 4 bits
        case .q2_K, .q2_Kx8: 84      // 16 bytes of 4-bit scales/mins, 256 x 2 bits, f16 d, f16 dmin
        case .q3_K, .q3_Kx8: 110     // 256 high bits, 256 x 2 low bits, 12 bytes of 6-bit scales, f16 d
        case .q4_K, .q4_Kx8: 144     // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 256 x 4 bits
        case .q5_K, .q5_Kx8: 176     // as q4_K + 32 bytes of fifth bits
        case .q6_K, .q6_Kx8: 210     // 256 x 4 low bits, 256 x 2 high bits, 16 x i8 scales, f16 d
        case .mxfp4, .mxfp4x8: 17     // E8M0 scale + 32 x 4-bit E2M1
        case .iq4_nl, .iq4_nlx8: 18    // f16 scale + 32 x 4-bit level indices
        case .iq4_xs, .iq4_xsx8: 136   // f16 d, 8 x 6-bit sub-block scales (u16 high bits, 4 bytes of low nibbles), 256 x 4 bits
        }
    }

    /// Bytes per element of a plain type; for a quantized type use `byteCount(shape:)`.
    public var size: Int {
        precondition(!isQuantized, "\(rawValue) has no whole-byte element size")
        return blockBytes
    }

    public var isQuantized: Bool { blockSize > 1 }

    /// Bits per weight (8.5 for Q8_0, 4.5 for Q4_K, ...).
    public var bitsPerWeight: Double { Double(blockBytes * 8) / Double(blockSize) }

    /// The bytes of a tensor of `shape`, or nil on a negative extent, on overflow, (quantized types) when the
    /// last dimension is not a whole number of blocks, or (the interleaved types: Q4_K_X8, ...) when the rows are not whole groups of 8.
    public func byteCount(shape: [Int]) -> Int? {
        if blockSize == 1 { return Checked.byteCount(shape: shape, elementSize: blockBytes) }
        if rowGroup > 1 { guard shape.count >= 2, shape[shape.count - 2] % rowGroup == 0 else { return nil } }
        guard let last = shape.last, last % blockSize == 0, let elements = Checked.product(shape) else { return nil }
        return Checked.product([elements / blockSize, blockBytes])
    }

    /// The floating-point types the engine computes with (weights may be stored in any of them).
    public var isComputeFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// The types a weight matrix can be stored as for the kernels: the compute floats and the quantized blocks.
    public var isMatrixType: Bool { isComputeFloat || isQuantized }

    /// Parses a user-facing spelling (`bf16`, `BF16`, `float16`, `half`, `fp32`...).
    public init?(userSpelling s: String) {
        switch s.lowercased() {
        case "f32", "fp32", "float32", "float": self = .f32
        case "f16", "fp16", "float16", "half": self = .f16
        case "bf16", "bfloat16": self = .bf16
        default:
            guard let d = DType(rawValue: s.uppercased()) else { return nil }
            self = d
        }
    }
}

extension DType {
    /// The type a matrix whose rows hold `cols` weights is stored as when `requested` was asked for: the type
    /// itself when `cols` is a whole number of its blocks; else, for a 256-weight K-type, the 32-weight type
    /// llama-quantize falls back to (`tensor_type_fallback` in llama.cpp's src/llama-quant.cpp: Q2_K and Q3_K to
    /// Q4_0, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, IQ4_XS to IQ4_NL) when `cols` is a whole number of 32-weight
    /// blocks; else nil (the matrix stays in float, where llama.cpp would write F16). `pack --quant` and the
    /// shadow policy's low-bit experts both follow it.
    public static func stored(asking requested: DType?, cols: Int) -> DType? {
        guard let requested, cols > 0 else { return nil }
        if cols % requested.blockSize == 0 { return requested }
        guard let fallback = requested.blockFallback, cols % fallback.blockSize == 0 else { return nil }
        return fallback
    }

    /// llama-quantize's 32-weight stand-in for a 256-weight K-type.
    public var blockFallback: DType? {
        switch self {
        case .q2_K, .q3_K: .q4_0
        case .q4_K: .q5_0
        case .q5_K: .q5_1
        case .q6_K: .q8_0
        case .iq4_xs: .iq4_nl
        default: nil
        }
    }
}
