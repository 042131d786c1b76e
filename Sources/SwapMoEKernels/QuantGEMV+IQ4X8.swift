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
        let t = bytes64(unsafeBitCast(SIMD64(lowHalf: iq4nlTable, highHalf: iq4nlTable), to: SIMD16<UInt32>.self) ^ SIMD16(repeating: 0x8080_8080))
        let a = blk.loadUnaligned(fromByteOffset: o, as: SIMD16<UInt32>.self), b = blk.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<UInt32>.self)
        #if SWAPMOE_VBMI
        // `vpermb` with the table in all four quarters needs no mask (as mxfp4_x8's, QuantGEMV+MXFP4X8.swift): a
        // byte's bits 4 and 5 pick one of four equal tables, bits 6 and 7 are ignored. Decode 1.01x (one and two
        // threads, iq4_xs, token by token in one process, 2026-12-06).
        c0 = permuteBytes(t, bytes64(a)); c1 = permuteBytes(t, bytes64(b))
        c2 = permuteBytes(t, bytes64(a &>> 4)); c3 = permuteBytes(t, bytes64(b &>> 4))
        #else
        let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F)
        c0 = shuffleBytes(t, bytes64(a & m4)); c1 = shuffleBytes(t, bytes64(b & m4))
        c2 = shuffleBytes(t, bytes64((a &>> 4) & m4)); c3 = shuffleBytes(t, bytes64((b &>> 4) & m4))
        #endif
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
    q80X8KindRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, iq4: true)
}

@inline(never)
func iq4XSX8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
                 rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: iq4XSX8GroupBlockBytes, blocks: nb,
                    twoStreams: false, SIMD8<Float>(), total: { $0 }) { addIQ4XSX8Block(&$0, $1, $2, xq) }
}

/// The 6-bit scales of an iq4_xs_x8 group super-block (each row's low nibbles `sl` at 16 + 4r, high bits `sh` at
/// 48 + 2r), for `scale(j)`. With AVX512_VBMI unpacked for the whole super-block at once: two `vpmultishiftqb`
/// pick each row's eight 4-bit and 2-bit fields into byte 8r + j, and `scale(j)` is one `vpshufb` and a shift
/// (where unpacking each sub-block's from the words took seven instructions). Elsewhere from the words by
/// sub-block.
struct IQ4XSX8Scales {
    #if SWAPMOE_VBMI
    /// Byte 8r + j: sub-block j's scale u (0..<64, the weight's scale u - 32) of row r as (u ^ 32) << 2, so that
    /// the byte in the top of an Int32 lane shifted down 26 with its sign is u - 32. (Only bitwise operations on
    /// 32-bit lanes here: byte-lane arithmetic on SIMD64<UInt8> compiled to a loop over the 64 bytes, 10x slower.)
    let bytes: SIMD64<UInt8>

    @inline(__always)
    init(_ blk: UnsafeRawPointer) {
        let sl = uint64s(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt32>.self))
        let sh = uint64s(blk.loadUnaligned(fromByteOffset: 48, as: SIMD8<UInt16>.self))
        // Byte j of each row's lane: bits 4j - 2 ... of sl (the nibble in bits 2..<6), bits 2j - 6 ... of sh (its two
        // bits in bits 6, 7); the offsets wrap for small j and bring in zeros from the top of the lane.
        let low = multishiftBytes(bytes64(SIMD8<UInt64>(repeating: 0x1A16_120E_0A06_023E)), sl)
        let high = multishiftBytes(bytes64(SIMD8<UInt64>(repeating: 0x0806_0402_003E_3C3A)), sh)
        let u = (unsafeBitCast(low, to: SIMD16<UInt32>.self) & SIMD16(repeating: 0x3C3C_3C3C))
            | (unsafeBitCast(high, to: SIMD16<UInt32>.self) & SIMD16(repeating: 0xC0C0_C0C0))
        bytes = bytes64(u ^ SIMD16(repeating: 0x8080_8080))
    }

    /// Sub-block j's scale of row r in Int32 lanes 2r and 2r + 1: row r's byte j into the top byte of its lanes
    /// (rows 2L, 2L + 1 and their lanes are in 128-bit lane L alike), then shifted down with its sign.
    @inline(__always)
    func scale(_ j: Int) -> SIMD16<Int32> {
        let top = UInt32(truncatingIfNeeded: j) << 24 | 0x0080_8080, other = top &+ (8 << 24)
        let index = bytes64(SIMD16<UInt32>(top, top, other, other, top, top, other, other, top, top, other, other, top, top, other, other))
        return unsafeBitCast(shuffleBytes(bytes, index), to: SIMD16<Int32>.self) &>> 26
    }
    #else
    let sl: SIMD16<UInt32>, sh: SIMD16<UInt32>

    @inline(__always)
    init(_ blk: UnsafeRawPointer) {
        sl = rowWords16(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt32>.self))
        sh = rowWords16(uint32s16(blk.loadUnaligned(fromByteOffset: 48, as: SIMD8<UInt16>.self)))
    }

    /// Sub-block j's signed scale (-32...31) of row r in Int32 lanes 2r and 2r + 1.
    @inline(__always)
    func scale(_ j: Int) -> SIMD16<Int32> {
        let low = (sl &>> UInt32(4 &* j)) & SIMD16(repeating: 15), high = ((sh &>> UInt32(2 &* j)) & SIMD16(repeating: 3)) &<< 4
        return unsafeBitCast(low | high, to: SIMD16<Int32>.self) &- SIMD16(repeating: 32)
    }
    #endif
}

/// Each lane's share of the codes' offset per sub-block of the activation super-block with 16-sums `s16`:
/// `Q80X8Codes.offset` / 2 times the sub-block's 32-sum. A row's two lanes each take it off their sums before the
/// scale multiplies them (the row's offset term, sc_j offset Σ q_x, in one subtraction per lane rather than a
/// multiply per sub-block).
@inline(__always)
func iq4XSX8LaneOffsets(_ s16: SIMD16<Int16>) -> SIMD8<Int32> {
    maddWd(s16, SIMD16(repeating: 1)) &* SIMD8(repeating: Q80X8Codes.offset / 2)
}

/// Sub-block j's `codes` against the activation sub-block j of the super-block at `qx`, each lane's share of the
/// offset (`iq4XSX8LaneOffsets`) taken off, times the rows' scales `sc` (`IQ4XSX8Scales.scale(j)`).
@inline(__always)
func iq4XSX8SubBlock(_ codes: Q80X8Codes, _ qx: UnsafeRawPointer, _ j: Int, _ sc: SIMD16<Int32>, _ offsets: SIMD8<Int32>) -> SIMD16<Int32> {
    let s = codes.sums(qx + 32 &* j)
    return sc &* (Q80X8Codes.offset == 0 ? s : s &- SIMD16(repeating: offsets[j]))
}

#if !(SWAPMOE_AVX512 && SWAPMOE_VNNI)
/// Rows 4h ..< 4h + 4's sub-block scales u (0..<64; the weight's scale is u - 32) of an iq4_xs_x8 group super-block
/// as bytes, row 4h + r's sub-block j in byte 8r + j: the low nibbles (row r's four bytes at 16 + 4r, sub-block j's in
/// byte j / 2) spread to bytes of their own, the two high bits (row r's UInt16 at 48 + 2r, sub-block j's at bit 2j)
/// spread to each sub-block's byte (`vpshufb`) and moved to bits 4, 5 by one of four shifts picked by mask.
@inline(__always)
func iq4XSX8ScaleBytes(_ blk: UnsafeRawPointer, _ h: Int) -> SIMD32<UInt8> {
    let l = blk.loadUnaligned(fromByteOffset: 16 &+ 16 &* h, as: SIMD4<UInt32>.self), m4 = SIMD4<UInt32>(repeating: 0x0F0F_0F0F)
    @inline(__always) func words(_ v: SIMD4<UInt32>) -> SIMD8<UInt32> { unsafeBitCast(uint16s(unsafeBitCast(v, to: SIMD16<UInt8>.self)), to: SIMD8<UInt32>.self) }
    let low = words(l & m4) | (words((l &>> 4) & m4) &<< 8)
    let sh = bytes32(SIMD4<UInt64>(repeating: blk.loadUnaligned(fromByteOffset: 48 &+ 8 &* h, as: UInt64.self)))
    let v = unsafeBitCast(shuffleBytes(sh, bytes32(SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7) &* SIMD8(repeating: 0x0101_0101))), to: SIMD8<UInt32>.self)
    @inline(__always) func mask(_ m: UInt32) -> SIMD8<UInt32> { SIMD8(repeating: m) }
    let high01: SIMD8<UInt32> = ((v &<< 4) & mask(0x0000_0030)) | ((v &<< 2) & mask(0x0000_3000))
    let high23: SIMD8<UInt32> = (v & mask(0x0030_0000)) | ((v &>> 2) & mask(0x3000_0000))
    return bytes32(low | high01 | high23)
}

/// `iq4XSX8BlockSums` where the codes are multiplied signed on 256-bit halves (AVX2; AVX-512 without VNNI): each
/// sub-block's scales spread to the rows' Int16 lanes (`vpshufb`, as q4_K_x8's, and a subtraction) and multiplied in by the
/// `vpmaddwd` that pairs the products (`Q80X8Codes.scaledSums`), where each sub-block's Int32 sums took seven
/// shifts and masks for their scales and two `vpmulld`. The same integers, so every result is unchanged; the GEMV
/// from cache on Zen 3 (AVX2, one thread) 15.3-16.2 -> 17.3-18.0 GB/s.
@inline(__always)
func iq4XSX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s16: SIMD16<Int16>) -> SIMD8<Int32> {
    let t0 = iq4XSX8ScaleBytes(blk, 0), t1 = iq4XSX8ScaleBytes(blk, 1), bias = SIMD16<Int16>(repeating: 32)
    var acc0 = SplitSums<SIMD8<Int32>>(), acc1 = SplitSums<SIMD8<Int32>>()
    unroll4 { k in
        unroll2 { h in
            let j = 2 &* k &+ h, index = q4KX8ScaleIndex(j)   // byte 8r + j to the low byte of row r's four Int16 lanes
            let s0 = unsafeBitCast(shuffleBytes(t0, index), to: SIMD16<Int16>.self) &- bias
            let s1 = unsafeBitCast(shuffleBytes(t1, index), to: SIMD16<Int16>.self) &- bias
            let (p0, p1) = Q80X8Codes(iq4: blk, codesAt: 64 &+ 128 &* j).scaledSums(qx + 32 &* j, s0, s1)
            acc0.add(p0, h); acc1.add(p1, h)
        }
    }
    return pairTotals(SIMD16(lowHalf: acc0.total, highHalf: acc1.total))
}
#else
/// One iq4_xs_x8 group super-block at `blk` against the activation super-block at `qx` with its 16-sums: row r's
/// Σ_j sc_j Σ_{k in j} v_k q_x,k (exact: at most 8 * 32 * 32 * 127 * 127 < 2^31).
@inline(__always)
func iq4XSX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s16: SIMD16<Int16>) -> SIMD8<Int32> {
    let scales = IQ4XSX8Scales(blk), offsets = iq4XSX8LaneOffsets(s16)
    var acc = SplitSums<SIMD16<Int32>>()
    unroll4 { k in
        unroll2 { h in
            let j = 2 &* k &+ h
            acc.add(iq4XSX8SubBlock(Q80X8Codes(iq4: blk, codesAt: 64 &+ 128 &* j), qx, j, scales.scale(j), offsets), h)
        }
    }
    return pairTotals(acc.total)
}
#endif

/// Super-block b of the iq4_xs_x8 group at `blk` into `acc`: `iq4XSX8BlockSums` times d_w d_x.
@inline(__always)
func addIQ4XSX8Block(_ acc: inout SIMD8<Float>, _ blk: UnsafeRawPointer, _ b: Int, _ xq: QuantizedActivations) {
    let s = iq4XSX8BlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums16(xq, b))
    acc.madd(SIMD8<Float>(repeating: xq.scale[b]) * f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), int32sToFloat8(s))
}

/// The eight rows of the iq4_xs_x8 group at `w` . x̂, one float lane per row (`addIQ4XSX8Block`).
@inline(__always)
func dotIQ4XSX8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> SIMD8<Float> {
    groupSums(w, blockBytes: iq4XSX8GroupBlockBytes, blocks: nb, SIMD8<Float>()) { addIQ4XSX8Block(&$0, $1, $2, xq) }
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

#if SWAPMOE_AVX512 && SWAPMOE_VNNI
/// `dotIQ4XSX8Group` for four tokens, each sub-block's levels looked up once; each token's integer sums those of
/// `iq4XSX8BlockSums` for it.
@inline(__always)
func dotIQ4XSX8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                      _ x3: QuantizedActivations, blocks nb: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* iq4XSX8GroupBlockBytes, scales = IQ4XSX8Scales(blk)
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 256 &* b) }
        let q0 = qx(x0), q1 = qx(x1), q2 = qx(x2), q3 = qx(x3)
        let t0 = iq4XSX8LaneOffsets(kSums16(x0, b)), t1 = iq4XSX8LaneOffsets(kSums16(x1, b))
        let t2 = iq4XSX8LaneOffsets(kSums16(x2, b)), t3 = iq4XSX8LaneOffsets(kSums16(x3, b))
        var s0 = SIMD16<Int32>(), s1 = SIMD16<Int32>(), s2 = SIMD16<Int32>(), s3 = SIMD16<Int32>()
        unroll4 { k in
            unroll2 { h in
                let j = 2 &* k &+ h, sc = scales.scale(j), codes = Q80X8Codes(iq4: blk, codesAt: 64 &+ 128 &* j)
                s0 &+= iq4XSX8SubBlock(codes, q0, j, sc, t0); s1 &+= iq4XSX8SubBlock(codes, q1, j, sc, t1)
                s2 &+= iq4XSX8SubBlock(codes, q2, j, sc, t2); s3 &+= iq4XSX8SubBlock(codes, q3, j, sc, t3)
            }
        }
        let d = f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self))
        @inline(__always) func step(_ acc: inout SIMD8<Float>, _ x: QuantizedActivations, _ s: SIMD16<Int32>) {
            acc.madd(SIMD8<Float>(repeating: x.scale[b]) * d, int32sToFloat8(pairTotals(s)))
        }
        step(&a0, x0, s0); step(&a1, x1, s1); step(&a2, x2, s2); step(&a3, x3, s3)
    }
    return (a0, a1, a2, a3)
}
#else
/// `dotIQ4XSX8Group` for four tokens on 256-bit halves (AVX2; AVX-512 without VNNI), as the GEMV's `iq4XSX8BlockSums`:
/// each sub-block's levels looked up and its scales spread to the rows' Int16 lanes once, then each token's products
/// scaled by the `vpmaddwd` that pairs them (`Q80X8Codes.scaledSums`), where the Int32 sums of every token took two
/// `vpmulld` a sub-block. The same integer sums, so each token's result is the GEMV's.
@inline(__always)
func dotIQ4XSX8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                      _ x3: QuantizedActivations, blocks nb: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    let bias = SIMD16<Int16>(repeating: 32)
    for b in 0..<nb {
        let blk = w + b &* iq4XSX8GroupBlockBytes, t0 = iq4XSX8ScaleBytes(blk, 0), t1 = iq4XSX8ScaleBytes(blk, 1)
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 256 &* b) }
        let q0 = qx(x0), q1 = qx(x1), q2 = qx(x2), q3 = qx(x3)
        // Token t's sums of rows 0..<4 and 4..<8.
        var l0 = SIMD8<Int32>(), h0 = l0, l1 = l0, h1 = l0, l2 = l0, h2 = l0, l3 = l0, h3 = l0
        unroll4 { k in
            unroll2 { h in
                let j = 2 &* k &+ h, index = q4KX8ScaleIndex(j), o = 32 &* j
                let s0 = unsafeBitCast(shuffleBytes(t0, index), to: SIMD16<Int16>.self) &- bias
                let s1 = unsafeBitCast(shuffleBytes(t1, index), to: SIMD16<Int16>.self) &- bias
                let codes = Q80X8Codes(iq4: blk, codesAt: 64 &+ 128 &* j)
                let p0 = codes.scaledSums(q0 + o, s0, s1), p1 = codes.scaledSums(q1 + o, s0, s1)
                l0 &+= p0.0; h0 &+= p0.1; l1 &+= p1.0; h1 &+= p1.1
                let p2 = codes.scaledSums(q2 + o, s0, s1), p3 = codes.scaledSums(q3 + o, s0, s1)
                l2 &+= p2.0; h2 &+= p2.1; l3 &+= p3.0; h3 &+= p3.1
            }
        }
        let d = f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self))
        @inline(__always) func step(_ acc: inout SIMD8<Float>, _ x: QuantizedActivations, _ l: SIMD8<Int32>, _ h: SIMD8<Int32>) {
            acc.madd(SIMD8<Float>(repeating: x.scale[b]) * d, int32sToFloat8(pairTotals(SIMD16(lowHalf: l, highHalf: h))))
        }
        step(&a0, x0, l0, h0); step(&a1, x1, l1, h1); step(&a2, x2, l2, h2); step(&a3, x3, l3, h3)
    }
    return (a0, a1, a2, a3)
}
#endif


#endif
