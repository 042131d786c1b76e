import Foundation
import Testing
@testable import SwapMoEKernels

@Suite("Vector exp")
struct VectorExpTests {
    /// Distance in units in the last place between a Float and the correctly rounded value of a Double.
    static func ulps(_ got: Float, _ want: Double) -> Double {
        let r = Float(want)
        if r.isInfinite || got.isInfinite { return got == r ? 0 : .infinity }
        return abs(Double(got) - want) / Double(max(r.ulp, Float.leastNonzeroMagnitude))
    }

    @Test("exp16 is within 2 ulp of e^x from -104 to 89, 1024 values per power of two, and exact at the ends")
    func accuracy() {
        var xs: [Float] = [0, -0, 1, -1, 88.72, 88.73, -87.33, -103.9, -104, 89]
        for e in -20...6 {
            for k in 0..<1024 {
                let m = 1 + Float(k) / 1024
                let v = m * Float(sign: .plus, exponent: e, significand: 1)
                if v <= 89 { xs.append(v) }
                if v <= 104 { xs.append(-v) }
            }
        }
        var worst = 0.0, at: Float = 0
        for i in stride(from: 0, to: xs.count, by: 16) {
            var v = SIMD16<Float>()
            for j in 0..<16 { v[j] = xs[min(i + j, xs.count - 1)] }
            let r = exp16(v)
            for j in 0..<16 {
                let x = v[j], want = Foundation.exp(Double(x))
                // Results in the denormal range carry fewer bits: compare those absolutely.
                let err = want < Double(Float.leastNormalMagnitude) ? abs(Double(r[j]) - want) / Double(Float.leastNonzeroMagnitude) : Self.ulps(r[j], want)
                if err > worst { worst = err; at = x }
            }
        }
        #expect(worst <= 2, "worst \(worst) ulp at x = \(at)")
    }

    @Test("exp16 of inf, -inf, NaN and the limits")
    func specialValues() {
        var v = SIMD16<Float>(repeating: 0)
        v[0] = .infinity; v[1] = -.infinity; v[2] = .nan; v[3] = 100; v[4] = -200; v[5] = 88.8; v[6] = -105
        let r = exp16(v)
        #expect(r[0] == .infinity && r[1] == 0 && r[2].isNaN && r[3] == .infinity && r[4] == 0 && r[5] == .infinity && r[6] == 0)
        #expect(r[7] == 1)
    }

    @Test("siluMul and softmax by exp16 are within a few ulp of their libm forms, for every tail length", arguments: [1, 15, 16, 17, 53])
    func elementwise(n: Int) {
        var rng = TestRNG(seed: 11)
        let g = randomFloats(n, &rng, range: -30...30), u = randomFloats(n, &rng)
        var o = [Float](repeating: 0, count: n)
        siluMul(&o, g, u, n: n)
        let want = siluMulReference(g, u)
        for i in 0..<n { #expect(abs(o[i] - want[i]) <= 4 * max(want[i].ulp, Float.leastNormalMagnitude), "\(i): \(o[i]) vs \(want[i])") }
        var p = g
        softmax(&p, n: n)
        let m = g.max()!, e = g.map { Foundation.exp(Double($0 - m)) }, tot = e.reduce(0, +)
        for i in 0..<n { #expect(abs(Double(p[i]) - e[i] / tot) <= 1e-6 * max(e[i] / tot, 1e-30) + 1e-38) }
        #expect(abs(p.reduce(0, +) - 1) < 1e-5)
    }
}
