import Foundation

// Elementwise kernels, Float32 throughout. Scalar references for the SIMD ones sit beside them.

/// RMSNorm: x (n,), w (n,) -> o (n,) = x * rsqrt(mean(x^2) + eps) * w, computed in Float32.
///
/// This is the Llama/Mistral/Mixtral/Qwen/DeepSeek/OLMoE convention (`weight * normalized`). Gemma-style
/// "(1 + w)" norms are *not* applied here: callers with such a checkpoint pass `1 + w` as `w`.
/// Like HF, the normalized value is formed first and then scaled: `(x * inv) * w`. `o` may equal `x`.
public func rmsnorm(_ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                    n: Int, eps: Float) {
    let inv = 1 / (sumOfSquares(x, n: n) / Float(n) + eps).squareRoot()
    var i = 0
    let vinv = SIMD16<Float>(repeating: inv)
    while i &+ 16 <= n {
        let v = (loadF32x16(x, i) * vinv) * loadF32x16(w, i)
        UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: SIMD16<Float>.self)
        i &+= 16
    }
    while i < n { o[i] = (x[i] * inv) * w[i]; i &+= 1 }
}

/// Σ x[i]^2 with 2 SIMD16 partial sums, then a scalar tail (fixed order).
@inline(__always)
func sumOfSquares(_ x: UnsafePointer<Float>, n: Int) -> Float {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    var i = 0
    while i &+ 32 <= n {
        let u = loadF32x16(x, i), v = loadF32x16(x, i &+ 16)
        a0.madd(u, u); a1.madd(v, v)
        i &+= 32
    }
    if i &+ 16 <= n { let u = loadF32x16(x, i); a0.madd(u, u); i &+= 16 }
    var s = hsum(a0 + a1)
    while i < n { s += x[i] * x[i]; i &+= 1 }
    return s
}

func rmsnormReference(_ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                      n: Int, eps: Float) {
    var s: Double = 0
    for i in 0..<n { s += Double(x[i]) * Double(x[i]) }
    let inv = Float(1 / (s / Double(n) + Double(eps)).squareRoot())
    for i in 0..<n { o[i] = x[i] * inv * w[i] }
}

/// LayerNorm with bias (torch `nn.LayerNorm`, Phi-3.5-MoE): x (n,), w (n,), b (n,) -> o (n,) =
/// (x - mean(x)) * rsqrt(var(x) + eps) * w + b, with the biased variance mean((x - mean)^2), Float32. `o` may equal `x`.
public func layerNorm(_ o: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                      _ b: UnsafePointer<Float>, n: Int, eps: Float) {
    var sum: Float = 0
    for i in 0..<n { sum += x[i] }
    let mean = sum / Float(n)
    var sq: Float = 0
    for i in 0..<n { let d = x[i] - mean; sq += d * d }
    let inv = 1 / (sq / Float(n) + eps).squareRoot()
    for i in 0..<n { o[i] = ((x[i] - mean) * inv) * w[i] + b[i] }
}

/// Softmax in place over x (n,): exp(x - max) / Σ, numerically stable, Float32.
public func softmax(_ x: UnsafeMutablePointer<Float>, n: Int) {
    if n <= 0 { return }
    let inv = 1 / exponentiate(x, n: n).sum
    for i in 0..<n { x[i] *= inv }
}

/// x = exp(x - max x) in place over x (n > 0,), returning that max and Σ of the new x: softmax before its division.
@inline(__always)
func exponentiate(_ x: UnsafeMutablePointer<Float>, n: Int) -> (max: Float, sum: Float) {
    var m = x[0]
    for i in 1..<n where x[i] > m { m = x[i] }
    // e^(x - m) 16 at a time (`exp16`; the last partial vector padded with -inf, whose e^ is 0), summed in lanes.
    var acc = SIMD16<Float>()
    map16(x, x, x, n: n, padding: -.infinity) { v, _ in
        let e = exp16(v - SIMD16(repeating: m))
        acc += e
        return e
    }
    return (m, acc.sum())
}

/// o[i] = f(a[i], b[i]) 16 lanes at a time; the last partial vectors are padded with `padding` and only their first
/// lanes are stored, so every element goes through the same vector code whatever n is. `o` may equal `a` or `b`.
@inline(__always)
func map16(_ o: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int, padding: Float,
           _ f: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) {
    var i = 0
    while i &+ 16 <= n {
        UnsafeMutableRawPointer(o + i).storeBytes(of: f(loadF32x16(a, i), loadF32x16(b, i)), as: SIMD16<Float>.self)
        i &+= 16
    }
    if i < n {
        var u = SIMD16<Float>(repeating: padding), v = u
        for j in 0..<(n &- i) { u[j] = a[i &+ j]; v[j] = b[i &+ j] }
        let r = f(u, v)
        for j in 0..<(n &- i) { o[i &+ j] = r[j] }
    }
}

/// SiLU: x / (1 + exp(-x)) (= x * sigmoid(x), as `torch.nn.functional.silu`).
@inline(__always)
public func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

/// SiLU in place over x (n,).
public func silu(_ x: UnsafeMutablePointer<Float>, n: Int) {
    for i in 0..<n { x[i] = silu(x[i]) }
}

/// SwiGLU: gate (n,), up (n,) -> o (n,) = silu(gate) * up. `o` may equal `gate` or `up`.
/// SiLU by `exp16`, 16 elements at a time (the last partial vector padded), so every element goes through the same
/// vector code; `siluMulReference` is the scalar form with libm's `expf`.
public func siluMul(_ o: UnsafeMutablePointer<Float>, _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, n: Int) {
    // A local function marked to inline, not a closure literal: the closure stayed a function of its own taking and
    // returning its vectors as four 128-bit quarters (1.6% of a two-thread q4_K decode's samples against 0.8%).
    @inline(__always) func f(_ g: SIMD16<Float>, _ u: SIMD16<Float>) -> SIMD16<Float> { g / (SIMD16(repeating: 1) + exp16(-g)) * u }
    map16(o, gate, up, n: n, padding: 0, f)
}

func siluMulReference(_ gate: [Float], _ up: [Float]) -> [Float] { zip(gate, up).map { silu($0) * $1 } }

/// gpt-oss's clamped SwiGLU over interleaved pairs, as transformers' `GptOssExperts._apply_gate`:
/// gateUp (n, 2) with gate = gateUp[2i], up = gateUp[2i + 1] -> o (n,):
///
///     g = min(gate, limit);  u = clamp(up, -limit, limit);  o = (u + 1) · g · σ(α · g)
public func clampedSwiGLU(_ o: UnsafeMutablePointer<Float>, _ gateUp: UnsafePointer<Float>, n: Int, alpha: Float, limit: Float) {
    for i in 0..<n {
        let g = min(gateUp[2 * i], limit), u = min(max(gateUp[2 * i + 1], -limit), limit)
        o[i] = (u + 1) * (g * (1 / (1 + expf(-(g * alpha)))))
    }
}

/// ReLU in place over x (n,): negative values become 0, as `torch.relu` (NaN stays NaN).
public func relu(_ x: UnsafeMutablePointer<Float>, n: Int) {
    let zero = SIMD16<Float>()
    var i = 0
    while i &+ 16 <= n {
        let v = loadF32x16(UnsafePointer(x), i)
        UnsafeMutableRawPointer(x + i).storeBytes(of: v.replacing(with: zero, where: v .< zero), as: SIMD16<Float>.self)
        i &+= 16
    }
    while i < n { if x[i] < 0 { x[i] = 0 }; i &+= 1 }
}

/// x (n,) = min(max(x, lower), upper), in place (NaN stays NaN).
public func clamp(_ x: UnsafeMutablePointer<Float>, n: Int, lower: Float, upper: Float) {
    for i in 0..<n { x[i] = min(max(x[i], lower), upper) }
}

/// x (n,) *= a, in place.
public func scale(_ x: UnsafeMutablePointer<Float>, _ a: Float, n: Int) {
    for i in 0..<n { x[i] *= a }
}

func reluReference(_ x: [Float]) -> [Float] { x.map { $0 < 0 ? 0 : $0 } }

/// y (n,) += a * x (n,)
@inline(__always)
public func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, n: Int) {
    let va = SIMD16<Float>(repeating: a)
    var i = 0
    while i &+ 16 <= n {
        var v = loadF32x16(UnsafePointer(y), i)
        v.madd(va, loadF32x16(x, i))
        UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD16<Float>.self)
        i &+= 16
    }
    while i < n { y[i] += a * x[i]; i &+= 1 }
}

/// a (n,) . b (n,) -> Float, 2 SIMD16 partial sums then a scalar tail (fixed order): `dotTail` of the `hsum` of
/// `dotParts`.
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int) -> Float {
    dotTail(hsum(dotParts(a, b, n: n)), a, b, n: n)
}

/// The vector part of `dot`: its two SIMD16 partial sums over the first n / 16 * 16 elements, added.
@inline(__always)
func dotParts(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int) -> SIMD16<Float> {
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>()
    var i = 0
    while i &+ 32 <= n {
        s0.madd(loadF32x16(a, i), loadF32x16(b, i))
        s1.madd(loadF32x16(a, i &+ 16), loadF32x16(b, i &+ 16))
        i &+= 32
    }
    if i &+ 16 <= n { s0.madd(loadF32x16(a, i), loadF32x16(b, i)) }
    return s0 + s1
}

/// The scalar tail of `dot`: s plus the products of elements n / 16 * 16 ..< n, one at a time in order.
@inline(__always)
func dotTail(_ s: Float, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int) -> Float {
    var s = s, i = n / 16 * 16
    while i < n { s += a[i] * b[i]; i &+= 1 }
    return s
}

/// Top-k of values (n,) -> the k largest as (index, value), largest first.
///
/// Ties are broken by the lower index, which is what `torch.topk` on CPU returns in practice for router
/// logits (its documentation does not promise an order among equal values). NaN compares as smaller than
/// every number. `k` is clamped to `n`.
public func topK(_ values: UnsafePointer<Float>, n: Int, k: Int) -> [(index: Int, value: Float)] {
    let k = min(max(0, k), n)
    if k == 0 { return [] }
    var best: [(index: Int, value: Float)] = []
    best.reserveCapacity(k + 1)
    for i in 0..<n {
        let v = values[i]
        if best.count == k && !topKBefore(v, i, best[k - 1].value, best[k - 1].index) { continue }
        // Insertion keeps `best` sorted; i is larger than every stored index, so equal values go after them.
        var pos = best.count
        while pos > 0 && topKBefore(v, i, best[pos - 1].value, best[pos - 1].index) { pos -= 1 }
        best.insert((i, v), at: pos)
        if best.count > k { best.removeLast() }
    }
    return best
}

/// `topK` over a slice (indices relative to its start).
public func topK(_ values: ArraySlice<Float>, k: Int) -> [(index: Int, value: Float)] {
    values.withUnsafeBufferPointer { b in b.baseAddress.map { topK($0, n: b.count, k: k) } ?? [] }
}

/// Ordering for top-k: larger value first, then lower index; NaN after every number.
@inline(__always)
func topKBefore(_ v: Float, _ i: Int, _ u: Float, _ j: Int) -> Bool {
    if v.isNaN { return u.isNaN && i < j }
    if u.isNaN { return true }
    return v > u || (v == u && i < j)
}

func topKReference(_ values: [Float], k: Int) -> [Int] {
    Array(values.indices.sorted { topKBefore(values[$0], $0, values[$1], $1) }.prefix(k))
}
