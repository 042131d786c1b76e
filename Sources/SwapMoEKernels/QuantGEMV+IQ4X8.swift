import SwapMoECore
// GEMV and the four-token GEMM over iq4_nl_x8 and iq4_xs_x8 matrices (layout: IQ4Interleave.swift), eight rows at
// a time as for q8_0_x8 (QuantGEMV+Q80X8.swift): each 64-byte code column's nibbles looked up (`vpshufb`) as their
// IQ4 levels (-127...113), which are then multiplied as q8_0_x8's signed codes: with AVX512_VNNI as unsigned bytes
// level + 128 by `vpdpbusd` (no saturation), 128 Σ q_x taken off after; elsewhere signed on 256-bit halves with the
// sign trick. Per row Σ_k v_k q_x,k (iq4_nl: per block of 32, times d_w d_x; iq4_xs: per sub-block of 32 times its
// 6-bit scale in Int32, then d_w d_x once per super-block), as the plain kernels' (QuantGEMV+Integer.swift) integer
// sums: each row's result equals theirs up to float rounding.

#if SWAPMOE_X86_INTRINSICS

extension Q80X8Codes {
    /// The 32 codes of an IQ4 block of eight rows (two nibble columns at `o`, as q4_0_x8's) as their levels, in the
    /// layout of q8_0_x8's four columns (weights 8u ..< 8u + 8 of every row in column u).
    @inline(__always)
    init(iq4 blk: UnsafeRawPointer, codesAt o: Int) {
        #if SWAPMOE_AVX512 && SWAPMOE_VNNI
        let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F)
        let t = bytes64(unsafeBitCast(SIMD64(lowHalf: iq4nlTable, highHalf: iq4nlTable), to: SIMD16<UInt32>.self) ^ SIMD16(repeating: 0x8080_8080))
        let a = blk.loadUnaligned(fromByteOffset: o, as: SIMD16<UInt32>.self), b = blk.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<UInt32>.self)
        c0 = shuffleBytes(t, bytes64(a & m4)); c1 = shuffleBytes(t, bytes64(b & m4))
        c2 = shuffleBytes(t, bytes64((a &>> 4) & m4)); c3 = shuffleBytes(t, bytes64((b &>> 4) & m4))
        #else
        let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F)
        @inline(__always) func load(_ offset: Int) -> SIMD8<UInt32> { blk.loadUnaligned(fromByteOffset: o &+ offset, as: SIMD8<UInt32>.self) }
        @inline(__always) func level(_ v: SIMD8<UInt32>) -> SIMD32<Int8> { unsafeBitCast(shuffleBytes(iq4nlTable, bytes32(v)), to: SIMD32<Int8>.self) }
        let a0 = load(0), b0 = load(64), a1 = load(32), b1 = load(96)
        w = (level(a0 & m4), level(b0 & m4), level((a0 &>> 4) & m4), level((b0 &>> 4) & m4),
             level(a1 & m4), level(b1 & m4), level((a1 &>> 4) & m4), level((b1 &>> 4) & m4))
        #endif
    }
}

@inline(never)
func iq4NLX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
                 rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate) { dotQ80X8Group($0, xq, blocks: nb, iq4: true) }
}

@inline(never)
func iq4XSX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
                 rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate) { dotIQ4XSX8Group($0, xq, blocks: nb) }
}

/// The 6-bit scales of an iq4_xs_x8 group super-block, sub-block j's signed scale (-32...31) of row r in Int32 lanes
/// 2r and 2r + 1: from each row's low nibbles `sl` and high bits `sh` (`rowWords16`).
@inline(__always)
func iq4XSX8Scale(_ sl: SIMD16<UInt32>, _ sh: SIMD16<UInt32>, _ j: Int) -> SIMD16<Int32> {
    let low = (sl &>> UInt32(4 &* j)) & SIMD16(repeating: 15), high = ((sh &>> UInt32(2 &* j)) & SIMD16(repeating: 3)) &<< 4
    return unsafeBitCast(low | high, to: SIMD16<Int32>.self) &- SIMD16(repeating: 32)
}

/// The scale words of an iq4_xs_x8 group super-block at `blk` (each row's low nibbles and high bits, `rowWords16`),
/// for `iq4XSX8Scale`.
@inline(__always)
func iq4XSX8ScaleWords(_ blk: UnsafeRawPointer) -> (SIMD16<UInt32>, SIMD16<UInt32>) {
    (rowWords16(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt32>.self)),
     rowWords16(uint32s16(blk.loadUnaligned(fromByteOffset: 48, as: SIMD8<UInt16>.self))))
}

/// One iq4_xs_x8 group super-block at `blk` against the activation super-block at `qx` with its 16-sums: row r's
/// Σ_j sc_j Σ_{k in j} v_k q_x,k (exact: at most 8 * 32 * 32 * 127 * 127 < 2^31).
@inline(__always)
func iq4XSX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s16: SIMD16<Int16>) -> SIMD8<Int32> {
    let (sl, sh) = iq4XSX8ScaleWords(blk)
    var acc = SplitSums<SIMD16<Int32>>(), offsets = SIMD16<Int32>()
    let x32 = maddWd(s16, SIMD16(repeating: 1))   // the activations' 32-sums, one per sub-block
    unroll4 { k in
        unroll2 { h in
            let j = 2 &* k &+ h, sc = iq4XSX8Scale(sl, sh, j)
            acc.add(sc &* Q80X8Codes(iq4: blk, codesAt: 64 &+ 128 &* j).sums(qx + 32 &* j), h)
            if Q80X8Codes.offset != 0 { offsets &+= sc &* SIMD16(repeating: x32[j]) }
        }
    }
    // Each row's offset term is in both of its lanes: their pair total is twice it.
    return Q80X8Codes.offset == 0 ? pairTotals(acc.total) : pairTotals(acc.total) &- pairTotals(offsets) &* SIMD8(repeating: Q80X8Codes.offset / 2)
}

/// The eight rows of the iq4_xs_x8 group at `w` . x̂: per super-block `iq4XSX8BlockSums` times d_w d_x, one float
/// lane per row.
@inline(__always)
func dotIQ4XSX8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> SIMD8<Float> {
    var acc = SIMD8<Float>()
    let pf = prefetchDistance
    for b in 0..<nb {
        let blk = w + b &* iq4XSX8GroupBlockBytes
        prefetchAhead(blk, bytes: iq4XSX8GroupBlockBytes, distance: pf)
        let s = iq4XSX8BlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums16(xq, b))
        acc.madd(SIMD8<Float>(repeating: xq.scale[b]) * f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), int32sToFloat8(s))
    }
    return acc
}

@inline(never)
func iq4NLX8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                      rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotIQ4NLX8Group4($0, $1, $2, $3, $4, blocks: nb) }, dot1: { dotQ80X8Group($0, $1, blocks: nb, iq4: true) })
}

@inline(never)
func iq4XSX8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                      rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotIQ4XSX8Group4($0, $1, $2, $3, $4, blocks: nb) }, dot1: { dotIQ4XSX8Group($0, $1, blocks: nb) })
}

/// `dotQ80X8Group(iq4: true)` for four tokens, each block's levels looked up once.
@inline(__always)
func dotIQ4NLX8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                      _ x3: QuantizedActivations, blocks nb: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var s0 = Q40X8Sums(), s1 = Q40X8Sums(), s2 = Q40X8Sums(), s3 = Q40X8Sums()
    let o = Q80X8Codes.offset
    for b in 0..<nb {
        let blk = w + b &* q40X8GroupBlockBytes, codes = Q80X8Codes(iq4: blk, codesAt: 16), dw = f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self))
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 32 &* b) }
        s0.add(b, codes.sums(qx(x0)), x0, dw, offset: o); s1.add(b, codes.sums(qx(x1)), x1, dw, offset: o)
        s2.add(b, codes.sums(qx(x2)), x2, dw, offset: o); s3.add(b, codes.sums(qx(x3)), x3, dw, offset: o)
    }
    return (s0.total, s1.total, s2.total, s3.total)
}

/// `dotIQ4XSX8Group` for four tokens, each sub-block's levels looked up once; each token's integer sums those of
/// `iq4XSX8BlockSums` for it.
@inline(__always)
func dotIQ4XSX8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                      _ x3: QuantizedActivations, blocks nb: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* iq4XSX8GroupBlockBytes
        let (sl, sh) = iq4XSX8ScaleWords(blk)
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 256 &* b) }
        @inline(__always) func x32(_ x: QuantizedActivations) -> SIMD8<Int32> { maddWd(kSums16(x, b), SIMD16(repeating: 1)) }
        let q0 = qx(x0), q1 = qx(x1), q2 = qx(x2), q3 = qx(x3), t0 = x32(x0), t1 = x32(x1), t2 = x32(x2), t3 = x32(x3)
        var s0 = SIMD16<Int32>(), s1 = SIMD16<Int32>(), s2 = SIMD16<Int32>(), s3 = SIMD16<Int32>()
        var o0 = SIMD16<Int32>(), o1 = SIMD16<Int32>(), o2 = SIMD16<Int32>(), o3 = SIMD16<Int32>()
        for j in 0..<8 {
            let sc = iq4XSX8Scale(sl, sh, j), codes = Q80X8Codes(iq4: blk, codesAt: 64 &+ 128 &* j)
            s0 &+= sc &* codes.sums(q0 + 32 &* j); s1 &+= sc &* codes.sums(q1 + 32 &* j)
            s2 &+= sc &* codes.sums(q2 + 32 &* j); s3 &+= sc &* codes.sums(q3 + 32 &* j)
            if Q80X8Codes.offset != 0 {
                o0 &+= sc &* SIMD16(repeating: t0[j]); o1 &+= sc &* SIMD16(repeating: t1[j])
                o2 &+= sc &* SIMD16(repeating: t2[j]); o3 &+= sc &* SIMD16(repeating: t3[j])
            }
        }
        let d = f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self))
        @inline(__always) func step(_ acc: inout SIMD8<Float>, _ x: QuantizedActivations, _ s: SIMD16<Int32>, _ o: SIMD16<Int32>) {
            let t = Q80X8Codes.offset == 0 ? pairTotals(s) : pairTotals(s) &- pairTotals(o) &* SIMD8(repeating: Q80X8Codes.offset / 2)
            acc.madd(SIMD8<Float>(repeating: x.scale[b]) * d, int32sToFloat8(t))
        }
        step(&a0, x0, s0, o0); step(&a1, x1, s1, o1); step(&a2, x2, s2, o2); step(&a3, x3, s3, o3)
    }
    return (a0, a1, a2, a3)
}

#endif
