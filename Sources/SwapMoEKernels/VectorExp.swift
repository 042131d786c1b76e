// e^x on 16 lanes, for the elementwise kernels that call exp once per element (SwiGLU's SiLU, softmax): libm's
// `expf` is a call per element, which made SiLU ~3% of a two-thread q4_K decode, all of it on the calling thread
// between two GEMV dispatches (perf, 2026-12-04).
//
// The method is Cephes' `expf`: x = n ln 2 + r with n = round(x / ln 2) and |r| <= ln 2 / 2, ln 2 split in two
// parts so that r is exact; e^r by a degree-7 polynomial (Cephes' minimax coefficients), then times 2^n built
// from the exponent bits (as 2^(n/2) 2^(n - n/2), so that results near the overflow and underflow limits are
// formed without an intermediate infinity or zero). Within 1.2 ulp of e^x everywhere (2 allowed)
// (VectorExpTests compares with a Double exp over every float exponent), +inf above ~88.72, 0 below -104 (denormals between),
// NaN stays NaN. Every lane runs the same instructions, so a value's result does not depend on its lane.

/// e^x per lane (see the file comment for the method and its accuracy).
@inline(__always)
func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // Past these e^x is inf / 0 in Float; clamping keeps n and the exponent arithmetic below in range. (The
    // comparisons take the scalar on the right: against a splatted vector constant the standard library's `.>`
    // compiled to a loop over the lanes through the stack, 6x slower for the whole of `siluMul`.)
    var c = x.replacing(with: 89, where: x .> 89)
    c.replace(with: -104, where: c .< -104)
    // n = round(x log2 e): adding 1.5 * 2^23 rounds to an integer and leaves n in the low mantissa bits.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let t = c * SIMD16(repeating: 1.442_695_04) + magic
    let n = t - magic
    // r = x - n ln 2, with ln 2 = 0.693359375 - 2.12194440e-4 (the first part exact in few bits, so n * it is exact).
    var r = c.addingProduct(n, SIMD16(repeating: -0.693_359_375))
    r = r.addingProduct(n, SIMD16(repeating: 2.121_944_4e-4))
    var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
    p = SIMD16(repeating: 1.398_199_95e-3).addingProduct(p, r)
    p = SIMD16(repeating: 8.333_451_9e-3).addingProduct(p, r)
    p = SIMD16(repeating: 4.166_579_59e-2).addingProduct(p, r)
    p = SIMD16(repeating: 1.666_666_55e-1).addingProduct(p, r)
    p = SIMD16(repeating: 5.000_000_12e-1).addingProduct(p, r)
    let er = (r + SIMD16(repeating: 1)).addingProduct(p, r * r)
    // 2^n = 2^n1 2^n2 with n1 = n >> 1: each factor a normal float even where 2^n alone would not be.
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- SIMD16(repeating: 0x4B40_0000)
    let n1 = ni &>> 1, n2 = ni &- n1
    let s1 = unsafeBitCast((n1 &+ SIMD16(repeating: 127)) &<< 23, to: SIMD16<Float>.self)
    let s2 = unsafeBitCast((n2 &+ SIMD16(repeating: 127)) &<< 23, to: SIMD16<Float>.self)
    var e = (er * s1) * s2
    e.replace(with: 0, where: x .< -104) // e^-104 would round up to the least denormal
    return e.replacing(with: x, where: x .!= x)
}
