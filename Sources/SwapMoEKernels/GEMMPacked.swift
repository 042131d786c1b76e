import SwapMoECore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// AVX2 GEMM path for half-precision weights (bf16, f16) that converts each weight element to Float32 once
// per call (per block of `packTokenBlock` tokens), instead of once per 4-token tile as `gemmRows` does.
//
// Per thread: a block of `packRows` weight rows x `packCols` columns is widened into a thread-local f32
// scratch buffer (the "pack"), then every token of the block runs over it with a 4-row x 3-token microkernel
// of SIMD8 dot-product accumulators (12 ymm accumulators + 3 X operands + 1 weight operand = 16 registers).
// Partial sums per column chunk are horizontally summed into a per-row/token accumulator; the chunking
// depends only on n, so each output element's arithmetic is independent of the thread split and of which
// other rows/tokens share its tile: results are bit-identical for any pool size.

/// Rows converted per pack. 4 = one microkernel row tile.
let packRows = envInt("PACK_ROWS", 4)
/// Columns per pack (multiple of 8): 4 rows x 1024 x 4 B = 16 KiB of f32 weights stay in L1 while X streams.
let packCols = envInt("PACK_COLS", 1024)
func envInt(_ k: String, _ d: Int) -> Int { getenv(k).flatMap { Int(String(cString: $0)) } ?? d }
/// Tokens per pass over a pack (multiple of 3); bounds the accumulator buffer.
let packTokenBlock = 96

/// Floats in one thread's scratch: the pack plus the accumulators.
let packScratchFloats = packRows * packCols + packRows * packTokenBlock

/// Thread-local scratch (allocated on a thread's first packed GEMM, freed when the thread exits).
let packScratchKey: pthread_key_t = {
    var key = pthread_key_t()
    #if canImport(Glibc)
    let rc = pthread_key_create(&key) { p in free(p) }
    #else
    let rc = pthread_key_create(&key) { p in free(p) }
    #endif
    precondition(rc == 0, "pthread_key_create failed: \(rc)")
    return key
}()

@inline(never)
func packScratch() -> UnsafeMutablePointer<Float> {
    if let p = pthread_getspecific(packScratchKey) { return p.assumingMemoryBound(to: Float.self) }
    var raw: UnsafeMutableRawPointer? = nil
    let rc = posix_memalign(&raw, 64, packScratchFloats * 4)
    precondition(rc == 0 && raw != nil, "posix_memalign failed: \(rc)")
    pthread_setspecific(packScratchKey, raw)
    return raw!.assumingMemoryBound(to: Float.self)
}

/// `count` (multiple of 8) elements of a bf16/f16 row from element `k0` -> f32 `dst`, in index order.
@inline(__always)
func packConvert(_ dst: UnsafeMutablePointer<Float>, _ row: UnsafeRawPointer, _ type: WeightType, k0: Int, count: Int) {
    var k = 0
    if type == .bf16 {
        let src = row + k0 &* 2
        while k < count {
            let h = src.loadUnaligned(fromByteOffset: k &* 2, as: SIMD8<UInt16>.self)
            let u = SIMD8<UInt32>(truncatingIfNeeded: h) &<< 16
            UnsafeMutableRawPointer(dst + k).storeBytes(of: unsafeBitCast(u, to: SIMD8<Float>.self), as: SIMD8<Float>.self)
            k &+= 8
        }
    } else {
        let src = row + k0 &* 2
        while k < count {
            let v = f16ToFloat8(src.loadUnaligned(fromByteOffset: k &* 2, as: SIMD8<Float16>.self))
            UnsafeMutableRawPointer(dst + k).storeBytes(of: v, as: SIMD8<Float>.self)
            k &+= 8
        }
    }
}

/// Y[:, rows] for all t tokens from half-precision weights, through the f32 pack.
func gemmPackedRows(_ type: WeightType, _ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer,
                    _ x: UnsafePointer<Float>, t: Int, d: Int, n: Int, rows: Range<Int>,
                    bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = n &* type.byteSize
    let nv = n & ~7                        // vectorised columns; the rest is a scalar tail
    let scratch = packScratch()
    let pack = scratch
    let acc = scratch + packRows &* packCols   // acc[r * tb + i]
    var r0 = rows.lowerBound
    while r0 < rows.upperBound {
        let rb = min(packRows, rows.upperBound &- r0)
        var t0 = 0
        while t0 < t {
            let tb = min(packTokenBlock, t &- t0)
            acc.initialize(repeating: 0, count: rb &* tb)
            var k0 = 0
            while k0 < nv {
                let kc = min(packCols, nv &- k0)
                for r in 0..<rb { packConvert(pack + r &* kc, w + (r0 &+ r) &* rowBytes, type, k0: k0, count: kc) }
                var i = 0
                while i < tb {
                    let nt = min(3, tb &- i)
                    let xk = x + ((t0 &+ i) &* n &+ k0)
                    var rt = 0
                    while rt < rb {
                        // A short row tile repeats its last row (results discarded).
                        let nr = min(4, rb &- rt), last = nr &- 1
                        let wt = pack + rt &* kc
                        let w0 = UnsafePointer(wt), w1 = UnsafePointer(wt + min(1, last) &* kc)
                        let w2 = UnsafePointer(wt + min(2, last) &* kc), w3 = UnsafePointer(wt + min(3, last) &* kc)
                        let a = acc + (rt &* tb &+ i)
                        if nt == 3 {
                            let s = packDot4x3(w0, w1, w2, w3, xk, xk + n, xk + 2 &* n, count: kc)
                            packAdd(a, tb, nr, 3, s.0, s.1, s.2, s.3)
                        } else if nt == 2 {
                            let s = packDot4x2(w0, w1, w2, w3, xk, xk + n, count: kc)
                            packAdd(a, tb, nr, 2, s.0, s.1, s.2, s.3)
                        } else {
                            let s = packDot4x1(w0, w1, w2, w3, xk, count: kc)
                            packAdd(a, tb, nr, 1, s.0, s.1, s.2, s.3)
                        }
                        rt &+= 4
                    }
                    i &+= 3
                }
                k0 &+= kc
            }
            for r in 0..<rb {
                let j = r0 &+ r
                let row = w + j &* rowBytes
                for i in 0..<tb {
                    var v = acc[r &* tb &+ i]
                    let xi = x + (t0 &+ i) &* n
                    var k = nv
                    while k < n { v += loadWeight(row, k, type) * xi[k]; k &+= 1 }
                    if let bias { v += bias[j] }
                    let o = y + ((t0 &+ i) &* d &+ j)
                    if accumulate { o.pointee += v } else { o.pointee = v }
                }
            }
            t0 &+= tb
        }
        r0 &+= rb
    }
}

typealias Sums3 = (Float, Float, Float)

/// acc[r * stride + j] += sums of row r, token j, for r < rb, j < tokens (1...3).
@inline(__always)
func packAdd(_ acc: UnsafeMutablePointer<Float>, _ stride: Int, _ rb: Int, _ tokens: Int,
             _ a: Sums3, _ b: Sums3, _ c: Sums3, _ d: Sums3) {
    @inline(__always) func add(_ p: UnsafeMutablePointer<Float>, _ s: Sums3) {
        p[0] += s.0
        if tokens > 1 { p[1] += s.1 }
        if tokens > 2 { p[2] += s.2 }
    }
    add(acc, a)
    if rb > 1 { add(acc + stride, b) }
    if rb > 2 { add(acc + 2 &* stride, c) }
    if rb > 3 { add(acc + 3 &* stride, d) }
}

/// 4 f32 rows . 3 tokens over `count` (multiple of 8) columns.
@inline(__always)
func packDot4x3(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                _ w3: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                _ x2: UnsafePointer<Float>, count: Int) -> (Sums3, Sums3, Sums3, Sums3) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
    var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>()
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>()
    var d0 = SIMD8<Float>(), d1 = SIMD8<Float>(), d2 = SIMD8<Float>()
    var k = 0
    while k < count {
        let p = loadF32x8(x0, k), q = loadF32x8(x1, k), s = loadF32x8(x2, k)
        var v = loadF32x8(w0, k)
        a0.addProduct(v, p); a1.addProduct(v, q); a2.addProduct(v, s)
        v = loadF32x8(w1, k)
        b0.addProduct(v, p); b1.addProduct(v, q); b2.addProduct(v, s)
        v = loadF32x8(w2, k)
        c0.addProduct(v, p); c1.addProduct(v, q); c2.addProduct(v, s)
        v = loadF32x8(w3, k)
        d0.addProduct(v, p); d1.addProduct(v, q); d2.addProduct(v, s)
        k &+= 8
    }
    return ((hsum(a0), hsum(a1), hsum(a2)), (hsum(b0), hsum(b1), hsum(b2)),
            (hsum(c0), hsum(c1), hsum(c2)), (hsum(d0), hsum(d1), hsum(d2)))
}

/// 4 f32 rows . 2 tokens (third sum 0).
@inline(__always)
func packDot4x2(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                _ w3: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                count: Int) -> (Sums3, Sums3, Sums3, Sums3) {
    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b0 = SIMD8<Float>(), b1 = SIMD8<Float>()
    var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), d0 = SIMD8<Float>(), d1 = SIMD8<Float>()
    var k = 0
    while k < count {
        let p = loadF32x8(x0, k), q = loadF32x8(x1, k)
        var v = loadF32x8(w0, k); a0.addProduct(v, p); a1.addProduct(v, q)
        v = loadF32x8(w1, k); b0.addProduct(v, p); b1.addProduct(v, q)
        v = loadF32x8(w2, k); c0.addProduct(v, p); c1.addProduct(v, q)
        v = loadF32x8(w3, k); d0.addProduct(v, p); d1.addProduct(v, q)
        k &+= 8
    }
    return ((hsum(a0), hsum(a1), 0), (hsum(b0), hsum(b1), 0), (hsum(c0), hsum(c1), 0), (hsum(d0), hsum(d1), 0))
}

/// 4 f32 rows . 1 token (other sums 0).
@inline(__always)
func packDot4x1(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                _ w3: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, count: Int) -> (Sums3, Sums3, Sums3, Sums3) {
    var a = SIMD8<Float>(), b = SIMD8<Float>(), c = SIMD8<Float>(), d = SIMD8<Float>()
    var k = 0
    while k < count {
        let p = loadF32x8(x0, k)
        a.addProduct(loadF32x8(w0, k), p); b.addProduct(loadF32x8(w1, k), p)
        c.addProduct(loadF32x8(w2, k), p); d.addProduct(loadF32x8(w3, k), p)
        k &+= 8
    }
    return ((hsum(a), 0, 0), (hsum(b), 0, 0), (hsum(c), 0, 0), (hsum(d), 0, 0))
}
