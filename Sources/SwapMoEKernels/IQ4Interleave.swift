import SwapMoECore
// iq4_nl_x8 and iq4_xs_x8 ("IQ4_NL_X8", "IQ4_XS_X8" in an archive): IQ4_NL and IQ4_XS matrices (llama.cpp's
// non-linear 4-bit types; IQ4_XS files use IQ4_NL for rows that are not whole 256-blocks) with their rows stored
// eight at a time (kernels in QuantGEMV+IQ4X8.swift): the same bytes (18 per 32 and 136 per 256 weights of a row),
// converted exactly both ways, rows a multiple of 8, group g (rows 8g ..< 8g + 8) at byte 8g * rowBytes.
// iq4_nl_x8 is laid out exactly as q4_0_x8 (Q40Interleave.swift: an f16 d and 16 code bytes per row's block, the
// codes in two 64-byte columns). iq4_xs_x8: a group's super-block b in the 1088 bytes at 1088b, with d_r, sh_r
// (u16), sl_r[4] and qs_r[128] row r's IQ4_XS fields (sub-block j's scale (sl[j / 2] >> 4 (j % 2) & 15 | (sh >> 2j
// & 3) << 4) - 32, its codes qs[16j ..< 16j + 16] as an IQ4_NL block's):
//   0 ..< 16       d of rows 0..<8 (f16)
//   16 ..< 48      sl: byte 16 + 4r + k = sl_r[k] (k < 4)
//   48 ..< 64      sh of rows 0..<8 (u16)
//   64 ..< 1088    sub-block j (< 8) in the 128 bytes at 64 + 128j: two code columns u (< 2) at + 64u, byte
//                  8r + i = qs_r[16j + 8u + i] (i < 8), as a q4_0_x8 block's columns

/// Bytes of one super-block of a group of eight iq4_xs rows.
let iq4XSX8GroupBlockBytes = 1088

/// Super-block b of the eight IQ4_XS rows at `src` (`rowBytes` apart) -> its 1088 iq4_xs_x8 bytes at `dst`.
func interleaveIQ4XSBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, rowBytes: Int, block b: Int) {
    for r in 0..<8 {
        let blk = src + (r &* rowBytes &+ b &* 136)
        (dst + 2 &* r).copyMemory(from: blk, byteCount: 2)
        (dst + (48 &+ 2 &* r)).copyMemory(from: blk + 2, byteCount: 2)
        (dst + (16 &+ 4 &* r)).copyMemory(from: blk + 4, byteCount: 4)
        for j in 0..<8 {
            for u in 0..<2 {
                dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: 8 &+ 16 &* j &+ 8 &* u, as: UInt64.self),
                               toByteOffset: 64 &+ 128 &* j &+ 64 &* u &+ 8 &* r, as: UInt64.self)
            }
        }
    }
}

/// Row e (0..<8) of the iq4_xs_x8 group super-block at `src` -> its 136-byte IQ4_XS block at `dst`.
func iq4XSX8RowBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, row e: Int) {
    dst.copyMemory(from: src + 2 &* e, byteCount: 2)
    (dst + 2).copyMemory(from: src + (48 &+ 2 &* e), byteCount: 2)
    (dst + 4).copyMemory(from: src + (16 &+ 4 &* e), byteCount: 4)
    for j in 0..<8 {
        for u in 0..<2 {
            dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 64 &+ 128 &* j &+ 64 &* u &+ 8 &* e, as: UInt64.self),
                           toByteOffset: 8 &+ 16 &* j &+ 8 &* u, as: UInt64.self)
        }
    }
}

/// Row e of an iq4_xs_x8 group super-block at `src` -> its 256 floats, bit-identical to `dequantizeBlockSIMD` on
/// the row's IQ4_XS block (rebuilt, then dequantized as such: rows are read out of these groups only off the x86
/// kernels' path).
func dequantizeIQ4XSX8Row(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int) {
    withUnsafeTemporaryAllocation(byteCount: 144, alignment: 16) { b in
        iq4XSX8RowBlock(b.baseAddress!, src, row: e)
        dequantizeBlockSIMD(dst, UnsafeRawPointer(b.baseAddress!), .iq4_xs)
    }
}
