import SwapMoECore
// GEMV over quantized rows, the float path (QuantBlocks.swift): where the integer path (QuantGEMV+Integer.swift)
// is not built (the library build, non-x86 CPUs), and as its comparison in the benchmarks. Weights are
// dequantized in registers and multiplied with the f32 x, never written out. Per block (or 32-element sub-block)
// the kernels form p = Σ q·x over SIMD16 lanes and then fold the block scale in once: acc += d · p; the types with
// mins add them as m · Σ_{k in block} x[k] (q4_1, q5_1) or subtract dmin · Σ_j m_j · Σ_{k in sub-block j} x[k]
// (q4_K, q5_K), with the 32-element sums of x computed once per call.
//
// Every row is reduced by the same code in the same order (blocks in index order, fixed accumulators, fixed
// tree), so a row's result depends only on its bytes and x, never on the thread split. The result differs
// from `gemvReference` (dequantize, then index-order f32 dot) only by f32 rounding order, x is used as is.
// With S = Σ_k (|d q_k| + |m_k|) |x_k| (m_k the K-type min offset, rounded on its own), the reference is within
// n·2^-24·S of the exact dot and this kernel within (n/16 + 8)·2^-24·S (a few sequential adds per lane, a
// 4-level tree), so they differ by at most ~1.07·n·2^-24·S; random-sign rounding grows like √n instead, and the
// tests allow 2e-5·S (QuantKernelTests.swift), as the float GEMV tests do.

/// W (d,n) quantized @ x (n,) -> y (d,), rows `rows` (see `gemv`).
func gemvQuantRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                   _ x: UnsafePointer<Float>, n: Int, rows: Range<Int>,
                   bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = type.rowBytes(n), nb = n / type.blockSize
    switch type {
    case .q8_0:
        for i in rows { storeRow(y, i, dotQ8_0(w + i &* rowBytes, x, blocks: nb), bias, accumulate) }
    case .mxfp4:
        for i in rows { storeRow(y, i, dotMXFP4(w + i &* rowBytes, x, blocks: nb), bias, accumulate) }
    case .iq4_nl:
        for i in rows { storeRow(y, i, dotIQ4NL(w + i &* rowBytes, x, blocks: nb), bias, accumulate) }
    case .iq4_xs:
        for i in rows { storeRow(y, i, dotIQ4XS(w + i &* rowBytes, x, blocks: nb), bias, accumulate) }
    case .iq4_nlx8:
        interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) { dotIQ4NL($0, x, blocks: nb) }
    case .iq4_xsx8:
        interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) { dotIQ4XS($0, x, blocks: nb) }
    case .q4_0, .q4_1, .q5_0, .q5_1, .q4_1x8, .q5_1x8:
        // Σ (d q + m) x = d Σ q x + m Σ x: the block sums of x once per call, for the types with a min.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: n / 32) { buf in
            if NibbleBlock(type.plain).min != nil { subBlockSums(buf.baseAddress!, x, n: n) }
            let xsum = UnsafePointer(buf.baseAddress!)
            // One call per type, so that each loop is compiled for its constant layout.
            switch type {
            case .q4_0: nibbleRows(y, w, x, nil, NibbleBlock(.q4_0), rowBytes: rowBytes, blocks: nb, rows: rows,
                                   bias: bias, accumulate: accumulate)
            case .q4_1: nibbleRows(y, w, x, xsum, NibbleBlock(.q4_1), rowBytes: rowBytes, blocks: nb, rows: rows,
                                   bias: bias, accumulate: accumulate)
            case .q5_0: nibbleRows(y, w, x, nil, NibbleBlock(.q5_0), rowBytes: rowBytes, blocks: nb, rows: rows,
                                   bias: bias, accumulate: accumulate)
            case .q4_1x8, .q5_1x8:
                let l = NibbleBlock(type.plain)
                interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) { dotNibbles($0, x, xsum, l, blocks: nb) }
            default: nibbleRows(y, w, x, xsum, NibbleBlock(.q5_1), rowBytes: rowBytes, blocks: nb, rows: rows,
                                bias: bias, accumulate: accumulate)
            }
        }
    case .q4_K, .q5_K, .q4_Kx8, .q5_Kx8:
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 &+ n / 32) { buf in
            let scratch = buf.baseAddress!, xsum = scratch + 16
            subBlockSums(xsum, x, n: n)
            if type == .q4_Kx8 {
                interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) {
                    dotQ4_K($0, x, xsum, scratch, blocks: nb, q5: false)
                }
            } else if type == .q5_Kx8 {
                interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) {
                    dotQ4_K($0, x, xsum, scratch, blocks: nb, q5: true)
                }
            } else if type == .q4_K {
                for i in rows { storeRow(y, i, dotQ4_K(w + i &* rowBytes, x, xsum, scratch, blocks: nb, q5: false), bias, accumulate) }
            } else {
                for i in rows { storeRow(y, i, dotQ4_K(w + i &* rowBytes, x, xsum, scratch, blocks: nb, q5: true), bias, accumulate) }
            }
        }
    case .q2_K, .q3_K, .q2_Kx8, .q3_Kx8:
        // q2_K's mins take the 16-element sums of x, once per call.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 &+ n / 16) { buf in
            let scratch = buf.baseAddress!, xsum = scratch + 16
            if type == .q2_Kx8 || type == .q3_Kx8 {
                let q3 = type == .q3_Kx8
                if !q3 { groupSums16(xsum, x, n: n) }
                interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) {
                    dotQ23K($0, x, q3 ? nil : xsum, scratch, blocks: nb, q3: q3)
                }
            } else if type == .q2_K {
                groupSums16(xsum, x, n: n)
                for i in rows { storeRow(y, i, dotQ23K(w + i &* rowBytes, x, xsum, scratch, blocks: nb, q3: false), bias, accumulate) }
            } else {
                for i in rows { storeRow(y, i, dotQ23K(w + i &* rowBytes, x, nil, scratch, blocks: nb, q3: true), bias, accumulate) }
            }
        }
    case .q6_K:
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buf in
            for i in rows { storeRow(y, i, dotQ6_K(w + i &* rowBytes, x, buf.baseAddress!, blocks: nb), bias, accumulate) }
        }
    case .q4_0x8:
        interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) {
            dotNibbles($0, x, nil, NibbleBlock(.q4_0), blocks: nb)
        }
    case .q8_0x8:
        interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) { dotQ8_0($0, x, blocks: nb) }
    case .mxfp4x8:
        interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) { dotMXFP4($0, x, blocks: nb) }
    case .q5_0x8:
        interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) {
            dotNibbles($0, x, nil, NibbleBlock(.q5_0), blocks: nb)
        }
    case .q6_Kx8:
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 16) { buf in
            interleavedRowsFloat(y, w, type, n: n, rows: rows, bias: bias, accumulate: accumulate) { dotQ6_K($0, x, buf.baseAddress!, blocks: nb) }
        }
    case .f32, .f16, .bf16:
        preconditionFailure("float rows go through gemvRows")
    }
}

@inline(__always)
func nibbleRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ x: UnsafePointer<Float>,
                _ xsum: UnsafePointer<Float>?, _ l: NibbleBlock, rowBytes: Int, blocks nb: Int, rows: Range<Int>,
                bias: UnsafePointer<Float>?, accumulate: Bool) {
    for i in rows { storeRow(y, i, dotNibbles(w + i &* rowBytes, x, xsum, l, blocks: nb), bias, accumulate) }
}

/// Rows two at a time: row k of the first half of `rows` with row k of the second (`pair(w_k, apart)`), so that
/// each of the two reads walks its half in order (pairs of neighbouring rows made the hardware prefetcher
/// restart at every pair: 0.6x on rows streamed from DRAM); an odd last row alone (`one`). `pair` must form each
/// row as `one` does, so that a row's result does not depend on the split.
@inline(__always)
func rowPairs(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
              bias: UnsafePointer<Float>?, accumulate: Bool,
              pair: (_ w: UnsafeRawPointer, _ apart: Int) -> (Float, Float), one: (UnsafeRawPointer) -> Float) {
    let half = rows.count / 2, apart = half &* rowBytes
    for i in rows.lowerBound..<(rows.lowerBound &+ half) {
        let (a, b) = pair(w + i &* rowBytes, apart)
        storeRow(y, i, a, bias, accumulate); storeRow(y, i &+ half, b, bias, accumulate)
    }
    if rows.count % 2 == 1 {
        let i = rows.upperBound &- 1
        storeRow(y, i, one(w + i &* rowBytes), bias, accumulate)
    }
}

@inline(__always)
func storeRow(_ y: UnsafeMutablePointer<Float>, _ i: Int, _ v: Float, _ bias: UnsafePointer<Float>?, _ accumulate: Bool) {
    var r = v
    if let bias { r += bias[i] }
    if accumulate { y[i] += r } else { y[i] = r }
}

/// x (n,) -> xsum (n/32,): xsum[j] = Σ x[32j ..< 32j + 32] (two SIMD16 loads, fixed tree).
@inline(__always)
func subBlockSums(_ xsum: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, n: Int) {
    var j = 0
    while j &* 32 < n {
        xsum[j] = hsum(loadF32x16(x, 32 &* j) + loadF32x16(x, 32 &* j &+ 16))
        j &+= 1
    }
}

/// x (n,) -> xsum (n/16,): xsum[g] = Σ x[16g ..< 16g + 16] (q2_K's mins).
@inline(__always)
func groupSums16(_ xsum: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, n: Int) {
    var g = 0
    while g &* 16 < n {
        xsum[g] = hsum(loadF32x16(x, 16 &* g))
        g &+= 1
    }
}

// MARK: Row kernels: dot(W[i,:], x) for one quantized row of `blocks` blocks (the K-types': QuantGEMV+KQuants.swift).

/// The scale of a 32-weight block: the f16 at its first byte (every type but MXFP4).
@inline(__always)
func f16Scale(_ block: UnsafeRawPointer) -> Float { f16ToFloat(block.loadUnaligned(as: UInt16.self)) }

/// The block loop of the 32-weight types (scale d first, `scale` reads it): `values` unpacks block b's codes as
/// two vectors of 16 floats (elements 0..<16, 16..<32); p = Σ q x (32 lanes folded to 16), acc += d p. With `xsum`
/// (the block sums of x), the block has an f16 min m at byte `minOffset` and weights d q + m: mins += m xsum[b].
@inline(__always)
func dotBlocks32(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks nb: Int, blockBytes: Int,
                 xsum: UnsafePointer<Float>? = nil, minOffset: Int = 0, scale: (UnsafeRawPointer) -> Float = f16Scale,
                 _ values: (UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>)) -> Float {
    var mins: Float = 0
    @inline(__always) func step(_ a: inout SIMD16<Float>, _ b: Int) {
        let blk = w + b &* blockBytes, xb = x + b &* 32
        let (q0, q1) = values(blk)
        var p = q0 * loadF32x16(xb, 0)
        p.madd(q1, loadF32x16(xb, 16))
        a.madd(SIMD16(repeating: scale(blk)), p)
        if let xsum { mins += f16ToFloat(blk.loadUnaligned(fromByteOffset: minOffset, as: UInt16.self)) * xsum[b] }
    }
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    var b = 0
    while b &+ 2 <= nb { step(&a0, b); step(&a1, b &+ 1); b &+= 2 }
    if b < nb { step(&a0, b) }
    return xsum == nil ? hsum(a0 + a1) : hsum(a0 + a1) + mins
}

/// w (n,) q8_0 . x (n,) -> Float: the 32 signed bytes.
@inline(__always)
func dotQ8_0(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks nb: Int) -> Float {
    dotBlocks32(w, x, blocks: nb, blockBytes: 34) { (int8sToFloat16($0, 2), int8sToFloat16($0, 18)) }
}

/// w (n,) MXFP4 . x (n,) -> Float: the E2M1 values (times 2) and the E8M0 scale (halved, `e8m0Half`).
@inline(__always)
func dotMXFP4(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks nb: Int) -> Float {
    dotBlocks32(w, x, blocks: nb, blockBytes: 17, scale: { e8m0Half($0.load(as: UInt8.self)) }) { mxfp4Values32($0) }
}

/// w (n,) IQ4_NL . x (n,) -> Float: the levels of the codes (`iq4Values32`) and the f16 scale.
@inline(__always)
func dotIQ4NL(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks nb: Int) -> Float {
    dotBlocks32(w, x, blocks: nb, blockBytes: 18) { iq4Values32($0 + 2) }
}

/// w (n,) q4_0 / q4_1 / q5_0 / q5_1 (layout `l`) . x (n,) -> Float: codes minus the bias (q4_0, q5_0), or, with
/// `xsum` = subBlockSums(x), the codes and the min term m Σ x (q4_1, q5_1).
@inline(__always)
func dotNibbles(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ xsum: UnsafePointer<Float>?, _ l: NibbleBlock,
                blocks nb: Int) -> Float {
    let bias = Float(l.bias)
    return dotBlocks32(w, x, blocks: nb, blockBytes: l.bytes, xsum: xsum, minOffset: l.min ?? 0) { blk in
        let (q0, q1) = nibbleCodes(blk, l)
        return (smallIntsToFloat(q0, minus: bias), smallIntsToFloat(q1, minus: bias))
    }
}
