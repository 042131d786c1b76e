import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive

/// FP8 block-quantized weights (`FP8Weight`): dequantized to f32 a few rows at a time, then written as any f32
/// tensor is (converted to the output float type, or quantized for `--quant`).
extension Converter {
    /// The float type an FP8 weight stands for: bf16, as DeepSeek's fp8_cast_bf16.py writes it (the values are
    /// e4m3 times an f32 block scale, so f32 keeps them exactly; `--dtype f32` asks for that).
    static let fp8StandIn = DType.bf16

    /// Appends rows `rows` of `weight` (2-D view, all when nil) as `to`; returns the sum of squares of the written
    /// values when asked. At most `pieceElements` floats are dequantized at a time, and the FP8 pages of each
    /// piece are dropped once it is written, so RSS stays flat for any matrix size.
    func writeFP8(_ weight: FP8Weight, rows: Range<Int>?, from source: some PackSource, as to: DType, to sink: BlockSink,
                  sumOfSquares wantNorm: Bool = false) throws -> Double {
        let rows = rows ?? 0..<weight.rowCount
        let cols = weight.cols
        // The interleaved types take rows eight at a time.
        let group = to.rowGroup
        let rowsPerPiece = max(group, Converter.pieceElements / max(cols, 1) / group * group)
        let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: rowsPerPiece * cols)
        defer { floats.deallocate() }
        var total = 0.0
        try source.withBytes(weight.weight.name) { _, bytes in
            try source.withBytes(weight.scale.name) { _, scales in
                var r = rows.lowerBound
                while r < rows.upperBound {
                    let n = min(rowsPerPiece, rows.upperBound - r)
                    weight.dequantize(rows: r..<(r + n), weight: bytes, scales: scales, into: floats)
                    let piece = UnsafeRawBufferPointer(start: floats.baseAddress, count: n * cols * DType.f32.size)
                    total += try write(piece, from: .f32, as: to, cols: cols, to: sink, sumOfSquares: wantNorm) { _ in }
                    source.release(weight.weight.name, piece: UnsafeRawBufferPointer(rebasing: bytes[(r * cols)..<((r + n) * cols)]), of: bytes)
                    r += n
                }
            }
        }
        return total
    }
}
