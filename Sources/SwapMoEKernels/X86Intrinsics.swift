// x86 integer dot-product instructions for the quantized GEMV (QuantGEMV+Integer.swift), called through
// Swift's `Builtin` module: these are LLVM's own intrinsics, compiled like any Swift code (no C). Only built
// where Package.swift defines SWAPMOE_X86_INTRINSICS (an AVX2 target with unsafe flags allowed); each
// wrapper states the lane arithmetic, which `QuantGEMV+Integer.swift`'s scalar reference restates.
#if SWAPMOE_X86_INTRINSICS
import Builtin

/// Lane i (0..<16) = a[2i] b[2i] + a[2i+1] b[2i+1], a unsigned and b signed bytes, saturated to Int16
/// (`vpmaddubsw`). The kernels keep |a| <= 63 and |b| <= 127, so no lane saturates (2 * 63 * 127 < 2^15).
@inline(__always)
func maddUbsSw(_ a: SIMD32<UInt8>, _ b: SIMD32<Int8>) -> SIMD16<Int16> {
    var v = SIMD16<Int16>()
    v._storage._value = Builtin.int_x86_avx2_pmadd_ub_sw(a._storage._value, b._storage._value)
    return v
}

/// Lane i (0..<8) = a[2i] b[2i] + a[2i+1] b[2i+1] in Int32 (`vpmaddwd`; exact for the kernels' operands).
@inline(__always)
func maddWd(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD8<Int32> {
    var v = SIMD8<Int32>()
    v._storage._value = Builtin.int_x86_avx2_pmadd_wd(a._storage._value, b._storage._value)
    return v
}

/// Byte i (0..<32) = 16 where bit i of `bits` is set, else 0 (the fifth bits of q5_0 / q5_1 codes): the 4 bytes
/// of `bits` spread to bytes 8j ..< 8j + 8 (`vpshufb`), every bit but byte i's own set (`vpor`), compared with
/// 0xFF (`vpcmpeqb`), masked to 16. Written on `Builtin` vectors of bytes: the standard library's `SIMD32<UInt8>`
/// operators compile to one byte at a time.
@inline(__always)
func fifthBitBytes(_ bits: UInt32) -> SIMD32<UInt8> {
    @inline(__always) func bytes(_ v: UInt64) -> SIMD32<UInt8> { unsafeBitCast(SIMD4<UInt64>(repeating: v), to: SIMD32<UInt8>.self) }
    let splat = unsafeBitCast(SIMD8<UInt32>(repeating: bits), to: SIMD32<UInt8>.self)
    let spreadIndex = unsafeBitCast(SIMD4<UInt64>(0, 0x0101_0101_0101_0101, 0x0202_0202_0202_0202, 0x0303_0303_0303_0303),
                                    to: SIMD32<UInt8>.self)
    let spread = shuffleBytes(splat, spreadIndex)._storage._value
    let others = Builtin.or_Vec32xInt8(spread, bytes(0x7FBF_DFEF_F7FB_FDFE)._storage._value)
    let set = Builtin.sext_Vec32xInt1_Vec32xInt8(Builtin.cmp_eq_Vec32xInt8(others, bytes(~0)._storage._value))
    var v = SIMD32<UInt8>()
    v._storage._value = Builtin.and_Vec32xInt8(set, bytes(0x1010_1010_1010_1010)._storage._value)
    return v
}

/// Byte i of each 16-byte half = byte (b[i] & 15) of a's same half, or 0 where b[i] has its top bit set
/// (`vpshufb`).
@inline(__always)
func shuffleBytes(_ a: SIMD32<UInt8>, _ b: SIMD32<UInt8>) -> SIMD32<UInt8> {
    var v = SIMD32<UInt8>()
    v._storage._value = Builtin.int_x86_avx2_pshuf_b(a._storage._value, b._storage._value)
    return v
}

/// 16 signed bytes -> 16 Int16 lanes (`vpmovsxbw`). Built lane by lane from the standard library's SIMD
/// subscripts, LLVM turned this into `vpmovsxbw` for q3_K's scales but, for q2_K's, into a byte-by-byte extraction
/// through SSE4a's `extrq` that ran the q2_K GEMV at 0.18 GB/s instead of ~12 (release build, Zen 4, 2026-12-04).
@inline(__always)
func int16s(_ b: SIMD16<Int8>) -> SIMD16<Int16> {
    var v = SIMD16<Int16>()
    v._storage._value = Builtin.sext_Vec16xInt8_Vec16xInt16(b._storage._value)
    return v
}

/// 16 unsigned bytes -> 16 Int16 lanes (`vpmovzxbw`).
@inline(__always)
func uint16s(_ b: SIMD16<UInt8>) -> SIMD16<Int16> {
    var v = SIMD16<Int16>()
    v._storage._value = Builtin.zext_Vec16xInt8_Vec16xInt16(b._storage._value)
    return v
}

/// 8 unsigned bytes -> 8 UInt32 lanes (`vpmovzxbd`).
@inline(__always)
func uint32s(_ b: SIMD8<UInt8>) -> SIMD8<UInt32> {
    var v = SIMD8<UInt32>()
    v._storage._value = Builtin.zext_Vec8xInt8_Vec8xInt32(b._storage._value)
    return v
}

/// Each row's word of eight (one per lane) in both Int32 lanes 2r, 2r + 1 (`vpmovzxdq`, then a shift and an or).
@inline(__always)
func rowWords16(_ v: SIMD8<UInt32>) -> SIMD16<UInt32> {
    var wide = SIMD8<UInt64>()
    wide._storage._value = Builtin.zext_Vec8xInt32_Vec8xInt64(v._storage._value)
    return unsafeBitCast(wide | (wide &<< 32), to: SIMD16<UInt32>.self)
}

/// 8 UInt16 -> 8 UInt32 lanes (`vpmovzxwd`).
@inline(__always)
func uint32s16(_ v: SIMD8<UInt16>) -> SIMD8<UInt32> {
    var r = SIMD8<UInt32>()
    r._storage._value = Builtin.zext_Vec8xInt16_Vec8xInt32(v._storage._value)
    return r
}

/// A hint to bring the cache line at `p` into all cache levels (`prefetcht0`); never faults.
@inline(__always)
func prefetchLine(_ p: UnsafeRawPointer) {
    Builtin.int_prefetch_RawPointer(p._rawValue, Int32(0)._value, Int32(3)._value, Int32(1)._value)
}

/// The same into L2 and L3, not L1 (`prefetcht1`).
@inline(__always)
func prefetchLineL2(_ p: UnsafeRawPointer) {
    Builtin.int_prefetch_RawPointer(p._rawValue, Int32(0)._value, Int32(2)._value, Int32(1)._value)
}

/// The low 32 bits of each 64-bit lane (`vpmovqd`). The standard library's `SIMD8<UInt32>(truncatingIfNeeded:)`
/// stayed a call into its generic code here: 6% of a one-thread q4_K_x8 decode (Zen 4, 2026-12-04).
@inline(__always)
func lowHalves(_ v: SIMD8<UInt64>) -> SIMD8<UInt32> {
    var r = SIMD8<UInt32>()
    r._storage._value = Builtin.trunc_Vec8xInt64_Vec8xInt32(v._storage._value)
    return r
}

/// Lane i (0..<4) = a[2i] b[2i] + a[2i+1] b[2i+1] in Int32 (128-bit `vpmaddwd`).
@inline(__always)
func maddWd(_ a: SIMD8<Int16>, _ b: SIMD8<Int16>) -> SIMD4<Int32> {
    var v = SIMD4<Int32>()
    v._storage._value = Builtin.int_x86_sse2_pmadd_wd(a._storage._value, b._storage._value)
    return v
}

/// [a0 + a1, a2 + a3, a4 + a5, a6 + a7, b0 + b1, ..., b6 + b7], wrapping (`vphaddw`).
@inline(__always)
func pairSums(_ a: SIMD8<Int16>, _ b: SIMD8<Int16>) -> SIMD8<Int16> {
    var v = SIMD8<Int16>()
    v._storage._value = Builtin.int_x86_ssse3_phadd_w_128(a._storage._value, b._storage._value)
    return v
}

#if SWAPMOE_AVX512
/// 32 unsigned bytes -> 32 Int16 lanes (`vpmovzxbw zmm`).
@inline(__always)
func uint16s(_ b: SIMD32<UInt8>) -> SIMD32<Int16> {
    var v = SIMD32<Int16>()
    v._storage._value = Builtin.zext_Vec32xInt8_Vec32xInt16(b._storage._value)
    return v
}

/// 32 signed bytes -> 32 Int16 lanes (`vpmovsxbw zmm`).
@inline(__always)
func int16s(_ b: SIMD32<Int8>) -> SIMD32<Int16> {
    var v = SIMD32<Int16>()
    v._storage._value = Builtin.sext_Vec32xInt8_Vec32xInt16(b._storage._value)
    return v
}

/// 512-bit `vpmaddubsw`: `maddUbsSw` on 64 bytes.
@inline(__always)
func maddUbsSw(_ a: SIMD64<UInt8>, _ b: SIMD64<Int8>) -> SIMD32<Int16> {
    var v = SIMD32<Int16>()
    v._storage._value = Builtin.int_x86_avx512_pmaddubs_w_512(a._storage._value, b._storage._value)
    return v
}

/// 512-bit `vpmaddwd`: `maddWd` on 32 Int16 lanes.
@inline(__always)
func maddWd(_ a: SIMD32<Int16>, _ b: SIMD32<Int16>) -> SIMD16<Int32> {
    var v = SIMD16<Int32>()
    v._storage._value = Builtin.int_x86_avx512_pmaddw_d_512(a._storage._value, b._storage._value)
    return v
}

#if SWAPMOE_VNNI
/// acc + lane i (0..<16) = Σ_{k < 4} a[4i + k] b[4i + k], a unsigned and b signed bytes, in Int32 without
/// saturation (`vpdpbusd zmm`).
@inline(__always)
func dotBytes(_ acc: SIMD16<Int32>, _ a: SIMD64<UInt8>, _ b: SIMD64<Int8>) -> SIMD16<Int32> {
    var v = SIMD16<Int32>()
    v._storage._value = Builtin.int_x86_avx512_vpdpbusd_512(acc._storage._value, unsafeBitCast(a, to: SIMD16<Int32>.self)._storage._value,
                                                            unsafeBitCast(b, to: SIMD16<Int32>.self)._storage._value)
    return v
}

/// `dotBytes` on 256 bits (`vpdpbusd ymm`, AVX512_VL): lane i (0..<8) of acc + Σ_{k < 4} a[4i + k] b[4i + k].
@inline(__always)
func dotBytes(_ acc: SIMD8<Int32>, _ a: SIMD32<UInt8>, _ b: SIMD32<Int8>) -> SIMD8<Int32> {
    var v = SIMD8<Int32>()
    v._storage._value = Builtin.int_x86_avx512_vpdpbusd_256(acc._storage._value, unsafeBitCast(a, to: SIMD8<Int32>.self)._storage._value,
                                                            unsafeBitCast(b, to: SIMD8<Int32>.self)._storage._value)
    return v
}
#endif

/// a * 2^floor(e) per lane, exactly (one rounding, subnormal results kept: `vscalefps ymm`).
@inline(__always)
func scaleByPowersOfTwo(_ a: SIMD8<Float>, _ e: SIMD8<Float>) -> SIMD8<Float> {
    var v = SIMD8<Float>()
    v._storage._value = Builtin.int_x86_avx512_mask_scalef_ps_256(a._storage._value, e._storage._value, a._storage._value, UInt8(0xFF)._value)
    return v
}

/// `scaleByPowersOfTwo` on 16 lanes (`vscalefps zmm`).
@inline(__always)
func scaleByPowersOfTwo(_ a: SIMD16<Float>, _ e: SIMD16<Float>) -> SIMD16<Float> {
    var v = SIMD16<Float>()
    v._storage._value = Builtin.int_x86_avx512_mask_scalef_ps_512(a._storage._value, e._storage._value, a._storage._value,
                                                                  UInt16(0xFFFF)._value, Int32(4)._value)
    return v
}

/// Each lane converted exactly (|v| < 2^24 in the kernels) (`vcvtdq2ps zmm`).
@inline(__always)
func int32sToFloat16(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var r = SIMD16<Float>()
    r._storage._value = Builtin.sitofp_Vec16xInt32_Vec16xFPIEEE32(v._storage._value)
    return r
}

#if SWAPMOE_VBMI
/// Byte j of each 64-bit lane i: the 8 bits of `data`'s lane i from bit `control` byte j (mod 64, wrapping
/// around the lane) on (`vpmultishiftqb zmm`).
@inline(__always)
func multishiftBytes(_ control: SIMD64<UInt8>, _ data: SIMD8<UInt64>) -> SIMD64<UInt8> {
    var v = SIMD64<UInt8>()
    v._storage._value = Builtin.int_x86_avx512_pmultishift_qb_512(control._storage._value, unsafeBitCast(data, to: SIMD64<UInt8>.self)._storage._value)
    return v
}

/// Byte i (0..<64) = table[index[i] & 63] (`vpermb zmm`).
@inline(__always)
func permuteBytes(_ table: SIMD64<UInt8>, _ index: SIMD64<UInt8>) -> SIMD64<UInt8> {
    var v = SIMD64<UInt8>()
    v._storage._value = Builtin.int_x86_avx512_permvar_qi_512(table._storage._value, index._storage._value)
    return v
}

/// Each lane zero-extended to 64 bits.
@inline(__always)
func uint64s(_ v: SIMD8<UInt32>) -> SIMD8<UInt64> {
    var r = SIMD8<UInt64>()
    r._storage._value = Builtin.zext_Vec8xInt32_Vec8xInt64(v._storage._value)
    return r
}

@inline(__always)
func uint64s(_ v: SIMD8<UInt16>) -> SIMD8<UInt64> {
    var r = SIMD8<UInt64>()
    r._storage._value = Builtin.zext_Vec8xInt16_Vec8xInt64(v._storage._value)
    return r
}
#endif

/// 512-bit `vpshufb`: `shuffleBytes` within each of the four 128-bit lanes.
@inline(__always)
func shuffleBytes(_ a: SIMD64<UInt8>, _ b: SIMD64<UInt8>) -> SIMD64<UInt8> {
    var v = SIMD64<UInt8>()
    v._storage._value = Builtin.int_x86_avx512_pshuf_b_512(a._storage._value, b._storage._value)
    return v
}
#endif

/// Lane i = a[i] with the sign of b[i] applied: -a[i] where b[i] < 0, 0 where b[i] == 0 (`vpsignb`).
@inline(__always)
func signBytes(_ a: SIMD32<Int8>, _ b: SIMD32<Int8>) -> SIMD32<Int8> {
    var v = SIMD32<Int8>()
    v._storage._value = Builtin.int_x86_avx2_psign_b(a._storage._value, b._storage._value)
    return v
}
#endif
