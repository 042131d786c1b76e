import SwapMoECore
// GEMM for prefill: T tokens at once, Y = X W^T.
//
// Default (AVX2) build, bf16/f16 weights: `gemmPackedRows` (GEMMPacked.swift) widens each weight element to
// f32 once per call into a thread-local pack and runs a 4-row x 3-token f32 kernel over it; bf16 16384x4096
// T=64 measured ~100 vs ~87 GFLOP/s per core for the path below. f32 weights and AVX-512 builds use the path below.
//
// Each weight row is read from memory once per call and converted to Float32 once per 4-token tile, while
// it sits in L1. Blocking: rows in blocks of `gemmRowBlock`, columns in chunks of `gemmColChunk`, tokens in
// tiles of 4, and a register microkernel (2 rows x 4 tokens of SIMD8 by default, see below).
// The arithmetic of one output element depends only on (n, its column chunking), never on the thread
// split, so results are bit-identical for any pool size. They are not bit-identical to `gemv` (different
// partial sums); both are plain Float32 accumulations.

let gemmRowBlock = 16

// Microkernel shape. The default targets AVX2/FMA (16 ymm registers): 2 rows x 4 tokens of SIMD8
// accumulators over 16 columns per step. Building with `-D SWAPMOE_AVX512` (together with an AVX-512
// `-target-cpu`, e.g. znver4) switches to 4 rows x 4 tokens of SIMD16 over 32 columns per step, which uses
// 16 of the 32 zmm registers; on a Zen 5 core (full-width AVX-512 FMA) bf16 T=64 measured 150 vs 85
// GFLOP/s per core. Zen 4 executes 512-bit FMAs in two halves, so expect less there.
#if SWAPMOE_AVX512
let gemmTileRows = 4
let gemmStep = 32
/// Columns per chunk (multiple of gemmStep): the 4-token X tile (4 x 2048 x 4 B = 32 KiB) stays in L1.
/// Measured on Zen 5 (48 KiB L1D): 2048 -> 150, 1024 -> 135, 512 -> 125 GFLOP/s per core.
let gemmColChunk = 2048
typealias GemmVec = SIMD16<Float>
#else
let gemmTileRows = 2
let gemmStep = 16
/// Columns per chunk (multiple of gemmStep): the 4-token X tile (4 x 1024 x 4 B = 16 KiB) stays in L1 even on
/// 32 KiB-L1 CPUs. Measured on Zen 5: 512 -> 81, 1024 -> 85, 2048 -> 87 GFLOP/s per core.
let gemmColChunk = 1024
typealias GemmVec = SIMD8<Float>
#endif

/// X (t,n) @ W (d,n)^T (+ b (d,)) -> Y (t,d); with `accumulate`, Y (t,d) += X @ W^T (+ b).
///
/// Rows of X and Y are contiguous (`X[i, k]` at `x[i*n + k]`, `Y[i, j]` at `y[i*d + j]`). For `t == 1` this is
/// exactly `gemv`. `Y` must not overlap `X` or `W`.
/// - Parameter pool: threads to split weight rows over; `nil` runs on the calling thread.
public func gemm(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                 _ x: UnsafePointer<Float>, tokens t: Int, d: Int, n: Int,
                 bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, pool: ThreadPool? = nil) {
    if t <= 0 || d <= 0 { return }
    if type.isQuantized {
        gemmQuant(y, w, type, x, tokens: t, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
        return
    }
    if t == 1 || n < 16 {
        for i in 0..<t {
            gemv(y + i &* d, w, type, x + i &* n, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
        }
        return
    }
    #if !SWAPMOE_AVX512
    if type != .f32 && n >= 8 {
        // Half-precision weights on AVX2: widen each weight block to f32 once per call, then run all tokens
        // over it (GEMMPacked.swift).
        if let pool, pool.threadCount > 1, d > gemmRowBlock {
            pool.forEachRange(d, alignment: gemmRowBlock, minimum: gemmRowBlock) { rows in
                gemmPackedRows(type, y, w, x, t: t, d: d, n: n, rows: rows, bias: bias, accumulate: accumulate)
            }
        } else {
            gemmPackedRows(type, y, w, x, t: t, d: d, n: n, rows: 0..<d, bias: bias, accumulate: accumulate)
        }
        return
    }
    #endif
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
    default:
        preconditionFailure("quantized weights go through gemmQuant")
    }
}

/// How one weight format feeds the microkernel: `gemmStep` row elements at column k -> two GemmVec halves
/// (A, B), matched with X operands P = xa[k >> xShift], Q = xb[k >> xShift] (xb = xa + xbOffset).
protocol GemmRows {
    static var type: WeightType { get }
    static var xShift: Int { get }
    static func xbOffset(n: Int) -> Int
    static func load(_ row: UnsafeRawPointer, _ k: Int) -> (GemmVec, GemmVec)
}

enum F32Rows: GemmRows {
    static var type: WeightType { .f32 }
    static var xShift: Int { 0 }
    @inline(__always) static func xbOffset(n: Int) -> Int { GemmVec.scalarCount }
    @inline(__always) static func load(_ row: UnsafeRawPointer, _ k: Int) -> (GemmVec, GemmVec) {
        (row.loadUnaligned(fromByteOffset: k &* 4, as: GemmVec.self),
         row.loadUnaligned(fromByteOffset: (k &+ GemmVec.scalarCount) &* 4, as: GemmVec.self))
    }
}

enum F16Rows: GemmRows {
    static var type: WeightType { .f16 }
    static var xShift: Int { 0 }
    @inline(__always) static func xbOffset(n: Int) -> Int { GemmVec.scalarCount }
    @inline(__always) static func load(_ row: UnsafeRawPointer, _ k: Int) -> (GemmVec, GemmVec) {
        #if SWAPMOE_AVX512
        (loadF16x16(row, k &* 2), loadF16x16(row, k &* 2 &+ 32))
        #else
        (f16ToFloat8(row.loadUnaligned(fromByteOffset: k &* 2, as: SIMD8<Float16>.self)),
         f16ToFloat8(row.loadUnaligned(fromByteOffset: k &* 2 &+ 16, as: SIMD8<Float16>.self)))
        #endif
    }
}

enum BF16Rows: GemmRows {
    static var type: WeightType { .bf16 }
    static var xShift: Int { 1 }
    @inline(__always) static func xbOffset(n: Int) -> Int { n / 2 }
    /// 2 x GemmVec.scalarCount bf16 as UInt32 lanes: even elements = u << 16, odd = u & 0xFFFF0000.
    @inline(__always) static func load(_ row: UnsafeRawPointer, _ k: Int) -> (GemmVec, GemmVec) {
        #if SWAPMOE_AVX512
        let u = row.loadUnaligned(fromByteOffset: k &* 2, as: SIMD16<UInt32>.self)
        #else
        let u = row.loadUnaligned(fromByteOffset: k &* 2, as: SIMD8<UInt32>.self)
        #endif
        return (unsafeBitCast(u &<< 16, to: GemmVec.self),
                unsafeBitCast(u & .init(repeating: 0xFFFF_0000), to: GemmVec.self))
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
    let rowBytes = R.type.rowBytes(n)
    let nv = n - n % gemmStep          // vectorised columns; the rest is a scalar tail
    let xb = R.xbOffset(n: n)
    let acc = UnsafeMutablePointer<Float>.allocate(capacity: gemmRowBlock &* t)   // acc[r * t + token]
    defer { acc.deallocate() }
    var r0 = rows.lowerBound
    while r0 < rows.upperBound {
        let rb = min(gemmRowBlock, rows.upperBound &- r0)
        acc.initialize(repeating: 0, count: rb &* t)
        var k0 = 0
        while k0 < nv {
            let k1 = min(nv, k0 &+ gemmColChunk)
            var t0 = 0
            while t0 < t {
                // 4-token tile; a short last tile repeats its last token (results discarded).
                let nt = min(4, t &- t0)
                let xs = (xv + t0 &* xStride,
                          xv + (t0 &+ min(1, nt &- 1)) &* xStride,
                          xv + (t0 &+ min(2, nt &- 1)) &* xStride,
                          xv + (t0 &+ min(3, nt &- 1)) &* xStride)
                var r = 0
                while r < rb {
                    // Row tile; a short last tile repeats its last row (results discarded).
                    let nr = min(gemmTileRows, rb &- r)
                    let row0 = w + (r0 &+ r) &* rowBytes
                    let rowStep = nr > 1 ? rowBytes : 0
                    gemmMicro(R.self, row0, rowBytes: rowStep, lastRow: nr &- 1, xs, xb: xb, k0: k0, k1: k1,
                              acc + (r &* t &+ t0), accStride: t, rows: nr, tokens: nt)
                    r &+= gemmTileRows
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
                var k = nv
                while k < n { v += loadWeight(row, k, R.type) * xi[k]; k &+= 1 }
                if let bias { v += bias[j] }
                let o = y + (i &* d &+ j)
                if accumulate { o.pointee += v } else { o.pointee = v }
            }
        }
        r0 &+= rb
    }
}

typealias XTile = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>)

/// acc[r * accStride + j] += Σ_k W[row r, k] X[token j, k] over [k0, k1), for r < rows, j < tokens.
/// Row r is at `row0 + min(r, lastRow) * rowBytes`.
@inline(__always)
func gemmMicro<R: GemmRows>(_: R.Type, _ row0: UnsafeRawPointer, rowBytes: Int, lastRow: Int, _ xs: XTile,
                            xb: Int, k0: Int, k1: Int, _ acc: UnsafeMutablePointer<Float>, accStride: Int,
                            rows: Int, tokens: Int) {
    #if SWAPMOE_AVX512
    let rA = row0, rB = row0 + min(1, lastRow) &* rowBytes
    let rC = row0 + min(2, lastRow) &* rowBytes, rD = row0 + min(3, lastRow) &* rowBytes
    let s = gemmMicro4x4(R.self, rA, rB, rC, rD, xs, xb: xb, k0: k0, k1: k1)
    addSums(acc, s.0, tokens)
    if rows > 1 { addSums(acc + accStride, s.1, tokens) }
    if rows > 2 { addSums(acc + 2 &* accStride, s.2, tokens) }
    if rows > 3 { addSums(acc + 3 &* accStride, s.3, tokens) }
    #else
    let s = gemmMicro2x4(R.self, row0, row0 + rowBytes, xs.0, xs.1, xs.2, xs.3, xb: xb, k0: k0, k1: k1)
    addSums(acc, s.0, tokens)
    if rows > 1 { addSums(acc + accStride, s.1, tokens) }
    #endif
}

@inline(__always)
func addSums(_ a: UnsafeMutablePointer<Float>, _ v: Sums4, _ tokens: Int) {
    a[0] += v.0
    if tokens > 1 { a[1] += v.1 }
    if tokens > 2 { a[2] += v.2 }
    if tokens > 3 { a[3] += v.3 }
}

typealias Sums4 = (Float, Float, Float, Float)

/// Rows A, B (16-column steps over [k0, k1)) . tokens x0...x3 -> 2 x 4 dot products.
/// Per step: 2 row loads + conversion, 8 X loads, 16 FMAs into 8 SIMD8 accumulators (fits 16 ymm registers).
#if !SWAPMOE_AVX512
@inline(__always)
func gemmMicro2x4<R: GemmRows>(_: R.Type, _ rowA: UnsafeRawPointer, _ rowB: UnsafeRawPointer,
                               _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                               _ x2: UnsafePointer<Float>, _ x3: UnsafePointer<Float>,
                               xb: Int, k0: Int, k1: Int) -> (Sums4, Sums4) {
    var a0 = GemmVec(), a1 = GemmVec(), a2 = GemmVec(), a3 = GemmVec()
    var b0 = GemmVec(), b1 = GemmVec(), b2 = GemmVec(), b3 = GemmVec()
    var k = k0
    while k < k1 {
        let (wa, wa2) = R.load(rowA, k)
        let (wb, wb2) = R.load(rowB, k)
        let h = k >> R.xShift
        var p = loadVec(x0, h), q = loadVec(x0, h &+ xb)
        a0.madd(wa, p); a0.madd(wa2, q); b0.madd(wb, p); b0.madd(wb2, q)
        p = loadVec(x1, h); q = loadVec(x1, h &+ xb)
        a1.madd(wa, p); a1.madd(wa2, q); b1.madd(wb, p); b1.madd(wb2, q)
        p = loadVec(x2, h); q = loadVec(x2, h &+ xb)
        a2.madd(wa, p); a2.madd(wa2, q); b2.madd(wb, p); b2.madd(wb2, q)
        p = loadVec(x3, h); q = loadVec(x3, h &+ xb)
        a3.madd(wa, p); a3.madd(wa2, q); b3.madd(wb, p); b3.madd(wb2, q)
        k &+= 16
    }
    return ((hsum(a0), hsum(a1), hsum(a2), hsum(a3)), (hsum(b0), hsum(b1), hsum(b2), hsum(b3)))
}
#endif

#if SWAPMOE_AVX512
/// Rows A...D (32-column steps over [k0, k1)) . tokens xs.0...3 -> 4 x 4 dot products.
/// Per step: 4 row loads + conversion, 8 X loads, 32 FMAs into 16 SIMD16 accumulators (of 32 zmm).
@inline(__always)
func gemmMicro4x4<R: GemmRows>(_: R.Type, _ rA: UnsafeRawPointer, _ rB: UnsafeRawPointer,
                               _ rC: UnsafeRawPointer, _ rD: UnsafeRawPointer, _ xs: XTile,
                               xb: Int, k0: Int, k1: Int) -> (Sums4, Sums4, Sums4, Sums4) {
    var a0 = GemmVec(), a1 = GemmVec(), a2 = GemmVec(), a3 = GemmVec()
    var b0 = GemmVec(), b1 = GemmVec(), b2 = GemmVec(), b3 = GemmVec()
    var c0 = GemmVec(), c1 = GemmVec(), c2 = GemmVec(), c3 = GemmVec()
    var d0 = GemmVec(), d1 = GemmVec(), d2 = GemmVec(), d3 = GemmVec()
    var k = k0
    while k < k1 {
        let (wa, wa2) = R.load(rA, k), (wb, wb2) = R.load(rB, k)
        let (wc, wc2) = R.load(rC, k), (wd, wd2) = R.load(rD, k)
        let h = k >> R.xShift
        var p = loadVec(xs.0, h), q = loadVec(xs.0, h &+ xb)
        a0.madd(wa, p); a0.madd(wa2, q); b0.madd(wb, p); b0.madd(wb2, q)
        c0.madd(wc, p); c0.madd(wc2, q); d0.madd(wd, p); d0.madd(wd2, q)
        p = loadVec(xs.1, h); q = loadVec(xs.1, h &+ xb)
        a1.madd(wa, p); a1.madd(wa2, q); b1.madd(wb, p); b1.madd(wb2, q)
        c1.madd(wc, p); c1.madd(wc2, q); d1.madd(wd, p); d1.madd(wd2, q)
        p = loadVec(xs.2, h); q = loadVec(xs.2, h &+ xb)
        a2.madd(wa, p); a2.madd(wa2, q); b2.madd(wb, p); b2.madd(wb2, q)
        c2.madd(wc, p); c2.madd(wc2, q); d2.madd(wd, p); d2.madd(wd2, q)
        p = loadVec(xs.3, h); q = loadVec(xs.3, h &+ xb)
        a3.madd(wa, p); a3.madd(wa2, q); b3.madd(wb, p); b3.madd(wb2, q)
        c3.madd(wc, p); c3.madd(wc2, q); d3.madd(wd, p); d3.madd(wd2, q)
        k &+= 32
    }
    return ((hsum(a0), hsum(a1), hsum(a2), hsum(a3)), (hsum(b0), hsum(b1), hsum(b2), hsum(b3)),
            (hsum(c0), hsum(c1), hsum(c2), hsum(c3)), (hsum(d0), hsum(d1), hsum(d2), hsum(d3)))
}
#endif

@inline(__always)
func loadVec(_ p: UnsafePointer<Float>, _ i: Int) -> GemmVec {
    UnsafeRawPointer(p + i).loadUnaligned(as: GemmVec.self)
}

/// Scalar reference: Y (t,d) = X (t,n) @ W (d,n)^T (+ b), index-order Float accumulation.
func gemmReference(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                   _ x: UnsafePointer<Float>, tokens t: Int, d: Int, n: Int,
                   bias: UnsafePointer<Float>? = nil, accumulate: Bool = false) {
    for i in 0..<t {
        gemvReference(y + i * d, w, type, x + i * n, d: d, n: n, bias: bias, accumulate: accumulate)
    }
}
