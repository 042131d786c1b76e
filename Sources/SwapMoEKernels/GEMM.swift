// GEMM for prefill: T tokens at once, Y = X W^T.
//
// Each weight row is read from memory once per call and converted to Float32 once per 4-token tile, while
// it sits in L1. Blocking: rows in blocks of `gemmRowBlock`, columns in chunks of `gemmColChunk`, tokens in
// tiles of 4, and a 2-row x 4-token register microkernel over 16 columns per step (8 SIMD8 accumulators).
// The arithmetic of one output element depends only on (n, its column chunking), never on the thread
// split, so results are bit-identical for any pool size. They are not bit-identical to `gemv` (different
// partial sums); both are plain Float32 accumulations.

let gemmRowBlock = 16
let gemmColChunk = 1024   // multiple of 16: 4 tokens x 1024 x 4 B = 16 KiB of X stays in L1 per tile

/// X (t,n) @ W (d,n)^T (+ b (d,)) -> Y (t,d); with `accumulate`, Y (t,d) += X @ W^T (+ b).
///
/// Rows of X and Y are contiguous (`X[i, k]` at `x[i*n + k]`, `Y[i, j]` at `y[i*d + j]`). For `t == 1` this is
/// exactly `gemv`. `Y` must not overlap `X` or `W`.
/// - Parameter pool: threads to split weight rows over; `nil` runs on the calling thread.
public func gemm(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                 _ x: UnsafePointer<Float>, tokens t: Int, d: Int, n: Int,
                 bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, pool: ThreadPool? = nil) {
    if t <= 0 || d <= 0 { return }
    if t == 1 || n < 16 {
        for i in 0..<t {
            gemv(y + i &* d, w, type, x + i &* n, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
        }
        return
    }
    switch type {
    case .f32:
        gemmDispatch(F32Rows.self, y, w, x, x, xStride: n, t: t, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
    case .f16:
        gemmDispatch(F16Rows.self, y, w, x, x, xStride: n, t: t, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
    case .bf16:
        // Each token's row split into even/odd halves once: xs[i] = [x[i,0], x[i,2], ... | x[i,1], x[i,3], ...].
        let stride = 2 &* (n / 2)
        let xs = UnsafeMutablePointer<Float>.allocate(capacity: t &* stride)
        defer { xs.deallocate() }
        for i in 0..<t { splitEvenOdd(xs + i &* stride, x + i &* n, n: n) }
        gemmDispatch(BF16Rows.self, y, w, UnsafePointer(xs), x, xStride: stride, t: t, d: d, n: n,
                     bias: bias, accumulate: accumulate, pool: pool)
    }
}

/// How one weight format feeds the microkernel: 16 row elements at column k -> two SIMD8 halves (A, B),
/// matched with X operands P = xa[k >> xShift], Q = xb[k >> xShift] (xb = xa + xbOffset).
protocol GemmRows {
    static var type: WeightType { get }
    static var xShift: Int { get }
    static func xbOffset(n: Int) -> Int
    static func load(_ row: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>)
}

enum F32Rows: GemmRows {
    static var type: WeightType { .f32 }
    static var xShift: Int { 0 }
    @inline(__always) static func xbOffset(n: Int) -> Int { 8 }
    @inline(__always) static func load(_ row: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        (row.loadUnaligned(fromByteOffset: k &* 4, as: SIMD8<Float>.self),
         row.loadUnaligned(fromByteOffset: k &* 4 &+ 32, as: SIMD8<Float>.self))
    }
}

enum F16Rows: GemmRows {
    static var type: WeightType { .f16 }
    static var xShift: Int { 0 }
    @inline(__always) static func xbOffset(n: Int) -> Int { 8 }
    @inline(__always) static func load(_ row: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        (f16ToFloat8(row.loadUnaligned(fromByteOffset: k &* 2, as: SIMD8<Float16>.self)),
         f16ToFloat8(row.loadUnaligned(fromByteOffset: k &* 2 &+ 16, as: SIMD8<Float16>.self)))
    }
}

enum BF16Rows: GemmRows {
    static var type: WeightType { .bf16 }
    static var xShift: Int { 1 }
    @inline(__always) static func xbOffset(n: Int) -> Int { n / 2 }
    /// 16 bf16 as SIMD8<UInt32>: even elements = u << 16, odd = u & 0xFFFF0000.
    @inline(__always) static func load(_ row: UnsafeRawPointer, _ k: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        let u = row.loadUnaligned(fromByteOffset: k &* 2, as: SIMD8<UInt32>.self)
        return (unsafeBitCast(u &<< 16, to: SIMD8<Float>.self),
                unsafeBitCast(u & SIMD8(repeating: 0xFFFF_0000), to: SIMD8<Float>.self))
    }
}

@inline(__always)
func gemmDispatch<R: GemmRows>(_: R.Type, _ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer,
                               _ xv: UnsafePointer<Float>, _ x: UnsafePointer<Float>, xStride: Int,
                               t: Int, d: Int, n: Int, bias: UnsafePointer<Float>?, accumulate: Bool,
                               pool: ThreadPool?) {
    if let pool, pool.threadCount > 1, d > gemmRowBlock {
        pool.forEachRange(d, alignment: gemmRowBlock, minimum: gemmRowBlock) { rows in
            gemmRows(R.self, y, w, xv, x, xStride: xStride, t: t, d: d, n: n, rows: rows, bias: bias, accumulate: accumulate)
        }
    } else {
        gemmRows(R.self, y, w, xv, x, xStride: xStride, t: t, d: d, n: n, rows: 0..<d, bias: bias, accumulate: accumulate)
    }
}

/// Y[:, rows] for all t tokens. `xv` is X in the format's operand layout (split for bf16), `x` the original.
func gemmRows<R: GemmRows>(_: R.Type, _ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer,
                           _ xv: UnsafePointer<Float>, _ x: UnsafePointer<Float>, xStride: Int,
                           t: Int, d: Int, n: Int, rows: Range<Int>,
                           bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = n &* R.type.byteSize
    let n16 = n & ~15
    let xb = R.xbOffset(n: n)
    let acc = UnsafeMutablePointer<Float>.allocate(capacity: gemmRowBlock &* t)   // acc[r * t + token]
    defer { acc.deallocate() }
    var r0 = rows.lowerBound
    while r0 < rows.upperBound {
        let rb = min(gemmRowBlock, rows.upperBound &- r0)
        acc.initialize(repeating: 0, count: rb &* t)
        var k0 = 0
        while k0 < n16 {
            let k1 = min(n16, k0 &+ gemmColChunk)
            var t0 = 0
            while t0 < t {
                // 4-token tile; a short last tile repeats its last token (results discarded).
                let nt = min(4, t &- t0)
                let x0 = xv + t0 &* xStride
                let x1 = xv + (t0 &+ min(1, nt &- 1)) &* xStride
                let x2 = xv + (t0 &+ min(2, nt &- 1)) &* xStride
                let x3 = xv + (t0 &+ min(3, nt &- 1)) &* xStride
                var r = 0
                while r < rb {
                    let rowA = w + (r0 &+ r) &* rowBytes
                    let rowB = r &+ 1 < rb ? rowA + rowBytes : rowA
                    let s = gemmMicro2x4(R.self, rowA, rowB, x0, x1, x2, x3, xb: xb, k0: k0, k1: k1)
                    let a = acc + (r &* t &+ t0)
                    a[0] += s.0.0
                    if nt > 1 { a[1] += s.0.1 }
                    if nt > 2 { a[2] += s.0.2 }
                    if nt > 3 { a[3] += s.0.3 }
                    if r &+ 1 < rb {
                        let b = a + t
                        b[0] += s.1.0
                        if nt > 1 { b[1] += s.1.1 }
                        if nt > 2 { b[2] += s.1.2 }
                        if nt > 3 { b[3] += s.1.3 }
                    }
                    r &+= 2
                }
                t0 &+= 4
            }
            k0 = k1
        }
        for r in 0..<rb {
            let j = r0 &+ r
            let row = w + j &* rowBytes
            for i in 0..<t {
                var v = acc[r &* t &+ i]
                let xi = x + i &* n
                var k = n16
                while k < n { v += loadWeight(row, k, R.type) * xi[k]; k &+= 1 }
                if let bias { v += bias[j] }
                let o = y + (i &* d &+ j)
                if accumulate { o.pointee += v } else { o.pointee = v }
            }
        }
        r0 &+= rb
    }
}

typealias Sums4 = (Float, Float, Float, Float)

/// Rows A, B (16-column steps over [k0, k1)) . tokens x0...x3 -> 2 x 4 dot products.
/// Per step: 2 row loads + conversion, 8 X loads, 16 FMAs into 8 SIMD8 accumulators (fits 16 ymm registers).
@inline(__always)
func gemmMicro2x4<R: GemmRows>(_: R.Type, _ rowA: UnsafeRawPointer, _ rowB: UnsafeRawPointer,
                               _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                               _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>,
                               xb: Int, k0: Int, k1: Int) -> (Sums4, Sums4) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
    var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
    var k = k0
    while k < k1 {
        let (wa, wa2) = R.load(rowA, k)
        let (wb, wb2) = R.load(rowB, k)
        let h = k >> R.xShift
        var p = loadF32x8(x0, h), q = loadF32x8(x0, h &+ xb)
        a0.addProduct(wa, p); a0.addProduct(wa2, q); b0.addProduct(wb, p); b0.addProduct(wb2, q)
        p = loadF32x8(x1, h); q = loadF32x8(x1, h &+ xb)
        a1.addProduct(wa, p); a1.addProduct(wa2, q); b1.addProduct(wb, p); b1.addProduct(wb2, q)
        p = loadF32x8(x2, h); q = loadF32x8(x2, h &+ xb)
        a2.addProduct(wa, p); a2.addProduct(wa2, q); b2.addProduct(wb, p); b2.addProduct(wb2, q)
        p = loadF32x8(x3, h); q = loadF32x8(x3, h &+ xb)
        a3.addProduct(wa, p); a3.addProduct(wa2, q); b3.addProduct(wb, p); b3.addProduct(wb2, q)
        k &+= 16
    }
    return ((a0.sum(), a1.sum(), a2.sum(), a3.sum()), (b0.sum(), b1.sum(), b2.sum(), b3.sum()))
}

/// Scalar reference: Y (t,d) = X (t,n) @ W (d,n)^T (+ b), index-order Float accumulation.
func gemmReference(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                   _ x: UnsafePointer<Float>, tokens t: Int, d: Int, n: Int,
                   bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    for i in 0..<t {
        gemvReference(y + i * d, w, type, x + i * n, d: d, n: n, bias: bias, accumulate: accumulate)
    }
}
