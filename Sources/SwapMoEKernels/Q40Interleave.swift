import SwapMoECore
// q4_0_x8 ("Q4_0_X8" in an archive): a q4_0 matrix with its rows stored eight at a time, as q4_K_x8 does for q4_K
// (Q4KInterleave.swift; kernel in QuantGEMV+Q40X8.swift): the same bytes (18 per 32 weights of a row), converted
// exactly both ways, rows a multiple of 8, group g (rows 8g ..< 8g + 8) at byte 8g * rowBytes. Within a group,
// block b (weights 32b ..< 32b + 32 of each row) takes the 144 bytes at 144b, with d_r and qs_r[16] the f16 scale
// and code bytes of row r's q4_0 block (weight l = d (qs[l] & 15 - 8), weight 16 + l = d (qs[l] >> 4 - 8), l < 16):
//   0 ..< 16     d of rows 0..<8 (f16)
//   16 ..< 144   two code columns u (< 2) of 64 bytes at 16 + 64u: byte 8r + i = qs_r[8u + i] (i < 8), so that
//                column u holds weights 8u + i (low nibbles) and 16 + 8u + i (high nibbles) of every row.

/// Bytes of one block of a group of eight rows.
let q40X8GroupBlockBytes = 144

// mxfp4_x8 ("MXFP4_X8"): an MXFP4 matrix (gpt-oss's experts) laid out the same way, each row's block an E8M0 byte e_r and
// the same 16 code bytes qs_r (weight l = 2^(e - 127) E2M1(qs[l] & 15), weight 16 + l from qs[l] >> 4): block b of a
// group in the 136 bytes at 136b:
//   0 ..< 8      e of rows 0..<8
//   8 ..< 136    two code columns u (< 2) of 64 bytes at 8 + 64u: byte 8r + i = qs_r[8u + i] (i < 8)
let mxfp4X8GroupBlockBytes = 136

// q5_0_x8 ("Q5_0_X8"): a Q5_0 matrix laid out the same way, each row's block an f16 d_r, 32 fifth bits qh_r (bit l for
// weight l) and the 16 code bytes qs_r (weight l = d ((qs[l] & 15 | bit l << 4) - 16), weight 16 + l from qs[l] >> 4
// and bit 16 + l): block b of a group in the 176 bytes at 176b:
//   0 ..< 16     d of rows 0..<8 (f16)
//   16 ..< 48    the fifth bits by lane of the code columns: lane 8r + i (i < 8) has 4 bits, in the low nibble of byte
//                16 + (8r + i) / 2 for even lanes, the high for odd: bit 2u = weight 8u + i's (column u's low nibble),
//                bit 2u + 1 = weight 16 + 8u + i's (its high nibble), u < 2
//   48 ..< 176   two code columns u (< 2) of 64 bytes at 48 + 64u: byte 8r + i = qs_r[8u + i]
let q50X8GroupBlockBytes = 176

/// Block b of the eight q5_0 rows at `src` (`rowBytes` apart) -> its q5_0_x8 group block at `dst`.
func interleaveQ50Block(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, rowBytes: Int, block b: Int) {
    for r in 0..<8 {
        let blk = src + (r &* rowBytes &+ b &* 22), qh = blk.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        dst.storeBytes(of: blk.loadUnaligned(as: UInt16.self), toByteOffset: 2 &* r, as: UInt16.self)
        for u in 0..<2 {
            dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: 6 &+ 8 &* u, as: UInt64.self), toByteOffset: 48 &+ 64 &* u &+ 8 &* r, as: UInt64.self)
        }
        for i in 0..<8 {
            var nibble: UInt32 = 0
            for u in 0..<2 {
                nibble |= ((qh >> UInt32(8 &* u &+ i)) & 1) << UInt32(2 &* u) | ((qh >> UInt32(16 &+ 8 &* u &+ i)) & 1) << UInt32(2 &* u &+ 1)
            }
            let lane = 8 &* r &+ i, at = 16 &+ lane / 2
            let old = dst.load(fromByteOffset: at, as: UInt8.self)
            dst.storeBytes(of: lane % 2 == 0 ? (old & 0xF0) | UInt8(nibble) : (old & 0x0F) | UInt8(nibble << 4), toByteOffset: at, as: UInt8.self)
        }
    }
}

/// Row e (0..<8) of a q5_0_x8 group block at `src` -> its plain q5_0 block at `dst`.
func q50X8RowBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, row e: Int) {
    dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self), as: UInt16.self)
    var qh: UInt32 = 0
    for i in 0..<8 {
        let lane = 8 &* e &+ i, byte = UInt32(src.load(fromByteOffset: 16 &+ lane / 2, as: UInt8.self))
        let nibble = lane % 2 == 0 ? byte & 15 : byte >> 4
        for u in 0..<2 {
            qh |= ((nibble >> UInt32(2 &* u)) & 1) << UInt32(8 &* u &+ i) | ((nibble >> UInt32(2 &* u &+ 1)) & 1) << UInt32(16 &+ 8 &* u &+ i)
        }
    }
    dst.storeBytes(of: qh, toByteOffset: 2, as: UInt32.self)
    for u in 0..<2 {
        dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 48 &+ 64 &* u &+ 8 &* e, as: UInt64.self), toByteOffset: 6 &+ 8 &* u, as: UInt64.self)
    }
}

/// Row e's 32 weights d (q - 8) of the group block at `src` -> `dst`.
@inline(__always)
func q40X8Codes(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int, _ d: SIMD8<Float>) {
    let m4: UInt64 = 0x0F0F_0F0F_0F0F_0F0F
    for u in 0..<2 {
        let q = src.loadUnaligned(fromByteOffset: 16 &+ 64 &* u &+ 8 &* e, as: UInt64.self)
        let o = UnsafeMutableRawPointer(dst + 8 &* u)
        o.storeBytes(of: d * bytesToFloat8(q & m4, minus: 8), as: SIMD8<Float>.self)
        o.storeBytes(of: d * bytesToFloat8((q >> 4) & m4, minus: 8), toByteOffset: 64, as: SIMD8<Float>.self)
    }
}

/// Row e's 32 weights of the mxfp4_x8 group block at `src`, d (its scale, `e8m0Half`) times the doubled levels
/// (`mxfp4Values16`) -> `dst`: the products `dequantizeBlockSIMD` forms on the row's plain block.
@inline(__always)
func mxfp4X8Codes(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int, _ d: Float) {
    let m4: UInt64 = 0x0F0F_0F0F_0F0F_0F0F
    for u in 0..<2 {
        let q = src.loadUnaligned(fromByteOffset: 8 &+ 64 &* u &+ 8 &* e, as: UInt64.self)
        // Lanes 0..<8: weights 8u + i (low nibbles); 8..<16: weights 16 + 8u + i (high nibbles).
        let v = SIMD16<Float>(repeating: d) * mxfp4Values16(widen(unsafeBitCast(SIMD2<UInt64>(q & m4, (q >> 4) & m4), to: SIMD16<UInt8>.self)))
        UnsafeMutableRawPointer(dst + 8 &* u).storeBytes(of: v.lowHalf, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(dst + (16 &+ 8 &* u)).storeBytes(of: v.highHalf, as: SIMD8<Float>.self)
    }
}
