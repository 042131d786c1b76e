import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

/// Switch Transformers (google/switch-base-8 and relatives, transformers' `SwitchTransformersForConditionalGeneration`):
/// a T5 encoder-decoder whose feed-forward blocks are, on a sparse-step grid, top-1 Mixture-of-Experts layers.
///
/// Both stacks are pre-norm T5 blocks. `norm` is T5's layer norm: RMS without mean subtraction, no bias.
///
///     encoder layer l:  x = x + W_o · Attn(q = W_q n(x), k = W_k n(x), v = W_v n(x), bias = B_enc)      (bidirectional)
///                       x = x + FF_l(n(x))
///     decoder layer l:  y = y + W_o · Attn(W_q n(y), W_k n(y), W_v n(y), bias = B_dec)                    (causal)
///                       y = y + W_o' · Attn(W_q' n(y), W_k' e, W_v' e)                   (cross, no bias, e = encoder output)
///                       y = y + FF_l(n(y))
///     logits = W_lm · (tied ? d_model^-0.5 : 1) · n(y)
///
/// Attention scores are `q · k + B[h, bucket(j - i)]`, *not* scaled by 1/sqrt(d_kv); the bias table lives in
/// layer 0 of each stack (`relative_attention_bias`, `[buckets, heads]`) and is shared by the later layers.
///
/// FF_l is a dense `wo(relu(wi · x))`, or, for a sparse layer, the top-1 router with expert capacity:
///
///     p = softmax(W_r · x + b_r);  i = argmax p;  c_i = how many tokens of this call chose i up to this one
///     FF(x) = c_i <= expert_capacity ? p_i · E_i(x) : 0          (an over-capacity token keeps only its residual)
///
/// Capacity is counted in token order over one forward call (transformers' cumsum over the sequence), so the
/// encoder counts over the whole input, and the decoder over the tokens of each call (one per generated token).
public struct SwitchTransformersConfig: ModelConfig {
    public static let family = ModelFamily.switchTransformers
    public let vocabSize: Int
    public let dModel: Int
    public let dKV: Int
    public let dFF: Int
    public let numHeads: Int
    public let encoderLayers: Int
    public let decoderLayers: Int
    public let numSparseEncoderLayers: Int
    public let numSparseDecoderLayers: Int
    /// Every how many blocks of a stack one is sparse: config.json's `encoder_sparse_step` / `decoder_sparse_step`
    /// when it has them, else derived from `num_sparse_*_layers` (see `sparseStep`).
    public let encoderSparseStep: Int
    public let decoderSparseStep: Int
    public let numExperts: Int
    public let expertCapacity: Int
    public let routerBias: Bool
    public let relativeAttentionNumBuckets: Int
    public let relativeAttentionMaxDistance: Int
    public let layerNormEpsilon: Double
    public let denseActFn: String
    public let tieWordEmbeddings: Bool
    public let padTokenId: Int?
    public let eosTokenIds: [Int]
    public let decoderStartTokenId: Int

    enum Keys: String, CodingKey {
        case vocabSize = "vocab_size", dModel = "d_model", dKV = "d_kv", dFF = "d_ff", numHeads = "num_heads"
        case numLayers = "num_layers", numDecoderLayers = "num_decoder_layers"
        case numSparseEncoderLayers = "num_sparse_encoder_layers", numSparseDecoderLayers = "num_sparse_decoder_layers"
        case encoderSparseStep = "encoder_sparse_step", decoderSparseStep = "decoder_sparse_step"
        case numExperts = "num_experts", expertCapacity = "expert_capacity", routerBias = "router_bias"
        case buckets = "relative_attention_num_buckets", maxDistance = "relative_attention_max_distance"
        case eps = "layer_norm_epsilon", denseActFn = "dense_act_fn", tie = "tie_word_embeddings"
        case pad = "pad_token_id", eos = "eos_token_id", decoderStart = "decoder_start_token_id"
    }

    /// Absent keys take transformers' `SwitchTransformersConfig` defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        func int(_ k: Keys, _ d: Int) throws -> Int { try c.decodeIfPresent(Int.self, forKey: k) ?? d }
        vocabSize = try int(.vocabSize, 32128)
        dModel = try int(.dModel, 768)
        dKV = try int(.dKV, 64)
        dFF = try int(.dFF, 2048)
        numHeads = try int(.numHeads, 12)
        encoderLayers = try int(.numLayers, 12)
        decoderLayers = try c.decodeIfPresent(Int.self, forKey: .numDecoderLayers) ?? encoderLayers
        numSparseEncoderLayers = try int(.numSparseEncoderLayers, 3)
        numSparseDecoderLayers = try int(.numSparseDecoderLayers, 3)
        // transformers derives both steps in `__post_init__`, then `PreTrainedConfig.__post_init__` sets every
        // remaining config.json key as an attribute, so a stored step wins over the derived one (issue 15:
        // num_layers 4, num_sparse_encoder_layers 3, encoder_sparse_step 2 makes blocks 1 and 3 sparse, not all 4).
        encoderSparseStep = try int(.encoderSparseStep, Self.sparseStep(layers: encoderLayers, sparse: numSparseEncoderLayers))
        decoderSparseStep = try int(.decoderSparseStep, Self.sparseStep(layers: decoderLayers, sparse: numSparseDecoderLayers))
        numExperts = try int(.numExperts, 8)
        expertCapacity = try int(.expertCapacity, 64)
        routerBias = try c.decodeIfPresent(Bool.self, forKey: .routerBias) ?? false
        relativeAttentionNumBuckets = try int(.buckets, 32)
        relativeAttentionMaxDistance = try int(.maxDistance, 128)
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .eps) ?? 1e-6
        denseActFn = try c.decodeIfPresent(String.self, forKey: .denseActFn) ?? "relu"
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tie) ?? true
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .pad) ?? (c.contains(.pad) ? nil : 0)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .eos) {
            eosTokenIds = [one]
        } else {
            eosTokenIds = (try? c.decodeIfPresent([Int].self, forKey: .eos)) ?? (c.contains(.eos) ? [] : [1])
        }
        // T5 starts decoding from the pad token when the config does not say otherwise.
        decoderStartTokenId = try c.decodeIfPresent(Int.self, forKey: .decoderStart) ?? padTokenId ?? 0
    }

    public var hiddenSize: Int { dModel }
    public var expertsPerToken: Int { 1 }
    public var isEncoderDecoder: Bool { true }
    /// Width of the attention projections (`num_heads * d_kv`, which need not equal `d_model`).
    public var innerDim: Int { numHeads * dKV }

    /// The step transformers derives when config.json does not store one: `num_layers // num_sparse_layers`, or
    /// `num_layers` when there are none.
    static func sparseStep(layers: Int, sparse: Int) -> Int { sparse > 0 ? layers / sparse : layers }

    /// transformers' `SwitchTransformersStack`: block i is sparse iff `step > 0 and (i % step == 1 or step == 1)`.
    /// (So with step 2 the odd layers are sparse, with step 3 layers 1, 4, 7, ...; a stored step of 0 means no
    /// sparse layers; and the derived "no sparse layers" step of `num_layers` still makes layer 1 sparse, or
    /// layer 0 of a one-layer stack, as transformers does.)
    static func isSparse(_ layer: Int, step: Int) -> Bool { step > 0 && (layer % step == 1 || step == 1) }

    public func moeLayers(_ stack: ExpertStack) -> [Int] {
        stack == .encoder ? (0..<encoderLayers).filter { Self.isSparse($0, step: encoderSparseStep) }
                           : (0..<decoderLayers).filter { Self.isSparse($0, step: decoderSparseStep) }
    }

    /// The index of the feed-forward sublayer in a block: after self-attention (encoder), or after self- and
    /// cross-attention (decoder).
    static func ffIndex(_ stack: ExpertStack) -> Int { stack == .encoder ? 1 : 2 }

    /// `encoder.block.{l}.layer.1.mlp.` / `decoder.block.{l}.layer.2.mlp.`
    static func mlpPrefix(_ stack: ExpertStack, _ layer: Int) -> String { "\(stack).block.\(layer).layer.\(ffIndex(stack)).mlp." }

    public var stacks: [ModelStack] {
        [ExpertStack.encoder, .decoder].map { s in
            ModelStack(name: s, layers: s == .encoder ? encoderLayers : decoderLayers, moeLayers: moeLayers(s), experts: numExperts,
                        naming: .dense(perExpert: ["\(s).block.{l}.layer.\(Self.ffIndex(s)).mlp.experts.expert_{e}."]),
                        intermediate: { [dFF] _ in dFF })
        }
    }

    public func validate() throws(ModelError) {
        let name = Self.family.rawValue
        func check(_ key: String, _ value: Int, _ range: ClosedRange<Int>) throws(ModelError) {
            try ConfigLimits.check(Self.family, key, value, range)
        }
        try check("d_model", dModel, 1...ConfigLimits.width)
        try check("d_kv", dKV, 1...ConfigLimits.width)
        try check("d_ff", dFF, 1...ConfigLimits.width)
        try check("num_heads", numHeads, 1...ConfigLimits.heads)
        try check("num_heads x d_kv", numHeads * dKV, 1...ConfigLimits.width)
        try check("vocab_size", vocabSize, 1...ConfigLimits.vocab)
        try check("num_layers", encoderLayers, 1...ConfigLimits.layers)
        try check("num_decoder_layers", decoderLayers, 1...ConfigLimits.layers)
        try check("num_experts", numExperts, 1...ConfigLimits.experts)
        try check("expert_capacity", expertCapacity, 0...ConfigLimits.positions)
        try check("relative_attention_num_buckets", relativeAttentionNumBuckets, 4...ConfigLimits.positions)
        try check("relative_attention_max_distance", relativeAttentionMaxDistance, 1...ConfigLimits.positions)
        guard layerNormEpsilon.isFinite, layerNormEpsilon >= 0 else {
            throw .badConfig(family: name, reason: "layer_norm_epsilon \(layerNormEpsilon) must be a finite number >= 0")
        }
        // transformers builds no sparse block for a negative step; such a file is damaged rather than meant, so say so.
        for (key, step) in [("encoder_sparse_step", encoderSparseStep), ("decoder_sparse_step", decoderSparseStep)] where step < 0 {
            throw .badConfig(family: name, reason: "\(key) is \(step); it must be >= 0 (0 means no sparse layers)")
        }
        // Both directions need a logarithmic range: max_distance above the exact buckets (num_buckets / 2 causal).
        guard relativeAttentionNumBuckets >= 4, relativeAttentionMaxDistance > relativeAttentionNumBuckets / 2 else {
            throw .badConfig(family: name, reason: "relative_attention_num_buckets must be >= 4 and relative_attention_max_distance above half of it")
        }
        guard denseActFn == "relu" else { throw .unsupportedFeature("Switch Transformers with dense_act_fn '\(denseActFn)' (only relu)") }
    }
}

/// T5's relative position buckets (transformers' `_relative_position_bucket`), for `relative = key position -
/// query position`. Half of the buckets (per direction, when bidirectional) hold exact small distances, the rest
/// grow logarithmically up to `maxDistance`; longer distances share the last bucket. Unidirectional (decoder)
/// buckets see only the past: future positions map to bucket 0.
///
/// The logarithmic part is computed in float32 step by step as torch does (`log(n / max_exact) /
/// log(max_distance / max_exact) * (buckets - max_exact)`, truncated), so that bucket boundaries, where the
/// real-valued result is an exact integer, fall on the same side.
public func relativePositionBucket(_ relative: Int, bidirectional: Bool, buckets: Int, maxDistance: Int) -> Int {
    var n = buckets
    var bucket = 0
    var r = relative
    if bidirectional {
        n /= 2
        if r > 0 { bucket += n }
        r = abs(r)
    } else {
        r = -min(r, 0)
    }
    let maxExact = n / 2
    if r < maxExact { return bucket + r }
    let ratio = Float(r) / Float(maxExact)
    let scaled = logf(ratio) / Float(Foundation.log(Double(maxDistance) / Double(maxExact))) * Float(n - maxExact)
    return bucket + min(maxExact + Int(scaled), n - 1)
}

// MARK: - Weights

/// One Switch block's weights, resolved from the archive once. Decoder blocks add cross-attention.
struct SwitchBlock {
    struct Attention { var norm: [Float]; var q, k, v, o: Matrix }
    var selfAttention: Attention
    var crossAttention: Attention?
    var ffNorm: [Float]
    /// Sparse blocks: the router `[experts, d_model]` (+ bias); dense blocks: `wo(relu(wi · x))`.
    var router: Matrix?
    var routerBias: [Float]?
    var dense: (wi: Matrix, wo: Matrix)?
}

/// One stack (encoder or decoder): embedding, the relative-bias table of its first block, blocks, final norm.
struct SwitchStack {
    let name: ExpertStack
    /// 0 for the encoder, 1 for the decoder.
    let index: Int
    let embed: Matrix
    /// `relative_attention_bias.weight` of block 0, `[buckets, heads]` row-major, shared by every block.
    let relativeBias: [Float]
    let blocks: [SwitchBlock]
    let finalNorm: [Float]
    let moeLayers: [Int]

    init(_ name: ExpertStack, config c: SwitchTransformersConfig, weights w: DenseWeights) throws(ModelError) {
        self.name = name
        index = name == .encoder ? 0 : 1
        let d = c.dModel, inner = c.innerDim
        let shared = ["\(name).embed_tokens.weight", "shared.weight"]
        embed = try w.matrix(shared, cols: d, inPlace: true)  // looked up by row; a tied LM head is copied apart
        guard embed.rows >= c.vocabSize else { throw .badTensor(name: shared[0], reason: "has \(embed.rows) rows for a vocabulary of \(c.vocabSize)") }
        relativeBias = try w.vector("\(name).block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                                    count: c.relativeAttentionNumBuckets * c.numHeads)
        moeLayers = c.moeLayers(name)
        let layers = name == .encoder ? c.encoderLayers : c.decoderLayers
        func attention(_ p: String, _ module: String) throws(ModelError) -> SwitchBlock.Attention {
            let a = p + module + "."
            return .init(norm: try w.vector(p + "layer_norm.weight", count: d),
                         q: try w.matrix(a + "q.weight", rows: inner, cols: d), k: try w.matrix(a + "k.weight", rows: inner, cols: d),
                         v: try w.matrix(a + "v.weight", rows: inner, cols: d), o: try w.matrix(a + "o.weight", rows: d, cols: inner))
        }
        var blocks: [SwitchBlock] = []
        for l in 0..<layers {
            let p = "\(name).block.\(l).layer."
            let ff = p + "\(SwitchTransformersConfig.ffIndex(name))."
            var b = SwitchBlock(selfAttention: try attention(p + "0.", "SelfAttention"),
                                crossAttention: name == .decoder ? try attention(p + "1.", "EncDecAttention") : nil,
                                ffNorm: try w.vector(ff + "layer_norm.weight", count: d))
            if moeLayers.contains(l) {
                b.router = try w.matrix(ff + "mlp.router.classifier.weight", rows: c.numExperts, cols: d)
                b.routerBias = try w.optionalVector(ff + "mlp.router.classifier.bias", count: c.numExperts)
                if c.routerBias && b.routerBias == nil { throw .missingTensor(ff + "mlp.router.classifier.bias") }
            } else {
                b.dense = (try w.matrix(ff + "mlp.wi.weight", rows: c.dFF, cols: d), try w.matrix(ff + "mlp.wo.weight", rows: d, cols: c.dFF))
            }
            blocks.append(b)
        }
        self.blocks = blocks
        finalNorm = try w.vector("\(name).final_layer_norm.weight", count: d)
    }

    /// Per head h, the bias for every key-minus-query offset `from ..< from + out.width`, into row h of `out`.
    func biasByOffset(_ out: Rows, from: Int, config c: SwitchTransformersConfig) {
        let heads = c.numHeads, width = out.width
        precondition(out.count == heads, "one bias row per head")
        for i in 0..<width {
            let bucket = relativePositionBucket(from + i, bidirectional: name == .encoder, buckets: c.relativeAttentionNumBuckets,
                                                maxDistance: c.relativeAttentionMaxDistance)
            for h in 0..<heads { out[h * width + i] = relativeBias[bucket * heads + h] }
        }
    }
}

// MARK: - Forward pass

extension Seq2SeqModel {
    /// Encoder block l over all the source tokens' states `x`:
    ///     x = x + W_o · Attn(W_q n(x), W_k n(x), W_v n(x), bias = B_enc)     (bidirectional, unscaled)
    ///     x = x + FF_l(n(x))
    func encoderBlock(_ l: Int, _ B: SwitchBlock, _ x: Rows, bias: Rows, biasFrom: Int) throws {
        let n = x.count, inner = c.innerDim, A = B.selfAttention
        let xn = ws.xn.rows(n, width: c.dModel)
        let q = ws.q.rows(n, width: inner), k = ws.k.rows(n, width: inner), v = ws.v.rows(n, width: inner)
        let att = ws.att.rows(n, width: inner), o = ws.tmp.rows(n, width: c.dModel)
        norm(xn, x, A.norm)
        gemm(q, A.q, xn, pool: pool)
        gemm(k, A.k, xn, pool: pool)
        gemm(v, A.v, xn, pool: pool)
        relativeAttention(att, q, keys: k, values: v, keyCount: n, start: 0, heads: c.numHeads, headDim: c.dKV,
                          causal: false, bias: bias, biasFrom: biasFrom, pool: pool)
        gemm(o, A.o, att, pool: pool)
        add(x, o)
        try feedForward(encoder, l, B, x)
    }

    /// Decoder block l for the states `y` of target positions `start ..< start + y.count`:
    ///     y = y + W_o  · Attn(W_q n(y), W_k n(y), W_v n(y), bias = B_dec)   (causal over the KV cache, unscaled)
    ///     y = y + W_o' · Attn(W_q' n(y), K'_l, V'_l)                          (cross: K', V' from the encoder output, no bias)
    ///     y = y + FF_l(n(y))
    func decoderBlock(_ l: Int, _ B: SwitchBlock, _ y: Rows, start: Int, bias: Rows, biasFrom: Int) throws {
        let n = y.count, inner = c.innerDim
        let yn = ws.xn.rows(n, width: c.dModel), q = ws.q.rows(n, width: inner)
        let att = ws.att.rows(n, width: inner), o = ws.tmp.rows(n, width: c.dModel)
        let keys = ws.selfKeys[l], values = ws.selfValues[l], new = start..<(start + n)
        let A = B.selfAttention
        norm(yn, y, A.norm)
        gemm(q, A.q, yn, pool: pool)
        gemm(keys.rows(new), A.k, yn, pool: pool)
        gemm(values.rows(new), A.v, yn, pool: pool)
        relativeAttention(att, q, keys: keys, values: values, keyCount: start + n, start: start,
                          heads: c.numHeads, headDim: c.dKV, causal: true, bias: bias, biasFrom: biasFrom, pool: pool)
        gemm(o, A.o, att, pool: pool)
        add(y, o)

        let X = B.crossAttention!
        norm(yn, y, X.norm)
        gemm(q, X.q, yn, pool: pool)
        relativeAttention(att, q, keys: ws.crossKeys[l], values: ws.crossValues[l], keyCount: sourceLength, start: 0,
                          heads: c.numHeads, headDim: c.dKV, causal: false, pool: pool)
        gemm(o, X.o, att, pool: pool)
        add(y, o)
        try feedForward(decoder, l, B, y)
    }

    /// Cross-attention keys and values of every decoder block, from the encoder output: K'_l = W_k' e, V'_l = W_v' e.
    func prepareCrossAttention(sourceTokens s: Int) {
        let e = encoderOut(s)
        for (l, B) in decoder.blocks.enumerated() {
            let X = B.crossAttention!
            gemm(ws.crossKeys[l].rows(0..<s), X.k, e, pool: pool)
            gemm(ws.crossValues[l].rows(0..<s), X.v, e, pool: pool)
        }
    }

    /// x = x + FF_l(n(x)): a dense `wo(relu(wi · y))` or the top-1 Switch MoE, y = n(x).
    func feedForward(_ stack: SwitchStack, _ l: Int, _ B: SwitchBlock, _ x: Rows) throws {
        let y = ws.xn.rows(x.count, width: c.dModel)
        norm(y, x, B.ffNorm)
        if let router = B.router {
            let mo = ws.mo.rows(x.count, width: c.dModel)
            mo.zero()
            try switchMoE(stack, l, router: router, bias: B.routerBias, y: y, into: mo)
            add(x, mo)
        } else if let d = B.dense {
            reluMLP(x, wi: d.wi, wo: d.wo, x: y, accumulate: true)
        }
    }

    /// Top-1 routing with expert capacity (transformers' `SwitchTransformersTop1Router` + `SparseMLP`):
    ///     p = softmax(W_r · y + b_r);  i = argmax p (over the allowed experts);  load_i += 1
    ///     mo = load_i <= expert_capacity ? p_i · E_i(y) : 0
    /// `load` counts tokens per expert over the whole forward call (it persists across batches of one call).
    func switchMoE(_ stack: SwitchStack, _ l: Int, router: Matrix, bias: [Float]?, y: Rows, into mo: Rows) throws {
        let n = y.count, e = c.numExperts
        let p = ws.probs.rows(n, width: e), norms = ws.norms.rows(n, width: 1)
        gemm(p, router, y, bias: bias, pool: pool)
        softmax(p)
        for t in 0..<n { norms[t] = dot(y.row(t), y.row(t)).squareRoot() }
        let output = RouterOutput(tokens: n, experts: e, probabilities: p.array(), inputNorms: norms.array())
        let layer = MoELayer(stack: stack.name, layer: l)
        try experts.withLayer(layer, router: output, route: { allowed in
            var routing = Routing(experts: e)
            for t in 0..<n {
                // argmax over the allowed experts, ties to the lower index, as torch.argmax
                guard let best = output.top(1, token: t, allowed: allowed).first?.index else { continue }
                load[stack.index][l][best] += 1
                if load[stack.index][l][best] <= c.expertCapacity {
                    routing.assign(token: t, to: best, weight: output.probabilities[t * e + best])
                } else {
                    stats.droppedTokens += 1   // over capacity: no expert output, the residual passes through
                }
            }
            return routing
        }, predict: { prefetchDepth > 0 ? predictNextLayer(stack, after: l, y: y) : [] }, serve: { batch in
            for e in batch {
                let list = e.tokens
                let gx = ws.gx.rows(list.count, width: c.dModel), out = ws.dOut.rows(list.count, width: c.dModel)
                for (j, a) in list.enumerated() { copy(gx.row(j), from: y.row(a.token)) }
                reluMLP(out, wi: e.weights.up, wo: e.weights.down, x: gx, accumulate: false)
                for (j, a) in list.enumerated() { axpy(mo.row(a.token), a.weight, out.row(j)) }
                stats.expertCalls += 1
            }
        })
    }

    /// The stack's next sparse block's router applied to this block's MoE input `y`: its top-1 experts, for a
    /// provider that loads them while this block computes (the hidden state changes little from block to block).
    /// Reuses the router-probability buffer: this block's tokens are already assigned.
    func predictNextLayer(_ stack: SwitchStack, after l: Int, y: Rows) -> [MoELayerPrediction] {
        guard let next = stack.moeLayers.first(where: { $0 > l }), let router = stack.blocks[next].router else { return [] }
        let p = ws.probs.rows(y.count, width: c.numExperts)
        gemm(p, router, y, bias: stack.blocks[next].routerBias, pool: pool)
        var wanted = Set<Int>()
        for t in 0..<y.count { if let best = topK(p.row(t), k: 1).first { wanted.insert(best.index) } }
        return [MoELayerPrediction(layer: MoELayer(stack: stack.name, layer: next), experts: wanted.sorted())]
    }

    /// out (+)= wo · relu(wi · x) for the rows of x.
    func reluMLP(_ out: Rows, wi: Matrix, wo: Matrix, x: Rows, accumulate: Bool) {
        let u = ws.u.rows(x.count, width: wi.rows)
        gemm(u, wi, x, pool: pool)
        relu(u)
        gemm(out, wo, u, accumulate: accumulate, pool: pool)
    }

    /// T5 layer norm (RMS, no mean, no bias) of every row.
    func norm(_ out: Rows, _ x: Rows, _ w: [Float]) { rmsnorm(out, x, w, eps: Float(c.layerNormEpsilon)) }
}
