import SwapMoECore
// GEMV and the four-token GEMM over q3_K_x8 and q2_K_x8 matrices (layout: Q23KInterleave.swift), eight rows at a
// time as for q6_K_x8 (QuantGEMV+Q6KX8.swift): per row the q3_K / q2_K kernel's integer sums
// (QuantGEMV+IntegerKQuants.swift, `q23KStep`) - Σ_g sc_g Σ_{k in g} q_k q_x,k with q3_K's codes q + 4 (0..<8: two
// low bits, the third as 4) and signed scales sc - 32, the -4 as - 4 Σ_g sc_g Σ q_x; q2_K's codes 0..<4 with 4-bit
// scales and its mins as Σ_g m_g Σ q_x - each 64-byte code vector formed by a shift and a mask of a code column
// (q3_K's last two of a chunk from two columns), multiplied by `vpmaddubsw` with 8 broadcast activation bytes;
// the scales of eight rows unpacked once per chunk and spread to their rows' lanes by `vpshufb`; one float
// multiply-add per eight rows (q2_K: two, d and dmin) and super-block.

#if SWAPMOE_X86_INTRINSICS

/// Rows `q3: q3_K's, else q2_K's` scale bytes of chunk c for the rows of `words` (8 or 4 lanes, one per row): q3_K's
/// 6-bit scales unpacked from the three transposed words (as `q3KScales` unpacks one row's 12 bytes), byte 4r + j =
/// sc_r[4c + j]; q2_K's bytes as stored (scale | min << 4).
@inline(__always)
func q3KX8Scales<W: SIMD>(_ a: W, _ b: W, _ t: W, _ c: Int) -> W where W.Scalar == UInt32 {
    let four = W(repeating: 0x0F0F_0F0F), two = W(repeating: 0x0303_0303)
    let low = ((c % 2 == 0 ? a : b) &>> W.Scalar(4 &* (c / 2))) & four
    return low | (((t &>> W.Scalar(2 &* c)) & two) &<< 4)
}

/// Code vector t (< 8) of a chunk from its code columns (`a`, `b`, `c`: q3_K's three; q2_K's two in `a`, `b`), one
/// code per byte: weights 64c + 8t + i of each row (Q23KInterleave.swift). q2_K's come scaled, each as its own bits
/// sit nearest a 16-weight group's other code: 4q for the group of codes t = 0, 1 of a column (bits 0-1 shifted up to
/// 2-3, bits 2-3 masked where they are), 16q for codes t = 2, 3 (bits 4-5 masked, bits 6-7 shifted down): three
/// operations a group instead of four. `q2KX8GroupFactors` makes up the difference in the scales, and the sums come
/// out 16 times the codes' (at most 2 * 2 * 48 * 127 < 2^15 per group's Int16 sum; exact).
@inline(__always)
func q23KX8Code<W: SIMD>(_ a: W, _ b: W, _ c: W, _ t: Int, q3: Bool) -> W where W.Scalar == UInt32 {
    let m3 = W(repeating: 0x0303_0303)
    guard q3 else {
        let col = t < 4 ? a : b, low = W(repeating: 0x0C0C_0C0C), high = W(repeating: 0x3030_3030)
        switch t % 4 {
        case 0: return (col &<< 2) & low
        case 1: return col & low
        case 2: return col & high
        default: return (col &>> 2) & high
        }
    }
    let m7 = W(repeating: 0x0707_0707), bit2 = W(repeating: 0x0404_0404)
    switch t {
    case 6: return ((a &>> 6) & m3) | ((c &>> 4) & bit2)
    // ((b >> 6) & 3) | ((c >> 5) & 4), written with the bits gathered at the top first: in the form of code 6 LLVM
    // merged the two into one double-width operation of shuffles, blends and variable shifts (q3_K_x8 on AVX2).
    case 7: return (((b &>> 1) & W(repeating: 0x6060_6060)) | (c & W(repeating: 0x8080_8080))) &>> 5
    default: return ((t < 2 ? a : t < 4 ? b : c) &>> W.Scalar(3 &* (t % 2))) & m7
    }
}

/// The q2_K scale factors of Int16 lane 4r + j (group j of a chunk): 4 where the group's codes come as 4q (j even),
/// 1 where they come as 16q (`q23KX8Code`), so that every group's products are 16 times its own.
@inline(__always) func q2KX8GroupFactors() -> SIMD16<Int16> { SIMD16(4, 1, 4, 1, 4, 1, 4, 1, 4, 1, 4, 1, 4, 1, 4, 1) }
@inline(__always) func q2KX8GroupFactors() -> SIMD32<Int16> { SIMD32(lowHalf: q2KX8GroupFactors(), highHalf: q2KX8GroupFactors()) }

#if SWAPMOE_AVX512
/// Chunk c's scales (q3_K: signed; q2_K: times `q2KX8GroupFactors`) and mins (q2_K; q3_K: zero) of the q3_K_x8 /
/// q2_K_x8 group super-block at `blk`, Int16 lane 4r + j for group 4c + j of row r.
@inline(__always)
func q23KX8ChunkScales(_ blk: UnsafeRawPointer, _ c: Int, q3: Bool) -> (SIMD32<Int16>, SIMD32<Int16>) {
    if q3 {
        @inline(__always) func word(_ k: Int) -> SIMD8<UInt32> { blk.loadUnaligned(fromByteOffset: 16 &+ 32 &* k, as: SIMD8<UInt32>.self) }
        let sc = uint16s(bytes32(q3KX8Scales(word(0), word(1), word(2), c)))
        return (sc &- SIMD32(repeating: 32), SIMD32())
    }
    let u = blk.loadUnaligned(fromByteOffset: 32 &+ 32 &* c, as: SIMD8<UInt32>.self), four = SIMD8<UInt32>(repeating: 0x0F0F_0F0F)
    return (uint16s(bytes32(u & four)) &* q2KX8GroupFactors(), uint16s(bytes32((u &>> 4) & four)))
}

/// One q3_K_x8 (`q3`) or q2_K_x8 group super-block at `blk` against the activation super-block at `qx` with its
/// 16-sums: Int32 lanes 2r, 2r + 1 hold row r's Σ_g sc_g Σ q q_x (q3_K: with its - 4 Σ_g sc_g Σ q_x) and, for
/// q2_K, Σ_g m_g Σ q_x, each split in two. The two code vectors of a 16-weight group are added as Int16 before its
/// scale multiplies them (at most 2 * 2 * 7 * 128 < 2^15; exact).
@inline(__always)
func q23KX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s16: SIMD16<Int16>, q3: Bool) -> (SIMD16<Int32>, SIMD16<Int32>) {
    @inline(__always) func wide(_ i: SIMD32<UInt8>) -> SIMD64<UInt8> { SIMD64(lowHalf: i, highHalf: i) }
    @inline(__always) func x8(_ offset: Int) -> SIMD64<Int8> {
        unsafeBitCast(SIMD8<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
    }
    var lo = SIMD16<Int32>(), hi = SIMD16<Int32>(), offset = SIMD16<Int32>()
    unroll4 { c in
        let (z, m) = q23KX8ChunkScales(blk, c, q3: q3), zb = bytes64(z)
        @inline(__always) func scale(_ j: Int) -> SIMD32<Int16> { unsafeBitCast(shuffleBytes(zb, wide(q6KX8ScaleIndex(j))), to: SIMD32<Int16>.self) }
        offset &+= maddWd(q3 ? z : m, unsafeBitCast(SIMD8<UInt64>(repeating: q6KX8Sums(s16, c)), to: SIMD32<Int16>.self))
        @inline(__always) func column(_ k: Int) -> SIMD16<UInt32> {
            k < (q3 ? 3 : 2) ? blk.loadUnaligned(fromByteOffset: q23KX8Chunk(c, q3: q3) &+ 64 &* k, as: SIMD16<UInt32>.self) : SIMD16()
        }
        let a = column(0), b = column(1), cc = column(2)
        @inline(__always) func product(_ t: Int) -> SIMD32<Int16> { maddUbsSw(bytes64(q23KX8Code(a, b, cc, t, q3: q3)), x8(64 &* c &+ 8 &* t)) }
        unroll2 { p in
            lo &+= maddWd(scale(2 &* p), product(4 &* p) &+ product(4 &* p &+ 1))
            hi &+= maddWd(scale(2 &* p &+ 1), product(4 &* p &+ 2) &+ product(4 &* p &+ 3))
        }
    }
    return q3 ? (lo &+ hi &- (offset &<< 2), SIMD16()) : ((lo &+ hi) &>> 4, offset)
}
#else
/// `q23KX8ChunkScales` for rows 4h ..< 4h + 4.
@inline(__always)
func q23KX8ChunkScales(_ blk: UnsafeRawPointer, _ c: Int, _ h: Int, q3: Bool) -> (SIMD16<Int16>, SIMD16<Int16>) {
    if q3 {
        @inline(__always) func word(_ k: Int) -> SIMD4<UInt32> { blk.loadUnaligned(fromByteOffset: 16 &+ 32 &* k &+ 16 &* h, as: SIMD4<UInt32>.self) }
        let sc = uint16s(unsafeBitCast(q3KX8Scales(word(0), word(1), word(2), c), to: SIMD16<UInt8>.self))
        return (sc &- SIMD16(repeating: 32), SIMD16())
    }
    let u = blk.loadUnaligned(fromByteOffset: 32 &+ 32 &* c &+ 16 &* h, as: SIMD4<UInt32>.self), four = SIMD4<UInt32>(repeating: 0x0F0F_0F0F)
    return (uint16s(unsafeBitCast(u & four, to: SIMD16<UInt8>.self)) &* q2KX8GroupFactors(), uint16s(unsafeBitCast((u &>> 4) & four, to: SIMD16<UInt8>.self)))
}

/// `q23KX8BlockSums` on 256-bit vectors: rows 0..<4 and 4..<8 side by side (each in the layout of the 512-bit
/// form's low or high half), so that each broadcast activation vector serves both, and the chunks written out
/// (`unroll4`: constant shifts for the scales). Done half after half, with the chunk loop rolled, the q3_K_x8 GEMV
/// read 12.5 GB/s from cache on Zen 3 (AVX2 only, 2026-12-06).
@inline(__always)
func q23KX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s16: SIMD16<Int16>, q3: Bool) -> (SIMD16<Int32>, SIMD16<Int32>) {
    @inline(__always) func x8(_ offset: Int) -> SIMD32<Int8> {
        unsafeBitCast(SIMD4<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
    }
    var acc0 = SIMD8<Int32>(), acc1 = SIMD8<Int32>(), off0 = SIMD8<Int32>(), off1 = SIMD8<Int32>()
    unroll4 { c in
        let (z0, m0) = q23KX8ChunkScales(blk, c, 0, q3: q3), (z1, m1) = q23KX8ChunkScales(blk, c, 1, q3: q3)
        let sums = unsafeBitCast(SIMD4<UInt64>(repeating: q6KX8Sums(s16, c)), to: SIMD16<Int16>.self)
        off0 &+= maddWd(q3 ? z0 : m0, sums); off1 &+= maddWd(q3 ? z1 : m1, sums)
        let zb0 = bytes32(z0), zb1 = bytes32(z1)
        @inline(__always) func column(_ k: Int, _ h: Int) -> SIMD8<UInt32> {
            k < (q3 ? 3 : 2) ? blk.loadUnaligned(fromByteOffset: q23KX8Chunk(c, q3: q3) &+ 64 &* k &+ 32 &* h, as: SIMD8<UInt32>.self) : SIMD8()
        }
        let a0 = column(0, 0), b0 = column(1, 0), c0 = column(2, 0), a1 = column(0, 1), b1 = column(1, 1), c1 = column(2, 1)
        unroll4 { j in
            // Group 4c + j: code vectors 2j and 2j + 1.
            let xa = x8(64 &* c &+ 16 &* j), xb = x8(64 &* c &+ 16 &* j &+ 8)
            let p0 = maddUbsSw(bytes32(q23KX8Code(a0, b0, c0, 2 &* j, q3: q3)), xa) &+ maddUbsSw(bytes32(q23KX8Code(a0, b0, c0, 2 &* j &+ 1, q3: q3)), xb)
            let p1 = maddUbsSw(bytes32(q23KX8Code(a1, b1, c1, 2 &* j, q3: q3)), xa) &+ maddUbsSw(bytes32(q23KX8Code(a1, b1, c1, 2 &* j &+ 1, q3: q3)), xb)
            let index = q6KX8ScaleIndex(j)
            acc0 &+= maddWd(unsafeBitCast(shuffleBytes(zb0, index), to: SIMD16<Int16>.self), p0)
            acc1 &+= maddWd(unsafeBitCast(shuffleBytes(zb1, index), to: SIMD16<Int16>.self), p1)
        }
    }
    if q3 { return (SIMD16(lowHalf: acc0 &- (off0 &<< 2), highHalf: acc1 &- (off1 &<< 2)), SIMD16()) }
    return (SIMD16(lowHalf: acc0 &>> 4, highHalf: acc1 &>> 4), SIMD16(lowHalf: off0, highHalf: off1))
}
#endif

/// Super-block b of a q3_K_x8 (`q3`) or q2_K_x8 group at `blk` into `s`: `q23KX8BlockSums`, each row's pairs
/// added, times d_w d_x (q2_K: and its mins' sums times dmin_w d_x, taken off at the end).
@inline(__always)
func addQ23KX8Block(_ s: inout KX8Sums, _ blk: UnsafeRawPointer, _ b: Int, _ xq: QuantizedActivations, q3: Bool) {
    let dx = SIMD8<Float>(repeating: xq.scale[b])
    let (t, m) = q23KX8BlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums16(xq, b), q3: q3)
    s.acc.madd(dx * f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), int32sToFloat8(pairTotals(t)))
    if !q3 { s.mins.madd(dx * f16ToFloat8(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self)), int32sToFloat8(pairTotals(m))) }
}

/// The eight rows of the q3_K_x8 (`q3`) or q2_K_x8 group at `w` . x̂, one float lane per row (`addQ23KX8Block`).
@inline(__always)
func dotQ23KX8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, q3: Bool) -> SIMD8<Float> {
    groupSums(w, blockBytes: q3 ? q3KX8GroupBlockBytes : q2KX8GroupBlockBytes, blocks: nb, KX8Sums()) { addQ23KX8Block(&$0, $1, $2, xq, q3: q3) }.total
}

@inline(never)
func q3KX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: q3KX8GroupBlockBytes, blocks: nb,
                    twoStreams: false, KX8Sums(), total: { $0.total }) { addQ23KX8Block(&$0, $1, $2, xq, q3: true) }
}

@inline(never)
func q2KX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: q2KX8GroupBlockBytes, blocks: nb,
                    twoStreams: false, KX8Sums(), total: { $0.total }) { addQ23KX8Block(&$0, $1, $2, xq, q3: false) }
}

#endif
