import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

/// The weights of one decoder layer, resolved from the archive once.
struct DecoderLayer {
    var attnNorm: [Float]
    var mlpNorm: [Float]
    /// LayerNorm biases (`DecoderSpec.layerNorm`).
    var attnNormBias: [Float]? = nil, mlpNormBias: [Float]? = nil
    /// nil in MLA layers, whose attention is `latent`.
    var wq: Matrix!, wk: Matrix!, wv: Matrix!, wo: Matrix!
    var bq: [Float]?, bk: [Float]?, bv: [Float]?, bo: [Float]?
    var qNorm: [Float]?, kNorm: [Float]?
    var latent: LatentAttentionWeights?
    /// Qwen3-Next's Gated DeltaNet, in the layers that run it instead of attention.
    var deltaNet: DeltaNetWeights?
    var router: Matrix?
    var routerBias: [Float]?
    /// gpt-oss's per-head attention sink logits.
    var sinks: [Float]?
    /// DeepSeek-V3's `e_score_correction_bias` (selection only, see `GroupedRouter`).
    var scoreBias: [Float]?
    var shared: (gate: Matrix, up: Matrix, down: Matrix, scale: Matrix?)?
    var dense: (gate: Matrix, up: Matrix, down: Matrix)?
}

/// A Mixture-of-Experts decoder (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, gpt-oss) running from an archive, with its
/// experts supplied by an `ExpertProvider` and its KV cache for `context` positions.
public final class DecoderModel {
    public let spec: DecoderSpec
    public let config: any FamilyConfig
    public let archive: Archive
    public let experts: ExpertProvider
    public let context: Int
    public let pool: ThreadPool
    /// Positions of the current sequence filled so far.
    public var position: Int { sequence.position }
    public internal(set) var stats = ForwardStats()
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
    /// How a decoded token's experts compute (`serve`); nil, the default, chooses by the pool's threads. Set to
    /// compare schedules token by token in one process, and by tests: the results are bit-identical every way.
    var decodedExpertSchedule: ExpertSchedule? = nil
    let layers: [DecoderLayer]
    let embed: Matrix
    let lmHead: Matrix
    /// The huge-page copies the dense matrices point into (kept alive with the model).
    let denseMemory: [AnonymousMemory]
    let finalNorm: [Float]
    let finalNormBias: [Float]?
    let lmHeadBias: [Float]?
    let rope: RoPE
    /// One past the last position of the `forward` call running (0 outside one), or of the window `perplexity`
    /// scores: LongRoPE's scale is chosen per call, as transformers does (`RoPE.forCall`).
    var callEnd = 0
    /// The sequence `forward` extends (the model's own until `use` switches).
    public private(set) var sequence: DecoderSequence
    var cache: KVCache { sequence.cache }
    let ws: Workspace
    /// MLA's scratch (nil for the other families).
    let latentScratch: LatentScratch?
    /// The way MLA attends for every call (nil: chosen per call by `LatentAttentionPath.preferred`); set from
    /// `SWAPMOE_MLA_PATH` for measurements, and by tests.
    var latentPath: LatentAttentionPath? = forcedLatentPath
    /// Gated DeltaNet's scratch (nil for the families without it).
    let deltaNetScratch: DeltaNetScratch?
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
        /// A norm's weight as the kernels apply it: zero-centred norms store w for a scale of 1 + w.
        func normWeight(_ name: String, count: Int) throws(ModelError) -> [Float] {
            let v = try w.vector(name, count: count)
            return s.zeroCentredNorms ? v.map { 1 + $0 } : v
        }
        finalNorm = try normWeight("model.norm.weight", count: s.hidden)
        finalNormBias = s.layerNorm ? try w.vector("model.norm.bias", count: s.hidden) : nil
        lmHeadBias = s.lmHeadBias ? try w.vector("lm_head.bias", count: s.vocab) : nil
        var layers: [DecoderLayer] = []
        var inter = 1
        for l in 0..<s.layers {
            let p = "model.layers.\(l)."
            let a = p + "self_attn."
            let attnNorm = try normWeight(p + "input_layernorm.weight", count: s.hidden)
            let mlpNorm = try normWeight(p + "post_attention_layernorm.weight", count: s.hidden)
            var layer: DecoderLayer
            // Gated attention's q_proj holds each head's query and gate.
            let qRows = s.gatedAttention ? 2 * qd : qd
            if let m = s.deltaNet, s.isLinear(l) {
                layer = DecoderLayer(attnNorm: attnNorm, mlpNorm: mlpNorm, deltaNet: try DeltaNetWeights(w, prefix: p + "linear_attn.", spec: m, hidden: s.hidden))
            } else if let m = s.mla {
                layer = DecoderLayer(attnNorm: attnNorm, mlpNorm: mlpNorm, latent: try LatentAttentionWeights(w, prefix: a, spec: m, hidden: s.hidden))
            } else {
                layer = DecoderLayer(
                    attnNorm: attnNorm, mlpNorm: mlpNorm,
                    wq: try w.matrix(a + "q_proj.weight", rows: qRows, cols: s.hidden), wk: try w.matrix(a + "k_proj.weight", rows: kvd, cols: s.hidden),
                    wv: try w.matrix(a + "v_proj.weight", rows: kvd, cols: s.hidden), wo: try w.matrix(a + "o_proj.weight", rows: s.hidden, cols: qd),
                    bq: try w.optionalVector(a + "q_proj.bias", count: qRows), bk: try w.optionalVector(a + "k_proj.bias", count: kvd),
                    bv: try w.optionalVector(a + "v_proj.bias", count: kvd), bo: try w.optionalVector(a + "o_proj.bias", count: s.hidden))
            }
            if s.layerNorm {
                layer.attnNormBias = try w.vector(p + "input_layernorm.bias", count: s.hidden)
                layer.mlpNormBias = try w.vector(p + "post_attention_layernorm.bias", count: s.hidden)
            }
            let attends = layer.wq != nil
            if attends && s.qkvBias && (layer.bq == nil || layer.bk == nil || layer.bv == nil) { throw ModelError.missingTensor(a + "q_proj.bias") }
            switch s.qkNorm {
            case .none: break
            case .perHead where attends:
                layer.qNorm = try normWeight(a + "q_norm.weight", count: s.headDim)
                layer.kNorm = try normWeight(a + "k_norm.weight", count: s.headDim)
            case .perHead: break
            case .wholeProjection:
                layer.qNorm = try w.vector(a + "q_norm.weight", count: qd)
                layer.kNorm = try w.vector(a + "k_norm.weight", count: kvd)
            }
            if s.attentionSinks { layer.sinks = try w.vector(a + "sinks", count: s.heads) }
            if s.isMoE(l) {
                layer.router = try w.matrix(s.routerNames(l), rows: s.experts, cols: s.hidden)
                if s.routerBias { layer.routerBias = try w.vector(s.routerNames(l).map { String($0.dropLast(".weight".count)) + ".bias" }, count: s.experts) }
                inter = max(inter, config.expertIntermediate(layer: l))
                if s.groupedRouter?.selectionBias == true {
                    layer.scoreBias = try w.vector(p + "mlp.gate.e_score_correction_bias", count: s.experts)
                }
                if let si = s.sharedExpertIntermediate {
                    let m = p + s.sharedExpertPrefix
                    layer.shared = (try w.matrix(m + "gate_proj.weight", rows: si, cols: s.hidden), try w.matrix(m + "up_proj.weight", rows: si, cols: s.hidden),
                                    try w.matrix(m + "down_proj.weight", rows: s.hidden, cols: si),
                                    s.sharedExpertGated ? try w.matrix(p + "mlp.shared_expert_gate.weight", rows: 1, cols: s.hidden) : nil)
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
        rope = RoPE(headDim: s.rotaryDim ?? s.headDim, theta: Float(s.ropeTheta), scaling: s.ropeScaling)
        sequence = DecoderSequence(spec: s, context: context, batch: max(1, batch))
        ws = Workspace(spec: s, capacity: max(1, batch), expertIntermediate: inter)
        latentScratch = s.mla.map { LatentScratch($0, capacity: max(1, batch)) }
        deltaNetScratch = s.deltaNet.map { DeltaNetScratch($0, capacity: max(1, batch)) }
        denseMemory = w.memory
    }

    /// Bytes this model allocates besides weights: KV cache and workspace (for the memory planner).
    public static func runtimeBytes(spec: DecoderSpec, context: Int, batch: Int, expertIntermediate: Int) -> Int {
        // KV cache, workspace, and one batch of logits (`forward` never holds more than one batch's worth
        // unless asked for `.all` over several batches).
        KVCache.bytes(spec: spec, context: context, batch: batch)
            + Workspace.bytes(spec: spec, capacity: batch, expertIntermediate: expertIntermediate)
            + batch * spec.vocab * MemoryLayout<Float>.stride
            + (spec.mla.map { LatentScratch.bytes($0, capacity: batch) + LatentScratch.expandedBytes($0, context: context) } ?? 0)
            + (spec.deltaNet.map { DeltaNetScratch.bytes($0, capacity: batch) + DeltaNetWeights.f32Bytes($0) } ?? 0)
    }

    /// Forgets the sequence: the next token is at position 0.
    public func reset() {
        sequence.position = 0
        sequence.cache.clearRecurrentState()
    }

    /// Keeps the first `count` positions of the current sequence (a prompt that shares them with what the
    /// sequence holds continues from there; the cache rows past them are overwritten as it runs) and returns
    /// `count`, or, when a sliding layer's ring no longer holds the keys position `count` attends to (cut back by
    /// more than a batch), forgets the sequence and returns 0.
    @discardableResult
    public func truncate(to count: Int) -> Int {
        precondition(count >= 0 && count <= sequence.position, "truncate(to:) past the filled positions")
        sequence.position = sequence.position - count <= sequence.cache.cutSlack ? count : 0
        return sequence.position
    }

    /// A new, empty sequence with its own KV cache for `context` positions (the model's by default).
    public func makeSequence(context: Int? = nil) -> DecoderSequence {
        DecoderSequence(spec: spec, context: context ?? self.context, batch: ws.capacity)
    }

    /// One decode step for several sequences at once: `batch[i].token` is appended to `batch[i].sequence` at
    /// that sequence's own position, and row i of the result is its next-token logits. The rows share every
    /// weight read (dense matrices once for all; each expert once for the rows routed to it); only attention
    /// runs per row, over its own cache. Sequences must be distinct, of this model, and not full; at most a
    /// batch's worth (`DecoderModel.defaultBatch`) of rows. The current sequence (`use`) is unchanged.
    public func step(_ batch: [(sequence: DecoderSequence, token: Int)]) throws -> [[Float]] {
        guard !batch.isEmpty else { return [] }
        precondition(batch.count <= ws.capacity, "step: more rows than a batch holds")
        precondition(Set(batch.map { ObjectIdentifier($0.sequence) }).count == batch.count, "step: a sequence twice")
        for row in batch {
            precondition(row.sequence.cache.keys.count == spec.layers, "a sequence of another model")
            guard row.sequence.position < row.sequence.context else { throw ModelError.contextFull(context: row.sequence.context) }
            guard row.token >= 0 && row.token < spec.vocab else { throw ModelError.badToken(row.token, vocab: spec.vocab) }
        }
        let n = batch.count
        let x = ws.x.rows(n, width: spec.hidden)
        for (t, row) in batch.enumerated() { embed.row(row.token, into: x.row(t)) }
        let placement = Placement.rows(batch.map { ($0.sequence, $0.sequence.position) })
        for l in layers.indices { try layer(l, tokens: n, placement: placement) }
        for row in batch { row.sequence.position += 1 }
        stats.tokens += n
        let logits = computeLogits(rows: 0..<n), v = spec.vocab
        return (0..<n).map { Array(logits[($0 * v)..<(($0 + 1) * v)]) }
    }

    /// Makes `forward` extend `sequence` from its position (a sequence of this model's shape).
    public func use(_ sequence: DecoderSequence) {
        precondition(sequence.cache.keys.count == spec.layers, "a sequence of another model")
        self.sequence = sequence
    }

    public enum Logits { case last, all }

    /// Runs `tokens` from the current position and returns logits (`[vocab]` for `.last`, `[tokens, vocab]`
    /// row-major for `.all`). Prompts longer than the batch size are run in batches; `.all` over several batches
    /// returns every row, so memory-bounded callers (eval) pass at most one batch at a time.
    public func forward(_ tokens: [Int], logits: Logits = .last) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        guard position + tokens.count <= sequence.context else { throw ModelError.contextFull(context: sequence.context) }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= spec.vocab }) { throw ModelError.badToken(bad, vocab: spec.vocab) }
        var out: [Float] = []
        var i = 0
        let outer = callEnd
        callEnd = max(outer, position + tokens.count)
        defer { callEnd = outer }
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

    /// Logits of `rows` of the current batch's final hidden states: W_lm · n(x).
    private func computeLogits(rows: Range<Int>) -> [Float] {
        let h = spec.hidden
        let x = ws.x.rows(rows, width: h), xn = ws.xn.rows(rows.count, width: h)
        norm(xn, x, finalNorm, finalNormBias)
        var logits = gemm(lmHead, xn, pool: pool)
        if let b = lmHeadBias {
            for r in 0..<rows.count { for j in 0..<spec.vocab { logits[r * spec.vocab + j] += b[j] } }
        }
        return logits
    }

    /// n(x): RMSNorm, or LayerNorm when the family's norms have a bias.
    private func norm(_ out: Rows, _ x: Rows, _ w: [Float], _ b: [Float]?) {
        if let b { layerNorm(out, x, w, b, eps: spec.eps) } else { rmsnorm(out, x, w, eps: spec.eps) }
    }

    /// x ← layers(x) for `tokens` at positions `position ..< position + n`.
    private func runBatch(_ tokens: ArraySlice<Int>) throws {
        let x = ws.x.rows(tokens.count, width: spec.hidden)
        for (t, tok) in tokens.enumerated() { embed.row(tok, into: x.row(t)) }
        for l in layers.indices { try layer(l, tokens: tokens.count, at: position) }
        sequence.position += tokens.count
        stats.tokens += tokens.count
    }

    /// `runBatch` for several batches at once, layer by layer (`layerMajorPrefill`): each batch's hidden states
    /// wait in a span buffer between layers, and each layer sees the batches in order, so causal attention finds
    /// the earlier batches' keys and values of that layer in the cache. Leaves the last batch's states in `ws.x`.
    private func runSpan(_ tokens: ArraySlice<Int>) throws {
        let h = spec.hidden, m = tokens.count
        let states = FloatBuffer(rows: m, width: h).rows(m, width: h)
        for (t, tok) in tokens.enumerated() { embed.row(tok, into: states.row(t)) }
        let batches = stride(from: 0, to: m, by: ws.capacity).map { $0..<min($0 + ws.capacity, m) }
        for l in layers.indices {
            for b in batches {
                let x = ws.x.rows(b.count, width: h)
                copy(x, from: states.rows(b))
                try layer(l, tokens: b.count, at: position + b.lowerBound)
                copy(states.rows(b), from: x)
            }
        }
        sequence.position += m
        stats.tokens += m
    }

    /// Layer `l` over the `n` hidden states in `ws.x`, at positions `start ..< start + n`:
    ///
    ///     y = n1(x);  q = RoPE(W_q y + b_q), k = RoPE(W_k y + b_k), v = W_v y + b_v    (optional q/k norms, clip)
    ///     x = x + W_o · Attn(q, K, V) + b_o                                             (K, V: the cache, with k, v)
    ///     y = n2(x);  x = x + MoE(y)  or  x + MLP(y)
    private func layer(_ l: Int, tokens n: Int, at start: Int) throws {
        try layer(l, tokens: n, placement: .run(start))
    }

    /// Where the rows of a layer's batch sit: consecutive positions of the current sequence from `start`
    /// (a prompt, or one token), or one row per sequence at that sequence's position (`step`).
    enum Placement {
        case run(Int)
        case rows([(sequence: DecoderSequence, position: Int)])
    }

    private func layer(_ l: Int, tokens n: Int, placement: Placement) throws {
        let s = spec, h = s.hidden, L = layers[l]
        let x = ws.x.rows(n, width: h), y = ws.xn.rows(n, width: h)
        // Attention block
        norm(y, x, L.attnNorm, L.attnNormBias)
        let o = ws.tmp.rows(n, width: h)
        if let latent = L.latent, let m = s.mla {
            latentAttention(l, latent, m, y: y, into: o, placement: placement)
        } else if let d = L.deltaNet, let m = s.deltaNet {
            gatedDeltaNet(l, d, m, y: y, into: o, placement: placement)
        } else {
            attention(l, L, y: y, into: o, placement: placement)
        }
        add(x, o)

        // Feed-forward block
        norm(y, x, L.mlpNorm, L.mlpNormBias)
        let mo = ws.mo.rows(n, width: h)
        mo.zero()
        if let router = L.router {
            try moe(layer: l, L, router: router, y: y, into: mo)
        } else if let d = L.dense {
            swiGLU(mo, gate: d.gate, up: d.up, down: d.down, x: y, accumulate: true, pool: pool)
        }
        add(x, mo)
    }
}
