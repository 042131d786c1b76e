import SwapMoECore
// q3_K_x8 and q2_K_x8 ("Q3_K_X8", "Q2_K_X8" in an archive): q3_K and q2_K matrices (what llama-quantize's Q3_K_M
// and Q2_K write for most expert matrices) with their rows stored eight at a time, as q6_K_x8 does for q6_K
// (Q6KInterleave.swift; kernels in QuantGEMV+Q23KX8.swift): the same bytes (110 and 84 per 256 weights of a row),
// converted exactly both ways, rows a multiple of 8, group g (rows 8g ..< 8g + 8) at byte 8g * rowBytes. With
// q_r[w] the code of weight w of row r - q2_K's two bits (0..<4); q3_K's two low bits with its hmask bit as 4
// (0..<8, weight d (sc - 32) (q - 4)) - and chunk c (< 4) weights 64c ..< 64c + 64 of each row, so that
// q_t = q_r[64c + 8t + i] (t < 8) are 8 codes per row and index i (< 8), a group's super-block b takes 880 (q3_K_x8)
// or 672 (q2_K_x8) bytes at that multiple of b:
// q3_K_x8:
//   0 ..< 16       d of rows 0..<8 (f16)
//   16 ..< 112     the 12 packed scale bytes of each row as three transposed 32-bit words: byte 16 + 32k + 4r + m =
//                  scales_r[4k + m] (k < 3, m < 4), so that eight rows' 6-bit scales unpack at once, four groups
//                  per chunk
//   112 ..< 880    per chunk c three code columns of 64 bytes at 112 + 192c (a), + 64 (b), + 128 (c'), byte 8r + i
//                  of each: a = q0 | q1 << 3 | (q6 & 3) << 6, b = q2 | q3 << 3 | (q7 & 3) << 6,
//                  c' = q4 | q5 << 3 | (q6 >> 2) << 6 | (q7 >> 2) << 7
//                  (six codes whole: a shift and a mask each; the last two from two columns)
// q2_K_x8:
//   0 ..< 16       d of rows 0..<8 (f16), 16 ..< 32 their dmin
//   32 ..< 160     scale bytes (4-bit scale | 4-bit min << 4): byte 32 + 32c + 4r + j = scales_r[4c + j] (j < 4)
//   160 ..< 672    per chunk c two code columns h (< 2) at 160 + 128c + 64h, byte 8r + i = q_{4h} | q_{4h+1} << 2 |
//                  q_{4h+2} << 4 | q_{4h+3} << 6
// so that codes t and t + 1 (t even) of every row and i are in its 16-weight group 4c + t / 2, and the kernel reads
// each super-block front to back.

/// Bytes of one super-block of a group of eight rows.
let q3KX8GroupBlockBytes = 880, q2KX8GroupBlockBytes = 672

/// Byte offset of chunk c's code columns in a group super-block.
@inline(__always) func q23KX8Chunk(_ c: Int, q3: Bool) -> Int { q3 ? 112 &+ 192 &* c : 160 &+ 128 &* c }

/// The code (q3_K: + 4, its third bit as 4) of weight w (0..<256) of a q2_K / q3_K block (layout:
/// `dequantizeQ23KBlock`).
@inline(__always)
func q23KCode(_ blk: UnsafeRawPointer, _ w: Int, q3: Bool) -> UInt8 {
    let n = w / 128, j = (w / 32) % 4, l = w % 32
    let low = (blk.load(fromByteOffset: (q3 ? 32 : 16) &+ 32 &* n &+ l, as: UInt8.self) >> (2 &* j)) & 3
    return q3 ? low | ((blk.load(fromByteOffset: l, as: UInt8.self) >> (4 &* n &+ j)) & 1) << 2 : low
}

/// Adds weight w's code to the q2_K / q3_K block at `blk` (its code bits zero).
@inline(__always)
func setQ23KCode(_ blk: UnsafeMutableRawPointer, _ w: Int, _ q: UInt8, q3: Bool) {
    let n = w / 128, j = (w / 32) % 4, l = w % 32, lo = (q3 ? 32 : 16) &+ 32 &* n &+ l
    blk.storeBytes(of: blk.load(fromByteOffset: lo, as: UInt8.self) | (q & 3) << (2 &* j), toByteOffset: lo, as: UInt8.self)
    if q3 { blk.storeBytes(of: blk.load(fromByteOffset: l, as: UInt8.self) | (q >> 2) << (4 &* n &+ j), toByteOffset: l, as: UInt8.self) }
}

/// The 8 codes q_t (t < 8) of one row and index i -> the bytes of its code columns (q3_K: a, b, c'; q2_K: h = 0, 1,
/// and a third byte 0 that has no column).
@inline(__always)
func q23KX8Pack(_ q: (Int) -> UInt8, q3: Bool) -> (UInt8, UInt8, UInt8) {
    guard q3 else { return (q(0) | q(1) << 2 | q(2) << 4 | q(3) << 6, q(4) | q(5) << 2 | q(6) << 4 | q(7) << 6, 0) }
    return (q(0) | q(1) << 3 | (q(6) & 3) << 6, q(2) | q(3) << 3 | (q(7) & 3) << 6, q(4) | q(5) << 3 | (q(6) >> 2) << 6 | (q(7) >> 2) << 7)
}

/// Code t of one row and index i from its column bytes (`q23KX8Pack` undone).
@inline(__always)
func q23KX8Unpack(_ col: (Int) -> UInt8, _ t: Int, q3: Bool) -> UInt8 {
    guard q3 else { return (col(t / 4) >> (2 &* (t % 4))) & 3 }
    switch t {
    case 6: return col(0) >> 6 | ((col(2) >> 6) & 1) << 2
    case 7: return col(1) >> 6 | (col(2) >> 7) << 2
    default: return (col(t / 2) >> (3 &* (t % 2))) & 7
    }
}

/// Block b of the eight q3_K (`q3`) or q2_K rows at `src` (`rowBytes` apart) -> its group super-block at `dst`.
func interleaveQ23KBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, rowBytes: Int, block b: Int, q3: Bool) {
    let bb = q3 ? 110 : 84
    for r in 0..<8 {
        let blk = src + (r &* rowBytes &+ b &* bb)
        if q3 {
            dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: 108, as: UInt16.self), toByteOffset: 2 &* r, as: UInt16.self)
            for k in 0..<3 { (dst + (16 &+ 32 &* k &+ 4 &* r)).copyMemory(from: blk + (96 &+ 4 &* k), byteCount: 4) }
        } else {
            dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: 80, as: UInt16.self), toByteOffset: 2 &* r, as: UInt16.self)
            dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: 82, as: UInt16.self), toByteOffset: 16 &+ 2 &* r, as: UInt16.self)
            for c in 0..<4 { (dst + (32 &+ 32 &* c &+ 4 &* r)).copyMemory(from: blk + 4 &* c, byteCount: 4) }
        }
        for c in 0..<4 {
            for i in 0..<8 {
                // A tuple, not an array: an array here was an allocation per 8 weights of every matrix packed.
                let bytes = q23KX8Pack({ q23KCode(blk, 64 &* c &+ 8 &* $0 &+ i, q3: q3) }, q3: q3), at = q23KX8Chunk(c, q3: q3) &+ 8 &* r &+ i
                dst.storeBytes(of: bytes.0, toByteOffset: at, as: UInt8.self)
                dst.storeBytes(of: bytes.1, toByteOffset: at &+ 64, as: UInt8.self)
                if q3 { dst.storeBytes(of: bytes.2, toByteOffset: at &+ 128, as: UInt8.self) }
            }
        }
    }
}

/// Row e (0..<8) of the q3_K_x8 (`q3`) or q2_K_x8 group super-block at `src` -> its plain block at `dst`.
func q23KX8RowBlock(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, row e: Int, q3: Bool) {
    if q3 {
        dst.initializeMemory(as: UInt8.self, repeating: 0, count: 96)
        dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self), toByteOffset: 108, as: UInt16.self)
        for k in 0..<3 { (dst + (96 &+ 4 &* k)).copyMemory(from: src + (16 &+ 32 &* k &+ 4 &* e), byteCount: 4) }
    } else {
        (dst + 16).initializeMemory(as: UInt8.self, repeating: 0, count: 64)
        dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self), toByteOffset: 80, as: UInt16.self)
        dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 16 &+ 2 &* e, as: UInt16.self), toByteOffset: 82, as: UInt16.self)
        for c in 0..<4 { (dst + 4 &* c).copyMemory(from: src + (32 &+ 32 &* c &+ 4 &* e), byteCount: 4) }
    }
    for c in 0..<4 {
        for i in 0..<8 {
            @inline(__always) func col(_ k: Int) -> UInt8 { src.load(fromByteOffset: q23KX8Chunk(c, q3: q3) &+ 64 &* k &+ 8 &* e &+ i, as: UInt8.self) }
            for t in 0..<8 { setQ23KCode(dst, 64 &* c &+ 8 &* t &+ i, q23KX8Unpack(col, t, q3: q3), q3: q3) }
        }
    }
}

/// Row e of the group super-block at `src` -> its 256 floats, bit-identical to `dequantizeBlockSIMD` on the row's
/// plain block (rebuilt, then dequantized as such: rows are read out of these groups only off the x86 kernels' path).
func dequantizeQ23KX8Row(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int, q3: Bool) {
    withUnsafeTemporaryAllocation(byteCount: 112, alignment: 16) { b in
        q23KX8RowBlock(b.baseAddress!, src, row: e, q3: q3)
        dequantizeBlockSIMD(dst, UnsafeRawPointer(b.baseAddress!), q3 ? .q3_K : .q2_K)
    }
}
