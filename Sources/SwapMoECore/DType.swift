/// Element types a tensor can be stored as, named as safetensors names them ("BF16", "F32", ...).
/// The archive manifest uses the same spellings so a reader in another language needs one table.
public enum DType: String, Sendable, Codable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8"
    case u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: 1
        }
    }

    /// The floating-point types the engine computes with (weights may be stored in any of them).
    public var isComputeFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

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
