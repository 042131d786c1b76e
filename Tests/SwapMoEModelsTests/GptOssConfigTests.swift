import Foundation
import Testing
import SwapMoEKernels
@testable import SwapMoEModels

/// gpt-oss's config.json as the hub writes it, and what the family refuses.
@Suite("gpt-oss config")
struct GptOssConfigTests {
    /// https://huggingface.co/openai/gpt-oss-20b/raw/main/config.json (layer_types: 12 x [sliding, full]).
    static func hub20b(_ edit: (inout [String: Any]) -> Void = { _ in }) -> Data {
        var c: [String: Any] = [
            "architectures": ["GptOssForCausalLM"], "attention_bias": true, "attention_dropout": 0.0, "eos_token_id": 200002,
            "experts_per_token": 4, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2880, "initial_context_length": 4096,
            "initializer_range": 0.02, "intermediate_size": 2880,
            "layer_types": Array(repeating: ["sliding_attention", "full_attention"], count: 12).flatMap { $0 },
            "max_position_embeddings": 131072, "model_type": "gpt_oss", "num_attention_heads": 64, "num_experts_per_tok": 4,
            "num_hidden_layers": 24, "num_key_value_heads": 8, "num_local_experts": 32, "output_router_logits": false,
            "pad_token_id": 199999,
            "quantization_config": ["modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens", "lm_head"],
                                    "quant_method": "mxfp4"],
            "rms_norm_eps": 1e-05,
            "rope_scaling": ["beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0, "original_max_position_embeddings": 4096,
                             "rope_type": "yarn", "truncate": false],
            "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128, "swiglu_limit": 7.0,
            "tie_word_embeddings": false, "transformers_version": "4.55.0.dev0", "use_cache": true, "vocab_size": 201088]
        edit(&c)
        return try! JSONSerialization.data(withJSONObject: c)
    }

    @Test("the hub's gpt-oss-20b config: alternating windows of 128, YaRN x32 with its mscale, sinks, biased router, clamped SwiGLU")
    func hubConfig() throws {
        let c = try #require(try ModelFamily.detectDecoder(configData: Self.hub20b()) as? GptOssConfig)
        let s = try c.spec()
        #expect(s.layers == 24 && s.experts == 32 && s.expertsPerToken == 4 && s.heads == 64 && s.kvHeads == 8 && s.headDim == 64)
        #expect(s.window == Array(repeating: [128, nil], count: 12).flatMap { $0 })
        #expect(s.ropeTheta == 150_000 && s.qkvBias && s.outputBias && s.attentionSinks && s.routerBias)
        #expect(s.ropeScaling == .yarn(YaRN(factor: 32, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, truncate: false)))
        #expect(s.expertActivation == .clampedSwiGLU(alpha: 1.702, limit: 7))
        #expect(s.routerNames(3) == ["model.layers.3.mlp.router.weight"])
        #expect(c.moeLayers == Array(0..<24) && c.expertIntermediate(layer: 0) == 2880)
        // transformers 5's spelling of the same settings.
        let t5 = try #require(try ModelFamily.detectDecoder(configData: Self.hub20b {
            $0["rope_scaling"] = nil; $0["rope_theta"] = nil
            $0["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 150000.0, "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0,
                                     "truncate": false, "original_max_position_embeddings": 4096]
        }) as? GptOssConfig)
        #expect(try t5.spec().ropeScaling == s.ropeScaling && t5.base.ropeTheta == 150_000)
        // transformers' defaults: sliding layers first, then alternating.
        let plain = try #require(try ModelFamily.detectDecoder(configData: Self.hub20b { $0["layer_types"] = nil }) as? GptOssConfig)
        #expect(try plain.spec().window == s.window)
    }

    /// One bad value per case, named by what the error must mention.
    static func breakConfig(_ key: String, _ c: inout [String: Any]) {
        switch key {
        case "layer_types": c["layer_types"] = ["sliding_attention"]
        case "chunked_attention": c["layer_types"] = Array(repeating: "chunked_attention", count: 24)
        case "sliding_window": c["sliding_window"] = NSNull()
        case "experts_per_token": c["experts_per_token"] = 2
        case "quant_method": c["quantization_config"] = ["quant_method": "bitsandbytes"]
        case "swiglu_limit": c["swiglu_limit"] = -1
        case "hidden_act": c["hidden_act"] = "gelu"
        case "rope_scaling.factor": c["rope_scaling"] = ["rope_type": "yarn", "factor": 0.5, "original_max_position_embeddings": 4096]
        default: c["rope_scaling"] = ["rope_type": "longrope", "factor": 2]
        }
    }

    @Test("refused with the key named: inconsistent, unknown or absurd values",
          arguments: ["layer_types", "chunked_attention", "sliding_window", "experts_per_token", "quant_method", "swiglu_limit",
                      "hidden_act", "rope_scaling.factor", "RoPE scaling 'longrope'"])
    func refused(key: String) {
        do {
            _ = try ModelFamily.detectDecoder(configData: Self.hub20b { Self.breakConfig(key, &$0) }).spec()
            Issue.record("accepted a config with a bad \(key)")
        } catch {
            #expect(error.description.contains(key), "\(error.description)")
        }
    }
}
