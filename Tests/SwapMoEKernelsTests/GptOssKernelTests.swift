import Foundation
import Testing
@testable import SwapMoEKernels

/// The kernels gpt-oss adds: attention sinks, YaRN, the clamped SwiGLU.
@Suite("gpt-oss kernels")
struct GptOssKernelTests {
    @Test("attention with sinks matches the Double reference, windowed or not, on any pool", arguments: 0..<4)
    func sinks(config: Int) {
        let (heads, kvHeads, hd) = AttentionTests.configs[config]
        var rng = TestRNG(seed: UInt64(config + 190))
        let (start, tokens, q, k, v) = AttentionTests.prefill(config, &rng)
        let sinks = randomFloats(heads, &rng, range: -3...3)
        for window in [nil, 4] as [Int?] {
            var ref = [Float](repeating: 0, count: tokens * heads * hd), plain = ref
            attentionReference(&ref, q, keys: k, values: v, start: start, tokens: tokens, heads: heads, kvHeads: kvHeads, headDim: hd,
                               window: window, sinks: sinks)
            attentionReference(&plain, q, keys: k, values: v, start: start, tokens: tokens, heads: heads, kvHeads: kvHeads, headDim: hd, window: window)
            #expect(zip(ref, plain).contains { abs($0 - $1) > 1e-3 }, "the sinks change the output")
            for pool in testPools {
                var out = [Float](repeating: .nan, count: tokens * heads * hd)
                sinks.withUnsafeBufferPointer { s in
                    causalAttention(&out, q, keys: k, values: v, start: start, tokens: tokens, heads: heads, kvHeads: kvHeads, headDim: hd,
                                    window: window, sinks: s.baseAddress, pool: pool)
                }
                for i in 0..<out.count { #expect(abs(out[i] - ref[i]) < 1e-5) }
            }
        }
    }

    /// transformers 5.24 `_compute_yarn_parameters` on gpt-oss-20b's rope_scaling (head_dim 64, theta 150000,
    /// factor 32, beta 32/1, original 4096, truncate false), printed with 9 significant digits.
    static let gptOssInvFreq: [Float] = [
        1.0, 0.689044297, 0.47478205, 0.327145875, 0.225418001, 0.155322984, 0.107024424, 0.0737445652, 0.0508132726,
        0.0317056961, 0.0193349998, 0.0115920492, 0.00679495931, 0.00386035908, 0.00209379266, 0.00105260219,
        0.000456483918, 0.000129318694, 3.83088118e-05, 2.63964685e-05, 1.8188337e-05, 1.25325696e-05, 8.63549576e-06,
        5.95023948e-06, 4.09997847e-06, 2.82506676e-06, 1.94659629e-06, 1.34129095e-06, 9.24208962e-07, 6.36820914e-07,
        4.38797855e-07, 3.0235114e-07]

    @Test("YaRN's frequencies and attention factor equal transformers' for gpt-oss, and mscale/mscale_all_dim as DeepSeek sets them")
    func yarn() {
        let y = YaRN(factor: 32, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, truncate: false)
        let rope = RoPE(headDim: 64, theta: 150_000, scaling: .yarn(y))
        #expect(rope.invFreq.count == 32)
        for (a, b) in zip(rope.invFreq, Self.gptOssInvFreq) { #expect(abs(a - b) <= 2e-6 * b, "\(a) vs \(b)") }
        #expect(abs(rope.attentionFactor - 1.3465735902799727) < 1e-6)
        // attention_factor = mscale(40, 1) / mscale(40, 1) = 1; mscale 0.707 over mscale_all_dim 1: 0.9210423553163399.
        #expect(YaRN(factor: 40, originalMaxPositions: 4096, mscale: 1, mscaleAllDim: 1).attentionScaling == 1)
        #expect(abs(YaRN(factor: 40, originalMaxPositions: 4096, mscale: 0.707, mscaleAllDim: 1).attentionScaling - 0.9210423553163399) < 1e-6)
        #expect(YaRN(factor: 4, originalMaxPositions: 64, attentionFactor: 0.5).attentionScaling == 0.5)
        // The attention factor scales cos and sin: a rotated vector's norm grows by it.
        var x: [Float] = (0..<64).map { Float($0 % 7) - 3 }
        let before = x.map { $0 * $0 }.reduce(0, +).squareRoot()
        x.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, heads: 1, position: 1000) }
        #expect(abs(x.map { $0 * $0 }.reduce(0, +).squareRoot() / before - rope.attentionFactor) < 1e-4)
    }

    @Test("clamped SwiGLU: (min(u, L) clamped both ways + 1) · g σ(α g) with g = min(gate, L), pairs interleaved")
    func clampedSwiGLU() {
        let limit: Float = 7, alpha: Float = 1.702
        let gateUp: [Float] = [20, -20, -20, 20, 0.5, 0.25, -1, 3]
        var out = [Float](repeating: .nan, count: 4)
        SwapMoEKernels.clampedSwiGLU(&out, gateUp, n: 4, alpha: alpha, limit: limit)
        func ref(_ g: Double, _ u: Double) -> Float {
            let gc = min(g, Double(limit)), uc = min(max(u, -Double(limit)), Double(limit))
            return Float((uc + 1) * gc / (1 + exp(-Double(alpha) * gc)))
        }
        for i in 0..<4 { #expect(abs(out[i] - ref(Double(gateUp[2 * i]), Double(gateUp[2 * i + 1]))) < 1e-5 * max(1, abs(out[i]))) }
        #expect(abs(out[0] - ref(7, -7)) < 1e-5 * 50 && out[1] < 0, "gate above the limit is clamped, below it is not")
    }
}
