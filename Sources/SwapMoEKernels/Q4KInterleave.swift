import SwapMoECore
// q4_K_x8 ("Q4_K_X8" in an archive): a q4_K matrix whose rows are stored eight at a time, interleaved by the
// packer so that the GEMV forms eight rows with one set of vector operations (QuantGEMV+Q4KX8.swift): the codes
// of eight rows side by side in one 512-bit register, their scales unpacked for eight rows at once, one float
// multiply-add per eight rows per super-block. The same information in the same bytes as q4_K (144 per 256
// weights of a row); interleaving is exact both ways (`interleave`, `deinterleave`). A matrix has a
// multiple of 8 rows.
//
// Rows 8g ..< 8g + 8 form group g at byte 8g * rowBytes (rowBytes = n / 256 * 144, as for q4_K), so any run of
// whole groups is itself a q4_K_x8 matrix. Within a group, super-block b (weights 256b ..< 256b + 256 of each
// row) takes the 1152 bytes at 1152b:
//   0 ..< 16      d of rows 0..<8 (f16)
//   16 ..< 32     dmin of rows 0..<8 (f16)
//   32 ..< 96     low bits: byte k = SC[k] & 15 | (MN[k] & 15) << 4                                   (k < 64)
//   96 ..< 128    top bits: byte k = SC[k] >> 4 | (SC[k+32] >> 4) << 2 | (MN[k] >> 4) << 4 | (MN[k+32] >> 4) << 6  (k < 32)
//   128 ..< 1152  codes: byte 64 (4c + u) + 8r + i = qs_r[32c + 8u + i]                  (c, u < 4; r, i < 8)
// with SC[8r + j], MN[8r + j] the 6-bit scale and min of sub-block j of row r (q4_K's, `kScaleMin`) and qs_r the
// 128 code bytes of row r's q4_K super-block.
//
// q5_K_x8 ("Q5_K_X8"): q5_K's rows the same way (176 bytes per 256 weights of a row, 1408 per group super-block):
// bytes 0 ..< 128 as above; then per chunk c (< 4) 320 bytes at 128 + 320c: a fifth-bit column whose byte 8r + i
// holds, in bits 2u and 2u + 1, the fifth bits of weights 64c + 8u + i and 64c + 32 + 8u + i of row r (q5_K's
// bits 2c and 2c + 1 of qh_r[8u + i]), then the four code columns u at + 64 + 64u, as q4_K_x8's (c, u). A chunk's
// bits are read just before its codes, front to back.

/// Bytes of one super-block of a group of eight rows.
let q4KX8GroupBlockBytes = 1152, q5KX8GroupBlockBytes = 1408

/// Byte offset of code column (c, u) in a q4_K_x8 (`q5`: q5_K_x8) group super-block.
@inline(__always) func q45KX8CodeColumn(_ c: Int, _ u: Int, q5: Bool) -> Int { q5 ? 192 &+ 320 &* c &+ 64 &* u : 128 &+ 64 &* (4 &* c &+ u) }

/// Byte offset of chunk c's fifth-bit column in a q5_K_x8 group super-block.
@inline(__always) func q5KX8BitColumn(_ c: Int) -> Int { 128 &+ 320 &* c }

/// Super-block b of the eight q4_K (`q5`: q5_K) rows at `src` (`rowBytes` apart) -> its q4_K_x8 (q5_K_x8) bytes
/// at `dst`.
func interleaveQ45KBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, rowBytes: Int, block b: Int, q5: Bool) {
    var sc = SIMD64<UInt8>(), mn = SIMD64<UInt8>()
    if q5 { for c in 0..<4 { dst.advanced(by: q5KX8BitColumn(c)).initializeMemory(as: UInt8.self, repeating: 0, count: 64) } }
    for r in 0..<8 {
        let blk = src + (r &* rowBytes &+ b &* (q5 ? 176 : 144)), qs = q5 ? 48 : 16
        dst.storeBytes(of: blk.loadUnaligned(as: UInt16.self), toByteOffset: 2 &* r, as: UInt16.self)
        dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 16 &+ 2 &* r, as: UInt16.self)
        for j in 0..<8 { (sc[8 &* r &+ j], mn[8 &* r &+ j]) = kScaleMin(blk + 4, j) }
        for c in 0..<4 {
            for u in 0..<4 {
                let q = blk.loadUnaligned(fromByteOffset: qs &+ 32 &* c &+ 8 &* u, as: UInt64.self)
                dst.storeBytes(of: q, toByteOffset: q45KX8CodeColumn(c, u, q5: q5) &+ 8 &* r, as: UInt64.self)
                guard q5 else { continue }
                for i in 0..<8 {
                    let h = blk.load(fromByteOffset: 16 &+ 8 &* u &+ i, as: UInt8.self) >> (2 &* c) & 3
                    let t = q5KX8BitColumn(c) &+ 8 &* r &+ i
                    dst.storeBytes(of: dst.load(fromByteOffset: t, as: UInt8.self) | h << (2 &* u), toByteOffset: t, as: UInt8.self)
                }
            }
        }
    }
    for k in 0..<64 { dst.storeBytes(of: sc[k] & 15 | (mn[k] & 15) << 4, toByteOffset: 32 &+ k, as: UInt8.self) }
    for k in 0..<32 {
        let top = sc[k] >> 4 | (sc[k &+ 32] >> 4) << 2 | (mn[k] >> 4) << 4 | (mn[k &+ 32] >> 4) << 6
        dst.storeBytes(of: top, toByteOffset: 96 &+ k, as: UInt8.self)
    }
}

/// The fifth bits of row e's 8 codes in column (c, u) of the q5_K_x8 group super-block at `src`, as 0 or 16 in
/// each byte: the low-nibble weights' (first) and the high-nibble weights'.
@inline(__always)
func q5KX8FifthBits(_ src: UnsafeRawPointer, row e: Int, _ c: Int, _ u: Int) -> (UInt64, UInt64) {
    let bits = src.loadUnaligned(fromByteOffset: q5KX8BitColumn(c) &+ 8 &* e, as: UInt64.self) >> UInt64(2 &* u)
    let one: UInt64 = 0x0101_0101_0101_0101
    return ((bits & one) << 4, ((bits >> 1) & one) << 4)
}

/// Row e (0..<8) of the q4_K_x8 (`q5`: q5_K_x8) group super-block at `src` -> its 144-byte q4_K (176-byte q5_K)
/// block at `dst`.
func q45KX8RowBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, row e: Int, q5: Bool) {
    dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self), as: UInt16.self)
    dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 16 &+ 2 &* e, as: UInt16.self), toByteOffset: 2, as: UInt16.self)
    @inline(__always) func scaleMin(_ j: Int) -> (UInt8, UInt8) { q4KX8ScaleMin(src, row: e, j) }
    // q4_K's 12 bytes (`kScaleMin` read backwards): j < 4: s[j] = sc_j | (sc_j+4 >> 4) << 6, s[j + 4] = m_j |
    // (m_j+4 >> 4) << 6, s[j + 8] = sc_j+4 & 15 | (m_j+4 & 15) << 4.
    for j in 0..<4 {
        let (s0, m0) = scaleMin(j), (s1, m1) = scaleMin(j &+ 4)
        dst.storeBytes(of: s0 | (s1 >> 4) << 6, toByteOffset: 4 &+ j, as: UInt8.self)
        dst.storeBytes(of: m0 | (m1 >> 4) << 6, toByteOffset: 8 &+ j, as: UInt8.self)
        dst.storeBytes(of: s1 & 15 | (m1 & 15) << 4, toByteOffset: 12 &+ j, as: UInt8.self)
    }
    if q5 { (dst + 16).initializeMemory(as: UInt8.self, repeating: 0, count: 32) }
    for c in 0..<4 {
        for u in 0..<4 {
            let q = src.loadUnaligned(fromByteOffset: q45KX8CodeColumn(c, u, q5: q5) &+ 8 &* e, as: UInt64.self)
            dst.storeBytes(of: q, toByteOffset: (q5 ? 48 : 16) &+ 32 &* c &+ 8 &* u, as: UInt64.self)
            guard q5 else { continue }
            let bits = src.loadUnaligned(fromByteOffset: q5KX8BitColumn(c) &+ 8 &* e, as: UInt64.self) >> UInt64(2 &* u)
            for i in 0..<8 {
                let h = UInt8(truncatingIfNeeded: bits >> UInt64(8 &* i)) & 3
                dst.storeBytes(of: dst.load(fromByteOffset: 16 &+ 8 &* u &+ i, as: UInt8.self) | h << (2 &* c),
                               toByteOffset: 16 &+ 8 &* u &+ i, as: UInt8.self)
            }
        }
    }
}

/// The 6-bit scale and min of sub-block j of row e in the q4_K_x8 group super-block at `src`.
@inline(__always)
func q4KX8ScaleMin(_ src: UnsafeRawPointer, row e: Int, _ j: Int) -> (UInt8, UInt8) {
    let k = 8 &* e &+ j, low = src.load(fromByteOffset: 32 &+ k, as: UInt8.self)
    let top = src.load(fromByteOffset: 96 &+ k % 32, as: UInt8.self) >> (k < 32 ? 0 : 2)
    return (low & 15 | (top & 3) << 4, low >> 4 | ((top >> 4) & 3) << 4)
}

/// Row e of the q4_K_x8 (`q5`: q5_K_x8) group super-block at `src` -> its 256 floats, bit-identical to
/// `dequantizeBlockSIMD` on the row's q4_K (q5_K) block (the same products d sc, dmin m and d sc q - dmin m): each
/// chunk's 32 code bytes gathered from their four 8-byte columns.
@inline(__always)
func dequantizeQ45KX8Row(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int, q5: Bool) {
    let d = f16ToFloat(src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self))
    let dmin = f16ToFloat(src.loadUnaligned(fromByteOffset: 16 &+ 2 &* e, as: UInt16.self))
    let m4: UInt64 = 0x0F0F_0F0F_0F0F_0F0F
    for c in 0..<4 {
        // Each column's codes as bytes (0..<32): the low-nibble weights' (l) and the high-nibble ones' (h).
        var l = SIMD4<UInt64>(), h = SIMD4<UInt64>()
        for u in 0..<4 {
            let q = src.loadUnaligned(fromByteOffset: q45KX8CodeColumn(c, u, q5: q5) &+ 8 &* e, as: UInt64.self)
            let (fl, fh) = q5 ? q5KX8FifthBits(src, row: e, c, u) : (0, 0)
            l[u] = q & m4 | fl
            h[u] = (q >> 4) & m4 | fh
        }
        let lo = unsafeBitCast(l, to: SIMD32<UInt8>.self), hi = unsafeBitCast(h, to: SIMD32<UInt8>.self)
        let (s0, m0) = q4KX8ScaleMin(src, row: e, 2 &* c), (s1, m1) = q4KX8ScaleMin(src, row: e, 2 &* c &+ 1)
        let d0 = SIMD16(repeating: d * Float(s0)), n0 = SIMD16(repeating: dmin * Float(m0))
        let d1 = SIMD16(repeating: d * Float(s1)), n1 = SIMD16(repeating: dmin * Float(m1))
        let o = dst + 64 &* c
        storeF32x16(o, d0 * smallIntsToFloat(widen(lo.lowHalf), minus: 0) - n0)
        storeF32x16(o + 16, d0 * smallIntsToFloat(widen(lo.highHalf), minus: 0) - n0)
        storeF32x16(o + 32, d1 * smallIntsToFloat(widen(hi.lowHalf), minus: 0) - n1)
        storeF32x16(o + 48, d1 * smallIntsToFloat(widen(hi.highHalf), minus: 0) - n1)
    }
}

/// The eight rows of the q4_K_x8 (`q5`: q5_K_x8) group super-block at `src` -> 256 floats each, row e at
/// `dst + e * stride`, bit-identical to `dequantizeQ45KX8Row` (the same products d sc, dmin m, d sc q - dmin m):
/// the scales of the eight rows unpacked at once, then each 64-byte column of codes (8 bytes of each row) widened
/// row by row.
@inline(__always)
func dequantizeQ45KX8Group(_ dst: UnsafeMutablePointer<Float>, stride n: Int, _ src: UnsafeRawPointer, q5: Bool) {
    let (scales, mins) = q4KX8ScalesMins(src)
    let sc = unsafeBitCast(scales, to: SIMD8<UInt64>.self), mn = unsafeBitCast(mins, to: SIMD8<UInt64>.self)
    let d = f16ToFloat8(src.loadUnaligned(as: SIMD8<Float16>.self))
    let dmin = f16ToFloat8(src.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self))
    @inline(__always) func floats(_ v: UInt64) -> SIMD8<Float> { bytesToFloat8(v, minus: 0) }
    for e in 0..<8 {
        let ds = SIMD8(repeating: d[e]) * floats(sc[e]), ms = SIMD8(repeating: dmin[e]) * floats(mn[e])
        let row = dst + e &* n
        for c in 0..<4 {
            let d0 = SIMD8(repeating: ds[2 &* c]), n0 = SIMD8(repeating: ms[2 &* c])
            let d1 = SIMD8(repeating: ds[2 &* c &+ 1]), n1 = SIMD8(repeating: ms[2 &* c &+ 1])
            for u in 0..<4 {
                let q = src.loadUnaligned(fromByteOffset: q45KX8CodeColumn(c, u, q5: q5) &+ 8 &* e, as: UInt64.self)
                let (fl, fh) = q5 ? q5KX8FifthBits(src, row: e, c, u) : (0, 0)
                let o = UnsafeMutableRawPointer(row + (64 &* c &+ 8 &* u))
                o.storeBytes(of: d0 * floats(q & 0x0F0F_0F0F_0F0F_0F0F | fl) - n0, as: SIMD8<Float>.self)
                o.storeBytes(of: d1 * floats((q &>> 4) & 0x0F0F_0F0F_0F0F_0F0F | fh) - n1, toByteOffset: 128, as: SIMD8<Float>.self)
            }
        }
    }
}

/// The 6-bit scales and mins of the eight rows of the group super-block at `blk`, bytes SC[8r + j] and MN[8r + j]
/// (so each 128-bit lane holds a pair of rows: the layout the kernels' `vpshufb` spreads from).
@inline(__always)
func q4KX8ScalesMins(_ blk: UnsafeRawPointer) -> (SIMD16<UInt32>, SIMD16<UInt32>) {
    let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD16<UInt32>(repeating: 0x0303_0303)
    let low = blk.loadUnaligned(fromByteOffset: 32, as: SIMD16<UInt32>.self)
    let top = blk.loadUnaligned(fromByteOffset: 96, as: SIMD8<UInt32>.self)
    let tops = SIMD16(lowHalf: top, highHalf: top &>> 2)
    return ((low & m4) | ((tops & m2) &<< 4), ((low &>> 4) & m4) | (((tops &>> 4) & m2) &<< 4))
}
