import SwapMoECore
// The interleaved types' matrices as a whole (layouts: q4_K_x8 and q5_K_x8 in Q4KInterleave.swift, q6_K_x8 in
// Q6KInterleave.swift, q4_0_x8, mxfp4_x8 and q5_0_x8 in Q40Interleave.swift, q8_0_x8 in Q80Interleave.swift): rows 8g ..< 8g + 8 form group g at byte 8g * rowBytes
// (rowBytes as for the plain type), and block b of a group (weights b * blockSize ..< (b + 1) * blockSize of each
// of its eight rows) the 8 * blockBytes bytes at 8b * blockBytes. These functions convert between the plain and
// interleaved matrices and read rows out of their groups, one type's block functions at a time.

/// Whether a matrix of `rows` rows of `cols` weights can be stored as an interleaved type of `blockSize` (256 for
/// q4_K_x8, q5_K_x8, q6_K_x8; 32 for q4_0_x8, q8_0_x8, mxfp4_x8 and q5_0_x8).
public func interleavedFits(rows: Int, cols: Int, blockSize: Int) -> Bool { rows > 0 && rows % 8 == 0 && cols > 0 && cols % blockSize == 0 }

/// `src` (rows, cols) of `type.plain` -> the same matrix as `type` (an interleaved type) at `dst`, the same byte
/// count (`interleavedFits`).
public func interleave(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, as type: WeightType, rows: Int, cols: Int) {
    precondition(type.rowGroup > 1 && interleavedFits(rows: rows, cols: cols, blockSize: type.blockSize),
                 "\(type) needs rows % 8 == 0 and cols % \(type.blockSize) == 0, not \(rows) x \(cols)")
    let rowBytes = type.rowBytes(cols), groupBlock = 8 &* type.blockBytes
    for g in 0..<(rows / 8) {
        let group = g &* 8 &* rowBytes
        for b in 0..<(cols / type.blockSize) {
            let out = dst + (group &+ b &* groupBlock)
            switch type {
            case .q6_Kx8: interleaveQ6KBlock(out, src + group, rowBytes: rowBytes, block: b)
            case .q3_Kx8, .q2_Kx8: interleaveQ23KBlock(out, src + group, rowBytes: rowBytes, block: b, q3: type == .q3_Kx8)
            case .q4_0x8, .q8_0x8, .mxfp4x8, .q4_1x8, .iq4_nlx8: interleave32Block(out, src + group, rowBytes: rowBytes, block: b, type)
            case .iq4_xsx8: interleaveIQ4XSBlock(out, src + group, rowBytes: rowBytes, block: b)
            case .q5_0x8, .q5_1x8: interleaveQ50Block(out, src + group, rowBytes: rowBytes, block: b, head: type == .q5_1x8 ? 4 : 2)
            default: interleaveQ45KBlock(out, src + group, rowBytes: rowBytes, block: b, q5: type == .q5_Kx8)
            }
        }
    }
}

/// The 8-byte code columns of a block of q4_0_x8 or mxfp4_x8 (2) or q8_0_x8 (4): 16 or 32 bytes of codes per row.
@inline(__always)
func columns32(_ type: WeightType) -> Int { type == .q8_0x8 ? 4 : 2 }

/// The bytes of one row's scale in a block of a 32-weight interleaved type: 2 (an f16 d: q4_0_x8, q8_0_x8), 1 (an
/// E8M0 exponent: mxfp4_x8) or 4 (d and min: q4_1_x8). A group block holds the eight scales first, its code columns from 8 times this.
@inline(__always)
func scaleBytes32(_ type: WeightType) -> Int { type == .mxfp4x8 ? 1 : type == .q4_1x8 ? 4 : 2 }

/// Block b of the eight rows at `src` (`rowBytes` apart) of a 32-weight type whose block is a scale (`scaleBytes32`)
/// and then `columns32` 8-byte groups of codes (q4_0, q8_0, mxfp4) -> its interleaved bytes at `dst`: the eight
/// scales, then column u at 8 s + 64u holding group u of every row (Q40Interleave.swift, Q80Interleave.swift).
func interleave32Block(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, rowBytes: Int, block b: Int, _ type: WeightType) {
    let s = scaleBytes32(type), columns = columns32(type), blockBytes = s &+ 8 &* columns
    for r in 0..<8 {
        let blk = src + (r &* rowBytes &+ b &* blockBytes)
        (dst + s &* r).copyMemory(from: blk, byteCount: s)
        for u in 0..<columns {
            dst.storeBytes(of: blk.loadUnaligned(fromByteOffset: s &+ 8 &* u, as: UInt64.self), toByteOffset: 8 &* s &+ 64 &* u &+ 8 &* r, as: UInt64.self)
        }
    }
}

/// Row e (0..<8) of such a group block at `src` -> its plain block (scale, then its code groups) at `dst`.
func x8RowBlock32(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, row e: Int, _ type: WeightType) {
    let s = scaleBytes32(type)
    dst.copyMemory(from: src + s &* e, byteCount: s)
    for u in 0..<columns32(type) {
        dst.storeBytes(of: src.loadUnaligned(fromByteOffset: 8 &* s &+ 64 &* u &+ 8 &* e, as: UInt64.self), toByteOffset: s &+ 8 &* u, as: UInt64.self)
    }
}

/// Row e of a q4_0_x8, q8_0_x8, mxfp4_x8 or q5_0_x8 group block at `src` -> its 32 floats, bit-identical to
/// `dequantizeBlockSIMD` on the row's plain block (the same products of d and exact codes or levels).
@inline(__always)
func dequantizeX8Row32(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int, _ type: WeightType) {
    if type == .mxfp4x8 { mxfp4X8Codes(dst, src, row: e, e8m0Half(src.load(fromByteOffset: e, as: UInt8.self))); return }
    if type == .q5_0x8 || type == .q4_1x8 || type == .q5_1x8 || type == .iq4_nlx8 {
        // The row's plain block, dequantized as such (their prefill on x86 is the integer GEMM, not this).
        withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { b in
            if type == .q4_1x8 || type == .iq4_nlx8 { x8RowBlock32(b.baseAddress!, src, row: e, type) } else { q50X8RowBlock(b.baseAddress!, src, row: e, head: type == .q5_1x8 ? 4 : 2) }
            dequantizeBlockSIMD(dst, UnsafeRawPointer(b.baseAddress!), type.plain)
        }
        return
    }
    x8Codes32(dst, src, row: e, SIMD8(repeating: f16ToFloat(src.loadUnaligned(fromByteOffset: 2 &* e, as: UInt16.self))), type)
}

/// The eight rows of such a group block -> 32 floats each, row e at `dst + e * stride`, as `dequantizeX8Row32`
/// (the eight scales converted at once).
@inline(__always)
func dequantizeX8Group32(_ dst: UnsafeMutablePointer<Float>, stride n: Int, _ src: UnsafeRawPointer, _ type: WeightType) {
    if type != .q4_0x8 && type != .q8_0x8 { for e in 0..<8 { dequantizeX8Row32(dst + e &* n, src, row: e, type) }; return }
    let d = f16ToFloat8(src.loadUnaligned(as: SIMD8<Float16>.self))
    for e in 0..<8 { x8Codes32(dst + e &* n, src, row: e, SIMD8(repeating: d[e]), type) }
}

@inline(__always)
func x8Codes32(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafeRawPointer, row e: Int, _ d: SIMD8<Float>, _ type: WeightType) {
    if type == .q8_0x8 { q80X8Codes(dst, src, row: e, d) } else { q40X8Codes(dst, src, row: e, d) }
}

/// `src` (rows, cols) of `type` (an interleaved type) -> the same matrix as plain `type.plain` rows at `dst`.
public func deinterleave(_ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, as type: WeightType, rows: Int, cols: Int) {
    precondition(type.rowGroup > 1 && interleavedFits(rows: rows, cols: cols, blockSize: type.blockSize),
                 "\(type) needs rows % 8 == 0 and cols % \(type.blockSize) == 0, not \(rows) x \(cols)")
    for r in 0..<rows { interleavedRow(dst + r &* type.rowBytes(cols), src, type, row: r, cols: cols) }
}

/// Row r of the interleaved matrix at `w` -> its plain row at `dst`.
@inline(__always)
func interleavedRow(_ dst: UnsafeMutableRawPointer, _ w: UnsafeRawPointer, _ type: WeightType, row r: Int, cols: Int) {
    let rowBytes = type.rowBytes(cols), group = w + (r / 8) &* 8 &* rowBytes
    for b in 0..<(cols / type.blockSize) {
        let block = group + b &* 8 &* type.blockBytes, out = dst + b &* type.blockBytes
        switch type {
        case .q6_Kx8: q6KX8RowBlock(out, block, row: r % 8)
        case .q3_Kx8, .q2_Kx8: q23KX8RowBlock(out, block, row: r % 8, q3: type == .q3_Kx8)
        case .q4_0x8, .q8_0x8, .mxfp4x8, .q4_1x8, .iq4_nlx8: x8RowBlock32(out, block, row: r % 8, type)
        case .iq4_xsx8: iq4XSX8RowBlock(out, block, row: r % 8)
        case .q5_0x8, .q5_1x8: q50X8RowBlock(out, block, row: r % 8, head: type == .q5_1x8 ? 4 : 2)
        default: q45KX8RowBlock(out, block, row: r % 8, q5: type == .q5_Kx8)
        }
    }
}

/// Rows `rows` of the matrix W (·, n) of `type` at `w` -> `rows.count * n` floats at `dst`, for any type and layout
/// (an interleaved row is taken out of its group first), bit-identical to `dequantizeRow` / `convertToFloat` on the
/// plain row.
public func dequantizeRows(_ dst: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType, rows: Range<Int>, cols n: Int) {
    let rowBytes = type.rowBytes(n)
    guard type.rowGroup > 1 else {
        for (i, r) in rows.enumerated() {
            if type.isQuantized {
                dequantizeRowSIMD(dst + i &* n, w + r &* rowBytes, type, count: n)
            } else {
                convertToFloat(dst + i &* n, w + r &* rowBytes, type, count: n)
            }
        }
        return
    }
    let groupBlock = 8 &* type.blockBytes, nb = n / type.blockSize, q5 = type == .q5_Kx8
    if (type.blockSize == 32 || type == .q4_Kx8 || type == .q5_Kx8) && rows.lowerBound % 8 == 0 && rows.count % 8 == 0 {
        // Whole groups (the GEMM's packs): eight rows per block at once.
        for g in stride(from: rows.lowerBound, to: rows.upperBound, by: 8) {
            let group = w + g &* rowBytes, out = dst + (g &- rows.lowerBound) &* n
            for b in 0..<nb {
                if type.blockSize == 32 {
                    dequantizeX8Group32(out + 32 &* b, stride: n, group + b &* groupBlock, type)
                } else {
                    dequantizeQ45KX8Group(out + 256 &* b, stride: n, group + b &* groupBlock, q5: q5)
                }
            }
        }
        return
    }
    for (i, r) in rows.enumerated() {
        let group = w + (r / 8) &* 8 &* rowBytes
        for b in 0..<nb {
            let out = dst + (i &* n &+ type.blockSize &* b), block = group + b &* groupBlock
            switch type {
            case .q6_Kx8: dequantizeQ6KX8Row(out, block, row: r % 8)
            case .q3_Kx8, .q2_Kx8: dequantizeQ23KX8Row(out, block, row: r % 8, q3: type == .q3_Kx8)
            case .q4_0x8, .q8_0x8, .mxfp4x8, .q5_0x8, .q4_1x8, .q5_1x8, .iq4_nlx8: dequantizeX8Row32(out, block, row: r % 8, type)
            case .iq4_xsx8: dequantizeIQ4XSX8Row(out, block, row: r % 8)
            default: dequantizeQ45KX8Row(out, block, row: r % 8, q5: q5)
            }
        }
    }
}
