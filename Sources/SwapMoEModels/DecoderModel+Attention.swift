import Foundation
import SwapMoEKernels

extension DecoderModel {
    /// Multi-head attention of layer `l` for the normalised rows `y`, written to `o`: q, k, v projections (with
    /// their biases, norms and clip), RoPE, the cache rows, attention, the output projection.
    func attention(_ l: Int, _ L: DecoderLayer, y: Rows, into o: Rows, placement: Placement) {
        let s = spec, n = y.count
        let qd = s.heads * s.headDim, kvd = s.kvHeads * s.headDim
        let q = ws.q.rows(n, width: qd), k = ws.k.rows(n, width: kvd), v = ws.v.rows(n, width: kvd)
        let gate = s.gatedAttention ? ws.gate.rows(n, width: qd) : nil
        if let gate {
            // Per head [query (headDim), gate (headDim)]: split into q and the gates.
            let qg = ws.qGate.rows(n, width: 2 * qd), pairs = qg.reshaped(width: 2 * s.headDim)
            gemmGroup([(qg, L.wq, L.bq), (k, L.wk, L.bk), (v, L.wv, L.bv)], y, pool: pool)
            copyColumns(q.reshaped(width: s.headDim), at: 0, from: pairs, at: 0, width: s.headDim)
            copyColumns(gate.reshaped(width: s.headDim), at: 0, from: pairs, at: s.headDim, width: s.headDim)
        } else {
            gemmGroup([(q, L.wq, L.bq), (k, L.wk, L.bk), (v, L.wv, L.bv)], y, pool: pool)
        }
        switch s.qkNorm {
        case .none: break
        case .perHead:
            let qh = q.reshaped(width: s.headDim), kh = k.reshaped(width: s.headDim)
            rmsnorm(qh, qh, L.qNorm!, eps: s.eps)
            rmsnorm(kh, kh, L.kNorm!, eps: s.eps)
        case .wholeProjection:
            rmsnorm(q, q, L.qNorm!, eps: s.eps)
            rmsnorm(k, k, L.kNorm!, eps: s.eps)
        }
        if let c = s.clipQKV { clamp(q, limit: c); clamp(k, limit: c); clamp(v, limit: c) }
        let att = ws.att.rows(n, width: qd)
        /// RoPE, the cache rows, and attention for the rows `r` of the batch at positions `start...` of `cache`.
        func attend(_ r: Range<Int>, _ cache: KVCache, _ start: Int, callEnd: Int) {
            let qr = q.rows(r), kr = k.rows(r), vr = v.rows(r), rope = rope.forCall(end: max(callEnd, start + r.count))
            if s.rotaryDim != nil {
                rope.applyPartial(qr, heads: s.heads, headDim: s.headDim, start: start)
                rope.applyPartial(kr, heads: s.kvHeads, headDim: s.headDim, start: start)
            } else {
                rope.apply(qr, heads: s.heads, start: start)
                rope.apply(kr, heads: s.kvHeads, start: start)
            }
            copy(ring: cache.keys[l], at: start, from: kr)
            copy(ring: cache.values[l], at: start, from: vr)
            causalAttention(att.rows(r), qr, keys: cache.keys[l], values: cache.values[l], start: start,
                            heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, window: s.window[l], sinks: L.sinks,
                            ring: cache.isRing[l], pool: pool)
        }
        switch placement {
        case .run(let start): attend(0..<n, cache, start, callEnd: callEnd)
        case .rows(let rows): for (r, row) in rows.enumerated() { attend(r..<(r + 1), row.sequence.cache, row.position, callEnd: 0) }
        }
        if let gate { mulSigmoid(att, gate: gate) }
        gemm(o, L.wo, att, bias: L.bo, pool: pool)
    }
}
