import Foundation
import Testing
@testable import SwapMoEKernels

/// The kernels Phi-3.5-MoE adds: LongRoPE and LayerNorm with a bias.
@Suite("LongRoPE and LayerNorm")
struct LongRoPETests {
    /// head_dim 10, theta 10000, original context 8, max_position_embeddings 64 (factor 8).
    static let config = LongRoPE(shortFactor: [1.0, 1.5, 2.0, 2.5, 3.0], longFactor: [2.0, 3.0, 5.0, 7.0, 11.0], originalMaxPositions: 8,
                                 factor: 8, shortMscale: 1.1, longMscale: 1.3)

    @Test("frequencies and attention factor equal transformers 5.24's _compute_longrope_parameters, short and long")
    func frequencies() {
        // Printed by transformers with 9 significant digits (seq_len None, then 9).
        let short: [Float] = [1.0, 0.105659544, 0.0125594316, 0.00159242831, 0.000210319107]
        let long: [Float] = [0.5, 0.0528297722, 0.00502377283, 0.000568724412, 5.73597536e-05]
        for (a, b) in zip(Self.config.invFreq(headDim: 10, theta: 10_000), short) { #expect(abs(a - b) <= 2e-6 * b, "\(a) vs \(b)") }
        for (a, b) in zip(Self.config.invFreq(headDim: 10, theta: 10_000, seqLen: 9), long) { #expect(abs(a - b) <= 2e-6 * b, "\(a) vs \(b)") }
        for (a, b) in zip(Self.config.invFreq(headDim: 10, theta: 10_000, seqLen: 8), short) { #expect(abs(a - b) <= 2e-6 * b) }
        var plain = Self.config
        plain.shortMscale = nil; plain.longMscale = nil
        #expect(abs(plain.attentionScaling - Float(2).squareRoot()) < 1e-6, "√(1 + ln 8 / ln 8)")
        #expect(plain.mscale(callEnd: 100) == plain.attentionScaling)
    }

    @Test("PhimoeRotaryEmbedding's cos and sin: short factors always, short_mscale up to the original context, long_mscale past it")
    func phimoeCosSin() {
        // transformers 5.24 PhimoeRotaryEmbedding(position_ids = 0..<n), last row, for n = 8 and n = 9.
        let cos8: [Float] = [0.829292476, 0.81259954, 1.09575164, 1.09993172, 1.09999883]
        let sin8: [Float] = [0.722685277, 0.741405427, 0.0965830982, 0.0122614438, 0.00161945657]
        let cos9: [Float] = [-0.189150035, 0.862581909, 1.29344344, 1.29989445, 1.29999804]
        let sin9: [Float] = [1.28616571, 0.972600818, 0.130398422, 0.016560806, 0.00218731747]
        let rope = RoPE(headDim: 10, theta: 10_000, scaling: .longRoPE(Self.config))
        for (n, wantCos, wantSin) in [(8, cos8, sin8), (9, cos9, sin9)] {
            var c = [Float](repeating: 0, count: 5), s = c
            rope.forCall(end: n).cosSin(position: n - 1, cos: &c, sin: &s)
            for i in 0..<5 {
                #expect(abs(c[i] - wantCos[i]) < 2e-6, "n \(n) cos[\(i)] \(c[i]) vs \(wantCos[i])")
                #expect(abs(s[i] - wantSin[i]) < 2e-6, "n \(n) sin[\(i)] \(s[i]) vs \(wantSin[i])")
            }
        }
        #expect(rope.forCall(end: 3).attentionFactor == Float(1.1) && rope.forCall(end: 300).attentionFactor == Float(1.3))
        #expect(RoPE(headDim: 10, theta: 10_000).forCall(end: 1 << 20).attentionFactor == 1, "plain RoPE has no regimes")
    }

    @Test("LayerNorm with bias matches a Double reference", arguments: [1, 7, 48, 67])
    func layerNormMatches(n: Int) {
        var rng = TestRNG(seed: UInt64(n))
        let x = randomFloats(n, &rng, range: -3...5), w = randomFloats(n, &rng, range: 0.9...1.1), b = randomFloats(n, &rng)
        var o = [Float](repeating: 0, count: n)
        layerNorm(&o, x, w, b, n: n, eps: 1e-5)
        let mean = x.map(Double.init).reduce(0, +) / Double(n)
        let variance = x.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / Double(n)
        for i in 0..<n {
            let want = (Double(x[i]) - mean) / (variance + 1e-5).squareRoot() * Double(w[i]) + Double(b[i])
            #expect(abs(Double(o[i]) - want) < 1e-4, "\(i): \(o[i]) vs \(want)")
        }
    }
}
