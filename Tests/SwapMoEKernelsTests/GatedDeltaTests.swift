import Foundation
import Testing
@testable import SwapMoEKernels

/// Gated DeltaNet's kernels against Double references written as transformers' torch code reads
/// (`causal_conv1d_fn` over zero padding, `torch_recurrent_gated_delta_rule` with `repeat_interleave`).
@Suite("Gated DeltaNet kernels")
struct GatedDeltaTests {
    func rows(_ values: [Float], width: Int) -> Rows {
        let r = FloatBuffer(count: values.count).rows(values.count / width, width: width)
        for (i, v) in values.enumerated() { r[i] = v }
        return r
    }

    func close(_ a: [Float], _ b: [Double], _ tol: Double = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs(Double($0) - $1) <= tol * max(1, abs($1)) }
    }

    @Test("causal conv1d with SiLU over zero padding, one call or cut in two (the rolling state carries)",
          arguments: [(7, 5, 4), (3, 9, 1), (1, 4, 3), (6, 2, 2)])
    func conv(tokens n: Int, channels c: Int, kernel k: Int) {
        var rng = TestRNG(seed: UInt64(n * 100 + c * 10 + k))
        let x = randomFloats(n * c, &rng), w = randomFloats(c * k, &rng)
        var want = [Double](repeating: 0, count: n * c)
        for t in 0..<n { for ch in 0..<c {
            var acc = 0.0
            for j in 0..<k where t - (k - 1) + j >= 0 { acc += Double(w[ch * k + j]) * Double(x[(t - (k - 1) + j) * c + ch]) }
            want[t * c + ch] = acc / (1 + exp(-acc))
        } }
        let input = rows(x, width: c), out = FloatBuffer(count: n * c).rows(n, width: c)
        let state = FloatBuffer(count: (k - 1) * c).rows(k - 1, width: c)
        causalConv1d(out, input, state: state, weight: w, kernel: k)
        #expect(close(out.array(), want))
        state.zero()
        let cut = n / 2
        causalConv1d(out.rows(0..<cut), input.rows(0..<cut), state: state, weight: w, kernel: k)
        causalConv1d(out.rows(cut..<n), input.rows(cut..<n), state: state, weight: w, kernel: k)
        #expect(close(out.array(), want), "cut at \(cut)")
    }

    @Test("the gated delta rule with grouped value heads equals the recurrence over a Double state, carried across calls")
    func deltaRule() {
        let n = 5, kHeads = 2, vHeads = 6, dk = 3, dv = 4, group = vHeads / kHeads
        var rng = TestRNG(seed: 77)
        let q = randomFloats(n * kHeads * dk, &rng), k = randomFloats(n * kHeads * dk, &rng), v = randomFloats(n * vHeads * dv, &rng)
        let g = randomFloats(n * vHeads, &rng, range: -2...0), beta = randomFloats(n * vHeads, &rng, range: 0...1)
        var s = [Double](repeating: 0, count: vHeads * dk * dv), want = [Double](repeating: 0, count: n * vHeads * dv)
        for t in 0..<n { for h in 0..<vHeads {
            let kh = (h / group) * dk, base = h * dk * dv
            for i in 0..<(dk * dv) { s[base + i] *= exp(Double(g[t * vHeads + h])) }
            for j in 0..<dv {
                var mem = 0.0
                for i in 0..<dk { mem += s[base + i * dv + j] * Double(k[t * kHeads * dk + kh + i]) }
                let delta = (Double(v[(t * vHeads + h) * dv + j]) - mem) * Double(beta[t * vHeads + h])
                for i in 0..<dk { s[base + i * dv + j] += Double(k[t * kHeads * dk + kh + i]) * delta }
            }
            for j in 0..<dv {
                var acc = 0.0
                for i in 0..<dk { acc += s[base + i * dv + j] * Double(q[t * kHeads * dk + kh + i]) }
                want[(t * vHeads + h) * dv + j] = acc
            }
        } }
        let qr = rows(q, width: kHeads * dk), kr = rows(k, width: kHeads * dk), vr = rows(v, width: vHeads * dv)
        let gr = rows(g, width: vHeads), br = rows(beta, width: vHeads)
        let out = FloatBuffer(count: n * vHeads * dv).rows(n, width: vHeads * dv)
        let state = FloatBuffer(count: vHeads * dk * dv).rows(vHeads * dk, width: dv)
        gatedDeltaRule(out, q: qr, k: kr, v: vr, g: gr, beta: br, state: state, kHeads: kHeads, dk: dk)
        #expect(close(out.array(), want))
        #expect(close(state.array(), s))
        state.zero()
        for t in 0..<n {
            let r = t..<(t + 1)
            gatedDeltaRule(out.rows(r), q: qr.rows(r), k: kr.rows(r), v: vr.rows(r), g: gr.rows(r), beta: br.rows(r), state: state, kHeads: kHeads, dk: dk)
        }
        #expect(close(out.array(), want), "token by token")
    }

    @Test("l2normalize, mulSigmoid and copyColumns")
    func helpers() {
        let x = rows([3, 4, 0, 0, 6, 8], width: 2)
        l2normalize(x, eps: 1e-6, scale: 0.5)
        #expect(close(x.array(), [0.3, 0.4, 0, 0, 0.3, 0.4]), "a zero row stays zero through eps")
        let y = rows([2, -2], width: 2)
        mulSigmoid(y, gate: rows([0, 1], width: 2))
        #expect(abs(y[0] - 1) < 1e-7 && abs(y[1] + 2 / (1 + expf(-1))) < 1e-6)
        let dst = FloatBuffer(count: 6).rows(2, width: 3)
        copyColumns(dst, at: 1, from: rows([1, 2, 3, 4, 5, 6, 7, 8], width: 4), at: 2, width: 2)
        #expect(dst.array() == [0, 3, 4, 0, 7, 8])
    }
}
