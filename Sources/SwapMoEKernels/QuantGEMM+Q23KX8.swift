import SwapMoECore
// Prefill over q3_K_x8 and q2_K_x8 matrices (QuantGEMM+Interleaved.swift's four-token scheme; one-token kernel and
// layout: QuantGEMV+Q23KX8.swift, Q23KInterleave.swift): each group's codes formed once per four tokens, each token's
// integer sums those of `q23KX8BlockSums` for it, so every output is what the GEMV gives for its token.

#if SWAPMOE_X86_INTRINSICS

@inline(never)
func q3KX8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ23KX8Group4($0, $1, $2, $3, $4, blocks: nb, q3: true) }, dot1: { dotQ23KX8Group($0, $1, blocks: nb, q3: true) })
}

@inline(never)
func q2KX8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ23KX8Group4($0, $1, $2, $3, $4, blocks: nb, q3: false) }, dot1: { dotQ23KX8Group($0, $1, blocks: nb, q3: false) })
}

typealias Q23KX8Sums = (SIMD16<Int32>, SIMD16<Int32>)

/// The eight rows of the q3_K_x8 (`q3`) or q2_K_x8 group at `w` against four tokens' activations: for each token
/// exactly what `dotQ23KX8Group` computes for it.
@inline(__always)
func dotQ23KX8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                     _ x3: QuantizedActivations, blocks nb: Int, q3: Bool) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var m0 = SIMD8<Float>(), m1 = SIMD8<Float>(), m2 = SIMD8<Float>(), m3 = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* (q3 ? q3KX8GroupBlockBytes : q2KX8GroupBlockBytes)
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 256 &* b) }
        let s = q23KX8BlockSums4(blk, (qx(x0), qx(x1), qx(x2), qx(x3)), (kSums16(x0, b), kSums16(x1, b), kSums16(x2, b), kSums16(x3, b)), q3: q3)
        let d = f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self))
        let dmin = q3 ? SIMD8<Float>() : f16ToFloat8(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self))
        @inline(__always) func step(_ acc: inout SIMD8<Float>, _ accMin: inout SIMD8<Float>, _ x: QuantizedActivations, _ sums: Q23KX8Sums) {
            let dx = SIMD8<Float>(repeating: x.scale[b])
            acc.madd(dx * d, int32sToFloat8(pairTotals(sums.0)))
            if !q3 { accMin.madd(dx * dmin, int32sToFloat8(pairTotals(sums.1))) }
        }
        step(&a0, &m0, x0, s.0); step(&a1, &m1, x1, s.1); step(&a2, &m2, x2, s.2); step(&a3, &m3, x3, s.3)
    }
    return q3 ? (a0, a1, a2, a3) : (a0 - m0, a1 - m1, a2 - m2, a3 - m3)
}

#if SWAPMOE_AVX512
/// `q23KX8BlockSums` for four tokens: each chunk's scales unpacked and spread once, each code vector formed once and
/// multiplied with each token's 8 activation bytes.
@inline(__always)
func q23KX8BlockSums4(_ blk: UnsafeRawPointer, _ qx: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                      _ s16: (SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>), q3: Bool)
    -> (Q23KX8Sums, Q23KX8Sums, Q23KX8Sums, Q23KX8Sums) {
    @inline(__always) func wide(_ i: SIMD32<UInt8>) -> SIMD64<UInt8> { SIMD64(lowHalf: i, highHalf: i) }
    @inline(__always) func x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD64<Int8> {
        unsafeBitCast(SIMD8<UInt64>(repeating: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
    }
    @inline(__always) func sums(_ s: SIMD16<Int16>, _ c: Int) -> SIMD32<Int16> {
        unsafeBitCast(SIMD8<UInt64>(repeating: q6KX8Sums(s, c)), to: SIMD32<Int16>.self)
    }
    var s0 = SplitSums<SIMD16<Int32>>(), s1 = SplitSums<SIMD16<Int32>>(), s2 = SplitSums<SIMD16<Int32>>(), s3 = SplitSums<SIMD16<Int32>>()
    var o0 = SIMD16<Int32>(), o1 = SIMD16<Int32>(), o2 = SIMD16<Int32>(), o3 = SIMD16<Int32>()
    unroll4 { c in
        let (z, m) = q23KX8ChunkScales(blk, c, q3: q3), zb = bytes64(z), zo = q3 ? z : m
        @inline(__always) func scale(_ j: Int) -> SIMD32<Int16> { unsafeBitCast(shuffleBytes(zb, wide(q6KX8ScaleIndex(j))), to: SIMD32<Int16>.self) }
        o0 &+= maddWd(zo, sums(s16.0, c)); o1 &+= maddWd(zo, sums(s16.1, c)); o2 &+= maddWd(zo, sums(s16.2, c)); o3 &+= maddWd(zo, sums(s16.3, c))
        @inline(__always) func column(_ k: Int) -> SIMD16<UInt32> {
            k < (q3 ? 3 : 2) ? blk.loadUnaligned(fromByteOffset: q23KX8Chunk(c, q3: q3) &+ 64 &* k, as: SIMD16<UInt32>.self) : SIMD16()
        }
        let a = column(0), b = column(1), cc = column(2)
        unroll4 { j in
            let q0 = bytes64(q23KX8Code(a, b, cc, 2 &* j, q3: q3)), q1 = bytes64(q23KX8Code(a, b, cc, 2 &* j &+ 1, q3: q3))
            let sc = scale(j), o = 64 &* c &+ 16 &* j
            @inline(__always) func add(_ acc: inout SplitSums<SIMD16<Int32>>, _ p: UnsafeRawPointer) {
                acc.add(maddWd(sc, maddUbsSw(q0, x8(p, o)) &+ maddUbsSw(q1, x8(p, o &+ 8))), j)
            }
            add(&s0, qx.0); add(&s1, qx.1); add(&s2, qx.2); add(&s3, qx.3)
        }
    }
    @inline(__always) func result(_ s: SplitSums<SIMD16<Int32>>, _ o: SIMD16<Int32>) -> Q23KX8Sums {
        q3 ? (s.total &- (o &<< 2), SIMD16()) : (s.total &>> 4, o)
    }
    return (result(s0, o0), result(s1, o1), result(s2, o2), result(s3, o3))
}
#else
/// `q23KX8BlockSums` for four tokens on 256-bit vectors: rows 0..<4, then 4..<8, as the one-token form's halves,
/// q3_K's -4 Σ sc Σ q_x taken into each token's running sum as each chunk's scales are unpacked, q2_K's mins after
/// the codes (one running sum per token while the codes are multiplied: 16 vector registers).
@inline(__always)
func q23KX8BlockSums4(_ blk: UnsafeRawPointer, _ qx: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                      _ s16: (SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>), q3: Bool)
    -> (Q23KX8Sums, Q23KX8Sums, Q23KX8Sums, Q23KX8Sums) {
    @inline(__always) func x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD32<Int8> {
        unsafeBitCast(SIMD4<UInt64>(repeating: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
    }
    @inline(__always) func sums(_ s: SIMD16<Int16>, _ c: Int) -> SIMD16<Int16> {
        unsafeBitCast(SIMD4<UInt64>(repeating: q6KX8Sums(s, c)), to: SIMD16<Int16>.self)
    }
    typealias Four = (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>)
    @inline(__always) func half(_ hh: Int) -> (Four, Four) {
        var a0 = SIMD8<Int32>(), a1 = SIMD8<Int32>(), a2 = SIMD8<Int32>(), a3 = SIMD8<Int32>()
        for c in 0..<4 {
            let z = q23KX8ChunkScales(blk, c, hh, q3: q3).0, zb = bytes32(z)
            @inline(__always) func scale(_ j: Int) -> SIMD16<Int16> { unsafeBitCast(shuffleBytes(zb, q6KX8ScaleIndex(j)), to: SIMD16<Int16>.self) }
            if q3 {
                a0 &-= maddWd(z, sums(s16.0, c)) &<< 2; a1 &-= maddWd(z, sums(s16.1, c)) &<< 2
                a2 &-= maddWd(z, sums(s16.2, c)) &<< 2; a3 &-= maddWd(z, sums(s16.3, c)) &<< 2
            }
            @inline(__always) func column(_ k: Int) -> SIMD8<UInt32> {
                k < (q3 ? 3 : 2) ? blk.loadUnaligned(fromByteOffset: q23KX8Chunk(c, q3: q3) &+ 64 &* k &+ 32 &* hh, as: SIMD8<UInt32>.self) : SIMD8()
            }
            let a = column(0), b = column(1), cc = column(2)
            unroll4 { j in
                let q0 = bytes32(q23KX8Code(a, b, cc, 2 &* j, q3: q3)), q1 = bytes32(q23KX8Code(a, b, cc, 2 &* j &+ 1, q3: q3))
                let sc = scale(j), o = 64 &* c &+ 16 &* j
                @inline(__always) func add(_ acc: inout SIMD8<Int32>, _ p: UnsafeRawPointer) {
                    acc &+= maddWd(sc, maddUbsSw(q0, x8(p, o)) &+ maddUbsSw(q1, x8(p, o &+ 8)))
                }
                add(&a0, qx.0); add(&a1, qx.1); add(&a2, qx.2); add(&a3, qx.3)
            }
        }
        var m0 = SIMD8<Int32>(), m1 = SIMD8<Int32>(), m2 = SIMD8<Int32>(), m3 = SIMD8<Int32>()
        if !q3 {
            for c in 0..<4 {
                let m = q23KX8ChunkScales(blk, c, hh, q3: false).1
                m0 &+= maddWd(m, sums(s16.0, c)); m1 &+= maddWd(m, sums(s16.1, c)); m2 &+= maddWd(m, sums(s16.2, c)); m3 &+= maddWd(m, sums(s16.3, c))
            }
        }
        return q3 ? ((a0, a1, a2, a3), (m0, m1, m2, m3)) : ((a0 &>> 4, a1 &>> 4, a2 &>> 4, a3 &>> 4), (m0, m1, m2, m3))
    }
    let a = half(0), b = half(1)
    @inline(__always) func join(_ x: SIMD8<Int32>, _ y: SIMD8<Int32>) -> SIMD16<Int32> { SIMD16(lowHalf: x, highHalf: y) }
    return ((join(a.0.0, b.0.0), join(a.1.0, b.1.0)), (join(a.0.1, b.0.1), join(a.1.1, b.1.1)),
            (join(a.0.2, b.0.2), join(a.1.2, b.1.2)), (join(a.0.3, b.0.3), join(a.1.3, b.1.3)))
}
#endif

#endif
