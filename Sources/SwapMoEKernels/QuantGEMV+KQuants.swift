import SwapMoECore
// The float-path row kernels of the K-types (QuantGEMV.swift has the dispatch and the 32-weight types).

/// w (n,) q4_K or q5_K . x (n,) -> Float, with xsum = subBlockSums(x) and 8 floats of scratch.
/// Per sub-block j: acc += (d sc_j) Σ q x and mins_j += (dmin m_j) xsum_j (SIMD8 lanes); result acc - mins.
/// The 8 scales go through `scratch` so that each is a memory broadcast folded into its FMA. High nibbles are
/// masked in place (16 q, one op fewer than a shift) and their scales divided by 16: both scalings are exact,
/// so the result is the same as with q.
@inline(__always)
func dotQ4_K(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ xsum: UnsafePointer<Float>,
             _ scratch: UnsafeMutablePointer<Float>, blocks nb: Int, q5: Bool) -> Float {
    let bb = q5 ? 176 : 144
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var mins = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* bb, xb = x + b &* 256
        let d = f16ToFloat(blk.loadUnaligned(as: UInt16.self))
        let dmin = f16ToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let (sc, mn) = kScalesMins(blk + 4)
        // Odd sub-blocks (high nibbles) come as 16 q: their scales are divided by 16 (exact).
        let sixteenth = SIMD8<Float>(1, 0.0625, 1, 0.0625, 1, 0.0625, 1, 0.0625)
        UnsafeMutableRawPointer(scratch).storeBytes(of: SIMD8(repeating: d) * sc * sixteenth, as: SIMD8<Float>.self)
        mins.madd(SIMD8(repeating: dmin) * mn, UnsafeRawPointer(xsum + 8 &* b).loadUnaligned(as: SIMD8<Float>.self))
        let qs = blk + (q5 ? 48 : 16)
        let h0 = q5 ? widenBytes16(blk, 16) : SIMD16(), h1 = q5 ? widenBytes16(blk, 32) : SIMD16()
        @inline(__always) func chunk(_ c: Int, _ lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>) {
            let q: (SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>)
            if q5 {
                q = q5Chunk(qs, h0, h1, c, hiTimes16: true)
            } else {
                let u0 = widenBytes16(qs, 32 &* c), u1 = widenBytes16(qs, 32 &* c &+ 16)
                let m = SIMD16<UInt32>(repeating: 15), m16 = SIMD16<UInt32>(repeating: 0xF0)
                q = (u0 & m, u1 & m, u0 & m16, u1 & m16)
            }
            let xc = xb + 64 &* c
            var p = smallIntsToFloat(q.0, minus: 0) * loadF32x16(xc, 0)
            p.madd(smallIntsToFloat(q.1, minus: 0), loadF32x16(xc, 16))
            var r = smallIntsToFloat(q.2, minus: 0) * loadF32x16(xc, 32)
            r.madd(smallIntsToFloat(q.3, minus: 0), loadF32x16(xc, 48))
            lo.madd(SIMD16(repeating: scratch[2 &* c]), p)
            hi.madd(SIMD16(repeating: scratch[2 &* c &+ 1]), r)
        }
        chunk(0, &a0, &a1); chunk(1, &a2, &a3); chunk(2, &a0, &a1); chunk(3, &a2, &a3)
    }
    return hsum((a0 + a1) + (a2 + a3)) - hsum(mins)
}

/// w (n,) q6_K . x (n,) -> Float, with 16 floats of scratch. Weights are dequantized exactly as
/// `dequantizeBlock` ((d sc) (q - 32)) and accumulated with FMAs into four accumulators (16-element group v
/// of a half into accumulator v % 4). The 16 scales d sc go through `scratch` (memory broadcasts).
@inline(__always)
func dotQ6_K(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
             blocks nb: Int) -> Float {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    for b in 0..<nb {
        let blk = w + b &* 210, xb = x + b &* 256
        let d = f16ToFloat(blk.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
        storeF32x16(scratch, SIMD16(repeating: d) * int8sToFloat16(blk, 192))
        @inline(__always) func half(_ h: Int) {
            let q = q6Half(blk, h)
            let xh = xb + 128 &* h, s = scratch + 8 &* h
            @inline(__always) func wv(_ v: Int) -> SIMD16<Float> {
                SIMD16(repeating: s[v]) * smallIntsToFloat(q[v], minus: 32)
            }
            a0.madd(wv(0), loadF32x16(xh, 0)); a1.madd(wv(1), loadF32x16(xh, 16))
            a2.madd(wv(2), loadF32x16(xh, 32)); a3.madd(wv(3), loadF32x16(xh, 48))
            a0.madd(wv(4), loadF32x16(xh, 64)); a1.madd(wv(5), loadF32x16(xh, 80))
            a2.madd(wv(6), loadF32x16(xh, 96)); a3.madd(wv(7), loadF32x16(xh, 112))
        }
        half(0); half(1)
    }
    return hsum((a0 + a1) + (a2 + a3))
}

/// w (n,) q2_K or q3_K . x (n,) -> Float, with 16 floats of scratch and, for q2_K, xsum = groupSums16(x). The 16
/// group scales d sc_g go through `scratch` (memory broadcasts); group g of 16 weights adds (d sc_g) Σ q x (q3_K:
/// q - 4) into accumulator g % 4, and q2_K's mins dmin m_g xsum_g go to their own SIMD16 lanes.
@inline(__always)
func dotQ23K(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ xsum: UnsafePointer<Float>?,
             _ scratch: UnsafeMutablePointer<Float>, blocks nb: Int, q3: Bool) -> Float {
    let bb = q3 ? 110 : 84, bias: Float = q3 ? 4 : 0
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var mins = SIMD16<Float>()
    for b in 0..<nb {
        let blk = w + b &* bb, xb = x + b &* 256
        let d = f16ToFloat(blk.loadUnaligned(fromByteOffset: q3 ? 108 : 80, as: UInt16.self))
        if q3 {
            storeF32x16(scratch, SIMD16(repeating: d) * smallIntsToFloat(widen(q3KScales(blk + 96)), minus: 32))
        } else {
            let raw = widenBytes16(blk, 0)
            storeF32x16(scratch, SIMD16(repeating: d) * smallIntsToFloat(raw & SIMD16(repeating: 15), minus: 0))
            let dmin = f16ToFloat(blk.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
            mins.madd(SIMD16(repeating: dmin) * smallIntsToFloat(raw &>> 4, minus: 0), loadF32x16(xsum.unsafelyUnwrapped, 16 &* b))
        }
        @inline(__always) func pair(_ n: Int, _ j: Int, _ lo: inout SIMD16<Float>, _ hi: inout SIMD16<Float>) {
            let (q0, q1) = q23Codes(blk, n, j, q3: q3)
            let g = 8 &* n &+ 2 &* j, xg = xb + 16 &* g
            lo.madd(SIMD16(repeating: scratch[g]) * smallIntsToFloat(q0, minus: bias), loadF32x16(xg, 0))
            hi.madd(SIMD16(repeating: scratch[g &+ 1]) * smallIntsToFloat(q1, minus: bias), loadF32x16(xg, 16))
        }
        for n in 0..<2 { pair(n, 0, &a0, &a1); pair(n, 1, &a2, &a3); pair(n, 2, &a0, &a1); pair(n, 3, &a2, &a3) }
    }
    let dot = hsum((a0 + a1) + (a2 + a3))
    return q3 ? dot : dot - hsum(mins)
}

/// w (n,) IQ4_XS . x (n,) -> Float: per 32-weight sub-block p = Σ kvalues[q] x, acc += (d sc_ib) p.
@inline(__always)
func dotIQ4XS(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks nb: Int) -> Float {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    for b in 0..<nb {
        let blk = w + b &* 136, xb = x + b &* 256
        let d = f16ToFloat(blk.loadUnaligned(as: UInt16.self))
        for ib in stride(from: 0, to: 8, by: 2) {
            @inline(__always) func sub(_ a: inout SIMD16<Float>, _ ib: Int) {
                let (q0, q1) = iq4Values32(blk + (8 &+ 16 &* ib))
                var p = q0 * loadF32x16(xb, 32 &* ib)
                p.madd(q1, loadF32x16(xb, 32 &* ib &+ 16))
                a.madd(SIMD16(repeating: d * Float(iq4xsScale(blk, ib))), p)
            }
            sub(&a0, ib)
            sub(&a1, ib &+ 1)
        }
    }
    return hsum(a0 + a1)
}
