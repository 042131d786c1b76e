import SwapMoEKernels

/// The structural choices that tell the decoder families apart. Each family file builds one from its config;
/// `DecoderModel` composes the same pre-norm transformer from it:
///
///     x   = embed(tokens)
///     for each layer l:
///         h = x + W_o · Attn(RoPE(qknorm(W_q · n1(x))), RoPE(qknorm(W_k · n1(x))), W_v · n1(x))
///         x = h + (isMoE(l) ? MoE(n2(h)) : MLP(n2(h)))
///     logits = W_lm · norm(x)
public struct DecoderSpec: Sendable {
    public enum QKNorm: Sendable { case none, perHead, wholeProjection }
    /// What an expert computes. `.swiGLU`: down(silu(gate · y) ⊙ up · y) from three matrices. `.clampedSwiGLU`
    /// (gpt-oss): one matrix `gate_up` whose rows alternate gate, up, with biases, and `clampedSwiGLU` between it
    /// and `down` (+ bias).
    public enum ExpertActivation: Sendable, Equatable {
        case swiGLU
        case clampedSwiGLU(alpha: Float, limit: Float)
    }
    public enum RouterRule: Sendable {
        /// Mixtral: the top-k probabilities are always renormalised to sum to one.
        case renormalize
        /// Qwen / OLMoE: renormalise only when `norm_topk_prob` is set.
        case normTopKProb(Bool)
        public var renormalizes: Bool {
            switch self { case .renormalize: true; case .normTopKProb(let b): b }
        }
    }

    public var hidden: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var vocab: Int
    public var eps: Float
    public var ropeTheta: Double
    public var qkvBias: Bool
    public var outputBias: Bool
    public var qkNorm: QKNorm
    public var clipQKV: Float?
    /// Sliding attention window per layer (nil: full causal attention).
    public var window: [Int?]
    public var experts: Int
    public var expertsPerToken: Int
    public var router: RouterRule
    public var moeLayers: Set<Int>
    /// Intermediate width of dense MLP layers (non-MoE layers).
    public var denseIntermediate: Int
    /// Intermediate width of the always-on shared expert, if the family has one (Qwen2-MoE).
    public var sharedExpertIntermediate: Int?
    public var tieEmbeddings: Bool
    /// Router weight names of layer `l`, in order of preference (hub name first).
    public var routerNames: @Sendable (Int) -> [String]
    /// Multi-head latent attention (DeepSeek-V2/V3) instead of the attention above; nil for the other families.
    /// With it, `headDim` is the width RoPE rotates (`qk_rope_head_dim`).
    public var mla: MLASpec? = nil
    /// DeepSeek's routers (sigmoid or softmax scores, group-limited top-k, a routed scaling factor), used
    /// instead of `router` when set.
    public var groupedRouter: GroupedRouter? = nil
    /// Where the always-on shared expert lives under `model.layers.{l}.`, and whether a sigmoid gate
    /// (`mlp.shared_expert_gate`, Qwen2-MoE) scales it; DeepSeek's `mlp.shared_experts.` has none.
    public var sharedExpertPrefix = "mlp.shared_expert."
    public var sharedExpertGated = true
    /// Partial rotary (GLM-4.5's `partial_rotary_factor`): RoPE turns only the first `rotaryDim` floats of each
    /// head; nil rotates the whole head.
    public var rotaryDim: Int? = nil
    /// RoPE frequency scaling (nil: plain RoPE).
    public var ropeScaling: RoPEScaling? = nil
    /// A learned logit per head joins each attention softmax (`self_attn.sinks`, gpt-oss).
    public var attentionSinks = false
    /// The router has a bias (`<router>.bias`, beside each of `routerNames`' weights).
    public var routerBias = false
    public var expertActivation = ExpertActivation.swiGLU
    /// The norms are LayerNorms with a bias (`<norm>.bias` beside each weight, Phi-3.5-MoE) instead of RMSNorms.
    public var layerNorm = false
    /// The LM head has a bias (`lm_head.bias`, Phi-3.5-MoE's `lm_head_bias`).
    public var lmHeadBias = false
    /// Phi-3.5-MoE's sparsemixer top-2 router, used instead of `router` when set.
    public var sparseMixer: SparseMixer? = nil
    /// Qwen3-Next: the layers run a Gated DeltaNet (`GatedDeltaNet.swift`) instead of attention; nil for the others.
    public var deltaNet: DeltaNetSpec? = nil
    /// `q_proj` gives each head's query and then its output gate (`2 · headDim` rows per head, Qwen3-Next):
    /// attention's output is multiplied by σ(gate) before `o_proj`.
    public var gatedAttention = false
    /// RMSNorm weights are offsets from 1 (Qwen3-Next's zero-centred norms: y = n(x) · (1 + w)); 1 is added at load.
    public var zeroCentredNorms = false

    public func isMoE(_ layer: Int) -> Bool { moeLayers.contains(layer) }
    /// Whether layer `l` runs a Gated DeltaNet rather than attention (and keeps no KV cache rows).
    public func isLinear(_ layer: Int) -> Bool { deltaNet?.layers.contains(layer) ?? false }
}

/// `model.layers.{l}.mlp.gate.weight`, the router of every family stored under `mlp`.
@Sendable func mlpRouterName(_ l: Int) -> [String] { ["model.layers.\(l).mlp.gate.weight"] }
