import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

extension Converter {
    /// `write` to Q4_K_X8 (Q4KInterleave.swift) from Q4_K blocks (a GGUF's, kept as stored) or from floats
    /// (quantized to Q4_K here): in pieces of whole groups of 8 rows of `cols` weights, each piece's Q4_K rows
    /// interleaved before they are appended. The sum of squares, when asked, is of the dequantized Q4_K weights
    /// (a Q4_K source) or of the floats before quantization, as for Q4_K.
    func writeInterleaved(_ bytes: UnsafeRawBufferPointer, from: DType, cols: Int, to sink: BlockSink, sumOfSquares wantNorm: Bool,
                          done: (UnsafeRawBufferPointer) -> Void) throws -> Double {
        guard from == .q4_K || from.isComputeFloat else { throw ConversionError.unsupported(from: from, to: .q4_Kx8) }
        let sourceRowBytes = from == .q4_K ? WeightType.q4_K.rowBytes(cols) : cols * from.size
        precondition(cols > 0 && cols % 256 == 0 && bytes.count % (8 * sourceRowBytes) == 0, "Q4_K_X8 needs whole groups of 8 rows (the packer checks)")
        let groups = bytes.count / (8 * sourceRowBytes), groupsPerPiece = max(1, Converter.pieceElements / (8 * cols))
        let plainBytes = 8 * groupsPerPiece * WeightType.q4_K.rowBytes(cols)
        let plain = from == .q4_K ? nil : UnsafeMutableRawPointer.allocate(byteCount: plainBytes, alignment: 64)
        let out = UnsafeMutableRawPointer.allocate(byteCount: plainBytes, alignment: 64)
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: 8 * groupsPerPiece * cols)
        defer { plain?.deallocate(); out.deallocate(); floats.deallocate() }
        var total = 0.0
        var g = 0
        while g < groups {
            let n = min(groupsPerPiece, groups - g), rows = 8 * n, elements = rows * cols
            let piece = UnsafeRawBufferPointer(rebasing: bytes[(8 * g * sourceRowBytes)..<(8 * (g + n) * sourceRowBytes)])
            let q4: UnsafeRawPointer
            if let plain {
                try convertElements(from: from, piece.baseAddress!, to: .f32, floats, count: elements)
                if wantNorm { total += SwapMoECore.sumOfSquares(.f32, floats, count: elements) }
                quantizeBlocks(floats, plain, .q4_K, count: elements, pool: pool)
                q4 = UnsafeRawPointer(plain)
            } else {
                if wantNorm {
                    dequantizeRows(floats, piece.baseAddress!, .q4_K, rows: 0..<rows, cols: cols)
                    total += SwapMoECore.sumOfSquares(.f32, floats, count: elements)
                }
                q4 = piece.baseAddress!
            }
            interleaveQ4K(out, q4, rows: rows, cols: cols)
            try sink.append(UnsafeRawBufferPointer(start: out, count: rows * WeightType.q4_K.rowBytes(cols)))
            done(piece)
            g += n
        }
        return total
    }
}
