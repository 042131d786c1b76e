import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

extension Converter {
    /// `write` to an interleaved type (`to`: Q4_K_X8, ...; Interleave.swift) from its plain type's blocks
    /// (a GGUF's, kept as stored) or from floats (quantized to the plain type here): in pieces of whole groups of 8
    /// rows of `cols` weights, each piece's rows interleaved before they are appended. The sum of squares, when
    /// asked, is of the dequantized weights (a quantized source) or of the floats before quantization, as for the
    /// plain type.
    func writeInterleaved(_ bytes: UnsafeRawBufferPointer, from: DType, as to: DType, cols: Int, to sink: BlockSink, sumOfSquares wantNorm: Bool,
                          done: (UnsafeRawBufferPointer) -> Void) throws -> Double {
        guard from == to.plain || from.isComputeFloat, let type = WeightType(to), let plainType = WeightType(to.plain) else {
            throw ConversionError.unsupported(from: from, to: to)
        }
        let sourceRowBytes = from.isQuantized ? plainType.rowBytes(cols) : cols * from.size
        precondition(cols > 0 && cols % to.blockSize == 0 && bytes.count % (8 * sourceRowBytes) == 0, "\(to.rawValue) needs whole groups of 8 rows (the packer checks)")
        let groups = bytes.count / (8 * sourceRowBytes), groupsPerPiece = max(1, Converter.pieceElements / (8 * cols))
        let plainBytes = 8 * groupsPerPiece * plainType.rowBytes(cols)
        let plain = from.isQuantized ? nil : UnsafeMutableRawPointer.allocate(byteCount: plainBytes, alignment: 64)
        let out = UnsafeMutableRawPointer.allocate(byteCount: plainBytes, alignment: 64)
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: 8 * groupsPerPiece * cols)
        defer { plain?.deallocate(); out.deallocate(); floats.deallocate() }
        var total = 0.0
        var g = 0
        while g < groups {
            let n = min(groupsPerPiece, groups - g), rows = 8 * n, elements = rows * cols
            let piece = UnsafeRawBufferPointer(rebasing: bytes[(8 * g * sourceRowBytes)..<(8 * (g + n) * sourceRowBytes)])
            let blocks: UnsafeRawPointer
            if let plain {
                try convertElements(from: from, piece.baseAddress!, to: .f32, floats, count: elements)
                if wantNorm { total += SwapMoECore.sumOfSquares(.f32, floats, count: elements) }
                quantizeBlocks(floats, plain, plainType, count: elements, pool: pool)
                blocks = UnsafeRawPointer(plain)
            } else {
                if wantNorm {
                    dequantizeRows(floats, piece.baseAddress!, plainType, rows: 0..<rows, cols: cols)
                    total += SwapMoECore.sumOfSquares(.f32, floats, count: elements)
                }
                blocks = piece.baseAddress!
            }
            interleave(out, blocks, as: type, rows: rows, cols: cols)
            try sink.append(UnsafeRawBufferPointer(start: out, count: rows * plainType.rowBytes(cols)))
            done(piece)
            g += n
        }
        return total
    }
}
