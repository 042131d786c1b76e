import SwapMoECore
// TEMPORARY (replaced by the quantizer branch): round-to-nearest Q8_0 only, so the packer can be wired.
public func quantizeRow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ type: WeightType, count n: Int) {
    precondition(type == .q8_0, "temporary quantizer: q8_0 only")
    var b = 0
    while b * 32 < n {
        let x = src + b * 32, o = dst + b * 34
        var amax: Float = 0
        for i in 0..<32 { amax = max(amax, abs(x[i])) }
        let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
        o.storeBytes(of: floatToF16(d), as: UInt16.self)
        for i in 0..<32 { o.storeBytes(of: Int8((x[i] * id).rounded()), toByteOffset: 2 + i, as: Int8.self) }
        b += 1
    }
}
