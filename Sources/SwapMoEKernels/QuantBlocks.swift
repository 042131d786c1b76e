import SwapMoECore
// Quantized weight blocks, bit-compatible with GGUF's types of the same name (layouts: Docs/ArchiveFormat.md,
// "Quantized blocks"; read from llama.cpp's ggml-common.h and gguf-py's quants.py, not copied). A row of a
// quantized matrix is `n / blockSize` blocks back to back; every multi-byte field is little-endian and blocks
// are only 2-byte aligned (MXFP4's 17-byte blocks: not at all), so every load is unaligned.
//
// This file holds the scalar dequantizers of the 32-weight types (the K-types': QuantBlocks+KQuants.swift): the
// reference every SIMD kernel is tested against, and the path an embedding lookup takes.

/// Block `b` (of `type`) at `block` -> 32 or 256 floats at `dst`, in element order.
@inline(__always)
func dequantizeBlock(_ dst: UnsafeMutablePointer<Float>, _ block: UnsafeRawPointer, _ type: WeightType) {
    switch type {
    case .q8_0:
        // d (f16) | qs[32] (i8):  x[i] = d * qs[i]
        let d = f16ToFloat(block.loadUnaligned(as: UInt16.self))
        for i in 0..<32 { dst[i] = d * Float(block.load(fromByteOffset: 2 &+ i, as: Int8.self)) }
    case .q4_0, .q4_1, .q5_0, .q5_1:
        dequantizeNibbleBlock(dst, block, NibbleBlock(type))
    case .mxfp4:
        // e (E8M0) | qs[16]: x[i] = d * kvalues[nibble i], d = 2^(e - 128), nibbles as for q4_0.
        let d = e8m0Half(block.load(as: UInt8.self))
        for i in 0..<16 {
            let q = block.load(fromByteOffset: 1 &+ i, as: UInt8.self)
            dst[i] = d * Float(mxfp4Values[Int(q & 15)])
            dst[i &+ 16] = d * Float(mxfp4Values[Int(q >> 4)])
        }
    case .iq4_nl:
        // d (f16) | qs[16]: x[i] = d * kvalues[nibble i], nibbles as for q4_0.
        dequantizeIQ4Codes(dst, block + 2, scale: f16ToFloat(block.loadUnaligned(as: UInt16.self)))
    case .iq4_xs:
        dequantizeIQ4XSBlock(dst, block)
    case .q2_K, .q3_K:
        dequantizeQ23KBlock(dst, block, q3: type == .q3_K)
    case .q4_K, .q5_K:
        dequantizeQ45KBlock(dst, block, q5: type == .q5_K)
    case .q6_K:
        dequantizeQ6KBlock(dst, block)
    case .q4_Kx8, .q5_Kx8, .q6_Kx8, .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .q3_Kx8, .q2_Kx8, .iq4_nlx8, .iq4_xsx8:
        preconditionFailure("dequantizeBlock on an interleaved group (\(type)): rows are read through dequantizeRows")
    case .f32, .f16, .bf16:
        preconditionFailure("dequantizeBlock on float type \(type)")
    }
}

/// The layout of a 32-weight block with 4-bit codes and an f16 scale d at byte 0 (q4_0, q4_1, q5_0, q5_1):
/// code i (0..<32) is nibble i of `qs[16]` (the low nibbles are elements 0..<16, the high ones 16..<32), plus 16
/// when bit i of the little-endian u32 `qh` is set (the 5-bit types). The weight is d (q - bias) (q4_0: bias 8,
/// q5_0: 16) or, for the types with an f16 min m, d q + m (q4_1, q5_1).
struct NibbleBlock {
    /// Byte offset of the f16 min m (nil: symmetric, weights d (q - bias)).
    let min: Int?
    /// Byte offset of the 32 fifth bits (nil: 4-bit codes).
    let qh: Int?
    /// Byte offset of the 16 bytes of nibbles.
    let qs: Int
    /// Subtracted from each code of a symmetric type (0 with a min).
    let bias: Int
    let bytes: Int

    @inline(__always)
    init(_ type: WeightType) {
        switch type {
        case .q4_0: (min, qh, qs, bias, bytes) = (nil, nil, 2, 8, 18)    // d | qs[16]
        case .q4_1: (min, qh, qs, bias, bytes) = (2, nil, 4, 0, 20)      // d | m | qs[16]
        case .q5_0: (min, qh, qs, bias, bytes) = (nil, 2, 6, 16, 22)     // d | qh[4] | qs[16]
        case .q5_1: (min, qh, qs, bias, bytes) = (2, 4, 8, 0, 24)        // d | m | qh[4] | qs[16]
        default: preconditionFailure("\(type) is not a 32-weight nibble type")
        }
    }
}

/// One q4_0 / q4_1 / q5_0 / q5_1 block -> 32 floats: d * (q - bias), or d * q + m.
@inline(__always)
func dequantizeNibbleBlock(_ dst: UnsafeMutablePointer<Float>, _ block: UnsafeRawPointer, _ l: NibbleBlock) {
    let d = f16ToFloat(block.loadUnaligned(as: UInt16.self))
    let qh: UInt32 = l.qh.map { block.loadUnaligned(fromByteOffset: $0, as: UInt32.self) } ?? 0
    for i in 0..<32 {
        let byte = block.load(fromByteOffset: l.qs &+ (i & 15), as: UInt8.self)
        let q = Int(i < 16 ? byte & 15 : byte >> 4) | Int((qh >> UInt32(i)) & 1) << 4
        if let mo = l.min {
            dst[i] = d * Float(q) + f16ToFloat(block.loadUnaligned(fromByteOffset: mo, as: UInt16.self))
        } else {
            dst[i] = d * Float(q &- l.bias)
        }
    }
}

/// MXFP4's 16 E2M1 codes (sign bit 3, then 2 exponent bits and 1 mantissa bit) as values times 2: 0, 0.5, 1, 1.5,
/// 2, 3, 4, 6 and their negatives, doubled so that they are integers (llama.cpp's `kvalues_mxfp4`); the block scale
/// is halved to match (`e8m0Half`).
let mxfp4Values: [Int8] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]

/// The 16 levels of IQ4_NL / IQ4_XS codes (llama.cpp's `kvalues_iq4nl`): denser near zero, as trained weights are.
let iq4nlValues: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

/// 16 bytes of IQ4 codes at `qs` -> 32 floats scale * kvalues[code]: elements 0..<16 from the low nibbles,
/// 16..<32 from the high ones (IQ4_NL's block; one 32-weight sub-block of IQ4_XS).
@inline(__always)
func dequantizeIQ4Codes(_ dst: UnsafeMutablePointer<Float>, _ qs: UnsafeRawPointer, scale d: Float) {
    for i in 0..<16 {
        let q = qs.load(fromByteOffset: i, as: UInt8.self)
        dst[i] = d * Float(iq4nlValues[Int(q & 15)])
        dst[i &+ 16] = d * Float(iq4nlValues[Int(q >> 4)])
    }
}

/// An E8M0 scale (a bare exponent, 2^(e - 127)) times 1/2, as a Float: 2^(e - 128), subnormal below e = 2
/// (llama.cpp's `ggml_e8m0_to_fp32_half`; e = 255, NaN in the OCP format, reads as 2^127 as there).
@inline(__always)
func e8m0Half(_ e: UInt8) -> Float {
    Float(bitPattern: e < 2 ? UInt32(0x0020_0000) << UInt32(e) : UInt32(e &- 1) << 23)
}

/// `e8m0Half` of eight scales at once. On x86 (`e8m0Half8`, the mxfp4_x8 GEMV's scales) as the product
/// 2^(a - 64) 2^(b - 64) with a = e >> 1 and b = e - a, two normal floats (exponents -64...64) built from their bits:
/// a product of two powers of two is exact wherever it is representable, subnormal (e < 2) or not, so there is no
/// compare and select for the subnormals (eight vector operations where `e8m0Half`'s select took 16-18 on AVX2).
@inline(__always)
func e8m0HalfLanes(_ bytes: SIMD8<UInt8>) -> SIMD8<Float> {
    #if SWAPMOE_X86_INTRINSICS
    let e = unsafeBitCast(uint32s(bytes), to: SIMD8<Int32>.self)
    let a = e &>> 1, b = e &- a, bias = SIMD8<Int32>(repeating: 63)
    return unsafeBitCast((a &+ bias) &<< 23, to: SIMD8<Float>.self) * unsafeBitCast((b &+ bias) &<< 23, to: SIMD8<Float>.self)
    #else
    var v = SIMD8<Float>()
    for i in 0..<8 { v[i] = e8m0Half(bytes[i]) }
    return v
    #endif
}

/// A quantized row of `n` elements (a multiple of the block size) -> `n` floats.
func dequantizeRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ type: WeightType, count n: Int) {
    let bs = type.blockSize, bb = type.blockBytes
    var b = 0
    while b &* bs < n {
        dequantizeBlock(dst + b &* bs, src + b &* bb, type)
        b &+= 1
    }
}
