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
        }, predict: { predictNextLayers(after: l, y: y) }, serve: { batch in
            try serve(batch, layer: l, y: y, into: mo)
        })
        if let sh = L.shared {
            let shared = ws.tmp.rows(n, width: s.hidden)
            swiGLU(shared, gate: sh.gate, up: sh.up, down: sh.down, x: y, accumulate: false, pool: pool)
            if let scale = sh.scale {
                gemm(norms, scale, y, pool: pool)
                for t in 0..<n { axpy(mo.row(t), 1 / (1 + expf(-norms[t])), shared.row(t)) }
            } else {
                add(mo, shared)
            }
        }
    }

    /// mo[t] += w · E(y[t]) for every expert E of one `serve` call and every token t it serves with weight w, added
    /// in ascending expert order. A decoded token's experts (one `serve` call with them all), each in its own rows
    /// of scratch (slot j for the j-th), on a pool of several threads:
    /// - SwiGLU experts (gate and up of one type) balanced: every thread at once in one job, each starting on experts of its own and taking
    ///   the rows left of the others' (`swiGLUExperts`);
    /// - others (gpt-oss's) side by side when the pool's threads divide their number: each expert whole on one
    ///   thread, one pool job a layer, each thread converting its own expert's inputs;
    /// - otherwise together: every expert's gate and up rows in one pass over the pool, then every down row in
    ///   another, two jobs a layer, the token's x converted once.
    /// A batch's experts compute one after another, each over the pool (two jobs an expert). Measured on a two-thread
    /// decode of the 48-layer Mixtral-shaped model, token by token in one process against one after another: side by
    /// side 0.98-1.06x, balanced 1.03-1.06x (it never leaves a thread waiting on a whole expert of the other's when
    /// one vCPU runs slower), together 1.00-1.03x (Docs/Benchmarks.md). The same results every way: a row of a GEMV
    /// is computed alike in any group and on any thread, and the sums into `mo` keep their order.
    func serve(_ batch: [ServedExpert], layer l: Int, y: Rows, into mo: Rows) throws {
        let forms = try batch.map { try expertForm($0, layer: l) }
        let h = spec.hidden
        let decoded = batch.count > 1 && batch.count <= ws.expertRowCount
            && batch.allSatisfy { $0.tokens.count == 1 && $0.tokens[0].token == batch[0].tokens[0].token }
        let sideBySideOrTogether: ExpertSchedule = batch.count % pool.threadCount == 0 && pool.threadCount > 1 ? .sideBySide : .together
        var schedule = decoded ? decodedExpertSchedule ?? .balanced : .oneByOne
        if schedule == .balanced && (pool.threadCount == 1 || !balanceable(batch, forms)) { schedule = sideBySideOrTogether }
        switch schedule {
        case .balanced:
            swiGLUExperts(batch.indices.map { j in
                guard case .swiGLU(let gate) = forms[j] else { preconditionFailure("balanced: a SwiGLU expert") }
                let e = batch[j].weights, inter = e.down.cols
                return SwiGLUExpert(gate: gate, up: e.up, down: e.down, h: ws.expertRows(ws.g, slot: j, count: 1, width: inter),
                                    scratch: ws.expertRows(ws.u, slot: j, count: 1, width: inter), out: ws.expertRows(ws.dOut, slot: j, count: 1, width: h))
            }, y.row(batch[0].tokens[0].token), pool: pool)
        case .sideBySide:
            pool.runDisjoint(chunks: batch.count) { j in
                runExpert(forms[j], batch[j], y: y, slot: j, pool: nil)
            }
        case .together:
            let hidden = hiddenTogether(batch, forms, x: y.row(batch[0].tokens[0].token))
            gemmGroup(batch.indices.map { j in
                (y: ws.expertRows(ws.dOut, slot: j, count: 1, width: h), w: batch[j].weights.down, x: hidden[j], bias: batch[j].weights.downBias?.row(0))
            }, pool: pool)
        case .oneByOne:
            for (e, form) in zip(batch, forms) {
                addOutput(of: e, runExpert(form, e, y: y, slot: 0, pool: pool), into: mo)
            }
            return
        }
        for (j, e) in batch.enumerated() { addOutput(of: e, ws.expertRows(ws.dOut, slot: j, count: 1, width: h), into: mo) }
    }

    /// Whether `swiGLUExperts` takes these experts: SwiGLU ones whose gate and up matrices are all of one type (an
    /// archive may hold others; they take side by side or together).
    func balanceable(_ batch: [ServedExpert], _ forms: [ExpertForm]) -> Bool {
        guard case .swiGLU(let first)? = forms.first else { return false }
        return zip(batch, forms).allSatisfy { e, form in
            guard case .swiGLU(let gate) = form else { return false }
            return gate.type == first.type && e.weights.up.type == first.type
        }
    }

    /// E(y[t]) for the tokens t expert `e` serves, into rows `slot...` of the expert scratch (`dOut`), returned.
    @discardableResult
    func runExpert(_ form: ExpertForm, _ e: ServedExpert, y: Rows, slot: Int, pool: ThreadPool?) -> Rows {
        let n = e.tokens.count, h = spec.hidden
        let gx = ws.expertRows(ws.gx, slot: slot, count: n, width: h), out = ws.expertRows(ws.dOut, slot: slot, count: n, width: h)
        for (j, a) in e.tokens.enumerated() { copy(gx.row(j), from: y.row(a.token)) }
        switch form {
        case .swiGLU(let gate):
            swiGLU(out, gate: gate, up: e.weights.up, down: e.weights.down, x: gx, accumulate: false, slot: slot, pool: pool)
        case .clampedSwiGLU(let alpha, let limit):
            clampedSwiGLUExpert(out, e.weights, x: gx, alpha: alpha, limit: limit, slot: slot, pool: pool)
        }
        return out
    }

    /// The hidden features of a decoded token's experts over its row x, each in its slot of `g` (SwiGLU) or `u`
    /// (gpt-oss): every SwiGLU's gate and up rows in one pass (`swiGLUHidden`); gpt-oss's interleaved gate_up rows
    /// in one pass, then each expert's clamped SwiGLU.
    func hiddenTogether(_ batch: [ServedExpert], _ forms: [ExpertForm], x: Rows) -> [Rows] {
        var swiGLUs: [(h: Rows, gate: Matrix, up: Matrix, scratch: Rows)] = []
        var gateUps: [(y: Rows, w: Matrix, x: Rows, bias: [Float]?)] = []
        var hidden: [Rows] = []
        hidden.reserveCapacity(batch.count)
        for (j, (e, form)) in zip(batch, forms).enumerated() {
            let inter = e.weights.down.cols
            switch form {
            case .swiGLU(let gate):
                let g = ws.expertRows(ws.g, slot: j, count: 1, width: inter)
                swiGLUs.append((h: g, gate: gate, up: e.weights.up, scratch: ws.expertRows(ws.u, slot: j, count: 1, width: inter)))
                hidden.append(g)
            case .clampedSwiGLU:
                gateUps.append((y: ws.expertRows(ws.g, slot: j, count: 1, width: 2 * inter), w: e.weights.up, x: x, bias: e.weights.upBias?.row(0)))
                hidden.append(ws.expertRows(ws.u, slot: j, count: 1, width: inter))
            }
        }
        if !swiGLUs.isEmpty { swiGLUHidden(swiGLUs, x, pool: pool) }
        if !gateUps.isEmpty { gemmGroup(gateUps, pool: pool) }
        for (j, form) in forms.enumerated() {
            if case .clampedSwiGLU(let alpha, let limit) = form {
                clampedSwiGLU(hidden[j], gateUp: ws.expertRows(ws.g, slot: j, count: 1, width: 2 * hidden[j].width), alpha: alpha, limit: limit)
            }
        }
        return hidden
    }

    /// How expert `e` computes, checked before any of the layer's experts runs.
    func expertForm(_ e: ServedExpert, layer l: Int) throws -> ExpertForm {
        let w = e.weights
        if let gate = w.gate { return .swiGLU(gate: gate) }
        guard case .clampedSwiGLU(let alpha, let limit) = spec.expertActivation, w.gateUpInterleaved else {
            throw ModelError.badTensor(name: "expert \(MoELayer(layer: l).expert(e.expert))", reason: "has no gate matrix (not a SwiGLU expert)")
        }
        guard w.up.rows == 2 * w.down.cols else {
            throw ModelError.badTensor(name: "gate_up", reason: "has \(w.up.rows) rows for \(w.down.cols) intermediate features (want 2 x)")
        }
        return .clampedSwiGLU(alpha: alpha, limit: limit)
    }

    /// mo[t] += w · out[j] for the j-th token t of expert `e`, of weight w.
    func addOutput(of e: ServedExpert, _ out: Rows, into mo: Rows) {
        for (j, a) in e.tokens.enumerated() { axpy(mo.row(a.token), a.weight, out.row(j)) }
        stats.expertCalls += 1
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

    /// out (+)= down · (silu(gate · x) ⊙ up · x) for the rows of x, the hidden features in rows `slot...` of the
    /// expert scratch, over `pool` (nil: this thread).
    func swiGLU(_ out: Rows, gate: Matrix, up: Matrix, down: Matrix, x: Rows, accumulate: Bool, slot: Int = 0, pool: ThreadPool?) {
        let g = ws.expertRows(ws.g, slot: slot, count: x.count, width: gate.rows)
        let u = ws.expertRows(ws.u, slot: slot, count: x.count, width: up.rows)
        swiGLUHidden(g, gate: gate, up: up, x, scratch: u, pool: pool)
        gemm(out, down, g, accumulate: accumulate, pool: pool)
    }
}

/// How a decoded token's experts compute (`DecoderModel.serve`).
enum ExpertSchedule {
    /// Each expert over the pool in turn, as a batch's.
    case oneByOne
    /// Every expert's gate and up rows in one pass over the pool, then every down row in another.
    case together
    /// Each expert whole on one thread.
    case sideBySide
    /// Every thread at once, each starting on experts of its own and taking the rows left of the others'
    /// (`swiGLUExperts`; SwiGLU experts only).
    case balanced
}

/// What an expert computes (`DecoderSpec.ExpertActivation` with the expert's own matrices).
enum ExpertForm {
    /// down(silu(gate · x) ⊙ up · x).
    case swiGLU(gate: Matrix)
    /// gpt-oss: `up` holds gate and up rows interleaved (`clampedSwiGLUExpert`).
    case clampedSwiGLU(alpha: Float, limit: Float)
}
