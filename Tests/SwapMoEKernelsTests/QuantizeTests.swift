import Dispatch
import Foundation
import SwapMoECore
import Testing
@testable import SwapMoEKernels

/// Quantized types with the name of their goldens.
private let goldenTypes = QuantGolden.types

/// rows (rows, cols) quantized to `type` -> dequantized through the scalar dequantizer.
private func roundTrip(_ blocks: [UInt8], _ type: WeightType, rows: Int, cols: Int) -> [Float] {
    var out = [Float](repeating: .nan, count: rows * cols)
    blocks.withUnsafeBytes { b in
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows { dequantizeRow(o.baseAddress! + r * cols, b.baseAddress! + r * type.rowBytes(cols), type, count: cols) }
        }
    }
    return out
}

private func rmse(_ a: [Float], _ b: [Float], _ range: Range<Int>? = nil) -> Double {
    let r = range ?? 0..<a.count
    var s = 0.0
    for i in r { let d = Double(a[i]) - Double(b[i]); s += d * d }
    return (s / Double(r.count)).squareRoot()
}

/// Index and description of the first differing byte, for failure messages.
private func firstDifference(_ a: [UInt8], _ b: [UInt8], blockBytes: Int) -> String {
    guard let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset else {
        return a.count == b.count ? "identical" : "sizes \(a.count) vs \(b.count)"
    }
    let count = zip(a, b).filter { $0.0 != $0.1 }.count
    return "\(count) bytes differ, first at byte \(i) (block \(i / blockBytes), offset \(i % blockBytes)): \(a[i]) vs \(b[i])"
}

/// A 256-multiple row of weight-like values (gaussian-ish, scale 0.02).
private func weightRow(_ n: Int, _ rng: inout TestRNG, scale: Float = 0.02) -> [Float] {
    (0..<n).map { _ in
        // Sum of uniforms: close enough to a gaussian for weights, and deterministic.
        var s: Float = 0
        for _ in 0..<4 { s += Float.random(in: -1...1, using: &rng) }
        return s * scale * 0.87
    }
}

@Suite("Quantizer")
struct QuantizeTests {
    @Test("The 32-weight types are byte-identical to gguf-py's quantize()", arguments: QuantGolden.pyQuantized)
    func matchesGGUFPy(name: String, type: WeightType) throws {
        let g = try QuantGolden(name, type)
        #expect(!g.weights.isEmpty)
        let ours = quantize(g.weights, cols: g.cols, as: type)
        #expect(ours == g.blocks, "\(name): \(firstDifference(ours, g.blocks, blockBytes: type.blockBytes))")
    }

    @Test("Every type is byte-identical to llama.cpp's reference quantizer on weight-like rows", arguments: goldenTypes)
    func matchesReference(name: String, type: WeightType) throws {
        let g = try QuantGolden("\(name)_ref", type)
        #expect(g.weights.count == g.rows * g.cols)
        let ours = quantize(g.weights, cols: g.cols, as: type)
        #expect(ours == g.blocks, "\(name): \(firstDifference(ours, g.blocks, blockBytes: type.blockBytes))")
    }

    @Test("Round-trip RMSE is within 1.05x of llama.cpp's reference, on every row", arguments: goldenTypes)
    func rmseAgainstReference(name: String, type: WeightType) throws {
        let g = try QuantGolden("\(name)_ref", type)
        let ours = roundTrip(quantize(g.weights, cols: g.cols, as: type), type, rows: g.rows, cols: g.cols)
        let theirs = roundTrip(g.blocks, type, rows: g.rows, cols: g.cols)
        #expect(rmse(ours, g.weights) <= 1.05 * rmse(theirs, g.weights))
        for r in 0..<g.rows {
            let rows = (r * g.cols)..<((r + 1) * g.cols)
            let a = rmse(ours, g.weights, rows), b = rmse(theirs, g.weights, rows)
            #expect(a <= 1.05 * b + 1e-12, "\(name) row \(r): rmse \(a) vs reference \(b)")
        }
    }

    @Test("The SIMD scale searches choose the same bits as the scalar references", arguments: [WeightType.q4_K, .q5_K, .q6_K])
    func fastSearchMatchesScalar(type: WeightType) {
        var rng = TestRNG(seed: 99)
        for trial in 0..<400 {
            let n = type == .q6_K ? 16 : 32
            let scale: Float = [1e-4, 0.02, 1, 300][trial % 4]
            var x = weightRow(n, &rng, scale: scale)
            if trial % 5 == 1 { x = x.map { abs($0) } }            // offset 0 path
            if trial % 7 == 2 { x[trial % n] *= 20 }               // outlier
            if trial % 11 == 3 { x = x.map { ($0 * 50).rounded() / 50 } }  // repeated values
            var w = [Float](repeating: 0, count: n)
            var q1 = [Float](repeating: -1, count: n), q2 = [Float](repeating: -2, count: n)
            x.withUnsafeBufferPointer { xp in
                if type == .q6_K {
                    let s1 = fitSymmetric(xp.baseAddress!, count: n, nmax: 32, &q1)
                    let s2 = fitSymmetricFast(xp.baseAddress!, nmax: 32, &q2)
                    #expect(s1.bitPattern == s2.bitPattern, "trial \(trial): scale \(s1) vs \(s2)")
                } else {
                    let av = (x.reduce(0) { $0 + $1 * $1 } / 32).squareRoot()
                    for i in 0..<n { w[i] = av + abs(x[i]) }
                    let (qmax, rmin, steps): (Float, Float, Int) = type == .q4_K ? (15, -1, 20) : (31, -0.5, 15)
                    let f1 = fitAffine(xp.baseAddress!, w, count: n, qmax: qmax, rmin: rmin, rdelta: 0.1, steps: steps, &q1)
                    let f2 = fitAffineFast(xp.baseAddress!, w, qmax: qmax, rmin: rmin, rdelta: 0.1, steps: steps, &q2)
                    #expect(f1.scale.bitPattern == f2.scale.bitPattern && f1.offset.bitPattern == f2.offset.bitPattern,
                            "trial \(trial): \(f1) vs \(f2)")
                }
            }
            #expect(q1 == q2, "trial \(trial): codes differ")
        }
    }

    @Test("Hard rows: all-zero blocks, outliers, tiny and huge values give finite blocks and bounded error", arguments: goldenTypes)
    func hardRows(name: String, type: WeightType) {
        var rng = TestRNG(seed: 7)
        let n = 512
        // (what, row, error bound as a fraction of max |x|): f16 scales cannot express values below ~1e-7, so
        // tiny rows may come back as zeros (as with llama.cpp), never as anything wilder.
        var cases: [(String, [Float], Float)] = []
        cases.append(("zeros", [Float](repeating: 0, count: n), 0))
        var r = weightRow(n, &rng); for i in 0..<32 { r[i] = 0 }; for i in 256..<512 { r[i] = 0 }
        cases.append(("zero block", r, 0.5))
        r = weightRow(n, &rng); r[3] = 5; r[300] = -8
        cases.append(("outliers", r, 0.5))
        cases.append(("tiny", weightRow(n, &rng, scale: 1e-7), 2))
        cases.append(("subnormal", weightRow(n, &rng, scale: Float.leastNormalMagnitude / 100), 2))
        // As large as the type holds (q4_1 / q5_1 store their min as an f16, so their blocks stay within +-65504).
        cases.append(("huge", weightRow(n, &rng, scale: min(1e5, type.quantizeLimit / 4)), 0.5))
        cases.append(("constant", [Float](repeating: 0.37, count: n), 0.5))
        cases.append(("negative constant", [Float](repeating: -2.5, count: n), 0.5))
        for (what, x, bound) in cases {
            let blocks = quantize(x, cols: n, as: type)
            let y = roundTrip(blocks, type, rows: 1, cols: n)
            #expect(y.allSatisfy { $0.isFinite }, "\(name) \(what): non-finite dequantized values")
            let amax = x.map(abs).max()!
            // A loose bound that catches a broken scale, not a quality check (the reference comparison is that).
            let err = zip(x, y).map { abs($0 - $1) }.max()!
            #expect(err <= bound * amax, "\(name) \(what): max error \(err) for max |x| \(amax)")
            if what == "zeros" || what == "zero block" {
                let zeroRange = what == "zeros" ? 0..<n : 256..<512
                #expect(zeroRange.allSatisfy { y[$0] == 0 }, "\(name) \(what): zeros do not come back as zeros")
            }
        }
    }

    @Test("Values past what the type can hold saturate to finite blocks", arguments: goldenTypes)
    func saturation(name: String, type: WeightType) {
        var rng = TestRNG(seed: 8)
        var x = weightRow(256, &rng)
        x[5] = 1e30; x[200] = -Float.greatestFiniteMagnitude
        let y = roundTrip(quantize(x, cols: 256, as: type), type, rows: 1, cols: 256)
        #expect(y.allSatisfy { $0.isFinite })
        #expect(y[5] > 0 && y[200] < 0, "\(name): saturated values lost their sign: \(y[5]), \(y[200])")
    }

    @Test("NaN reads as 0 and +-Inf as +-quantizeLimit", arguments: goldenTypes)
    func nonFinite(name: String, type: WeightType) {
        var rng = TestRNG(seed: 9)
        let x = weightRow(512, &rng)
        var bad = x, same = x
        bad[3] = .nan; same[3] = 0
        bad[40] = .infinity; same[40] = type.quantizeLimit
        bad[300] = -.infinity; same[300] = -type.quantizeLimit
        bad[301] = -.nan; same[301] = 0
        let blocks = quantize(bad, cols: 512, as: type)
        #expect(blocks == quantize(same, cols: 512, as: type))
        #expect(roundTrip(blocks, type, rows: 1, cols: 512).allSatisfy { $0.isFinite })
    }

    @Test("Rows quantized on many threads at once equal the rows quantized one by one", arguments: goldenTypes)
    func concurrentRows(name: String, type: WeightType) {
        var rng = TestRNG(seed: 10)
        let rows = 16, cols = 1024
        let x = weightRow(rows * cols, &rng)
        let serial = quantize(x, cols: cols, as: type)
        let rowBytes = type.rowBytes(cols)
        let out = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 16)
        defer { out.deallocate() }
        x.withUnsafeBufferPointer { xp in
            // Each iteration reads its own row and writes its own bytes.
            nonisolated(unsafe) let src = xp.baseAddress!, dst = out
            DispatchQueue.concurrentPerform(iterations: rows) { r in
                quantizeRow(src + r * cols, dst + r * rowBytes, type, count: cols)
            }
        }
        #expect(Array(UnsafeRawBufferPointer(start: out, count: rows * rowBytes)) == serial)
    }

    @Test("An empty row writes nothing; quantize() lays rows back to back")
    func shapes() {
        var rng = TestRNG(seed: 11)
        let x = weightRow(3 * 256, &rng)
        for (_, type) in goldenTypes {
            let all = quantize(x, cols: 256, as: type)
            #expect(all.count == 3 * type.rowBytes(256))
            #expect(Array(all[type.rowBytes(256)..<(2 * type.rowBytes(256))]) == quantize(Array(x[256..<512]), cols: 256, as: type))
            var sentinel: UInt8 = 0xAB
            x.withUnsafeBufferPointer { quantizeRow($0.baseAddress!, &sentinel, type, count: 0) }
            #expect(sentinel == 0xAB)
        }
    }
}

/// Single-thread quantizer throughput in MB/s of f32 input. Run in release:
/// RUN_BENCHMARKS=1 swift test -c release -Xswiftc -enable-testing --filter QuantizeBenchmarks
@Suite("QuantizeBenchmarks", .serialized, .enabled(if: ProcessInfo.processInfo.environment["RUN_BENCHMARKS"] == "1"))
struct QuantizeBenchmarks {
    @Test("quantizeRow MB/s per type, one thread, 4096 x 1024 weights")
    func throughput() {
        var rng = TestRNG(seed: 12)
        let rows = 1024, cols = 4096
        let x = weightRow(rows * cols, &rng)
        for (name, type) in goldenTypes {
            let rowBytes = type.rowBytes(cols)
            var out = [UInt8](repeating: 0, count: rows * rowBytes)
            var times: [Double] = []
            for rep in 0..<6 {
                let t0 = monotonicSeconds()
                x.withUnsafeBufferPointer { xp in
                    out.withUnsafeMutableBytes { o in
                        for r in 0..<rows { quantizeRow(xp.baseAddress! + r * cols, o.baseAddress! + r * rowBytes, type, count: cols) }
                    }
                }
                if rep > 0 { times.append(monotonicSeconds() - t0) }   // the first run is warm-up
            }
            times.sort()
            let mb = Double(rows * cols * 4) / 1e6
            print("BENCH quantize \(name) \(String(format: "median %.0f MB/s (min %.0f, max %.0f)", mb / times[2], mb / times.last!, mb / times[0]))")
        }
    }
}
