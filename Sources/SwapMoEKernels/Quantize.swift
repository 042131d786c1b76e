import Foundation   // log2f: the C library's, as llama.cpp's MXFP4 quantizer calls it
import SwapMoECore
// Quantizers: f32 rows -> GGUF blocks (layouts in QuantBlocks.swift), producing the bytes llama.cpp's reference
// quantizers produce (quantize_row_<type>_ref in ggml-quants.c, which llama-quantize uses when it has no
// importance matrix), so an archive we pack holds what a GGUF file of the same weights would hold.
//
// - Q8_0, Q4_0, Q5_0: one scale per 32 values, round to nearest; Q4_1, Q5_1: a scale and a min per 32 values
//   (the block's range in 15 or 31 steps), round to nearest; MXFP4: a power-of-two scale per 32 values, each
//   value the nearest of the 16 E2M1 levels (this file).
// - Q2_K: per 16-value sub-block an affine fit (codes 0...3) weighted by |x|; Q3_K: per 16 values a symmetric fit
//   (codes -4...3) refined one code at a time; then as the others below.
// - Q4_K, Q5_K: per 32-value sub-block an affine fit x ~ scale*q - offset searched to minimise a weighted squared
//   error; Q6_K: per 16 values a symmetric fit x ~ scale*q searched likewise; the sub-block scales are then
//   themselves quantized (6 bits against an f16 super-scale, or int8) and the codes recomputed from the stored
//   scales (Quantize+KQuants.swift, searches in Quantize+Search.swift).
// - IQ4_NL, IQ4_XS: codes index 16 non-uniform levels; per 32 values a weighted fit over 15 trial scales, IQ4_XS's
//   then quantized to 6 bits under an f16 super-scale (Quantize+IQ4.swift; llama-quantize's `quantize_iq4_*`).
//
// Determinism: every step is plain IEEE single-precision arithmetic in a fixed order (no FMA contraction, no
// reassociation), so output is the same on every machine and thread count.
//
// Non-finite and out-of-range input (our choice; llama.cpp leaves it undefined): before quantizing, NaN reads as
// 0 and every value is clamped to +-`type.quantizeLimit` (so +-Inf becomes the largest magnitude the type can
// hold); a computed f16 scale that would overflow saturates at 65504. Output blocks therefore never hold NaN or
// Inf, and dequantize to finite values, whatever the input. Values beyond what the block's scale can express
// saturate at the extreme code, as in llama.cpp.

extension WeightType {
    /// Largest input magnitude a block of this type can express (f16 max times the largest code and sub-scale);
    /// the quantizer clamps input to +-this, and reads NaN as 0. Only meaningful for the quantized types.
    public var quantizeLimit: Float {
        switch self {
        case .q8_0, .q8_0x8: 65504 * 127
        case .q4_0, .q4_0x8: 65504 * 8
        case .q5_0, .q5_0x8: 65504 * 16
        case .q4_1, .q5_1, .q4_1x8, .q5_1x8: 65504   // the min is an f16 itself: a block cannot reach below -65504
        case .q2_K, .q2_Kx8: 65504 * 15     // the lowest value is -dmin * 15
        case .mxfp4, .mxfp4x8: .greatestFiniteMagnitude   // a power-of-two scale up to 2^127: every finite value
        case .q3_K, .q3_Kx8: 65504 * 32 * 4
        case .q4_K, .q4_Kx8: 65504 * 63 * 15
        case .q5_K, .q5_Kx8: 65504 * 63 * 31
        case .q6_K, .q6_Kx8: 65504 * 128 * 32
        case .iq4_nl, .iq4_nlx8: 65504 * 127
        case .iq4_xs, .iq4_xsx8: 65504 * 32 * 127
        case .f32, .f16, .bf16: .greatestFiniteMagnitude
        }
    }
}

/// src (n,) f32 -> dst: `type.rowBytes(n)` bytes of `type` blocks. `n` must be a multiple of `type.blockSize`.
///
/// Pure function of its input: no shared state and no heap allocation (scratch lives on the stack), so rows of a
/// matrix can be quantized from any number of threads at once.
public func quantizeRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ type: WeightType, count n: Int) {
    precondition(type.isQuantized, "quantizeRow to float type \(type)")
    precondition(n >= 0 && n % type.blockSize == 0, "quantizeRow: \(n) values is not a whole number of \(type) blocks")
    let bs = type.blockSize, bb = type.blockBytes
    // One block of sanitized input, plus the K-quantizers' scratch.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 256 + KScratch.floats) { buf in
        let x = buf.baseAddress!
        let scratch = KScratch(x + 256)
        var b = 0
        while b &* bs < n {
            sanitizeBlock(src + b &* bs, x, count: bs, limit: type.quantizeLimit)
            let out = dst + b &* bb
            switch type {
            case .q8_0: quantizeQ8_0Block(x, out)
            case .q4_0, .q4_1, .q5_0, .q5_1: quantizeNibbleBlock(x, out, NibbleBlock(type))
            case .mxfp4: quantizeMXFP4Block(x, out)
            case .q2_K: quantizeQ2KBlock(x, out, scratch)
            case .q3_K: quantizeQ3KBlock(x, out, scratch)
            case .q4_K: quantizeQ45KBlock(x, out, bits: 4, scratch)
            case .q5_K: quantizeQ45KBlock(x, out, bits: 5, scratch)
            case .q6_K: quantizeQ6KBlock(x, out, scratch)
            case .iq4_nl: quantizeIQ4NLBlock(x, out)
            case .iq4_xs: quantizeIQ4XSBlock(x, out)
            case .q4_Kx8, .q5_Kx8, .q6_Kx8, .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .q3_Kx8, .q2_Kx8, .iq4_nlx8, .iq4_xsx8: preconditionFailure("quantizeRow to \(type): quantize to \(type.plain), then interleave the rows")
            case .f32, .f16, .bf16: preconditionFailure("unreachable")
            }
            b &+= 1
        }
    }
}

/// values (rows, cols) f32 -> the rows quantized to `type`, back to back (`rows * type.rowBytes(cols)` bytes).
/// `cols` must be a multiple of `type.blockSize` and divide `values.count` (the interleaved types: the rows a multiple of 8).
public func quantize(_ values: [Float], cols: Int, as type: WeightType) -> [UInt8] {
    precondition(cols > 0 && values.count % cols == 0, "quantize: \(values.count) values do not make rows of \(cols)")
    let rows = values.count / cols, rowBytes = type.rowBytes(cols)
    if type.rowGroup > 1 {
        let plain = quantize(values, cols: cols, as: type.plain)
        var out = [UInt8](repeating: 0, count: plain.count)
        plain.withUnsafeBytes { p in out.withUnsafeMutableBytes { interleave($0.baseAddress!, p.baseAddress!, as: type, rows: rows, cols: cols) } }
        return out
    }
    var out = [UInt8](repeating: 0, count: rows * rowBytes)
    values.withUnsafeBufferPointer { v in
        out.withUnsafeMutableBytes { o in
            for r in 0..<rows { quantizeRow(v.baseAddress! + r * cols, o.baseAddress! + r * rowBytes, type, count: cols) }
        }
    }
    return out
}

// MARK: - Shared helpers

/// src (n,) -> dst (n,): NaN -> 0, everything else clamped to [-limit, limit].
@inline(__always)
func sanitizeBlock(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count n: Int, limit: Float) {
    let lo = SIMD8<Float>(repeating: -limit), hi = SIMD8<Float>(repeating: limit)
    var i = 0
    while i < n {
        var v = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
        v.replace(with: 0, where: v .!= v)
        v.replace(with: lo, where: v .< lo)   // not clamped(): that is a generic per-lane loop here
        v.replace(with: hi, where: v .> hi)
        UnsafeMutableRawPointer(dst + i).storeBytes(of: v, as: SIMD8<Float>.self)
        i &+= 8
    }
}

/// f32 -> f16 bits, round to nearest even, NaN -> 0 and saturating at +-65504 instead of overflowing to Inf.
@inline(__always)
func f16Saturating(_ f: Float) -> UInt16 {
    let c: Float = f.isNaN ? 0 : (f > 65504 ? 65504 : (f < -65504 ? -65504 : f))
    return floatToF16(c)
}

/// Round half to even, as a Float: exact for |v| <= 2^22 (adding 1.5 * 2^23 leaves the integer part in the
/// mantissa; the same trick as llama.cpp's `nearest_int`, kept in float so it never traps and vectorizes).
@inline(__always)
func roundEven(_ v: Float) -> Float { (v + 12_582_912) - 12_582_912 }

/// `v` rounded half to even and clamped to [lo, hi]; NaN gives `lo`.
@inline(__always)
func code(_ v: Float, _ lo: Float, _ hi: Float) -> Float {
    let r = roundEven(v)
    let c = r > lo ? r : lo
    return c < hi ? c : hi
}

// MARK: - Q8_0 and Q4_0

/// x (32,) -> one Q8_0 block: d = max|x| / 127 (f16), q = round-half-away(x / d).
@inline(__always)
func quantizeQ8_0Block(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    var amax: Float = 0
    for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
    let d = amax / 127
    let id: Float = d != 0 ? 1 / d : 0
    out.storeBytes(of: f16Saturating(d), as: UInt16.self)
    for j in 0..<32 {
        let r = (x[j] * id).rounded(.toNearestOrAwayFromZero)
        let q = r > 127 ? 127 : (r < -127 ? -127 : r)
        out.storeBytes(of: Int8(q), toByteOffset: 2 &+ j, as: Int8.self)
    }
}

/// x (32,) -> one q4_0 / q5_0 / q4_1 / q5_1 block (layout `l`, QuantBlocks.swift), as llama.cpp's
/// `quantize_row_q{4,5}_{0,1}_ref` (codes qmax = 15, or 31 for the 5-bit types):
/// - symmetric (q4_0, q5_0): d = m / -h where m is the value of largest magnitude (first such) and h = 8 or 16,
///   codes q = min(qmax, trunc(x / d + h + 0.5)), so m itself maps to code 0 exactly;
/// - with a min (q4_1, q5_1): d = (max - min) / qmax, m = min, q = min(qmax, trunc((x - min) / d + 0.5)).
/// `1 / d` is taken of the f32 d (as llama.cpp does), which is then stored as f16.
@inline(__always)
func quantizeNibbleBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, _ l: NibbleBlock) {
    let qmax: Float = l.qh == nil ? 15 : 31
    let d: Float, offset: Float, add: Float
    if let mo = l.min {
        var lo = x[0], hi = x[0]
        for j in 1..<32 { lo = Swift.min(lo, x[j]); hi = Swift.max(hi, x[j]) }
        d = (hi - lo) / qmax
        offset = lo; add = 0.5
        out.storeBytes(of: f16Saturating(lo), toByteOffset: mo, as: UInt16.self)
    } else {
        var amax: Float = 0, m: Float = 0
        for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); m = x[j] }
        let h = Float(l.bias)
        d = m / -h
        offset = 0; add = h + 0.5
    }
    let id: Float = d != 0 ? 1 / d : 0
    out.storeBytes(of: f16Saturating(d), as: UInt16.self)
    @inline(__always) func q(_ v: Float) -> UInt8 {
        let t = (v - offset) * id + add
        return t >= qmax ? UInt8(qmax) : (t > 0 ? UInt8(t) : 0)   // truncation toward zero; NaN -> 0
    }
    var qh: UInt32 = 0
    for j in 0..<16 {
        let a = q(x[j]), b = q(x[j &+ 16])
        out.storeBytes(of: (a & 15) | (b << 4), toByteOffset: l.qs &+ j, as: UInt8.self)
        qh |= UInt32(a >> 4) << UInt32(j) | UInt32(b >> 4) << UInt32(j &+ 16)
    }
    if let o = l.qh { out.storeBytes(of: qh, toByteOffset: o, as: UInt32.self) }
}

/// x (32,) -> one MXFP4 block (e | qs[16]), as llama.cpp's `quantize_row_mxfp4_ref`: e = floor(log2(max|x|)) - 2 +
/// 127 (so max|x| / 2^(e-127) is in [4, 8), the top E2M1 levels 4 and 6), d = `e8m0Half(e)`, and each value the
/// first of the 16 levels (times 2, `mxfp4Values`) nearest to x / d, nibbles as for q4_0. (Blocks whose max|x| is
/// below 2^-125 get e = 0, where llama.cpp's conversion of a negative float to a byte is undefined.)
@inline(__always)
func quantizeMXFP4Block(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
    var amax: Float = 0
    for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]) }
    let exponent = amax > 0 ? floorf(log2f(amax)) - 2 + 127 : 0
    let e = UInt8(Swift.max(0, Swift.min(255, exponent)))
    let d = e8m0Half(e)
    out.storeBytes(of: e, as: UInt8.self)
    @inline(__always) func nearest(_ v: Float) -> UInt8 {
        var best: UInt8 = 0, bestErr = abs(Float(mxfp4Values[0]) * d - v)
        for i in 1..<16 {
            let err = abs(Float(mxfp4Values[i]) * d - v)
            if err < bestErr { best = UInt8(i); bestErr = err }
        }
        return best
    }
    for j in 0..<16 {
        out.storeBytes(of: nearest(x[j]) | (nearest(x[j &+ 16]) << 4), toByteOffset: 1 &+ j, as: UInt8.self)
    }
}
