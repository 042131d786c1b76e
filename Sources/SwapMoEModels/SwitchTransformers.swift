import Foundation
import SwapMoECore

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

    /// transformers: `num_layers // num_sparse_layers`, or `num_layers` when there are none.
    static func sparseStep(layers: Int, sparse: Int) -> Int { sparse > 0 ? layers / sparse : layers }
    public var encoderSparseStep: Int { Self.sparseStep(layers: encoderLayers, sparse: numSparseEncoderLayers) }
    public var decoderSparseStep: Int { Self.sparseStep(layers: decoderLayers, sparse: numSparseDecoderLayers) }

    /// transformers' `SwitchTransformersStack`: block i is sparse iff `step > 0 and (i % step == 1 or step == 1)`.
    /// (So with step 2 the odd layers are sparse, with step 3 layers 1, 4, 7, ...; and the "no sparse layers"
    /// step of `num_layers` still makes layer 1 sparse, as transformers does.)
    static func isSparse(_ layer: Int, step: Int) -> Bool { step > 0 && (layer % step == 1 || step == 1) }

    public func moeLayers(_ stack: String) -> [Int] {
        stack == "encoder" ? (0..<encoderLayers).filter { Self.isSparse($0, step: encoderSparseStep) }
                           : (0..<decoderLayers).filter { Self.isSparse($0, step: decoderSparseStep) }
    }

    /// The index of the feed-forward sublayer in a block: after self-attention (encoder), or after self- and
    /// cross-attention (decoder).
    static func ffIndex(_ stack: String) -> Int { stack == "encoder" ? 1 : 2 }

    /// `encoder.block.{l}.layer.1.mlp.` / `decoder.block.{l}.layer.2.mlp.`
    static func mlpPrefix(_ stack: String, _ layer: Int) -> String { "\(stack).block.\(layer).layer.\(ffIndex(stack)).mlp." }

    public var stacks: [ExpertStack] {
        ["encoder", "decoder"].map { s in
            ExpertStack(name: s, layers: s == "encoder" ? encoderLayers : decoderLayers, moeLayers: moeLayers(s), experts: numExperts,
                        naming: .dense(perExpert: ["\(s).block.{l}.layer.\(Self.ffIndex(s)).mlp.experts.expert_{e}."]),
                        intermediate: { [dFF] _ in dFF })
        }
    }

    public func validate() throws(ModelError) {
        let name = Self.family.rawValue
        guard dModel > 0, dKV > 0, dFF > 0, numHeads > 0, vocabSize > 0, encoderLayers > 0, decoderLayers > 0 else {
            throw .badConfig(family: name, reason: "d_model, d_kv, d_ff, num_heads, vocab_size, num_layers and num_decoder_layers must be positive")
        }
        guard numExperts > 0 else { throw .badConfig(family: name, reason: "num_experts must be positive") }
        guard expertCapacity >= 0 else { throw .badConfig(family: name, reason: "expert_capacity must be >= 0") }
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
