import SwapMoECore
// GEMV over quantized rows on integers (x86 with AVX2; elsewhere QuantGEMV.swift's float path): x is quantized
// once per call (QuantActivations.swift), and each row's weights are unpacked to bytes in registers and
// multiplied with the activation bytes by `vpmaddubsw` (32 products, pairs summed to Int16) and `vpmaddwd`
// (pairs summed to Int32, times the sub-block scales where a type has them), so one float multiply-add is left
// per 32 weights (the 32-weight types; q4_1 / q5_1 add one for their min) or per 256 (K-types). The arithmetic is that of llama.cpp's `ggml_vec_dot_*_q8_*`
// kernels: the result is Σ_k w_k d_x q_x,k, the f32 dot of the dequantized weights with x̂ = d_x q_x, where
// |x - x̂| <= ~|d_x| / 2 per element (QuantActivations.swift); the integer parts are exact, only the per-block float terms round.
//
// Every row is reduced by the same code in the same order, so results are identical for any thread split.
// `gemvQuantIntegerReference` computes the same sum one element at a time (QuantKernelTests.swift compares).
/// Whether this build's quantized GEMV takes the integer path (x86 with AVX2 and unsafe flags) or the float one.
#if SWAPMOE_X86_INTRINSICS
public let quantizedGEMVUsesIntegerDots = true
#else
public let quantizedGEMVUsesIntegerDots = false
#endif

#if SWAPMOE_X86_INTRINSICS

/// W (d,n) quantized @ x̂ -> y (d,), rows `rows` (see `gemv`); `xq` from `quantizeActivations` with the
/// type's `activationBlock`.
func gemvQuantRowsInteger(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                          _ xq: QuantizedActivations, n: Int, rows: Range<Int>,
                          bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = type.rowBytes(n), nb = n / type.blockSize
    switch type {
    case .q8_0: for i in rows { storeRow(y, i, dotQ8_0Integer(w + i &* rowBytes, xq, blocks: nb), bias, accumulate) }
    // One case per type, so that each loop is compiled for its constant layout.
    case .q4_0: for i in rows { storeRow(y, i, dotNibblesInteger(w + i &* rowBytes, xq, NibbleBlock(.q4_0), blocks: nb), bias, accumulate) }
    case .q4_1: for i in rows { storeRow(y, i, dotNibblesInteger(w + i &* rowBytes, xq, NibbleBlock(.q4_1), blocks: nb), bias, accumulate) }
    case .q5_0: for i in rows { storeRow(y, i, dotNibblesInteger(w + i &* rowBytes, xq, NibbleBlock(.q5_0), blocks: nb), bias, accumulate) }
    case .q5_1: for i in rows { storeRow(y, i, dotNibblesInteger(w + i &* rowBytes, xq, NibbleBlock(.q5_1), blocks: nb), bias, accumulate) }
    case .q4_K: for i in rows { storeRow(y, i, dotQ4_KInteger(w + i &* rowBytes, xq, blocks: nb, q5: false), bias, accumulate) }
    case .q5_K: for i in rows { storeRow(y, i, dotQ4_KInteger(w + i &* rowBytes, xq, blocks: nb, q5: true), bias, accumulate) }
    case .q6_K: for i in rows { storeRow(y, i, dotQ6_KInteger(w + i &* rowBytes, xq, blocks: nb), bias, accumulate) }
    case .f32, .f16, .bf16: preconditionFailure("float rows go through gemvRows")
    }
}

@inline(__always)
func int32sToFloat8(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    SIMD8<Float>(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]))
}

@inline(__always)
func bytes32<T: SIMD>(_ v: T) -> SIMD32<UInt8> { unsafeBitCast(v, to: SIMD32<UInt8>.self) }

/// The block loop of the 32-weight types (f16 scale first): `dot` gives block b's 8 Int32 partial sums of
/// q_w q_x; acc += (d_w d_x) Σ, two accumulators. With `minOffset` (q4_1, q5_1: weights d_w q_w + m), the f16 m
/// at that byte adds m (d_x Σ_k q_x,k), the activations' block sum (which llama.cpp's q8_1 blocks store as an
/// f16; here it is the f32 product of d_x and the exact integer sum).
@inline(__always)
func dotBlocks32Integer(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, blockBytes: Int,
                        minOffset: Int? = nil,
                        _ dot: (_ block: UnsafeRawPointer, _ qx: SIMD32<Int8>) -> SIMD8<Int32>) -> Float {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), mins: Float = 0
    @inline(__always) func step(_ a: inout SIMD8<Float>, _ b: Int) {
        let blk = w + b &* blockBytes
        let qx = UnsafeRawPointer(xq.q + 32 &* b).loadUnaligned(as: SIMD32<Int8>.self)
        let dx = xq.scale[b]
        let dd = SIMD8<Float>(repeating: f16ToFloat(blk.loadUnaligned(as: UInt16.self)) * dx)
        a.madd(dd, int32sToFloat8(dot(blk, qx)))
        if let minOffset { mins += f16ToFloat(blk.loadUnaligned(fromByteOffset: minOffset, as: UInt16.self)) * xq.blockSums[b] }
    }
    var b = 0
    while b &+ 2 <= nb { step(&a0, b); step(&a1, b &+ 1); b &+= 2 }
    if b < nb { step(&a0, b) }
    return minOffset == nil ? hsum(a0 + a1) : hsum(a0 + a1) + mins
}

/// w (n,) q8_0 . x̂ -> Float: |q_w| times q_x with q_w's sign (`vpsignb`), so the unsigned-by-signed
/// `vpmaddubsw` forms q_w q_x (|q_w| <= 128, |q_x| <= 127: no saturation).
@inline(__always)
func dotQ8_0Integer(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> Float {
    let ones = SIMD16<Int16>(repeating: 1)
    return dotBlocks32Integer(w, xq, blocks: nb, blockBytes: 34) { blk, qx in
        let qw = blk.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self)
        return maddWd(maddUbsSw(bytes32(signBytes(qw, qw)), signBytes(qx, qw)), ones)
    }
}

/// The 32 codes of a q4_0 / q4_1 / q5_0 / q5_1 block as bytes in element order: 16 bytes of nibbles unpacked low
/// nibbles first, then for the 5-bit types bit i of qh as 16 in byte i (`fifthBitBytes`). Combined in 32-bit lanes
/// (the standard library's byte-vector operators compile to one byte at a time).
@inline(__always)
func nibbleCodeBytes(_ blk: UnsafeRawPointer, _ l: NibbleBlock) -> SIMD32<UInt8> {
    let m4 = SIMD4<UInt32>(repeating: 0x0F0F_0F0F)
    let u = blk.loadUnaligned(fromByteOffset: l.qs, as: SIMD4<UInt32>.self)
    var q = SIMD8(lowHalf: u & m4, highHalf: (u &>> 4) & m4)
    if let o = l.qh {
        q |= unsafeBitCast(fifthBitBytes(blk.loadUnaligned(fromByteOffset: o, as: UInt32.self)), to: SIMD8<UInt32>.self)
    }
    return bytes32(q)
}

/// w (n,) q4_0 / q4_1 / q5_0 / q5_1 . x̂ -> Float: Σ q q_x with q the unsigned codes (`vpmaddubsw`, q <= 31); the
/// symmetric types subtract bias Σ q_x in the same Int16 lanes as `vpmaddubsw`(bias, q_x) (both exact), the
/// types with a min add m d_x Σ q_x per block (`dotBlocks32Integer`).
@inline(__always)
func dotNibblesInteger(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, _ l: NibbleBlock, blocks nb: Int) -> Float {
    let ones = SIMD16<Int16>(repeating: 1), bias = SIMD32<UInt8>(repeating: UInt8(l.bias))
    return dotBlocks32Integer(w, xq, blocks: nb, blockBytes: l.bytes, minOffset: l.min) { blk, qx in
        let p = maddUbsSw(nibbleCodeBytes(blk, l), qx)
        return maddWd(l.bias == 0 ? p : p &- maddUbsSw(bias, qx), ones)
    }
}

/// The 6-bit (scale, min) pairs of a q4_K / q5_K super-block as bytes: scales[j], mins[j] for j = 0..<8,
/// unpacked from the 12 bytes at `s` with 32-bit masks (the layout of `kScaleMin`).
@inline(__always)
func kScalesMinsBytes(_ s: UnsafeRawPointer) -> (scales: SIMD8<UInt8>, mins: SIMD8<UInt8>) {
    let u0 = s.loadUnaligned(as: UInt32.self), u1 = s.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
    let u2 = s.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
    let six: UInt32 = 0x3F3F_3F3F, four: UInt32 = 0x0F0F_0F0F, two: UInt32 = 0x0303_0303
    let sc = SIMD2<UInt32>(u0 & six, (u2 & four) | (((u0 &>> 6) & two) &<< 4))
    let mn = SIMD2<UInt32>(u1 & six, ((u2 &>> 4) & four) | (((u1 &>> 6) & two) &<< 4))
    return (unsafeBitCast(sc, to: SIMD8<UInt8>.self), unsafeBitCast(mn, to: SIMD8<UInt8>.self))
}

/// w (n,) q4_K or q5_K . x̂ -> Float. Per super-block: Σ_j sc_j Σ_{k in j} q_k q_x,k in Int32 (`vpmaddwd` with
/// the broadcast scale), times d_w d_x once; the mins as - dmin d_x Σ_j m_j (Σ q_x over sub-block j), from the
/// activation sums. q5_K adds bit 2j (low nibbles) / 2j + 1 (high) of qh as the fifth bit.
@inline(__always)
func dotQ4_KInteger(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, q5: Bool) -> Float {
    let bb = q5 ? 176 : 144
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), bit = SIMD8<UInt32>(repeating: 0x0101_0101)
    var acc = SIMD8<Float>(), accMin = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* bb
        let dx = xq.scale[b]
        let d = dx * f16ToFloat(blk.loadUnaligned(as: UInt16.self))
        let dmin = -dx * f16ToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        let (sc, mn) = kScalesMinsBytes(blk + 4)
        let sums = UnsafeRawPointer(xq.sums + 16 &* b).loadUnaligned(as: SIMD16<Int16>.self)
        let mins = SIMD16<Int16>(Int16(mn[0]), Int16(mn[0]), Int16(mn[1]), Int16(mn[1]), Int16(mn[2]), Int16(mn[2]),
                                 Int16(mn[3]), Int16(mn[3]), Int16(mn[4]), Int16(mn[4]), Int16(mn[5]), Int16(mn[5]),
                                 Int16(mn[6]), Int16(mn[6]), Int16(mn[7]), Int16(mn[7]))
        accMin.madd(SIMD8(repeating: dmin), int32sToFloat8(maddWd(mins, sums)))
        let qs = blk + (q5 ? 48 : 16), qx = UnsafeRawPointer(xq.q + 256 &* b)
        let qh = q5 ? blk.loadUnaligned(fromByteOffset: 16, as: SIMD8<UInt32>.self) : SIMD8()
        var sumi = SIMD8<Int32>()
        for j in 0..<4 {
            let bits = qs.loadUnaligned(fromByteOffset: 32 &* j, as: SIMD8<UInt32>.self)
            var lo = bits & m4, hi = (bits &>> 4) & m4
            if q5 {
                lo |= ((qh &>> UInt32(2 &* j)) & bit) &<< 4
                hi |= ((qh &>> UInt32(2 &* j &+ 1)) & bit) &<< 4
            }
            let pl = maddUbsSw(bytes32(lo), qx.loadUnaligned(fromByteOffset: 64 &* j, as: SIMD32<Int8>.self))
            let ph = maddUbsSw(bytes32(hi), qx.loadUnaligned(fromByteOffset: 64 &* j &+ 32, as: SIMD32<Int8>.self))
            sumi &+= maddWd(SIMD16(repeating: Int16(sc[2 &* j])), pl) &+ maddWd(SIMD16(repeating: Int16(sc[2 &* j &+ 1])), ph)
        }
        acc.madd(SIMD8(repeating: d), int32sToFloat8(sumi))
    }
    return hsum(acc + accMin)
}

/// w (n,) q6_K . x̂ -> Float. Per super-block: Σ_g sc_g Σ_{k in g} (q_k - 32) q_x,k in Int32, with q (0..<64)
/// by `vpmaddubsw` and the -32 through the activation sums (- 32 Σ_g sc_g Σ_{k in g} q_x,k), times d_w d_x.
/// A 32-weight vector spans groups g, g + 1: `vpmaddubsw` lanes 0..<8 hold elements 0..<16, so the scale
/// vector is [sc_g x 8, sc_{g+1} x 8].
@inline(__always)
func dotQ6_KInteger(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> Float {
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD8<UInt32>(repeating: 0x0303_0303)
    var acc = SIMD8<Float>()
    for b in 0..<nb {
        let blk = w + b &* 210
        let d = xq.scale[b] * f16ToFloat(blk.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
        let s8 = blk.loadUnaligned(fromByteOffset: 192, as: SIMD16<Int8>.self)
        let sc = SIMD16<Int16>(Int16(s8[0]), Int16(s8[1]), Int16(s8[2]), Int16(s8[3]), Int16(s8[4]), Int16(s8[5]),
                               Int16(s8[6]), Int16(s8[7]), Int16(s8[8]), Int16(s8[9]), Int16(s8[10]), Int16(s8[11]),
                               Int16(s8[12]), Int16(s8[13]), Int16(s8[14]), Int16(s8[15]))
        let sums = UnsafeRawPointer(xq.sums + 16 &* b).loadUnaligned(as: SIMD16<Int16>.self)
        var sumi = SIMD8<Int32>() &- (maddWd(sc, sums) &<< 5)
        let qx = UnsafeRawPointer(xq.q + 256 &* b)
        for h in 0..<2 {
            let ql0 = blk.loadUnaligned(fromByteOffset: 64 &* h, as: SIMD8<UInt32>.self)
            let ql1 = blk.loadUnaligned(fromByteOffset: 64 &* h &+ 32, as: SIMD8<UInt32>.self)
            let qh = blk.loadUnaligned(fromByteOffset: 128 &+ 32 &* h, as: SIMD8<UInt32>.self)
            @inline(__always) func part(_ p: Int, _ q: SIMD8<UInt32>) {
                let g = 8 &* h &+ 2 &* p
                let scales = SIMD16(lowHalf: SIMD8(repeating: sc[g]), highHalf: SIMD8(repeating: sc[g &+ 1]))
                let x = qx.loadUnaligned(fromByteOffset: 128 &* h &+ 32 &* p, as: SIMD32<Int8>.self)
                sumi &+= maddWd(scales, maddUbsSw(bytes32(q), x))
            }
            part(0, (ql0 & m4) | ((qh & m2) &<< 4))
            part(1, (ql1 & m4) | (((qh &>> 2) & m2) &<< 4))
            part(2, ((ql0 &>> 4) & m4) | (((qh &>> 4) & m2) &<< 4))
            part(3, ((ql1 &>> 4) & m4) | (((qh &>> 6) & m2) &<< 4))
        }
        acc.madd(SIMD8(repeating: d), int32sToFloat8(sumi))
    }
    return hsum(acc)
}
#endif

// MARK: Scalar reference (tests): the same sum, one element at a time in index order.

/// W (d,n) quantized @ x̂ (n,) (+ b) -> y (d,): x̂ = `quantizeActivationsReference(x)` dequantized (d_x q_x), the
/// weights dequantized by `dequantizeRow`; what the integer GEMV computes, up to float rounding.
func gemvQuantIntegerReference(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                               _ x: UnsafePointer<Float>, d: Int, n: Int, bias: UnsafePointer<Float>? = nil,
                               accumulate: Bool = false) {
    let block = activationBlock(type)
    let (q, scale) = quantizeActivationsReference(x, n: n, block: block)
    let xhat = (0..<n).map { scale[$0 / block] * Float(q[$0]) }
    xhat.withUnsafeBufferPointer { gemvReference(y, w, type, $0.baseAddress!, d: d, n: n, bias: bias, accumulate: accumulate) }
}
