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

/// Lane i = a[i] with the sign of b[i] applied: -a[i] where b[i] < 0, 0 where b[i] == 0 (`vpsignb`).
@inline(__always)
func signBytes(_ a: SIMD32<Int8>, _ b: SIMD32<Int8>) -> SIMD32<Int8> {
    var v = SIMD32<Int8>()
    v._storage._value = Builtin.int_x86_avx2_psign_b(a._storage._value, b._storage._value)
    return v
}
#endif
