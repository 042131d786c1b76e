import SwapMoECore
// Scalar dequantizers of the 256-weight K-types (super-blocks of sub-blocks with their own quantized scales;
// layouts in Docs/ArchiveFormat.md), the reference for their SIMD kernels (QuantSIMD.swift, QuantGEMV*.swift).

/// One q4_K or q5_K super-block -> 256 floats.
/// q4_K: d (f16) | dmin (f16) | scales[12] | qs[128]: 8 sub-blocks of 32; sub-block j of chunk c (64 elements)
/// uses the low (j = 2c) or high (j = 2c + 1) nibbles of qs[32c ..< 32c + 32]: x = d*sc_j*q - dmin*m_j.
/// q5_K: d | dmin | scales[12] | qh[32] | qs[128]: as q4_K, plus a fifth bit: bit (2c) of qh[l] for the low
/// nibbles of chunk c, bit (2c + 1) for the high ones (adds 16).
@inline(__always)
func dequantizeQ45KBlock(_ dst: UnsafeMutablePointer<Float>, _ block: UnsafeRawPointer, q5: Bool) {
    let d = f16ToFloat(block.loadUnaligned(as: UInt16.self))
    let dmin = f16ToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
    let scales = block + 4, qh = block + 16, qs = block + (q5 ? 48 : 16)
    for c in 0..<4 {
        let (s0, m0) = kScaleMin(scales, 2 &* c), (s1, m1) = kScaleMin(scales, 2 &* c &+ 1)
        let d0 = d * Float(s0), n0 = dmin * Float(m0), d1 = d * Float(s1), n1 = dmin * Float(m1)
        for l in 0..<32 {
            let q = qs.load(fromByteOffset: 32 &* c &+ l, as: UInt8.self)
            let h = q5 ? qh.load(fromByteOffset: l, as: UInt8.self) : 0
            let lo = Int(q & 15) | (Int((h >> (2 &* c)) & 1) << 4)
            let hi = Int(q >> 4) | (Int((h >> (2 &* c &+ 1)) & 1) << 4)
            dst[64 &* c &+ l] = d0 * Float(lo) - n0
            dst[64 &* c &+ 32 &+ l] = d1 * Float(hi) - n1
        }
    }
}

/// The 6-bit scale of sub-block `ib` (0..<8) of an IQ4_XS super-block, minus 32 (-32...31): its low 4 bits are
/// nibble ib % 2 of scales_l[ib / 2] (byte 4 + ib / 2), its top 2 bits bits 2 ib, 2 ib + 1 of the u16 scales_h (byte 2).
@inline(__always)
func iq4xsScale(_ block: UnsafeRawPointer, _ ib: Int) -> Int {
    let low = Int(block.load(fromByteOffset: 4 &+ ib / 2, as: UInt8.self) >> UInt8(4 &* (ib & 1))) & 15
    let high = Int(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self) >> UInt16(2 &* ib)) & 3
    return (low | high << 4) &- 32
}

/// One IQ4_XS super-block -> 256 floats: d (f16) | scales_h (u16) | scales_l[4] | qs[128]; sub-block ib (32
/// weights) has codes qs[16 ib ..< 16 ib + 16] laid out as an IQ4_NL block's and weights (d * sc_ib) * kvalues[q].
@inline(__always)
func dequantizeIQ4XSBlock(_ dst: UnsafeMutablePointer<Float>, _ block: UnsafeRawPointer) {
    let d = f16ToFloat(block.loadUnaligned(as: UInt16.self))
    for ib in 0..<8 { dequantizeIQ4Codes(dst + 32 &* ib, block + (8 &+ 16 &* ib), scale: d * Float(iq4xsScale(block, ib))) }
}

/// One q6_K super-block -> 256 floats: ql[128] | qh[64] | scales[16] (i8) | d (f16): two halves of 128; in half
/// h, for l < 32, the four values at l, l+32, l+64, l+96 take their low 4 bits from ql[64h + l] (low nibble),
/// ql[64h + l + 32] (low), ql[64h + l] (high), ql[64h + l + 32] (high), and their top 2 bits from bits 0-1, 2-3,
/// 4-5, 6-7 of qh[32h + l]; q - 32 times d times the scale of their 16-element group.
@inline(__always)
func dequantizeQ6KBlock(_ dst: UnsafeMutablePointer<Float>, _ block: UnsafeRawPointer) {
    let ql = block, qh = block + 128, sc = block + 192
    let d = f16ToFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
    for h in 0..<2 {
        for l in 0..<32 {
            let a = ql.load(fromByteOffset: 64 &* h &+ l, as: UInt8.self)
            let b = ql.load(fromByteOffset: 64 &* h &+ l &+ 32, as: UInt8.self)
            let u = qh.load(fromByteOffset: 32 &* h &+ l, as: UInt8.self)
            let q = (Int(a & 15) | (Int(u & 3) << 4), Int(b & 15) | (Int((u >> 2) & 3) << 4),
                     Int(a >> 4) | (Int((u >> 4) & 3) << 4), Int(b >> 4) | (Int((u >> 6) & 3) << 4))
            let g = 8 &* h &+ l / 16
            let base = 128 &* h &+ l
            dst[base] = d * Float(sc.load(fromByteOffset: g, as: Int8.self)) * Float(q.0 &- 32)
            dst[base &+ 32] = d * Float(sc.load(fromByteOffset: g &+ 2, as: Int8.self)) * Float(q.1 &- 32)
            dst[base &+ 64] = d * Float(sc.load(fromByteOffset: g &+ 4, as: Int8.self)) * Float(q.2 &- 32)
            dst[base &+ 96] = d * Float(sc.load(fromByteOffset: g &+ 6, as: Int8.self)) * Float(q.3 &- 32)
        }
    }
}

/// One q2_K or q3_K super-block -> 256 floats. Both keep 2 low bits per weight in qs[64]: weight
/// e = 128n + 32j + 16h + l (n < 2, j < 4, h < 2, l < 16) has bits 2j..2j+1 of qs[32n + 16h + l], and its 16-weight
/// group g = e / 16 its own scale.
/// q2_K: scales[16] | qs[64] | d (f16) | dmin (f16): scales[g] holds the group's 4-bit scale (low nibble) and
/// 4-bit min (high nibble): x = d*sc_g*q - dmin*m_g.
/// q3_K: hmask[32] | qs[64] | scales[12] | d (f16): bit 4n + j of hmask[16h + l] is a third bit, set meaning q as it
/// is and clear meaning q - 4 (q in -4...3); the 16 scales are 6-bit (`q3KScale`), minus 32: x = d*(sc_g - 32)*q.
@inline(__always)
func dequantizeQ23KBlock(_ dst: UnsafeMutablePointer<Float>, _ block: UnsafeRawPointer, q3: Bool) {
    let qs = block + (q3 ? 32 : 16)
    let d = f16ToFloat(block.loadUnaligned(fromByteOffset: q3 ? 108 : 80, as: UInt16.self))
    let dmin = q3 ? 0 : f16ToFloat(block.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
    for e in 0..<256 {
        let n = e / 128, j = (e / 32) % 4, h = (e / 16) % 2, l = e % 16, g = e / 16
        let low = Int((qs.load(fromByteOffset: 32 &* n &+ 16 &* h &+ l, as: UInt8.self) >> (2 &* j)) & 3)
        if q3 {
            let high = (block.load(fromByteOffset: 16 &* h &+ l, as: UInt8.self) >> (4 &* n &+ j)) & 1
            dst[e] = d * Float(q3KScale(block + 96, g) &- 32) * Float(high == 1 ? low : low &- 4)
        } else {
            let sc = block.load(fromByteOffset: g, as: UInt8.self)
            dst[e] = d * Float(sc & 15) * Float(low) - dmin * Float(sc >> 4)
        }
    }
}

/// The 6-bit scale of group g (0..<16) of a q3_K super-block, from its 12 scale bytes s: the low 4 bits are the
/// low (g < 8) or high (g >= 8) nibble of s[g % 8], the top 2 bits are bits 2(g / 4)..+1 of s[8 + g % 4].
@inline(__always)
func q3KScale(_ s: UnsafeRawPointer, _ g: Int) -> Int {
    let a = s.load(fromByteOffset: g % 8, as: UInt8.self), b = s.load(fromByteOffset: 8 &+ g % 4, as: UInt8.self)
    return Int(g < 8 ? a & 15 : a >> 4) | Int((b >> (2 &* (g / 4))) & 3) << 4
}

/// The 6-bit scale and min of sub-block `j` (0..<8) of a q4_K / q5_K super-block, from its 12 scale bytes:
/// j < 4: scale = s[j] & 63, min = s[j + 4] & 63; j >= 4: the low 4 bits from s[j + 4] (scale: low nibble,
/// min: high nibble) and the top 2 bits from the top bits of s[j - 4] (scale) and s[j] (min).
@inline(__always)
func kScaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (UInt8, UInt8) {
    if j < 4 {
        return (s.load(fromByteOffset: j, as: UInt8.self) & 63, s.load(fromByteOffset: j &+ 4, as: UInt8.self) & 63)
    }
    let a = s.load(fromByteOffset: j &+ 4, as: UInt8.self)
    let lo = s.load(fromByteOffset: j &- 4, as: UInt8.self), hi = s.load(fromByteOffset: j, as: UInt8.self)
    return ((a & 15) | ((lo >> 6) << 4), (a >> 4) | ((hi >> 6) << 4))
}
