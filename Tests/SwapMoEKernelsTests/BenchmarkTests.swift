import SwapMoECore
import Dispatch
import Foundation
import Testing
@testable import SwapMoEKernels

/// Throughput numbers for `swapmoe bench` and for choosing kernel settings. Prints only; no timed assertions.
/// Run in release: RUN_BENCHMARKS=1 swift test -c release -Xswiftc -enable-testing --filter Benchmarks
@Suite("Benchmarks", .serialized, .enabled(if: ProcessInfo.processInfo.environment["RUN_BENCHMARKS"] == "1"))
struct Benchmarks {
    static func best(_ reps: Int, _ body: () -> Void) -> Double {
        var b = Double.infinity
        for _ in 0..<reps { let t0 = monotonicSeconds(); body(); b = min(b, monotonicSeconds() - t0) }
        return b
    }

    static func f(_ v: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", v) }

    static func weights(_ count: Int, _ type: WeightType) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: count * type.blockBytes, alignment: 64)
        var rng = TestRNG(seed: 42)
        for i in 0..<count {
            let v = Float.random(in: -1...1, using: &rng)
            switch type {
            case .f32: p.storeBytes(of: v, toByteOffset: 4 * i, as: Float.self)
            case .f16: p.storeBytes(of: floatToF16(v), toByteOffset: 2 * i, as: UInt16.self)
            case .bf16: p.storeBytes(of: floatToBF16(v), toByteOffset: 2 * i, as: UInt16.self)
            default: preconditionFailure("float types only")
            }
        }
        return p
    }

    @Test("DRAM read bandwidth on 1 and 2 threads")
    func bandwidth() {
        for threads in [1, 2] {
            let gbs = measureReadBandwidth(bytes: 1 << 30, threads: threads)
            print("BENCH dram_read threads=\(threads) \(Self.f(gbs)) GB/s")
        }
    }

    @Test("GEMV GB/s, 16384x4096, every dtype, 1 and 2 threads")
    func gemvThroughput() {
        let d = 16384, n = 4096
        var rng = TestRNG(seed: 1)
        let x = randomFloats(n, &rng)
        var y = [Float](repeating: 0, count: d)
        for type in [WeightType.bf16, .f16, .f32] {
            let w = Self.weights(d * n, type)
            defer { w.deallocate() }
            for threads in [1, 2] {
                let pool = ThreadPool(threads: threads)
                gemv(&y, w, type, x, d: d, n: n, pool: pool)
                let t = Self.best(10) { gemv(&y, w, type, x, d: d, n: n, pool: pool) }
                print("BENCH gemv \(type) \(d)x\(n) threads=\(threads) \(Self.f(Double(d * n * type.blockBytes) / t / 1e9)) GB/s (\(Self.f(t * 1e3, 3)) ms)")
            }
        }
    }

    @Test("GEMM per-token speedup at T=16, 32 and 64 over T=1 GEMV, 16384x4096")
    func gemmSpeedup() {
        let d = 16384, n = 4096, tMax = 64
        var rng = TestRNG(seed: 2)
        let x = randomFloats(tMax * n, &rng)
        var y = [Float](repeating: 0, count: tMax * d)
        for type in [WeightType.bf16, .f16, .f32] {
            let w = Self.weights(d * n, type)
            defer { w.deallocate() }
            for threads in [1, 2] {
                let pool = ThreadPool(threads: threads)
                let t1 = Self.best(5) { gemv(&y, w, type, x, d: d, n: n, pool: pool) }
                for t in [16, 32, tMax] {
                    let tT = Self.best(3) { gemm(&y, w, type, x, tokens: t, d: d, n: n, pool: pool) }
                    print("BENCH gemm \(type) \(d)x\(n) threads=\(threads) T=1 \(Self.f(t1 * 1e3, 3)) ms/token, T=\(t) \(Self.f(tT / Double(t) * 1e3, 3)) ms/token, speedup \(Self.f(t1 / (tT / Double(t))))x, \(Self.f(2 * Double(t * d * n) / tT / 1e9, 1)) GFLOP/s")
                }
            }
        }
    }

    @Test("Quantized GEMV GB/s (quantized bytes) and GEMM GFLOP/s beside bf16 and the DRAM probe, 16384x4096")
    func quantThroughput() {
        let d = 16384, n = 4096, tMax = 64
        let types: [WeightType] = [.bf16] + quantTypes
        var rng = TestRNG(seed: 5)
        let x = randomFloats(tMax * n, &rng)
        var y = [Float](repeating: 0, count: tMax * d)
        let bf16 = Self.weights(d * n, .bf16)
        defer { bf16.deallocate() }
        let quant = types.dropFirst().map { QuantMatrix($0, d: d, n: n, &rng) }
        let bases = [UnsafeRawPointer(bf16)] + quant.map { UnsafeRawPointer($0.base) }
        defer { withExtendedLifetime(quant) {} }   // release builds end a lifetime at its last use
        for threads in [1, 2] {
            let pool = ThreadPool(threads: threads)
            // Interleaved rounds, best of each: the machine is shared, so only same-run ratios mean much.
            var dram = 0.0
            var tv = [Double](repeating: .infinity, count: types.count)
            var t16 = tv, t64 = tv, tf = tv
            for _ in 0..<3 {
                dram = max(dram, measureReadBandwidth(bytes: 1 << 30, threads: threads, passes: 3))
                for (k, type) in types.enumerated() {
                    tv[k] = min(tv[k], Self.best(8) { gemv(&y, bases[k], type, x, d: d, n: n, pool: pool) })
                    if k > 0 {   // the float path (QuantGEMV.swift) beside whichever path `gemv` takes
                        tf[k] = min(tf[k], Self.best(8) {
                            y.withUnsafeMutableBufferPointer { yb in
                                x.withUnsafeBufferPointer { xb in
                                    let (yp, xp) = (yb.baseAddress!, xb.baseAddress!)
                                    pool.forEachRange(d, alignment: 16, minimum: 16) { rows in
                                        gemvQuantRows(yp, bases[k], type, xp, n: n, rows: rows, bias: nil, accumulate: false)
                                    }
                                }
                            }
                        })
                    }
                    t16[k] = min(t16[k], Self.best(2) { gemm(&y, bases[k], type, x, tokens: 16, d: d, n: n, pool: pool) })
                    t64[k] = min(t64[k], Self.best(1) { gemm(&y, bases[k], type, x, tokens: tMax, d: d, n: n, pool: pool) })
                }
            }
            print("BENCH quant dram_read threads=\(threads) \(Self.f(dram)) GB/s")
            for (k, type) in types.enumerated() {
                let bytes = Double(d * type.rowBytes(n))
                let flops = { (t: Int, s: Double) in Self.f(2 * Double(t * d * n) / s / 1e9, 1) }
                let floatPath = k == 0 ? "" : ", float path \(Self.f(bytes / tf[k] / 1e9)) GB/s (gemv \(Self.f(tf[k] / tv[k]))x it)"
                print("BENCH quant \(type) \(d)x\(n) threads=\(threads) gemv[\(quantizedGEMVUsesIntegerDots ? "integer" : "float")] \(Self.f(bytes / tv[k] / 1e9)) GB/s (\(Self.f(bytes / tv[k] / 1e9 / dram * 100, 0))% of DRAM, \(Self.f(tv[k] * 1e3, 3)) ms, \(Self.f(tv[0] / tv[k]))x bf16)\(floatPath), gemm T=16 \(flops(16, t16[k])) GFLOP/s, T=64 \(flops(tMax, t64[k])) GFLOP/s (\(Self.f(t64[0] / t64[k]))x bf16)")
            }
        }
    }

    /// The decode GEMV on the shapes a model has (not one large matrix): per-row and per-super-block costs weigh
    /// more on short rows. "hot": one matrix over and over (in cache); "streamed": COPIES distinct matrices walked
    /// in turn, more bytes than the last-level cache, as a decode walks its experts. One thread unless THREADS.
    /// RUN_BENCHMARKS=1 QUANT_SHAPES=2816x1024,1024x2816 QUANT_TYPES=q4_K,q8_0 swift test -c release
    ///   -Xswiftc -enable-testing --filter 'Benchmarks/quantShapes'
    @Test("Quantized GEMV GB/s per shape, hot and streamed (QUANT_SHAPES, QUANT_TYPES, THREADS)")
    func quantShapes() {
        let env = ProcessInfo.processInfo.environment
        let shapes = (env["QUANT_SHAPES"] ?? "2816x1024,1024x2816,16384x4096").split(separator: ",").map {
            let p = $0.split(separator: "x").map { Int($0)! }
            return (d: p[0], n: p[1])
        }
        let types = (env["QUANT_TYPES"] ?? "q4_K,q6_K,q8_0").split(separator: ",").map { t in WeightType.allCases.first { "\($0)" == t }! }
        let pool = ThreadPool(threads: Int(env["THREADS"] ?? "1")!)
        var rng = TestRNG(seed: 6)
        for (d, n) in shapes {
            let x = randomFloats(n, &rng)
            var y = [Float](repeating: 0, count: d)
            for type in types {
                let bytes = d * type.rowBytes(n), copies = max(1, (256 << 20) / bytes)
                let misalign = Int(env["QUANT_MISALIGN"] ?? "0")!
                let ms = (0..<copies).map { _ in QuantMatrix(type, d: d, n: n, &rng, misalign: misalign) }
                let hotReps = max(1, (64 << 20) / bytes)
                var hot = Double.infinity, streamed = Double.infinity
                for _ in 0..<5 {
                    hot = min(hot, Self.best(2) { for _ in 0..<hotReps { gemv(&y, ms[0].base, type, x, d: d, n: n, pool: pool) } } / Double(hotReps))
                    streamed = min(streamed, Self.best(2) { for m in ms { gemv(&y, m.base, type, x, d: d, n: n, pool: pool) } } / Double(copies))
                }
                withExtendedLifetime(ms) {}
                print("BENCH quant-shape \(type) \(d)x\(n) threads=\(pool.threadCount) hot \(Self.f(Double(bytes) / hot / 1e9)) GB/s (\(Self.f(hot * 1e6, 1)) us), streamed x\(copies) \(Self.f(Double(bytes) / streamed / 1e9)) GB/s (\(Self.f(streamed * 1e6, 1)) us)")
            }
        }
    }

    /// The floor of a quantized decode (Bandwidth+Floor.swift): GB/s streaming 1 GiB while doing only the
    /// arithmetic no kernel of the type can skip, beside the plain read, on 1 and 2 threads, ROUNDS interleaved
    /// rounds (default 3). x86 builds (AVX2 or AVX512_VNNI).
    /// RUN_BENCHMARKS=1 swift test -c release -Xswiftc -enable-testing --filter 'Benchmarks/floor'
    @Test("Floor of a quantized decode: GB/s with the least arithmetic per type")
    func floor() {
        let rounds = Int(ProcessInfo.processInfo.environment["ROUNDS"] ?? "3")!
        guard let probe = FloorProbe(bytes: 1 << 30) else {
            print("BENCH floor: skipped, no x86 integer path (AVX2) in this build"); return
        }
        var results: [String: [Double]] = [:]
        for _ in 0..<rounds {
            for threads in [1, 2] {
                for work in FloorWork.measured {
                    results["\(work) threads=\(threads)", default: []].append(probe.measure(work, threads: threads))
                }
            }
        }
        for threads in [1, 2] {
            let read = results["read threads=\(threads)"]!
            for work in FloorWork.measured {
                let v = results["\(work) threads=\(threads)"]!
                let ratios = zip(v, read).map { $0 / $1 }.sorted()
                print("BENCH floor \(work) threads=\(threads) \(v.map { Self.f($0) }.joined(separator: " ")) GB/s, of read (per round, median) \(Self.f(ratios[ratios.count / 2] * 100, 0))%")
            }
        }
    }

    @Test("GEMM kernel on cache-resident shapes")
    func gemmHot() {
        var rng = TestRNG(seed: 9)
        for (d, n, t) in [(256, 2048, 64), (256, 4096, 64), (256, 4096, 32), (4096, 2048, 64), (4096, 4096, 32), (256, 2048, 16)] {
            let x = randomFloats(t * n, &rng)
            var y = [Float](repeating: 0, count: t * d)
            let w = Self.weights(d * n, .bf16)
            defer { w.deallocate() }
            let reps = max(2, 200 * 64 * 1024 * 64 / (t * d * n))
            let tT = Self.best(3) { for _ in 0..<reps { gemm(&y, w, .bf16, x, tokens: t, d: d, n: n) } } / Double(reps)
            print("BENCH gemm-hot bf16 \(d)x\(n) T=\(t) \(Self.f(2 * Double(t * d * n) / tT / 1e9, 1)) GFLOP/s")
        }
    }

    @Test("Activation quantization (once per quantized GEMV): ns per call, blocks of 32 and 256")
    func activationQuantization() {
        var rng = TestRNG(seed: 11)
        for n in [1024, 2048, 4096, 14336] {
            let x = randomFloats(n, &rng, range: -3...3)
            var scratch = [UInt8](repeating: 0, count: QuantizedActivations.scratchBytes(n))
            for block in [32, 256] {
                let reps = 20_000_000 / n
                let t = scratch.withUnsafeMutableBytes { buf in
                    x.withUnsafeBufferPointer { xp in
                        Self.best(5) { for _ in 0..<reps { _ = quantizeActivations(xp.baseAddress!, n: n, block: block, scratch: buf.baseAddress!) } }
                    }
                } / Double(reps)
                print("BENCH quantize-activations n=\(n) block=\(block) \(Self.f(t * 1e9, 0)) ns \(Self.f(Double(4 * n) / t / 1e9, 1)) GB/s of x")
            }
        }
    }

    @Test("dispatch overhead: ThreadPool vs DispatchQueue.concurrentPerform on empty and small jobs")
    func dispatchOverhead() {
        let pool = ThreadPool(threads: 2)
        let reps = 20000
        let emptyPool = Self.best(3) { for _ in 0..<reps { pool.run(chunks: 2) { _ in } } } / Double(reps)
        let emptyGCD = Self.best(3) { for _ in 0..<reps { DispatchQueue.concurrentPerform(iterations: 2) { _ in } } } / Double(reps)
        print("BENCH dispatch empty 2-chunk job: pool \(Self.f(emptyPool * 1e9, 0)) ns, concurrentPerform \(Self.f(emptyGCD * 1e9, 0)) ns")
        // After the spin window the worker parks; the next job pays a futex wake.
        var parked: [Double] = []
        for _ in 0..<20 {
            usleep(20_000)
            let t0 = monotonicSeconds()
            pool.run(chunks: 2) { _ in }
            parked.append(monotonicSeconds() - t0)
        }
        parked.sort()
        print("BENCH dispatch empty 2-chunk job after workers parked: median \(Self.f(parked[10] * 1e6)) us")
        // A small expert-sized GEMV (bf16 1024x2048 = 4 MiB) and a router-sized one (bf16 64x2048).
        var rng = TestRNG(seed: 3)
        for (d, n) in [(1024, 2048), (512, 2048), (256, 2048), (128, 2048), (64, 2048)] {
            let w = Self.weights(d * n, .bf16)
            defer { w.deallocate() }
            let x = randomFloats(n, &rng)
            var y = [Float](repeating: 0, count: d)
            let r = 2000
            let single = Self.best(3) { for _ in 0..<r { gemv(&y, w, .bf16, x, d: d, n: n) } } / Double(r)
            let pooled = Self.best(3) { for _ in 0..<r { gemv(&y, w, .bf16, x, d: d, n: n, pool: pool) } } / Double(r)
            let gcd = Self.best(3) {
                for _ in 0..<r {
                    y.withUnsafeMutableBufferPointer { yp in
                        x.withUnsafeBufferPointer { xp in
                            gemvConcurrentPerform(yp.baseAddress!, w, xp.baseAddress!, d: d, n: n)
                        }
                    }
                }
            } / Double(r)
            print("BENCH small gemv bf16 \(d)x\(n): 1 thread \(Self.f(single * 1e6)) us, pool(2) \(Self.f(pooled * 1e6)) us, concurrentPerform(2) \(Self.f(gcd * 1e6)) us")
        }
    }

    /// RUN_BENCHMARKS=1 ATTENTION_LENGTHS=64,512,2048 swift test -c release -Xswiftc -enable-testing --filter 'Benchmarks/attentionDecode'
    @Test("Decode attention: one token over 16 layers' KV caches (16 heads, 4 kv heads, head 64), GB/s of cache read")
    func attentionDecode() {
        let heads = 16, kvHeads = 4, hd = 64, layers = 16
        let lengths = (ProcessInfo.processInfo.environment["ATTENTION_LENGTHS"] ?? "64,512,2048").split(separator: ",").compactMap { Int($0) }
        var rng = TestRNG(seed: 9)
        let huge = ProcessInfo.processInfo.environment["ATTENTION_HUGE_PAGES"] != "0"
        for length in lengths {
            let width = kvHeads * hd
            let keys = (0..<layers).map { _ in FloatBuffer(count: length * width, hugePages: huge).rows(length, width: width) }
            let values = (0..<layers).map { _ in FloatBuffer(count: length * width, hugePages: huge).rows(length, width: width) }
            for r in keys + values { for i in 0..<r.elementCount { r[i] = Float.random(in: -1...1, using: &rng) } }
            let q = FloatBuffer(count: heads * hd).rows(1, width: heads * hd), out = FloatBuffer(count: heads * hd).rows(1, width: heads * hd)
            for i in 0..<q.elementCount { q[i] = Float.random(in: -1...1, using: &rng) }
            // A 64 MiB sweep between tokens evicts the caches from L2/L3, as a decode's weights do.
            let flush = FloatBuffer(count: 16 << 20)
            let threadCounts = (ProcessInfo.processInfo.environment["THREADS"] ?? "1,2").split(separator: ",").compactMap { Int($0) }
            for threads in threadCounts {
                let pool = ThreadPool(threads: threads)
                var best = Double.infinity
                for _ in 0..<25 {
                    _ = measureSum(flush)
                    let t0 = monotonicSeconds()
                    for l in 0..<layers {
                        causalAttention(out, q, keys: keys[l], values: values[l], start: length - 1, heads: heads, kvHeads: kvHeads, headDim: hd, pool: pool)
                    }
                    best = min(best, monotonicSeconds() - t0)
                }
                let bytes = Double(2 * layers * length * width * 4)
                print("BENCH attention decode length=\(length) threads=\(threads): \(Self.f(best * 1e6, 1)) us per token, \(Self.f(bytes / best / 1e9)) GB/s of cache")
            }
        }
    }

    @Test("MLA: the absorbed and expanded paths over one layer's compressed cache, bf16 kv_b_proj, 2 threads")
    func latentPaths() {
        let pool = ThreadPool(threads: 2)
        // (shape, [(tokens, start)]): decode steps, and the 64-token chunks a prefill runs in (DecoderModel.defaultBatch).
        let cases: [(String, LatentShape, [(Int, Int)])] = [
            ("big-deepseek", LatentShape(heads: 16, rank: 256, nope: 64, rope: 32, value: 64),
             [(1, 64), (1, 512), (16, 0), (16, 256), (32, 0), (64, 0), (64, 64), (64, 192), (64, 448), (256, 0)]),
            ("deepseek-v3", LatentShape(heads: 128, rank: 512, nope: 128, rope: 64, value: 128),
             [(1, 512), (64, 0), (64, 448), (256, 0)]),
        ]
        for (name, m, runs) in cases {
            let rows = m.heads * m.kvBRows, w = Self.weights(rows * m.rank, .bf16)
            defer { w.deallocate() }
            let kvB = Matrix(bytes: BorrowedBytes(start: w, count: rows * m.rank * 2), type: .bf16, rows: rows, cols: m.rank)!
            var rng = TestRNG(seed: 5)
            for (tokens, start) in runs {
                let length = start + tokens
                let q = FloatBuffer(count: tokens * m.heads * m.qkDim).rows(tokens, width: m.heads * m.qkDim)
                let cache = FloatBuffer(count: length * m.cacheWidth).rows(length, width: m.cacheWidth)
                for i in 0..<q.elementCount { q[i] = Float.random(in: -1...1, using: &rng) }
                for i in 0..<cache.elementCount { cache[i] = Float.random(in: -1...1, using: &rng) }
                let out = FloatBuffer(count: tokens * m.heads * m.value).rows(tokens, width: m.heads * m.value)
                var best: [LatentAttentionPath: Double] = [:]
                // Interleaved rounds, best of each (the machine is shared).
                for _ in 0..<(tokens == 1 ? 20 : 12) {
                    for path in LatentAttentionPath.allCases {
                        let t = Self.best(1) { latentAttention(out, q, cache: cache, kvB: kvB, start: start, shape: m, scale: 0.1, path: path, pool: pool) }
                        best[path] = min(best[path] ?? .infinity, t)
                    }
                }
                let a = best[.absorbed]!, e = best[.expanded]!
                let preferred = LatentAttentionPath.preferred(tokens: tokens, start: start, shape: m)
                print("BENCH mla \(name) tokens=\(tokens) start=\(start): absorbed \(Self.f(a * 1e3, 3)) ms, expanded \(Self.f(e * 1e3, 3)) ms, absorbed/expanded \(Self.f(a / e)), preferred \(preferred)")
            }
        }
    }
}

/// Σ of a buffer (reads it all once).
func measureSum(_ b: FloatBuffer) -> Float {
    let r = b.rows(1, width: b.count)
    var s: Float = 0
    for i in stride(from: 0, to: b.count, by: 16) { s += r[i] }
    return s
}

/// The same bf16 GEMV split in two halves with GCD, for comparing dispatch cost only.
func gemvConcurrentPerform(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, d: Int, n: Int) {
    let xs = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { xs.deallocate() }
    splitEvenOdd(xs, x, n: n)
    let half = (d / 2 + 3) & ~3
    // Safe: concurrentPerform returns only after both halves ran, and they write disjoint rows of y.
    nonisolated(unsafe) let (yy, ww, xx, xxs) = (y, w, x, UnsafePointer(xs))
    DispatchQueue.concurrentPerform(iterations: 2) { c in
        let rows = c == 0 ? 0..<min(d, half) : min(d, half)..<d
        gemvRows(yy, ww, .bf16, xx, xxs, n: n, rows: rows, bias: nil, accumulate: false)
    }
}
