import Testing
@testable import SwapMoECore

@Suite("Core")
struct CoreTests {
    @Test("anonymous memory: zero-filled, writable, and a size the kernel refuses is an error, not a crash")
    func anonymousMemory() throws {
        let m = try AnonymousMemory(byteCount: 3 << 20, prefault: true)
        #expect(m.bytes.allSatisfy { $0 == 0 })
        m.bytes[m.byteCount - 1] = 7
        #expect(m.bytes[m.byteCount - 1] == 7)
        #expect(throws: SystemError.self) { _ = try AnonymousMemory(byteCount: 1 << 62) }
    }

    @Test("sizes parse as users type them, in binary units")
    func byteSize() {
        #expect(ByteSize.parse("1.5G") == 1_610_612_736)
        #expect(ByteSize.parse("800M") == 838_860_800)
        #expect(ByteSize.parse("2GiB") == 2_147_483_648)
        #expect(ByteSize.parse("64k") == 65536)
        #expect(ByteSize.parse("4096") == 4096)
        #expect(ByteSize.parse(" 10 MB ") == 10_485_760)
        #expect(ByteSize.parse("abc") == nil)
        #expect(ByteSize.parse("-1G") == nil)
        #expect(ByteSize.parse("") == nil)
        #expect(ByteSize.format(1_610_612_736) == "1.50 GiB")
        #expect(ByteSize.format(17) == "17 B")
    }

    @Test("bf16 narrowing rounds to nearest even like torch, and widening is exact")
    func bf16() {
        #expect(floatToBF16(1.0) == 0x3F80)
        #expect(floatToBF16(Float(bitPattern: 0x3F80_8000)) == 0x3F80) // tie -> even
        #expect(floatToBF16(Float(bitPattern: 0x3F81_8000)) == 0x3F82) // tie -> even (up)
        #expect(floatToBF16(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(floatToBF16(.infinity) == 0x7F80)
        #expect(bf16ToFloat(floatToBF16(.nan)).isNaN)
        for bits in stride(from: 0 as UInt32, to: 0xFFFF, by: 97) where !bf16ToFloat(UInt16(bits)).isNaN {
            #expect(floatToBF16(bf16ToFloat(UInt16(bits))) == UInt16(bits))
        }
    }

    @Test("bulk conversion between f32, f16 and bf16")
    func convert() throws {
        let src: [Float] = [0, 1, -2.5, 65504, 1e-3, 3.14159]
        var half = [UInt16](repeating: 0, count: src.count)
        try src.withUnsafeBytes { s in try half.withUnsafeMutableBytes { try convertElements(from: .f32, s.baseAddress!, to: .f16, $0.baseAddress!, count: src.count) } }
        #expect(half.map(f16ToFloat) == src.map { Float(Float16($0)) })
        var back = [Float](repeating: 0, count: src.count)
        try half.withUnsafeBytes { s in try back.withUnsafeMutableBytes { try convertElements(from: .f16, s.baseAddress!, to: .f32, $0.baseAddress!, count: src.count) } }
        #expect(back == src.map { Float(Float16($0)) })
        #expect(throws: ConversionError.self) {
            try src.withUnsafeBytes { s in try half.withUnsafeMutableBytes { try convertElements(from: .i32, s.baseAddress!, to: .f16, $0.baseAddress!, count: 1) } }
        }
    }

    @Test("sum of squares agrees across dtypes and remainders")
    func sumSquares() {
        for n in [0, 1, 7, 8, 9, 4097, 10000] {
            let v = (0..<n).map { Float(($0 % 13) - 6) * 0.25 }
            let want = v.reduce(0.0) { $0 + Double($1 * $1) }
            let bf = v.map(floatToBF16)
            #expect(abs(v.withUnsafeBytes { sumOfSquares(.f32, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, count: n) } - want) < 1e-6 * max(want, 1))
            #expect(abs(bf.withUnsafeBytes { sumOfSquares(.bf16, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, count: n) } - want) < 1e-6 * max(want, 1))
        }
    }

    @Test("dtype spellings from users and safetensors")
    func dtypes() {
        #expect(DType(userSpelling: "bfloat16") == .bf16)
        #expect(DType(userSpelling: "fp16") == .f16)
        #expect(DType(userSpelling: "F32") == .f32)
        #expect(DType(userSpelling: "int4") == nil)
        #expect(DType(rawValue: "F8_E4M3")?.size == 1)
    }
}
