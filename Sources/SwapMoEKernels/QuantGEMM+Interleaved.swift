import SwapMoECore
// Prefill over the interleaved matrices (q4_K_x8, q5_K_x8, q6_K_x8, q3_K_x8, q2_K_x8, iq4_nl_x8, iq4_xs_x8, q4_0_x8, q4_1_x8, q5_0_x8, q5_1_x8, mxfp4_x8; not q8_0_x8: `interleavedGEMMUsesIntegerDots`) on integer dot products (x86 builds): X (t,n) @ W (d,n)^T with each
// token's row quantized as the GEMV quantizes it (QuantActivations.swift), four tokens at a time against each group
// of eight rows, so a group's codes are unpacked once per four tokens and its scales once per super-block, with no
// f32 copy of the weights (the dequantizing GEMM, QuantGEMM.swift, spent a third of a q4_K prefill widening weight
// packs that the few tokens routed to an expert then used a handful of times). Each output is what `gemv` gives
// for its token (the same integer sums, the same float steps in the same order), so prefill and decode agree bit for
// bit, as llama.cpp's quantized matrix products also quantize the activations. Other builds (the library build,
// other CPUs) keep the dequantizing GEMM. AVX2 builds take each group as two halves of four rows (with one running
// sum per token: 16 vector registers).

#if SWAPMOE_X86_INTRINSICS

/// X (t,n) @ W (d,n)^T, W interleaved (+ b) -> Y (t,d) (see `gemm`).
func gemmInterleaved(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType, _ x: UnsafePointer<Float>,
                     tokens t: Int, d: Int, n: Int, bias: UnsafePointer<Float>?, accumulate: Bool, pool: ThreadPool?) {
    let stride = (QuantizedActivations.scratchBytes(n) &+ 63) / 64 &* 64
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: t &* stride, alignment: 64)
    defer { scratch.deallocate() }
    let xq = (0..<t).map { quantizeActivations(x + $0 &* n, n: n, block: activationBlock(type), scratch: scratch + $0 &* stride) }
    xq.withUnsafeBufferPointer { xq in
        let body = { (rows: Range<Int>) in
            switch type {
            case .iq4_nlx8: iq4NLX8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 32, rows: rows, bias: bias, accumulate: accumulate)
            case .iq4_xsx8: iq4XSX8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 256, rows: rows, bias: bias, accumulate: accumulate)
            case .q3_Kx8: q3KX8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 256, rows: rows, bias: bias, accumulate: accumulate)
            case .q2_Kx8: q2KX8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 256, rows: rows, bias: bias, accumulate: accumulate)
            case .q6_Kx8: q6KX8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 256, rows: rows, bias: bias, accumulate: accumulate)
            case .q5_Kx8: q5KX8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 256, rows: rows, bias: bias, accumulate: accumulate)
            case .q4_0x8: q40X8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 32, rows: rows, bias: bias, accumulate: accumulate)
            case .q4_1x8: q41X8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 32, rows: rows, bias: bias, accumulate: accumulate)
            case .q5_1x8: q51X8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 32, rows: rows, bias: bias, accumulate: accumulate)
            case .q5_0x8: q50X8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 32, rows: rows, bias: bias, accumulate: accumulate)
            case .mxfp4x8:
                #if SWAPMOE_AVX512 && SWAPMOE_VNNI && SWAPMOE_VBMI
                mxfp4X8VNNITokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 32, rows: rows, bias: bias, accumulate: accumulate)
                #else
                mxfp4X8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 32, rows: rows, bias: bias, accumulate: accumulate)
                #endif
            default: q4KX8TokenRows(y, w, xq, d: d, rowBytes: type.rowBytes(n), blocks: n / 256, rows: rows, bias: bias, accumulate: accumulate)
            }
        }
        if let pool, pool.threadCount > 1, d > gemmRowBlock {
            pool.forEachRange(d, alignment: gemmRowBlock, minimum: gemmRowBlock, body)
        } else {
            body(0..<d)
        }
    }
}

/// Y[:, rows] for every token: per group of eight rows, the tokens four at a time (`dot4`), the last `t % 4` one at
/// a time (`dot1`, the GEMV's own group kernel).
@inline(__always)
func interleavedTokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                          rowBytes: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool,
                          dot4: (UnsafeRawPointer, QuantizedActivations, QuantizedActivations, QuantizedActivations, QuantizedActivations)
                              -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>),
                          dot1: (UnsafeRawPointer, QuantizedActivations) -> SIMD8<Float>) {
    precondition(rows.lowerBound % 8 == 0 && rows.count % 8 == 0, "interleaved rows \(rows) are not whole groups of 8")
    let t = xq.count
    for g in Swift.stride(from: rows.lowerBound, to: rows.upperBound, by: 8) {
        let group = w + g &* rowBytes
        @inline(__always) func store(_ k: Int, _ r: SIMD8<Float>) {
            for e in 0..<8 { storeRow(y + k &* d, g &+ e, r[e], bias, accumulate) }
        }
        var k = 0
        while k &+ 4 <= t {
            let r = dot4(group, xq[k], xq[k &+ 1], xq[k &+ 2], xq[k &+ 3])
            store(k, r.0); store(k &+ 1, r.1); store(k &+ 2, r.2); store(k &+ 3, r.3)
            k &+= 4
        }
        while k < t { store(k, dot1(group, xq[k])); k &+= 1 }
    }
}

/// `interleavedTokenRows` for each type in a function of its own, never inlined: with both in one, the optimizer's
/// budget ran out and left the kernels' loads as calls (q4_K_x8 prefill 0.35x, 2026-12-04).
@inline(never)
func q4KX8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ45KX8Group4($0, $1, $2, $3, $4, blocks: nb, q5: false) }, dot1: { dotQ45KX8Group($0, $1, blocks: nb, q5: false) })
}

@inline(never)
func q5KX8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ45KX8Group4($0, $1, $2, $3, $4, blocks: nb, q5: true) }, dot1: { dotQ45KX8Group($0, $1, blocks: nb, q5: true) })
}

@inline(never)
func q6KX8TokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                    rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotQ6KX8Group4($0, $1, $2, $3, $4, blocks: nb) }, dot1: { dotQ6KX8Group($0, $1, blocks: nb) })
}

/// The eight rows of the q4_K_x8 (`q5`: q5_K_x8) group at `w` against four tokens' activations: for each token
/// exactly what `dotQ45KX8Group` computes for it.
@inline(__always)
func dotQ45KX8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                     _ x3: QuantizedActivations, blocks nb: Int, q5: Bool) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var m0 = SIMD8<Float>(), m1 = SIMD8<Float>(), m2 = SIMD8<Float>(), m3 = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* (q5 ? q5KX8GroupBlockBytes : q4KX8GroupBlockBytes)
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 256 &* b) }
        let s = q45KX8BlockSums4(blk, (qx(x0), qx(x1), qx(x2), qx(x3)), (kSums32(x0, b), kSums32(x1, b), kSums32(x2, b), kSums32(x3, b)), q5: q5)
        let d = f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self))
        let dmin = f16ToFloat8(blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<Float16>.self))
        @inline(__always) func step(_ acc: inout SIMD8<Float>, _ accMin: inout SIMD8<Float>, _ x: QuantizedActivations,
                                    _ sums: (SIMD16<Int32>, SIMD16<Int32>)) {
            let dx = SIMD8<Float>(repeating: x.scale[b])
            acc.madd(dx * d, int32sToFloat8(pairTotals(sums.0)))
            accMin.madd(dx * dmin, int32sToFloat8(pairTotals(sums.1)))
        }
        step(&a0, &m0, x0, s.0); step(&a1, &m1, x1, s.1); step(&a2, &m2, x2, s.2); step(&a3, &m3, x3, s.3)
    }
    return (a0 - m0, a1 - m1, a2 - m2, a3 - m3)
}

#if SWAPMOE_AVX512
/// `q45KX8BlockSums` for four tokens: the scales unpacked and spread once, each 64-byte column of codes unpacked
/// once and multiplied with each token's 8 activation bytes. Each token's integer sums equal the one-token form's.
@inline(__always)
func q45KX8BlockSums4(_ blk: UnsafeRawPointer, _ qx: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                      _ s32: (SIMD8<Int16>, SIMD8<Int16>, SIMD8<Int16>, SIMD8<Int16>), q5: Bool)
    -> ((SIMD16<Int32>, SIMD16<Int32>), (SIMD16<Int32>, SIMD16<Int32>), (SIMD16<Int32>, SIMD16<Int32>), (SIMD16<Int32>, SIMD16<Int32>)) {
    let (scw, mnw) = q4KX8ScalesMins(blk), sc = bytes64(scw), mn = bytes64(mnw)
    @inline(__always) func wide(_ i: SIMD32<UInt8>) -> SIMD64<UInt8> { SIMD64(lowHalf: i, highHalf: i) }
    @inline(__always) func x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD64<Int8> {
        unsafeBitCast(SIMD8<UInt64>(repeating: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
    }
    var s0 = SplitSums<SIMD16<Int32>>(), s1 = SplitSums<SIMD16<Int32>>(), s2 = SplitSums<SIMD16<Int32>>(), s3 = SplitSums<SIMD16<Int32>>()
    for c in 0..<4 {
        let sl = unsafeBitCast(shuffleBytes(sc, wide(q4KX8ScaleIndex(2 &* c))), to: SIMD32<Int16>.self)
        let sh = unsafeBitCast(shuffleBytes(sc, wide(q4KX8ScaleIndex(2 &* c &+ 1))), to: SIMD32<Int16>.self)
        unroll4 { u in
            let (lo, hi) = q45KX8ColumnCodes(blk, c, u, q5: q5)
            let ol = 64 &* c &+ 8 &* u, oh = ol &+ 32
            s0.add(maddWd(sl, maddUbsSw(lo, x8(qx.0, ol))), 0); s0.add(maddWd(sh, maddUbsSw(hi, x8(qx.0, oh))), 1)
            s1.add(maddWd(sl, maddUbsSw(lo, x8(qx.1, ol))), 0); s1.add(maddWd(sh, maddUbsSw(hi, x8(qx.1, oh))), 1)
            s2.add(maddWd(sl, maddUbsSw(lo, x8(qx.2, ol))), 0); s2.add(maddWd(sh, maddUbsSw(hi, x8(qx.2, oh))), 1)
            s3.add(maddWd(sl, maddUbsSw(lo, x8(qx.3, ol))), 0); s3.add(maddWd(sh, maddUbsSw(hi, x8(qx.3, oh))), 1)
        }
    }
    let mn0 = unsafeBitCast(shuffleBytes(mn, wide(q4KX8MinIndex(0))), to: SIMD32<Int16>.self)
    let mn1 = unsafeBitCast(shuffleBytes(mn, wide(q4KX8MinIndex(1))), to: SIMD32<Int16>.self)
    @inline(__always) func mins(_ s: SIMD8<Int16>) -> SIMD16<Int32> {
        maddWd(mn0, unsafeBitCast(SIMD8<UInt64>(repeating: q4KX8MinSums(s, 0)), to: SIMD32<Int16>.self))
            &+ maddWd(mn1, unsafeBitCast(SIMD8<UInt64>(repeating: q4KX8MinSums(s, 1)), to: SIMD32<Int16>.self))
    }
    return ((s0.total, mins(s32.0)), (s1.total, mins(s32.1)), (s2.total, mins(s32.2)), (s3.total, mins(s32.3)))
}
#else
/// `q45KX8BlockSums` for four tokens on 256-bit vectors: rows 0..<4, then 4..<8, as the one-token form's halves.
@inline(__always)
func q45KX8BlockSums4(_ blk: UnsafeRawPointer, _ qx: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                      _ s32: (SIMD8<Int16>, SIMD8<Int16>, SIMD8<Int16>, SIMD8<Int16>), q5: Bool)
    -> ((SIMD16<Int32>, SIMD16<Int32>), (SIMD16<Int32>, SIMD16<Int32>), (SIMD16<Int32>, SIMD16<Int32>), (SIMD16<Int32>, SIMD16<Int32>)) {
    let (scw, mnw) = q4KX8ScalesMins(blk)
    @inline(__always) func x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD32<Int8> {
        unsafeBitCast(SIMD4<UInt64>(repeating: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
    }
    typealias Half = (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>)
    @inline(__always) func half(_ h: Int) -> (Half, Half) {
        // Rows 4h ..< 4h + 4: the half of `q4KX8ScalesMins`' bytes that holds them.
        let sc = bytes32(h == 0 ? scw.lowHalf : scw.highHalf), mn = bytes32(h == 0 ? mnw.lowHalf : mnw.highHalf)
        var a0 = SIMD8<Int32>(), a1 = SIMD8<Int32>(), a2 = SIMD8<Int32>(), a3 = SIMD8<Int32>()
        for c in 0..<4 {
            let sl = unsafeBitCast(shuffleBytes(sc, q4KX8ScaleIndex(2 &* c)), to: SIMD16<Int16>.self)
            let sh = unsafeBitCast(shuffleBytes(sc, q4KX8ScaleIndex(2 &* c &+ 1)), to: SIMD16<Int16>.self)
            unroll4 { u in
                let (lo, hi) = q45KX8ColumnCodes(blk, c, u, h, q5: q5)
                let ol = 64 &* c &+ 8 &* u, oh = ol &+ 32
                a0 &+= maddWd(sl, maddUbsSw(lo, x8(qx.0, ol))) &+ maddWd(sh, maddUbsSw(hi, x8(qx.0, oh)))
                a1 &+= maddWd(sl, maddUbsSw(lo, x8(qx.1, ol))) &+ maddWd(sh, maddUbsSw(hi, x8(qx.1, oh)))
                a2 &+= maddWd(sl, maddUbsSw(lo, x8(qx.2, ol))) &+ maddWd(sh, maddUbsSw(hi, x8(qx.2, oh)))
                a3 &+= maddWd(sl, maddUbsSw(lo, x8(qx.3, ol))) &+ maddWd(sh, maddUbsSw(hi, x8(qx.3, oh)))
            }
        }
        let mn0 = unsafeBitCast(shuffleBytes(mn, q4KX8MinIndex(0)), to: SIMD16<Int16>.self)
        let mn1 = unsafeBitCast(shuffleBytes(mn, q4KX8MinIndex(1)), to: SIMD16<Int16>.self)
        @inline(__always) func mins(_ s: SIMD8<Int16>) -> SIMD8<Int32> {
            maddWd(mn0, unsafeBitCast(SIMD4<UInt64>(repeating: q4KX8MinSums(s, 0)), to: SIMD16<Int16>.self))
                &+ maddWd(mn1, unsafeBitCast(SIMD4<UInt64>(repeating: q4KX8MinSums(s, 1)), to: SIMD16<Int16>.self))
        }
        return ((a0, a1, a2, a3), (mins(s32.0), mins(s32.1), mins(s32.2), mins(s32.3)))
    }
    let a = half(0), b = half(1)
    @inline(__always) func join(_ x: SIMD8<Int32>, _ y: SIMD8<Int32>) -> SIMD16<Int32> { SIMD16(lowHalf: x, highHalf: y) }
    return ((join(a.0.0, b.0.0), join(a.1.0, b.1.0)), (join(a.0.1, b.0.1), join(a.1.1, b.1.1)),
            (join(a.0.2, b.0.2), join(a.1.2, b.1.2)), (join(a.0.3, b.0.3), join(a.1.3, b.1.3)))
}
#endif

/// The eight rows of the q6_K_x8 group at `w` against four tokens' activations: for each token exactly what
/// `dotQ6KX8Group` computes for it.
@inline(__always)
func dotQ6KX8Group4(_ w: UnsafeRawPointer, _ x0: QuantizedActivations, _ x1: QuantizedActivations, _ x2: QuantizedActivations,
                    _ x3: QuantizedActivations, blocks nb: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* q6KX8GroupBlockBytes
        @inline(__always) func qx(_ x: QuantizedActivations) -> UnsafeRawPointer { UnsafeRawPointer(x.q + 256 &* b) }
        let s = q6KX8BlockSums4(blk, (qx(x0), qx(x1), qx(x2), qx(x3)), (kSums16(x0, b), kSums16(x1, b), kSums16(x2, b), kSums16(x3, b)))
        let d = f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self))
        @inline(__always) func step(_ acc: inout SIMD8<Float>, _ x: QuantizedActivations, _ sums: SIMD16<Int32>) {
            acc.madd(SIMD8<Float>(repeating: x.scale[b]) * d, int32sToFloat8(pairTotals(sums)))
        }
        step(&a0, x0, s.0); step(&a1, x1, s.1); step(&a2, x2, s.2); step(&a3, x3, s.3)
    }
    return (a0, a1, a2, a3)
}

#if SWAPMOE_AVX512
/// `q6KX8BlockSums` for four tokens: scales widened and spread once, each column's codes assembled once.
@inline(__always)
func q6KX8BlockSums4(_ blk: UnsafeRawPointer, _ qx: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                     _ s16: (SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>))
    -> (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>) {
    @inline(__always) func wide(_ i: SIMD32<UInt8>) -> SIMD64<UInt8> { SIMD64(lowHalf: i, highHalf: i) }
    @inline(__always) func x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD64<Int8> {
        unsafeBitCast(SIMD8<UInt64>(repeating: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
    }
    @inline(__always) func sums(_ s: SIMD16<Int16>, _ c: Int) -> SIMD32<Int16> {
        unsafeBitCast(SIMD8<UInt64>(repeating: q6KX8Sums(s, c)), to: SIMD32<Int16>.self)
    }
    var s0 = SplitSums<SIMD16<Int32>>(), s1 = SplitSums<SIMD16<Int32>>(), s2 = SplitSums<SIMD16<Int32>>(), s3 = SplitSums<SIMD16<Int32>>()
    var o0 = SIMD16<Int32>(), o1 = SIMD16<Int32>(), o2 = SIMD16<Int32>(), o3 = SIMD16<Int32>()
    for c in 0..<4 {
        let z = int16s(blk.loadUnaligned(fromByteOffset: 16 &+ 32 &* c, as: SIMD32<Int8>.self)), zb = bytes64(z)
        @inline(__always) func scale(_ j: Int) -> SIMD32<Int16> { unsafeBitCast(shuffleBytes(zb, wide(q6KX8ScaleIndex(j))), to: SIMD32<Int16>.self) }
        o0 &+= maddWd(z, sums(s16.0, c)); o1 &+= maddWd(z, sums(s16.1, c)); o2 &+= maddWd(z, sums(s16.2, c)); o3 &+= maddWd(z, sums(s16.3, c))
        for p in 0..<2 {
            let top = blk.loadUnaligned(fromByteOffset: q6KX8TopColumn(c, p), as: SIMD16<UInt32>.self)
            let sl = scale(p), sh = scale(2 &+ p)
            for s in 0..<2 {
                let u = 2 &* p &+ s, (ql, qh) = q6KX8ColumnCodes(blk, c, u, top)
                let ol = 64 &* c &+ 8 &* u, oh = ol &+ 32
                s0.add(maddWd(sl, maddUbsSw(ql, x8(qx.0, ol))), 0); s0.add(maddWd(sh, maddUbsSw(qh, x8(qx.0, oh))), 1)
                s1.add(maddWd(sl, maddUbsSw(ql, x8(qx.1, ol))), 0); s1.add(maddWd(sh, maddUbsSw(qh, x8(qx.1, oh))), 1)
                s2.add(maddWd(sl, maddUbsSw(ql, x8(qx.2, ol))), 0); s2.add(maddWd(sh, maddUbsSw(qh, x8(qx.2, oh))), 1)
                s3.add(maddWd(sl, maddUbsSw(ql, x8(qx.3, ol))), 0); s3.add(maddWd(sh, maddUbsSw(qh, x8(qx.3, oh))), 1)
            }
        }
    }
    return (s0.total &- (o0 &<< 5), s1.total &- (o1 &<< 5), s2.total &- (o2 &<< 5), s3.total &- (o3 &<< 5))
}
#else
/// `q6KX8BlockSums` for four tokens on 256-bit vectors: rows 0..<4, then 4..<8, as the one-token form's halves,
/// each token's -32 Σ sc Σ q_x taken into its running sum as each chunk's scales are widened.
@inline(__always)
func q6KX8BlockSums4(_ blk: UnsafeRawPointer, _ qx: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                     _ s16: (SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>))
    -> (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>) {
    @inline(__always) func x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD32<Int8> {
        unsafeBitCast(SIMD4<UInt64>(repeating: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
    }
    @inline(__always) func sums(_ s: SIMD16<Int16>, _ c: Int) -> SIMD16<Int16> {
        unsafeBitCast(SIMD4<UInt64>(repeating: q6KX8Sums(s, c)), to: SIMD16<Int16>.self)
    }
    @inline(__always) func half(_ h: Int) -> (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>) {
        var a0 = SIMD8<Int32>(), a1 = SIMD8<Int32>(), a2 = SIMD8<Int32>(), a3 = SIMD8<Int32>()
        for c in 0..<4 {
            let z = int16s(blk.loadUnaligned(fromByteOffset: 16 &+ 32 &* c &+ 16 &* h, as: SIMD16<Int8>.self)), zb = bytes32(z)
            @inline(__always) func scale(_ j: Int) -> SIMD16<Int16> { unsafeBitCast(shuffleBytes(zb, q6KX8ScaleIndex(j)), to: SIMD16<Int16>.self) }
            a0 &-= maddWd(z, sums(s16.0, c)) &<< 5; a1 &-= maddWd(z, sums(s16.1, c)) &<< 5
            a2 &-= maddWd(z, sums(s16.2, c)) &<< 5; a3 &-= maddWd(z, sums(s16.3, c)) &<< 5
            for p in 0..<2 {
                let top = blk.loadUnaligned(fromByteOffset: q6KX8TopColumn(c, p) &+ 32 &* h, as: SIMD8<UInt32>.self)
                let sl = scale(p), sh = scale(2 &+ p)
                for s in 0..<2 {
                    let u = 2 &* p &+ s, (ql, qh) = q6KX8ColumnCodes(blk, c, u, h, top)
                    let ol = 64 &* c &+ 8 &* u, oh = ol &+ 32
                    a0 &+= maddWd(sl, maddUbsSw(ql, x8(qx.0, ol))) &+ maddWd(sh, maddUbsSw(qh, x8(qx.0, oh)))
                    a1 &+= maddWd(sl, maddUbsSw(ql, x8(qx.1, ol))) &+ maddWd(sh, maddUbsSw(qh, x8(qx.1, oh)))
                    a2 &+= maddWd(sl, maddUbsSw(ql, x8(qx.2, ol))) &+ maddWd(sh, maddUbsSw(qh, x8(qx.2, oh)))
                    a3 &+= maddWd(sl, maddUbsSw(ql, x8(qx.3, ol))) &+ maddWd(sh, maddUbsSw(qh, x8(qx.3, oh)))
                }
            }
        }
        return (a0, a1, a2, a3)
    }
    let a = half(0), b = half(1)
    return (SIMD16(lowHalf: a.0, highHalf: b.0), SIMD16(lowHalf: a.1, highHalf: b.1), SIMD16(lowHalf: a.2, highHalf: b.2),
            SIMD16(lowHalf: a.3, highHalf: b.3))
}
#endif

#endif
