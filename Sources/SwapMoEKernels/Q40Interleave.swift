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

// q4_1_x8 ("Q4_1_X8") and q5_1_x8 ("Q5_1_X8"): Q4_1 and Q5_1 laid out as q4_0_x8 and q5_0_x8, each row's 4-byte
// head (f16 d, then f16 min m: weight = d q + m) in place of q4_0's and q5_0's d: heads 0 ..< 32 (row r's at 4r), then
// q5_1's fifth bits 32 ..< 64 as q5_0_x8's, then the code columns (at 32 + 64u for q4_1, 64 + 64u for q5_1).
let q41X8GroupBlockBytes = 160, q51X8GroupBlockBytes = 192

/// Block b of the eight q5_0 (`head` 2) or q5_1 (`head` 4: d and min) rows at `src` (`rowBytes` apart) -> its
/// q5_0_x8 or q5_1_x8 group block at `dst`: the heads, the fifth bits by lane at 8 head, the code columns after them.
func interleaveQ50Block(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, rowBytes: Int, block b: Int, head h: Int) {
    let fifth = 8 &* h, codes = fifth &+ 32
    for r in 0..<8 {
        let blk = src + (r &* rowBytes &+ b &* (h &+ 20)), qh = blk.loadUnaligned(fromByteOffset: h, as: UInt32.self)
        (dst + h &* r).copyMemory(from: blk, byteCount: h)
        for u in 0..<2 {
            dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: h &+ 4 &+ 8 &* u, as: UInt64.self), toByteOffset: codes &+ 64 &* u &+ 8 &* r, as: UInt64.self)
        }
        for i in 0..<8 {
            var nibble: UInt32 = 0
            for u in 0..<2 {
                nibble |= ((qh >> UInt32(8 &* u &+ i)) & 1) << UInt32(2 &* u) | ((qh >> UInt32(16 &+ 8 &* u &+ i)) & 1) << UInt32(2 &* u &+ 1)
            }
            let lane = 8 &* r &+ i, at = fifth &+ lane / 2
            let old = dst.load(fromByteOffset: at, as: UInt8.self)
            dst.storeBytes(of: lane % 2 == 0 ? (old & 0xF0) | UInt8(nibble) : (old & 0x0F) | UInt8(nibble << 4), toByteOffset: at, as: UInt8.self)
        }
    }
}

/// Row e (0..<8) of a q5_0_x8 (`head` 2) or q5_1_x8 (`head` 4) group block at `src` -> its plain block at `dst`.
func q50X8RowBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, row e: Int, head h: Int) {
    let fifth = 8 &* h, codes = fifth &+ 32
    dst.copyMemory(from: src + h &* e, byteCount: h)
    var qh: UInt32 = 0
    for i in 0..<8 {
        let lane = 8 &* e &+ i, byte = UInt32(src.load(fromByteOffset: fifth &+ lane / 2, as: UInt8.self))
        let nibble = lane % 2 == 0 ? byte & 15 : byte >> 4
        for u in 0..<2 {
            qh |= ((nibble >> UInt32(2 &* u)) & 1) << UInt32(8 &* u &+ i) | ((nibble >> UInt32(2 &* u &+ 1)) & 1) << UInt32(16 &+ 8 &* u &+ i)
        }
    }
    dst.storeBytes(of: qh, toByteOffset: h, as: UInt32.self)
    for u in 0..<2 {
        dst.storeBytes(of: src.loadUnaligned(fromByteOffset: codes &+ 64 &* u &+ 8 &* e, as: UInt64.self), toByteOffset: h &+ 4 &+ 8 &* u, as: UInt64.self)
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
