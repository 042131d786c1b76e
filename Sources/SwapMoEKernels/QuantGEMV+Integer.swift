import SwapMoECore
// GEMV over quantized rows on integers (x86 with AVX2; elsewhere QuantGEMV.swift's float path): x is quantized
// once per call (QuantActivations.swift), and each row's weights are unpacked to bytes in registers and
// multiplied with the activation bytes by `vpmaddubsw` (32 products, pairs summed to Int16) and `vpmaddwd`
// (pairs summed to Int32, times the sub-block scales where a type has them), so one float multiply-add is left
// per 32 weights (the 32-weight types; q4_1 / q5_1 add one for their min) or per 256 (K-types,
// QuantGEMV+IntegerKQuants.swift). The arithmetic is that of llama.cpp's `ggml_vec_dot_*_q8_*` kernels: the result
// is Σ_k w_k d_x q_x,k, the f32 dot of the dequantized weights with x̂ = d_x q_x, where |x - x̂| <= ~|d_x| / 2 per
// element (QuantActivations.swift); the integer parts are exact, only the per-block float terms round.
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
/// type's `activationBlock`. Never inlined: inside `gemv`'s body the optimizer ran out of budget for the row
/// kernels and left even their loads as calls (3x slower).
@inline(never)
func gemvQuantRowsInteger(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                          _ xq: QuantizedActivations, n: Int, rows: Range<Int>,
                          bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = type.rowBytes(n), nb = n / type.blockSize
    switch type {
    // Every type two rows at a time (`rowPairs`; for the 32-weight types inside `blocks32Rows`): each row a stream
    // of its own, the activation blocks read once for both (1.2-1.4x on rows streamed from DRAM, one thread). One case
    // per type, so that each loop is compiled for its constant layout; the 256-weight types' loops are functions of
    // their own (never inlined): with all of them in this one, the optimizer's budget ran out again and left
    // `loadUnaligned` as a call in the q4_K loop (one-thread q4_K decode 0.75x, 2026-12-04).
    case .q8_0: blocks32Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate,
                             blockBytes: 34, dot: q8_0Block)
    case .mxfp4:
        let table = mxfp4Table
        blocks32Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate,
                     blockBytes: 17, scale: { e8m0Half($0.load(as: UInt8.self)) }) { levelBlock(table, $0 + 1, $1) }
    case .iq4_nl:
        let table = iq4nlTable
        blocks32Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate,
                     blockBytes: 18) { levelBlock(table, $0 + 2, $1) }
    case .q4_0: nibbleRowsInteger(y, w, xq, NibbleBlock(.q4_0), rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q4_1: nibbleRowsInteger(y, w, xq, NibbleBlock(.q4_1), rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q5_0: nibbleRowsInteger(y, w, xq, NibbleBlock(.q5_0), rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q5_1: nibbleRowsInteger(y, w, xq, NibbleBlock(.q5_1), rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .iq4_xs: iq4XSRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q2_K: q23KRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, q3: false)
    case .q3_K: q23KRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, q3: true)
    case .q4_K: q45KRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, q5: false)
    case .q5_K: q45KRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, q5: true)
    case .q6_K: q6KRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q4_Kx8: q4KX8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q4_0x8: q40X8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q8_0x8: q80X8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .mxfp4x8:
        #if SWAPMOE_AVX512 && SWAPMOE_VNNI && SWAPMOE_VBMI
        mxfp4X8VNNIRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
        #else
        mxfp4X8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
        #endif
    case .q5_0x8: q50X8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q4_1x8: q41X8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q5_1x8: q51X8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q5_Kx8: q5KX8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .iq4_nlx8: iq4NLX8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .iq4_xsx8: iq4XSX8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q3_Kx8: q3KX8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q2_Kx8: q2KX8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .q6_Kx8: q6KX8Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate)
    case .f32, .f16, .bf16: preconditionFailure("float rows go through gemvRows")
    }
}

/// Rows four at a time, row k of each quarter of `rows` together (`quad(w_k, apart)`: four streams the
/// prefetcher follows, as in `rowPairs`, QuantGEMV.swift), the last `rows.count % 4` alone (`one`). `quad` must form each row as
/// `one` does.
@inline(__always)
func rowQuads(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
              bias: UnsafePointer<Float>?, accumulate: Bool,
              quad: (_ w: UnsafeRawPointer, _ apart: Int) -> (Float, Float, Float, Float), one: (UnsafeRawPointer) -> Float) {
    let quarter = rows.count / 4, apart = quarter &* rowBytes
    for i in rows.lowerBound..<(rows.lowerBound &+ quarter) {
        let r = quad(w + i &* rowBytes, apart)
        storeRow(y, i, r.0, bias, accumulate); storeRow(y, i &+ quarter, r.1, bias, accumulate)
        storeRow(y, i &+ 2 &* quarter, r.2, bias, accumulate); storeRow(y, i &+ 3 &* quarter, r.3, bias, accumulate)
    }
    for i in (rows.lowerBound &+ 4 &* quarter)..<rows.upperBound { storeRow(y, i, one(w + i &* rowBytes), bias, accumulate) }
}

@inline(__always)
func int32sToFloat8(_ v: SIMD8<Int32>) -> SIMD8<Float> {
    SIMD8<Float>(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3]), Float(v[4]), Float(v[5]), Float(v[6]), Float(v[7]))
}

@inline(__always)
func int32sToFloat4(_ v: SIMD4<Int32>) -> SIMD4<Float> { SIMD4<Float>(Float(v[0]), Float(v[1]), Float(v[2]), Float(v[3])) }

@inline(__always)
func bytes32<T: SIMD>(_ v: T) -> SIMD32<UInt8> { unsafeBitCast(v, to: SIMD32<UInt8>.self) }

/// The block loop of the 32-weight types (scale first: an f16, or MXFP4's E8M0 through `scale`): `dot` gives block
/// b's 8 Int32 partial sums of q_w q_x; acc += (d_w d_x) Σ, two accumulators. With `minOffset` (q4_1, q5_1: weights
/// d_w q_w + m), the f16 m at that byte adds m (d_x Σ_k q_x,k), the activations' block sum (which llama.cpp's q8_1
/// blocks store as an f16; here it is the f32 product of d_x and the exact integer sum).
struct Blocks32Row {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), mins: Float = 0

    /// Block b of the row at `w` into accumulator `second ? a1 : a0`.
    @inline(__always)
    mutating func step(_ w: UnsafeRawPointer, _ b: Int, second: Bool, _ xq: QuantizedActivations, qx: SIMD32<Int8>,
                       blockBytes: Int, minOffset: Int?, scale: (UnsafeRawPointer) -> Float,
                       _ dot: (_ block: UnsafeRawPointer, _ qx: SIMD32<Int8>) -> SIMD8<Int32>) {
        let blk = w + b &* blockBytes
        let dd = SIMD8<Float>(repeating: scale(blk) * xq.scale[b])
        if second { a1.madd(dd, int32sToFloat8(dot(blk, qx))) } else { a0.madd(dd, int32sToFloat8(dot(blk, qx))) }
        if let minOffset { mins += f16ToFloat(blk.loadUnaligned(fromByteOffset: minOffset, as: UInt16.self)) * xq.blockSums[b] }
    }

    @inline(__always)
    func total(_ withMins: Bool) -> Float { withMins ? hsum(a0 + a1) + mins : hsum(a0 + a1) }
}

@inline(__always)
func activationBlock32(_ xq: QuantizedActivations, _ b: Int) -> SIMD32<Int8> {
    UnsafeRawPointer(xq.q + 32 &* b).loadUnaligned(as: SIMD32<Int8>.self)
}

@inline(__always)
func dotBlocks32Integer(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, blockBytes: Int,
                        minOffset: Int? = nil, scale: (UnsafeRawPointer) -> Float = f16Scale,
                        _ dot: (_ block: UnsafeRawPointer, _ qx: SIMD32<Int8>) -> SIMD8<Int32>) -> Float {
    var r = Blocks32Row()
    for b in 0..<nb {
        r.step(w, b, second: b % 2 == 1, xq, qx: activationBlock32(xq, b), blockBytes: blockBytes, minOffset: minOffset, scale: scale, dot)
    }
    return r.total(minOffset != nil)
}

/// Two rows at `w` and `w + apart` at once (`rowPairs`), each formed as `dotBlocks32Integer` forms it.
@inline(__always)
func dotBlocks32Integer2(_ w: UnsafeRawPointer, apart: Int, _ xq: QuantizedActivations, blocks nb: Int, blockBytes: Int,
                         minOffset: Int? = nil, scale: (UnsafeRawPointer) -> Float = f16Scale,
                         _ dot: (_ block: UnsafeRawPointer, _ qx: SIMD32<Int8>) -> SIMD8<Int32>) -> (Float, Float) {
    var r0 = Blocks32Row(), r1 = Blocks32Row()
    for b in 0..<nb {
        let qx = activationBlock32(xq, b), second = b % 2 == 1
        r0.step(w, b, second: second, xq, qx: qx, blockBytes: blockBytes, minOffset: minOffset, scale: scale, dot)
        r1.step(w + apart, b, second: second, xq, qx: qx, blockBytes: blockBytes, minOffset: minOffset, scale: scale, dot)
    }
    return (r0.total(minOffset != nil), r1.total(minOffset != nil))
}

/// Rows of a 32-weight type, two at a time (`rowPairs`).
@inline(__always)
func blocks32Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int,
                  blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool, blockBytes: Int,
                  minOffset: Int? = nil, scale: (UnsafeRawPointer) -> Float = f16Scale,
                  dot: (_ block: UnsafeRawPointer, _ qx: SIMD32<Int8>) -> SIMD8<Int32>) {
    rowPairs(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
             pair: { dotBlocks32Integer2($0, apart: $1, xq, blocks: nb, blockBytes: blockBytes, minOffset: minOffset, scale: scale, dot) },
             one: { dotBlocks32Integer($0, xq, blocks: nb, blockBytes: blockBytes, minOffset: minOffset, scale: scale, dot) })
}

/// w (n,) q8_0 . x̂ -> Float: |q_w| times q_x with q_w's sign (`vpsignb`), so the unsigned-by-signed
/// `vpmaddubsw` forms q_w q_x (|q_w| <= 128, |q_x| <= 127: no saturation).
@inline(__always)
func q8_0Block(_ blk: UnsafeRawPointer, _ qx: SIMD32<Int8>) -> SIMD8<Int32> {
    let qw = blk.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self)
    return maddWd(maddUbsSw(bytes32(signBytes(qw, qw)), signBytes(qx, qw)), SIMD16<Int16>(repeating: 1))
}

/// The 32 codes in the 16 bytes at `codes` (low nibbles first) looked up in a table of 16 signed levels (given in
/// both 16-byte halves of `table`: `vpshufb` looks up within each half).
@inline(__always)
func nibbleLevels(_ table: SIMD32<UInt8>, _ codes: UnsafeRawPointer) -> SIMD32<Int8> {
    let m4 = SIMD4<UInt32>(repeating: 0x0F0F_0F0F), u = codes.loadUnaligned(as: SIMD4<UInt32>.self)
    return unsafeBitCast(shuffleBytes(table, bytes32(SIMD8(lowHalf: u & m4, highHalf: (u &>> 4) & m4))), to: SIMD32<Int8>.self)
}

/// Σ v q_x over 32 signed levels v (|v| <= 127) as 16 Int16 pair sums: |v| times q_x with v's sign (`vpsignb`),
/// so the unsigned-by-signed `vpmaddubsw` forms v q_x without saturating (2 * 127 * 127 < 2^15).
@inline(__always)
func levelProducts(_ v: SIMD32<Int8>, _ qx: SIMD32<Int8>) -> SIMD16<Int16> { maddUbsSw(bytes32(signBytes(v, v)), signBytes(qx, v)) }

/// mxfp4Values (times 2) and iq4nlValues as `vpshufb` tables.
let mxfp4Table = bytes32(SIMD4<UInt64>(0x0C08_0604_0302_0100, 0xF4F8_FAFC_FDFE_FF00, 0x0C08_0604_0302_0100, 0xF4F8_FAFC_FDFE_FF00))
let iq4nlTable = bytes32(SIMD4<UInt64>(0xF6EA_DDCF_BFAD_9881, 0x7159_4535_2619_0D01, 0xF6EA_DDCF_BFAD_9881, 0x7159_4535_2619_0D01))

/// One block of MXFP4 (E2M1 values times 2, |v| <= 12; the E8M0 scale halved) or IQ4_NL (the IQ4 levels, an f16
/// scale) at `codes` . q_x: each nibble looked up in `table`, then multiplied as q8_0's signed bytes.
@inline(__always)
func levelBlock(_ table: SIMD32<UInt8>, _ codes: UnsafeRawPointer, _ qx: SIMD32<Int8>) -> SIMD8<Int32> {
    maddWd(levelProducts(nibbleLevels(table, codes), qx), SIMD16<Int16>(repeating: 1))
}

/// One IQ4_XS super-block at `blk` (the step of a row): Σ_ib sc_ib Σ_{k in ib} v_k q_x,k in Int32 (`vpmaddwd` with
/// the broadcast sub-block scale, -32...31), times d_w d_x into `acc`.
@inline(__always)
func iq4XSStep(_ acc: inout SIMD8<Float>, _ table: SIMD32<UInt8>, _ blk: UnsafeRawPointer, _ qx: UnsafeRawPointer, dx: Float) {
    var sumi = SplitSums<SIMD8<Int32>>()
    for ib in 0..<8 {
        let p = levelProducts(nibbleLevels(table, blk + (8 &+ 16 &* ib)), qx.loadUnaligned(fromByteOffset: 32 &* ib, as: SIMD32<Int8>.self))
        sumi.add(maddWd(SIMD16(repeating: Int16(iq4xsScale(blk, ib))), p), ib)
    }
    acc.madd(SIMD8(repeating: dx * f16ToFloat(blk.loadUnaligned(as: UInt16.self))), int32sToFloat8(sumi.total))
}

/// w (n,) IQ4_XS . x̂ (blocks of 256) -> Float: per super-block `iq4XSStep`.
@inline(__always)
func dotIQ4XSInteger(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int) -> Float {
    let table = iq4nlTable
    var acc = SIMD8<Float>()
    for b in 0..<nb { iq4XSStep(&acc, table, w + b &* 136, UnsafeRawPointer(xq.q + 256 &* b), dx: xq.scale[b]) }
    return hsum(acc)
}

/// Two IQ4_XS rows at `w` and `w + apart` at once (`rowPairs`), each formed as `dotIQ4XSInteger` forms it.
@inline(__always)
func dotIQ4XSInteger2(_ w: UnsafeRawPointer, apart: Int, _ xq: QuantizedActivations, blocks nb: Int) -> (Float, Float) {
    let table = iq4nlTable
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
    for b in 0..<nb {
        let b0 = w + b &* 136, qx = UnsafeRawPointer(xq.q + 256 &* b), dx = xq.scale[b]
        iq4XSStep(&a0, table, b0, qx, dx: dx)
        iq4XSStep(&a1, table, b0 + apart, qx, dx: dx)
    }
    return (hsum(a0), hsum(a1))
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

/// Rows of q4_0 / q4_1 / q5_0 / q5_1 . x̂: Σ q q_x with q the unsigned codes (`vpmaddubsw`, q <= 31); the
/// symmetric types subtract bias Σ q_x in the same Int16 lanes as `vpmaddubsw`(bias, q_x) (both exact), the
/// types with a min add m d_x Σ q_x per block (`Blocks32Row`).
@inline(__always)
func nibbleRowsInteger(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, _ l: NibbleBlock,
                       rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let ones = SIMD16<Int16>(repeating: 1), offset = SIMD32<UInt8>(repeating: UInt8(l.bias))
    blocks32Rows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate,
                 blockBytes: l.bytes, minOffset: l.min) { blk, qx in
        let p = maddUbsSw(nibbleCodeBytes(blk, l), qx)
        return maddWd(l.bias == 0 ? p : p &- maddUbsSw(offset, qx), ones)
    }
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
