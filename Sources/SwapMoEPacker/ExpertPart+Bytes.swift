import SwapMoECore
import SwapMoECheckpoint
import SwapMoEModels

/// The bytes of one expert part in archive layout (`part.shape`, row-major), from the checkpoint's layout
/// (`ExpertPart.Transform`): as stored, transposed (transformers' dequantized gpt-oss), or hub MXFP4 nibbles and
/// scales repacked into GGUF MXFP4 blocks, so one MXFP4 kernel serves GGUF and hub checkpoints alike.
extension ExpertPart {
    /// The dtype the part's bytes are in once laid out (`.mxfp4` for hub blocks, else the tensor's).
    func sourceType(_ info: TensorInfo) -> DType {
        if case .mxfp4 = transform { return .mxfp4 }
        return info.dtype
    }

    /// The checkpoint tensors this part reads (its tensor, and the scales of MXFP4 blocks).
    var tensors: [String] {
        if case .mxfp4(let scales) = transform { return [tensor, scales] }
        return [tensor]
    }

    /// Calls `body` with the part's bytes and a callback that drops source pages once they are consumed
    /// (a no-op for bytes laid out in a scratch buffer, whose source pages are dropped here).
    func withBytes(_ info: TensorInfo, in source: some PackSource,
                   _ body: (UnsafeRawBufferPointer, _ done: (UnsafeRawBufferPointer) -> Void) throws -> Void) throws {
        try source.withBytes(tensor) { _, bytes in
            let slice = Packer.rowSlice(bytes, info: info, rows: rows)
            switch transform {
            case .none:
                try body(slice) { source.release(tensor, piece: $0, of: bytes) }
            case .transposed:
                let out = UnsafeMutableRawBufferPointer.allocate(byteCount: slice.count, alignment: 64)
                defer { out.deallocate() }
                ExpertPart.transpose(slice, rows: shape[1], cols: shape[0], elementSize: info.dtype.size, into: out)
                source.release(tensor, piece: slice, of: bytes)
                try body(UnsafeRawBufferPointer(out)) { _ in }
            case .mxfp4(let scalesName):
                let scalesInfo = try source.tensorInfo(scalesName)
                try source.withBytes(scalesName) { _, scaleBytes in
                    let scales = Packer.rowSlice(scaleBytes, info: scalesInfo, rows: rows.map { ($0.lowerBound / scalesInfo.shape.last!)..<($0.upperBound / scalesInfo.shape.last!) })
                    let blocks = slice.count / 16
                    precondition(scales.count == blocks, "one E8M0 scale per MXFP4 block (the naming checks the shapes)")
                    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: blocks * 17, alignment: 64)
                    defer { out.deallocate() }
                    ExpertPart.repackMXFP4(nibbles: slice, scales: scales, into: out)
                    source.release(tensor, piece: slice, of: bytes)
                    source.release(scalesName, piece: scales, of: scaleBytes)
                    try body(UnsafeRawBufferPointer(out)) { _ in }
                }
            }
        }
    }

    /// src `[rows, cols]` of `elementSize`-byte elements -> out `[cols, rows]`.
    static func transpose(_ src: UnsafeRawBufferPointer, rows: Int, cols: Int, elementSize: Int, into out: UnsafeMutableRawBufferPointer) {
        precondition(src.count == rows * cols * elementSize && out.count >= src.count, "transpose: sizes")
        let s = src.baseAddress!, o = out.baseAddress!
        for r in 0..<rows {
            for c in 0..<cols {
                (o + (c * rows + r) * elementSize).copyMemory(from: s + (r * cols + c) * elementSize, byteCount: elementSize)
            }
        }
    }

    /// Hub MXFP4 -> GGUF MXFP4, losslessly. The hub stores a block's 32 E2M1 codes two a byte in element order
    /// (element 2j in the low nibble of byte j, 2j + 1 in the high one) and its E8M0 scale apart; GGUF stores the
    /// scale first, then element j (j < 16) in the low nibble of byte j and element j + 16 in its high nibble.
    /// Both read a code as the same E2M1 value times 2^(scale - 127).
    static func repackMXFP4(nibbles: UnsafeRawBufferPointer, scales: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        let blocks = scales.count
        precondition(nibbles.count == blocks * 16 && out.count >= blocks * 17, "MXFP4 repack: sizes")
        for b in 0..<blocks {
            let src = nibbles.baseAddress! + b * 16, dst = out.baseAddress! + b * 17
            dst.storeBytes(of: scales[b], as: UInt8.self)
            func code(_ e: Int) -> UInt8 {
                let byte = src.load(fromByteOffset: e / 2, as: UInt8.self)
                return e % 2 == 0 ? byte & 0x0F : byte >> 4
            }
            for j in 0..<16 { dst.storeBytes(of: code(j) | code(j + 16) << 4, toByteOffset: 1 + j, as: UInt8.self) }
        }
    }
}
