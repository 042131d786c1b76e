// The two operations whose best code depends on the CPU the kernels are compiled for: the multiply-add every
// dot product is made of, and the f16 -> f32 widening of f16 weights.
//
// Package.swift defines `SWAPMOE_FMA` / `SWAPMOE_F16C` only when the CPU target has the instruction (a build
// with `-target-cpu native` on such a CPU, or haswell, znver4, ...). Without them (the build another package
// gets with `SWAPMOE_UNSAFE_FLAGS=0`, for the compiler's default x86-64 CPU: SSE2, no FMA, no F16C) LLVM cannot
// emit either instruction and calls libm's `fmaf` for every lane of a fused multiply-add, and compiler-rt's
// `__extendhfsf2` for every f16 value: decode ran at ~5% of native speed (Docs/Benchmarks.md). arm64 always
// has both.
//
// They live in Core as `@inlinable` so that every caller inlines them even when its module is compiled file by
// file (debug builds): as a generic method inside SwapMoEKernels, a debug build called `madd` unspecialised,
// through witness tables, and decode ran ~50x slower than with `addProduct`.

extension SIMD where Scalar == Float {
    /// self (lanes) += a * b. Fused (one rounding, `vfmadd`) where the target has FMA; otherwise a SIMD
    /// multiply then add (two roundings, `mulps` + `addps`), not a per-lane `fmaf` call. Results may differ in
    /// the last bit between the two builds; within one build every kernel and thread split gives the same bits.
    @inlinable @inline(__always)
    public mutating func madd(_ a: Self, _ b: Self) {
        #if SWAPMOE_FMA || arch(arm64)
        addProduct(a, b)
        #else
        self = self + a * b
        #endif
    }
}

/// 8 f16 -> 8 Float, exactly (NaN payloads kept).
///
/// With F16C: built lane by lane so that it is always inlined and LLVM folds it into one `vcvtph2ps ymm`. (The
/// generic `SIMD8<Float>(SIMD8<Float16>)` initializer is a stdlib specialization that the inliner sometimes
/// leaves as a call per block, which halved f16 GEMM/GEMV speed.) Without F16C: integer SIMD (`f16BitsToFloat8`).
@inlinable @inline(__always)
public func f16ToFloat8(_ h: SIMD8<Float16>) -> SIMD8<Float> {
    #if SWAPMOE_F16C || arch(arm64)
    SIMD8<Float>(Float(h[0]), Float(h[1]), Float(h[2]), Float(h[3]), Float(h[4]), Float(h[5]), Float(h[6]), Float(h[7]))
    #else
    f16BitsToFloat8(unsafeBitCast(h, to: SIMD8<UInt16>.self))
    #endif
}

/// 8 f16 bit patterns -> 8 Float with integer SIMD only (no F16C, no subnormal arithmetic), as
/// `half_to_float` in Fabian Giesen's "half <-> float conversions" gist: move exponent and mantissa into
/// place and rebias the exponent (127 - 15); the all-ones exponent (Inf, NaN) gets the rest of the f32
/// bias; zero and subnormals are renormalised by one exact f32 subtraction of 2^-14.
@inlinable @inline(__always)
public func f16BitsToFloat8(_ h: SIMD8<UInt16>) -> SIMD8<Float> {
    let u = SIMD8<UInt32>(truncatingIfNeeded: h)
    let shifted = (u & 0x7FFF) &<< 13
    let exponent = shifted & 0x0F80_0000                                  // the f16 exponent bits, in place
    var o = shifted &+ 0x3800_0000                                        // rebias: (127 - 15) << 23
    o &+= SIMD8<UInt32>(repeating: 0).replacing(with: 0x3800_0000, where: exponent .== 0x0F80_0000)
    let magic = SIMD8<Float>(repeating: 0x1p-14)                          // bits 113 << 23
    let renormalised = unsafeBitCast(o &+ 0x0080_0000, to: SIMD8<Float>.self) - magic
    o.replace(with: unsafeBitCast(renormalised, to: SIMD8<UInt32>.self), where: exponent .== 0)
    return unsafeBitCast(o | ((u & 0x8000) &<< 16), to: SIMD8<Float>.self)
}
