import SwapMoECore
import Testing
@testable import SwapMoEKernels

@Suite("Half-precision conversion")
struct ConversionTests {
    @Test("every bf16 bit pattern survives bf16 -> Float -> bf16 (NaNs stay NaN)")
    func bf16RoundTrip() {
        for bits in 0...UInt16.max {
            let f = bf16ToFloat(bits)
            let back = floatToBF16(f)
            if f.isNaN { #expect(bf16ToFloat(back).isNaN) } else { #expect(back == bits) }
        }
    }

    @Test("every f16 bit pattern survives f16 -> Float -> f16 (NaNs stay NaN)")
    func f16RoundTrip() {
        for bits in 0...UInt16.max {
            let f = f16ToFloat(bits)
            let back = floatToF16(f)
            if f.isNaN { #expect(f16ToFloat(back).isNaN) } else { #expect(back == bits) }
        }
    }

    @Test("the integer-SIMD f16 widening (builds without F16C) gives Float(Float16) bit for bit on every pattern")
    func f16IntegerWidening() {
        for start in stride(from: 0, through: Int(UInt16.max), by: 8) {
            let h = SIMD8<UInt16>((0..<8).map { UInt16(start + $0) })
            let f = f16BitsToFloat8(h)
            for i in 0..<8 {
                let want = f16ToFloat(h[i])
                if want.isNaN { #expect(f[i].isNaN && f[i].sign == want.sign) } else { #expect(f[i].bitPattern == want.bitPattern) }
            }
        }
    }

    @Test("Float -> bf16 rounds to nearest, ties to even, like torch")
    func bf16Rounding() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even -> 1.
        #expect(bf16ToFloat(floatToBF16(1 + 0x1p-8)) == 1)
        // 1 + 3*2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even -> 1 + 2^-6.
        #expect(bf16ToFloat(floatToBF16(1 + 3 * 0x1p-8)) == 1 + 0x1p-6)
        #expect(bf16ToFloat(floatToBF16(1 + 0x1p-8 + 0x1p-20)) == 1 + 0x1p-7)
        #expect(floatToBF16(-0.0) == 0x8000)
        #expect(bf16ToFloat(floatToBF16(.greatestFiniteMagnitude)) == .infinity)
        #expect(bf16ToFloat(floatToBF16(.nan)).isNaN)
    }

    @Test("Float -> f16 rounds to nearest even and overflows to infinity")
    func f16Rounding() {
        #expect(f16ToFloat(floatToF16(1 + 0x1p-11)) == 1)
        #expect(f16ToFloat(floatToF16(1 + 3 * 0x1p-11)) == 1 + 0x1p-9)
        #expect(f16ToFloat(floatToF16(70000)) == .infinity)
        #expect(f16ToFloat(floatToF16(0x1p-24)) == 0x1p-24)   // smallest subnormal
    }
}
