import SwapMoECore
// GEMV over q4_0_x8 matrices (layout: Q40Interleave.swift), eight rows at a time as for q4_K_x8
// (QuantGEMV+Q4KX8.swift): per block of 32 weights, each row's Σ q q_x with the codes q (0..<16) of a 64-byte column
// multiplied (`vpmaddubsw`) by the 8 activation bytes they share, broadcast; the four products added as Int16 (at
// most 4 * 2 * 15 * 127 < 2^15) and paired into Int32 (`vpmaddwd`); the offset 8 Σ q_x from the activations'
// 16-sums; one float multiply-add per eight rows and block. Each row's result equals the q4_0 kernel's
// (QuantGEMV+Integer.swift) on the same row up to float rounding. The float path (other CPUs) takes each row out
// of its group and runs the q4_0 row kernel on it. Prefill (x86 builds) runs four tokens per group, each token's
// result exactly the GEMV's (`dotQ40X8Group4`), as the K-types' (QuantGEMM+Interleaved.swift).
//
// mxfp4_x8 the same way where a build lacks AVX512_VNNI or AVX512_VBMI (with both: QuantGEMV+MXFP4X8.swift): its codes index the E2M1 levels, looked up 64 at a time (`vpshufb`) as the levels times 2
// plus 12 (0...24, unsigned for `vpmaddubsw`; the four products of a lane at most 4 * 2 * 24 * 127 < 2^15), so the
// offset taken off per block is 12 Σ q_x, and each row's scale is its E8M0 byte as 2^(e - 128) (the levels were
// doubled): one float multiply-add per eight rows and block, as q4_0_x8; its prefill the same four-token GEMM.
// q5_0_x8 too: each code's fifth bit from the block's fifth-bit bytes (as q5_K_x8 takes its), codes 0..<32 and the
// offset 16 Σ q_x. q4_1_x8 and q5_1_x8 as q4_0_x8 and q5_0_x8 with no offset and their mins added per block as
// m d_x Σ q_x (the activations' block sums).

#if SWAPMOE_X86_INTRINSICS

/// The 32-weight types that share the q4_0_x8 kernel: the codes as stored (q4_0; q4_1 with a min), with a fifth bit
/// (q5_0; q5_1 with a min), or as E2M1 levels (mxfp4).
enum X8Codes32: Sendable {
    case q4_0, q5_0, mxfp4, q4_1, q5_1

    /// Whether each row's block has a min m (weight d q + m), added as m d_x Σ q_x.
    @inline(__always)
    var hasMin: Bool { self == .q4_1 || self == .q5_1 }

    /// Whether `q40X8Block` gives the rows' scales as exponents (mxfp4's e - 128, applied by `vscalefps` to the
    /// activations' scale: one instruction where the E8M0 bytes' float values took six and a multiply; from cache
    /// 1.05-1.13x on the Intel Xeon, 2026-12-05) rather than floats. Exact as before: one rounding of d_x 2^e.
    @inline(__always)
    var scalesAreExponents: Bool {
        #if SWAPMOE_AVX512
        self == .mxfp4
        #else
        false
        #endif
    }

    /// Bytes of a group block (eight rows' blocks of 32).
    @inline(__always)
    var groupBlockBytes: Int {
        switch self {
        case .q4_0: q40X8GroupBlockBytes
        case .q5_0: q50X8GroupBlockBytes
        case .mxfp4: mxfp4X8GroupBlockBytes
        case .q4_1: q41X8GroupBlockBytes
        case .q5_1: q51X8GroupBlockBytes
        }
    }
}

/// Rows of a q4_0_x8, q5_0_x8 or mxfp4_x8 matrix, one function per type, never inlined (see `q4KX8TokenRows`).
@inline(never)
func q40X8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    q40X8KindRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, .q4_0)
}

@inline(never)
func q50X8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    q40X8KindRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, .q5_0)
}

@inline(never)
func q41X8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    q40X8KindRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, .q4_1)
}

@inline(never)
func q51X8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    q40X8KindRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, .q5_1)
}

@inline(never)
func mxfp4X8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
                 rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    q40X8KindRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, .mxfp4)
}

@inline(never)
func q40X8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ40X8Group4($0, $1, $2, $3, $4, blocks: nb, .q4_0) }, dot1: { dotQ40X8Group($0, $1, blocks: nb, .q4_0) })
}

@inline(never)
func q50X8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ40X8Group4($0, $1, $2, $3, $4, blocks: nb, .q5_0) }, dot1: { dotQ40X8Group($0, $1, blocks: nb, .q5_0) })
}

@inline(never)
func q41X8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ40X8Group4($0, $1, $2, $3, $4, blocks: nb, .q4_1) }, dot1: { dotQ40X8Group($0, $1, blocks: nb, .q4_1) })
}

@inline(never)
func q51X8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ40X8Group4($0, $1, $2, $3, $4, blocks: nb, .q5_1) }, dot1: { dotQ40X8Group($0, $1, blocks: nb, .q5_1) })
}

@inline(never)
func mxfp4X8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                      rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ40X8Group4($0, $1, $2, $3, $4, blocks: nb, .mxfp4) }, dot1: { dotQ40X8Group($0, $1, blocks: nb, .mxfp4) })
}

/// One token's running sums over a group of the 32-weight interleaved types (q4_0_x8; q8_0_x8,
/// QuantGEMV+Q80X8.swift): even and odd blocks apart (two multiply-add chains), added at the end.
struct Q40X8Sums {
    var even = SIMD8<Float>(), odd = SIMD8<Float>(), mins = SIMD8<Float>()

    /// Block b's rows' mins m times the activations' d_x Σ q_x (q4_1_x8, q5_1_x8).
    @inline(__always)
    mutating func addMins(_ b: Int, _ xq: QuantizedActivations, _ m: SIMD8<Float>) { mins.madd(m, SIMD8(repeating: xq.blockSums[b])) }

    /// The rows' sums with their mins (`addMins`).
    @inline(__always)
    var totalWithMins: SIMD8<Float> { (even + odd) + mins }

    /// Block b's sums `s` (row r in Int32 lanes 2r and 2r + 1) paired, minus `offset` Σ q_x (the codes' offset:
    /// 8 for q4_0's, 128 for q8_0's where they were made unsigned, 0 where they are multiplied signed), times
    /// d_w d_x (`exponents`: dw holds e with d_w = 2^e, `X8Codes32.scalesAreExponents`).
    @inline(__always)
    mutating func add(_ b: Int, _ s: SIMD16<Int32>, _ xq: QuantizedActivations, _ dw: SIMD8<Float>, offset: Int32 = 8, exponents: Bool = false) {
        let sx = xq.sum32(b)
        let t = offset == 0 ? pairTotals(s) : pairTotals(s) &- SIMD8(repeating: sx &* offset)
        let dx = SIMD8<Float>(repeating: xq.scale[b]), d: SIMD8<Float>
        #if SWAPMOE_AVX512
        d = exponents ? scaleByPowersOfTwo(dx, dw) : dx * dw
        #else
        d = dx * dw
        #endif
        if b % 2 == 0 {
            even.madd(d, int32sToFloat8(t))
        } else {
            odd.madd(d, int32sToFloat8(t))
        }
    }

    @inline(__always)
    var total: SIMD8<Float> { even + odd }
}

/// Block b of a `kind` group at `blk` into `s` (`Q40X8Sums`; the mins with them where `kind.hasMin`).
@inline(__always)
func addQ40X8Block(_ s: inout Q40X8Sums, _ blk: UnsafeRawPointer, _ b: Int, _ xq: QuantizedActivations, _ kind: X8Codes32) {
    let (codes, dw, offset, m) = q40X8Block(blk, kind)
    s.add(b, codes.sums(UnsafeRawPointer(xq.q + 32 &* b)), xq, dw, offset: offset, exponents: kind.scalesAreExponents)
    if kind.hasMin { s.addMins(b, xq, m) }
}

/// The eight rows of the `kind` group at `w` . x̂, one float lane per row (`addQ40X8Block`).
@inline(__always)
func dotQ40X8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, _ kind: X8Codes32) -> SIMD8<Float> {
    let s = groupSums(w, blockBytes: kind.groupBlockBytes, blocks: nb, Q40X8Sums()) { addQ40X8Block(&$0, $1, $2, xq, kind) }
    return kind.hasMin ? s.totalWithMins : s.total
}

/// `interleavedRows` over a `kind` matrix (the body of `q40X8Rows` and the others: each its own function, `kind` a
/// constant in it).
@inline(__always)
func q40X8KindRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
                   rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool, _ kind: X8Codes32, twoStreams: Bool = x8TwoStreams) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: kind.groupBlockBytes, blocks: nb,
                    twoStreams: twoStreams, Q40X8Sums(), total: { kind.hasMin ? $0.totalWithMins : $0.total }) {
        addQ40X8Block(&$0, $1, $2, xq, kind)
    }
}

/// A `kind` group block's codes unpacked, its eight rows' scales (exponents where `kind.scalesAreExponents`), the
/// offset of its codes (8 for q4_0's, 16 for q5_0's, 12 for mxfp4's levels, 0 for the types with a min) and the
/// rows' mins (zero without).
@inline(__always)
func q40X8Block(_ blk: UnsafeRawPointer, _ kind: X8Codes32) -> (Q40X8Codes, SIMD8<Float>, Int32, SIMD8<Float>) {
    switch kind {
    case .q4_0: (Q40X8Codes(blk), f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), 8, SIMD8())
    case .q5_0: (Q40X8Codes(q5_0: blk, fifthAt: 16), f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), 16, SIMD8())
    case .mxfp4: (Q40X8Codes(mxfp4: blk), kind.scalesAreExponents ? e8m0HalfExponents8(blk) : e8m0Half8(blk), 12, SIMD8())
    case .q4_1: { let h = heads(blk); return (Q40X8Codes(blk, codesAt: 32), h.d, 0, h.m) }()
    case .q5_1: { let h = heads(blk); return (Q40X8Codes(q5_0: blk, fifthAt: 32), h.d, 0, h.m) }()
    }
}

/// The eight 4-byte heads (f16 d, f16 min) of a q4_1_x8 / q5_1_x8 group block, converted once: d and m by row.
@inline(__always)
func heads(_ blk: UnsafeRawPointer) -> (d: SIMD8<Float>, m: SIMD8<Float>) {
    let v = SIMD16(lowHalf: f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)),
                   highHalf: f16ToFloat8(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self)))
    return (v.evenHalf, v.oddHalf)
}

/// The E8M0 scales of an mxfp4_x8 group block's eight rows as `e8m0Half` gives them: 2^(e - 128).
@inline(__always)
func e8m0Half8(_ blk: UnsafeRawPointer) -> SIMD8<Float> { e8m0HalfLanes(blk.loadUnaligned(as: SIMD8<UInt8>.self)) }

/// The exponents of the E8M0 scales of an mxfp4_x8 group block's eight rows as `e8m0Half` gives them: e - 128.
@inline(__always)
func e8m0HalfExponents8(_ blk: UnsafeRawPointer) -> SIMD8<Float> {
    int32sToFloat8(unsafeBitCast(uint32s(blk.loadUnaligned(as: SIMD8<UInt8>.self)), to: SIMD8<Int32>.self) &- SIMD8(repeating: 128))
}

/// The doubled E2M1 levels (`mxfp4Values`) plus 12, by code, in both 16-byte halves: codes 0..<8 give 0 1 2 3 4 6 8 12,
/// codes 8..<16 their negatives.
let mxfp4X8Levels = bytes32(SIMD4<UInt64>(0x1814_1210_0F0E_0D0C, 0x0004_0608_090A_0B0C, 0x1814_1210_0F0E_0D0C, 0x0004_0608_090A_0B0C))

/// The eight rows of the `kind` group at `w` against four tokens' activations: each block's codes unpacked once
/// (`Q40X8Codes`), and for each token exactly what `dotQ40X8Group` computes for it.
@inline(__always)
func dotQ40X8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                    _ x3: QuantizedActivations, blocks nb: Int, _ kind: X8Codes32) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var s0 = Q40X8Sums(), s1 = Q40X8Sums(), s2 = Q40X8Sums(), s3 = Q40X8Sums()
    for b in 0..<nb {
        let blk = w + b &* kind.groupBlockBytes, (codes, dw, o, m) = q40X8Block(blk, kind)
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 32 &* b) }
        let e = kind.scalesAreExponents
        s0.add(b, codes.sums(qx(x0)), x0, dw, offset: o, exponents: e); s1.add(b, codes.sums(qx(x1)), x1, dw, offset: o, exponents: e)
        s2.add(b, codes.sums(qx(x2)), x2, dw, offset: o, exponents: e); s3.add(b, codes.sums(qx(x3)), x3, dw, offset: o, exponents: e)
        if kind.hasMin { s0.addMins(b, x0, m); s1.addMins(b, x1, m); s2.addMins(b, x2, m); s3.addMins(b, x3, m) }
    }
    if kind.hasMin { return (s0.totalWithMins, s1.totalWithMins, s2.totalWithMins, s3.totalWithMins) }
    return (s0.total, s1.total, s2.total, s3.total)
}

#if SWAPMOE_AVX512
/// The codes of a q4_0_x8 group block unpacked to bytes (0..<16): the low and high nibbles of its two columns.
struct Q40X8Codes {
    let lo0: SIMD64<UInt8>, hi0: SIMD64<UInt8>, lo1: SIMD64<UInt8>, hi1: SIMD64<UInt8>

    @inline(__always)
    init(_ blk: UnsafeRawPointer, codesAt o: Int = 16) {
        let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F)
        let c0 = blk.loadUnaligned(fromByteOffset: o, as: SIMD16<UInt32>.self), c1 = blk.loadUnaligned(fromByteOffset: o &+ 64, as: SIMD16<UInt32>.self)
        lo0 = bytes64(c0 & m4); hi0 = bytes64((c0 &>> 4) & m4); lo1 = bytes64(c1 & m4); hi1 = bytes64((c1 &>> 4) & m4)
    }

    /// A q5_0_x8 group block's codes (from byte 48) with their fifth bits (bytes 16 ..< 48; 0..<32): the 32 bytes of
    /// fifth bits widened to 16-bit lanes, each word w made w | w << 4 so that byte 2k + 1 holds byte k's high nibble
    /// and byte 2k its low one, i.e. every code byte's lane its own 4 bits; then as q5_K_x8 takes them
    /// (`q45KX8ColumnCodes`): column u's low nibbles bit 2u, its high nibbles bit 2u + 1.
    @inline(__always)
    init(q5_0 blk: UnsafeRawPointer, fifthAt o: Int) {
        let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), bit4 = SIMD16<UInt32>(repeating: 0x1010_1010)
        // On 32-bit lanes (no word crosses into the next: w < 2^8): Int16 vector shifts compiled to a loop over lanes.
        let w = unsafeBitCast(uint16s(blk.loadUnaligned(fromByteOffset: o, as: SIMD32<UInt8>.self)), to: SIMD16<UInt32>.self)
        let f = w | (w &<< 4)
        let c0 = blk.loadUnaligned(fromByteOffset: o &+ 32, as: SIMD16<UInt32>.self), c1 = blk.loadUnaligned(fromByteOffset: o &+ 96, as: SIMD16<UInt32>.self)
        lo0 = bytes64((c0 & m4) | ((f &<< 4) & bit4)); hi0 = bytes64(((c0 &>> 4) & m4) | ((f &<< 3) & bit4))
        lo1 = bytes64((c1 & m4) | ((f &<< 2) & bit4)); hi1 = bytes64(((c1 &>> 4) & m4) | ((f &<< 1) & bit4))
    }

    /// An mxfp4_x8 group block's codes (from byte 8) as their levels `mxfp4X8Levels` (0...24).
    @inline(__always)
    init(mxfp4 blk: UnsafeRawPointer) {
        let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), t = SIMD64(lowHalf: mxfp4X8Levels, highHalf: mxfp4X8Levels)
        let c0 = blk.loadUnaligned(fromByteOffset: 8, as: SIMD16<UInt32>.self), c1 = blk.loadUnaligned(fromByteOffset: 72, as: SIMD16<UInt32>.self)
        lo0 = shuffleBytes(t, bytes64(c0 & m4)); hi0 = shuffleBytes(t, bytes64((c0 &>> 4) & m4))
        lo1 = shuffleBytes(t, bytes64(c1 & m4)); hi1 = shuffleBytes(t, bytes64((c1 &>> 4) & m4))
    }

    /// Against the activation block at `qx`: Int32 lanes 2r, 2r + 1 hold row r's Σ q q_x, split in two (the four
    /// products added as Int16: at most 4 * 2 * 15 * 127 < 2^15; mxfp4_x8's levels 4 * 2 * 24 * 127, q5_0_x8's codes
    /// 4 * 2 * 31 * 127). (Tried on Zen 4, 2026-12-05: AVX512_VNNI's
    /// `vpdpbusd` in place of the multiplies and adds, 1.15x from cache but 0.92x streamed from DRAM, which is what
    /// decode does; two groups in flight, as `rowPairs` does for rows, decode 0.99x.)
    @inline(__always)
    func sums(_ qx: UnsafeRawPointer) -> SIMD16<Int32> {
        @inline(__always) func x8(_ offset: Int) -> SIMD64<Int8> {
            unsafeBitCast(SIMD8<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
        }
        let p = (maddUbsSw(lo0, x8(0)) &+ maddUbsSw(hi0, x8(16))) &+ (maddUbsSw(lo1, x8(8)) &+ maddUbsSw(hi1, x8(24)))
        return maddWd(p, SIMD32<Int16>(repeating: 1))
    }
}
#else
/// `Q40X8Codes` on 256-bit vectors: rows 0..<4 (first of each pair), then 4..<8, each in the layout of the
/// 512-bit form's half.
struct Q40X8Codes {
    let lo0: (SIMD32<UInt8>, SIMD32<UInt8>), hi0: (SIMD32<UInt8>, SIMD32<UInt8>)
    let lo1: (SIMD32<UInt8>, SIMD32<UInt8>), hi1: (SIMD32<UInt8>, SIMD32<UInt8>)

    @inline(__always)
    init(_ blk: UnsafeRawPointer, codesAt o: Int = 16) {
        let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F)
        @inline(__always) func load(_ offset: Int) -> SIMD8<UInt32> { blk.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt32>.self) }
        let a0 = load(o), b0 = load(o &+ 32), a1 = load(o &+ 64), b1 = load(o &+ 96)
        lo0 = (bytes32(a0 & m4), bytes32(b0 & m4)); hi0 = (bytes32((a0 &>> 4) & m4), bytes32((b0 &>> 4) & m4))
        lo1 = (bytes32(a1 & m4), bytes32(b1 & m4)); hi1 = (bytes32((a1 &>> 4) & m4), bytes32((b1 &>> 4) & m4))
    }

    @inline(__always)
    init(q5_0 blk: UnsafeRawPointer, fifthAt o: Int) {
        let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), bit4 = SIMD8<UInt32>(repeating: 0x1010_1010)
        @inline(__always) func load(_ offset: Int) -> SIMD8<UInt32> { blk.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt32>.self) }
        @inline(__always) func fifth(_ h: Int) -> SIMD8<UInt32> {
            let w = unsafeBitCast(uint16s(blk.loadUnaligned(fromByteOffset: o &+ 16 &* h, as: SIMD16<UInt8>.self)), to: SIMD8<UInt32>.self)
            return w | (w &<< 4)
        }
        let fa = fifth(0), fb = fifth(1), a0 = load(o &+ 32), b0 = load(o &+ 64), a1 = load(o &+ 96), b1 = load(o &+ 128)
        @inline(__always) func lo(_ c: SIMD8<UInt32>, _ f: SIMD8<UInt32>, _ s: UInt32) -> SIMD32<UInt8> { bytes32((c & m4) | ((f &<< s) & bit4)) }
        @inline(__always) func hi(_ c: SIMD8<UInt32>, _ f: SIMD8<UInt32>, _ s: UInt32) -> SIMD32<UInt8> { bytes32(((c &>> 4) & m4) | ((f &<< s) & bit4)) }
        lo0 = (lo(a0, fa, 4), lo(b0, fb, 4)); hi0 = (hi(a0, fa, 3), hi(b0, fb, 3))
        lo1 = (lo(a1, fa, 2), lo(b1, fb, 2)); hi1 = (hi(a1, fa, 1), hi(b1, fb, 1))
    }

    @inline(__always)
    init(mxfp4 blk: UnsafeRawPointer) {
        let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), t = mxfp4X8Levels
        @inline(__always) func load(_ offset: Int) -> SIMD8<UInt32> { blk.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt32>.self) }
        @inline(__always) func level(_ v: SIMD8<UInt32>) -> SIMD32<UInt8> { shuffleBytes(t, bytes32(v)) }
        let a0 = load(8), b0 = load(40), a1 = load(72), b1 = load(104)
        lo0 = (level(a0 & m4), level(b0 & m4)); hi0 = (level((a0 &>> 4) & m4), level((b0 &>> 4) & m4))
        lo1 = (level(a1 & m4), level(b1 & m4)); hi1 = (level((a1 &>> 4) & m4), level((b1 &>> 4) & m4))
    }

    @inline(__always)
    func sums(_ qx: UnsafeRawPointer) -> SIMD16<Int32> {
        @inline(__always) func x8(_ offset: Int) -> SIMD32<Int8> {
            unsafeBitCast(SIMD4<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
        }
        let x0 = x8(0), x1 = x8(8), x2 = x8(16), x3 = x8(24), ones = SIMD16<Int16>(repeating: 1)
        @inline(__always) func half(_ l0: SIMD32<UInt8>, _ h0: SIMD32<UInt8>, _ l1: SIMD32<UInt8>, _ h1: SIMD32<UInt8>) -> SIMD8<Int32> {
            maddWd((maddUbsSw(l0, x0) &+ maddUbsSw(h0, x2)) &+ (maddUbsSw(l1, x1) &+ maddUbsSw(h1, x3)), ones)
        }
        return SIMD16(lowHalf: half(lo0.0, hi0.0, lo1.0, hi1.0), highHalf: half(lo0.1, hi0.1, lo1.1, hi1.1))
    }
}
#endif

#endif
