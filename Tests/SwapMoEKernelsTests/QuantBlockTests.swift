import Foundation
import SwapMoECore
import Testing
@testable import SwapMoEKernels

/// A golden of Tools/make_quant_goldens.py: blocks (gguf-py's, or llama.cpp's C reference quantizer's for the `<TYPE>_ref`
/// files) and gguf-py's dequantization of them.
struct QuantGolden {
    let type: WeightType
    let rows: Int, cols: Int, rowBytes: Int
    /// The weights the blocks quantize (empty for the K-type `<TYPE>` files, whose blocks are random).
    let weights: [Float]
    let blocks: [UInt8]
    let dequantized: [Float]

    static let types: [(String, WeightType)] = [("Q8_0", .q8_0), ("Q4_0", .q4_0), ("Q4_1", .q4_1), ("Q5_0", .q5_0),
                                                ("Q5_1", .q5_1), ("Q2_K", .q2_K), ("Q3_K", .q3_K), ("Q4_K", .q4_K),
                                                ("Q5_K", .q5_K), ("Q6_K", .q6_K), ("MXFP4", .mxfp4), ("IQ4_NL", .iq4_nl),
                                                ("IQ4_XS", .iq4_xs)]
    /// The types whose `<TYPE>.bin` blocks gguf-py's own quantize() made (the others' are random blocks).
    static let pyQuantized: [(String, WeightType)] = types.filter { $0.1.blockSize == 32 && $0.1 != .iq4_nl }

    init(_ name: String, _ type: WeightType) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/quant/\(name).bin")
        let data = [UInt8](try Data(contentsOf: url))
        func u32(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 | Int(data[o + 2]) << 16 | Int(data[o + 3]) << 24 }
        func floats(_ o: Int, _ n: Int) -> [Float] { (0..<n).map { Float(bitPattern: UInt32(u32(o + 4 * $0))) } }
        self.type = type
        rows = u32(0); cols = u32(4); rowBytes = u32(8)
        let hasWeights = u32(12) & 1 == 1
        var o = 16
        weights = hasWeights ? floats(o, rows * cols) : []
        o += weights.count * 4
        blocks = Array(data[o..<(o + rows * rowBytes)])
        o += blocks.count
        dequantized = floats(o, rows * cols)
    }
}

@Suite("Quantized blocks")
struct QuantBlockTests {
    @Test("Sizes match GGUF's block sizes", arguments: QuantGolden.types)
    func sizes(name: String, type: WeightType) throws {
        let g = try QuantGolden(name, type)
        #expect(type.rowBytes(g.cols) == g.rowBytes)
        #expect(DType(rawValue: name)?.blockBytes == type.blockBytes)
        #expect(DType(rawValue: name)?.blockSize == type.blockSize)
    }

    @Test("The scalar dequantizer equals gguf-py's, bit for bit", arguments: QuantGolden.types)
    func dequantize(name: String, type: WeightType) throws {
        let g = try QuantGolden(name, type)
        var out = [Float](repeating: .nan, count: g.rows * g.cols)
        g.blocks.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<g.rows {
                    convertToFloat(o.baseAddress! + r * g.cols, b.baseAddress! + r * g.rowBytes, type, count: g.cols)
                }
            }
        }
        let bad = (0..<out.count).filter { out[$0].bitPattern != g.dequantized[$0].bitPattern }
        #expect(bad.isEmpty, "\(name): \(bad.count) elements differ, first at \(bad.first ?? -1): \(bad.first.map { "\(out[$0]) vs \(g.dequantized[$0])" } ?? "")")
    }

    @Test("E8M0 scales eight at a time equal e8m0Half bit for bit, every byte in every lane (subnormals, 255)")
    func e8m0Lanes() {
        for e in 0..<256 {
            var bytes = SIMD8<UInt8>()
            for lane in 0..<8 { bytes[lane] = UInt8((e &+ 37 &* lane) & 255) }
            let v = e8m0HalfLanes(bytes)
            for lane in 0..<8 {
                #expect(v[lane].bitPattern == e8m0Half(bytes[lane]).bitPattern, "e = \(bytes[lane]): \(v[lane]) vs \(e8m0Half(bytes[lane]))")
            }
        }
        #expect(e8m0Half(0) == 0x1p-128 && e8m0Half(1) == 0x1p-127 && e8m0Half(2) == 0x1p-126 && e8m0Half(255) == 0x1p127)
    }
}
