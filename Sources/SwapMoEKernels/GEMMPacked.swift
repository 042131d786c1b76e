import SwapMoECore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// AVX2 GEMM path for half-precision weights (bf16, f16) that converts each weight element to Float32 once
// per call (per block of `packTokenBlock` tokens), instead of once per 4-token tile as `gemmRows` does.
//
// Per thread: a block of weight rows x columns (`packShape`) is widened into a thread-local f32 scratch buffer
// (the "pack"), then every token of the block runs over it with a 4-row x 3-token microkernel of SIMD8
// dot-product accumulators (12 ymm accumulators + 3 X operands + 1 weight operand = 16 registers). The SIMD8
// partial sums live in the scratch across column chunks and are horizontally summed once per output, so each
// output element is a fixed function of (its row, its token, n): the same for any pack shape, thread split or
// neighbouring rows/tokens, hence bit-identical for any pool size. Not bit-identical to `gemv` or to the
// f32 / AVX-512 `gemmRows` path (different partial sums); all are plain Float32 accumulations.

/// Pack shape (rows, columns) for a batch of t tokens; rows x columns <= `packFloats`.
/// Measured bf16 16384x4096 on Zen 5, 1 thread, GFLOP/s (T=16 / T=64): 4x1024 -> 70 / 100, 8x512 -> 77 / 95,
/// 16x256 -> 82 / 87. Few tokens: more rows per pack reuse each 3-token X tile over 4 row tiles in L1.
/// Many tokens: long 1024-column chunks keep per-call overhead (accumulator loads/stores) low.
@inline(__always)
func packShape(tokens t: Int) -> (rows: Int, cols: Int) { t < 32 ? (16, 256) : (4, 1024) }
/// Floats in one pack buffer (the largest rows x cols of `packShape`).
let packFloats = 4096
/// Most rows in a pack (sizes the accumulator buffer).
let packMaxRows = 16
/// Tokens per pass over a pack (multiple of 3); bounds the accumulator buffer.
let packTokenBlock = 96

/// Floats in one thread's scratch: two pack buffers (current, next) plus SIMD8 accumulators
/// (2 x 16 KiB + 48 KiB = 80 KiB).
let packScratchFloats = 2 * packFloats + 8 * packMaxRows * packTokenBlock

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

/// Converts elements [e0, e1) of the pack for rows r0..<r0+rb, columns k0..<k0+kc (pack element e is row
/// e / kc, column e % kc; e0, e1 and kc are multiples of 8).
@inline(__always)
func packConvertRange(_ pack: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType, rowBytes: Int,
                      r0: Int, k0: Int, kc: Int, _ e0: Int, _ e1: Int) {
    var e = e0
    while e < e1 {
        let r = e / kc, c = e &- r &* kc
        let m = min(e1 &- e, kc &- c)
        packConvert(pack + e, w + (r0 &+ r) &* rowBytes, type, k0: k0 &+ c, count: m)
        e &+= m
    }
}

/// Y[:, rows] for all t tokens from half-precision weights, through the f32 pack.
///
/// Steps run over (row block, token block, column chunk). The pack of the next step is converted while the
/// current one is in use, a slice after each token tile, so its DRAM reads overlap the FMAs (two pack buffers).
func gemmPackedRows(_ type: WeightType, _ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer,
                    _ x: UnsafePointer<Float>, t: Int, d: Int, n: Int, rows: Range<Int>,
                    bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = type.rowBytes(n)
    let nv = n & ~7                        // vectorised columns; the rest is a scalar tail
    let scratch = packScratch()
    let (packRows, packCols) = packShape(tokens: t)
    var pack = scratch, nextPack = scratch + packFloats
    // SIMD8 partial sums carried across column chunks: acc[r * tb + i] for row r of the pack, token i.
    let acc = UnsafeMutableRawPointer(scratch + 2 &* packFloats)
        .bindMemory(to: SIMD8<Float>.self, capacity: packMaxRows &* packTokenBlock)
    let ub = rows.upperBound
    // Current step.
    var r0 = rows.lowerBound, t0 = 0, k0 = 0
    if nv > 0 {
        let rb = min(packRows, ub &- r0), kc = min(packCols, nv)
        packConvertRange(pack, w, type, rowBytes: rowBytes, r0: r0, k0: 0, kc: kc, 0, rb &* kc)
    }
    while r0 < ub {
        let rb = min(packRows, ub &- r0)
        let tb = min(packTokenBlock, t &- t0)
        if k0 == 0 { acc.initialize(repeating: SIMD8<Float>(), count: ((rb &+ 3) & ~3) &* tb) }
        if nv > 0 {
            let kc = min(packCols, nv &- k0)
            // Next step (its pack is converted in slices during this one).
            var nr0 = r0, nt0 = t0, nk0 = k0 &+ kc
            if nk0 >= nv { nk0 = 0; nt0 = t0 &+ tb; if nt0 >= t { nt0 = 0; nr0 = r0 &+ rb } }
            let hasNext = nr0 < ub
            let nrb = hasNext ? min(packRows, ub &- nr0) : 0, nkc = hasNext ? min(packCols, nv &- nk0) : 0
            let nElems = nrb &* nkc, tiles = (tb &+ 2) / 3
            let slice = ((nElems / 8 &+ tiles &- 1) / tiles) &* 8
            var done = 0
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
                        packDot4x3(w0, w1, w2, w3, xk, xk + n, xk + 2 &* n, count: kc, a, tb)
                    } else if nt == 2 {
                        packDot4x2(w0, w1, w2, w3, xk, xk + n, count: kc, a, tb)
                    } else {
                        packDot4x1(w0, w1, w2, w3, xk, count: kc, a, tb)
                    }
                    rt &+= 4
                }
                if done < nElems {
                    let e1 = min(nElems, done &+ slice)
                    packConvertRange(nextPack, w, type, rowBytes: rowBytes, r0: nr0, k0: nk0, kc: nkc, done, e1)
                    done = e1
                }
                i &+= 3
            }
            swap(&pack, &nextPack)
            k0 &+= kc
            if k0 < nv { continue }
        }
        // Row block x token block finished: horizontal sums, scalar column tail, bias, store.
        for r in 0..<rb {
            let j = r0 &+ r
            let row = w + j &* rowBytes
            for i in 0..<tb {
                var v = nv > 0 ? hsum(acc[r &* tb &+ i]) : 0
                let xi = x + (t0 &+ i) &* n
                var k = nv
                while k < n { v += loadWeight(row, k, type) * xi[k]; k &+= 1 }
                if let bias { v += bias[j] }
                let o = y + ((t0 &+ i) &* d &+ j)
                if accumulate { o.pointee += v } else { o.pointee = v }
            }
        }
        k0 = 0
        t0 &+= tb
        if t0 >= t { t0 = 0; r0 &+= rb }
    }
}

// Microkernels: acc[r * stride + j] += lane-wise Σ_k W[r, k] X[j, k] over `count` (multiple of 8) columns,
// for 4 rows and 3/2/1 tokens. The SIMD8 accumulators are loaded from and stored back to `acc`.

/// 4 f32 rows . 3 tokens.
@inline(__always)
func packDot4x3(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                _ w3: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                _ x2: UnsafePointer<Float>, count: Int, _ acc: UnsafeMutablePointer<SIMD8<Float>>, _ stride: Int) {
    let pa = acc, pb = acc + stride, pc = acc + 2 &* stride, pd = acc + 3 &* stride
    var a0 = pa[0], a1 = pa[1], a2 = pa[2]
    var b0 = pb[0], b1 = pb[1], b2 = pb[2]
    var c0 = pc[0], c1 = pc[1], c2 = pc[2]
    var d0 = pd[0], d1 = pd[1], d2 = pd[2]
    var k = 0
    while k < count {
        let p = loadF32x8(x0, k), q = loadF32x8(x1, k), s = loadF32x8(x2, k)
        var v = loadF32x8(w0, k)
        a0.madd(v, p); a1.madd(v, q); a2.madd(v, s)
        v = loadF32x8(w1, k)
        b0.madd(v, p); b1.madd(v, q); b2.madd(v, s)
        v = loadF32x8(w2, k)
        c0.madd(v, p); c1.madd(v, q); c2.madd(v, s)
        v = loadF32x8(w3, k)
        d0.madd(v, p); d1.madd(v, q); d2.madd(v, s)
        k &+= 8
    }
    pa[0] = a0; pa[1] = a1; pa[2] = a2
    pb[0] = b0; pb[1] = b1; pb[2] = b2
    pc[0] = c0; pc[1] = c1; pc[2] = c2
    pd[0] = d0; pd[1] = d1; pd[2] = d2
}

/// 4 f32 rows . 2 tokens.
@inline(__always)
func packDot4x2(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                _ w3: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>,
                count: Int, _ acc: UnsafeMutablePointer<SIMD8<Float>>, _ stride: Int) {
    let pa = acc, pb = acc + stride, pc = acc + 2 &* stride, pd = acc + 3 &* stride
    var a0 = pa[0], a1 = pa[1], b0 = pb[0], b1 = pb[1]
    var c0 = pc[0], c1 = pc[1], d0 = pd[0], d1 = pd[1]
    var k = 0
    while k < count {
        let p = loadF32x8(x0, k), q = loadF32x8(x1, k)
        var v = loadF32x8(w0, k); a0.madd(v, p); a1.madd(v, q)
        v = loadF32x8(w1, k); b0.madd(v, p); b1.madd(v, q)
        v = loadF32x8(w2, k); c0.madd(v, p); c1.madd(v, q)
        v = loadF32x8(w3, k); d0.madd(v, p); d1.madd(v, q)
        k &+= 8
    }
    pa[0] = a0; pa[1] = a1; pb[0] = b0; pb[1] = b1
    pc[0] = c0; pc[1] = c1; pd[0] = d0; pd[1] = d1
}

/// 4 f32 rows . 1 token.
@inline(__always)
func packDot4x1(_ w0: UnsafePointer<Float>, _ w1: UnsafePointer<Float>, _ w2: UnsafePointer<Float>,
                _ w3: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, count: Int,
                _ acc: UnsafeMutablePointer<SIMD8<Float>>, _ stride: Int) {
    let pa = acc, pb = acc + stride, pc = acc + 2 &* stride, pd = acc + 3 &* stride
    var a = pa[0], b = pb[0], c = pc[0], d = pd[0]
    var k = 0
    while k < count {
        let p = loadF32x8(x0, k)
        a.madd(loadF32x8(w0, k), p); b.madd(loadF32x8(w1, k), p)
        c.madd(loadF32x8(w2, k), p); d.madd(loadF32x8(w3, k), p)
        k &+= 8
    }
    pa[0] = a; pb[0] = b; pc[0] = c; pd[0] = d
}
