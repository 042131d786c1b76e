import SwapMoECore
// GEMM over quantized rows for prefill: X (t,n) @ W (d,n)^T.
//
// Each block of `gemmRowBlock` weight rows is dequantized once per call (SIMD, bit-identical to the scalar
// dequantizer) into an f32 pack of rows x n floats, and the f32 GEMM (`gemmRows` with `F32Rows`, GEMM.swift:
// 4x4 SIMD16 microkernel with SWAPMOE_AVX512, 2x4 SIMD8 otherwise) runs all t tokens over it. Every output is
// then exactly what the f32 GEMM computes on the dequantized matrix: a fixed function of (its row, its token,
// n), bit-identical for any pool size. The pack (16 x n x 4 B: 256 KiB at n = 4096) lives in L2, and
// `gemmRows` walks it in 2048-column chunks that each serve every token tile.

/// Whether this build's GEMM over `type`, an interleaved type, is the integer one (QuantGEMM+Interleaved.swift and
/// QuantGEMV+Q40X8.swift: each token as `gemv` computes it; x86 builds) rather than the dequantizing one below.
/// Not q8_0_x8: on 8-bit activations its prefill ran 2.3x faster but the demo model's top-1 agreement with bf16 over
/// the quality test's 512 tokens fell to 98.4%, below issue 17's 99% for q8_0 (99.19-99.50% over the whole
/// held-out texts, 2026-12-05); on f32 activations, as plain q8_0 rows had, it stays where it was.
func interleavedGEMMUsesIntegerDots(_ type: WeightType) -> Bool {
    #if SWAPMOE_X86_INTRINSICS
    type.rowGroup > 1 && type != .q8_0x8
    #else
    false
    #endif
}

/// X (t,n) @ W (d,n)^T quantized (+ b) -> Y (t,d) (see `gemm`).
func gemmQuant(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
               _ x: UnsafePointer<Float>, tokens t: Int, d: Int, n: Int,
               bias: UnsafePointer<Float>?, accumulate: Bool, pool: ThreadPool?) {
    if t == 1 || n <= 0 {
        // One token: the memory-bound GEMV reads each quantized byte once, as the pack would.
        for i in 0..<t {
            gemv(y + i &* d, w, type, x + i &* n, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
        }
        return
    }
    #if SWAPMOE_X86_INTRINSICS
    if interleavedGEMMUsesIntegerDots(type) {
        gemmInterleaved(y, w, type, x, tokens: t, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
        return
    }
    #endif
    if let pool, pool.threadCount > 1, d > gemmRowBlock {
        pool.forEachRange(d, alignment: gemmRowBlock, minimum: gemmRowBlock) { rows in
            gemmQuantRows(y, w, type, x, t: t, d: d, n: n, rows: rows, bias: bias, accumulate: accumulate)
        }
    } else {
        gemmQuantRows(y, w, type, x, t: t, d: d, n: n, rows: 0..<d, bias: bias, accumulate: accumulate)
    }
}

/// Y[:, rows] for all t tokens: per block of `gemmRowBlock` rows, dequantize into the pack, run `gemmRows`.
func gemmQuantRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                   _ x: UnsafePointer<Float>, t: Int, d: Int, n: Int, rows: Range<Int>,
                   bias: UnsafePointer<Float>?, accumulate: Bool) {
    let maxRows = min(gemmRowBlock, rows.count)
    let pack = UnsafeMutableRawPointer.allocate(byteCount: maxRows &* n &* 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: maxRows &* n)
    defer { pack.deallocate() }
    var r0 = rows.lowerBound
    while r0 < rows.upperBound {
        let rb = min(gemmRowBlock, rows.upperBound &- r0)
        dequantizeRows(pack, w, type, rows: r0..<(r0 &+ rb), cols: n)
        // Rows 0..<rb of the pack are rows r0..<r0+rb of W: shift y and the bias by r0.
        gemmRows(F32Rows.self, y + r0, UnsafeRawPointer(pack), x, x, xStride: n, t: t, d: d, n: n, rows: 0..<rb,
                 bias: bias.map { $0 + r0 }, accumulate: accumulate)
        r0 &+= rb
    }
}
