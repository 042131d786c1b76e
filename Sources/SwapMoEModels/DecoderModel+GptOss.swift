import SwapMoEKernels

extension DecoderModel {
    /// gpt-oss's expert over the rows of `x`: out = W_d · clampedSwiGLU(W_gu · x + b_gu) + b_d, with `W_gu`'s rows
    /// alternating gate and up features (`ExpertWeights.up` when `gateUpInterleaved`).
    func clampedSwiGLUExpert(_ out: Rows, _ w: ExpertWeights, x: Rows, alpha: Float, limit: Float) throws {
        let n = x.count, inter = w.down.cols
        guard w.up.rows == 2 * inter else {
            throw ModelError.badTensor(name: "gate_up", reason: "has \(w.up.rows) rows for \(inter) intermediate features (want 2 x)")
        }
        let gu = ws.g.rows(n, width: 2 * inter), act = ws.u.rows(n, width: inter)
        gemm(gu, w.up, x, bias: w.upBias?.row(0), pool: pool)
        clampedSwiGLU(act, gateUp: gu, alpha: alpha, limit: limit)
        gemm(out, w.down, act, bias: w.downBias?.row(0), pool: pool)
    }
}
