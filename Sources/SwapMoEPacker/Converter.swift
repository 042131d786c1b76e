import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

/// Writes tensor bytes into a block, converting the float type or quantizing, in bounded pieces.
struct Converter {
    /// The float type every float tensor is converted to (`--dtype`); nil keeps the source type.
    let target: DType?
    /// Threads that quantize a piece (blocks are independent, so the bytes do not depend on the split).
    let pool: ThreadPool?
    /// Elements converted at a time; source pieces are 8 x this many bytes (2 MiB). A multiple of every
    /// quantized block size, so a piece of a tensor whose rows are whole blocks is whole blocks too.
    static let pieceElements = 1 << 18

    /// The float type a tensor stored as `source` is written as.
    func outputType(_ source: DType) -> DType {
        guard let target, source.isComputeFloat else { return source }
        return target
    }

    /// Appends `bytes` (of dtype `from`) to `sink` as `to` (a float type or, for float sources, a quantized
    /// one); returns the sum of squares of the written values when asked (for the expert norm; for quantized
    /// output, of the values before quantization), else 0.
    /// `done` is called with each consumed piece of the source so its mapped pages can be dropped at once:
    /// RSS stays at a few pieces even for a multi-GB tensor.
    /// `cols`: the weights per row, needed (only) for the interleaved types, whose rows are written eight at a time.
    func write(_ bytes: UnsafeRawBufferPointer, from: DType, as to: DType, cols: Int = 0, to sink: BlockSink, sumOfSquares wantNorm: Bool = false,
               done: (UnsafeRawBufferPointer) -> Void) throws -> Double {
        if to.rowGroup > 1 { return try writeInterleaved(bytes, from: from, as: to, cols: cols, to: sink, sumOfSquares: wantNorm, done: done) }
        if to.isQuantized, from == to { return try copyBlocks(bytes, type: to, to: sink, sumOfSquares: wantNorm, done: done) }
        if to.isQuantized { return try quantize(bytes, from: from, as: to, to: sink, sumOfSquares: wantNorm, done: done) }
        let count = bytes.count / max(from.size, 1)
        let buf = to == from ? nil : UnsafeMutableRawBufferPointer.allocate(byteCount: Converter.pieceElements * to.size, alignment: 64)
        defer { buf?.deallocate() }
        var total = 0.0
        var i = 0
        while i < count {
            let n = min(Converter.pieceElements * 8 / from.size, count - i)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[(i * from.size)..<((i + n) * from.size)])
            if let buf {
                var j = 0
                while j < n {
                    let m = min(Converter.pieceElements, n - j)
                    try convertElements(from: from, piece.baseAddress! + j * from.size, to: to, buf.baseAddress!, count: m)
                    if wantNorm { total += SwapMoECore.sumOfSquares(to, buf.baseAddress!, count: m) }
                    try sink.append(UnsafeRawBufferPointer(start: buf.baseAddress, count: m * to.size))
                    j += m
                }
            } else {
                try sink.append(piece)
                if wantNorm { total += SwapMoECore.sumOfSquares(from, piece.baseAddress!, count: n) }
            }
            done(piece)
            i += n
        }
        return total
    }

    /// Quantized bytes kept as they are (a GGUF's Q8_0 / K-quant tensors): copied in pieces of whole blocks; the
    /// sum of squares, when asked, is of the dequantized weights (what the engine computes with).
    private func copyBlocks(_ bytes: UnsafeRawBufferPointer, type to: DType, to sink: BlockSink, sumOfSquares wantNorm: Bool,
                            done: (UnsafeRawBufferPointer) -> Void) throws -> Double {
        guard let type = WeightType(to) else { throw ConversionError.unsupported(from: to, to: to) }
        precondition(bytes.count % to.blockBytes == 0, "quantized bytes must be whole blocks (the GGUF reader checks rows)")
        let pieceBlocks = Converter.pieceElements / to.blockSize
        let floats = wantNorm ? UnsafeMutablePointer<Float>.allocate(capacity: Converter.pieceElements) : nil
        defer { floats?.deallocate() }
        var total = 0.0
        var b = 0
        let blocks = bytes.count / to.blockBytes
        while b < blocks {
            let n = min(pieceBlocks, blocks - b)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[(b * to.blockBytes)..<((b + n) * to.blockBytes)])
            if let floats {
                convertToFloat(floats, piece.baseAddress!, type, count: n * to.blockSize)
                total += SwapMoECore.sumOfSquares(.f32, floats, count: n * to.blockSize)
            }
            try sink.append(piece)
            done(piece)
            b += n
        }
        return total
    }

    /// The quantized path of `write`: each piece widened to f32, then quantized block by block on the pool.
    private func quantize(_ bytes: UnsafeRawBufferPointer, from: DType, as to: DType, to sink: BlockSink, sumOfSquares wantNorm: Bool,
                          done: (UnsafeRawBufferPointer) -> Void) throws -> Double {
        guard from.isComputeFloat, let type = WeightType(to) else { throw ConversionError.unsupported(from: from, to: to) }
        let count = bytes.count / from.size
        precondition(count % to.blockSize == 0, "a quantized tensor must be whole blocks (the packer checks its rows)")
        let floats = UnsafeMutablePointer<Float>.allocate(capacity: Converter.pieceElements)
        defer { floats.deallocate() }
        let blocks = UnsafeMutableRawPointer.allocate(byteCount: type.rowBytes(Converter.pieceElements), alignment: 64)
        defer { blocks.deallocate() }
        var total = 0.0
        var i = 0
        while i < count {
            let m = min(Converter.pieceElements, count - i)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[(i * from.size)..<((i + m) * from.size)])
            try convertElements(from: from, piece.baseAddress!, to: .f32, floats, count: m)
            if wantNorm { total += SwapMoECore.sumOfSquares(.f32, floats, count: m) }
            quantizeBlocks(floats, blocks, type, count: m, pool: pool)
            try sink.append(UnsafeRawBufferPointer(start: blocks, count: type.rowBytes(m)))
            done(piece)
            i += m
        }
        return total
    }
}
