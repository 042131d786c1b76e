import SwapMoECore
// SIMD unpacking of quantized blocks (layouts: QuantBlocks.swift) and a SIMD dequantizer that is bit-identical
// to the scalar `dequantizeBlock`: every weight is the same Float expression (`d * q`, `d * sc * q - dmin * m`,
// ...) evaluated lane-wise, and small integers become floats exactly. Used by the quantized GEMM (dequantize
// a block of rows once per call) and, through the unpack helpers, by the GEMV row kernels (QuantGEMV.swift).

/// 16 bytes at `p + offset` -> 16 `UInt32` lanes, built lane by lane so that LLVM folds it into one
/// `vpmovzxbd` (the generic `SIMD16<UInt32>(truncatingIfNeeded:)` stayed an out-of-line call: GEMV 6x slower).
@inline(__always)
func widenBytes16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<UInt32> {
    widen(p.loadUnaligned(fromByteOffset: offset, as: SIMD16<UInt8>.self))
}

/// 16 bytes -> 16 `UInt32` lanes, lane by lane (see `widenBytes16`).
@inline(__always)
func widen(_ b: SIMD16<UInt8>) -> SIMD16<UInt32> {
    SIMD16<UInt32>(UInt32(b[0]), UInt32(b[1]), UInt32(b[2]), UInt32(b[3]), UInt32(b[4]), UInt32(b[5]),
                   UInt32(b[6]), UInt32(b[7]), UInt32(b[8]), UInt32(b[9]), UInt32(b[10]), UInt32(b[11]),
                   UInt32(b[12]), UInt32(b[13]), UInt32(b[14]), UInt32(b[15]))
}

/// Lanes u < 2^23 -> Float(u) - bias, exactly (bias a small integer): the float with bits 0x4B000000 | u is
/// 2^23 + u, and (2^23 + u) - (2^23 + bias) is exact. Two bitwise/arith ops, no generic int -> float init.
@inline(__always)
func smallIntsToFloat(_ u: SIMD16<UInt32>, minus bias: Float) -> SIMD16<Float> {
    unsafeBitCast(u | SIMD16(repeating: 0x4B00_0000), to: SIMD16<Float>.self) - SIMD16(repeating: 8_388_608 + bias)
}

/// The 8 bytes of `v` (each < 2^23) -> Float(byte) - bias, exactly (`smallIntsToFloat`), widened lane by lane
/// (`vpmovzxbd`): the standard library's generic `init(truncatingIfNeeded:)` can stay a call.
@inline(__always)
func bytesToFloat8(_ v: UInt64, minus bias: Float) -> SIMD8<Float> {
    let b = unsafeBitCast(v, to: SIMD8<UInt8>.self)
    let u = SIMD8<UInt32>(UInt32(b[0]), UInt32(b[1]), UInt32(b[2]), UInt32(b[3]), UInt32(b[4]), UInt32(b[5]), UInt32(b[6]), UInt32(b[7]))
    return unsafeBitCast(u | SIMD8(repeating: 0x4B00_0000), to: SIMD8<Float>.self) - SIMD8(repeating: 8_388_608 + bias)
}

/// 16 signed bytes at `p + offset` -> 16 Floats (exact): q + 128 as an unsigned byte, then minus 128.
@inline(__always)
func int8sToFloat16(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD16<Float> {
    smallIntsToFloat(widenBytes16(p, offset) ^ SIMD16(repeating: 0x80), minus: 128)
}

@inline(__always)
func storeF32x16(_ p: UnsafeMutablePointer<Float>, _ v: SIMD16<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// 8 bytes at `p + offset` -> 8 `UInt32` lanes (one `vpmovzxbd ymm`).
@inline(__always)
func widenBytes8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<UInt32> {
    let b = p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt8>.self)
    return SIMD8<UInt32>(UInt32(b[0]), UInt32(b[1]), UInt32(b[2]), UInt32(b[3]),
                         UInt32(b[4]), UInt32(b[5]), UInt32(b[6]), UInt32(b[7]))
}

/// The 8 (scale, min) pairs of a q4_K / q5_K super-block as Floats (`kScaleMin` for j = 0..<8), decoded in
/// SIMD lanes from the 12 scale bytes s: a = s[j], b = s[j + 4], lanes j < 4 take the 6-bit fields directly,
/// lanes j >= 4 the nibbles of b with the top 2 bits of s[j - 4] (scale) or s[j] (min).
@inline(__always)
func kScalesMins(_ s: UnsafeRawPointer) -> (scales: SIMD8<Float>, mins: SIMD8<Float>) {
    let a = widenBytes8(s, 0), b = widenBytes8(s, 4)
    let a4 = SIMD8(lowHalf: a.lowHalf, highHalf: a.lowHalf)   // s[j - 4] in lanes 4..<8
    let low = SIMD8<UInt32>(~0, ~0, ~0, ~0, 0, 0, 0, 0)
    let six = SIMD8<UInt32>(repeating: 63), four = SIMD8<UInt32>(repeating: 15)
    let sc = (a & six & low) | (((b & four) | ((a4 &>> 6) &<< 4)) & ~low)
    let mn = (b & six & low) | (((b &>> 4) | ((a &>> 6) &<< 4)) & ~low)
    @inline(__always) func float(_ u: SIMD8<UInt32>) -> SIMD8<Float> {
        unsafeBitCast(u | SIMD8(repeating: 0x4B00_0000), to: SIMD8<Float>.self) - SIMD8(repeating: 8_388_608)
    }
    return (float(sc), float(mn))
}

/// The 32 codes of a q4_0 / q4_1 / q5_0 / q5_1 block (`NibbleBlock`) as two vectors of 16 (elements 0..<16 from
/// the low nibbles, 16..<32 from the high ones), plus 16 where bit i of qh is set for the 5-bit types: lane i keeps
/// b = (qh >> 16h) & 2^i, and b + 0x7FFFFFFF (no overflow) has its top bit set exactly when b != 0; shifted down
/// to bit 4. Uniform shifts only (per-lane shifts cost a sequence of instructions below AVX2).
@inline(__always)
func nibbleCodes(_ block: UnsafeRawPointer, _ l: NibbleBlock) -> (SIMD16<UInt32>, SIMD16<UInt32>) {
    let u = widenBytes16(block, l.qs)
    var lo = u & SIMD16(repeating: 15), hi = u &>> 4
    if let o = l.qh {
        let h = block.loadUnaligned(fromByteOffset: o, as: UInt32.self)
        /// 16 in lane i where bit i of the low 16 bits of v is set (the same constants for both halves, so that
        /// LLVM finds no lane to treat apart).
        @inline(__always) func sixteen(_ v: UInt32) -> SIMD16<UInt32> {
            let bits = SIMD16<UInt32>(1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7,
                                      1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15)
            return (((SIMD16(repeating: v) & bits) &+ SIMD16(repeating: 0x7FFF_FFFF)) &>> 27) & SIMD16(repeating: 16)
        }
        lo |= sixteen(h)
        hi |= sixteen(h >> 16)
    }
    return (lo, hi)
}

/// The 5-bit values of chunk c (0..<4) of a q5_K block, elements 64c + 16i ..< 64c + 16i + 16 for i = 0...3:
/// low/high nibbles of qs[32c ..< 32c + 32] with bit 2c / 2c + 1 of qh[0..<32] on top. `h0`, `h1` are qh[0..<16],
/// qh[16..<32] widened. The fifth bit is moved into place with one constant shift (c is a constant once
/// inlined). With `hiTimes16` the last two vectors are 16 q (high nibble masked in place, no shift); the GEMV
/// divides their scale by 16 instead, which is exact.
@inline(__always)
func q5Chunk(_ qs: UnsafeRawPointer, _ h0: SIMD16<UInt32>, _ h1: SIMD16<UInt32>, _ c: Int, hiTimes16: Bool = false)
    -> (SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>) {
    let u0 = widenBytes16(qs, 32 &* c), u1 = widenBytes16(qs, 32 &* c &+ 16)
    let m = SIMD16<UInt32>(repeating: 15)
    /// Bit k of h moved to bit `to`, alone.
    @inline(__always) func bit(_ h: SIMD16<UInt32>, _ k: Int, to: Int) -> SIMD16<UInt32> {
        (k <= to ? h &<< UInt32(to &- k) : h &>> UInt32(k &- to)) & SIMD16(repeating: UInt32(1) &<< UInt32(to))
    }
    let sl = 2 &* c, sh = 2 &* c &+ 1
    if hiTimes16 {
        let m16 = SIMD16<UInt32>(repeating: 0xF0)
        return ((u0 & m) | bit(h0, sl, to: 4), (u1 & m) | bit(h1, sl, to: 4),
                (u0 & m16) | bit(h0, sh, to: 8), (u1 & m16) | bit(h1, sh, to: 8))
    }
    return ((u0 & m) | bit(h0, sl, to: 4), (u1 & m) | bit(h1, sl, to: 4),
            (u0 &>> 4) | bit(h0, sh, to: 4), (u1 &>> 4) | bit(h1, sh, to: 4))
}

/// 16 MXFP4 codes (nibbles) -> their values times 2 (`mxfp4Values`) as floats, with uniform shifts only: the
/// magnitude c = n & 7 becomes c + (c & 3 when c >= 4) + (2 when c == 7), i.e. 0 1 2 3 4 6 8 12; the sign bit
/// negates it as an integer, so code 8 gives +0 as the table does.
@inline(__always)
func mxfp4Values16(_ n: SIMD16<UInt32>) -> SIMD16<Float> {
    let c = n & SIMD16(repeating: 7), hi = c &>> 2
    let kv = c &+ ((c & SIMD16(repeating: 3)) & (SIMD16() &- hi)) &+ ((hi & (c &>> 1) & c) &<< 1)
    let s = SIMD16<UInt32>() &- (n &>> 3)   // all ones for the negative codes
    return smallIntsToFloat(((kv ^ s) &- s) &+ SIMD16(repeating: 12), minus: 12)
}

/// The 32 values (times 2) of an MXFP4 block, elements 0..<16 from the low nibbles of qs, 16..<32 from the high.
@inline(__always)
func mxfp4Values32(_ block: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>) {
    let u = widenBytes16(block, 1)
    return (mxfp4Values16(u & SIMD16(repeating: 15)), mxfp4Values16(u &>> 4))
}

/// 16 IQ4 codes -> their levels (`iq4nlValues`) as floats. The levels follow no formula, so each lane is looked
/// up (the integer GEMV looks them up 32 at a time with `vpshufb`; this is the float path's and the GEMM panels').
@inline(__always)
func iq4Values16(_ n: SIMD16<UInt32>) -> SIMD16<Float> {
    let levels = SIMD16<Float>(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)
    var v = SIMD16<Float>()
    for i in 0..<16 { v[i] = levels[Int(n[i] & 15)] }
    return v
}

/// The 32 levels of the IQ4 codes at `qs` (16 bytes), elements 0..<16 from the low nibbles, 16..<32 from the high.
@inline(__always)
func iq4Values32(_ qs: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>) {
    let u = widenBytes16(qs, 0)
    return (iq4Values16(u & SIMD16(repeating: 15)), iq4Values16(u &>> 4))
}

/// The 16 6-bit scales of a q3_K block (stored + 32; `q3KScale` for g = 0..<16) from its 12 scale bytes s, in
/// 32-bit lanes: the low nibbles of s[0..<8], then their high nibbles, each with its 2 top bits from s[8..<12].
@inline(__always)
func q3KScales(_ s: UnsafeRawPointer) -> SIMD16<UInt8> {
    let a = s.loadUnaligned(as: UInt32.self), b = s.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    let t = s.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
    let four: UInt32 = 0x0F0F_0F0F, two: UInt32 = 0x0303_0303
    let v = SIMD4<UInt32>((a & four) | ((t & two) << 4), (b & four) | (((t >> 2) & two) << 4),
                          ((a >> 4) & four) | (((t >> 4) & two) << 4), ((b >> 4) & four) | (((t >> 6) & two) << 4))
    return unsafeBitCast(v, to: SIMD16<UInt8>.self)
}

/// The codes of groups 8n + 2j and 8n + 2j + 1 (elements 128n + 32j + 0..<16 and + 16..<32) of a q2_K / q3_K block
/// (layout: `dequantizeQ23KBlock`), as two vectors of 16: bits 2j..2j+1 of qs[32n ..< 32n + 32], and for q3_K the
/// hmask bit 4n + j as 4 (code + 4, 0...7).
@inline(__always)
func q23Codes(_ block: UnsafeRawPointer, _ n: Int, _ j: Int, q3: Bool) -> (SIMD16<UInt32>, SIMD16<UInt32>) {
    let qs = q3 ? 32 &+ 32 &* n : 16 &+ 32 &* n
    let shift = UInt32(2 &* j), three = SIMD16<UInt32>(repeating: 3)
    var a = (widenBytes16(block, qs) &>> shift) & three, b = (widenBytes16(block, qs &+ 16) &>> shift) & three
    if q3 {
        let bit = UInt32(4 &* n &+ j), one = SIMD16<UInt32>(repeating: 1)
        a |= ((widenBytes16(block, 0) &>> bit) & one) &<< 2
        b |= ((widenBytes16(block, 16) &>> bit) & one) &<< 2
    }
    return (a, b)
}

/// The 6-bit values of half h (0, 1) of a q6_K block, as 8 vectors of 16: vector v holds elements
/// 128h + 16v ..< 128h + 16v + 16, whose scale is group 8h + v.
@inline(__always)
func q6Half(_ block: UnsafeRawPointer, _ h: Int) -> [8 of SIMD16<UInt32>] {
    let ql = block + 64 &* h, qh = block + (128 &+ 32 &* h)
    let a0 = widenBytes16(ql, 0), a1 = widenBytes16(ql, 16), b0 = widenBytes16(ql, 32), b1 = widenBytes16(ql, 48)
    let u0 = widenBytes16(qh, 0), u1 = widenBytes16(qh, 16)
    let m = SIMD16<UInt32>(repeating: 15), three = SIMD16<UInt32>(repeating: 3)
    return [(a0 & m) | ((u0 & three) &<< 4), (a1 & m) | ((u1 & three) &<< 4),
            (b0 & m) | (((u0 &>> 2) & three) &<< 4), (b1 & m) | (((u1 &>> 2) & three) &<< 4),
            (a0 &>> 4) | (((u0 &>> 4) & three) &<< 4), (a1 &>> 4) | (((u1 &>> 4) & three) &<< 4),
            (b0 &>> 4) | ((u0 &>> 6) &<< 4), (b1 &>> 4) | ((u1 &>> 6) &<< 4)]
}

/// Block of `type` -> 32 or 256 floats at `dst`; bit-identical to `dequantizeBlock`.
@inline(__always)
func dequantizeBlockSIMD(_ dst: UnsafeMutablePointer<Float>, _ block: UnsafeRawPointer, _ type: WeightType) {
    switch type {
    case .q8_0:
        let d = SIMD16<Float>(repeating: f16ToFloat(block.loadUnaligned(as: UInt16.self)))
        storeF32x16(dst, d * int8sToFloat16(block, 2))
        storeF32x16(dst + 16, d * int8sToFloat16(block, 18))
    case .q4_0, .q4_1, .q5_0, .q5_1:
        let l = NibbleBlock(type)
        let d = SIMD16<Float>(repeating: f16ToFloat(block.loadUnaligned(as: UInt16.self)))
        let (q0, q1) = nibbleCodes(block, l)
        if let mo = l.min {
            let m = SIMD16<Float>(repeating: f16ToFloat(block.loadUnaligned(fromByteOffset: mo, as: UInt16.self)))
            storeF32x16(dst, d * smallIntsToFloat(q0, minus: 0) + m)
            storeF32x16(dst + 16, d * smallIntsToFloat(q1, minus: 0) + m)
        } else {
            let bias = Float(l.bias)
            storeF32x16(dst, d * smallIntsToFloat(q0, minus: bias))
            storeF32x16(dst + 16, d * smallIntsToFloat(q1, minus: bias))
        }
    case .mxfp4:
        let d = SIMD16<Float>(repeating: e8m0Half(block.load(as: UInt8.self)))
        let (v0, v1) = mxfp4Values32(block)
        storeF32x16(dst, d * v0)
        storeF32x16(dst + 16, d * v1)
    case .iq4_nl:
        let d = SIMD16<Float>(repeating: f16ToFloat(block.loadUnaligned(as: UInt16.self)))
        let (v0, v1) = iq4Values32(block + 2)
        storeF32x16(dst, d * v0)
        storeF32x16(dst + 16, d * v1)
    case .iq4_xs:
        let d = f16ToFloat(block.loadUnaligned(as: UInt16.self))
        for ib in 0..<8 {
            let dl = SIMD16<Float>(repeating: d * Float(iq4xsScale(block, ib)))
            let (v0, v1) = iq4Values32(block + (8 &+ 16 &* ib))
            storeF32x16(dst + 32 &* ib, dl * v0)
            storeF32x16(dst + (32 &* ib &+ 16), dl * v1)
        }
    case .q2_K, .q3_K:
        // Per group: (d sc) q - dmin m (q2_K) or (d (sc - 32)) (q - 4) (q3_K), as `dequantizeQ23KBlock`.
        let q3 = type == .q3_K
        let d = f16ToFloat(block.loadUnaligned(fromByteOffset: q3 ? 108 : 80, as: UInt16.self))
        let dmin = q3 ? 0 : f16ToFloat(block.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
        let raw = q3 ? widen(q3KScales(block + 96)) : widenBytes16(block, 0)
        let ds = SIMD16(repeating: d) * (q3 ? smallIntsToFloat(raw, minus: 32) : smallIntsToFloat(raw & SIMD16(repeating: 15), minus: 0))
        let ms = SIMD16(repeating: dmin) * smallIntsToFloat(raw &>> 4, minus: 0)
        for n in 0..<2 {
            for j in 0..<4 {
                let (q0, q1) = q23Codes(block, n, j, q3: q3)
                let g = 8 &* n &+ 2 &* j, o = dst + 16 &* g
                if q3 {
                    storeF32x16(o, SIMD16(repeating: ds[g]) * smallIntsToFloat(q0, minus: 4))
                    storeF32x16(o + 16, SIMD16(repeating: ds[g &+ 1]) * smallIntsToFloat(q1, minus: 4))
                } else {
                    storeF32x16(o, SIMD16(repeating: ds[g]) * smallIntsToFloat(q0, minus: 0) - SIMD16(repeating: ms[g]))
                    storeF32x16(o + 16, SIMD16(repeating: ds[g &+ 1]) * smallIntsToFloat(q1, minus: 0) - SIMD16(repeating: ms[g &+ 1]))
                }
            }
        }
    case .q4_K, .q5_K:
        let d = f16ToFloat(block.loadUnaligned(as: UInt16.self))
        let dmin = f16ToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let (sc, mn) = kScalesMins(block + 4)
        let ds = SIMD8(repeating: d) * sc, ms = SIMD8(repeating: dmin) * mn
        let q5 = type == .q5_K
        let qs = block + (q5 ? 48 : 16)
        let h0 = q5 ? widenBytes16(block, 16) : SIMD16(), h1 = q5 ? widenBytes16(block, 32) : SIMD16()
        for c in 0..<4 {
            let q: (SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>, SIMD16<UInt32>)
            if q5 {
                q = q5Chunk(qs, h0, h1, c)
            } else {
                let u0 = widenBytes16(qs, 32 &* c), u1 = widenBytes16(qs, 32 &* c &+ 16), m = SIMD16<UInt32>(repeating: 15)
                q = (u0 & m, u1 & m, u0 &>> 4, u1 &>> 4)
            }
            let d0 = SIMD16(repeating: ds[2 &* c]), n0 = SIMD16(repeating: ms[2 &* c])
            let d1 = SIMD16(repeating: ds[2 &* c &+ 1]), n1 = SIMD16(repeating: ms[2 &* c &+ 1])
            let o = dst + 64 &* c
            storeF32x16(o, d0 * smallIntsToFloat(q.0, minus: 0) - n0)
            storeF32x16(o + 16, d0 * smallIntsToFloat(q.1, minus: 0) - n0)
            storeF32x16(o + 32, d1 * smallIntsToFloat(q.2, minus: 0) - n1)
            storeF32x16(o + 48, d1 * smallIntsToFloat(q.3, minus: 0) - n1)
        }
    case .q6_K:
        let d = f16ToFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
        for h in 0..<2 {
            let q = q6Half(block, h)
            for v in 0..<8 {
                let sc = Float(block.load(fromByteOffset: 192 &+ 8 &* h &+ v, as: Int8.self))
                storeF32x16(dst + (128 &* h &+ 16 &* v), SIMD16(repeating: d * sc) * smallIntsToFloat(q[v], minus: 32))
            }
        }
    case .q4_Kx8, .q5_Kx8, .q6_Kx8, .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .q3_Kx8, .q2_Kx8, .iq4_nlx8, .iq4_xsx8:
        preconditionFailure("dequantizeBlockSIMD on an interleaved group (\(type)): rows are read through dequantizeRows")
    case .f32, .f16, .bf16:
        preconditionFailure("dequantizeBlockSIMD on float type \(type)")
    }
}

/// A quantized row of `n` elements -> `n` floats; bit-identical to `dequantizeRow`.
@inline(__always)
func dequantizeRowSIMD(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ type: WeightType, count n: Int) {
    let bs = type.blockSize, bb = type.blockBytes
    var b = 0
    while b &* bs < n {
        dequantizeBlockSIMD(dst + b &* bs, src + b &* bb, type)
        b &+= 1
    }
}
