import SwapMoECore
// GEMV for decode: one token, y = W x.
//
// Every row is reduced by the same row kernel with a fixed order (SIMD partial sums -> fixed tree -> scalar
// tail), so a row's result does not depend on how rows are split across threads.

/// Matrices below this many weight bytes stay on the calling thread. A decode reads each matrix once per token,
/// from DRAM or a far cache, and there two threads pay at smaller sizes than on a matrix already in L2. Measured
/// (Intel Xeon, 2 threads vs 1, n=1024, streamed over 256 MiB of copies / hot): bf16 192 KiB 1.1x / 0.8x,
/// 256 KiB 1.4x / 1.0x; q2_K_x8 172 KiB 1.1x / 1.05x, 344 KiB 1.35x / 1.3x; q4_K_x8 288 KiB 1.4x / 1.4x.
/// (Once 384 KiB, measured hot only, it left a q2_K model's 1024 x 1024 attention output on one thread.)
let gemvParallelMinBytes = 128 * 1024
/// Rows per chunk: multiples of 16 (one 64-byte line of y, so threads never share a line of y) and at least
/// `gemvMinChunkBytes` of weights, so that chunk claims stay rare.
let gemvRowAlign = 16
let gemvMinChunkBytes = 64 * 1024

/// W (d,n) @ x (n,) (+ b (d,)) -> y (d,); with `accumulate`, y (d,) += W @ x (+ b).
///
/// For each row: `r = dot(W[i,:], x)` accumulated in Float32; then `r += b[i]` if a bias is given; then
/// `y[i] = r` or `y[i] += r`. `y` must not overlap `x` or `W`.
/// - Parameters:
///   - w: base of the weight matrix, row-major (`nn.Linear.weight`); any alignment (2 bytes for the f16 types).
///   - pool: threads to split rows over; `nil` runs on the calling thread. Results are identical either way.
public func gemv(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                 _ x: UnsafePointer<Float>, d: Int, n: Int,
                 bias: UnsafePointer<Float>? = nil, accumulate: Bool = false, pool: ThreadPool? = nil) {
    if d <= 0 { return }
    if n <= 0 {
        for i in 0..<d {
            let r: Float = bias.map { $0[i] } ?? 0
            y[i] = accumulate ? y[i] + r : r
        }
        return
    }
    let rowBytes = type.rowBytes(n)
    withRowKernel(type, x, n: n) { rows in
        forGEMVRows(d, rowBytes: rowBytes, pool: pool) { rows(y, w, $0, bias, accumulate) }
    }
}

/// Runs `body` over rows 0..<d: split into chunks over the pool when the matrix is large enough, or at once on
/// this thread.
@inline(__always)
func forGEMVRows(_ d: Int, rowBytes: Int, pool: ThreadPool?, _ body: (Range<Int>) -> Void) {
    if let pool, pool.threadCount > 1 && d &* rowBytes >= gemvParallelMinBytes && d >= 2 &* gemvRowAlign {
        pool.forEachRange(d, alignment: gemvRowAlign, minimum: gemvMinChunkBytes / rowBytes, body)
    } else {
        body(0..<d)
    }
}

/// The row kernel of `type` for the activation x, prepared once: the quantized types' integer path quantizes x
/// (QuantGEMV+Integer.swift), bf16 splits it into even and odd halves; `body` gets a function that computes rows
/// `(y, w, rows, bias, accumulate)` of any matrix of that type and width.
@inline(__always)
func withRowKernel(_ type: WeightType, _ x: UnsafePointer<Float>, n: Int,
                   _ body: (RowKernel) -> Void) {
    if type.isQuantized {
        #if SWAPMOE_X86_INTRINSICS
        // Integer dot products: x quantized once, every row chunk reads the same blocks.
        withUnsafeTemporaryAllocation(byteCount: QuantizedActivations.scratchBytes(n), alignment: 64) { buf in
            let xq = quantizeActivations(x, n: n, block: activationBlock(type), scratch: buf.baseAddress!)
            body { y, w, rows, bias, acc in gemvQuantRowsInteger(y, w, type, xq, n: n, rows: rows, bias: bias, accumulate: acc) }
        }
        #else
        body { y, w, rows, bias, acc in gemvQuantRows(y, w, type, x, n: n, rows: rows, bias: bias, accumulate: acc) }
        #endif
        return
    }
    switch type {
    case .f32, .f16:
        body { y, w, rows, bias, acc in gemvRows(y, w, type, x, nil, n: n, rows: rows, bias: bias, accumulate: acc) }
    case .bf16:
        // Pre-split x once per call: xe[i] = x[2i], xo[i] = x[2i+1] for i < n/2.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(1, (n / 2) &* 2)) { buf in
            let xs = UnsafePointer(buf.baseAddress!)
            splitEvenOdd(buf.baseAddress!, x, n: n)
            body { y, w, rows, bias, acc in gemvRows(y, w, .bf16, x, xs, n: n, rows: rows, bias: bias, accumulate: acc) }
        }
    default:
        preconditionFailure("quantized rows return above")
    }
}

/// A row function of `withRowKernel`: computes rows `(y, w, rows, bias, accumulate)` of a matrix of its type and width.
typealias RowKernel = (UnsafeMutablePointer<Float>, UnsafeRawPointer, Range<Int>, UnsafePointer<Float>?, Bool) -> Void

/// x (n,) -> xs (2*(n/2),) = [x[0], x[2], x[4], ... | x[1], x[3], ...] (the even/odd lanes of bf16 pairs).
/// Out of line (one call per matrix), as `quantizeActivations`: inlined into a large caller (`gemvSwiGLU`) it ran the
/// optimizer's budget out and left its loads as calls to `loadUnaligned`.
@inline(never)
func splitEvenOdd(_ xs: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, n: Int) {
    let half = n / 2
    let xo = xs + half
    var i = 0
    while i &+ 8 <= half {
        let a = UnsafeRawPointer(x + 2 &* i).loadUnaligned(as: SIMD16<Float>.self)
        UnsafeMutableRawPointer(xs + i).storeBytes(of: a.evenHalf, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(xo + i).storeBytes(of: a.oddHalf, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < half { xs[i] = x[2 &* i]; xo[i] = x[2 &* i &+ 1]; i &+= 1 }
}

@inline(__always)
func gemvRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
              _ x: UnsafePointer<Float>, _ xs: UnsafePointer<Float>?, n: Int, rows: Range<Int>,
              bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = type.rowBytes(n)
    if type == .bf16 {
        bf16Rows(y, w, x, xs.unsafelyUnwrapped, n: n, rows: rows, bias: bias, accumulate: accumulate)
        return
    }
    for i in rows {
        let row = w + i &* rowBytes
        var r: Float
        switch type {
        case .f32: r = dotF32(row, x, n: n)
        case .f16: r = dotF16(row, x, n: n)
        case .bf16: r = dotBF16(row, x, xs.unsafelyUnwrapped, n: n)
        default: preconditionFailure("quantized rows go through gemvQuantRows")
        }
        if let bias { r += bias[i] }
        if accumulate { y[i] += r } else { y[i] = r }
    }
}

/// Horizontal sum with a fixed pairwise tree (halves added until one lane is left). Always inlined: the
/// stdlib `sum()` was left as an out-of-line call after the GEMM microkernel (16 calls per tile).
@inline(__always)
func hsum(_ v: SIMD16<Float>) -> Float { hsum(v.lowHalf + v.highHalf) }

@inline(__always)
func hsum(_ v: SIMD8<Float>) -> Float {
    let a = v.lowHalf + v.highHalf
    let b = a.lowHalf + a.highHalf
    return b[0] + b[1]
}

@inline(__always)
func loadF32x16(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

/// 16 f16 at byte offset -> SIMD16<Float> (two `vcvtph2ps ymm` with F16C; see `f16ToFloat8`).
@inline(__always)
func loadF16x16(_ w: UnsafeRawPointer, _ byteOffset: Int) -> SIMD16<Float> {
    let lo = f16ToFloat8(w.loadUnaligned(fromByteOffset: byteOffset, as: SIMD8<Float16>.self))
    let hi = f16ToFloat8(w.loadUnaligned(fromByteOffset: byteOffset &+ 16, as: SIMD8<Float16>.self))
    return SIMD16(lowHalf: lo, highHalf: hi)
}

@inline(__always)
func loadF32x8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
}

// MARK: Row kernels: dot(W[i,:], x). Fixed order: 4 SIMD16 partial sums over 64-blocks, one 16-block,
// tree-combined, horizontally summed, then the scalar tail in index order.

/// w (n,) f32 . x (n,) -> Float
@inline(__always)
func dotF32(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, n: Int) -> Float {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var k = 0
    while k &+ 64 <= n {
        a0.madd(w.loadUnaligned(fromByteOffset: k &* 4, as: SIMD16<Float>.self), loadF32x16(x, k))
        a1.madd(w.loadUnaligned(fromByteOffset: (k &+ 16) &* 4, as: SIMD16<Float>.self), loadF32x16(x, k &+ 16))
        a2.madd(w.loadUnaligned(fromByteOffset: (k &+ 32) &* 4, as: SIMD16<Float>.self), loadF32x16(x, k &+ 32))
        a3.madd(w.loadUnaligned(fromByteOffset: (k &+ 48) &* 4, as: SIMD16<Float>.self), loadF32x16(x, k &+ 48))
        k &+= 64
    }
    while k &+ 16 <= n {
        a0.madd(w.loadUnaligned(fromByteOffset: k &* 4, as: SIMD16<Float>.self), loadF32x16(x, k))
        k &+= 16
    }
    var s = hsum((a0 + a1) + (a2 + a3))
    while k < n { s += w.loadUnaligned(fromByteOffset: k &* 4, as: Float.self) * x[k]; k &+= 1 }
    return s
}

/// w (n,) f16 . x (n,) -> Float. Converts with `loadF16x16`.
@inline(__always)
func dotF16(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, n: Int) -> Float {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    var k = 0
    while k &+ 64 <= n {
        a0.madd(loadF16x16(w, k &* 2), loadF32x16(x, k))
        a1.madd(loadF16x16(w, (k &+ 16) &* 2), loadF32x16(x, k &+ 16))
        a2.madd(loadF16x16(w, (k &+ 32) &* 2), loadF32x16(x, k &+ 32))
        a3.madd(loadF16x16(w, (k &+ 48) &* 2), loadF32x16(x, k &+ 48))
        k &+= 64
    }
    while k &+ 16 <= n {
        a0.madd(loadF16x16(w, k &* 2), loadF32x16(x, k))
        k &+= 16
    }
    var s = hsum((a0 + a1) + (a2 + a3))
    while k < n { s += f16ToFloat(w.loadUnaligned(fromByteOffset: k &* 2, as: UInt16.self)) * x[k]; k &+= 1 }
    return s
}

/// w (n,) bf16 . x (n,) -> Float, with xs = splitEvenOdd(x).
///
/// A `SIMD16<UInt32>` load holds 32 bf16 values; lane j has element 2j in its low half and 2j+1 in its high
/// half. `u << 16` is the even elements as Float bits, `u & 0xFFFF0000` the odd ones; they multiply the
/// pre-split halves of x. (Widening through `SIMD16<UInt32>(truncatingIfNeeded:)` was measured 4x slower.)
@inline(__always)
func dotBF16(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ xs: UnsafePointer<Float>, n: Int) -> Float {
    var s = BF16Sums(), k = 0   // element index into the row; k/2 indexes the halves of xs
    while k &+ 64 <= n {
        s.add64(w, k, BF16Chunk(xs, n: n, k))
        k &+= 64
    }
    return s.finish(w, x, xs, n: n, from: k)
}

/// Rows `rows` of a bf16 matrix . x: row k of the first half beside row k of the second (`rowPairs`,
/// `dotBF16Pair`), an odd last row alone. Never inlined: inside `gemv` with the other types' loops, the
/// optimizer's budget ran out and left loads as calls.
@inline(never)
func bf16Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ xs: UnsafePointer<Float>, n: Int,
              rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    rowPairs(y, w, rowBytes: 2 &* n, rows: rows, bias: bias, accumulate: accumulate,
             pair: { dotBF16Pair($0, apart: $1, x, xs, n: n) }, one: { dotBF16($0, x, xs, n: n) })
}

/// Rows at `w` and `w + apart` . x, each exactly as `dotBF16` forms it, in one loop: two streams of weights in
/// flight instead of one (`bf16Rows`). One thread's bf16 decode of the 1.2B model read 60-65% of the DRAM probe from the page cache's 4 KiB pages
/// (`--io mmap`) and 55-100% from anonymous memory, bimodal from one process to the next; two streams: 85-95% and
/// 89-100% (2026-12-05).
@inline(__always)
func dotBF16Pair(_ w: UnsafeRawPointer, apart: Int, _ x: UnsafePointer<Float>, _ xs: UnsafePointer<Float>, n: Int) -> (Float, Float) {
    let v = w + apart, pf = prefetchDistance
    var a = BF16Sums(), b = BF16Sums(), k = 0
    while k &+ 64 <= n {
        let c = BF16Chunk(xs, n: n, k)
        prefetchAhead(w + k &* 2, bytes: 128, distance: pf); prefetchAhead(v + k &* 2, bytes: 128, distance: pf)
        a.add64(w, k, c)
        b.add64(v, k, c)
        k &+= 64
    }
    return (a.finish(w, x, xs, n: n, from: k), b.finish(v, x, xs, n: n, from: k))
}

/// The 64 elements k ..< k + 64 of the split x: even and odd halves of each 32.
struct BF16Chunk {
    let e0: SIMD16<Float>, o0: SIMD16<Float>, e1: SIMD16<Float>, o1: SIMD16<Float>

    @inline(__always)
    init(_ xs: UnsafePointer<Float>, n: Int, _ k: Int) {
        let h = k >> 1, xo = xs + n / 2
        e0 = loadF32x16(xs, h); o0 = loadF32x16(xo, h); e1 = loadF32x16(xs, h &+ 16); o1 = loadF32x16(xo, h &+ 16)
    }
}

/// A bf16 row's four running sums: even and odd elements of two 32-element halves.
struct BF16Sums {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()

    /// Elements k ..< k + 64 of the row at `w`.
    @inline(__always)
    mutating func add64(_ w: UnsafeRawPointer, _ k: Int, _ c: BF16Chunk) {
        let hi = SIMD16<UInt32>(repeating: 0xFFFF_0000)
        let u0 = w.loadUnaligned(fromByteOffset: k &* 2, as: SIMD16<UInt32>.self)
        let u1 = w.loadUnaligned(fromByteOffset: (k &+ 32) &* 2, as: SIMD16<UInt32>.self)
        a0.madd(unsafeBitCast(u0 &<< 16, to: SIMD16<Float>.self), c.e0)
        a1.madd(unsafeBitCast(u0 & hi, to: SIMD16<Float>.self), c.o0)
        a2.madd(unsafeBitCast(u1 &<< 16, to: SIMD16<Float>.self), c.e1)
        a3.madd(unsafeBitCast(u1 & hi, to: SIMD16<Float>.self), c.o1)
    }

    /// The row's dot product: the elements from k on (a 32-element chunk, then 16, then one at a time) added to
    /// the sums in a fixed order.
    @inline(__always)
    func finish(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ xs: UnsafePointer<Float>, n: Int, from start: Int) -> Float {
        let xe = xs, xo = xs + n / 2, hi = SIMD16<UInt32>(repeating: 0xFFFF_0000)
        var a0 = a0, a1 = a1, k = start
        while k &+ 32 <= n {
            let u0 = w.loadUnaligned(fromByteOffset: k &* 2, as: SIMD16<UInt32>.self)
            let h = k >> 1
            a0.madd(unsafeBitCast(u0 &<< 16, to: SIMD16<Float>.self), loadF32x16(xe, h))
            a1.madd(unsafeBitCast(u0 & hi, to: SIMD16<Float>.self), loadF32x16(xo, h))
            k &+= 32
        }
        var s = hsum((a0 + a1) + (a2 + a3))
        if k &+ 16 <= n {
            let u = w.loadUnaligned(fromByteOffset: k &* 2, as: SIMD8<UInt32>.self)
            let h = k >> 1
            var b = unsafeBitCast(u &<< 16, to: SIMD8<Float>.self) * loadF32x8(xe, h)
            b.madd(unsafeBitCast(u & SIMD8(repeating: 0xFFFF_0000), to: SIMD8<Float>.self), loadF32x8(xo, h))
            s += hsum(b)
            k &+= 16
        }
        while k < n { s += bf16ToFloat(w.loadUnaligned(fromByteOffset: k &* 2, as: UInt16.self)) * x[k]; k &+= 1 }
        return s
    }
}

// MARK: Scalar reference (tests): plain index-order Float accumulation.

/// W (d,n) @ x (n,) (+ b) -> y (d,), one scalar at a time.
func gemvReference(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                   _ x: UnsafePointer<Float>, d: Int, n: Int, bias: UnsafePointer<Float>? = nil,
                   accumulate: Bool = false) {
    var deq = [Float](repeating: 0, count: n)
    for i in 0..<d {
        let row = w + i * type.rowBytes(n)
        var r: Float = 0
        if type.isQuantized {
            deq.withUnsafeMutableBufferPointer { dequantizeRow($0.baseAddress!, row, type, count: n) }
            for k in 0..<n { r += deq[k] * x[k] }
        } else {
            for k in 0..<n { r += loadWeight(row, k, type) * x[k] }
        }
        if let bias { r += bias[i] }
        if accumulate { y[i] += r } else { y[i] = r }
    }
}
