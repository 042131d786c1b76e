import SwapMoEKernels

extension DecoderModel {
    /// gpt-oss's expert over the rows of `x`: out = W_d · clampedSwiGLU(W_gu · x + b_gu) + b_d, with `W_gu`'s rows
    /// alternating gate and up features (`ExpertWeights.up` when `gateUpInterleaved`; `expertForm` checks its shape),
    /// the features in rows `slot...` of the expert scratch, over `pool` (nil: this thread).
    func clampedSwiGLUExpert(_ out: Rows, _ w: ExpertWeights, x: Rows, alpha: Float, limit: Float, slot: Int, pool: ThreadPool?) {
        let n = x.count, inter = w.down.cols
        let gu = ws.expertRows(ws.g, slot: slot, count: n, width: 2 * inter), act = ws.expertRows(ws.u, slot: slot, count: n, width: inter)
        gemm(gu, w.up, x, bias: w.upBias?.row(0), pool: pool)
        clampedSwiGLU(act, gateUp: gu, alpha: alpha, limit: limit)
        gemm(out, w.down, act, bias: w.downBias?.row(0), pool: pool)
    }
}
