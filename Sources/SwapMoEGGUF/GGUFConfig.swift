import SwapMoECore

/// A GGUF model's hyper-parameters as the Hugging Face `config.json` of its family, so the rest of swapmoe (the
/// family configs in SwapMoEModels, the packer) reads them as it reads any checkpoint. Docs/GGUF.md has the table.
public struct GGUFModelConfig: Sendable {
    public let architecture: GGUFArchitecture
    /// config.json's content: `model_type` plus every key the family reads.
    public let config: JSONValue
}

/// The metadata and tensor facts the mapping needs (pure inputs, so it is testable without a file).
public struct GGUFConfigInputs: Sendable {
    public var fileName: String
    public var metadata: [String: GGUFValue]
    /// Tensor name -> ggml dims.
    public var tensorDims: [String: [Int]]

    public init(fileName: String, metadata: [String: GGUFValue], tensorDims: [String: [Int]]) {
        self.fileName = fileName; self.metadata = metadata; self.tensorDims = tensorDims
    }
}

extension GGUFModel {
    /// The family and config.json this file describes.
    public func modelConfig() throws(GGUFError) -> GGUFModelConfig {
        try GGUFConfigMapping.config(GGUFConfigInputs(fileName: fileName, metadata: metadata,
                                                      tensorDims: Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0.ne) })))
    }

    /// The architecture, or an error naming it and the supported ones.
    public func architecture() throws(GGUFError) -> GGUFArchitecture {
        try GGUFConfigMapping.architecture(fileName: fileName, metadata: metadata)
    }
}

/// Metadata -> config.json. Keys are llama.cpp's (gguf-py `Keys.LLM`, `{arch}.` prefixed), values converted the
/// way convert_hf_to_gguf wrote them, so that the config of a converted fixture equals the original on every key
/// its family reads (tested).
public enum GGUFConfigMapping {
    public static func architecture(fileName: String, metadata: [String: GGUFValue]) throws(GGUFError) -> GGUFArchitecture {
        guard let v = metadata["general.architecture"] else { throw .missingKey(file: fileName, key: "general.architecture") }
        guard let name = v.stringValue else {
            throw .wrongKeyType(file: fileName, key: "general.architecture", expected: "a string", found: v.type.description)
        }
        if name == "phimoe" {
            throw .checkpointOnly(file: fileName, architecture: name, reason: "llama.cpp's phimoe graph is not Phi-3.5-MoE as transformers defines it (softmax top-2 for its sparsemixer router, one attention factor from the context ratio for its short and long mscales, which the file does not keep), so neither reference could check it")
        }
        guard let arch = GGUFArchitecture(rawValue: name) else {
            throw .unsupportedArchitecture(file: fileName, architecture: name, supported: GGUFArchitecture.supportedList)
        }
        if arch == .llama, (metadata["llama.expert_count"]?.intValue ?? 0) == 0 {
            throw .unsupportedArchitecture(file: fileName, architecture: "llama without experts (a dense model)", supported: GGUFArchitecture.supportedList)
        }
        return arch
    }

    /// A float32 from the file as the decimal it was written from: the shortest decimal that rounds to the same
    /// float32 (1e-05 for the float32 nearest 1e-05), which is what transformers' config had.
    static func decimal(_ v: GGUFValue) -> Double? {
        guard let d = v.doubleValue else { return nil }
        if case .float(_, .float32) = v { return Double("\(Float(d))") ?? d }
        return d
    }

    public static func config(_ input: GGUFConfigInputs) throws(GGUFError) -> GGUFModelConfig {
        let file = input.fileName
        let md = input.metadata
        let arch = try architecture(fileName: file, metadata: md)
        let a = arch.rawValue

        func value(_ key: String) -> GGUFValue? { md[a + "." + key] }
        /// An integer key; per-layer arrays are accepted when every layer has the same value.
        func int(_ key: String) throws(GGUFError) -> Int? {
            guard let v = value(key) else { return nil }
            if let i = v.intValue { return i }
            if let values = v.arrayValue?.ints, let first = values.first {
                guard values.allSatisfy({ $0 == first }) else {
                    throw .badMetadata(file: file, key: a + "." + key, reason: "differs between layers (\(Set(values).sorted())), which swapmoe does not support")
                }
                return first
            }
            throw .wrongKeyType(file: file, key: a + "." + key, expected: "an integer", found: v.type.description)
        }
        func required(_ key: String) throws(GGUFError) -> Int {
            guard let i = try int(key) else { throw .missingKey(file: file, key: a + "." + key) }
            return i
        }
        func double(_ key: String) throws(GGUFError) -> Double? {
            guard let v = value(key) else { return nil }
            guard let d = decimal(v) else { throw .wrongKeyType(file: file, key: a + "." + key, expected: "a number", found: v.type.description) }
            return d
        }
        let dims = input.tensorDims
        /// Which layers use sliding-window attention, as llama.cpp's `load_swa_pattern(ml, 2)` reads them:
        /// `{a}.attention.sliding_window_pattern` as one BOOL a layer, or a period n (layer l slides when
        /// l % n < n - 1; 0: every layer), else period 2 (sliding, full, sliding, ...).
        func slidingLayers(_ count: Int) throws(GGUFError) -> [Bool] {
            let key = a + ".attention.sliding_window_pattern"
            guard (1...(1 << 16)).contains(count) else {
                throw .badMetadata(file: file, key: a + ".block_count", reason: "is \(count), expected 1...65536")
            }
            if let v = md[key], let flags = v.arrayValue {
                guard case .bools(let bools) = flags, bools.count == count else {
                    throw .badMetadata(file: file, key: key, reason: "must list one BOOL per layer (\(count))")
                }
                return bools
            }
            let n = try int("attention.sliding_window_pattern") ?? 2
            guard n >= 0 else { throw .badMetadata(file: file, key: key, reason: "is \(n), expected >= 0") }
            return (0..<count).map { n == 0 || $0 % n < n - 1 }
        }

        let hidden = try required("embedding_length")
        // llama.cpp's n_layer(): block_count less the multi-token-prediction layers counted in it (GLM-4.5's
        // converter keeps them); swapmoe neither packs nor runs those, as transformers drops them.
        let blocks = try required("block_count")
        let nextTokenLayers = try int("nextn_predict_layers") ?? 0
        guard (0..<max(1, blocks)).contains(nextTokenLayers) else {
            throw .badMetadata(file: file, key: a + ".nextn_predict_layers", reason: "is \(nextTokenLayers) of \(blocks) blocks")
        }
        let layers = blocks - nextTokenLayers
        let heads = try required("attention.head_count")
        let kvHeads = try int("attention.head_count_kv") ?? heads
        guard heads > 0 else { throw .badMetadata(file: file, key: a + ".attention.head_count", reason: "is 0") }
        let headDim = try int("attention.key_length") ?? hidden / heads
        let ropeDim = try int("rope.dimension_count")
        // DeepSeek's MLA files give key/value lengths of the latent (MQA) form; GLM-4.5 turns RoPE on part of a head.
        if arch != .deepseek2 {
            if let v = try int("attention.value_length"), v != headDim {
                throw .badMetadata(file: file, key: a + ".attention.value_length", reason: "is \(v) but key_length is \(headDim); swapmoe needs equal key and value head sizes")
            }
            if arch != .glm4moe, arch != .qwen3next, let r = ropeDim, r != headDim {
                throw .badMetadata(file: file, key: a + ".rope.dimension_count", reason: "is \(r), not the head size \(headDim); partial rotary embeddings are not supported")
            }
        }
        let experts = try required("expert_count")
        let used = try required("expert_used_count")
        // llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE: 1 softmax, 2 sigmoid. gpt-oss's graph always takes the softmax
        // of the chosen logits and qwen3next's the softmax, whatever the key says; DeepSeek and GLM files without the
        // key are softmax (DeepSeek-V2) and sigmoid (GLM-4.5), as llama.cpp reads them.
        let gating = arch == .gptOss || arch == .qwen3next ? 1 : try int("expert_gating_func") ?? (arch == .glm4moe ? 2 : 1)
        let sigmoidAllowed = arch == .deepseek2 || arch == .glm4moe
        guard gating == 1 || (gating == 2 && sigmoidAllowed) else {
            throw .badMetadata(file: file, key: a + ".expert_gating_func", reason: "is \(gating) (1 = softmax\(sigmoidAllowed ? ", 2 = sigmoid" : "")); swapmoe's \(a) routers are \(sigmoidAllowed ? "softmax or sigmoid" : "softmax")")
        }

        // The vocabulary: the token list, else {arch}.vocab_size, else the embedding's rows.
        let embedRows = dims["token_embd.weight"].flatMap { $0.count == 2 ? $0[1] : nil }
        let tokens = md["tokenizer.ggml.tokens"]?.arrayValue?.count
        let declared = try int("vocab_size")
        guard let vocab = tokens ?? declared ?? embedRows else {
            throw .missingKey(file: file, key: "tokenizer.ggml.tokens")
        }
        if let rows = embedRows, rows != vocab {
            throw .badMetadata(file: file, key: "tokenizer.ggml.tokens", reason: "lists \(vocab) tokens but token_embd.weight has \(rows) rows")
        }

        var c: [(String, JSONValue)] = [
            ("architectures", .array([.string(arch.hfClass)])),
            ("model_type", .string(arch.modelType)),
            ("hidden_size", .int(Int64(hidden))),
            ("num_hidden_layers", .int(Int64(layers))),
            ("num_attention_heads", .int(Int64(heads))),
            ("num_key_value_heads", .int(Int64(kvHeads))),
            ("head_dim", .int(Int64(headDim))),
            ("vocab_size", .int(Int64(vocab))),
            ("num_experts_per_tok", .int(Int64(used))),
            ("tie_word_embeddings", .bool(dims["output.weight"] == nil)),
        ]
        if let ff = try int("feed_forward_length") { c.append(("intermediate_size", .int(Int64(ff)))) }
        if let ctx = try int("context_length") { c.append(("max_position_embeddings", .int(Int64(ctx)))) }
        if let eps = try double("attention.layer_norm_rms_epsilon") { c.append(("rms_norm_eps", .double(eps))) }
        c.append(("rope_theta", .double(try double("rope.freq_base") ?? 10000)))

        // RoPE scaling: YaRN with what llama.cpp computes from the file (ggml_rope_yarn_corr_dims floors and ceils
        // the correction range: transformers' `truncate: true`; the attention factor is 0.1 ln(factor) + 1, its
        // default); other kinds kept so that the family's validate() refuses them rather than computing wrong outputs.
        if let t = md[a + ".rope.scaling.type"]?.stringValue, t != "none" {
            var scaling: [(String, JSONValue)] = [("rope_type", .string(t))]
            if let f = try double("rope.scaling.factor") { scaling.append(("factor", .double(f))) }
            if t == "yarn" {
                if let o = try int("rope.scaling.original_context_length") { scaling.append(("original_max_position_embeddings", .int(Int64(o)))) }
                if let b = try double("rope.scaling.yarn_beta_fast") { scaling.append(("beta_fast", .double(b))) }
                if let b = try double("rope.scaling.yarn_beta_slow") { scaling.append(("beta_slow", .double(b))) }
                scaling.append(("truncate", .bool(true)))
                // DeepSeek: the converter stores 0.1 mscale_all_dim (TAG_DEEPSEEK2_YARN_LOG_MUL_FIX) and not mscale;
                // llama.cpp then computes with mscale = mscale_all_dim (llama-context.cpp), so that cos/sin are
                // unscaled and the softmax scale takes yarn_get_mscale(factor, mscale_all_dim)^2 (transformers).
                if arch == .deepseek2, let m = try double("rope.scaling.yarn_log_multiplier") {
                    let all = Double("\(Float(m / 0.1))") ?? m / 0.1
                    scaling += [("mscale", .double(all)), ("mscale_all_dim", .double(all))]
                }
            }
            c.append(("rope_scaling", .object(JSONObject(keys: scaling.map(\.0), values: scaling.map(\.1)))))
        } else if dims["rope_freqs.weight"] != nil {
            c.append(("rope_scaling", .object(["rope_type": .string("llama3")])))
        }

        let normTopK: Bool
        if arch != .qwen3next, let v = md[a + ".expert_weights_norm"] {
            guard let b = v.boolValue else { throw .wrongKeyType(file: file, key: a + ".expert_weights_norm", expected: "a BOOL", found: v.type.description) }
            normTopK = b
        } else {
            normTopK = arch.defaultNormTopK
        }
        let hasQBias = dims["blk.0.attn_q.bias"] != nil
        // Layers without a router are dense (transformers' mlp_only_layers).
        let denseLayers = (0..<max(0, min(layers, 1 << 16))).filter { dims["blk.\($0).ffn_gate_inp.weight"] == nil }

        /// The DeepSeek-V3-style MoE keys GLM-4.5 and DeepSeek share: routed and shared experts, the grouped router
        /// (`n_group` / `topk_group`), its scaling and renormalisation, the leading dense layers.
        func moeKeys(_ c: inout [(String, JSONValue)]) throws(GGUFError) {
            guard let moe = try int("expert_feed_forward_length") ?? dims["blk.\(layers - 1).ffn_gate_exps.weight"]?[1] else {
                throw .missingKey(file: file, key: a + ".expert_feed_forward_length")
            }
            let groups = max(1, try int("expert_group_count") ?? 1)
            c += [("n_routed_experts", .int(Int64(experts))), ("moe_intermediate_size", .int(Int64(moe))),
                  ("n_shared_experts", .int(Int64(try int("expert_shared_count") ?? 0))),
                  ("n_group", .int(Int64(groups))), ("topk_group", .int(Int64(groups > 1 ? try int("expert_group_used_count") ?? groups : 1))),
                  ("routed_scaling_factor", .double(try double("expert_weights_scale") ?? 1)),
                  ("norm_topk_prob", .bool(normTopK)),
                  ("first_k_dense_replace", .int(Int64(try int("leading_dense_block_count") ?? 0)))]
        }

        /// DeepSeek-V2 / V3 (llama.cpp's deepseek2): MLA sizes from the `_mla` key lengths (files converted before
        /// llama.cpp split kv_b give the MHA sizes as key_length / value_length), the router from the gating function.
        func deepseek2(_ c: inout [(String, JSONValue)]) throws(GGUFError) {
            let rank = try required("attention.kv_lora_rank")
            guard let rope = ropeDim else { throw .missingKey(file: file, key: a + ".rope.dimension_count") }
            let split = md[a + ".attention.key_length_mla"] != nil
            let qk = try split ? required("attention.key_length_mla") : required("attention.key_length")
            let v = try split ? required("attention.value_length_mla") : required("attention.value_length")
            guard rope > 0, rope % 2 == 0, qk > rope, v > 0, rank > 0 else {
                throw .badMetadata(file: file, key: a + ".attention.key_length\(split ? "_mla" : "")", reason: "gives q/k heads of \(qk) with \(rope) rotary dims, values of \(v), kv_lora_rank \(rank): not an MLA shape")
            }
            let sigmoid = gating == 2
            if !sigmoid, let bias = dims.keys.first(where: { $0.hasSuffix(".exp_probs_b.bias") }) {
                throw .badMetadata(file: file, key: a + ".expert_gating_func", reason: "is softmax (1, or missing) but the file has \(bias), DeepSeek-V3's selection bias for its sigmoid router: it was converted from a config without scoring_func; add \"scoring_func\": \"sigmoid\" to config.json and convert again")
            }
            let groups = max(1, try int("expert_group_count") ?? 1)
            c.removeAll { ["model_type", "architectures", "num_key_value_heads", "head_dim"].contains($0.0) }
            c += [("model_type", .string(sigmoid ? "deepseek_v3" : "deepseek_v2")),
                  ("architectures", .array([.string(sigmoid ? "DeepseekV3ForCausalLM" : "DeepseekV2ForCausalLM")])),
                  // The file's head_count_kv is 1 (MLA as MQA over the latent); transformers' MHA view has every head.
                  ("num_key_value_heads", .int(Int64(heads))), ("head_dim", .int(Int64(rope))),
                  ("kv_lora_rank", .int(Int64(rank))),
                  ("q_lora_rank", try int("attention.q_lora_rank").map { .int(Int64($0)) } ?? .null),
                  ("qk_rope_head_dim", .int(Int64(rope))), ("qk_nope_head_dim", .int(Int64(qk - rope))), ("v_head_dim", .int(Int64(v))),
                  ("scoring_func", .string(sigmoid ? "sigmoid" : "softmax")),
                  // Groups of a softmax router are transformers' group_limited_greedy (a group scores its best expert);
                  // llama.cpp scores every router's groups by their two best (Docs/GGUF.md).
                  ("topk_method", .string(sigmoid ? "noaux_tc" : groups > 1 ? "group_limited_greedy" : "greedy")),
                  ("rope_interleave", .bool(true)), ("attention_bias", .bool(false))]
            try moeKeys(&c)
        }

        /// GLM-4.5's and Qwen3-Next's partial RoPE: `rope.dimension_count` of a head as transformers'
        /// `partial_rotary_factor`, which gives the count back (it turns int(head_dim x factor) dimensions).
        func partialRotaryFactor() throws(GGUFError) -> Double {
            guard (1...(1 << 20)).contains(headDim), let rope = ropeDim, rope > 0, rope <= headDim,
                  Int(Double(headDim) * (Double(rope) / Double(headDim))) == rope else {
                throw .badMetadata(file: file, key: a + ".rope.dimension_count", reason: "is \(ropeDim.map(String.init) ?? "missing"); expected 1...\(headDim) (the rotary part of a \(headDim)-wide head)")
            }
            return Double(rope) / Double(headDim)
        }

        /// Qwen3-Next (llama.cpp's qwen3next): the DeltaNet sizes from the `ssm.*` keys the converter writes
        /// (conv_kernel, state_size = key head size, group_count = key heads, time_step_rank = value heads,
        /// inner_size = value heads x value head size), the layer kinds from `attention.recurrent_layers` (else every
        /// `full_attention_interval`-th layer full, llama.cpp's rule), partial RoPE from `rope.dimension_count`.
        func qwen3Next(_ c: inout [(String, JSONValue)]) throws(GGUFError) {
            guard (1...(1 << 16)).contains(layers) else {
                throw .badMetadata(file: file, key: a + ".block_count", reason: "is \(blocks), expected 1...65536 layers")
            }
            let valueHeads = try required("ssm.time_step_rank"), inner = try required("ssm.inner_size")
            guard valueHeads > 0, inner > 0, inner % valueHeads == 0 else {
                throw .badMetadata(file: file, key: a + ".ssm.inner_size",
                                   reason: "is \(inner), not a multiple of ssm.time_step_rank (\(valueHeads) value heads)")
            }
            let recurrent: [Bool]
            let key = a + ".attention.recurrent_layers"
            if let v = md[key] {
                guard case .bools(let flags)? = v.arrayValue, flags.count >= layers else {
                    throw .badMetadata(file: file, key: key, reason: "must list one BOOL per layer (\(layers))")
                }
                recurrent = Array(flags.prefix(layers))
            } else {
                let interval = try int("full_attention_interval") ?? 4
                guard interval > 0 else {
                    throw .badMetadata(file: file, key: a + ".full_attention_interval", reason: "is \(interval), expected >= 1")
                }
                recurrent = (0..<max(0, min(layers, 1 << 16))).map { ($0 + 1) % interval != 0 }
            }
            let moe = try int("expert_feed_forward_length") ?? dims["blk.\(layers - 1).ffn_gate_exps.weight"]?[1]
            let shared = try int("expert_shared_feed_forward_length") ?? dims["blk.\(layers - 1).ffn_gate_shexp.weight"]?[1]
            guard let moe, let shared else { throw .missingKey(file: file, key: a + ".expert\(moe == nil ? "" : "_shared")_feed_forward_length") }
            c += [("num_experts", .int(Int64(experts))), ("moe_intermediate_size", .int(Int64(moe))),
                  ("shared_expert_intermediate_size", .int(Int64(shared))), ("norm_topk_prob", .bool(normTopK)),
                  ("decoder_sparse_step", .int(1)), ("mlp_only_layers", .array(denseLayers.map { .int(Int64($0)) })),
                  ("attention_bias", .bool(hasQBias)), ("partial_rotary_factor", .double(try partialRotaryFactor())),
                  ("layer_types", .array(recurrent.map { .string($0 ? "linear_attention" : "full_attention") })),
                  ("linear_conv_kernel_dim", .int(Int64(try required("ssm.conv_kernel")))),
                  ("linear_key_head_dim", .int(Int64(try required("ssm.state_size")))),
                  ("linear_num_key_heads", .int(Int64(try required("ssm.group_count")))),
                  ("linear_num_value_heads", .int(Int64(valueHeads))), ("linear_value_head_dim", .int(Int64(inner / valueHeads))),
                  ("hidden_act", .string("silu")), ("use_sliding_window", .bool(false))]
        }

        switch arch {
        case .llama:
            c.append(("num_local_experts", .int(Int64(experts))))
            let window = try int("attention.sliding_window")
            c.append(("sliding_window", window.map { .int(Int64($0)) } ?? .null))
        case .qwen2moe:
            c.append(("num_experts", .int(Int64(experts))))
            let moe = try int("expert_feed_forward_length") ?? dims["blk.0.ffn_gate_exps.weight"]?[1]
            if let moe { c.append(("moe_intermediate_size", .int(Int64(moe)))) }
            let shared = try int("expert_shared_feed_forward_length") ?? dims["blk.0.ffn_gate_shexp.weight"]?[1]
            if let shared { c.append(("shared_expert_intermediate_size", .int(Int64(shared)))) }
            c += [("qkv_bias", .bool(hasQBias)), ("norm_topk_prob", .bool(normTopK)), ("decoder_sparse_step", .int(1)),
                  ("mlp_only_layers", .array(denseLayers.map { .int(Int64($0)) })), ("use_sliding_window", .bool(false))]
        case .qwen3moe:
            c.append(("num_experts", .int(Int64(experts))))
            let moe = try int("expert_feed_forward_length") ?? dims["blk.0.ffn_gate_exps.weight"]?[1]
            if let moe { c.append(("moe_intermediate_size", .int(Int64(moe)))) }
            c += [("attention_bias", .bool(hasQBias)), ("norm_topk_prob", .bool(normTopK)), ("decoder_sparse_step", .int(1)),
                  ("mlp_only_layers", .array(denseLayers.map { .int(Int64($0)) })), ("use_sliding_window", .bool(false))]
        case .gptOss:
            // The converter writes the expert width as expert_feed_forward_length (feed_forward_length too).
            let expertWidth = try int("expert_feed_forward_length"), width = try int("feed_forward_length")
            guard let moe = expertWidth ?? width ?? dims["blk.0.ffn_gate_exps.weight"]?[1] else {
                throw .missingKey(file: file, key: a + ".expert_feed_forward_length")
            }
            c.removeAll { $0.0 == "intermediate_size" }
            c += [("intermediate_size", .int(Int64(moe))), ("num_local_experts", .int(Int64(experts))),
                  ("attention_bias", .bool(hasQBias)), ("hidden_act", .string("silu"))]
            c.append(("sliding_window", try int("attention.sliding_window").map { .int(Int64($0)) } ?? .null))
            c.append(("layer_types", .array(try slidingLayers(layers).map { .string($0 ? "sliding_attention" : "full_attention") })))
            // llama.cpp's graph uses gpt-oss's constants whatever the HF config had (llama-graph.cpp,
            // LLM_FFN_SWIGLU_OAI_MOE: alpha 1.702, limit 7); the converter does not store them.
            c += [("swiglu_alpha", .double(1.702)), ("swiglu_limit", .double(7))]
        case .deepseek2:
            try deepseek2(&c)
        case .glm4moe:
            c.removeAll { $0.0 == "head_dim" }
            c += [("head_dim", .int(Int64(headDim))), ("partial_rotary_factor", .double(try partialRotaryFactor())),
                  ("attention_bias", .bool(hasQBias)), ("use_qk_norm", .bool(dims["blk.0.attn_q_norm.weight"] != nil))]
            try moeKeys(&c)
        case .qwen3next:
            try qwen3Next(&c)
        case .olmoe:
            c.append(("num_experts", .int(Int64(experts))))
            c += [("attention_bias", .bool(hasQBias)), ("norm_topk_prob", .bool(normTopK)),
                  ("clip_qkv", try double("attention.clamp_kqv").map { .double($0) } ?? .null)]
        }
        c.append(("num_nextn_predict_layers", .int(0)))
        if let bos = md["tokenizer.ggml.bos_token_id"]?.intValue { c.append(("bos_token_id", .int(Int64(bos)))) }
        if let eos = md["tokenizer.ggml.eos_token_id"]?.intValue { c.append(("eos_token_id", .int(Int64(eos)))) }
        if let pad = md["tokenizer.ggml.padding_token_id"]?.intValue { c.append(("pad_token_id", .int(Int64(pad)))) }
        return GGUFModelConfig(architecture: arch, config: .object(JSONObject(keys: c.map(\.0), values: c.map(\.1))))
    }
}
