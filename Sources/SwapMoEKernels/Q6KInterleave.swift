import SwapMoECore
// q6_K_x8 ("Q6_K_X8" in an archive): a q6_K matrix with its rows stored eight at a time, as q4_K_x8 does for
// q4_K (Q4KInterleave.swift; kernels in QuantGEMV+Q6KX8.swift): the same bytes (210 per 256 weights of a row),
// converted exactly both ways, rows a multiple of 8, group g (rows 8g ..< 8g + 8) at byte 8g * rowBytes. Within a
// group, super-block b takes the 1680 bytes at 1680b, with q_r[w] (0..<64) the 6-bit code of weight w of row r,
// sc_r[g] its 16-weight groups' signed scales and d_r its f16 scale (weight = d sc_g (q - 32), as q6_K):
//   0 ..< 16       d of rows 0..<8 (f16)
//   16 ..< 144     scales: byte 16 + 32k + 4r + j = sc_r[4k + j]                                   (k, j < 4)
//   144 ..< 1680   per chunk c (< 4) 384 bytes at 144 + 384c: for p < 2, a top-bit column at + 192p, then the
//                  low-bit columns u = 2p and 2p + 1 (64 bytes each): low-bit column (c, u), byte 8r + i =
//                  q_r[64c + 8u + i] & 15 | (q_r[64c + 32 + 8u + i] & 15) << 4 (i < 8); top-bit column (c, p), byte
//                  8r + i holds q >> 4 of weights 64c + 16p + i (bits 0-1), 64c + 32 + 16p + i (2-3),
//                  64c + 16p + 8 + i (4-5) and 64c + 32 + 16p + 8 + i (6-7)
// so that the low-bit column (c, u) and bits 4 (u % 2) ... of top column (c, u / 2) give 8 codes of each row, all in
// one 16-weight group per row (4c + u / 2 for the low nibbles, 4c + 2 + u / 2 for the high ones), and the kernel
// reads each super-block front to back. (The top bits first gathered after all the low bits, 1168 ..< 1680, made
// the GEMV read 9 GB/s from DRAM where it read 44 from cache: two streams 1 KiB apart in every super-block.)

/// Byte offsets of low-bit column (c, u) and top-bit column (c, p) in a group super-block.
@inline(__always) func q6KX8LowColumn(_ c: Int, _ u: Int) -> Int { 144 &+ 384 &* c &+ 192 &* (u / 2) &+ 64 &* (1 &+ u % 2) }
@inline(__always) func q6KX8TopColumn(_ c: Int, _ p: Int) -> Int { 144 &+ 384 &* c &+ 192 &* p }

/// Bytes of one super-block of a group of eight rows.
let q6KX8GroupBlockBytes = 1680

/// The 6-bit code of weight w (0..<256) of the q6_K block at `blk` (layout: `dequantizeQ6KBlock`).
@inline(__always)
func q6KCode(_ blk: UnsafeRawPointer, _ w: Int) -> UInt8 {
    let h = w / 128, quadrant = (w % 128) / 32, l = w % 32
    let low = blk.load(fromByteOffset: 64 &* h &+ l &+ (quadrant & 1) &* 32, as: UInt8.self) >> (quadrant < 2 ? 0 : 4)
    let top = blk.load(fromByteOffset: 128 &+ 32 &* h &+ l, as: UInt8.self) >> (2 &* quadrant)
    return low & 15 | (top & 3) << 4
}

/// Adds weight w's code to the q6_K block at `blk` (its code bits zero).
@inline(__always)
func setQ6KCode(_ blk: UnsafeMutableRawPointer, _ w: Int, _ q: UInt8) {
    let h = w / 128, quadrant = (w % 128) / 32, l = w % 32
    let lo = 64 &* h &+ l &+ (quadrant & 1) &* 32, hi = 128 &+ 32 &* h &+ l
    blk.storeBytes(of: blk.load(fromByteOffset: lo, as: UInt8.self) | (q & 15) << (quadrant < 2 ? 0 : 4), toByteOffset: lo, as: UInt8.self)
    blk.storeBytes(of: blk.load(fromByteOffset: hi, as: UInt8.self) | (q >> 4) << (2 &* quadrant), toByteOffset: hi, as: UInt8.self)
}

/// Super-block b of the eight q6_K rows at `src` (`rowBytes` apart) -> its 1680 q6_K_x8 bytes at `dst`.
func interleaveQ6KBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, rowBytes: Int, block b: Int) {
    for c in 0..<4 { for p in 0..<2 { dst.advanced(by: q6KX8TopColumn(c, p)).initializeMemory(as: UInt8.self, repeating: 0, count: 64) } }
    for r in 0..<8 {
        let blk = src + (r &* rowBytes &+ b &* 210)
        dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: 208, as: UInt16.self), toByteOffset: 2 &* r, as: UInt16.self)
        for g in 0..<16 {
            dst.storeBytes(of: blk.load(fromByteOffset: 192 &+ g, as: UInt8.self), toByteOffset: 16 &+ 32 &* (g / 4) &+ 4 &* r &+ g % 4, as: UInt8.self)
        }
        for c in 0..<4 {
            for u in 0..<4 {
                for i in 0..<8 {
                    let lo = q6KCode(blk, 64 &* c &+ 8 &* u &+ i), hi = q6KCode(blk, 64 &* c &+ 32 &+ 8 &* u &+ i)
                    dst.storeBytes(of: lo & 15 | (hi & 15) << 4, toByteOffset: q6KX8LowColumn(c, u) &+ 8 &* r &+ i, as: UInt8.self)
                    let t = q6KX8TopColumn(c, u / 2) &+ 8 &* r &+ i, shift = 4 &* (u % 2)
                    let top = dst.load(fromByteOffset: t, as: UInt8.self) | (lo >> 4) << shift | (hi >> 4) << (shift &+ 2)
                    dst.storeBytes(of: top, toByteOffset: t, as: UInt8.self)
                }
            }
        }
    }
}

/// The codes of row e in column (c, u) of the q6_K_x8 group super-block at `src`: 8 low-nibble weights
/// (64c + 8u + i) and 8 high-nibble ones (64c + 32 + 8u + i), each byte one code.
@inline(__always)
func q6KX8Codes(_ src: UnsafeRawPointer, row e: Int, _ c: Int, _ u: Int) -> (UInt64, UInt64) {
    let m4: UInt64 = 0x0F0F_0F0F_0F0F_0F0F, m2: UInt64 = 0x0303_0303_0303_0303
    let bits = src.loadUnaligned(fromByteOffset: q6KX8LowColumn(c, u) &+ 8 &* e, as: UInt64.self)
    let top = src.loadUnaligned(fromByteOffset: q6KX8TopColumn(c, u / 2) &+ 8 &* e, as: UInt64.self) >> UInt64(4 &* (u % 2))
    return (bits & m4 | (top & m2) << 4, (bits >> 4) & m4 | ((top >> 2) & m2) << 4)
}

/// Row e (0..<8) of the q6_K_x8 group super-block at `src` -> its 210-byte q6_K block at `dst`.
func q6KX8RowBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, row e: Int) {
    dst.initializeMemory(as: UInt8.self, repeating: 0, count: 192)
    dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self), toByteOffset: 208, as: UInt16.self)
    for g in 0..<16 {
        dst.storeBytes(of: src.load(fromByteOffset: 16 &+ 32 &* (g / 4) &+ 4 &* e &+ g % 4, as: UInt8.self), toByteOffset: 192 &+ g, as: UInt8.self)
    }
    for c in 0..<4 {
        for u in 0..<4 {
            let (lo, hi) = q6KX8Codes(src, row: e, c, u)
            for i in 0..<8 {
                setQ6KCode(dst, 64 &* c &+ 8 &* u &+ i, UInt8(truncatingIfNeeded: lo >> UInt64(8 &* i)))
                setQ6KCode(dst, 64 &* c &+ 32 &+ 8 &* u &+ i, UInt8(truncatingIfNeeded: hi >> UInt64(8 &* i)))
            }
        }
    }
}

/// Row e of the q6_K_x8 group super-block at `src` -> its 256 floats, bit-identical to `dequantizeBlockSIMD` on
/// the row's q6_K block (the same products d sc and (d sc) (q - 32)).
@inline(__always)
func dequantizeQ6KX8Row(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int) {
    let d = f16ToFloat(src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self))
    @inline(__always) func scale(_ g: Int) -> SIMD8<Float> {
        SIMD8(repeating: d * Float(src.load(fromByteOffset: 16 &+ 32 &* (g / 4) &+ 4 &* e &+ g % 4, as: Int8.self)))
    }
    for c in 0..<4 {
        for u in 0..<4 {
            let (lo, hi) = q6KX8Codes(src, row: e, c, u)
            let o = UnsafeMutableRawPointer(dst + (64 &* c &+ 8 &* u))
            o.storeBytes(of: scale(4 &* c &+ u / 2) * bytesToFloat8(lo, minus: 32), as: SIMD8<Float>.self)
            o.storeBytes(of: scale(4 &* c &+ 2 &+ u / 2) * bytesToFloat8(hi, minus: 32), toByteOffset: 128, as: SIMD8<Float>.self)
        }
    }
}
