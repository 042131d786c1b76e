import Foundation
import SwapMoECore
import Testing
@testable import SwapMoEKernels

/// A quantized matrix of random valid blocks: random bytes with f16 scales set to small values (the quantizer
/// is tested elsewhere; the kernels only need valid blocks), stored at a chosen misalignment (or, for the
/// benchmarks, a float matrix of values in -1...1).
final class QuantMatrix {
    let type: WeightType
    let d: Int, n: Int
    let storage: UnsafeMutableRawPointer
    let base: UnsafeMutableRawPointer

    /// The interleaved types: random rows of the plain type (d a multiple of 8), interleaved.
    convenience init(_ type: WeightType, d: Int, n: Int, _ rng: inout TestRNG, misalign: Int = 0) {
        guard type.rowGroup > 1 else { self.init(blocksOf: type, d: d, n: n, &rng, misalign: misalign); return }
        let plain = QuantMatrix(blocksOf: type.plain, d: d, n: n, &rng)
        self.init(blocksOf: type, d: d, n: n, &rng, misalign: misalign)
        interleave(base, plain.base, as: type, rows: d, cols: n)
    }

    init(blocksOf type: WeightType, d: Int, n: Int, _ rng: inout TestRNG, misalign: Int = 0) {
        self.type = type; self.d = d; self.n = n
        let bytes = d * type.rowBytes(n)
        storage = .allocate(byteCount: bytes + 64, alignment: 64)
        base = storage + misalign
        var i = 0
        while i < bytes {
            let r = rng.next()
            for k in 0..<min(8, bytes - i) { base.storeBytes(of: UInt8(truncatingIfNeeded: r >> (8 * k)), toByteOffset: i + k, as: UInt8.self) }
            i += 8
        }
        func f16(_ offset: Int, _ range: ClosedRange<Float>, signed: Bool) {
            var v = Float.random(in: range, using: &rng)
            if signed && Bool.random(using: &rng) { v = -v }
            base.storeBytes(of: floatToF16(v), toByteOffset: offset, as: UInt16.self)
        }
        for b in 0..<(bytes / type.blockBytes) {
            let o = b * type.blockBytes
            switch type {
            case .q8_0: f16(o, 1e-3...2e-2, signed: true)
            case .q4_0, .q5_0: f16(o, 1e-2...0.2, signed: true)
            case .q4_1, .q5_1: f16(o, 1e-3...2e-2, signed: false); f16(o + 2, 1e-2...0.3, signed: true)
            case .q4_K, .q5_K: f16(o, 1e-4...2e-3, signed: false); f16(o + 2, 1e-4...2e-3, signed: false)
            case .q6_K: f16(o + 208, 1e-5...2e-4, signed: false)
            case .q2_K: f16(o + 80, 1e-4...2e-3, signed: false); f16(o + 82, 1e-4...2e-3, signed: false)
            case .q3_K: f16(o + 108, 1e-5...2e-4, signed: false)
            case .mxfp4: base.storeBytes(of: UInt8.random(in: 112...124, using: &rng), toByteOffset: o, as: UInt8.self)   // 2^-16...2^-4
            case .iq4_nl: f16(o, 1e-4...2e-3, signed: true)
            case .iq4_xs: f16(o, 1e-5...2e-4, signed: true)
            case .q4_Kx8, .q5_Kx8, .q6_Kx8, .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .q3_Kx8, .q2_Kx8, .iq4_nlx8, .iq4_xsx8: break   // overwritten by the convenience init
            // The float types (for the benchmarks beside them): values in -1...1.
            case .bf16: base.storeBytes(of: floatToBF16(Float.random(in: -1...1, using: &rng)), toByteOffset: o, as: UInt16.self)
            case .f16: base.storeBytes(of: floatToF16(Float.random(in: -1...1, using: &rng)), toByteOffset: o, as: UInt16.self)
            case .f32: base.storeBytes(of: Float.random(in: -1...1, using: &rng), toByteOffset: o, as: Float.self)
            }
        }
    }
    deinit { storage.deallocate() }

    var rowBytes: Int { type.rowBytes(n) }

    /// The scalar dequantization, row-major (d, n).
    var dequantized: [Float] {
        var out = [Float](repeating: 0, count: d * n)
        out.withUnsafeMutableBufferPointer { o in
            if type.rowGroup > 1 {
                dequantizeRows(o.baseAddress!, base, type, rows: 0..<d, cols: n)
            } else {
                for i in 0..<d { dequantizeRow(o.baseAddress! + i * n, base + i * rowBytes, type, count: n) }
            }
        }
        return out
    }
}

/// The min offset the weight of element k (0..<blockSize) of a block includes, for the types with mins
/// (w = d sc q - dmin m for q2_K / q4_K / q5_K, d q + m for q4_1 / q5_1), as the amount added to d q: 0 for the others.
func blockMin(_ blk: UnsafeRawPointer, _ type: WeightType, _ k: Int) -> Float {
    switch type {
    case .q2_K:
        -f16ToFloat(blk.loadUnaligned(fromByteOffset: 82, as: UInt16.self)) * Float(blk.load(fromByteOffset: k / 16, as: UInt8.self) >> 4)
    case .q4_K, .q5_K:
        -f16ToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) * Float(kScaleMin(blk + 4, k / 32).1)
    case .q4_1, .q5_1: f16ToFloat(blk.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
    default: 0
    }
}

/// Per element, the magnitude of the terms the kernels round separately: |d q| + |min| for the types with mins
/// (`blockMin`), |w| otherwise. Rows of (d, n).
func quantTermMagnitudes(_ blocks: UnsafeRawPointer, _ type: WeightType, d: Int, n: Int) -> [Float] {
    var w = [Float](repeating: 0, count: d * n)
    w.withUnsafeMutableBufferPointer { o in
        for i in 0..<d { dequantizeRow(o.baseAddress! + i * n, blocks + i * type.rowBytes(n), type, count: n) }
    }
    let bs = type.blockSize
    for i in 0..<d {
        for b in 0..<(n / bs) {
            let blk = blocks + i * type.rowBytes(n) + b * type.blockBytes
            for k in 0..<bs {
                let e = i * n + b * bs + k, m = blockMin(blk, type, k)
                w[e] = abs(w[e] - m) + abs(m)   // |d q| + |min|
            }
        }
    }
    return w
}

/// Σ_k mag[i,k] |x_k| per row.
func termScale(_ mag: [Float], _ x: [Float], d: Int, n: Int) -> [Float] {
    (0..<d).map { i in (0..<n).reduce(Float(0)) { $0 + mag[i * n + $1] * abs(x[$1]) } }
}

let quantTypes: [WeightType] = QuantGolden.types.map(\.1)

/// x as the quantized GEMV of this build sees it: x̂ = d_x q_x on the integer path (QuantActivations.swift),
/// x itself on the float path.
func gemvInput(_ x: [Float], _ type: WeightType) -> [Float] {
    guard quantizedGEMVUsesIntegerDots else { return x }
    let block = activationBlock(type)
    let (q, scale) = x.withUnsafeBufferPointer { quantizeActivationsReference($0.baseAddress!, n: x.count, block: block) }
    return (0..<x.count).map { scale[$0 / block] * Float(q[$0]) }
}

/// The largest |x - d q| of an activation block of scale d: d / 2 from rounding q, and for 32-blocks up to
/// 127 q-steps of d's own f16 rounding (2^-11 relative), as in llama.cpp's q8_0 blocks.
func activationError(_ d: Float, block: Int) -> Float {
    abs(d) * (block == 32 ? 0.5 + 127.0 / 2048 : 0.5) * 1.0001
}

/// What `gemv` computes on this build, one element at a time: `gemvQuantIntegerReference` on the integer
/// path, `gemvReference` on the float path.
func quantGEMVReference(_ y: inout [Float], _ w: UnsafeRawPointer, _ type: WeightType, _ x: [Float], d: Int, n: Int,
                        bias: [Float]? = nil, accumulate: Bool = false) {
    let b = bias ?? [Float](repeating: 0, count: d)
    y.withUnsafeMutableBufferPointer { yb in
        x.withUnsafeBufferPointer { xb in
            b.withUnsafeBufferPointer { bb in
                let bp = bias == nil ? nil : bb.baseAddress
                if quantizedGEMVUsesIntegerDots {
                    gemvQuantIntegerReference(yb.baseAddress!, w, type, xb.baseAddress!, d: d, n: n, bias: bp, accumulate: accumulate)
                } else {
                    gemvReference(yb.baseAddress!, w, type, xb.baseAddress!, d: d, n: n, bias: bp, accumulate: accumulate)
                }
            }
        }
    }
}
/// Relative tolerance against the f32 reference: both sides are f32 sums of the same n products in different
/// orders (QuantGEMV.swift), each off by at most ~n ulp of Σ|terms| in the worst case, ~sqrt(n) in practice.
let quantRel: Float = 2e-5

@Suite("Quantized GEMV and GEMM")
struct QuantKernelTests {
    /// (rows, blocks per row): row remainders of 4 and 16, 1...3 blocks, many blocks.
    static let shapes: [(d: Int, blocks: Int)] = [(1, 1), (3, 2), (5, 3), (17, 1), (33, 2), (7, 9), (2, 64), (19, 16)]

    @Test("The SIMD dequantizer equals the scalar one bit for bit (random blocks and gguf-py goldens)",
          arguments: quantTypes)
    func simdDequantize(type: WeightType) throws {
        var rng = TestRNG(seed: 11)
        let m = QuantMatrix(type, d: 7, n: 3 * type.blockSize, &rng, misalign: 2)
        var out = [Float](repeating: .nan, count: m.d * m.n)
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<m.d { dequantizeRowSIMD(o.baseAddress! + i * m.n, m.base + i * m.rowBytes, type, count: m.n) }
        }
        #expect(bitsEqual(out, m.dequantized))
        let g = try QuantGolden(QuantGolden.types.first { $0.1 == type }!.0, type)
        var gout = [Float](repeating: .nan, count: g.rows * g.cols)
        g.blocks.withUnsafeBytes { b in
            gout.withUnsafeMutableBufferPointer { o in
                for r in 0..<g.rows { dequantizeRowSIMD(o.baseAddress! + r * g.cols, b.baseAddress! + r * g.rowBytes, type, count: g.cols) }
            }
        }
        #expect(bitsEqual(gout, g.dequantized))
    }

    @Test("GEMV matches its scalar reference: remainders, 1-3 and many blocks, misalignment, pools",
          arguments: quantTypes)
    func gemvMatchesReference(type: WeightType) {
        var rng = TestRNG(seed: 12)
        for (d, blocks) in Self.shapes {
            let n = blocks * type.blockSize
            for misalign in [0, 2] {
                let m = QuantMatrix(type, d: d, n: n, &rng, misalign: misalign)
                let x = randomFloats(n, &rng)
                var expected = [Float](repeating: 0, count: d)
                quantGEMVReference(&expected, m.base, type, x, d: d, n: n)
                let scale = termScale(quantTermMagnitudes(m.base, type, d: d, n: n), gemvInput(x, type), d: d, n: n)
                for pool in testPools {
                    var y = [Float](repeating: .nan, count: d)
                    gemv(&y, m.base, type, x, d: d, n: n, pool: pool)
                    for i in 0..<d {
                        #expect(close(y[i], expected[i], scale: scale[i], rel: quantRel), "\(type) d=\(d) n=\(n) row \(i): \(y[i]) vs \(expected[i])")
                    }
                }
            }
        }
    }

    @Test("GEMV bias and accumulate: y = y + (W x + b)", arguments: quantTypes)
    func gemvBiasAccumulate(type: WeightType) {
        var rng = TestRNG(seed: 13)
        let d = 37, n = 2 * type.blockSize
        let m = QuantMatrix(type, d: d, n: n, &rng)
        let x = randomFloats(n, &rng), b = randomFloats(d, &rng), y0 = randomFloats(d, &rng)
        var expected = y0
        quantGEMVReference(&expected, m.base, type, x, d: d, n: n, bias: b, accumulate: true)
        let scale = termScale(quantTermMagnitudes(m.base, type, d: d, n: n), gemvInput(x, type), d: d, n: n)
        var y = y0
        gemv(&y, m.base, type, x, d: d, n: n, bias: b, accumulate: true, pool: testPools[2])
        for i in 0..<d { #expect(close(y[i], expected[i], scale: scale[i] + 3, rel: quantRel)) }
        var yb = [Float](repeating: 0, count: d), yn = [Float](repeating: 0, count: d)
        gemv(&yb, m.base, type, x, d: d, n: n, bias: b)
        gemv(&yn, m.base, type, x, d: d, n: n)
        for i in 0..<d { #expect(yb[i] == yn[i] + b[i]) }
        var ya = y0
        gemv(&ya, m.base, type, x, d: d, n: n, accumulate: true)
        for i in 0..<d { #expect(ya[i] == y0[i] + yn[i]) }
    }

    @Test("gemvGroup (q, k, v or gate and up over one x; down projections each over its own) equals one gemv per matrix bit for bit, for every type and pool",
          arguments: [WeightType.bf16, .f16, .f32] + quantTypes)
    func gemvGroupEqualsGEMVs(type: WeightType) {
        var rng = TestRNG(seed: 15)
        // Large enough to split over the pool, with chunks across both seams; a bias on the second matrix.
        let n = 4096, ds = [161, 300, 45]
        /// Base of a d x n matrix of `type` (quantized blocks, or float values stored in the type).
        func matrix(_ d: Int) -> AnyObject {
            type.isQuantized ? QuantMatrix(type, d: d, n: n, &rng) : Weights(randomFloats(d * n, &rng), type)
        }
        func base(_ m: AnyObject) -> UnsafeRawPointer { UnsafeRawPointer((m as? QuantMatrix)?.base ?? (m as! Weights).base) }
        let ms = ds.map(matrix), x = randomFloats(n, &rng), bias = randomFloats(ds[1], &rng)
        let want = ds.indices.map { j in
            var r = [Float](repeating: 0, count: ds[j])
            gemv(&r, base(ms[j]), type, x, d: ds[j], n: n, bias: j == 1 ? bias : nil)
            return r
        }
        for pool in testPools {
            let ys = ds.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
            defer { ys.forEach { $0.deallocate() } }
            for (y, d) in zip(ys, ds) { y.initialize(repeating: .nan, count: d) }
            bias.withUnsafeBufferPointer { b in
                gemvGroup(ds.indices.map { GEMVOutput(ys[$0], base(ms[$0]), d: ds[$0], bias: $0 == 1 ? b.baseAddress : nil) }, type, x, n: n, pool: pool)
            }
            for j in ds.indices {
                #expect(bitsEqual(Array(UnsafeBufferPointer(start: ys[j], count: ds[j])), want[j]), "\(type) matrix \(j) threads=\(pool?.threadCount ?? 0)")
            }
        }
        // Outputs with x of their own (a decoded token's experts' down projections): matrices 0 and 2 over x2, 1 over
        // the group's x; and all over their own, no group x.
        let x2 = randomFloats(n, &rng)
        let want2 = ds.indices.map { j in
            var r = [Float](repeating: 0, count: ds[j])
            gemv(&r, base(ms[j]), type, j == 1 ? x : x2, d: ds[j], n: n, bias: j == 1 ? bias : nil)
            return r
        }
        for pool in testPools {
            for groupX in [true, false] {
                let ys = ds.map { UnsafeMutablePointer<Float>.allocate(capacity: $0) }
                defer { ys.forEach { $0.deallocate() } }
                for (y, d) in zip(ys, ds) { y.initialize(repeating: .nan, count: d) }
                x.withUnsafeBufferPointer { xp in
                    x2.withUnsafeBufferPointer { x2p in
                        bias.withUnsafeBufferPointer { b in
                            gemvGroup(ds.indices.map {
                                GEMVOutput(ys[$0], base(ms[$0]), d: ds[$0], bias: $0 == 1 ? b.baseAddress : nil,
                                           x: $0 == 1 ? (groupX ? nil : xp.baseAddress) : x2p.baseAddress)
                            }, type, groupX ? xp.baseAddress : nil, n: n, pool: pool)
                        }
                    }
                }
                for j in ds.indices {
                    #expect(bitsEqual(Array(UnsafeBufferPointer(start: ys[j], count: ds[j])), want2[j]), "\(type) own x, matrix \(j) threads=\(pool?.threadCount ?? 0)")
                }
            }
        }
        withExtendedLifetime(ms) {}
    }

    @Test("gemvSwiGLU (the product inside each chunk; one SwiGLU or two in one pass) equals gemvGroup then siluMul bit for bit, for every type and pool",
          arguments: [WeightType.bf16, .f16, .f32] + quantTypes)
    func gemvSwiGLUEqualsGroupThenSiluMul(type: WeightType) {
        var rng = TestRNG(seed: 16)
        for (d, n) in [(300, 4096), (45, 512)] {
            func matrix() -> AnyObject {
                type.isQuantized ? QuantMatrix(type, d: d, n: n, &rng) : Weights(randomFloats(d * n, &rng), type)
            }
            func base(_ m: AnyObject) -> UnsafeRawPointer { UnsafeRawPointer((m as? QuantMatrix)?.base ?? (m as! Weights).base) }
            let g = matrix(), u = matrix(), x = randomFloats(n, &rng)
            var gw = [Float](repeating: 0, count: d), uw = gw
            gw.withUnsafeMutableBufferPointer { gp in
                uw.withUnsafeMutableBufferPointer { up in
                    gemvGroup([GEMVOutput(gp.baseAddress!, base(g), d: d), GEMVOutput(up.baseAddress!, base(u), d: d)], type, x, n: n)
                    siluMul(gp.baseAddress!, gp.baseAddress!, up.baseAddress!, n: d)
                }
            }
            for pool in testPools {
                var h = [Float](repeating: .nan, count: d), scratch = h
                gemvSwiGLU(&h, gate: base(g), up: base(u), type, x, d: d, n: n, scratch: &scratch, pool: pool)
                #expect(bitsEqual(h, gw), "\(type) d=\(d) threads=\(pool?.threadCount ?? 0)")
                // Two SwiGLUs in one pass (a decoded token's experts), the second of 16 more rows: each as alone.
                func wider() -> AnyObject {
                    type.isQuantized ? QuantMatrix(type, d: d + 16, n: n, &rng) : Weights(randomFloats((d + 16) * n, &rng), type)
                }
                let g2 = wider(), u2 = wider()
                var alone = [Float](repeating: .nan, count: d + 16), s2 = alone
                gemvSwiGLU(&alone, gate: base(g2), up: base(u2), type, x, d: d + 16, n: n, scratch: &s2)
                var h1 = [Float](repeating: .nan, count: d), s1 = h1, h2 = [Float](repeating: .nan, count: d + 16)
                h1.withUnsafeMutableBufferPointer { h1p in s1.withUnsafeMutableBufferPointer { s1p in
                    h2.withUnsafeMutableBufferPointer { h2p in s2.withUnsafeMutableBufferPointer { s2p in
                        gemvSwiGLU([SwiGLUOutput(h1p.baseAddress!, gate: base(g), up: base(u), d: d, scratch: s1p.baseAddress!),
                                    SwiGLUOutput(h2p.baseAddress!, gate: base(g2), up: base(u2), d: d + 16, scratch: s2p.baseAddress!)],
                                   type, x, n: n, pool: pool)
                    } }
                } }
                #expect(bitsEqual(h1, gw) && bitsEqual(h2, alone), "\(type) two SwiGLUs d=\(d) threads=\(pool?.threadCount ?? 0)")
                withExtendedLifetime((g2, u2)) {}
            }
            withExtendedLifetime((g, u)) {}
        }
    }

    @Test("GEMV is bit-identical for 1, 2 and 3 threads at sizes that split", arguments: quantTypes)
    func gemvDeterministic(type: WeightType) {
        var rng = TestRNG(seed: 14)
        for (d, n) in [(300, 4096), (161, 4608)] {
            let m = QuantMatrix(type, d: d, n: n, &rng)
            let x = randomFloats(n, &rng)
            var ref = [Float](repeating: 0, count: d)
            gemv(&ref, m.base, type, x, d: d, n: n)
            for pool in testPools {
                var y = [Float](repeating: 0, count: d)
                gemv(&y, m.base, type, x, d: d, n: n, pool: pool)
                #expect(bitsEqual(y, ref), "\(type) d=\(d) n=\(n) threads=\(pool?.threadCount ?? 0)")
            }
        }
    }

    @Test("GEMM equals the f32 GEMM of the dequantized matrix bit for bit, and the scalar reference within tolerance",
          arguments: quantTypes)
    func gemmMatchesReference(type: WeightType) {
        var rng = TestRNG(seed: 15)
        let shapes: [(t: Int, d: Int, blocks: Int)] = [
            (2, 3, 1), (3, 17, 2), (4, 16, 3), (5, 33, 1), (7, 19, 9), (9, 40, 2), (1, 5, 3), (6, 1, 8), (65, 21, 2),
        ]
        for (t, d, blocks) in shapes {
            let n = blocks * type.blockSize
            let m = QuantMatrix(type, d: d, n: n, &rng, misalign: 2)
            let deq = m.dequantized
            let x = randomFloats(t * n, &rng), b = randomFloats(d, &rng)
            var expected = [Float](repeating: 0, count: t * d)
            gemmReference(&expected, m.base, type, x, tokens: t, d: d, n: n, bias: b)
            var f32 = [Float](repeating: 0, count: t * d)
            gemm(&f32, deq, .f32, x, tokens: t, d: d, n: n, bias: b)
            let mag = quantTermMagnitudes(m.base, type, d: d, n: n)
            for pool in testPools {
                var y = [Float](repeating: .nan, count: t * d)
                gemm(&y, m.base, type, x, tokens: t, d: d, n: n, bias: b, pool: pool)
                if t == 1 {   // one token goes through the GEMV
                    quantGEMVReference(&expected, m.base, type, x, d: d, n: n, bias: b)
                }
                var bad = 0
                for i in 0..<t {
                    let scale = termScale(mag, t == 1 ? gemvInput(x, type) : Array(x[i * n ..< (i + 1) * n]), d: d, n: n)
                    for j in 0..<d where !close(y[i * d + j], expected[i * d + j], scale: scale[j] + 1, rel: quantRel) { bad += 1 }
                }
                #expect(bad == 0, "\(type) t=\(t) d=\(d) n=\(n) threads=\(pool?.threadCount ?? 0): \(bad) mismatches")
                if t > 1 { #expect(bitsEqual(y, f32), "\(type) t=\(t) d=\(d) n=\(n) threads=\(pool?.threadCount ?? 0)") }
            }
        }
    }

    @Test("GEMM accumulate adds into Y and is bit-identical across pools at a size that splits", arguments: quantTypes)
    func gemmAccumulateAndDeterminism(type: WeightType) {
        var rng = TestRNG(seed: 16)
        let t = 6, d = 100, n = 2048
        let m = QuantMatrix(type, d: d, n: n, &rng)
        let x = randomFloats(t * n, &rng), y0 = randomFloats(t * d, &rng)
        var plain = [Float](repeating: 0, count: t * d)
        gemm(&plain, m.base, type, x, tokens: t, d: d, n: n)
        var acc = y0
        gemm(&acc, m.base, type, x, tokens: t, d: d, n: n, accumulate: true, pool: testPools[3])
        for i in 0..<(t * d) { #expect(acc[i] == y0[i] + plain[i]) }
        for pool in testPools {
            var y = [Float](repeating: 0, count: t * d)
            gemm(&y, m.base, type, x, tokens: t, d: d, n: n, pool: pool)
            #expect(bitsEqual(y, plain), "\(type) threads=\(pool?.threadCount ?? 0)")
        }
    }

    @Test("GEMV over gguf-py's golden blocks equals dot products with gguf-py's dequantized floats",
          arguments: QuantGolden.types)
    func gemvOnGoldens(name: String, type: WeightType) throws {
        let g = try QuantGolden(name, type)
        var rng = TestRNG(seed: 17)
        let x = randomFloats(g.cols, &rng), xhat = gemvInput(x, type)
        var y = [Float](repeating: .nan, count: g.rows)
        let scale = g.blocks.withUnsafeBytes { b in
            gemv(&y, b.baseAddress!, type, x, d: g.rows, n: g.cols)
            return termScale(quantTermMagnitudes(b.baseAddress!, type, d: g.rows, n: g.cols), xhat, d: g.rows, n: g.cols)
        }
        for r in 0..<g.rows {
            var e: Double = 0
            for k in 0..<g.cols { e += Double(g.dequantized[r * g.cols + k]) * Double(xhat[k]) }
            #expect(close(y[r], Float(e), scale: scale[r], rel: quantRel), "\(name) row \(r): \(y[r]) vs \(e)")
        }
    }

    @Test("The float path (used where the integer one is not built) matches the f32 reference", arguments: quantTypes)
    func floatPathMatchesReference(type: WeightType) {
        var rng = TestRNG(seed: 18)
        for (d, blocks) in Self.shapes {
            let n = blocks * type.blockSize
            let m = QuantMatrix(type, d: d, n: n, &rng, misalign: 2)
            let x = randomFloats(n, &rng)
            var expected = [Float](repeating: 0, count: d), y = [Float](repeating: .nan, count: d)
            gemvReference(&expected, m.base, type, x, d: d, n: n)
            y.withUnsafeMutableBufferPointer { gemvQuantRows($0.baseAddress!, m.base, type, x, n: n, rows: 0..<d, bias: nil, accumulate: false) }
            let scale = termScale(quantTermMagnitudes(m.base, type, d: d, n: n), x, d: d, n: n)
            for i in 0..<d { #expect(close(y[i], expected[i], scale: scale[i], rel: quantRel), "\(type) d=\(d) n=\(n) row \(i)") }
        }
    }

    @Test("The integer path stays within its activation rounding of the f32 GEMV: |y - W x| <= Σ_k |w_k| |d_x| / 2",
          arguments: quantTypes)
    func integerPathNearFloat(type: WeightType) {
        guard quantizedGEMVUsesIntegerDots else { return }
        var rng = TestRNG(seed: 19)
        let d = 24, n = 8 * type.blockSize, block = activationBlock(type)
        let m = QuantMatrix(type, d: d, n: n, &rng)
        let w = m.dequantized
        for range: ClosedRange<Float> in [-1...1, -1e-3...1e-3, 0...50] {
            let x = randomFloats(n, &rng, range: range)
            let (_, dx) = x.withUnsafeBufferPointer { quantizeActivationsReference($0.baseAddress!, n: n, block: block) }
            var y = [Float](repeating: .nan, count: d), f = [Float](repeating: 0, count: d)
            gemv(&y, m.base, type, x, d: d, n: n)
            gemvReference(&f, m.base, type, x, d: d, n: n)
            let scale = termScale(quantTermMagnitudes(m.base, type, d: d, n: n), x, d: d, n: n)
            for i in 0..<d {
                let bound = (0..<n).reduce(Float(0)) { $0 + abs(w[i * n + $1]) * activationError(dx[$1 / block], block: block) }
                #expect(abs(y[i] - f[i]) <= bound * 1.001 + quantRel * scale[i] + 1e-6, "\(type) row \(i): \(y[i]) vs \(f[i]), bound \(bound)")
            }
        }
    }

    @Test("Activation quantization: the SIMD blocks equal the scalar reference; zeros, ties, NaN never trap")
    func activationQuantization() {
        var rng = TestRNG(seed: 20)
        for block in [32, 256] {
            let n = 4 * 256
            var x = randomFloats(n, &rng, range: -3...3)
            for k in 0..<block { x[k] = 0 }                          // an all-zero block
            x[block] = 5; x[block + 7] = -5                      // a tie between +m and -m
            for k in (2 * block)..<(3 * block) { x[k] = Float(k % 5) * 0.25 }   // exact halves
            let (q, scale) = x.withUnsafeBufferPointer { quantizeActivationsReference($0.baseAddress!, n: n, block: block) }
            var scratch = [UInt8](repeating: 0, count: QuantizedActivations.scratchBytes(n))
            scratch.withUnsafeMutableBytes { buf in
                let xq = x.withUnsafeBufferPointer { quantizeActivations($0.baseAddress!, n: n, block: block, scratch: buf.baseAddress!) }
                for k in 0..<n where xq.q[k] != q[k] { Issue.record("block \(block) element \(k): \(xq.q[k]) vs \(q[k])"); break }
                for b in 0..<(n / block) { #expect(xq.scale[b] == scale[b], "block \(block) #\(b)") }
                for g in 0..<(n / 16) {
                    #expect(Int(xq.sums[g]) == (0..<16).reduce(0) { $0 + Int(q[16 * g + $1]) })
                }
                if block == 32 {
                    for b in 0..<(n / 32) {
                        #expect(xq.blockSums[b] == scale[b] * Float((0..<32).reduce(0) { $0 + Int(q[32 * b + $1]) }))
                    }
                }
            }
            for k in 0..<n { #expect(abs(x[k] - scale[k / block] * Float(q[k])) <= activationError(scale[k / block], block: block)) }
            var bad = x
            bad[3] = .nan; bad[block + 1] = .infinity
            scratch.withUnsafeMutableBytes { buf in
                _ = bad.withUnsafeBufferPointer { quantizeActivations($0.baseAddress!, n: n, block: block, scratch: buf.baseAddress!) }
            }
        }
    }

    @Test("The integer GEMV equals llama.cpp's own vec_dot (x quantized its way) on llama.cpp-quantized rows",
          arguments: QuantGolden.types)
    func integerPathMatchesLlamaCpp(name: String, type: WeightType) throws {
        guard quantizedGEMVUsesIntegerDots else { return }
        let g = try QuantGolden(name + "_ref", type)
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/quant/\(name)_vecdot.bin")
        let data = [UInt8](try Data(contentsOf: url))
        func u32(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 | Int(data[o + 2]) << 16 | Int(data[o + 3]) << 24 }
        func floats(_ o: Int, _ n: Int) -> [Float] { (0..<n).map { Float(bitPattern: UInt32(u32(o + 4 * $0))) } }
        #expect(u32(0) == g.rows && u32(4) == g.cols)
        let x = floats(8, g.cols), expected = floats(8 + 4 * g.cols, g.rows)
        var y = [Float](repeating: .nan, count: g.rows)
        let scale = g.blocks.withUnsafeBytes { b in
            gemv(&y, b.baseAddress!, type, x, d: g.rows, n: g.cols)
            return termScale(quantTermMagnitudes(b.baseAddress!, type, d: g.rows, n: g.cols), gemvInput(x, type), d: g.rows, n: g.cols)
        }
        // q4_1 / q5_1: llama.cpp's q8_1 activations also store each block's d_x Σ q_x as an f16 (ours stays an
        // integer); on these rows that rounding stays within the same tolerance.
        for r in 0..<g.rows {
            #expect(close(y[r], expected[r], scale: scale[r], rel: quantRel), "\(name) row \(r): \(y[r]) vs llama.cpp \(expected[r])")
        }
    }
}
