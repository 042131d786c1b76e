import SwapMoECore
// GEMV over q4_K_x8 matrices (layout: Q4KInterleave.swift): eight rows at a time. The integer path (x86) forms
// the same integer sums as the q4_K kernel (QuantGEMV+IntegerKQuants.swift) - per row Σ_j sc_j Σ_{k in j} q_k q_x,k
// and Σ_j m_j Σ_{k in j} q_x,k - but for eight rows in the lanes of one set of registers: a 512-bit load holds 8
// code bytes of each of the eight rows, multiplied (`vpmaddubsw`) with the 8 activation bytes they share,
// broadcast; the scales of the eight rows are unpacked once per super-block and spread to their rows' lanes by
// `vpshufb`; the float work (d_w d_x, dmin_w d_x) is one multiply-add per eight rows and super-block, and no row
// needs a horizontal sum. Each row's result is d_x-weighted sums in super-block order, as for q4_K, but with one
// float lane per row instead of eight: it equals the q4_K kernel's result on the same rows up to float rounding.
// q5_K_x8 the same way, each code byte's fifth bit (bit 4) taken from its chunk's fifth-bit column. The float path
// (other CPUs) takes each row out of its group and runs the q4_K / q5_K row kernel on it.

#if SWAPMOE_X86_INTRINSICS

/// The row loops of `gemvQuantRowsInteger` for the interleaved types, one function per type, never inlined (see
/// `q4KX8TokenRows`).
@inline(never)
func q4KX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let hint = kx8StepHints
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: q4KX8GroupBlockBytes, blocks: nb,
                    twoStreams: false, hintsInStep: hint != nil, KX8Sums(), total: { $0.total }) { addQ45KX8Block(&$0, $1, $2, xq, q5: false, hint: hint) }
}

@inline(never)
func q5KX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let hint = kx8StepHints
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: q5KX8GroupBlockBytes, blocks: nb,
                    twoStreams: false, hintsInStep: hint != nil, KX8Sums(), total: { $0.total }) { addQ45KX8Block(&$0, $1, $2, xq, q5: true, hint: hint) }
}

@inline(never)
func q6KX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let hint = kx8StepHints
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: q6KX8GroupBlockBytes, blocks: nb,
                    twoStreams: false, hintsInStep: hint != nil, SIMD8<Float>(), total: { $0 }) { addQ6KX8Block(&$0, $1, $2, xq, hint: hint) }
}

/// The hints the q4_K_x8 / q5_K_x8 / q6_K_x8 GEMVs' block sums spread over their chunks (nil: the row loop hints
/// each block at its start, `interleavedRows`). On Zen 3 (AVX2, 2026-12-06) a block's 18-27 hints issued at once held
/// one thread's streamed GEMVs at q4_K_x8 17.8-17.9 GB/s, q5_K_x8 16.1-16.3, q6_K_x8 16.4-17.0; spread, 19.4-19.5,
/// 17.8-18.0, 19.1-19.6 (20 interleaved A/B passes in one process), and decode went 1.11 / 1.05 / 1.16x on one
/// thread, 1.15 / 1.07 / 1.09x on two (medians of 6 interleaved pairs). AVX-512 builds keep the hints at each
/// block's start (not measured there).
var kx8StepHints: PrefetchDistances? {
    #if SWAPMOE_AVX512
    nil
    #else
    prefetchDistance.any ? prefetchDistance : nil
    #endif
}

/// A K-type group's running sums, one float lane per row: Σ_b d_w d_x (sums) and Σ_b dmin_w d_x (mins' sums).
struct KX8Sums {
    var acc = SIMD8<Float>(), mins = SIMD8<Float>()

    var total: SIMD8<Float> { acc - mins }
}

/// Super-block b of a q4_K_x8 (`q5`: q5_K_x8) group at `blk` into `s`: the rows' integer sums (`q45KX8BlockSums`,
/// row r in Int32 lanes 2r and 2r + 1), each row's pair added, times d_w d_x and dmin_w d_x.
/// `hint`: the block's lines hinted ahead a quarter per chunk (`kx8StepHints`).
@inline(__always)
func addQ45KX8Block(_ s: inout KX8Sums, _ blk: UnsafeRawPointer, _ b: Int, _ xq: QuantizedActivations, q5: Bool, hint: PrefetchDistances? = nil) {
    let dx = SIMD8<Float>(repeating: xq.scale[b])
    #if SWAPMOE_AVX512
    let (t, m) = q45KX8BlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums32(xq, b), q5: q5)
    #else
    let (t, m) = q45KX8BlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums32(xq, b), q5: q5, hint: hint)
    #endif
    s.acc.madd(dx * f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), int32sToFloat8(pairTotals(t)))
    s.mins.madd(dx * f16ToFloat8(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self)), int32sToFloat8(pairTotals(m)))
}

/// The eight rows of the q4_K_x8 (`q5`: q5_K_x8) group at `w` . x̂, one float lane per row (`addQ45KX8Block`).
@inline(__always)
func dotQ45KX8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, q5: Bool) -> SIMD8<Float> {
    groupSums(w, blockBytes: q5 ? q5KX8GroupBlockBytes : q4KX8GroupBlockBytes, blocks: nb, KX8Sums()) { addQ45KX8Block(&$0, $1, $2, xq, q5: q5) }.total
}

/// Lanes 2r + 2r+1 of `v` added, for r < 8 (mod 2^32, as each 64-bit lane's low half; `vpmovqd`).
@inline(__always)
func pairTotals(_ v: SIMD16<Int32>) -> SIMD8<Int32> {
    let p = unsafeBitCast(v, to: SIMD8<UInt64>.self)
    return unsafeBitCast(lowHalves(p &+ (p &>> 32)), to: SIMD8<Int32>.self)
}

/// `vpshufb` indices that spread byte j of each row (rows 2L, 2L + 1 in 128-bit lane L: bytes j, 8 + j) to the
/// four Int16 lanes of that row's `vpmaddubsw` results (lanes 0..<4: row 2L, 4..<8: row 2L + 1).
@inline(__always)
func q4KX8ScaleIndex(_ j: Int) -> SIMD32<UInt8> {
    let one: UInt64 = 0x0001_0001_0001_0001, zero: UInt64 = 0x8000_8000_8000_8000
    let lo = zero | UInt64(truncatingIfNeeded: j) &* one, hi = zero | UInt64(truncatingIfNeeded: 8 &+ j) &* one
    return bytes32(SIMD4<UInt64>(lo, hi, lo, hi))
}

/// `vpshufb` indices that put byte j of each row (as `q4KX8ScaleIndex`) in the low Int16 of each of that row's two
/// Int32 lanes (0, 1: row 2L; 2, 3: row 2L + 1) and zero in the high one.
@inline(__always)
func q4KX8ScalePairIndex(_ j: Int) -> SIMD32<UInt8> {
    let pair: UInt64 = 0x0000_0001_0000_0001, zero: UInt64 = 0x8080_8000_8080_8000
    let lo = zero | UInt64(truncatingIfNeeded: j) &* pair, hi = zero | UInt64(truncatingIfNeeded: 8 &+ j) &* pair
    return bytes32(SIMD4<UInt64>(lo, hi, lo, hi))
}

/// `vpshufb` indices that widen mins 4t ..< 4t + 4 of each row to Int16: lanes 0..<4 of 128-bit lane L from bytes
/// 4t..., row 2L's; lanes 4..<8 from bytes 8 + 4t..., row 2L + 1's.
@inline(__always)
func q4KX8MinIndex(_ t: Int) -> SIMD32<UInt8> {
    let zero: UInt64 = 0x8000_8000_8000_8000, step: UInt64 = 0x0003_0002_0001_0000
    let lo = zero | (UInt64(truncatingIfNeeded: 4 &* t) &* 0x0001_0001_0001_0001 &+ step)
    let hi = lo &+ 0x0008_0008_0008_0008
    return bytes32(SIMD4<UInt64>(lo, hi, lo, hi))
}

/// The 32-sums of the activation super-block, 4t ..< 4t + 4, repeated in every 64 bits.
@inline(__always)
func q4KX8MinSums(_ s32: SIMD8<Int16>, _ t: Int) -> UInt64 { unsafeBitCast(s32, to: SIMD2<UInt64>.self)[t] }

/// body(0), body(1), body(2), body(3), written out so that each call sees its index as a constant: LLVM left the
/// interleaved kernels' column loops rolled, with the column in a register (variable shifts, a branch per column to
/// pick the running sum; q5_K_x8's kernel read 30 GB/s from cache where it now reads 35). (The q6_K_x8 kernel's
/// loops written out this way measured slower: 46-47 against 50-51 GB/s.)
@inline(__always)
func unroll4(_ body: (Int) -> Void) { body(0); body(1); body(2); body(3) }

/// body(0), body(1), as `unroll4`.
@inline(__always)
func unroll2(_ body: (Int) -> Void) { body(0); body(1) }

#if SWAPMOE_AVX512
/// The codes of column (c, u) of the q4_K_x8 (`q5`: q5_K_x8) group super-block at `blk`, eight rows' 8 low-nibble
/// weights and 8 high-nibble ones as bytes (q5: with the fifth bit as 16).
@inline(__always)
func q45KX8ColumnCodes(_ blk: UnsafeRawPointer, _ c: Int, _ u: Int, q5: Bool) -> (SIMD64<UInt8>, SIMD64<UInt8>) {
    let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F)
    let bits = blk.loadUnaligned(fromByteOffset: q45KX8CodeColumn(c, u, q5: q5), as: SIMD16<UInt32>.self)
    guard q5 else { return (bytes64(bits & m4), bytes64((bits &>> 4) & m4)) }
    let f = blk.loadUnaligned(fromByteOffset: q5KX8BitColumn(c), as: SIMD16<UInt32>.self) &>> UInt32(2 &* u)
    let bit4 = SIMD16<UInt32>(repeating: 0x1010_1010)
    return (bytes64((bits & m4) | ((f &<< 4) & bit4)), bytes64(((bits &>> 4) & m4) | ((f &<< 3) & bit4)))
}

/// One q4_K_x8 (`q5`: q5_K_x8) group super-block at `blk` against the activation super-block at `qx` with its
/// 32-sums: Int32 lanes 2r, 2r + 1 hold row r's Σ_j sc_j Σ q q_x (first) and Σ_j m_j Σ q_x (second), split in two.
/// A sub-block's four column products are added as Int16 before its scale multiplies them (`vpmaddwd` once per
/// sub-block, not per column): each lane at most 4 * 2 * 31 * 128 < 2^15. Exact, so the same sums as per column;
/// 1.15x the GEMV's speed on AVX2 (q4_K_x8 27 -> 31 GB/s from cache), 1.0-1.04x on AVX-512 (Zen 4, 2026-12-05).
@inline(__always)
func q45KX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s32: SIMD8<Int16>, q5: Bool) -> (SIMD16<Int32>, SIMD16<Int32>) {
    let (scw, mnw) = q4KX8ScalesMins(blk), sc = bytes64(scw), mn = bytes64(mnw)
    @inline(__always) func wide(_ i: SIMD32<UInt8>) -> SIMD64<UInt8> { SIMD64(lowHalf: i, highHalf: i) }
    @inline(__always) func x8(_ offset: Int) -> SIMD64<Int8> {
        unsafeBitCast(SIMD8<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
    }
    var lo = SIMD16<Int32>(), hi = SIMD16<Int32>(), dotBytesDone = false
    #if SWAPMOE_VNNI
    if !q5 {
        // A sub-block's four columns into Int32 by `vpdpbusd`, the high nibbles masked where they sit (16 q, no
        // shift: Intel runs 512-bit shifts and multiplies on one port, masks on two); each lane at most
        // 4 * 4 * 15 * 128 < 2^15 (the high ones after >> 4, exact), so `vpmaddwd` with (scale, 0) pairs multiplies
        // its low 16 bits, i.e. the lane, by the scale. The same integers; 22 operations a sub-block pair instead of
        // 32, 11 of them on that port instead of 14. Intel Xeon, 48-layer model, decode 1.04x one thread, 1.09x two
        // (four interleaved pairs each, 2026-12-05). q5_K_x8's codes (up to 31) would overflow Int16 that way.
        let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), mh = SIMD16<UInt32>(repeating: 0xF0F0_F0F0)
        for c in 0..<4 {
            let sl = unsafeBitCast(shuffleBytes(sc, wide(q4KX8ScalePairIndex(2 &* c))), to: SIMD32<Int16>.self)
            let sh = unsafeBitCast(shuffleBytes(sc, wide(q4KX8ScalePairIndex(2 &* c &+ 1))), to: SIMD32<Int16>.self)
            var pl = SIMD16<Int32>(), ph = SIMD16<Int32>()
            unroll4 { u in
                let bits = blk.loadUnaligned(fromByteOffset: q45KX8CodeColumn(c, u, q5: false), as: SIMD16<UInt32>.self)
                pl = dotBytes(pl, bytes64(bits & m4), x8(64 &* c &+ 8 &* u)); ph = dotBytes(ph, bytes64(bits & mh), x8(64 &* c &+ 32 &+ 8 &* u))
            }
            lo &+= maddWd(sl, unsafeBitCast(pl, to: SIMD32<Int16>.self)); hi &+= maddWd(sh, unsafeBitCast(ph &>> 4, to: SIMD32<Int16>.self))
        }
        dotBytesDone = true
    }
    #endif
    for c in 0..<4 where !dotBytesDone {
        let sl = unsafeBitCast(shuffleBytes(sc, wide(q4KX8ScaleIndex(2 &* c))), to: SIMD32<Int16>.self)
        let sh = unsafeBitCast(shuffleBytes(sc, wide(q4KX8ScaleIndex(2 &* c &+ 1))), to: SIMD32<Int16>.self)
        var pl = SIMD32<Int16>(), ph = SIMD32<Int16>()
        unroll4 { u in
            let (ql, qh) = q45KX8ColumnCodes(blk, c, u, q5: q5)
            pl &+= maddUbsSw(ql, x8(64 &* c &+ 8 &* u)); ph &+= maddUbsSw(qh, x8(64 &* c &+ 32 &+ 8 &* u))
        }
        lo &+= maddWd(sl, pl); hi &+= maddWd(sh, ph)
    }
    var mins = SIMD16<Int32>()
    for t in 0..<2 {
        let m = unsafeBitCast(shuffleBytes(mn, wide(q4KX8MinIndex(t))), to: SIMD32<Int16>.self)
        mins &+= maddWd(m, unsafeBitCast(SIMD8<UInt64>(repeating: q4KX8MinSums(s32, t)), to: SIMD32<Int16>.self))
    }
    return (lo &+ hi, mins)
}
#else
/// `q45KX8ColumnCodes` on 256-bit vectors: rows 4h ..< 4h + 4.
@inline(__always)
func q45KX8ColumnCodes(_ blk: UnsafeRawPointer, _ c: Int, _ u: Int, _ h: Int, q5: Bool) -> (SIMD32<UInt8>, SIMD32<UInt8>) {
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F)
    let bits = blk.loadUnaligned(fromByteOffset: q45KX8CodeColumn(c, u, q5: q5) &+ 32 &* h, as: SIMD8<UInt32>.self)
    guard q5 else { return (bytes32(bits & m4), bytes32((bits &>> 4) & m4)) }
    let f = blk.loadUnaligned(fromByteOffset: q5KX8BitColumn(c) &+ 32 &* h, as: SIMD8<UInt32>.self) &>> UInt32(2 &* u)
    let bit4 = SIMD8<UInt32>(repeating: 0x1010_1010)
    return (bytes32((bits & m4) | ((f &<< 4) & bit4)), bytes32(((bits &>> 4) & m4) | ((f &<< 3) & bit4)))
}

/// `q45KX8BlockSums` on 256-bit vectors: rows 0..<4 (h = 0) and 4..<8 (h = 1) side by side, each in the layout of
/// the 512-bit form's low or high half, so that each broadcast activation vector serves both, with the chunks written
/// out (`unroll4`: constant shifts). Half after half with the chunk loop rolled, q5_K_x8 read 19-20 GB/s from cache on
/// Zen 3 (AVX2 only, one thread, 2026-12-06).
@inline(__always)
func q45KX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s32: SIMD8<Int16>, q5: Bool,
                     hint: PrefetchDistances? = nil) -> (SIMD16<Int32>, SIMD16<Int32>) {
    let (scw, mnw) = q4KX8ScalesMins(blk)
    let sc0 = bytes32(scw.lowHalf), sc1 = bytes32(scw.highHalf)
    @inline(__always) func x8(_ offset: Int) -> SIMD32<Int8> {
        unsafeBitCast(SIMD4<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
    }
    @inline(__always) func scale(_ sc: SIMD32<UInt8>, _ j: Int) -> SIMD16<Int16> { unsafeBitCast(shuffleBytes(sc, q4KX8ScaleIndex(j)), to: SIMD16<Int16>.self) }
    var acc0 = SIMD8<Int32>(), acc1 = SIMD8<Int32>()
    unroll4 { c in
        if let hint { prefetchPart(blk, blockBytes: q5 ? q5KX8GroupBlockBytes : q4KX8GroupBlockBytes, c, of: 4, distance: hint) }
        var pl0 = SIMD16<Int16>(), ph0 = SIMD16<Int16>(), pl1 = SIMD16<Int16>(), ph1 = SIMD16<Int16>()
        unroll4 { u in
            let xl = x8(64 &* c &+ 8 &* u), xh = x8(64 &* c &+ 32 &+ 8 &* u)
            let (ql0, qh0) = q45KX8ColumnCodes(blk, c, u, 0, q5: q5)
            pl0 &+= maddUbsSw(ql0, xl); ph0 &+= maddUbsSw(qh0, xh)
            let (ql1, qh1) = q45KX8ColumnCodes(blk, c, u, 1, q5: q5)
            pl1 &+= maddUbsSw(ql1, xl); ph1 &+= maddUbsSw(qh1, xh)
        }
        acc0 &+= maddWd(scale(sc0, 2 &* c), pl0) &+ maddWd(scale(sc0, 2 &* c &+ 1), ph0)
        acc1 &+= maddWd(scale(sc1, 2 &* c), pl1) &+ maddWd(scale(sc1, 2 &* c &+ 1), ph1)
    }
    @inline(__always) func mins(_ mn: SIMD32<UInt8>) -> SIMD8<Int32> {
        var m = SIMD8<Int32>()
        for t in 0..<2 {
            let w = unsafeBitCast(shuffleBytes(mn, q4KX8MinIndex(t)), to: SIMD16<Int16>.self)
            m &+= maddWd(w, unsafeBitCast(SIMD4<UInt64>(repeating: q4KX8MinSums(s32, t)), to: SIMD16<Int16>.self))
        }
        return m
    }
    return (SIMD16(lowHalf: acc0, highHalf: acc1), SIMD16(lowHalf: mins(bytes32(mnw.lowHalf)), highHalf: mins(bytes32(mnw.highHalf))))
}
#endif

#endif

/// The float path's rows of an interleaved matrix . x (`gemvQuantRows`): each row taken out of its group into a
/// plain row, then `dot`, the plain type's row kernel.
@inline(__always)
func interleavedRowsFloat(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType, n: Int, rows: Range<Int>,
                          bias: UnsafePointer<Float>?, accumulate: Bool, _ dot: (UnsafeRawPointer) -> Float) {
    withUnsafeTemporaryAllocation(byteCount: type.rowBytes(n), alignment: 64) { row in
        for i in rows {
            interleavedRow(row.baseAddress!, w, type, row: i, cols: n)
            storeRow(y, i, dot(UnsafeRawPointer(row.baseAddress!)), bias, accumulate)
        }
    }
}
