import SwapMoECore
// GEMV over q4_0_x8 matrices (layout: Q40Interleave.swift), eight rows at a time as for q4_K_x8
// (QuantGEMV+Q4KX8.swift): per block of 32 weights, each row's Σ q q_x with the codes q (0..<16) of a 64-byte column
// multiplied (`vpmaddubsw`) by the 8 activation bytes they share, broadcast; the four products added as Int16 (at
// most 4 * 2 * 15 * 127 < 2^15) and paired into Int32 (`vpmaddwd`); the offset 8 Σ q_x from the activations'
// 16-sums; one float multiply-add per eight rows and block. Each row's result equals the q4_0 kernel's
// (QuantGEMV+Integer.swift) on the same row up to float rounding. The float path (other CPUs) takes each row out
// of its group and runs the q4_0 row kernel on it.

#if SWAPMOE_X86_INTRINSICS

@inline(never)
func q40X8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate) { dotQ40X8Group($0, xq, blocks: nb) }
}

/// The eight rows of the q4_0_x8 group at `w` . x̂: per block the rows' Σ q q_x (`q40X8BlockSums`, row r in Int32
/// lanes 2r and 2r + 1) paired, minus 8 Σ q_x, times d_w d_x, in one float lane per row; even and odd blocks in
/// two running sums (added at the end), so that the multiply-adds are two chains.
@inline(__always)
func dotQ40X8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> SIMD8<Float> {
    var even = SIMD8<Float>(), odd = SIMD8<Float>()
    @inline(__always) func block(_ b: Int, _ acc: inout SIMD8<Float>) {
        let blk = w + b &* q40X8GroupBlockBytes
        let sx = Int32(truncatingIfNeeded: xq.sums[2 &* b]) &+ Int32(truncatingIfNeeded: xq.sums[2 &* b &+ 1])
        let t = pairTotals(q40X8BlockSums(blk, UnsafeRawPointer(xq.q + 32 &* b))) &- SIMD8(repeating: sx &<< 3)
        acc.madd(SIMD8<Float>(repeating: xq.scale[b]) * f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), int32sToFloat8(t))
    }
    var b = 0
    while b &+ 2 <= nb { block(b, &even); block(b &+ 1, &odd); b &+= 2 }
    if b < nb { block(b, &even) }
    return even + odd
}

#if SWAPMOE_AVX512
/// One q4_0_x8 group block at `blk` against the activation block at `qx`: Int32 lanes 2r, 2r + 1 hold row r's
/// Σ q q_x, split in two.
@inline(__always)
func q40X8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer) -> SIMD16<Int32> {
    let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F)
    @inline(__always) func x8(_ offset: Int) -> SIMD64<Int8> {
        unsafeBitCast(SIMD8<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
    }
    let c0 = blk.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt32>.self), c1 = blk.loadUnaligned(fromByteOffset: 80, as: SIMD16<UInt32>.self)
    let p = (maddUbsSw(bytes64(c0 & m4), x8(0)) &+ maddUbsSw(bytes64((c0 &>> 4) & m4), x8(16)))
        &+ (maddUbsSw(bytes64(c1 & m4), x8(8)) &+ maddUbsSw(bytes64((c1 &>> 4) & m4), x8(24)))
    return maddWd(p, SIMD32<Int16>(repeating: 1))
}
#else
/// `q40X8BlockSums` on 256-bit vectors: rows 0..<4, then 4..<8, each in the layout of the 512-bit form's half.
@inline(__always)
func q40X8BlockSums(_ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer) -> SIMD16<Int32> {
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F)
    @inline(__always) func x8(_ offset: Int) -> SIMD32<Int8> {
        unsafeBitCast(SIMD4<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
    }
    @inline(__always) func half(_ h: Int) -> SIMD8<Int32> {
        let c0 = blk.loadUnaligned(fromByteOffset: 16 &+ 32 &* h, as: SIMD8<UInt32>.self)
        let c1 = blk.loadUnaligned(fromByteOffset: 80 &+ 32 &* h, as: SIMD8<UInt32>.self)
        let p = (maddUbsSw(bytes32(c0 & m4), x8(0)) &+ maddUbsSw(bytes32((c0 &>> 4) & m4), x8(16)))
            &+ (maddUbsSw(bytes32(c1 & m4), x8(8)) &+ maddUbsSw(bytes32((c1 &>> 4) & m4), x8(24)))
        return maddWd(p, SIMD16<Int16>(repeating: 1))
    }
    return SIMD16(lowHalf: half(0), highHalf: half(1))
}
#endif

#endif
