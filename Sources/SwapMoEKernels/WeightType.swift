import SwapMoECore
// SwapMoEKernels: pure-Swift SIMD kernels for MoE decoding and prefill.
//
// Conventions used by every kernel in this module:
// - Weight matrices are row-major `W[out, in]`, exactly as PyTorch stores `nn.Linear.weight`.
//   Row `r` starts at byte `r * type.rowBytes(in)` from the matrix base. Rows may be only
//   2-byte aligned (f16/bf16 with odd `in`, quantized blocks of 18/34/... bytes; MXFP4's 17-byte blocks not even
//   that), so every weight load is unaligned. A quantized row is a whole number of blocks (`in % type.blockSize == 0`).
// - Activations, norms, caches and outputs are Float32.
// - Shapes are written in comments as in llama2.c: `W (d,n) @ x (n,) -> y (d,)`.

/// Element type of a weight matrix as stored in memory.
///
/// Local to the kernels; the storage layer maps its own dtype onto this.
public enum WeightType: Sendable, Hashable, CaseIterable {
    /// IEEE-754 binary32.
    case f32
    /// IEEE-754 binary16 (half).
    case f16
    /// bfloat16: the top 16 bits of a binary32, stored as raw `UInt16` bits.
    case bf16
    /// Quantized blocks laid out as GGUF's types of the same name (QuantBlocks*.swift, Docs/ArchiveFormat.md).
    case q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K
    /// OCP microscaling FP4 (gpt-oss's experts): 32 E2M1 values sharing one E8M0 power-of-two scale.
    case mxfp4
    /// llama.cpp's non-linear 4-bit types: each code picks one of 16 fixed levels (`iq4nlValues`) times the scale
    /// of its 32 weights (IQ4_NL: an f16 per block; IQ4_XS: a 6-bit scale per 32 under an f16 per 256).
    case iq4_nl, iq4_xs
    /// q4_K with its rows stored eight at a time, interleaved for the GEMV (Q4KInterleave.swift): the same bytes
    /// as q4_K, but a row is not contiguous, so rows are read through `dequantizeRows`.
    case q4_Kx8
    /// q5_K (Q4KInterleave.swift, with a column of fifth bits per chunk), q6_K (Q6KInterleave.swift), q4_0
    /// (Q40Interleave.swift), q8_0 (Q80Interleave.swift), mxfp4 (Q40Interleave.swift, with one-byte scales) and q5_0
    /// (Q40Interleave.swift, with a column of fifth bits) stored the same way, and q4_1 and q5_1 (as q4_0 and q5_0,
    /// each row's d and min side by side).
    case q5_Kx8, q6_Kx8, q4_0x8, q8_0x8, mxfp4x8, q5_0x8, q4_1x8, q5_1x8
    /// q3_K and q2_K stored the same way (Q23KInterleave.swift: code columns of two low bits, q3_K's third bits in a
    /// column of their own, scales transposed so eight rows unpack at once).
    case q3_Kx8, q2_Kx8
    /// iq4_nl (laid out as q4_0_x8) and iq4_xs (IQ4Interleave.swift) stored the same way.
    case iq4_nlx8, iq4_xsx8

    /// Rows stored together: 8 for the interleaved types (a matrix of them has a multiple of 8 rows), else 1.
    @inlinable public var rowGroup: Int { plain != self ? 8 : 1 }

    /// The interleaved form of a type that has one (q4_K, q5_K, q6_K, q4_0, q8_0, mxfp4, q5_0, q4_1, q5_1, q3_K, q2_K, iq4_nl, iq4_xs), else
    /// nil.
    @inlinable public var interleaved: WeightType? {
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
    @inlinable public var plain: WeightType {
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

    /// Elements per block (1 for the float types).
    @inlinable public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .mxfp4, .iq4_nl, .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .iq4_nlx8: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs, .q4_Kx8, .q5_Kx8, .q6_Kx8, .q3_Kx8, .q2_Kx8, .iq4_xsx8: 256
        }
    }

    /// Bytes per block (per element for the float types).
    @inlinable public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0, .q8_0x8: 34
        case .q4_0, .q4_0x8: 18
        case .q4_1, .q4_1x8: 20
        case .q5_0, .q5_0x8: 22
        case .q5_1, .q5_1x8: 24
        case .q2_K, .q2_Kx8: 84
        case .q3_K, .q3_Kx8: 110
        case .q4_K, .q4_Kx8: 144
        case .q5_K, .q5_Kx8: 176
        case .q6_K, .q6_Kx8: 210
        case .mxfp4, .mxfp4x8: 17
        case .iq4_nl, .iq4_nlx8: 18
        case .iq4_xs, .iq4_xsx8: 136
        }
    }

    @inlinable public var isQuantized: Bool { blockSize > 1 }

    /// The element (unquantized) types.
    public static let floatTypes: [WeightType] = [.f32, .f16, .bf16]

    /// The kernels' type for an archive dtype; nil for a type no kernel computes with (integers, f64, fp8).
    public init?(_ d: DType) {
        switch d {
        case .f32: self = .f32
        case .f16: self = .f16
        case .bf16: self = .bf16
        case .q8_0: self = .q8_0
        case .q4_0: self = .q4_0
        case .q4_1: self = .q4_1
        case .q5_0: self = .q5_0
        case .q5_1: self = .q5_1
        case .q2_K: self = .q2_K
        case .q3_K: self = .q3_K
        case .q4_K: self = .q4_K
        case .q5_K: self = .q5_K
        case .q6_K: self = .q6_K
        case .mxfp4: self = .mxfp4
        case .iq4_nl: self = .iq4_nl
        case .iq4_xs: self = .iq4_xs
        case .q4_Kx8: self = .q4_Kx8
        case .q5_Kx8: self = .q5_Kx8
        case .q6_Kx8: self = .q6_Kx8
        case .q4_0x8: self = .q4_0x8
        case .q8_0x8: self = .q8_0x8
        case .mxfp4x8: self = .mxfp4x8
        case .q5_0x8: self = .q5_0x8
        case .q4_1x8: self = .q4_1x8
        case .q5_1x8: self = .q5_1x8
        case .q3_Kx8: self = .q3_Kx8
        case .q2_Kx8: self = .q2_Kx8
        case .iq4_nlx8: self = .iq4_nlx8
        case .iq4_xsx8: self = .iq4_xsx8
        default: return nil
        }
    }

    /// Bytes of one row of `n` elements (`n` a multiple of `blockSize`).
    @inlinable public func rowBytes(_ n: Int) -> Int { (n / blockSize) &* blockBytes }
}

// MARK: - Scalar conversions

/// Reads element `i` of a weight row as Float (scalar path; used for tails and references).
/// Float types only: a quantized element is read through its block (`dequantizeBlock`).
@inline(__always)
func loadWeight(_ w: UnsafeRawPointer, _ i: Int, _ type: WeightType) -> Float {
    switch type {
    case .f32: return w.loadUnaligned(fromByteOffset: i &* 4, as: Float.self)
    case .f16: return f16ToFloat(w.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
    case .bf16: return bf16ToFloat(w.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
    default: preconditionFailure("loadWeight on quantized \(type)")
    }
}

// MARK: - Row conversion (embedding lookup, dequantised copies)

/// src (n,) of `type` -> dst (n,) Float32. Use for embedding rows: `src = base + token * type.rowBytes(n)`.
public func convertToFloat(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ type: WeightType, count n: Int) {
    if type.isQuantized { return dequantizeRow(dst, src, type, count: n) }
    var i = 0
    switch type {
    case .f32:
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n &* 4)
        return
    case .f16:
        while i &+ 16 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: loadF16x16(src, i &* 2), as: SIMD16<Float>.self)
            i &+= 16
        }
    case .bf16:
        while i &+ 16 <= n {
            let u = SIMD16<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i &* 2, as: SIMD16<UInt16>.self))
            UnsafeMutableRawPointer(dst + i).storeBytes(of: unsafeBitCast(u &<< 16, to: SIMD16<Float>.self), as: SIMD16<Float>.self)
            i &+= 16
        }
    default:
        preconditionFailure("quantized rows return above")
    }
    while i < n { dst[i] = loadWeight(src, i, type); i &+= 1 }
}
