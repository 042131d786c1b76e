import SwapMoECore
// SwapMoEKernels: pure-Swift SIMD kernels for MoE decoding and prefill.
//
// Conventions used by every kernel in this module:
// - Weight matrices are row-major `W[out, in]`, exactly as PyTorch stores `nn.Linear.weight`.
//   Row `r` starts at byte `r * in * type.byteSize` from the matrix base. Rows may be only
//   2-byte aligned (f16/bf16 with odd `in`), so every weight load is unaligned.
// - Activations, norms, caches and outputs are Float32.
// - Shapes are written in comments as in llama2.c: `W (d,n) @ x (n,) -> y (d,)`.

/// Element type of a weight matrix as stored in memory.
///
/// Local to the kernels; the storage layer maps its own dtype onto this.
public enum WeightType: Sendable, Hashable, CaseIterable {
    /// IEEE-754 binary32.
    case f32
    /// IEEE-754 binary16 (half).
    case f16
    /// bfloat16: the top 16 bits of a binary32, stored as raw `UInt16` bits.
    case bf16

    /// Bytes per element.
    @inlinable public var byteSize: Int { self == .f32 ? 4 : 2 }
}

// MARK: - Scalar conversions

/// Reads element `i` of a weight row as Float (scalar path; used for tails and references).
@inline(__always)
func loadWeight(_ w: UnsafeRawPointer, _ i: Int, _ type: WeightType) -> Float {
    switch type {
    case .f32: return w.loadUnaligned(fromByteOffset: i &* 4, as: Float.self)
    case .f16: return f16ToFloat(w.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
    case .bf16: return bf16ToFloat(w.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
    }
}

// MARK: - Row conversion (embedding lookup, dequantised copies)

/// src (n,) of `type` -> dst (n,) Float32. Use for embedding rows: `src = base + token * n * type.byteSize`.
public func convertToFloat(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, _ type: WeightType, count n: Int) {
    var i = 0
    switch type {
    case .f32:
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n &* 4)
        return
    case .f16:
        while i &+ 16 <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: loadF16x16(src, i &* 2), as: SIMD16<Float>.self)
            i &+= 16
        }
    case .bf16:
        while i &+ 16 <= n {
            let u = SIMD16<UInt32>(truncatingIfNeeded: src.loadUnaligned(fromByteOffset: i &* 2, as: SIMD16<UInt16>.self))
            UnsafeMutableRawPointer(dst + i).storeBytes(of: unsafeBitCast(u &<< 16, to: SIMD16<Float>.self), as: SIMD16<Float>.self)
            i &+= 16
        }
    }
    while i < n { dst[i] = loadWeight(src, i, type); i &+= 1 }
}
