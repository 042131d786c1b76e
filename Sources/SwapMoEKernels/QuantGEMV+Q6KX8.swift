import SwapMoECore
// GEMV over q6_K_x8 matrices (layout: Q6KInterleave.swift), eight rows at a time as for q4_K_x8
// (QuantGEMV+Q4KX8.swift): per row the q6_K kernel's integer sum Σ_g sc_g Σ_{k in g} (q_k - 32) q_x,k, the codes q
// (0..<64) from a 64-byte low-bit column and 2 bits of a top-bit column, multiplied by `vpmaddubsw` with 8 broadcast
// activation bytes; the signed scales of eight rows widened once per four groups (`vpmovsxbw`) and spread to their
// rows' lanes by `vpshufb`; the -32 through the activations' 16-sums; one float multiply-add per eight rows.

#if SWAPMOE_X86_INTRINSICS

/// `vpshufb` indices that spread Int16 lane j of each row (rows 2L, 2L + 1 in 128-bit lane L: lanes j, 4 + j) to
/// the four Int16 lanes of that row's `vpmaddubsw` results.
@inline(__always)
func q6KX8ScaleIndex(_ j: Int) -> SIMD32<UInt8> {
    let one: UInt64 = 0x0001_0001_0001_0001
    let lo = UInt64(truncatingIfNeeded: 2 &* j | (2 &* j &+ 1) << 8) &* one
    let hi = UInt64(truncatingIfNeeded: (8 &+ 2 &* j) | (9 &+ 2 &* j) << 8) &* one
    return bytes32(SIMD4<UInt64>(lo, hi, lo, hi))
}

/// The activations' 16-sums 4k ..< 4k + 4 of a super-block, as 64 bits.
@inline(__always)
func q6KX8Sums(_ s16: SIMD16<Int16>, _ k: Int) -> UInt64 { unsafeBitCast(s16, to: SIMD4<UInt64>.self)[k] }

#if SWAPMOE_AVX512
/// The codes of low-bit column (c, u) of the group super-block at `blk`, eight rows' 8 low-nibble weights and 8
/// high-nibble ones as bytes (0..<64), their top bits from `top`, the loaded top-bit column (c, u / 2).
@inline(__always)
func q6KX8ColumnCodes(_ blk: UnsafeRawPointer, _ c: Int, _ u: Int, _ top: SIMD16<UInt32>) -> (SIMD64<UInt8>, SIMD64<UInt8>) {
    let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD16<UInt32>(repeating: 0x0303_0303)
    let bits = blk.loadUnaligned(fromByteOffset: q6KX8LowColumn(c, u), as: SIMD16<UInt32>.self), t = top &>> UInt32(4 &* (u % 2))
    return (bytes64((bits & m4) | ((t & m2) &<< 4)), bytes64(((bits &>> 4) & m4) | (((t &>> 2) & m2) &<< 4)))
}

/// One q6_K_x8 group super-block at `blk` against the activation super-block at `qx` with its 16-sums: Int32 lanes
/// 2r, 2r + 1 hold row r's Σ_g sc_g Σ (q - 32) q_x, split in two. The two column products of a 16-weight group are
/// added as Int16 before its scale multiplies them (at most 2 * 2 * 63 * 128 < 2^15; exact): 1.15x on AVX2
/// (31.5 -> 36 GB/s from cache), 1.03x on AVX-512 (Zen 4, 2026-12-05).
@inline(__always)
func q6KX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s16: SIMD16<Int16>) -> SIMD16<Int32> {
    @inline(__always) func wide(_ i: SIMD32<UInt8>) -> SIMD64<UInt8> { SIMD64(lowHalf: i, highHalf: i) }
    @inline(__always) func x8(_ offset: Int) -> SIMD64<Int8> {
        unsafeBitCast(SIMD8<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
    }
    var lo = SIMD16<Int32>(), hi = SIMD16<Int32>(), offset = SIMD16<Int32>()
    for c in 0..<4 {
        let z = int16s(blk.loadUnaligned(fromByteOffset: 16 &+ 32 &* c, as: SIMD32<Int8>.self)), zb = bytes64(z)
        @inline(__always) func scale(_ j: Int) -> SIMD32<Int16> { unsafeBitCast(shuffleBytes(zb, wide(q6KX8ScaleIndex(j))), to: SIMD32<Int16>.self) }
        offset &+= maddWd(z, unsafeBitCast(SIMD8<UInt64>(repeating: q6KX8Sums(s16, c)), to: SIMD32<Int16>.self))
        for p in 0..<2 {
            let top = blk.loadUnaligned(fromByteOffset: q6KX8TopColumn(c, p), as: SIMD16<UInt32>.self)
            var pl = SIMD32<Int16>(), ph = SIMD32<Int16>()
            for s in 0..<2 {
                let u = 2 &* p &+ s, (ql, qh) = q6KX8ColumnCodes(blk, c, u, top)
                pl &+= maddUbsSw(ql, x8(64 &* c &+ 8 &* u)); ph &+= maddUbsSw(qh, x8(64 &* c &+ 32 &+ 8 &* u))
            }
            lo &+= maddWd(scale(p), pl); hi &+= maddWd(scale(2 &+ p), ph)
        }
    }
    return lo &+ hi &- (offset &<< 5)
}
#else
/// `q6KX8ColumnCodes` on 256-bit vectors: rows 4h ..< 4h + 4, `top` the half of top-bit column (c, u / 2).
@inline(__always)
func q6KX8ColumnCodes(_ blk: UnsafeRawPointer, _ c: Int, _ u: Int, _ h: Int, _ top: SIMD8<UInt32>) -> (SIMD32<UInt8>, SIMD32<UInt8>) {
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD8<UInt32>(repeating: 0x0303_0303)
    let bits = blk.loadUnaligned(fromByteOffset: q6KX8LowColumn(c, u) &+ 32 &* h, as: SIMD8<UInt32>.self), t = top &>> UInt32(4 &* (u % 2))
    return (bytes32((bits & m4) | ((t & m2) &<< 4)), bytes32(((bits &>> 4) & m4) | (((t &>> 2) & m2) &<< 4)))
}

/// `q6KX8BlockSums` on 256-bit vectors: rows 0..<4 (h = 0), then 4..<8, each in the layout of the 512-bit form's
/// low or high half; `hint`: the block's lines hinted ahead an eighth per chunk and half (`kx8StepHints`).
@inline(__always)
func q6KX8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, _ s16: SIMD16<Int16>, hint: PrefetchDistances? = nil) -> SIMD16<Int32> {
    @inline(__always) func x8(_ offset: Int) -> SIMD32<Int8> {
        unsafeBitCast(SIMD4<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
    }
    @inline(__always) func half(_ h: Int) -> SIMD8<Int32> {
        var lo = SIMD8<Int32>(), hi = SIMD8<Int32>(), offset = SIMD8<Int32>()
        for c in 0..<4 {
            if let hint { prefetchPart(blk, blockBytes: q6KX8GroupBlockBytes, 4 &* h &+ c, of: 8, distance: hint) }
            let z = int16s(blk.loadUnaligned(fromByteOffset: 16 &+ 32 &* c &+ 16 &* h, as: SIMD16<Int8>.self)), zb = bytes32(z)
            @inline(__always) func scale(_ j: Int) -> SIMD16<Int16> { unsafeBitCast(shuffleBytes(zb, q6KX8ScaleIndex(j)), to: SIMD16<Int16>.self) }
            offset &+= maddWd(z, unsafeBitCast(SIMD4<UInt64>(repeating: q6KX8Sums(s16, c)), to: SIMD16<Int16>.self))
            for p in 0..<2 {
                let top = blk.loadUnaligned(fromByteOffset: q6KX8TopColumn(c, p) &+ 32 &* h, as: SIMD8<UInt32>.self)
                var pl = SIMD16<Int16>(), ph = SIMD16<Int16>()
                for s in 0..<2 {
                    let u = 2 &* p &+ s, (ql, qh) = q6KX8ColumnCodes(blk, c, u, h, top)
                    pl &+= maddUbsSw(ql, x8(64 &* c &+ 8 &* u)); ph &+= maddUbsSw(qh, x8(64 &* c &+ 32 &+ 8 &* u))
                }
                lo &+= maddWd(scale(p), pl); hi &+= maddWd(scale(2 &+ p), ph)
            }
        }
        return lo &+ hi &- (offset &<< 5)
    }
    return SIMD16(lowHalf: half(0), highHalf: half(1))
}
#endif

/// Super-block b of the q6_K_x8 group at `blk` into `acc`: `q6KX8BlockSums`, each row's pair added, times d_w d_x.
@inline(__always)
func addQ6KX8Block(_ acc: inout SIMD8<Float>, _ blk: UnsafeRawPointer, _ b: Int, _ xq: QuantizedActivations, hint: PrefetchDistances? = nil) {
    #if SWAPMOE_AVX512
    let s = q6KX8BlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums16(xq, b))
    #else
    let s = q6KX8BlockSums(blk, UnsafeRawPointer(xq.q + 256 &* b), kSums16(xq, b), hint: hint)
    #endif
    acc.madd(SIMD8<Float>(repeating: xq.scale[b]) * f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), int32sToFloat8(pairTotals(s)))
}

/// The eight rows of the q6_K_x8 group at `w` . x̂, one float lane per row (`addQ6KX8Block`).
@inline(__always)
func dotQ6KX8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> SIMD8<Float> {
    groupSums(w, blockBytes: q6KX8GroupBlockBytes, blocks: nb, SIMD8<Float>()) { addQ6KX8Block(&$0, $1, $2, xq) }
}

#endif
