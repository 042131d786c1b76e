import Foundation
import Testing
@testable import SwapMoEKernels

@Suite("Norms, activations, RoPE, top-k")
struct ElementwiseTests {
    @Test("RMSNorm matches a Double reference, in and out of place", arguments: [1, 7, 16, 48, 100, 2048])
    func rmsnormMatches(n: Int) {
        var rng = TestRNG(seed: UInt64(n))
        let x = randomFloats(n, &rng, range: -3...3), w = randomFloats(n, &rng)
        var ref = [Float](repeating: 0, count: n), out = ref
        rmsnormReference(&ref, x, w, n: n, eps: 1e-6)
        rmsnorm(&out, x, w, n: n, eps: 1e-6)
        for i in 0..<n { #expect(close(out[i], ref[i], scale: abs(ref[i]), rel: 1e-5)) }
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in rmsnorm(p.baseAddress!, p.baseAddress!, w, n: n, eps: 1e-6) }
        #expect(bitsEqual(inPlace, out))
    }

    @Test("softmax is stable for large inputs and sums to 1")
    func softmaxStable() {
        var x: [Float] = [1000, 1001, 1002, -1e30, 999]
        softmax(&x, n: x.count)
        #expect(abs(x.reduce(0, +) - 1) < 1e-6)
        #expect(x[3] == 0)
        let e = [exp(-2.0), exp(-1.0), 1, 0, exp(-3.0)]
        let tot = e.reduce(0, +)
        for i in 0..<5 { #expect(abs(Double(x[i]) - e[i] / tot) < 1e-6) }
    }

    @Test("SiLU and silu(gate) * up match x * sigmoid(x)")
    func siluValues() {
        var rng = TestRNG(seed: 9)
        let g = randomFloats(50, &rng, range: -20...20) + [-100, 100, 0], u = randomFloats(53, &rng)
        var o = [Float](repeating: 0, count: 53)
        siluMul(&o, g, u, n: 53)
        for i in 0..<53 {
            let s = Double(g[i]) / (1 + exp(-Double(g[i])))
            #expect(abs(Double(o[i]) - s * Double(u[i])) <= 1e-6 * max(1, abs(s)))
        }
        #expect(silu(-100) == 0 && silu(100) == 100)
    }

    @Test("ReLU zeroes negatives and keeps the rest (SIMD body and scalar tail)", arguments: [1, 16, 37])
    func reluValues(n: Int) {
        var rng = TestRNG(seed: UInt64(70 + n))
        var x = randomFloats(n, &rng, range: -5...5)
        x[0] = .nan
        let ref = reluReference(x)
        x.withUnsafeMutableBufferPointer { relu($0.baseAddress!, n: n) }
        #expect(x[0].isNaN)
        #expect(bitsEqual(Array(x.dropFirst()), Array(ref.dropFirst())))
    }

    @Test("top-k returns the largest values first and breaks ties by the lower index")
    func topKTies() {
        let v: [Float] = [0.5, 2, 2, -1, 2, 0.5, 3]
        #expect(topK(v, n: v.count, k: 3).map(\.index) == [6, 1, 2])
        #expect(topK(v, n: v.count, k: 5).map(\.index) == [6, 1, 2, 4, 0])
        #expect(topK(v, n: v.count, k: 10).count == 7)
        #expect(topK(v, n: v.count, k: 0).isEmpty)
        let withNaN: [Float] = [.nan, 1, .nan, 0]
        #expect(topK(withNaN, n: 4, k: 3).map(\.index) == [1, 3, 0])
        var rng = TestRNG(seed: 10)
        for _ in 0..<50 {
            // Few distinct values -> many ties.
            let r = (0..<64).map { _ in Float(Int.random(in: 0..<5, using: &rng)) }
            for k in [1, 2, 4, 8] { #expect(topK(r, n: r.count, k: k).map(\.index) == topKReference(r, k: k)) }
        }
    }

    @Test("RoPE (rotate_half pairs i, i + d/2) matches the reference for head sizes 48, 64, 128",
          arguments: [48, 64, 128, 2, 10])
    func ropeMatches(headDim: Int) {
        var rng = TestRNG(seed: UInt64(headDim))
        let heads = 3
        let x = randomFloats(heads * headDim, &rng)
        for pos in [0, 1, 17, 4095] {
            var a = x, b = x
            RoPE(headDim: headDim, theta: 10000).apply(&a, heads: heads, position: pos)
            ropeReference(&b, heads: heads, headDim: headDim, position: pos, theta: 10000)
            #expect(bitsEqual(a, b), "headDim=\(headDim) pos=\(pos)")
            if pos == 0 { #expect(bitsEqual(a, x)) }
        }
        // Rotation preserves each pair's norm.
        var r = x
        RoPE(headDim: headDim, theta: 1_000_000).apply(&r, heads: heads, position: 123)
        let h = headDim / 2
        for i in 0..<h {
            let n0 = x[i] * x[i] + x[i + h] * x[i + h], n1 = r[i] * r[i] + r[i + h] * r[i + h]
            #expect(abs(n0 - n1) <= 1e-5 * max(1, n0))
        }
    }

    @Test("RoPE frequencies are 1 / theta^(2i/d) in Float32")
    func ropeFrequencies() {
        let r = RoPE(headDim: 48, theta: 10000)
        #expect(r.invFreq.count == 24 && r.invFreq[0] == 1)
        #expect(abs(r.invFreq[12] - 0.01) < 1e-7)
    }
}
