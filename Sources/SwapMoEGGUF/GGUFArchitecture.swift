/// The GGUF architectures (`general.architecture`) swapmoe reads, with the Hugging Face family each was converted
/// from. llama.cpp has no Mixtral architecture: convert_hf_to_gguf writes Mixtral as `llama` with
/// `llama.expert_count` > 0, and that is the only `llama` file swapmoe takes. gpt-oss is llama.cpp's
/// `LLM_ARCH_OPENAI_MOE`, named `gpt-oss` in files. `deepseek2` holds DeepSeek-V2 and V3 (and their derivatives:
/// Kimi, Moonlight, GLM-4.7-Flash); which one a file is comes from its router (`expert_gating_func`: softmax V2,
/// sigmoid V3), so `modelType` names V3 and `GGUFConfigMapping` picks. `qwen3next` is Qwen3-Next (Gated DeltaNet and
/// gated attention layers, Qwen2-MoE's MoE block).
public enum GGUFArchitecture: String, Sendable, CaseIterable {
    case llama, qwen2moe, qwen3moe, olmoe, deepseek2, glm4moe, qwen3next
    case gptOss = "gpt-oss"

    /// The `model_type` of the Hugging Face config.json (swapmoe's `ModelFamily` raw value).
    public var modelType: String {
        switch self {
        case .llama: "mixtral"
        case .qwen2moe: "qwen2_moe"
        case .qwen3moe: "qwen3_moe"
        case .olmoe: "olmoe"
        case .gptOss: "gpt_oss"
        case .deepseek2: "deepseek_v3"
        case .glm4moe: "glm4_moe"
        case .qwen3next: "qwen3_next"
        }
    }

    /// The transformers class, for config.json's `architectures`.
    var hfClass: String {
        switch self {
        case .llama: "MixtralForCausalLM"
        case .qwen2moe: "Qwen2MoeForCausalLM"
        case .qwen3moe: "Qwen3MoeForCausalLM"
        case .olmoe: "OlmoeForCausalLM"
        case .gptOss: "GptOssForCausalLM"
        case .deepseek2: "DeepseekV3ForCausalLM"
        case .glm4moe: "Glm4MoeForCausalLM"
        case .qwen3next: "Qwen3NextForCausalLM"
        }
    }

    /// Whether convert_hf_to_gguf permuted the rows of attn_q / attn_k (and their biases) for llama.cpp's RoPE
    /// layout (`LlamaModel.permute`, applied when `undo_permute` is set: the llama architecture, not Qwen or OLMoE).
    public var permutesQK: Bool { self == .llama }

    /// Whether convert_hf_to_gguf stored the zero-centred RMSNorm weights w as w + 1 (`Qwen3NextModel.modify_tensors`:
    /// every `*norm.weight` but the DeltaNet's gated norm), so that llama.cpp multiplies by the file's weight.
    public var addsOneToNorms: Bool { self == .qwen3next }

    /// Whether llama.cpp renormalises the top-k router weights for this architecture when the file does not say
    /// (`{arch}.expert_weights_norm`): the `norm_w` argument its graph passes to `build_moe_ffn`
    /// (src/models/llama.cpp true, qwen2moe.cpp false, qwen3moe.cpp true, olmoe.cpp false; openai-moe.cpp's
    /// softmax over the chosen logits is the same thing; deepseek2.cpp and glm4-moe.cpp read the key with default
    /// false; qwen3next.cpp passes true and reads no key). The converter does not write transformers'
    /// `norm_topk_prob` for the first four, so this is what the file means.
    var defaultNormTopK: Bool {
        switch self {
        case .llama, .qwen3moe, .gptOss, .qwen3next: true
        case .qwen2moe, .olmoe, .deepseek2, .glm4moe: false
        }
    }

    /// The names listed to a user whose file is of another architecture.
    public static var supportedList: [String] {
        ["llama (Mixtral: with llama.expert_count > 0)", "qwen2moe", "qwen3moe", "olmoe", "gpt-oss", "deepseek2 (DeepSeek-V2/V3)", "glm4moe", "qwen3next (Qwen3-Next)"]
    }
}
