import Foundation
import SwapMoEArchive
import SwapMoEKernels

// The feed-forward half of a decoder layer: the MoE block's one `withLayer` call, the routers' look-ahead hints,
// and the SwiGLU every expert, shared expert and dense MLP computes.
extension DecoderModel {
    /// Sparse MoE over the rows of `y`: p = softmax(W_g · y); K = topk(p); mo += Σ_{i∈K} w_i · E_i(y)
    /// [+ σ(w_s · y) · E_shared(y)].
    func moe(layer l: Int, _ L: DecoderLayer, router: Matrix, y: Rows, into mo: Rows) throws {
        let s = spec, n = y.count, e = s.experts
        let logits = ws.routerLogits.rows(n, width: e), p = ws.probs.rows(n, width: e), norms = ws.norms.rows(n, width: 1)
        gemm(logits, router, y, bias: L.routerBias, pool: pool)
        copy(p, from: logits)
        let raw = s.sparseMixer == nil ? [] : logits.array()
        if let g = s.groupedRouter { g.score(p) } else { softmax(p) }
        for t in 0..<n { norms[t] = dot(y.row(t), y.row(t)).squareRoot() }
        let output = RouterOutput(tokens: n, experts: e, probabilities: p.array(), inputNorms: norms.array())
        try experts.withLayer(MoELayer(layer: l), router: output, route: { allowed in
            s.sparseMixer?.route(logits: raw, tokens: n, experts: e, allowed: allowed) ?? s.groupedRouter?.route(output, k: s.expertsPerToken, bias: L.scoreBias, allowed: allowed)
                ?? Routing.topK(output, k: s.expertsPerToken, renormalize: s.router.renormalizes, allowed: allowed)
        }, predict: { predictNextLayers(after: l, y: y) }, serve: { i, w, list in
            let gx = ws.gx.rows(list.count, width: s.hidden), out = ws.dOut.rows(list.count, width: s.hidden)
            for (j, a) in list.enumerated() { copy(gx.row(j), from: y.row(a.token)) }
            if let gate = w.gate {
                swiGLU(out, gate: gate, up: w.up, down: w.down, x: gx, accumulate: false)
            } else if case .clampedSwiGLU(let alpha, let limit) = s.expertActivation, w.gateUpInterleaved {
                try clampedSwiGLUExpert(out, w, x: gx, alpha: alpha, limit: limit)
            } else {
                throw ModelError.badTensor(name: "expert \(MoELayer(layer: l).expert(i))", reason: "has no gate matrix (not a SwiGLU expert)")
            }
            for (j, a) in list.enumerated() { axpy(mo.row(a.token), a.weight, out.row(j)) }
            stats.expertCalls += 1
        })
        if let sh = L.shared {
            let shared = ws.tmp.rows(n, width: s.hidden)
            swiGLU(shared, gate: sh.gate, up: sh.up, down: sh.down, x: y, accumulate: false)
            if let scale = sh.scale {
                gemm(norms, scale, y, pool: pool)
                for t in 0..<n { axpy(mo.row(t), 1 / (1 + expf(-norms[t])), shared.row(t)) }
            } else {
                add(mo, shared)
            }
        }
    }

    /// The routers of the next `prefetchDepth` MoE layers applied to this layer's MoE input `y`: their likely
    /// experts, nearest layer first, for a provider that loads them while this layer computes. The hidden state
    /// changes little from one layer to the next, which is what makes this prediction useful. For grouped routers
    /// (DeepSeek, GLM-4.5) the raw logits rank experts as their scores do, selection bias and groups aside: still a hint.
    func predictNextLayers(after l: Int, y: Rows) -> [MoELayerPrediction] {
        var out: [MoELayerPrediction] = []
        for next in (l + 1..<spec.layers).lazy.filter(spec.isMoE).prefix(prefetchDepth) {
            guard let router = layers[next].router else { continue }
            // This layer's router logits are no longer needed once its tokens are assigned: reuse their buffer.
            let logits = ws.routerLogits.rows(y.count, width: spec.experts)
            gemm(logits, router, y, bias: layers[next].routerBias, pool: pool)
            var wanted = Set<Int>()
            for t in 0..<y.count { for pk in topK(logits.row(t), k: spec.expertsPerToken) { wanted.insert(pk.index) } }
            out.append(MoELayerPrediction(layer: MoELayer(layer: next), experts: wanted.sorted()))
        }
        return out
    }

    /// out (+)= down · (silu(gate · x) ⊙ up · x) for the rows of x.
    func swiGLU(_ out: Rows, gate: Matrix, up: Matrix, down: Matrix, x: Rows, accumulate: Bool) {
        let g = ws.g.rows(x.count, width: gate.rows), u = ws.u.rows(x.count, width: up.rows)
        swiGLUHidden(g, gate: gate, up: up, x, scratch: u, pool: pool)
        gemm(out, down, g, accumulate: accumulate, pool: pool)
    }
}
