import SwapMoECore
// The IQ4_NL and IQ4_XS quantizers: the bytes llama-quantize writes for these types without an importance matrix
// (ggml-quants.c `quantize_iq4_nl` / `quantize_iq4_xs`, which search 15 scales per 32 values: ntry = 7). Each code
// is the nearest of the 16 levels `iq4nlValues` to x / scale; the scale of 32 values is the weighted least-squares
// fit (weights x^2) of the best of 15 trial scales, max / (-127 + t) for t in -7...7.

/// The index of the level nearest to `x` among the 16 ascending `iq4nlValues` (llama.cpp's `best_index_int8`:
/// ties and the bisection exactly as there).
@inline(__always)
func nearestIQ4Level(_ x: Float) -> Int {
    @inline(__always) func v(_ i: Int) -> Float { Float(iq4nlValues[i]) }
    if x <= v(0) { return 0 }
    if x >= v(15) { return 15 }
    var lo = 0, hi = 15
    while hi &- lo > 1 {
        let mid = (lo &+ hi) / 2
        if x < v(mid) { hi = mid } else { lo = mid }
    }
    return x - v(hi &- 1) < v(hi) - x ? hi &- 1 : hi
}

/// The scale of 32 values x: 0 for an all-(near-)zero block, else the best weighted fit over the trial scales.
@inline(__always)
func iq4SubBlockScale(_ x: UnsafePointer<Float>) -> Float {
    var amax: Float = 0, max: Float = 0
    for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); max = x[j] }
    if amax < 1e-15 { return 0 }
    /// Σ w q x and Σ w q^2 (w = x^2) for the codes nearest to x * id.
    @inline(__always) func fit(_ id: Float) -> (Float, Float) {
        var sumqx: Float = 0, sumq2: Float = 0
        for j in 0..<32 {
            let q = Float(iq4nlValues[nearestIQ4Level(id * x[j])]), w = x[j] * x[j]
            sumqx += w * q * x[j]
            sumq2 += w * q * q
        }
        return (sumqx, sumq2)
    }
    var (sumqx, sumq2) = fit(1 / (-max / Float(iq4nlValues[0])))
    var d: Float = sumq2 > 0 ? sumqx / sumq2 : 0
    var best = d * sumqx
    for t in -7...7 {
        (sumqx, sumq2) = fit(Float(t + Int(iq4nlValues[0])) / max)
        if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2
            best = d * sumqx
        }
    }
    return d
}

/// 32 values x -> 16 bytes of codes for scale 1 / `id` (low nibbles: elements 0..<16).
@inline(__always)
func storeIQ4Codes(_ x: UnsafePointer<Float>, id: Float, _ qs: UnsafeMutableRawPointer) {
    for j in 0..<16 {
        let lo = nearestIQ4Level(id * x[j]), hi = nearestIQ4Level(id * x[j &+ 16])
        qs.storeBytes(of: UInt8(lo | hi << 4), toByteOffset: j, as: UInt8.self)
    }
}

/// x (32,) -> one IQ4_NL block: d = the sub-block scale (f16), codes nearest to x / d.
@inline(__always)
func quantizeIQ4NLBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    let d = iq4SubBlockScale(x)
    out.storeBytes(of: f16Saturating(d), as: UInt16.self)
    storeIQ4Codes(x, id: d != 0 ? 1 / d : 0, out + 2)
}

/// x (256,) -> one IQ4_XS block: each 32's scale as above; d = -(the scale of largest magnitude) / 32 (f16); each
/// sub-block's scale as round(scale / d) in -32...31 (stored + 32 in 6 bits), its codes nearest to x / (d * that),
/// d unrounded as llama.cpp computes them.
@inline(__always)
func quantizeIQ4XSBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    var scales = SIMD8<Float>(), maxScale: Float = 0, amaxScale: Float = 0
    for ib in 0..<8 {
        scales[ib] = iq4SubBlockScale(x + 32 &* ib)
        if abs(scales[ib]) > amaxScale { amaxScale = abs(scales[ib]); maxScale = scales[ib] }
    }
    let d = -maxScale / 32, id: Float = d != 0 ? 1 / d : 0
    out.storeBytes(of: f16Saturating(d), as: UInt16.self)
    var high: UInt16 = 0
    for ib in 0..<8 {
        let l = Swift.min(31, Swift.max(-32, Int(roundEven(id * scales[ib]))))
        let dl = d * Float(l)
        storeIQ4Codes(x + 32 &* ib, id: dl != 0 ? 1 / dl : 0, out + (8 &+ 16 &* ib))
        let stored = l &+ 32
        let lowByte = out + (4 &+ ib / 2)
        let nibble = UInt8(stored & 15)
        if ib & 1 == 0 { lowByte.storeBytes(of: nibble, as: UInt8.self) }
        else { lowByte.storeBytes(of: lowByte.load(as: UInt8.self) | nibble << 4, as: UInt8.self) }
        high |= UInt16(stored >> 4) << UInt16(2 &* ib)
    }
    out.storeBytes(of: high, toByteOffset: 2, as: UInt16.self)
}
