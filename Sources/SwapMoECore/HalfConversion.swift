/// Conversions between f32, f16 and bf16, element by element and in bulk.
///
/// bf16 is the top half of an IEEE f32, so widening is a shift; narrowing rounds to nearest-even exactly as
/// PyTorch's `tensor.to(torch.bfloat16)` does (NaN stays a quiet NaN). f16 goes through Swift's `Float16`,
/// which compiles to F16C instructions on the `haswell` target this package builds for.

@inline(__always) public func bf16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

@inline(__always) public func floatToBF16(_ f: Float) -> UInt16 {
    let u = f.bitPattern
    if f.isNaN { return UInt16(truncatingIfNeeded: (u >> 16) | 0x0040) }
    let roundingBias: UInt32 = 0x7FFF + ((u >> 16) & 1)
    return UInt16(truncatingIfNeeded: (u &+ roundingBias) >> 16)
}

@inline(__always) public func f16ToFloat(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }
@inline(__always) public func floatToF16(_ f: Float) -> UInt16 { Float16(f).bitPattern }

public enum ConversionError: Error, CustomStringConvertible {
    case unsupported(from: DType, to: DType)
    public var description: String {
        switch self {
        case let .unsupported(from, to):
            "cannot convert \(from.rawValue) tensors to \(to.rawValue); use --dtype keep for non-float tensors"
        }
    }
}

/// Converts `count` elements from `src` (dtype `from`) into `dst` (dtype `to`). Buffers may be unaligned.
public func convertElements(from: DType, _ src: UnsafeRawPointer, to: DType, _ dst: UnsafeMutableRawPointer,
                            count: Int) throws(ConversionError) {
    if from == to {
        dst.copyMemory(from: src, byteCount: count * from.size)
        return
    }
    guard from.isComputeFloat, to.isComputeFloat else { throw .unsupported(from: from, to: to) }
    @inline(__always) func load(_ i: Int) -> Float {
        switch from {
        case .f32: src.loadUnaligned(fromByteOffset: i &* 4, as: Float.self)
        case .f16: f16ToFloat(src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
        default: bf16ToFloat(src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
        }
    }
    switch to {
    case .f32:
        for i in 0..<count { dst.storeBytes(of: load(i), toByteOffset: i &* 4, as: Float.self) }
    case .f16:
        for i in 0..<count { dst.storeBytes(of: floatToF16(load(i)), toByteOffset: i &* 2, as: UInt16.self) }
    default:
        for i in 0..<count { dst.storeBytes(of: floatToBF16(load(i)), toByteOffset: i &* 2, as: UInt16.self) }
    }
}

/// Sum of squares of `count` float elements of dtype `dtype` (f32/f16/bf16), accumulated in Double so
/// expert norms do not depend on chunking. Other dtypes contribute nothing.
public func sumOfSquares(_ dtype: DType, _ p: UnsafeRawPointer, count: Int) -> Double {
    var total = 0.0
    var block = SIMD8<Float>()
    var i = 0
    // Accumulate in blocks of 4096 elements in f32 SIMD, then fold into Double.
    while i < count {
        let end = min(count, i + 4096)
        block = .zero
        var j = i
        switch dtype {
        case .bf16:
            while j + 8 <= end {
                let w = SIMD8<UInt32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: j &* 2, as: SIMD8<UInt16>.self))
                let f = unsafeBitCast(w &<< 16, to: SIMD8<Float>.self)
                block += f * f; j += 8
            }
            while j < end { let f = bf16ToFloat(p.loadUnaligned(fromByteOffset: j &* 2, as: UInt16.self)); block[0] += f * f; j += 1 }
        case .f16:
            while j < end { let f = f16ToFloat(p.loadUnaligned(fromByteOffset: j &* 2, as: UInt16.self)); block[0] += f * f; j += 1 }
        case .f32:
            while j + 8 <= end {
                let f = p.loadUnaligned(fromByteOffset: j &* 4, as: SIMD8<Float>.self)
                block += f * f; j += 8
            }
            while j < end { let f = p.loadUnaligned(fromByteOffset: j &* 4, as: Float.self); block[0] += f * f; j += 1 }
        default:
            return 0
        }
        total += Double(block.sum())
        i = end
    }
    return total
}
