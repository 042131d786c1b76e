import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

/// The weights of one decoder layer, resolved from the archive once.
struct DecoderLayer {
    var attnNorm: [Float]
    var mlpNorm: [Float]
    var wq: Matrix, wk: Matrix, wv: Matrix, wo: Matrix
    var bq: [Float]?, bk: [Float]?, bv: [Float]?, bo: [Float]?
    var qNorm: [Float]?, kNorm: [Float]?
    var router: Matrix?
    var shared: (gate: Matrix, up: Matrix, down: Matrix, scale: Matrix)?
    var dense: (gate: Matrix, up: Matrix, down: Matrix)?
}

/// Float32 scratch owned by one model: sized once for the largest batch, never reallocated.
final class Workspace {
    let capacity: Int
    private var buffers: [UnsafeMutablePointer<Float>] = []
    let x, xn, q, k, v, att, tmp, mo: UnsafeMutablePointer<Float>
    let gx, g, u, dOut, routerLogits, probs, norms: UnsafeMutablePointer<Float>

    /// Float counts of every buffer, in the order `init` assigns them: the one statement of the workspace's size,
    /// used both to allocate and by the planner (`DecoderModel.runtimeBytes`).
    static func sizes(spec: DecoderSpec, capacity: Int, expertIntermediate: Int) -> [Int] {
        let h = spec.hidden, qd = spec.heads * spec.headDim, kvd = spec.kvHeads * spec.headDim
        let inter = max(expertIntermediate, spec.denseIntermediate, spec.sharedExpertIntermediate ?? 0)
        let e = max(spec.experts, 1)
        return [h, h, qd, kvd, kvd, qd, max(h, qd), h,   // x xn q k v att tmp mo
                h, inter, inter, h, e, e, 1]              // gx g u dOut routerLogits probs norms
            .map { max(capacity * $0, 16) }
    }

    static func bytes(spec: DecoderSpec, capacity: Int, expertIntermediate: Int) -> Int {
        sizes(spec: spec, capacity: capacity, expertIntermediate: expertIntermediate).reduce(0, +) * MemoryLayout<Float>.stride
    }

    init(spec: DecoderSpec, capacity: Int, expertIntermediate: Int) {
        self.capacity = capacity
        let all = Workspace.sizes(spec: spec, capacity: capacity, expertIntermediate: expertIntermediate).map { n in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        (x, xn, q, k, v, att, tmp, mo) = (all[0], all[1], all[2], all[3], all[4], all[5], all[6], all[7])
        (gx, g, u, dOut, routerLogits, probs, norms) = (all[8], all[9], all[10], all[11], all[12], all[13], all[14])
        buffers = all
    }

    deinit { for b in buffers { b.deallocate() } }
}

/// Keys and values of every layer for `context` positions, f32.
final class KVCache {
    let context: Int
    let stride: Int
    let keys: [UnsafeMutablePointer<Float>]
    let values: [UnsafeMutablePointer<Float>]

    init(layers: Int, context: Int, stride: Int) {
        self.context = context
        self.stride = stride
        keys = (0..<layers).map { _ in .allocate(capacity: context * stride) }
        values = (0..<layers).map { _ in .allocate(capacity: context * stride) }
    }

    deinit { keys.forEach { $0.deallocate() }; values.forEach { $0.deallocate() } }

    static func bytes(layers: Int, context: Int, stride: Int) -> Int { 2 * layers * context * stride * 4 }
}

/// Counters of one model instance, for the stats line.
public struct ForwardStats: Sendable {
    public var tokens = 0
    public var expertCalls = 0
}

/// A Mixture-of-Experts decoder (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE) running from an archive, with its
/// experts supplied by an `ExpertProvider` and its KV cache for `context` positions.
public final class DecoderModel {
    public let spec: DecoderSpec
    public let config: any FamilyConfig
    public let archive: Archive
    public let experts: ExpertProvider
    public let context: Int
    public let pool: ThreadPool
    public private(set) var position = 0
    public private(set) var stats = ForwardStats()
    /// How many MoE layers ahead the routers are applied to the current hidden state to hint likely experts to a
    /// provider that loads on demand (1: the next MoE layer only; 0, the default: no such hints). Deeper hints
    /// give loads more time to finish before the layer needs them, at the price of less accurate predictions.
    /// Off by default because measured (Docs/Benchmarks.md) they cost more than they save: a hint comes one
    /// layer (~1 ms) before a load that takes ~10 ms from disk, and each wrong one (about a fifth) evicts an
    /// expert the cache would have served.
    public var prefetchDepth = 0
    /// Runs a prompt longer than one batch layer by layer (every batch through layer 0, then every batch through
    /// layer 1, ...) instead of batch by batch, for providers that load experts on demand: a layer's experts are
    /// then loaded once for the whole span rather than once per batch. The span's hidden states take the memory
    /// the planner already counts for one batch of logits (`runtimeBytes`), which are computed only after it is
    /// freed, so the span is `batch * vocab / hidden` tokens at most. The results are bit-identical either way.
    public var layerMajorPrefill = false
    let layers: [DecoderLayer]
    let embed: Matrix
    let lmHead: Matrix
    /// The huge-page copies the dense matrices point into (kept alive with the model).
    let denseMemory: [AnonymousMemory]
    let finalNorm: [Float]
    let rope: RoPE
    let cache: KVCache
    let ws: Workspace
    let expertIntermediate: Int

    /// Largest number of tokens run through the layers at once (prefill is cut into batches of this size).
    public static let defaultBatch = 64

    public init(archive: Archive, experts: ExpertProvider, context: Int, threads: Int, batch: Int = DecoderModel.defaultBatch) throws {
        self.archive = archive
        self.experts = experts
        self.pool = ThreadPool(threads: max(1, threads))
        config = try archive.decoderConfig()
        spec = try config.spec()
        self.context = context
        let s = spec
        let w = DenseWeights(archive: archive)
        let qd = s.heads * s.headDim, kvd = s.kvHeads * s.headDim
        // Looked up by row only, unless it is also the LM head (tied): then every decode step reads all of it.
        embed = try w.matrix("model.embed_tokens.weight", cols: s.hidden, inPlace: w.has("lm_head.weight"))
        guard embed.rows >= s.vocab else { throw ModelError.badTensor(name: "model.embed_tokens.weight", reason: "has \(embed.rows) rows for a vocabulary of \(s.vocab)") }
        lmHead = try w.has("lm_head.weight") ? w.matrix("lm_head.weight", cols: s.hidden) : embed
        finalNorm = try w.vector("model.norm.weight", count: s.hidden)
        var layers: [DecoderLayer] = []
        var inter = 1
        for l in 0..<s.layers {
            let p = "model.layers.\(l)."
            let a = p + "self_attn."
            var layer = DecoderLayer(
                attnNorm: try w.vector(p + "input_layernorm.weight", count: s.hidden),
                mlpNorm: try w.vector(p + "post_attention_layernorm.weight", count: s.hidden),
                wq: try w.matrix(a + "q_proj.weight", rows: qd, cols: s.hidden), wk: try w.matrix(a + "k_proj.weight", rows: kvd, cols: s.hidden),
                wv: try w.matrix(a + "v_proj.weight", rows: kvd, cols: s.hidden), wo: try w.matrix(a + "o_proj.weight", rows: s.hidden, cols: qd),
                bq: try w.optionalVector(a + "q_proj.bias", count: qd), bk: try w.optionalVector(a + "k_proj.bias", count: kvd),
                bv: try w.optionalVector(a + "v_proj.bias", count: kvd), bo: try w.optionalVector(a + "o_proj.bias", count: s.hidden))
            if s.qkvBias && (layer.bq == nil || layer.bk == nil || layer.bv == nil) { throw ModelError.missingTensor(a + "q_proj.bias") }
            switch s.qkNorm {
            case .none: break
            case .perHead:
                layer.qNorm = try w.vector(a + "q_norm.weight", count: s.headDim)
                layer.kNorm = try w.vector(a + "k_norm.weight", count: s.headDim)
            case .wholeProjection:
                layer.qNorm = try w.vector(a + "q_norm.weight", count: qd)
                layer.kNorm = try w.vector(a + "k_norm.weight", count: kvd)
            }
            if s.isMoE(l) {
                layer.router = try w.matrix(s.routerNames(l), rows: s.experts, cols: s.hidden)
                inter = max(inter, config.expertIntermediate(layer: l))
                if let si = s.sharedExpertIntermediate {
                    let m = p + "mlp.shared_expert."
                    layer.shared = (try w.matrix(m + "gate_proj.weight", rows: si, cols: s.hidden), try w.matrix(m + "up_proj.weight", rows: si, cols: s.hidden),
                                    try w.matrix(m + "down_proj.weight", rows: s.hidden, cols: si),
                                    try w.matrix(p + "mlp.shared_expert_gate.weight", rows: 1, cols: s.hidden))
                }
            } else {
                let m = p + "mlp.", di = s.denseIntermediate
                layer.dense = (try w.matrix(m + "gate_proj.weight", rows: di, cols: s.hidden), try w.matrix(m + "up_proj.weight", rows: di, cols: s.hidden),
                               try w.matrix(m + "down_proj.weight", rows: s.hidden, cols: di))
            }
            layers.append(layer)
        }
        self.layers = layers
        expertIntermediate = inter
        rope = RoPE(headDim: s.headDim, theta: Float(s.ropeTheta))
        cache = KVCache(layers: s.layers, context: context, stride: kvd)
        ws = Workspace(spec: s, capacity: max(1, batch), expertIntermediate: inter)
        denseMemory = w.memory
    }

    /// Bytes this model allocates besides weights: KV cache and workspace (for the memory planner).
    public static func runtimeBytes(spec: DecoderSpec, context: Int, batch: Int, expertIntermediate: Int) -> Int {
        // KV cache, workspace, and one batch of logits (`forward` never holds more than one batch's worth
        // unless asked for `.all` over several batches).
        KVCache.bytes(layers: spec.layers, context: context, stride: spec.kvHeads * spec.headDim)
            + Workspace.bytes(spec: spec, capacity: batch, expertIntermediate: expertIntermediate)
            + batch * spec.vocab * MemoryLayout<Float>.stride
    }

    /// Forgets the sequence: the next token is at position 0.
    public func reset() { position = 0 }

    public enum Logits { case last, all }

    /// Runs `tokens` from the current position and returns logits (`[vocab]` for `.last`, `[tokens, vocab]`
    /// row-major for `.all`). Prompts longer than the batch size are run in batches; `.all` over several batches
    /// returns every row, so memory-bounded callers (eval) pass at most one batch at a time.
    public func forward(_ tokens: [Int], logits: Logits = .last) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        guard position + tokens.count <= context else { throw ModelError.contextFull(context: context) }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= spec.vocab }) { throw ModelError.badToken(bad, vocab: spec.vocab) }
        var out: [Float] = []
        var i = 0
        let span = spec.vocab * ws.capacity / spec.hidden
        while i < tokens.count {
            if layerMajorPrefill && logits == .last && tokens.count - i > ws.capacity && span > ws.capacity {
                // Leaves the span's last batch in `ws.x`, as `runBatch` would; only the last rows' logits are needed.
                let m = min(span, tokens.count - i)
                try runSpan(tokens[i..<(i + m)])
                i += m
                if i == tokens.count {
                    let n = (m - 1) % ws.capacity + 1
                    out = computeLogits(rows: (n - 1)..<n)
                }
                continue
            }
            let n = min(ws.capacity, tokens.count - i)
            let last = i + n == tokens.count
            try runBatch(tokens[i..<(i + n)])
            if logits == .all {
                // One batch (the usual case, and eval's): hand the array over rather than copying it.
                if out.isEmpty { out = computeLogits(rows: 0..<n) } else { out += computeLogits(rows: 0..<n) }
            } else if last {
                out = computeLogits(rows: (n - 1)..<n)
            }
            i += n
        }
        return out
    }

    /// Logits of `rows` of the current batch's final hidden states.
    private func computeLogits(rows: Range<Int>) -> [Float] {
        let s = spec, h = s.hidden
        var out = [Float](repeating: 0, count: rows.count * s.vocab)
        for (j, r) in rows.enumerated() { rmsnorm(ws.xn + j * h, ws.x + r * h, finalNorm, n: h, eps: s.eps) }
        out.withUnsafeMutableBufferPointer { o in
            gemm(o.baseAddress!, lmHead.base, lmHead.type, ws.xn, tokens: rows.count, d: s.vocab, n: h, pool: pool)
        }
        return out
    }

    /// x ← layers(x) for `tokens` at positions `position ..< position + n`.
    private func runBatch(_ tokens: ArraySlice<Int>) throws {
        let h = spec.hidden
        for (t, tok) in tokens.enumerated() { embed.row(tok, into: ws.x + t * h) }
        for l in layers.indices { try layer(l, tokens: tokens.count, at: position) }
        position += tokens.count
        stats.tokens += tokens.count
    }

    /// `runBatch` for several batches at once, layer by layer (`layerMajorPrefill`): each batch's hidden states
    /// wait in a span buffer between layers, and each layer sees the batches in order, so causal attention finds
    /// the earlier batches' keys and values of that layer in the cache. Leaves the last batch's states in `ws.x`.
    private func runSpan(_ tokens: ArraySlice<Int>) throws {
        let h = spec.hidden, c = ws.capacity, m = tokens.count
        let states = UnsafeMutablePointer<Float>.allocate(capacity: m * h)
        defer { states.deallocate() }
        for (t, tok) in tokens.enumerated() { embed.row(tok, into: states + t * h) }
        let batches = stride(from: 0, to: m, by: c).map { $0..<min($0 + c, m) }
        for l in layers.indices {
            for b in batches {
                ws.x.update(from: states + b.lowerBound * h, count: b.count * h)
                try layer(l, tokens: b.count, at: position + b.lowerBound)
                (states + b.lowerBound * h).update(from: ws.x, count: b.count * h)
            }
        }
        position += m
        stats.tokens += m
    }

    /// Layer `l` over the `n` hidden states in `ws.x`, at positions `start ..< start + n`.
    private func layer(_ l: Int, tokens n: Int, at start: Int) throws {
        let s = spec, h = s.hidden, L = layers[l]
        let qd = s.heads * s.headDim, kvd = s.kvHeads * s.headDim
        // Attention block: h = x + W_o · Attn(...)
        for t in 0..<n { rmsnorm(ws.xn + t * h, ws.x + t * h, L.attnNorm, n: h, eps: s.eps) }
        matmul(ws.q, L.wq, ws.xn, n, bias: L.bq)
        matmul(ws.k, L.wk, ws.xn, n, bias: L.bk)
        matmul(ws.v, L.wv, ws.xn, n, bias: L.bv)
        switch s.qkNorm {
        case .none: break
        case .perHead:
            for t in 0..<n {
                for hd in 0..<s.heads { let p = ws.q + t * qd + hd * s.headDim; rmsnorm(p, p, L.qNorm!, n: s.headDim, eps: s.eps) }
                for hd in 0..<s.kvHeads { let p = ws.k + t * kvd + hd * s.headDim; rmsnorm(p, p, L.kNorm!, n: s.headDim, eps: s.eps) }
            }
        case .wholeProjection:
            for t in 0..<n {
                rmsnorm(ws.q + t * qd, ws.q + t * qd, L.qNorm!, n: qd, eps: s.eps)
                rmsnorm(ws.k + t * kvd, ws.k + t * kvd, L.kNorm!, n: kvd, eps: s.eps)
            }
        }
        if let c = s.clipQKV {
            for (p, count) in [(ws.q, n * qd), (ws.k, n * kvd), (ws.v, n * kvd)] {
                for i in 0..<count { p[i] = min(max(p[i], -c), c) }
            }
        }
        for t in 0..<n {
            rope.apply(ws.q + t * qd, heads: s.heads, position: start + t)
            rope.apply(ws.k + t * kvd, heads: s.kvHeads, position: start + t)
        }
        (cache.keys[l] + start * kvd).update(from: ws.k, count: n * kvd)
        (cache.values[l] + start * kvd).update(from: ws.v, count: n * kvd)
        causalAttention(ws.att, ws.q, keys: cache.keys[l], values: cache.values[l], start: start, tokens: n,
                        heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, window: s.window[l], pool: pool)
        matmul(ws.tmp, L.wo, ws.att, n, bias: L.bo)
        add(ws.x, ws.tmp, n * h)

        // Feed-forward block: x = h + MoE(n2(h)) or MLP(n2(h))
        for t in 0..<n { rmsnorm(ws.xn + t * h, ws.x + t * h, L.mlpNorm, n: h, eps: s.eps) }
        ws.mo.update(repeating: 0, count: n * h)
        if let router = L.router {
            try moe(layer: l, L, router: router, tokens: n)
        } else if let d = L.dense {
            swiGLU(ws.mo, gate: d.gate, up: d.up, down: d.down, x: ws.xn, n, accumulate: true)
        }
        add(ws.x, ws.mo, n * h)
    }

    /// Sparse MoE: p = softmax(W_g · y); K = topk(p); mo += Σ_{i∈K} w_i · E_i(y) [+ σ(w_s · y) · E_shared(y)].
    private func moe(layer l: Int, _ L: DecoderLayer, router: Matrix, tokens n: Int) throws {
        let s = spec, h = s.hidden, e = s.experts
        matmul(ws.routerLogits, router, ws.xn, n)
        for t in 0..<n {
            ws.probs.advanced(by: t * e).update(from: ws.routerLogits + t * e, count: e)
            softmax(ws.probs + t * e, n: e)
            ws.norms[t] = dot(ws.xn + t * h, ws.xn + t * h, n: h).squareRoot()
        }
        let output = RouterOutput(tokens: n, experts: e, probabilities: Array(UnsafeBufferPointer(start: ws.probs, count: n * e)),
                                  inputNorms: Array(UnsafeBufferPointer(start: ws.norms, count: n)))
        try experts.withLayer(MoELayer(layer: l), router: output, route: { allowed in
            Routing.topK(output, k: s.expertsPerToken, renormalize: s.router.renormalizes, allowed: allowed)
        }, predict: { predictNextLayers(after: l, tokens: n) }, serve: { i, w, list in
            guard let gate = w.gate else { throw ModelError.badTensor(name: "expert \(MoELayer(layer: l).expert(i))", reason: "has no gate matrix (not a SwiGLU expert)") }
            for (j, a) in list.enumerated() { (ws.gx + j * h).update(from: ws.xn + a.token * h, count: h) }
            swiGLU(ws.dOut, gate: gate, up: w.up, down: w.down, x: ws.gx, list.count, accumulate: false)
            for (j, a) in list.enumerated() { axpy(ws.mo + a.token * h, a.weight, ws.dOut + j * h, n: h) }
            stats.expertCalls += 1
        })
        if let sh = L.shared {
            swiGLU(ws.tmp, gate: sh.gate, up: sh.up, down: sh.down, x: ws.xn, n, accumulate: false)
            matmul(ws.norms, sh.scale, ws.xn, n)
            for t in 0..<n { axpy(ws.mo + t * h, 1 / (1 + expf(-ws.norms[t])), ws.tmp + t * h, n: h) }
        }
    }

    /// The routers of the next `prefetchDepth` MoE layers applied to this layer's MoE input: their likely
    /// experts, nearest layer first, for a provider that loads them while this layer computes. The hidden state
    /// changes little from one layer to the next, which is what makes this prediction useful.
    private func predictNextLayers(after l: Int, tokens n: Int) -> [MoELayerPrediction] {
        let e = spec.experts
        var out: [MoELayerPrediction] = []
        for next in (l + 1..<spec.layers).lazy.filter(spec.isMoE).prefix(prefetchDepth) {
            guard let router = layers[next].router else { continue }
            // This layer's router logits are no longer needed once its tokens are assigned: reuse their buffer.
            matmul(ws.routerLogits, router, ws.xn, n)
            var wanted = Set<Int>()
            for t in 0..<n { for pk in topK(ws.routerLogits + t * e, n: e, k: spec.expertsPerToken) { wanted.insert(pk.index) } }
            out.append(MoELayerPrediction(layer: MoELayer(layer: next), experts: wanted.sorted()))
        }
        return out
    }

    /// y[n, d] = x[n, k] · W^T (+ bias)
    @inline(__always)
    private func matmul(_ y: UnsafeMutablePointer<Float>, _ w: Matrix, _ x: UnsafePointer<Float>, _ n: Int, bias: [Float]? = nil) {
        if let bias {
            bias.withUnsafeBufferPointer { b in
                gemm(y, w.base, w.type, x, tokens: n, d: w.rows, n: w.cols, bias: b.baseAddress, pool: pool)
            }
        } else {
            gemm(y, w.base, w.type, x, tokens: n, d: w.rows, n: w.cols, pool: pool)
        }
    }

    /// out (+)= down · (silu(gate · x) ⊙ up · x) for n rows of x.
    private func swiGLU(_ out: UnsafeMutablePointer<Float>, gate: Matrix, up: Matrix, down: Matrix, x: UnsafePointer<Float>, _ n: Int, accumulate: Bool) {
        let inter = gate.rows
        matmul(ws.g, gate, x, n)
        matmul(ws.u, up, x, n)
        siluMul(ws.g, ws.g, ws.u, n: n * inter)
        gemm(out, down.base, down.type, ws.g, tokens: n, d: down.rows, n: down.cols, accumulate: accumulate, pool: pool)
    }

    private func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int) {
        axpy(y, 1, x, n: count)
    }
}
