import Foundation
import SwapMoECore
import Testing
@testable import SwapMoEKernels

/// The interleaved types (Interleave.swift; every `WeightType` with `rowGroup` 8): the layouts against the plain
/// types, the kernels against the plain types' references.
@Suite("Rows interleaved eight at a time (every x8 type)")
struct InterleaveTests {
    static let types: [WeightType] = [.q4_Kx8, .q5_Kx8, .q6_Kx8, .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .q3_Kx8, .q2_Kx8, .iq4_nlx8, .iq4_xsx8]

    /// An interleaved matrix and the plain matrix it was made from.
    struct Pair {
        let x8: QuantMatrix, plain: QuantMatrix

        init(_ type: WeightType, d: Int, n: Int, _ rng: inout TestRNG, misalign: Int = 0) {
            plain = QuantMatrix(type.plain, d: d, n: n, &rng)
            x8 = QuantMatrix(blocksOf: type, d: d, n: n, &rng, misalign: misalign)
            interleave(x8.base, plain.base, as: type, rows: d, cols: n)
        }
    }

    @Test("Interleaving and back gives the plain bytes; rows read out of groups dequantize bit for bit as the plain rows", arguments: types)
    func roundTrip(type: WeightType) {
        var rng = TestRNG(seed: 41)
        for (d, blocks) in [(8, 1), (16, 3), (40, 2), (24, 11)] {
            let n = blocks * type.blockSize, p = Pair(type, d: d, n: n, &rng, misalign: 2)
            let bytes = d * p.plain.rowBytes
            let back = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            defer { back.deallocate() }
            deinterleave(back, p.x8.base, as: type, rows: d, cols: n)
            #expect(memcmp(back, p.plain.base, bytes) == 0, "d=\(d) n=\(n)")
            #expect(memcmp(p.x8.base, p.plain.base, bytes) != 0)
            #expect(bitsEqual(p.x8.dequantized, p.plain.dequantized))
            let m = Matrix(base: p.x8.base, type: type, rows: d, cols: n)
            #expect(bitsEqual(m.row(d - 3), Array(p.plain.dequantized[((d - 3) * n)..<((d - 2) * n)])))
        }
    }

    @Test("quantize(as: x8) is quantize(as: plain) interleaved; a matrix view needs whole groups of 8 rows", arguments: types)
    func quantizeAndViews(type: WeightType) {
        var rng = TestRNG(seed: 42)
        let n = 512, d = 16, values = randomFloats(d * n, &rng)
        let plain = quantize(values, cols: n, as: type.plain), x8 = quantize(values, cols: n, as: type)
        var expected = [UInt8](repeating: 0, count: plain.count)
        plain.withUnsafeBytes { p in expected.withUnsafeMutableBytes { interleave($0.baseAddress!, p.baseAddress!, as: type, rows: d, cols: n) } }
        #expect(x8 == expected)
        x8.withUnsafeBytes { b in
            let bytes = BorrowedBytes(b)
            #expect(Matrix(bytes: bytes, type: type, rows: 16, cols: n) != nil)
            #expect(Matrix(bytes: bytes, type: type, rows: 12, cols: n) == nil)
            #expect(Matrix(bytes: bytes, type: type.plain, rows: 12, cols: n) != nil)
        }
        #expect(interleavedFits(rows: 16, cols: 512, blockSize: 256) && !interleavedFits(rows: 12, cols: 512, blockSize: 256)
                && !interleavedFits(rows: 16, cols: 288, blockSize: 256) && interleavedFits(rows: 16, cols: 288, blockSize: 32))
    }

    @Test("mxfp4_x8: every row kernel of the build gives the same rows within rounding (the VNNI form and the q4_0 form)")
    func mxfp4X8Forms() {
        let kernels = mxfp4X8RowKernels()
        guard kernels.count > 1 else { print("mxfp4X8Forms: one mxfp4_x8 row kernel in this build (\(kernels.map(\.name))); nothing to compare"); return }
        var rng = TestRNG(seed: 44)
        for (d, blocks) in [(8, 1), (16, 3), (40, 9), (24, 32)] {
            let n = blocks * 32, p = Pair(.mxfp4x8, d: d, n: n, &rng, misalign: 2), x = randomFloats(n, &rng)
            let scale = termScale(quantTermMagnitudes(p.plain.base, .mxfp4, d: d, n: n), gemvInput(x, .mxfp4), d: d, n: n)
            var scratch = [UInt8](repeating: 0, count: QuantizedActivations.scratchBytes(n))
            let ys = kernels.map { k in
                var y = [Float](repeating: .nan, count: d)
                scratch.withUnsafeMutableBytes { s in
                    x.withUnsafeBufferPointer { xb in
                        let xq = quantizeActivations(xb.baseAddress!, n: n, block: 32, scratch: s.baseAddress!)
                        y.withUnsafeMutableBufferPointer { k.rows($0.baseAddress!, p.x8.base, xq, WeightType.mxfp4x8.rowBytes(n), blocks, 0..<d) }
                    }
                }
                return y
            }
            for (k, y) in ys.enumerated().dropFirst() {
                for i in 0..<d {
                    #expect(close(y[i], ys[0][i], scale: scale[i], rel: quantRel), "\(kernels[k].name) d=\(d) n=\(n) row \(i): \(y[i]) vs \(ys[0][i])")
                }
            }
        }
    }

    @Test("Groups read two at a time (q8_0_x8, q4_0_x8 and their kin) give the rows of one at a time, bit for bit",
          arguments: types.filter { !x8StreamForms($0).isEmpty })
    func twoStreams(type: WeightType) {
        let forms = x8StreamForms(type)
        var rng = TestRNG(seed: 47)
        for (d, blocks) in [(8, 1), (16, 2), (40, 3), (56, 9)] {
            let n = blocks * type.blockSize, p = Pair(type, d: d, n: n, &rng, misalign: 2), x = randomFloats(n, &rng)
            var scratch = [UInt8](repeating: 0, count: QuantizedActivations.scratchBytes(n))
            for rows in [0..<d, 8..<d, 0..<(d - 8)] where !rows.isEmpty {
                let ys = forms.map { k in
                    var y = [Float](repeating: 0, count: d)
                    scratch.withUnsafeMutableBytes { s in
                        x.withUnsafeBufferPointer { xb in
                            let xq = quantizeActivations(xb.baseAddress!, n: n, block: 32, scratch: s.baseAddress!)
                            y.withUnsafeMutableBufferPointer { k($0.baseAddress!, p.x8.base, xq, type.rowBytes(n), n / 32, rows) }
                        }
                    }
                    return y
                }
                #expect(bitsEqual(ys[0], ys[1]), "d=\(d) n=\(n) rows \(rows)")
                #expect(ys[0][rows].allSatisfy { $0 != 0 && $0.isFinite }, "d=\(d) n=\(n) rows \(rows)")
            }
        }
    }

    @Test("GEMV equals the plain type's reference on the same rows within rounding, bit-identical for any pool", arguments: types)
    func gemvMatchesPlain(type: WeightType) {
        var rng = TestRNG(seed: 43)
        for (d, blocks) in [(8, 1), (16, 2), (24, 3), (40, 9), (8, 16), (328, 4)] {
            let n = blocks * type.blockSize
            for misalign in [0, 2] {
                let p = Pair(type, d: d, n: n, &rng, misalign: misalign)
                let x = randomFloats(n, &rng)
                var expected = [Float](repeating: 0, count: d)
                quantGEMVReference(&expected, p.plain.base, type.plain, x, d: d, n: n)
                let scale = termScale(quantTermMagnitudes(p.plain.base, type.plain, d: d, n: n), gemvInput(x, type.plain), d: d, n: n)
                var first: [Float]?
                for pool in testPools {
                    var y = [Float](repeating: .nan, count: d)
                    gemv(&y, p.x8.base, type, x, d: d, n: n, pool: pool)
                    for i in 0..<d {
                        #expect(close(y[i], expected[i], scale: scale[i], rel: quantRel), "d=\(d) n=\(n) row \(i): \(y[i]) vs \(expected[i])")
                    }
                    if let first { #expect(bitsEqual(y, first), "threads=\(pool?.threadCount ?? 0)") } else { first = y }
                }
            }
        }
    }

    @Test("The float path (other CPUs, the library build) equals the plain type's on the same rows bit for bit", arguments: types)
    func floatPath(type: WeightType) {
        var rng = TestRNG(seed: 46)
        for (d, blocks) in [(8, 1), (24, 3), (16, 11)] {
            let n = blocks * type.blockSize, p = Pair(type, d: d, n: n, &rng, misalign: 2), x = randomFloats(n, &rng)
            var want = [Float](repeating: .nan, count: d), y = want
            want.withUnsafeMutableBufferPointer { gemvQuantRows($0.baseAddress!, p.plain.base, type.plain, x, n: n, rows: 0..<d, bias: nil, accumulate: false) }
            y.withUnsafeMutableBufferPointer { gemvQuantRows($0.baseAddress!, p.x8.base, type, x, n: n, rows: 0..<d, bias: nil, accumulate: false) }
            #expect(bitsEqual(y, want), "d=\(d) n=\(n)")
        }
    }

    @Test("GEMV bias and accumulate; gemvGroup equals one gemv per matrix", arguments: types)
    func gemvBiasAccumulateGroup(type: WeightType) {
        var rng = TestRNG(seed: 44)
        let n = 2048, ds = [160, 304, 48]
        let ps = ds.map { Pair(type, d: $0, n: n, &rng) }, x = randomFloats(n, &rng), b = randomFloats(ds[1], &rng)
        var plain = [Float](repeating: 0, count: ds[1]), biased = plain
        gemv(&plain, ps[1].x8.base, type, x, d: ds[1], n: n)
        gemv(&biased, ps[1].x8.base, type, x, d: ds[1], n: n, bias: b)
        for i in 0..<ds[1] { #expect(biased[i] == plain[i] + b[i]) }
        var acc = b
        gemv(&acc, ps[1].x8.base, type, x, d: ds[1], n: n, accumulate: true)
        for i in 0..<ds[1] { #expect(acc[i] == b[i] + plain[i]) }
        let want = ds.indices.map { j in
            var r = [Float](repeating: 0, count: ds[j])
            gemv(&r, ps[j].x8.base, type, x, d: ds[j], n: n)
            return r
        }
        for pool in testPools {
            let bufs = ds.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
            defer { bufs.forEach { $0.deallocate() } }
            for (y, d) in zip(bufs, ds) { y.initialize(repeating: .nan, count: d) }
            gemvGroup(ds.indices.map { GEMVOutput(bufs[$0], UnsafeRawPointer(ps[$0].x8.base), d: ds[$0]) }, type, x, n: n, pool: pool)
            for j in ds.indices { #expect(bitsEqual(Array(UnsafeBufferPointer(start: bufs[j], count: ds[j])), want[j])) }
            // A SwiGLU over matrices 0 and 1 cut to the rows of 0: the product of the same rows, bit for bit.
            var h = [Float](repeating: .nan, count: ds[0]), scratch = h, product = h
            gemvSwiGLU(&h, gate: ps[0].x8.base, up: ps[1].x8.base, type, x, d: ds[0], n: n, scratch: &scratch, pool: pool)
            siluMul(&product, want[0], Array(want[1][0..<ds[0]]), n: ds[0])
            #expect(bitsEqual(h, product), "\(type) gemvSwiGLU threads=\(pool?.threadCount ?? 0)")
        }
    }

    @Test("GEMM: each token as the GEMV computes it (integer build) or the plain type's GEMM on the same rows, bit for bit, for any pool",
          arguments: types)
    func gemmMatchesPlain(type: WeightType) {
        var rng = TestRNG(seed: 45)
        for (t, d, blocks) in [(2, 8, 1), (5, 24, 2), (9, 40, 3), (17, 48, 2), (4, 16, 1)] {
            let n = blocks * type.blockSize, p = Pair(type, d: d, n: n, &rng)
            let x = randomFloats(t * n, &rng)
            var want = [Float](repeating: 0, count: t * d)
            if interleavedGEMMUsesIntegerDots(type) {
                for k in 0..<t {
                    var r = [Float](repeating: 0, count: d)
                    gemv(&r, p.x8.base, type, Array(x[(k * n)..<((k + 1) * n)]), d: d, n: n)
                    want.replaceSubrange((k * d)..<((k + 1) * d), with: r)
                }
            } else {
                gemm(&want, p.plain.base, type.plain, x, tokens: t, d: d, n: n)
            }
            for pool in testPools {
                var y = [Float](repeating: .nan, count: t * d)
                gemm(&y, p.x8.base, type, x, tokens: t, d: d, n: n, pool: pool)
                #expect(bitsEqual(y, want), "t=\(t) d=\(d) n=\(n)")
                let b = randomFloats(d, &rng), y0 = randomFloats(t * d, &rng)
                var acc = y0
                gemm(&acc, p.x8.base, type, x, tokens: t, d: d, n: n, bias: b, accumulate: true, pool: pool)
                for k in 0..<t { for i in 0..<d { #expect(acc[k * d + i] == y0[k * d + i] + (y[k * d + i] + b[i])) } }
            }
        }
    }
}
