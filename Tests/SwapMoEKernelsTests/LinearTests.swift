import Foundation
import Testing
@testable import SwapMoEKernels

@Suite("GEMV and GEMM")
struct LinearTests {
    static let sizes: [(d: Int, n: Int)] = [
        (1, 1), (3, 31), (5, 33), (7, 48), (9, 80), (4, 96), (6, 160), (5, 192), (2, 64), (3, 255),
        (17, 1000), (33, 16), (8, 15), (1, 2048),
    ]

    @Test("SIMD GEMV matches the scalar reference for every dtype, remainder sizes and thread counts",
          arguments: WeightType.floatTypes)
    func gemvMatchesReference(type: WeightType) {
        var rng = TestRNG(seed: 1)
        for (d, n) in Self.sizes {
            for misalign in type == .f32 ? [0, 4] : [0, 2] {
                let wf = randomFloats(d * n, &rng)
                let w = Weights(wf, type, misalign: misalign)
                let x = randomFloats(n, &rng)
                var expected = [Float](repeating: 0, count: d)
                gemvReference(&expected, w.base, type, x, d: d, n: n)
                let scale = absDotScale(w.decoded, x, d: d, n: n)
                for pool in testPools {
                    var y = [Float](repeating: .nan, count: d)
                    gemv(&y, w.base, type, x, d: d, n: n, pool: pool)
                    for i in 0..<d {
                        #expect(close(y[i], expected[i], scale: scale[i]), "d=\(d) n=\(n) row \(i): \(y[i]) vs \(expected[i])")
                    }
                }
            }
        }
    }

    @Test("GEMV bias and accumulate: y = y + (W x + b)", arguments: WeightType.floatTypes)
    func gemvBiasAccumulate(type: WeightType) {
        var rng = TestRNG(seed: 2)
        let d = 37, n = 161
        let w = Weights(randomFloats(d * n, &rng), type)
        let x = randomFloats(n, &rng), b = randomFloats(d, &rng), y0 = randomFloats(d, &rng)
        var expected = y0
        gemvReference(&expected, w.base, type, x, d: d, n: n, bias: b, accumulate: true)
        let scale = absDotScale(w.decoded, x, d: d, n: n)
        var y = y0
        gemv(&y, w.base, type, x, d: d, n: n, bias: b, accumulate: true, pool: testPools[2])
        for i in 0..<d { #expect(close(y[i], expected[i], scale: scale[i] + 3)) }
        var yb = [Float](repeating: 0, count: d)
        gemv(&yb, w.base, type, x, d: d, n: n, bias: b)
        var yn = [Float](repeating: 0, count: d)
        gemv(&yn, w.base, type, x, d: d, n: n)
        for i in 0..<d { #expect(yb[i] == yn[i] + b[i]) }
    }

    @Test("GEMV results are bit-identical for 1, 2 and 3 threads (rows split, never reductions)",
          arguments: WeightType.floatTypes)
    func gemvDeterministic(type: WeightType) {
        var rng = TestRNG(seed: 3)
        for (d, n) in [(257, 333), (1000, 96), (130, 4097), (600, 701)] {
            let w = Weights(randomFloats(d * n, &rng), type)
            let x = randomFloats(n, &rng)
            var ref = [Float](repeating: 0, count: d)
            gemv(&ref, w.base, type, x, d: d, n: n)
            for pool in testPools {
                var y = [Float](repeating: 0, count: d)
                gemv(&y, w.base, type, x, d: d, n: n, pool: pool)
                #expect(bitsEqual(y, ref), "d=\(d) n=\(n) threads=\(pool?.threadCount ?? 0)")
            }
        }
    }

    @Test("GEMM matches the scalar reference for every dtype, token/row/column remainders and thread counts",
          arguments: WeightType.floatTypes)
    func gemmMatchesReference(type: WeightType) {
        var rng = TestRNG(seed: 4)
        let shapes: [(t: Int, d: Int, n: Int)] = [
            (2, 3, 16), (3, 17, 33), (4, 16, 48), (5, 33, 80), (7, 19, 1100), (9, 40, 192), (1, 5, 31), (6, 1, 2050),
        ]
        for (t, d, n) in shapes {
            let w = Weights(randomFloats(d * n, &rng), type, misalign: type == .f32 ? 0 : 2)
            let x = randomFloats(t * n, &rng), b = randomFloats(d, &rng)
            var expected = [Float](repeating: 0, count: t * d)
            gemmReference(&expected, w.base, type, x, tokens: t, d: d, n: n, bias: b)
            let wd = w.decoded
            var ref: [Float]? = nil
            for pool in testPools {
                var y = [Float](repeating: .nan, count: t * d)
                gemm(&y, w.base, type, x, tokens: t, d: d, n: n, bias: b, pool: pool)
                for i in 0..<t {
                    let scale = absDotScale(wd, Array(x[i * n ..< (i + 1) * n]), d: d, n: n)
                    for j in 0..<d {
                        #expect(close(y[i * d + j], expected[i * d + j], scale: scale[j] + 1),
                                "t=\(t) d=\(d) n=\(n) [\(i),\(j)]")
                    }
                }
                if let ref { #expect(bitsEqual(y, ref), "thread count changed GEMM bits") } else { ref = y }
            }
        }
    }

    @Test("GEMM matches the scalar reference for t in 1...70 and beyond one token block, with d/n remainders",
          arguments: WeightType.floatTypes)
    func gemmTokenSweep(type: WeightType) {
        var rng = TestRNG(seed: 7)
        // d: row-tile remainders (33, 7) and sizes that split over threads (80, 160); n: column tail (33, 1030),
        // several column chunks (2100), exact multiples of 8 (80, 96, 160).
        let shapes: [(d: Int, n: Int)] = [(33, 80), (80, 96), (160, 160), (7, 33), (40, 2100), (17, 1030)]
        for (si, (d, n)) in shapes.enumerated() {
            let w = Weights(randomFloats(d * n, &rng), type, misalign: type == .f32 ? 0 : 2)
            let wd = w.decoded
            let ts = si < 4 ? Array(1...70) + [96, 97, 100, 200] : [1, 2, 3, 4, 5, 16, 64, 65, 99]
            let xAll = randomFloats(200 * n, &rng), b = randomFloats(d, &rng)
            for t in ts {
                let x = Array(xAll[0 ..< t * n])
                var expected = [Float](repeating: 0, count: t * d)
                gemmReference(&expected, w.base, type, x, tokens: t, d: d, n: n, bias: b)
                let scales = (0..<t).map { i in absDotScale(wd, Array(x[i * n ..< (i + 1) * n]), d: d, n: n) }
                var ref: [Float]? = nil
                for pool in testPools {
                    var y = [Float](repeating: .nan, count: t * d)
                    gemm(&y, w.base, type, x, tokens: t, d: d, n: n, bias: b, pool: pool)
                    var bad = 0
                    for i in 0..<t {
                        for j in 0..<d where !close(y[i * d + j], expected[i * d + j], scale: scales[i][j] + 1) { bad += 1 }
                    }
                    #expect(bad == 0, "t=\(t) d=\(d) n=\(n) threads=\(pool?.threadCount ?? 0): \(bad) mismatches")
                    if let ref { #expect(bitsEqual(y, ref), "thread count changed GEMM bits t=\(t) d=\(d) n=\(n)") } else { ref = y }
                }
            }
        }
    }

    @Test("GEMM accumulate adds into Y; GEMM is bit-identical across thread counts at a size that splits")
    func gemmAccumulateAndDeterminism() {
        var rng = TestRNG(seed: 5)
        let t = 6, d = 100, n = 2100
        for type in WeightType.floatTypes {
            let w = Weights(randomFloats(d * n, &rng), type)
            let x = randomFloats(t * n, &rng), y0 = randomFloats(t * d, &rng)
            var plain = [Float](repeating: 0, count: t * d)
            gemm(&plain, w.base, type, x, tokens: t, d: d, n: n)
            var acc = y0
            gemm(&acc, w.base, type, x, tokens: t, d: d, n: n, accumulate: true, pool: testPools[3])
            for i in 0..<(t * d) { #expect(acc[i] == y0[i] + plain[i]) }
            for pool in testPools {
                var y = [Float](repeating: 0, count: t * d)
                gemm(&y, w.base, type, x, tokens: t, d: d, n: n, pool: pool)
                #expect(bitsEqual(y, plain))
            }
        }
    }

    @Test("convertToFloat decodes rows exactly, including remainders", arguments: WeightType.floatTypes)
    func convertRows(type: WeightType) {
        var rng = TestRNG(seed: 6)
        for n in [1, 15, 16, 17, 100] {
            let w = Weights(randomFloats(n, &rng, range: -100...100), type, misalign: 2)
            var out = [Float](repeating: .nan, count: n)
            convertToFloat(&out, w.base, type, count: n)
            #expect(bitsEqual(out, w.decoded))
        }
    }
}
