// The scale searches behind the K-quantizers (Quantize+KQuants.swift). Each tries a small grid of candidate
// inverse scales around the obvious one (range / levels), snaps the values to codes for each, solves the
// weighted least-squares scale (and offset) for those codes in closed form, and keeps the candidate whose fit has
// the lowest weighted squared (Q2_K: absolute) error. This is the search llama.cpp's reference quantizers run
// (make_qkx2_quants for Q2_K/Q4_K/Q5_K, make_qx_quants for Q6_K), with the same candidates, weights, tie rules and
// operation order, so the chosen codes and scales are the same bits. Q3_K's fit (make_q3_quants) instead moves
// one code at a time while that improves the fit (`fitQ3`).
//
// `fitAffine` / `fitSymmetric` are the scalar references; `fitAffineFast` / `fitSymmetricFast` evaluate the
// candidates side by side in SIMD lanes and are tested against them bit for bit.

/// The start both affine searches share: min (clamped to <= 0), max, Σw and Σ w x, in index order.
@inline(__always)
func affineRange(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, count n: Int)
    -> (lo: Float, hi: Float, sumW: Float, sumX: Float) {
    var lo = x[0], hi = x[0], sumW = w[0], sumX = w[0] * x[0]
    for i in 1..<n {
        if x[i] < lo { lo = x[i] }
        if x[i] > hi { hi = x[i] }
        sumW += w[i]
        sumX += w[i] * x[i]
    }
    return (min(lo, 0), hi, sumW, sumX)
}

/// x (n,) with weights w (n,) -> codes q (n,) in 0...qmax (as Floats) and (scale, offset) with
/// x[i] ~ scale * q[i] - offset, offset >= 0, minimising sum w[i] * (scale*q[i] - offset - x[i])^2 over the
/// candidates inverse-scale = (qmax + rmin + rdelta*k) / (max - min), k = 0...steps. With `mad` the candidates are
/// compared by sum w[i] * |scale*q[i] - offset - x[i]| instead (Q2_K; the fit itself stays least squares).
///
/// The candidates are not independent: after a candidate wins, the next ones are placed relative to the winner's
/// offset (as llama.cpp's search does), so the search is a chain, not a grid.
@inline(__always)
func fitAffine(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, count n: Int, qmax: Float,
               rmin: Float, rdelta: Float, steps: Int, mad: Bool = false, _ q: UnsafeMutablePointer<Float>) -> (scale: Float, offset: Float) {
    var lo: Float
    let hi, sumW, sumX: Float
    (lo, hi, sumW, sumX) = affineRange(x, w, count: n)
    if hi == lo {
        for i in 0..<n { q[i] = 0 }
        return (0, -lo)
    }
    var iscale = qmax / (hi - lo)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
        q[i] = code(iscale * (x[i] - lo), 0, qmax)
        let diff = scale * q[i] + lo - x[i]
        bestError += w[i] * (mad ? abs(diff) : diff * diff)
    }
    for k in 0...steps {
        iscale = (rmin + rdelta * Float(k) + qmax) / (hi - lo)
        var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
        for i in 0..<n {
            let l = code(iscale * (x[i] - lo), 0, qmax)
            let wl = w[i] * l
            sumL += wl
            sumL2 += wl * l
            sumXL += wl * x[i]
        }
        let det = sumW * sumL2 - sumL * sumL
        guard det > 0 else { continue }
        var s = (sumW * sumXL - sumX * sumL) / det
        var m = (sumL2 * sumX - sumL * sumXL) / det
        if m > 0 { m = 0; s = sumXL / sumL2 }
        var err: Float = 0
        for i in 0..<n {
            let diff = s * code(iscale * (x[i] - lo), 0, qmax) + m - x[i]
            err += w[i] * (mad ? abs(diff) : diff * diff)
        }
        if err < bestError {
            for i in 0..<n { q[i] = code(iscale * (x[i] - lo), 0, qmax) }
            bestError = err
            scale = s
            lo = m
        }
    }
    return (scale, -lo)
}

/// The value of largest magnitude in x (n,) (the first, on ties), or nil, with the codes q (n,) zeroed, when
/// every |x| < 1e-15: the prologue of the symmetric fits.
@inline(__always)
func largestMagnitude(_ x: UnsafePointer<Float>, count n: Int, zeroing q: UnsafeMutablePointer<Float>) -> Float? {
    var amax: Float = 0, m: Float = 0
    for i in 0..<n where abs(x[i]) > amax { amax = abs(x[i]); m = x[i] }
    if amax < 1e-15 {
        for i in 0..<n { q[i] = 0 }
        return nil
    }
    return m
}

/// x (n,) -> codes q (n,) in 0..<2*nmax (code - nmax is the signed level, -nmax...nmax-1) and the scale with
/// x[i] ~ scale * (q[i] - nmax), maximising the weighted fit (sum w x l)^2 / (sum w l^2) with w = x^2 over the
/// inverse scales -(nmax + 0.1k) / m, k = -9...9, m the value of largest magnitude. Returns 0 (and codes 0) when
/// every |x| < 1e-15. The candidates are independent; only the choice among them is sequential.
@inline(__always)
func fitSymmetric(_ x: UnsafePointer<Float>, count n: Int, nmax: Float, _ q: UnsafeMutablePointer<Float>) -> Float {
    guard let m = largestMagnitude(x, count: n, zeroing: q) else { return 0 }
    var sumLX: Float = 0, sumL2: Float = 0
    var iscale = -nmax / m
    for i in 0..<n {
        let l = code(iscale * x[i], -nmax, nmax - 1)
        q[i] = l + nmax
        let w = x[i] * x[i]
        sumLX += w * x[i] * l
        sumL2 += w * l * l
    }
    var scale = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for k in -9...9 where k != 0 {
        iscale = -(nmax + 0.1 * Float(k)) / m
        sumLX = 0; sumL2 = 0
        for i in 0..<n {
            let l = code(iscale * x[i], -nmax, nmax - 1)
            let w = x[i] * x[i]
            sumLX += w * x[i] * l
            sumL2 += w * l * l
        }
        if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
            for i in 0..<n { q[i] = code(iscale * x[i], -nmax, nmax - 1) + nmax }
            scale = sumLX / sumL2
            best = scale * sumLX
        }
    }
    return scale
}

/// x (n,) -> codes q (n,) in 0..<2*nmax (q - nmax in -nmax...nmax-1) and the scale with x[i] ~ scale * (q[i] - nmax)
/// (llama.cpp's make_q3_quants with rmse, for Q3_K): codes from -nmax / m (m the value of largest magnitude), then
/// up to 5 passes that move each code to the one its leave-one-out fit (weights x^2) asks for, when that raises
/// (Σ w x l)^2 / Σ w l^2. Returns 0 (and codes 0) when every |x| < 1e-15.
@inline(__always)
func fitQ3(_ x: UnsafePointer<Float>, count n: Int, nmax: Float, _ q: UnsafeMutablePointer<Float>) -> Float {
    guard let m = largestMagnitude(x, count: n, zeroing: q) else { return 0 }
    let iscale = -nmax / m
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = code(iscale * x[i], -nmax, nmax - 1)
        q[i] = l
        let w = x[i] * x[i]
        sumLX += w * x[i] * l
        sumL2 += w * l * l
    }
    for _ in 0..<5 {
        var changed = false
        for i in 0..<n {
            let w = x[i] * x[i]
            var slx = sumLX - w * x[i] * q[i]
            guard slx > 0 else { continue }
            var sl2 = sumL2 - w * q[i] * q[i]
            let l = code(x[i] * sl2 / slx, -nmax, nmax - 1)
            guard l != q[i] else { continue }
            slx += w * x[i] * l
            sl2 += w * l * l
            if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                q[i] = l; sumLX = slx; sumL2 = sl2
                changed = true
            }
        }
        if !changed { break }
    }
    for i in 0..<n { q[i] += nmax }
    return sumL2 > 0 ? sumLX / sumL2 : 0
}

// MARK: - SIMD searches: the candidates side by side

/// One candidate inverse scale per lane: 16 for the symmetric search (19 independent candidates), 8 for the
/// affine chain (narrower windows waste less when a winner forces the rest to be redone: measured 8 lanes ~1.7x
/// faster than 16 or 4). SIMD32 would fit every candidate at once, but this toolchain lowers its operators to a
/// load and store per lane. Every scalar operand is broadcast explicitly for the same reason: the stdlib's
/// vector-scalar operators are generic lane loops.
typealias Lanes = SIMD16<Float>
typealias AffineLanes = SIMD8<Float>

@inline(__always) func splat(_ v: Float) -> Lanes { Lanes(repeating: v) }
@inline(__always) func splat8(_ v: Float) -> AffineLanes { AffineLanes(repeating: v) }

/// Lane i holds Float(i).
@inline(__always) var laneIndex: Lanes { Lanes(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) }
@inline(__always) var laneIndex8: AffineLanes { AffineLanes(0, 1, 2, 3, 4, 5, 6, 7) }

/// `code` in every lane: round half to even, clamp to [lo, hi], NaN -> lo.
@inline(__always)
func codes(_ v: Lanes, _ lo: Float, _ hi: Float) -> Lanes {
    let magic = splat(12_582_912), l = splat(lo), h = splat(hi)
    let r = (v + magic) - magic
    let c = r.replacing(with: l, where: .!(r .> l))
    return c.replacing(with: h, where: .!(c .< h))
}

@inline(__always)
func codes(_ v: AffineLanes, _ lo: Float, _ hi: Float) -> AffineLanes {
    let magic = splat8(12_582_912), l = splat8(lo), h = splat8(hi)
    let r = (v + magic) - magic
    let c = r.replacing(with: l, where: .!(r .> l))
    return c.replacing(with: h, where: .!(c .< h))
}

/// `fitAffine` for 32 values, bit for bit: the pending candidates of the chain are evaluated 8 at a time
/// against the current offset; the first that beats the best error wins, and if it moved the offset the
/// candidates after it are evaluated again against the new one (the chain is usually a few links long).
@inline(__always)
func fitAffineFast(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, qmax: Float, rmin: Float, rdelta: Float,
                   steps: Int, _ q: UnsafeMutablePointer<Float>) -> (scale: Float, offset: Float) {
    let n = 32
    var lo: Float
    let hi, sumW, sumX: Float
    (lo, hi, sumW, sumX) = affineRange(x, w, count: n)
    if hi == lo {
        for i in 0..<n { q[i] = 0 }
        return (0, -lo)
    }
    let iscale = qmax / (hi - lo)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
        let l = code(iscale * (x[i] - lo), 0, qmax)
        let diff = scale * l + lo - x[i]
        bestError += w[i] * (diff * diff)
    }
    var bestIScale = iscale, bestLo = lo   // the best fit's codes are recomputed from these at the end
    var start = 0
    while start <= steps {
        // Lane j: candidate k = start + j.
        let isc = ((splat8(rmin) + splat8(rdelta) * (laneIndex8 + splat8(Float(start)))) + splat8(qmax)) / splat8(hi - lo)
        var sumL = AffineLanes(), sumL2 = AffineLanes(), sumXL = AffineLanes()
        for i in 0..<n {
            let l = codes(isc * splat8(x[i] - lo), 0, qmax)
            let wl = splat8(w[i]) * l
            sumL += wl
            sumL2 += wl * l
            sumXL += wl * splat8(x[i])
        }
        let det = splat8(sumW) * sumL2 - sumL * sumL
        var s = (splat8(sumW) * sumXL - splat8(sumX) * sumL) / det
        var m = (sumL2 * splat8(sumX) - sumL * sumXL) / det
        let positive = m .> AffineLanes()
        m.replace(with: AffineLanes(), where: positive)
        s.replace(with: sumXL / sumL2, where: positive)
        var err = AffineLanes()
        for i in 0..<n {
            let diff = s * codes(isc * splat8(x[i] - lo), 0, qmax) + m - splat8(x[i])
            err += splat8(w[i]) * (diff * diff)
        }
        let end = Swift.min(steps, start &+ AffineLanes.scalarCount &- 1)
        var next = end &+ 1
        for k in start...end {
            let j = k &- start
            guard det[j] > 0 && err[j] < bestError else { continue }
            bestError = err[j]
            scale = s[j]
            bestIScale = isc[j]; bestLo = lo
            if m[j].bitPattern != lo.bitPattern {
                lo = m[j]
                next = k &+ 1
                break
            }
        }
        start = next
    }
    for i in 0..<n { q[i] = code(bestIScale * (x[i] - bestLo), 0, qmax) }
    return (scale, -lo)
}

/// `fitSymmetric` for 16 values, bit for bit: the 19 candidates k = -9...9 (k = 0 is the first guess) in two
/// windows of lanes (k = -9...6, then 7...9), then the sequential choice among them.
@inline(__always)
func fitSymmetricFast(_ x: UnsafePointer<Float>, nmax: Float, _ q: UnsafeMutablePointer<Float>) -> Float {
    let n = 16
    var amax: Float = 0, mx: Float = 0
    for i in 0..<n where abs(x[i]) > amax { amax = abs(x[i]); mx = x[i] }
    if amax < 1e-15 {
        for i in 0..<n { q[i] = 0 }
        return 0
    }
    @inline(__always) func window(_ first: Float) -> (isc: Lanes, sumLX: Lanes, sumL2: Lanes) {
        let isc = -(splat(nmax) + splat(0.1) * (laneIndex + splat(first))) / splat(mx)
        var sumLX = Lanes(), sumL2 = Lanes()
        for i in 0..<n {
            let l = codes(isc * splat(x[i]), -nmax, nmax - 1)
            let w = x[i] * x[i]
            sumLX += splat(w * x[i]) * l
            sumL2 += (splat(w) * l) * l
        }
        return (isc, sumLX, sumL2)
    }
    let a = window(-9), b = window(7)
    var scale: Float = a.sumL2[9] != 0 ? a.sumLX[9] / a.sumL2[9] : 0
    var best = scale * a.sumLX[9]
    var iscale = a.isc[9]
    for k in -9...9 where k != 0 {
        let (isc, lx, l2) = k <= 6 ? (a.isc[k &+ 9], a.sumLX[k &+ 9], a.sumL2[k &+ 9]) : (b.isc[k &- 7], b.sumLX[k &- 7], b.sumL2[k &- 7])
        if l2 > 0 && lx * lx > best * l2 {
            scale = lx / l2
            best = scale * lx
            iscale = isc
        }
    }
    for i in 0..<n { q[i] = code(iscale * x[i], -nmax, nmax - 1) + nmax }
    return scale
}
