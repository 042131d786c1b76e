import SwapMoECore
// GEMV and GEMM over quantized rows (QuantBlocks.swift).
//
// Each row is dequantized into a thread-local f32 buffer and reduced by the f32 row kernel, so a row's result
// depends only on its bytes and x (identical for any thread split).

/// W (d,n) quantized @ x (n,) -> y (d,), rows `rows` (see `gemv`).
func gemvQuantRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
                   _ x: UnsafePointer<Float>, n: Int, rows: Range<Int>,
                   bias: UnsafePointer<Float>?, accumulate: Bool) {
    let rowBytes = type.rowBytes(n)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: max(n, 1)) { buf in
        let tmp = buf.baseAddress!
        for i in rows {
            dequantizeRow(tmp, w + i &* rowBytes, type, count: n)
            var r = dotF32(UnsafeRawPointer(tmp), x, n: n)
            if let bias { r += bias[i] }
            if accumulate { y[i] += r } else { y[i] = r }
        }
    }
}

/// X (t,n) @ W (d,n)^T quantized -> Y (t,d) (see `gemm`).
func gemmQuant(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ type: WeightType,
               _ x: UnsafePointer<Float>, tokens t: Int, d: Int, n: Int,
               bias: UnsafePointer<Float>?, accumulate: Bool, pool: ThreadPool?) {
    for i in 0..<t {
        gemv(y + i &* d, w, type, x + i &* n, d: d, n: n, bias: bias, accumulate: accumulate, pool: pool)
    }
}
