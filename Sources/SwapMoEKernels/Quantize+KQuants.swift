import SwapMoECore
// The K-quantizers: 256 floats -> one Q2_K, Q3_K, Q4_K, Q5_K or Q6_K super-block (layouts in
// QuantBlocks+KQuants.swift).
//
// Each runs in three steps: fit every sub-block on its own (Quantize+Search.swift), quantize the sub-block
// scales against one f16 super-scale (4 bits for Q2_K, 6 bits for Q3_K/Q4_K/Q5_K, int8 for Q6_K), then recompute
// every code from the scales as stored, so the codes are the best ones for what the dequantizer will actually read.

/// Scratch for one super-block, carved from the caller's stack buffer (no allocation per block).
struct KScratch {
    static let floats = 256 + 32 + 16 + 16
    /// Codes of the 256 values, as Floats.
    let codes: UnsafeMutablePointer<Float>
    /// Per-value weights of one sub-block.
    let weights: UnsafeMutablePointer<Float>
    /// Sub-block scales and offsets (8 or 16 each).
    let scales: UnsafeMutablePointer<Float>
    let offsets: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) {
        codes = p; weights = p + 256; scales = p + 288; offsets = p + 304
    }
}

/// x (256,) -> one Q4_K (bits 4: d | dmin | scales[12] | qs[128]) or Q5_K (bits 5: ... | qh[32] | qs[128])
/// block. Sub-blocks of 32 get an affine fit weighted by w = rms(sub-block) + |x| (larger values count more).
@inline(__always)
func quantizeQ45KBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, bits: Int, _ s: KScratch) {
    let qmax: Float = bits == 4 ? 15 : 31
    var maxScale: Float = 0, maxOffset: Float = 0
    for j in 0..<8 {
        let xj = x + 32 &* j
        var sumX2: Float = 0
        for l in 0..<32 { sumX2 += xj[l] * xj[l] }
        let av = (sumX2 / 32).squareRoot()
        for l in 0..<32 { s.weights[l] = av + abs(xj[l]) }
        let fit = bits == 4
            ? fitAffineFast(xj, s.weights, qmax: 15, rmin: -1, rdelta: 0.1, steps: 20, s.codes + 32 &* j)
            : fitAffineFast(xj, s.weights, qmax: 31, rmin: -0.5, rdelta: 0.1, steps: 15, s.codes + 32 &* j)
        s.scales[j] = fit.scale
        s.offsets[j] = fit.offset
        if fit.scale > maxScale { maxScale = fit.scale }
        if fit.offset > maxOffset { maxOffset = fit.offset }
    }

    // Sub-block scales and offsets to 6 bits each against d = maxScale/63 and dmin = maxOffset/63.
    let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
    let invOffset: Float = maxOffset > 0 ? 63 / maxOffset : 0
    let sc = out + 4
    for j in 0..<8 {
        let ls = sixBits(invScale * s.scales[j]), lm = sixBits(invOffset * s.offsets[j])
        if j < 4 {
            sc.storeBytes(of: ls, toByteOffset: j, as: UInt8.self)
            sc.storeBytes(of: lm, toByteOffset: j &+ 4, as: UInt8.self)
        } else {
            sc.storeBytes(of: (ls & 15) | ((lm & 15) << 4), toByteOffset: j &+ 4, as: UInt8.self)
            sc.storeBytes(of: sc.load(fromByteOffset: j &- 4, as: UInt8.self) | ((ls >> 4) << 6), toByteOffset: j &- 4, as: UInt8.self)
            sc.storeBytes(of: sc.load(fromByteOffset: j, as: UInt8.self) | ((lm >> 4) << 6), toByteOffset: j, as: UInt8.self)
        }
    }
    let dBits = f16Saturating(maxScale / 63), dminBits = f16Saturating(maxOffset / 63)
    out.storeBytes(of: dBits, as: UInt16.self)
    out.storeBytes(of: dminBits, toByteOffset: 2, as: UInt16.self)

    // Codes again, from the scales as the dequantizer reads them (a sub-block whose scale rounded to 0 keeps its
    // fitted codes: every one of its values dequantizes to -offset anyway).
    let d = f16ToFloat(dBits), dmin = f16ToFloat(dminBits)
    for j in 0..<8 {
        let (ls, lm) = kScaleMin(sc, j)
        let dj = d * Float(ls)
        if dj == 0 { continue }
        let mj = dmin * Float(lm)
        for l in 0..<32 { s.codes[32 &* j &+ l] = code((x[32 &* j &+ l] + mj) / dj, 0, qmax) }
    }

    // Pack: chunk c (64 values) -> 32 bytes, low nibbles the first 32 values, high nibbles the next 32; for Q5_K
    // the fifth bits go to bit 2c (first 32) and 2c + 1 (next 32) of qh[l].
    let qh = out + 16, qs = out + (bits == 4 ? 16 : 48)
    if bits == 5 { qh.initializeMemory(as: UInt8.self, repeating: 0, count: 32) }
    for c in 0..<4 {
        for l in 0..<32 {
            let a = UInt8(s.codes[64 &* c &+ l]), b = UInt8(s.codes[64 &* c &+ 32 &+ l])
            qs.storeBytes(of: (a & 15) | ((b & 15) << 4), toByteOffset: 32 &* c &+ l, as: UInt8.self)
            if bits == 5 {
                let h = ((a >> 4) << (2 &* c)) | ((b >> 4) << (2 &* c &+ 1))
                qh.storeBytes(of: qh.load(fromByteOffset: l, as: UInt8.self) | h, toByteOffset: l, as: UInt8.self)
            }
        }
    }
}

/// A sub-block scale times its inverse super-scale -> 6-bit level. Rounds half to even; as llama.cpp it keeps
/// the low 8 bits of the rounded value before capping at 63 (only reachable with a negative fitted scale).
@inline(__always)
func sixBits(_ v: Float) -> UInt8 {
    let r = roundEven(v)
    let i = r.isFinite && abs(r) < 4_194_304 ? Int32(r) : 0
    return Swift.min(63, UInt8(truncatingIfNeeded: i))
}

/// x (256,) -> one Q6_K block (ql[128] | qh[64] | scales[16] int8 | d f16). Sub-blocks of 16 get a symmetric fit
/// (codes -32...31) weighted by x^2; the 16 scales become int8 against d = -(scale of largest magnitude) / 128.
@inline(__always)
func quantizeQ6KBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, _ s: KScratch) {
    var maxScale: Float = 0, maxAbsScale: Float = 0
    for j in 0..<16 {
        let scale = fitSymmetricFast(x + 16 &* j, nmax: 32, s.codes + 16 &* j)
        s.scales[j] = scale
        if abs(scale) > maxAbsScale { maxAbsScale = abs(scale); maxScale = scale }
    }
    if maxAbsScale < 1e-15 {
        out.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
        return
    }
    let iscale = -128 / maxScale
    let dBits = f16Saturating(1 / iscale)
    out.storeBytes(of: dBits, toByteOffset: 208, as: UInt16.self)
    let sc = out + 192
    for j in 0..<16 {
        let r = roundEven(iscale * s.scales[j])
        let i = r.isFinite && abs(r) < 4_194_304 ? Int32(r) : 0
        sc.storeBytes(of: Int8(truncatingIfNeeded: Swift.min(127, i)), toByteOffset: j, as: Int8.self)
    }

    let d = f16ToFloat(dBits)
    for j in 0..<16 {
        let dj = d * Float(sc.load(fromByteOffset: j, as: Int8.self))
        if dj == 0 { continue }
        for l in 0..<16 { s.codes[16 &* j &+ l] = code(x[16 &* j &+ l] / dj, -32, 31) + 32 }
    }

    // Pack: half h (128 values): for l < 32 the values l, l+32, l+64, l+96 give their low nibbles to
    // ql[64h + l] (low, high) and ql[64h + l + 32] (low, high), and their top 2 bits to qh[32h + l].
    let ql = out, qh = out + 128
    for h in 0..<2 {
        for l in 0..<32 {
            let base = 128 &* h &+ l
            let q0 = UInt8(s.codes[base]), q1 = UInt8(s.codes[base &+ 32])
            let q2 = UInt8(s.codes[base &+ 64]), q3 = UInt8(s.codes[base &+ 96])
            ql.storeBytes(of: (q0 & 15) | ((q2 & 15) << 4), toByteOffset: 64 &* h &+ l, as: UInt8.self)
            ql.storeBytes(of: (q1 & 15) | ((q3 & 15) << 4), toByteOffset: 64 &* h &+ l &+ 32, as: UInt8.self)
            qh.storeBytes(of: (q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6), toByteOffset: 32 &* h &+ l, as: UInt8.self)
        }
    }
}

/// x (256,) -> one Q2_K block (scales[16] | qs[64] | d | dmin). Sub-blocks of 16 get an affine fit (codes 0...3)
/// weighted by |x| and compared by absolute error; scales and offsets become 4 bits each against
/// d = max scale / 15 and dmin = max offset / 15.
@inline(__always)
func quantizeQ2KBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, _ s: KScratch) {
    var maxScale: Float = 0, maxOffset: Float = 0
    for j in 0..<16 {
        let xj = x + 16 &* j
        for l in 0..<16 { s.weights[l] = abs(xj[l]) }
        let fit = fitAffine(xj, s.weights, count: 16, qmax: 3, rmin: -0.5, rdelta: 0.1, steps: 15, mad: true, s.codes + 16 &* j)
        s.scales[j] = fit.scale
        s.offsets[j] = fit.offset
        if fit.scale > maxScale { maxScale = fit.scale }
        if fit.offset > maxOffset { maxOffset = fit.offset }
    }
    // 4-bit levels; as llama.cpp, a level is stored as its low 8 bits (only a negative fitted scale reaches past 15).
    @inline(__always) func level(_ v: Float) -> UInt8 {
        let r = roundEven(v)
        return UInt8(truncatingIfNeeded: r.isFinite && abs(r) < 4_194_304 ? Int32(r) : 0)
    }
    let sc = out
    let invScale: Float = maxScale > 0 ? 15 / maxScale : 0, invOffset: Float = maxOffset > 0 ? 15 / maxOffset : 0
    for j in 0..<16 {
        let ls = maxScale > 0 ? level(invScale * s.scales[j]) : 0
        let lm = maxOffset > 0 ? level(invOffset * s.offsets[j]) << 4 : 0
        sc.storeBytes(of: ls | lm, toByteOffset: j, as: UInt8.self)
    }
    let dBits = f16Saturating(maxScale > 0 ? maxScale / 15 : 0), dminBits = f16Saturating(maxOffset > 0 ? maxOffset / 15 : 0)
    out.storeBytes(of: dBits, toByteOffset: 80, as: UInt16.self)
    out.storeBytes(of: dminBits, toByteOffset: 82, as: UInt16.self)

    let d = f16ToFloat(dBits), dmin = f16ToFloat(dminBits)
    for j in 0..<16 {
        let b = sc.load(fromByteOffset: j, as: UInt8.self)
        let dj = d * Float(b & 15)
        if dj == 0 { continue }
        let mj = dmin * Float(b >> 4)
        for l in 0..<16 { s.codes[16 &* j &+ l] = code((x[16 &* j &+ l] + mj) / dj, 0, 3) }
    }
    packTwoBits(s.codes, out + 16)
}

/// x (256,) -> one Q3_K block (hmask[32] | qs[64] | scales[12] | d). Sub-blocks of 16 get `fitQ3` (codes -4...3);
/// the 16 scales become 6 bits (stored + 32) against d = -(scale of largest magnitude) / 32.
@inline(__always)
func quantizeQ3KBlock(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer, _ s: KScratch) {
    var maxScale: Float = 0, maxAbsScale: Float = 0
    for j in 0..<16 {
        let scale = fitQ3(x + 16 &* j, count: 16, nmax: 4, s.codes + 16 &* j)
        s.scales[j] = scale
        if abs(scale) > maxAbsScale { maxAbsScale = abs(scale); maxScale = scale }
    }
    let sc = out + 96
    sc.initializeMemory(as: UInt8.self, repeating: 0, count: 12)
    var dBits: UInt16 = 0
    if maxScale != 0 {
        let iscale = -32 / maxScale
        for j in 0..<16 {
            let r = roundEven(iscale * s.scales[j])
            let i = Int8(truncatingIfNeeded: r.isFinite && abs(r) < 4_194_304 ? Int32(r) : 0)
            let l = UInt8(Swift.max(-32, Swift.min(31, i)) &+ 32)
            let lo = j < 8 ? j : j &- 8
            orByte(sc, lo, (l & 15) << (j < 8 ? 0 : 4))
            orByte(sc, 8 &+ j % 4, (l >> 4) << (2 &* (j / 4)))
        }
        dBits = f16Saturating(1 / iscale)
    }
    out.storeBytes(of: dBits, toByteOffset: 108, as: UInt16.self)

    let d = f16ToFloat(dBits)
    for j in 0..<16 {
        let dj = d * Float(q3KScale(sc, j) &- 32)
        if dj == 0 { continue }
        for l in 0..<16 { s.codes[16 &* j &+ l] = code(x[16 &* j &+ l] / dj, -4, 3) + 4 }
    }
    // The third bit of value e goes to bit e / 32 of hmask[e % 32]; qs keeps the low two.
    let hmask = out
    hmask.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
    for e in 0..<256 where s.codes[e] > 3 {
        orByte(hmask, e % 32, UInt8(1 << (e / 32)))
        s.codes[e] -= 4
    }
    packTwoBits(s.codes, out + 32)
}

/// p[offset] |= bits.
@inline(__always)
func orByte(_ p: UnsafeMutableRawPointer, _ offset: Int, _ bits: UInt8) {
    p.storeBytes(of: p.load(fromByteOffset: offset, as: UInt8.self) | bits, toByteOffset: offset, as: UInt8.self)
}

/// 256 codes 0...3 -> qs[64]: half h (128 values), for l < 32 the values l, l+32, l+64, l+96 go to bits 0-1, 2-3,
/// 4-5, 6-7 of qs[32h + l].
@inline(__always)
func packTwoBits(_ codes: UnsafePointer<Float>, _ qs: UnsafeMutableRawPointer) {
    for h in 0..<2 {
        for l in 0..<32 {
            let c = codes + (128 &* h &+ l)
            let b0 = UInt8(c[0]) | (UInt8(c[32]) << 2), b1 = (UInt8(c[64]) << 4) | (UInt8(c[96]) << 6)
            qs.storeBytes(of: b0 | b1, toByteOffset: 32 &* h &+ l, as: UInt8.self)
        }
    }
}
