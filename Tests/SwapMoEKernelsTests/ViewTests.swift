import Foundation
import Testing
import SwapMoECore
@testable import SwapMoEKernels

/// The view kernels (ViewKernels.swift) against the pointer kernels they wrap, bit for bit, on random shapes with
/// SIMD remainders; and the views' own bounds.
@Suite("Typed views")
struct ViewTests {
    /// (rows, width) pairs: single rows, SIMD-multiple and remainder widths.
    static let shapes: [(rows: Int, width: Int)] = [(1, 1), (1, 16), (3, 15), (2, 33), (5, 64), (4, 97), (7, 130), (1, 1000)]

    /// A buffer of `rows x width` random floats and its view.
    func random(_ rows: Int, _ width: Int, _ rng: inout TestRNG, range: ClosedRange<Float> = -1...1) -> (values: [Float], view: Rows) {
        let values = randomFloats(rows * width, &rng, range: range)
        let view = FloatBuffer(rows: rows, width: width).rows(rows, width: width)
        for (i, v) in values.enumerated() { view[i] = v }
        return (values, view)
    }

    func matrix(_ w: Weights, rows: Int, cols: Int) -> Matrix {
        Matrix(bytes: BorrowedBytes(start: w.base, count: rows * cols * w.type.blockBytes), type: w.type, rows: rows, cols: cols)!
    }

    @Test("gemm over views equals the pointer gemm, with and without bias and accumulation", arguments: WeightType.floatTypes)
    func gemmMatchesPointerKernel(type: WeightType) {
        var rng = TestRNG(seed: 11)
        for (t, d, n) in [(1, 3, 31), (2, 5, 33), (4, 7, 48), (5, 17, 100), (9, 33, 16), (3, 8, 15), (6, 2, 257)] {
            let w = Weights(randomFloats(d * n, &rng), type, misalign: type == .f32 ? 4 : 2)
            let m = matrix(w, rows: d, cols: n)
            let (xs, x) = random(t, n, &rng)
            let bias = randomFloats(d, &rng)
            let start = randomFloats(t * d, &rng)
            for pool in testPools {
                for (b, acc) in [(nil, false), (bias, false), (nil, true), (bias, true)] as [([Float]?, Bool)] {
                    var expected = start
                    if let b { gemm(&expected, w.base, type, xs, tokens: t, d: d, n: n, bias: b, accumulate: acc, pool: pool) }
                    else { gemm(&expected, w.base, type, xs, tokens: t, d: d, n: n, accumulate: acc, pool: pool) }
                    let y = FloatBuffer(rows: t, width: d).rows(t, width: d)
                    for (i, v) in start.enumerated() { y[i] = v }
                    gemm(y, m, x, bias: b, accumulate: acc, pool: pool)
                    #expect(bitsEqual(y.array(), expected), "t=\(t) d=\(d) n=\(n) bias=\(b != nil) accumulate=\(acc)")
                }
                var plain = [Float](repeating: 0, count: t * d)
                gemm(&plain, w.base, type, xs, tokens: t, d: d, n: n, pool: pool)
                #expect(bitsEqual(gemm(m, x, pool: pool), plain), "t=\(t) d=\(d) n=\(n) as a new array")
            }
        }
    }

    @Test("gemmGroup equals one gemm per matrix, for one row and several, mixed types and biases")
    func gemmGroupMatchesGEMMs() {
        var rng = TestRNG(seed: 13)
        let n = 96, spec: [(d: Int, type: WeightType, bias: Bool)] = [(40, .bf16, true), (16, .f32, false), (24, .bf16, false), (8, .f32, true)]
        let ws = spec.map { Weights(randomFloats($0.d * n, &rng), $0.type) }
        let ms = spec.indices.map { matrix(ws[$0], rows: spec[$0].d, cols: n) }
        let biases = spec.map { $0.bias ? randomFloats($0.d, &rng) : nil }
        for t in [1, 3] {
            let (_, x) = random(t, n, &rng)
            for pool in testPools {
                let ys = spec.map { FloatBuffer(rows: t, width: $0.d).rows(t, width: $0.d) }
                gemmGroup(spec.indices.map { (ys[$0], ms[$0], biases[$0]) }, x, pool: pool)
                for j in spec.indices {
                    let want = FloatBuffer(rows: t, width: spec[j].d).rows(t, width: spec[j].d)
                    gemm(want, ms[j], x, bias: biases[j], pool: pool)
                    #expect(bitsEqual(ys[j].array(), want.array()), "t=\(t) matrix \(j) threads=\(pool?.threadCount ?? 0)")
                }
            }
        }
        // The matrices borrow the weights' bytes: without this an optimized build may free them after `ms` is made
        // (their last use), and the products read freed memory (seen as garbage in release test runs).
        withExtendedLifetime(ws) {}
    }

    @Test("Row-wise kernels over views equal the pointer kernels row by row")
    func rowwiseMatchPointerKernels() {
        var rng = TestRNG(seed: 12)
        for (rows, width) in Self.shapes {
            let (xs, x) = random(rows, width, &rng)
            let weight = randomFloats(width, &rng)
            var expected = [Float](repeating: 0, count: rows * width)
            for t in 0..<rows {
                expected.withUnsafeMutableBufferPointer { o in
                    xs.withUnsafeBufferPointer { i in rmsnorm(o.baseAddress! + t * width, i.baseAddress! + t * width, weight, n: width, eps: 1e-5) }
                }
            }
            let out = FloatBuffer(rows: rows, width: width).rows(rows, width: width)
            rmsnorm(out, x, weight, eps: 1e-5)
            #expect(bitsEqual(out.array(), expected), "rmsnorm \(rows)x\(width)")
            rmsnorm(x, x, weight, eps: 1e-5)
            #expect(bitsEqual(x.array(), expected), "rmsnorm in place \(rows)x\(width)")

            var sm = xs
            sm.withUnsafeMutableBufferPointer { p in for t in 0..<rows { softmax(p.baseAddress! + t * width, n: width) } }
            let (_, s) = random(rows, width, &rng)
            for (i, v) in xs.enumerated() { s[i] = v }
            softmax(s)
            #expect(bitsEqual(s.array(), sm), "softmax \(rows)x\(width)")

            for k in [1, 2, 5] {
                let row = rows - 1
                let got = topK(s.row(row), k: k)
                let want = sm.withUnsafeBufferPointer { topK($0.baseAddress! + row * width, n: width, k: k) }
                #expect(got.map(\.index) == want.map(\.index) && got.map(\.value) == want.map(\.value), "topK \(k) of \(width)")
            }
        }
    }

    @Test("Elementwise kernels over views equal the pointer kernels")
    func elementwiseMatchPointerKernels() {
        var rng = TestRNG(seed: 13)
        for (rows, width) in Self.shapes {
            let n = rows * width
            let (ys, y) = random(rows, width, &rng), (xs, x) = random(rows, width, &rng, range: -3...3)
            var e = ys
            axpy(&e, 0.375, xs, n: n)
            axpy(y, 0.375, x)
            #expect(bitsEqual(y.array(), e), "axpy \(rows)x\(width)")
            axpy(&e, 1, xs, n: n)
            add(y, x)
            #expect(bitsEqual(y.array(), e), "add \(rows)x\(width)")
            #expect(dot(x, y).bitPattern == dot(xs, e, n: n).bitPattern, "dot \(rows)x\(width)")

            var sw = [Float](repeating: 0, count: n)
            siluMul(&sw, xs, e, n: n)
            let o = FloatBuffer(rows: rows, width: width).rows(rows, width: width)
            siluMul(o, x, y)
            #expect(bitsEqual(o.array(), sw), "siluMul \(rows)x\(width)")

            var r = xs
            relu(&r, n: n)
            var c = xs
            clamp(&c, n: n, lower: -1.5, upper: 1.5)
            var sc = xs
            scale(&sc, 0.3, n: n)
            let rv = FloatBuffer(rows: rows, width: width).rows(rows, width: width)
            copy(rv, from: x)
            #expect(bitsEqual(rv.array(), xs), "copy \(rows)x\(width)")
            relu(rv)
            #expect(bitsEqual(rv.array(), r), "relu \(rows)x\(width)")
            copy(rv, from: x)
            clamp(rv, limit: 1.5)
            #expect(bitsEqual(rv.array(), c) && c.allSatisfy { abs($0) <= 1.5 }, "clamp \(rows)x\(width)")
            copy(rv, from: x)
            scale(rv, by: 0.3)
            #expect(bitsEqual(rv.array(), sc), "scale \(rows)x\(width)")
            rv.zero()
            #expect(rv.array().allSatisfy { $0.bitPattern == 0 }, "zero \(rows)x\(width)")
        }
    }

    @Test("RoPE over rows rotates row t at position start + t")
    func ropeRows() {
        var rng = TestRNG(seed: 14)
        for (heads, headDim, tokens, start) in [(1, 2, 1, 0), (2, 8, 3, 5), (3, 20, 4, 17), (4, 64, 2, 100)] {
            let rope = RoPE(headDim: headDim, theta: 10000)
            let (xs, x) = random(tokens, heads * headDim, &rng)
            var expected = xs
            expected.withUnsafeMutableBufferPointer { p in
                for t in 0..<tokens { rope.apply(p.baseAddress! + t * heads * headDim, heads: heads, position: start + t) }
            }
            rope.apply(x, heads: heads, start: start)
            #expect(bitsEqual(x.array(), expected), "heads=\(heads) headDim=\(headDim) tokens=\(tokens)")
        }
    }

    @Test("Attention over views equals the pointer kernels")
    func attentionMatchesPointerKernels() {
        var rng = TestRNG(seed: 15)
        for (heads, kvHeads, headDim, start, tokens) in [(2, 1, 8, 0, 3), (4, 2, 16, 5, 2), (3, 3, 7, 9, 1), (8, 2, 32, 30, 4)] {
            let (qs, q) = random(tokens, heads * headDim, &rng)
            let length = start + tokens + 3   // a cache with spare rows past the ones attended to
            let (ks, k) = random(length, kvHeads * headDim, &rng), (vs, v) = random(length, kvHeads * headDim, &rng)
            for window in [nil, 4] as [Int?] {
                for pool in testPools {
                    var expected = [Float](repeating: 0, count: tokens * heads * headDim)
                    causalAttention(&expected, qs, keys: ks, values: vs, start: start, tokens: tokens, heads: heads, kvHeads: kvHeads,
                                    headDim: headDim, window: window, pool: pool)
                    let out = FloatBuffer(rows: tokens, width: heads * headDim).rows(tokens, width: heads * headDim)
                    causalAttention(out, q, keys: k, values: v, start: start, heads: heads, kvHeads: kvHeads, headDim: headDim,
                                    window: window, pool: pool)
                    #expect(bitsEqual(out.array(), expected), "causal heads=\(heads)/\(kvHeads) start=\(start) window=\(String(describing: window))")
                }
            }
        }
        for (heads, headDim, start, tokens, keyCount, causal) in [(2, 8, 0, 3, 3, false), (4, 5, 6, 2, 8, true), (3, 16, 0, 4, 9, false)] {
            let (qs, q) = random(tokens, heads * headDim, &rng)
            let (ks, k) = random(keyCount + 2, heads * headDim, &rng), (vs, v) = random(keyCount + 2, heads * headDim, &rng)
            // Offsets key - query from -(start + tokens - 1) to keyCount - 1 - start.
            let from = -(start + tokens - 1), width = keyCount + start + tokens
            let (bs, bias) = random(heads, width, &rng)
            for pool in testPools {
                var expected = [Float](repeating: 0, count: tokens * heads * headDim)
                relativeAttention(&expected, qs, keys: ks, values: vs, keyCount: keyCount, start: start, tokens: tokens, heads: heads,
                                  headDim: headDim, causal: causal, bias: bs, biasStride: width, biasFrom: from, pool: pool)
                let out = FloatBuffer(rows: tokens, width: heads * headDim).rows(tokens, width: heads * headDim)
                relativeAttention(out, q, keys: k, values: v, keyCount: keyCount, start: start, heads: heads, headDim: headDim,
                                  causal: causal, bias: bias, biasFrom: from, pool: pool)
                #expect(bitsEqual(out.array(), expected), "relative heads=\(heads) causal=\(causal)")
                var plain = [Float](repeating: 0, count: tokens * heads * headDim)
                relativeAttention(&plain, qs, keys: ks, values: vs, keyCount: keyCount, start: start, tokens: tokens, heads: heads,
                                  headDim: headDim, causal: causal, pool: pool)
                relativeAttention(out, q, keys: k, values: v, keyCount: keyCount, start: start, heads: heads, headDim: headDim,
                                  causal: causal, pool: pool)
                #expect(bitsEqual(out.array(), plain), "relative without bias heads=\(heads) causal=\(causal)")
            }
        }
    }

    @Test("A matrix is made only from bytes that hold all of it; its rows widen as convertToFloat does", arguments: WeightType.floatTypes)
    func matrixBounds(type: WeightType) {
        var rng = TestRNG(seed: 16)
        let (rows, cols) = (5, 37)
        let w = Weights(randomFloats(rows * cols, &rng), type, misalign: 2)
        let size = rows * cols * type.blockBytes
        let whole = BorrowedBytes(start: w.base, count: size)
        #expect(Matrix(bytes: whole, type: type, rows: rows, cols: cols) != nil)
        #expect(Matrix(bytes: whole, offset: cols * type.blockBytes, type: type, rows: rows - 1, cols: cols) != nil)
        #expect(Matrix(bytes: whole, offset: 1, type: type, rows: rows, cols: cols) == nil)
        #expect(Matrix(bytes: whole, offset: -1, type: type, rows: 1, cols: 1) == nil)
        #expect(Matrix(bytes: whole, type: type, rows: rows + 1, cols: cols) == nil)
        #expect(Matrix(bytes: whole, type: type, rows: -1, cols: cols) == nil)
        #expect(Matrix(bytes: whole, type: type, rows: Int.max / 2, cols: 3) == nil)
        #expect(whole.slice(0..<(size + 1)) == nil && whole.slice(2..<size)?.count == size - 2)
        let m = matrix(w, rows: rows, cols: cols)
        let out = FloatBuffer(rows: 2, width: cols).rows(2, width: cols)
        for r in 0..<rows {
            var expected = [Float](repeating: 0, count: cols)
            convertToFloat(&expected, w.base + r * cols * type.blockBytes, type, count: cols)
            m.row(r, into: out.row(1))
            #expect(bitsEqual(out.row(1).array(), expected) && bitsEqual(m.row(r), expected), "row \(r)")
            #expect(out.row(0).array().allSatisfy { $0 == 0 }, "row \(r) wrote outside its view")
        }
        withExtendedLifetime(w) {}   // `m` borrows its bytes (as in `gemmGroupMatchesGEMMs`)
    }

    @Test("Views address the rows they name")
    func viewsAddressTheirRows() {
        let buffer = FloatBuffer(count: 24)
        let all = buffer.rows(4, width: 6)
        for i in 0..<24 { all[i] = Float(i) }
        #expect(all.row(2).array() == (12..<18).map(Float.init))
        #expect(all.rows(1..<3).array() == (6..<18).map(Float.init))
        #expect(buffer.rows(2..<3, width: 8).array() == (16..<24).map(Float.init))
        let heads = all.rows(1..<3).reshaped(width: 3)
        #expect(heads.count == 4 && heads.width == 3 && heads.row(3).array() == [15, 16, 17])
        heads.row(0).zero()
        #expect(all.array()[5...9] == [5, 0, 0, 0, 9])
        #expect(buffer.rows(0, width: 6).array().isEmpty)
    }

    @Test("logSumExp equals the stable Double reference")
    func logSumExpAndRowViews() {
        var rng = TestRNG(seed: 17)
        for n in [1, 7, 100, 1001] {
            let x = randomFloats(n, &rng, range: -20...20)
            let m = x.max()!
            let reference = Double(m) + log(x.reduce(0.0) { $0 + Double(expf($1 - m)) })
            #expect(logSumExp(x[...]) == reference)
        }
    }

    @Test("A shape mismatch stops the process rather than reading past a view")
    func shapeMismatchTraps() async {
        await #expect(processExitsWith: .failure) {
            let x = FloatBuffer(rows: 2, width: 4).rows(2, width: 4), y = FloatBuffer(rows: 2, width: 5).rows(2, width: 5)
            add(x, y)
        }
        await #expect(processExitsWith: .failure) {
            _ = FloatBuffer(rows: 2, width: 4).rows(3, width: 4)
        }
    }
}
