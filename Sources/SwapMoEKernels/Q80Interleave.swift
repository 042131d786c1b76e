import SwapMoECore
// q8_0_x8 ("Q8_0_X8" in an archive): a q8_0 matrix with its rows stored eight at a time, as q4_0_x8 stores q4_0
// (Q40Interleave.swift; kernel in QuantGEMV+Q80X8.swift): the same bytes (34 per 32 weights of a row), converted
// exactly both ways, rows a multiple of 8, group g (rows 8g ..< 8g + 8) at byte 8g * rowBytes. Within a group,
// block b (weights 32b ..< 32b + 32 of each row) takes the 272 bytes at 272b, with d_r and qs_r[32] the f16 scale
// and signed code bytes of row r's q8_0 block (weight l = d qs[l]):
//   0 ..< 16     d of rows 0..<8 (f16)
//   16 ..< 272   four code columns u (< 4) of 64 bytes at 16 + 64u: byte 8r + i = qs_r[8u + i] (i < 8), so that
//                column u holds weights 8u ..< 8u + 8 of every row.

/// Bytes of one block of a group of eight rows.
let q80X8GroupBlockBytes = 272

/// Row e's 32 weights d q of the group block at `src` -> `dst` (q + 128 as an unsigned byte, minus 128: exact).
@inline(__always)
func q80X8Codes(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int, _ d: SIMD8<Float>) {
    for u in 0..<4 {
        let q = src.loadUnaligned(fromByteOffset: 16 &+ 64 &* u &+ 8 &* e, as: UInt64.self)
        UnsafeMutableRawPointer(dst + 8 &* u).storeBytes(of: d * bytesToFloat8(q ^ 0x8080_8080_8080_8080, minus: 128), as: SIMD8<Float>.self)
    }
}
