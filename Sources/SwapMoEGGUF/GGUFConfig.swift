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
        let layers = try required("block_count")
        let heads = try required("attention.head_count")
        let kvHeads = try int("attention.head_count_kv") ?? heads
        guard heads > 0 else { throw .badMetadata(file: file, key: a + ".attention.head_count", reason: "is 0") }
        let headDim = try int("attention.key_length") ?? hidden / heads
        if let v = try int("attention.value_length"), v != headDim {
            throw .badMetadata(file: file, key: a + ".attention.value_length", reason: "is \(v) but key_length is \(headDim); swapmoe needs equal key and value head sizes")
        }
        if let r = try int("rope.dimension_count"), r != headDim {
            throw .badMetadata(file: file, key: a + ".rope.dimension_count", reason: "is \(r), not the head size \(headDim); partial rotary embeddings are not supported")
        }
        let experts = try required("expert_count")
        let used = try required("expert_used_count")
        // gpt-oss's graph always takes the softmax of the chosen logits, whatever the key says.
        if arch != .gptOss, let g = try int("expert_gating_func"), g != 1 {
            throw .badMetadata(file: file, key: a + ".expert_gating_func", reason: "is \(g) (1 = softmax); only softmax routers are supported")
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
            }
            c.append(("rope_scaling", .object(JSONObject(keys: scaling.map(\.0), values: scaling.map(\.1)))))
        } else if dims["rope_freqs.weight"] != nil {
            c.append(("rope_scaling", .object(["rope_type": .string("llama3")])))
        }

        let normTopK: Bool
        if let v = md[a + ".expert_weights_norm"] {
            guard let b = v.boolValue else { throw .wrongKeyType(file: file, key: a + ".expert_weights_norm", expected: "a BOOL", found: v.type.description) }
            normTopK = b
        } else {
            normTopK = arch.defaultNormTopK
        }
        let hasQBias = dims["blk.0.attn_q.bias"] != nil
        // Layers without a router are dense (transformers' mlp_only_layers).
        let denseLayers = (0..<max(0, min(layers, 1 << 16))).filter { dims["blk.\($0).ffn_gate_inp.weight"] == nil }

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
        case .olmoe:
            c.append(("num_experts", .int(Int64(experts))))
            c += [("attention_bias", .bool(hasQBias)), ("norm_topk_prob", .bool(normTopK)),
                  ("clip_qkv", try double("attention.clamp_kqv").map { .double($0) } ?? .null)]
        }
        if let bos = md["tokenizer.ggml.bos_token_id"]?.intValue { c.append(("bos_token_id", .int(Int64(bos)))) }
        if let eos = md["tokenizer.ggml.eos_token_id"]?.intValue { c.append(("eos_token_id", .int(Int64(eos)))) }
        if let pad = md["tokenizer.ggml.padding_token_id"]?.intValue { c.append(("pad_token_id", .int(Int64(pad)))) }
        return GGUFModelConfig(architecture: arch, config: .object(JSONObject(keys: c.map(\.0), values: c.map(\.1))))
    }
}
