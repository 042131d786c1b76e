import SwapMoECore
// The integer-path row kernels of the K-types (QuantGEMV+Integer.swift has the dispatch, the 32-weight types and
// the scalar reference): x̂ in q8_K-style blocks of 256 with 16-element sums.
#if SWAPMOE_X86_INTRINSICS

// The row loops of `gemvQuantRowsInteger`, one function per layout, never inlined (see there).

/// `body(flag)` with `flag` a constant in each of two inlined copies, so that a loop that tests it is compiled
/// once for each value.
@inline(__always)
func specialized(_ flag: Bool, _ body: (Bool) -> Void) {
    if flag { body(true) } else { body(false) }
}

/// Two running Int32 sums, each term into the one its index's parity picks, added at the end. Where the CPU has
/// VNNI, LLVM fuses a `maddWd` and the add after it into one `vpdpwssd` (4-5 cycles' latency on Zen 4 and Ice
/// Lake): a super-block's 8 terms in one running sum were a serial chain of them, and q4_K decode on one thread
/// ran 4-12% slower than with two chains of 4 (four chains measured no faster). Integer sums: the same total in
/// any order.
struct SplitSums<V: SIMD> where V.Scalar: FixedWidthInteger {
    var even: V, odd = V()

    @inline(__always)
    init(_ start: V = V()) { even = start }

    @inline(__always)
    mutating func add(_ v: V, _ index: Int) {
        if index & 1 == 0 { even &+= v } else { odd &+= v }
    }

    @inline(__always)
    var total: V { even &+ odd }
}

@inline(never)
func q45KRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
              rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool, q5: Bool) {
    specialized(q5) { q5 in
        rowQuads(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                 quad: { dotQ4_KInteger4($0, apart: $1, xq, blocks: nb, q5: q5) }, one: { dotQ4_KInteger($0, xq, blocks: nb, q5: q5) })
    }
}

@inline(never)
func q6KRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
             rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    rowPairs(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
             pair: { dotQ6_KInteger2($0, apart: $1, xq, blocks: nb) }, one: { dotQ6_KInteger($0, xq, blocks: nb) })
}

@inline(never)
func q23KRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
              rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool, q3: Bool) {
    specialized(q3) { q3 in
        rowPairs(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                 pair: { dotQ23KInteger2($0, apart: $1, xq, blocks: nb, q3: q3) }, one: { dotQ23KInteger($0, xq, blocks: nb, q3: q3) })
    }
}

@inline(never)
func iq4XSRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    rowPairs(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
             pair: { dotIQ4XSInteger2($0, apart: $1, xq, blocks: nb) }, one: { dotIQ4XSInteger($0, xq, blocks: nb) })
}

/// The 6-bit (scale, min) pairs of a q4_K / q5_K super-block as bytes: scales[j], mins[j] for j = 0..<8,
/// unpacked from the 12 bytes at `s` with 32-bit masks (the layout of `kScaleMin`).
@inline(__always)
func kScalesMinsBytes(_ s: UnsafeRawPointer) -> (scales: SIMD8<UInt8>, mins: SIMD8<UInt8>) {
    let u0 = s.loadUnaligned(as: UInt32.self), u1 = s.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    let u2 = s.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
    let six: UInt32 = 0x3F3F_3F3F, four: UInt32 = 0x0F0F_0F0F, two: UInt32 = 0x0303_0303
    // Each half as one UInt64 in a general register: built a 32-bit lane at a time, it took a `vpinsrd` (2
    // micro-ops on the vector pipes) per lane, and one-thread q4_K decode ran 5% slower (Zen 4, 512-bit kernel).
    let sc = UInt64(u0 & six) | UInt64((u2 & four) | (((u0 &>> 6) & two) &<< 4)) &<< 32
    let mn = UInt64(u1 & six) | UInt64(((u2 &>> 4) & four) | (((u1 &>> 6) & two) &<< 4)) &<< 32
    return (unsafeBitCast(sc, to: SIMD8<UInt8>.self), unsafeBitCast(mn, to: SIMD8<UInt8>.self))
}

/// `vpshufb` indices that broadcast Int16 lane s (0..<8) of each 16-byte half to all 8 lanes of the half (bytes
/// 2s, 2s + 1 over and over; a constant where s is).
@inline(__always)
func int16Broadcast(_ s: Int) -> SIMD32<UInt8> {
    bytes32(SIMD4<UInt64>(repeating: UInt64(truncatingIfNeeded: 2 &* s) &* 0x0101_0101_0101_0101 &+ 0x0100_0100_0100_0100))
}

#if SWAPMOE_AVX512
/// `q4KBlockSums` on 512-bit vectors: 64 bytes of codes at once, two 32-byte chunks whose low nibbles are
/// sub-blocks 4h and 4h + 2 (high: 4h + 1, 4h + 3), against those sub-blocks' activations (two 32-byte loads) and
/// a scale vector holding s_4h in its low 256 bits and s_4h+2 in its high ones (`vpshufb` within each 128-bit
/// lane of the 8 scales repeated). The same integer sums as the 256-bit form with 137 instructions per super-block
/// and two rows instead of 190: one-thread q4_K decode 1.04x on Zen 4.
@inline(__always)
func q4KBlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ sums32: SIMD8<Int16>, q5: Bool) -> (SIMD8<Int32>, SIMD4<Int32>) {
    let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), bit = SIMD16<UInt32>(repeating: 0x0101_0101)
    let (sc, mn) = kScalesMinsBytes(blk + 4)
    let scmn = uint16s(SIMD16(lowHalf: sc, highHalf: mn))
    let s128 = unsafeBitCast(scmn.lowHalf, to: SIMD16<UInt8>.self)
    let scales = SIMD64(lowHalf: SIMD32(lowHalf: s128, highHalf: s128), highHalf: SIMD32(lowHalf: s128, highHalf: s128))
    let qs = blk + (q5 ? 48 : 16)
    let qh = q5 ? blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt32>.self) : SIMD8()
    let qh2 = SIMD16(lowHalf: qh, highHalf: qh)
    var sumi = SplitSums<SIMD16<Int32>>()
    for h in 0..<2 {
        let bits = qs.loadUnaligned(fromByteOffset: 64 &* h, as: SIMD16<UInt32>.self)
        var lo = bits & m4, hi = (bits &>> 4) & m4
        if q5 {   // chunk j = 2h + half: bit 2j of qh for the low nibbles, 2j + 1 for the high
            let shift = SIMD16(lowHalf: SIMD8(repeating: UInt32(4 &* h)), highHalf: SIMD8(repeating: UInt32(4 &* h &+ 2)))
            lo |= ((qh2 &>> shift) & bit) &<< 4
            hi |= ((qh2 &>> (shift &+ 1)) & bit) &<< 4
        }
        @inline(__always) func x(_ a: Int, _ b: Int) -> SIMD64<Int8> {
            SIMD64(lowHalf: qx.loadUnaligned(fromByteOffset: 32 &* a, as: SIMD32<Int8>.self),
                   highHalf: qx.loadUnaligned(fromByteOffset: 32 &* b, as: SIMD32<Int8>.self))
        }
        let pl = maddUbsSw(bytes64(lo), x(4 &* h, 4 &* h &+ 2)), ph = maddUbsSw(bytes64(hi), x(4 &* h &+ 1, 4 &* h &+ 3))
        let sl = unsafeBitCast(shuffleBytes(scales, int16Broadcast(4 &* h, 4 &* h &+ 2)), to: SIMD32<Int16>.self)
        let sh = unsafeBitCast(shuffleBytes(scales, int16Broadcast(4 &* h &+ 1, 4 &* h &+ 3)), to: SIMD32<Int16>.self)
        sumi.add(maddWd(sl, pl), 0)
        sumi.add(maddWd(sh, ph), 1)
    }
    let t = sumi.total
    return (t.lowHalf &+ t.highHalf, maddWd(scmn.highHalf, sums32))
}

/// `vpshufb` indices (512-bit) that broadcast Int16 lane a of each 128-bit lane to the low 256 bits and lane b to
/// the high 256.
@inline(__always)
func int16Broadcast(_ a: Int, _ b: Int) -> SIMD64<UInt8> { SIMD64(lowHalf: int16Broadcast(a), highHalf: int16Broadcast(b)) }

@inline(__always)
func bytes64<T: SIMD>(_ v: T) -> SIMD64<UInt8> { unsafeBitCast(v, to: SIMD64<UInt8>.self) }
#else
/// One q4_K / q5_K super-block at `blk` against the activation block at `qx` with its 32-sums: Σ_j sc_j Σ_{k in j}
/// q_k q_x,k as 8 Int32 lanes (`vpmaddwd` with the sub-block's scale broadcast by `vpshufb`) and Σ_j m_j (Σ q_x
/// over sub-block j) as 4 (one 128-bit `vpmaddwd`). q5_K adds bit 2j (low nibbles) / 2j + 1 (high) of qh as the
/// fifth bit.
@inline(__always)
func q4KBlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ sums32: SIMD8<Int16>, q5: Bool) -> (SIMD8<Int32>, SIMD4<Int32>) {
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), bit = SIMD8<UInt32>(repeating: 0x0101_0101)
    let (sc, mn) = kScalesMinsBytes(blk + 4)
    let scmn = uint16s(SIMD16(lowHalf: sc, highHalf: mn))
    let scales = bytes32(SIMD16(lowHalf: scmn.lowHalf, highHalf: scmn.lowHalf))
    let qs = blk + (q5 ? 48 : 16)
    let qh = q5 ? blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt32>.self) : SIMD8()
    var sumi = SplitSums<SIMD8<Int32>>()
    for j in 0..<4 {
        let bits = qs.loadUnaligned(fromByteOffset: 32 &* j, as: SIMD8<UInt32>.self)
        var lo = bits & m4, hi = (bits &>> 4) & m4
        if q5 {
            lo |= ((qh &>> UInt32(2 &* j)) & bit) &<< 4
            hi |= ((qh &>> UInt32(2 &* j &+ 1)) & bit) &<< 4
        }
        let pl = maddUbsSw(bytes32(lo), qx.loadUnaligned(fromByteOffset: 64 &* j, as: SIMD32<Int8>.self))
        let ph = maddUbsSw(bytes32(hi), qx.loadUnaligned(fromByteOffset: 64 &* j &+ 32, as: SIMD32<Int8>.self))
        let sl = unsafeBitCast(shuffleBytes(scales, int16Broadcast(2 &* j)), to: SIMD16<Int16>.self)
        let sh = unsafeBitCast(shuffleBytes(scales, int16Broadcast(2 &* j &+ 1)), to: SIMD16<Int16>.self)
        sumi.add(maddWd(sl, pl), 0)
        sumi.add(maddWd(sh, ph), 1)
    }
    return (sumi.total, maddWd(scmn.highHalf, sums32))
}

#endif

/// The activations' sums over the 8 sub-blocks of 32 of super-block b (`vphaddw` of its 16-sums).
@inline(__always)
func kSums32(_ xq: QuantizedActivations, _ b: Int) -> SIMD8<Int16> {
    let sums = UnsafeRawPointer(xq.sums + 16 &* b).loadUnaligned(as: SIMD16<Int16>.self)
    return pairSums(sums.lowHalf, sums.highHalf)
}

/// A row's running sums: acc += d_w d_x Σ (`q4KBlockSums`' first part), accMin -= dmin_w d_x Σ (its second).
struct KRowAccumulator {
    var acc = SIMD8<Float>(), accMin = SIMD4<Float>()

    @inline(__always)
    mutating func add(_ blk: UnsafeRawPointer, dx: Float, _ s: (SIMD8<Int32>, SIMD4<Int32>)) {
        acc.madd(SIMD8(repeating: dx * f16ToFloat(blk.loadUnaligned(as: UInt16.self))), int32sToFloat8(s.0))
        accMin.madd(SIMD4(repeating: -dx * f16ToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))), int32sToFloat4(s.1))
    }

    @inline(__always)
    var total: Float { (acc.lowHalf + acc.highHalf + accMin).sum() }
}

/// w (n,) q4_K or q5_K . x̂ -> Float: per super-block `q4KBlockSums`, times d_w d_x (and -dmin_w d_x) once.
@inline(__always)
func dotQ4_KInteger(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, q5: Bool) -> Float {
    let bb = q5 ? 176 : 144
    var r = KRowAccumulator()
    for b in 0..<nb {
        let blk = w + b &* bb
        r.add(blk, dx: xq.scale[b], q4KBlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums32(xq, b), q5: q5))
    }
    return r.total
}

/// Four rows at `w`, `w + apart`, `w + 2 apart`, `w + 3 apart` at once (`rowQuads`): the activation block and its
/// sums read once for all four, each row's sums formed exactly as `dotQ4_KInteger` forms them (the same results,
/// whichever way a row is computed). Four rows rather than two: one-thread q4_K decode 1.09x with the 512-bit
/// kernel (Zen 4, 32 vector registers), neutral with the AVX2 one.
@inline(__always)
func dotQ4_KInteger4(_ w: UnsafeRawPointer, apart: Int, _ xq: QuantizedActivations, blocks nb: Int, q5: Bool) -> (Float, Float, Float, Float) {
    let bb = q5 ? 176 : 144
    var r0 = KRowAccumulator(), r1 = KRowAccumulator(), r2 = KRowAccumulator(), r3 = KRowAccumulator()
    for b in 0..<nb {
        let b0 = w + b &* bb, b1 = b0 + apart, b2 = b1 + apart, b3 = b2 + apart
        let qx = UnsafeRawPointer(xq.q + 256 &* b), s32 = kSums32(xq, b), dx = xq.scale[b]
        r0.add(b0, dx: dx, q4KBlockSums(b0, qx, s32, q5: q5))
        r1.add(b1, dx: dx, q4KBlockSums(b1, qx, s32, q5: q5))
        r2.add(b2, dx: dx, q4KBlockSums(b2, qx, s32, q5: q5))
        r3.add(b3, dx: dx, q4KBlockSums(b3, qx, s32, q5: q5))
    }
    return (r0.total, r1.total, r2.total, r3.total)
}

/// One q6_K super-block at `blk` against the activation block at `qx` with its 16-sums: Σ_g sc_g Σ_{k in g}
/// (q_k - 32) q_x,k in Int32, with q (0..<64) by `vpmaddubsw` and the -32 through the activation sums
/// (- 32 Σ_g sc_g Σ_{k in g} q_x,k). A 32-weight vector spans groups g, g + 1: `vpmaddubsw` lanes 0..<8 hold
/// elements 0..<16, so the scale vector is [sc_g x 8, sc_{g+1} x 8].
@inline(__always)
func q6KBlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ sums: SIMD16<Int16>) -> SIMD8<Int32> {
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD8<UInt32>(repeating: 0x0303_0303)
    let sc = int16s(blk.loadUnaligned(fromByteOffset: 192, as: SIMD16<Int8>.self))
    var sumi = SplitSums(SIMD8<Int32>() &- (maddWd(sc, sums) &<< 5))
    for h in 0..<2 {
        let ql0 = blk.loadUnaligned(fromByteOffset: 64 &* h, as: SIMD8<UInt32>.self)
        let ql1 = blk.loadUnaligned(fromByteOffset: 64 &* h &+ 32, as: SIMD8<UInt32>.self)
        let qh = blk.loadUnaligned(fromByteOffset: 128 &+ 32 &* h, as: SIMD8<UInt32>.self)
        @inline(__always) func part(_ p: Int, _ q: SIMD8<UInt32>) {
            let x = qx.loadUnaligned(fromByteOffset: 128 &* h &+ 32 &* p, as: SIMD32<Int8>.self)
            sumi.add(maddWd(groupPair(sc, 8 &* h &+ 2 &* p), maddUbsSw(bytes32(q), x)), p)
        }
        part(0, (ql0 & m4) | ((qh & m2) &<< 4))
        part(1, (ql1 & m4) | (((qh &>> 2) & m2) &<< 4))
        part(2, ((ql0 &>> 4) & m4) | (((qh &>> 4) & m2) &<< 4))
        part(3, ((ql1 &>> 4) & m4) | (((qh &>> 6) & m2) &<< 4))
    }
    return sumi.total
}

/// The activations' 16-sums of super-block b.
@inline(__always)
func kSums16(_ xq: QuantizedActivations, _ b: Int) -> SIMD16<Int16> {
    UnsafeRawPointer(xq.sums + 16 &* b).loadUnaligned(as: SIMD16<Int16>.self)
}

/// acc += d_w d_x · `q6KBlockSums` for the super-block at `blk` (the step of one q6_K row).
@inline(__always)
func q6KStep(_ acc: inout SIMD8<Float>, _ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ sums: SIMD16<Int16>, dx: Float) {
    let d = dx * f16ToFloat(blk.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
    acc.madd(SIMD8(repeating: d), int32sToFloat8(q6KBlockSums(blk, qx, sums)))
}

/// w (n,) q6_K . x̂ -> Float: per super-block `q6KBlockSums` times d_w d_x.
@inline(__always)
func dotQ6_KInteger(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> Float {
    var acc = SIMD8<Float>()
    for b in 0..<nb { q6KStep(&acc, w + b &* 210, UnsafeRawPointer(xq.q + 256 &* b), kSums16(xq, b), dx: xq.scale[b]) }
    return hsum(acc)
}

/// Two q6_K rows at `w` and `w + apart` at once, each formed as `dotQ6_KInteger` forms it.
@inline(__always)
func dotQ6_KInteger2(_ w: UnsafeRawPointer, apart: Int, _ xq: QuantizedActivations, blocks nb: Int) -> (Float, Float) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    for b in 0..<nb {
        let b0 = w + b &* 210, qx = UnsafeRawPointer(xq.q + 256 &* b), sums = kSums16(xq, b), dx = xq.scale[b]
        q6KStep(&a0, b0, qx, sums, dx: dx)
        q6KStep(&a1, b0 + apart, qx, sums, dx: dx)
    }
    return (hsum(a0), hsum(a1))
}

/// The scales of groups g and g + 1 for one `vpmaddubsw` result of 32 weights spanning them: lanes 0..<8 hold
/// elements 0..<16 (group g), lanes 8..<16 the next 16.
@inline(__always)
func groupPair(_ sc: SIMD16<Int16>, _ g: Int) -> SIMD16<Int16> {
    SIMD16(lowHalf: SIMD8(repeating: sc[g]), highHalf: SIMD8(repeating: sc[g &+ 1]))
}

/// One q2_K or q3_K super-block at `blk` (the step of a row): Σ_g sc_g Σ_{k in g} q_k q_x,k in Int32 (`vpmaddubsw`
/// on the unsigned codes, `vpmaddwd` with the group-pair scales), times d_w d_x into `acc`. q2_K: codes 0...3 with
/// 4-bit scales, and the mins as - dmin d_x Σ_g m_g (Σ q_x over group g), from the activation sums, into `accMin`.
/// q3_K: codes q + 4 (0...7, hmask bit 4n + j as 4), scales sc - 32 (signed), and the -4 as - 4 Σ_g sc_g Σ q_x,
/// from the same sums.
@inline(__always)
func q23KStep(_ acc: inout SIMD8<Float>, _ accMin: inout SIMD8<Float>, _ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer,
              _ sums: SIMD16<Int16>, dx: Float, q3: Bool) {
    let m2 = SIMD8<UInt32>(repeating: 0x0303_0303), one = SIMD8<UInt32>(repeating: 0x0101_0101)
    let low4 = SIMD4<UInt32>(repeating: 0x0F0F_0F0F)
    let sc: SIMD16<Int16>
    var sumi = SplitSums<SIMD8<Int32>>()
    if q3 {
        sc = int16s(unsafeBitCast(q3KScales(blk + 96), to: SIMD16<Int8>.self)) &- SIMD16(repeating: 32)
        sumi = SplitSums(SIMD8<Int32>() &- (maddWd(sc, sums) &<< 2))
    } else {
        let u = blk.loadUnaligned(as: SIMD4<UInt32>.self)
        sc = int16s(unsafeBitCast(u & low4, to: SIMD16<Int8>.self))
        let mn = int16s(unsafeBitCast((u &>> 4) & low4, to: SIMD16<Int8>.self))
        let dmin = -dx * f16ToFloat(blk.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
        accMin.madd(SIMD8(repeating: dmin), int32sToFloat8(maddWd(mn, sums)))
    }
    let qs = blk + (q3 ? 32 : 16)
    let hm = q3 ? blk.loadUnaligned(as: SIMD8<UInt32>.self) : SIMD8()
    for n in 0..<2 {
        let bits = qs.loadUnaligned(fromByteOffset: 32 &* n, as: SIMD8<UInt32>.self)
        for j in 0..<4 {
            var q = (bits &>> UInt32(2 &* j)) & m2
            if q3 { q |= ((hm &>> UInt32(4 &* n &+ j)) & one) &<< 2 }
            let x = qx.loadUnaligned(fromByteOffset: 128 &* n &+ 32 &* j, as: SIMD32<Int8>.self)
            sumi.add(maddWd(groupPair(sc, 8 &* n &+ 2 &* j), maddUbsSw(bytes32(q), x)), j)
        }
    }
    let d = dx * f16ToFloat(blk.loadUnaligned(fromByteOffset: q3 ? 108 : 80, as: UInt16.self))
    acc.madd(SIMD8(repeating: d), int32sToFloat8(sumi.total))
}

/// w (n,) q2_K or q3_K . x̂ -> Float: per super-block `q23KStep`.
@inline(__always)
func dotQ23KInteger(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, q3: Bool) -> Float {
    let bb = q3 ? 110 : 84
    var acc = SIMD8<Float>(), accMin = SIMD8<Float>()
    for b in 0..<nb {
        q23KStep(&acc, &accMin, w + b &* bb, UnsafeRawPointer(xq.q + 256 &* b), kSums16(xq, b), dx: xq.scale[b], q3: q3)
    }
    return hsum(acc + accMin)
}

/// Two q2_K / q3_K rows at `w` and `w + apart` at once (`rowPairs`), each formed as `dotQ23KInteger` forms it.
@inline(__always)
func dotQ23KInteger2(_ w: UnsafeRawPointer, apart: Int, _ xq: QuantizedActivations, blocks nb: Int, q3: Bool) -> (Float, Float) {
    let bb = q3 ? 110 : 84
    var a0 = SIMD8<Float>(), m0 = SIMD8<Float>(), a1 = SIMD8<Float>(), m1 = SIMD8<Float>()
    for b in 0..<nb {
        let b0 = w + b &* bb, qx = UnsafeRawPointer(xq.q + 256 &* b), sums = kSums16(xq, b), dx = xq.scale[b]
        q23KStep(&a0, &m0, b0, qx, sums, dx: dx, q3: q3)
        q23KStep(&a1, &m1, b0 + apart, qx, sums, dx: dx, q3: q3)
    }
    return (hsum(a0 + m0), hsum(a1 + m1))
}
#endif
