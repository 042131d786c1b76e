import Foundation

/// DeepSeek-V3 (DeepSeek-V3/R1, Kimi-K2, Moonlight and derivatives; `model_type` `deepseek_v3`): multi-head
/// latent attention (`MLASpec`), the first `first_k_dense_replace` layers dense, then MoE layers of fine-grained
/// experts plus `n_shared_experts` always-on shared experts (one MLP of `n_shared_experts x moe_intermediate_size`,
/// no gate), routed by sigmoid scores with a selection-only bias and group-limited top-k (`GroupedRouter`):
///
///     s = σ(W_g · y);  K = grouped top-k of s + b;  w_i = s_i (/ Σ_K s_j if norm_topk_prob) · routed_scaling_factor
///     moe = Σ_{i∈K} w_i · E_i(y) + E_shared(y)
public struct DeepSeekV3Config: DeepSeekFamily {
    public static let family = ModelFamily.deepseekV3
    public let base: DecoderBase, keys: DeepSeekKeys
    public init(from decoder: Decoder) throws { (base, keys) = try Self.decode(decoder, version: 3) }
}

/// DeepSeek-V2 (DeepSeek-V2, V2-Lite, DeepSeek-Coder-V2; `model_type` `deepseek_v2`): DeepSeek-V3's layers with a
/// softmax router, `topk_method` `greedy` or `group_limited_greedy` (a group scores its best expert), and
/// renormalisation only when `norm_topk_prob` is set (then, as DeepSeek's reference code, without the scaling
/// factor; transformers 5 ignores `norm_topk_prob` here, and every hub config has it false).
///
///     p = softmax(W_g · y);  K = (grouped) top-k of p;  w_i = p_i · routed_scaling_factor
///     moe = Σ_{i∈K} w_i · E_i(y) + E_shared(y)
public struct DeepSeekV2Config: DeepSeekFamily {
    public static let family = ModelFamily.deepseekV2
    public let base: DecoderBase, keys: DeepSeekKeys
    public init(from decoder: Decoder) throws { (base, keys) = try Self.decode(decoder, version: 2) }
}

/// What DeepSeek-V2 and V3 share: everything but their defaults and router, which `DeepSeekKeys` holds.
public protocol DeepSeekFamily: DecoderFamily {
    var keys: DeepSeekKeys { get }
}

extension DeepSeekFamily {
    /// The shared keys, then DeepSeek's own; `head_dim` is what RoPE rotates (`qk_rope_head_dim`), as transformers sets it.
    /// transformers' defaults of V3 and V2.
    static func decode(_ decoder: Decoder, version: Int) throws -> (DecoderBase, DeepSeekKeys) {
        let defaults = version == 3
            ? DecoderBase.Defaults(intermediate: 18432, experts: 256, expertsPerToken: 8, eps: 1e-6, ropeTheta: 10000)
            : DecoderBase.Defaults(intermediate: 11008, experts: 64, expertsPerToken: 6, eps: 1e-6, ropeTheta: 10000)
        var base = try DecoderBase(from: decoder, defaults: defaults)
        let keys = try DeepSeekKeys(from: decoder, version: version)
        base.headDim = keys.qkRopeHeadDim
        return (base, keys)
    }

    /// Hub layout (`experts.{e}.gate_proj`) and transformers 5's fused one.
    public var expertNaming: ExpertNaming {
        .swiGLU(perExpert: ["model.layers.{l}.mlp.experts.{e}."], fused: ["model.layers.{l}.mlp.experts."])
    }
    public func expertIntermediate(layer: Int) -> Int { keys.moeIntermediateSize }
    public var expertIntermediateKey: String { "moe_intermediate_size" }
    public func validate() throws(ModelError) { try keys.validate(base, family: Self.family) }
    public func decoderSpec() throws(ModelError) -> DecoderSpec { try keys.spec(base) }
    public func packIgnores(_ tensor: String) -> Bool { DeepSeekKeys.isNextTokenPredictionLayer(tensor, layers: base.numLayers) }
}
