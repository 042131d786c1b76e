import SwapMoECore
#if SWAPMOE_X86_INTRINSICS
import Builtin
#endif
// The activation vector x of a quantized GEMV, quantized once per call to 8-bit blocks for the integer dot
// products (QuantGEMV+Integer.swift), exactly as llama.cpp quantizes it for the same weight types:
// - 32-weight types (q8_0, q4_0, q4_1, q5_0, q5_1): blocks of 32 (llama.cpp's q8_0 activations,
//   `quantize_row_q8_0`; for q4_1 / q5_1 its q8_1, the same blocks with their sum):
//   d = max|x| / 127 (kept at f16 precision, as its block stores it), q = round_half_even(x * 127 / max|x|).
// - K-type weights: blocks of 256 (llama.cpp's q8_K, `quantize_row_q8_K_ref`): m = the x of largest |x|,
//   q = min(127, round_half_even(x * (-127 / m))), d = 1 / (-127 / m).
// Either way |x - d q| <= |d| / 2 per element (plus, for 32-blocks, up to 127 steps of d's f16 rounding,
// 2^-11 relative), and each 16 consecutive q are summed once (the weights' offsets and mins use these sums); for
// 32-blocks also d Σ q per block, as llama.cpp's q8_1 blocks carry it for q4_1 / q5_1 weights (there as an f16).

/// Views into one scratch allocation: q (n Int8), scale (one Float per block), sums (n/16 Int16), blockSums
/// (d Σ q per 32-block, Float; only for 32-blocks).
struct QuantizedActivations {
    let q: UnsafePointer<Int8>
    let scale: UnsafePointer<Float>
    let sums: UnsafePointer<Int16>
    let blockSums: UnsafePointer<Float>

    /// Bytes of scratch for n elements (n a multiple of 32).
    static func scratchBytes(_ n: Int) -> Int {
        let scales = 4 &* (n / 32), sums = 2 &* (n / 16)
        return n &+ 2 &* scales &+ sums &+ 64
    }
}

extension QuantizedActivations {
    /// Σ q_x over 32-block b (its two 16-sums added).
    @inline(__always)
    func sum32(_ b: Int) -> Int32 { Int32(truncatingIfNeeded: sums[2 &* b]) &+ Int32(truncatingIfNeeded: sums[2 &* b &+ 1]) }
}

/// The activation block of a weight type: 32 for the 32-weight types, 256 for the K-types.
func activationBlock(_ type: WeightType) -> Int { type.blockSize == 32 ? 32 : 256 }

/// x (n,) -> 8-bit blocks of `block` (32 or 256) in `scratch` (`QuantizedActivations.scratchBytes(n)` bytes,
/// 4-byte aligned). n must be a multiple of `block`. Never traps: NaN or infinite x give NaN scales and
/// some in-range values, so NaN reaches the output as it would through the float path. Out of line (one call per
/// matrix): inlined into a large caller (`gemvSwiGLU`) it ran the optimizer's budget out and left its loads as calls
/// to `loadUnaligned`.
@inline(never)
func quantizeActivations(_ x: UnsafePointer<Float>, n: Int, block: Int, scratch: UnsafeMutableRawPointer) -> QuantizedActivations {
    let scaleBytes: Int = 4 &* (n / 32), sumBytes: Int = 2 &* (n / 16)
    let scale = scratch.assumingMemoryBound(to: Float.self)
    let blockSums = (scratch + scaleBytes).assumingMemoryBound(to: Float.self)
    let sums = (scratch + 2 &* scaleBytes).assumingMemoryBound(to: Int16.self)
    let q = (scratch + (2 &* scaleBytes &+ sumBytes)).assumingMemoryBound(to: Int8.self)
    var b = 0
    while b &* block < n {
        let xb = x + b &* block, qb = q + b &* block
        var hi = SIMD16<Float>(repeating: -.infinity), lo = SIMD16<Float>(repeating: .infinity)
        var k = 0
        while k < block {
            let v = loadF32x16(xb, k)
            // Compare-and-blend (`vcmpps`, `vblendvps`): the standard library's `pointwiseMax` on floats runs
            // lane by lane through memory (IEEE maxNum), which made this loop 13% of a q4_K decode.
            hi.replace(with: v, where: v .> hi); lo.replace(with: v, where: v .< lo)
            k &+= 16
        }
        let mx = hmax8(hi.lowHalf, hi.highHalf), mn = -hmax8(-lo.lowHalf, -lo.highHalf)
        let mul: Float
        if block == 32 {
            let amax = max(mx, -mn)
            scale[b] = Float(Float16(amax / 127))
            mul = amax != 0 ? 127 / amax : 0
        } else {
            let m = mx >= -mn ? mx : mn   // the x of largest |x| (a tie takes +: q and d both flip sign, d q is the same)
            let iscale: Float = m != 0 ? -127 / m : 0
            scale[b] = m != 0 ? 1 / iscale : 0
            mul = iscale
        }
        let s = SIMD16<Float>(repeating: mul)
        k = 0
        while k < block {
            let c = roundToInt8Lanes(loadF32x16(xb, k) * s)
            UnsafeMutableRawPointer(qb + k).storeBytes(of: narrowToInt8(c), as: SIMD16<Int8>.self)
            sums[(b &* block &+ k) / 16] = Int16(truncatingIfNeeded: laneSum(c))
            k &+= 16
        }
        if block == 32 { blockSums[b] = scale[b] * Float(Int32(sums[2 &* b]) &+ Int32(sums[2 &* b &+ 1])) }
        b &+= 1
    }
    return QuantizedActivations(q: UnsafePointer(q), scale: UnsafePointer(scale), sums: UnsafePointer(sums),
                                blockSums: UnsafePointer(blockSums))
}

/// The same quantization one element at a time (the reference for tests and `gemvQuantIntegerReference`).
func quantizeActivationsReference(_ x: UnsafePointer<Float>, n: Int, block: Int) -> (q: [Int8], scale: [Float]) {
    var q = [Int8](repeating: 0, count: n), scale = [Float](repeating: 0, count: n / block)
    for b in 0..<(n / block) {
        var amax: Float = 0
        for k in 0..<block { amax = max(amax, abs(x[block * b + k])) }
        let mul: Float
        if block == 32 {
            scale[b] = Float(Float16(amax / 127))
            mul = amax != 0 ? 127 / amax : 0
        } else {
            let m = (0..<block).contains { x[block * b + $0] == amax } ? amax : -amax
            let iscale: Float = amax != 0 ? -127 / m : 0
            scale[b] = amax != 0 ? 1 / iscale : 0
            mul = iscale
        }
        for k in 0..<block {
            let v = (x[block * b + k] * mul).rounded(.toNearestOrEven)
            q[block * b + k] = v.isNaN ? 0 : Int8(max(-127, min(127, v)))
        }
    }
    return (q, scale)
}

/// The largest lane of a and b (NaN lanes ignored, as comparisons ignore them).
@inline(__always)
func hmax8(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> Float {
    var m = a
    m.replace(with: b, where: b .> m)
    var h = m.lowHalf
    h.replace(with: m.highHalf, where: m.highHalf .> h)
    return max(max(h[0], h[1]), max(h[2], h[3]))
}

/// Lanes (|v| <= 127.5 for in-range input) -> round-half-even integers in -127...127, as Int32 lanes: adding
/// 1.5 * 2^23 leaves the rounded integer in the low mantissa bits (llama.cpp's `nearest_int`); NaN or huge lanes
/// give some value that the clamp brings into range, never a trap. The clamp is compare-and-blend (`vpcmpd`,
/// `vpblendmd`): the standard library's `pointwiseMin` / `pointwiseMax` on SIMD16<Int32> stayed out-of-line
/// generic calls here.
@_transparent
func roundToInt8Lanes(_ v: SIMD16<Float>) -> SIMD16<Int32> {
    var i = unsafeBitCast(v + SIMD16(repeating: 12_582_912), to: SIMD16<Int32>.self) &- SIMD16(repeating: 0x4B40_0000)
    let lo = SIMD16<Int32>(repeating: -127), hi = SIMD16<Int32>(repeating: 127)
    i.replace(with: lo, where: i .< lo)
    i.replace(with: hi, where: i .> hi)
    return i
}

/// The lanes of `c` (each in -127...127) as bytes (`vpmovdb`; the standard library's
/// `SIMD16<Int8>(truncatingIfNeeded:)` stayed an out-of-line generic call).
@_transparent
func narrowToInt8(_ c: SIMD16<Int32>) -> SIMD16<Int8> {
    #if SWAPMOE_X86_INTRINSICS
    var v = SIMD16<Int8>()
    v._storage._value = Builtin.trunc_Vec16xInt32_Vec16xInt8(c._storage._value)
    return v
    #else
    return SIMD16<Int8>(Int8(truncatingIfNeeded: c[0]), Int8(truncatingIfNeeded: c[1]), Int8(truncatingIfNeeded: c[2]),
                        Int8(truncatingIfNeeded: c[3]), Int8(truncatingIfNeeded: c[4]), Int8(truncatingIfNeeded: c[5]),
                        Int8(truncatingIfNeeded: c[6]), Int8(truncatingIfNeeded: c[7]), Int8(truncatingIfNeeded: c[8]),
                        Int8(truncatingIfNeeded: c[9]), Int8(truncatingIfNeeded: c[10]), Int8(truncatingIfNeeded: c[11]),
                        Int8(truncatingIfNeeded: c[12]), Int8(truncatingIfNeeded: c[13]), Int8(truncatingIfNeeded: c[14]),
                        Int8(truncatingIfNeeded: c[15]))
    #endif
}

/// Σ of the 16 lanes of `c` by halving (the standard library's `wrappedSum` stayed an out-of-line generic call,
/// 1.5% of a two-thread q5_K decode on the calling thread).
@_transparent
func laneSum(_ c: SIMD16<Int32>) -> Int32 {
    let a = c.lowHalf &+ c.highHalf, b = a.lowHalf &+ a.highHalf
    return (b[0] &+ b[1]) &+ (b[2] &+ b[3])
}
