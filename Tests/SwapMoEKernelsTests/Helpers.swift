import SwapMoECore
import Foundation
@testable import SwapMoEKernels

/// Deterministic xorshift generator so failures reproduce.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return state
    }
}

func randomFloats(_ count: Int, _ rng: inout TestRNG, range: ClosedRange<Float> = -1...1) -> [Float] {
    (0..<count).map { _ in Float.random(in: range, using: &rng) }
}

/// A weight matrix stored in `type` at a chosen byte misalignment (to exercise unaligned loads).
final class Weights {
    let type: WeightType
    let storage: UnsafeMutableRawPointer
    let base: UnsafeMutableRawPointer
    let count: Int

    init(_ values: [Float], _ type: WeightType, misalign: Int = 0) {
        self.type = type
        count = values.count
        storage = .allocate(byteCount: values.count * type.blockBytes + 64, alignment: 64)
        base = storage + misalign
        for (i, v) in values.enumerated() {
            switch type {
            case .f32: base.storeBytes(of: v, toByteOffset: 4 * i, as: Float.self)
            case .f16: base.storeBytes(of: floatToF16(v), toByteOffset: 2 * i, as: UInt16.self)
            case .bf16: base.storeBytes(of: floatToBF16(v), toByteOffset: 2 * i, as: UInt16.self)
            default: preconditionFailure("Weights holds float types; quantized ones come from goldens")
            }
        }
    }
    deinit { storage.deallocate() }

    /// The stored values read back as Float (exact).
    var decoded: [Float] { (0..<count).map { loadWeight(UnsafeRawPointer(base), $0, type) } }
}

/// |a - b| within `rel` of the magnitude scale `scale` (Σ|terms| for dot products), plus a tiny absolute.
func close(_ a: Float, _ b: Float, scale: Float, rel: Float = 1e-5) -> Bool {
    abs(a - b) <= rel * scale + 1e-6
}

/// Σ_k |W[i,k] x[k]| per row, the natural scale for dot-product rounding error.
func absDotScale(_ w: [Float], _ x: [Float], d: Int, n: Int) -> [Float] {
    (0..<d).map { i in (0..<n).reduce(Float(0)) { $0 + abs(w[i * n + $1] * x[$1]) } }
}

func bitsEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

let testPools: [ThreadPool?] = [nil, ThreadPool(threads: 1), ThreadPool(threads: 2), ThreadPool(threads: 3)]
