import Foundation
import Testing
import SwapMoECore
import SwapMoEModels
import SwapMoETestSupport
@testable import SwapMoEGGUF

/// Qwen3-Next (`qwen3next`): metadata, names and the converter's changes undone (`GGUFTensorNames+Qwen3Next`).
@Suite("GGUF Qwen3-Next: metadata, names, the converter's changes undone")
struct GGUFQwen3NextTests {
    /// Whether two arrays of a norm's or A_log's values give the engine the same floats: 1 + w (the zero-centred
    /// norm's scale) and −exp(A_log) (the decay's A), bit for bit.
    static func sameInEngine(_ ours: [Float], _ theirs: [Float], _ map: GGUFValueMap) -> Bool {
        let f: (Float) -> UInt32 = map == .minusOne ? { (1 + $0).bitPattern } : { (-expf($0)).bitPattern }
        return ours.count == theirs.count && ours.map(f) == theirs.map(f)
    }

    static let q = "qwen3next."
    static let metadata: [String: GGUFValue] = [
        "general.architecture": .string("qwen3next"), q + "embedding_length": .uint(64, .uint32), q + "block_count": .uint(5, .uint32),
        q + "attention.head_count": .uint(4, .uint32), q + "attention.head_count_kv": .uint(2, .uint32),
        q + "attention.key_length": .uint(32, .uint32), q + "attention.value_length": .uint(32, .uint32),
        q + "rope.dimension_count": .uint(8, .uint32), q + "expert_count": .uint(8, .uint32), q + "expert_used_count": .uint(2, .uint32),
        q + "expert_feed_forward_length": .uint(16, .uint32), q + "expert_shared_feed_forward_length": .uint(24, .uint32),
        q + "vocab_size": .uint(100, .uint32), q + "ssm.conv_kernel": .uint(4, .uint32), q + "ssm.state_size": .uint(16, .uint32),
        q + "ssm.group_count": .uint(2, .uint32), q + "ssm.time_step_rank": .uint(4, .uint32), q + "ssm.inner_size": .uint(48, .uint32),
        q + "nextn_predict_layers": .uint(1, .uint32), q + "expert_weights_norm": .bool(false),
        q + "attention.recurrent_layers": .array(.bools([true, false, false, true, false])),
    ]

    func config(_ md: [String: GGUFValue]) throws -> JSONValue {
        try GGUFConfigMapping.config(GGUFConfigInputs(fileName: "m.gguf", metadata: md, tensorDims: [:])).config
    }

    @Test("qwen3next metadata: DeltaNet sizes from ssm.*, layer kinds from recurrent_layers (else full_attention_interval), partial RoPE, llama.cpp's renormalised top-k; the MTP layer dropped")
    func metadata() throws {
        let c = try config(Self.metadata)
        #expect(c["model_type"]?.stringValue == "qwen3_next" && c["num_hidden_layers"]?.intValue == 4)
        #expect(c["layer_types"]?.arrayValue?.compactMap(\.stringValue) == ["linear_attention", "full_attention", "full_attention", "linear_attention"])
        #expect(c["linear_key_head_dim"]?.intValue == 16 && c["linear_value_head_dim"]?.intValue == 12 && c["linear_num_key_heads"]?.intValue == 2)
        #expect(c["linear_num_value_heads"]?.intValue == 4 && c["linear_conv_kernel_dim"]?.intValue == 4 && c["partial_rotary_factor"]?.doubleValue == 0.25)
        #expect(c["moe_intermediate_size"]?.intValue == 16 && c["shared_expert_intermediate_size"]?.intValue == 24)
        // qwen3next.cpp always renormalises (build_moe_ffn's norm_w is true) and reads no expert_weights_norm.
        #expect(c["norm_topk_prob"]?.boolValue == true)
        let family = try ModelFamily.detectDecoder(configData: try JSONEncoder().encode(c))
        try family.validate()
        #expect((family as? Qwen3NextConfig)?.valueHeadDim == 12)

        var md = Self.metadata
        md.removeValue(forKey: Self.q + "attention.recurrent_layers")
        md[Self.q + "full_attention_interval"] = .uint(2, .uint32)
        #expect(try config(md)["layer_types"]?.arrayValue?.compactMap(\.stringValue) == ["linear_attention", "full_attention", "linear_attention", "full_attention"])
        md.removeValue(forKey: Self.q + "full_attention_interval")
        #expect(try config(md)["layer_types"]?.arrayValue?.compactMap(\.stringValue) == ["linear_attention", "linear_attention", "linear_attention", "full_attention"])

        for (key, value, says) in [("ssm.inner_size", GGUFValue.uint(50, .uint32), "ssm.time_step_rank"),
                                   ("attention.recurrent_layers", .array(.bools([true, false])), "one BOOL per layer"),
                                   ("rope.dimension_count", .uint(40, .uint32), "rotary part")] {
            var bad = Self.metadata
            bad[Self.q + key] = value
            #expect { try config(bad) } throws: { "\($0)".contains(Self.q + key) && "\($0)".contains(says) }
        }
        var missing = Self.metadata
        missing.removeValue(forKey: Self.q + "ssm.state_size")
        #expect { try config(missing) } throws: { "\($0)".contains("qwen3next.ssm.state_size") }
    }

    @Test("qwen3next tensor names: DeltaNet tensors under linear_attn, norms and A_log mapped back, attn_qkv joined with attn_gate, MTP layers skipped")
    func names() {
        func map(_ name: String) -> GGUFTensorMapping.Target? {
            GGUFTensorNames.map(name, arch: .qwen3next, heads: 4, kvHeads: 2, experts: 2, layers: 2)?.target
        }
        let a = "model.layers.1.linear_attn."
        #expect(map("blk.1.ssm_a") == .values(a + "A_log", .logOfNegated))
        #expect(map("blk.1.ssm_dt.bias") == .tensor(a + "dt_bias") && map("blk.1.ssm_conv1d.weight") == .tensor(a + "conv1d.weight"))
        #expect(map("blk.1.ssm_ba.weight") == .tensor(a + "in_proj_ba.weight") && map("blk.1.ssm_out.weight") == .tensor(a + "out_proj.weight"))
        #expect(map("blk.1.ssm_norm.weight") == .tensor(a + "norm.weight") && map("blk.1.ssm_in.weight") == .tensor(a + "in_proj_qkvz.weight"))
        #expect(map("blk.1.attn_qkv.weight") == .deltaNetInput(a + "in_proj_qkvz.weight", gate: "blk.1.attn_gate.weight"))
        #expect(map("blk.1.attn_gate.weight") == .mergedInto("blk.1.attn_qkv.weight"))
        #expect(map("blk.0.attn_norm.weight") == .values("model.layers.0.input_layernorm.weight", .minusOne))
        #expect(map("blk.0.post_attention_norm.weight") == .values("model.layers.0.post_attention_layernorm.weight", .minusOne))
        #expect(map("blk.0.attn_q_norm.weight") == .values("model.layers.0.self_attn.q_norm.weight", .minusOne))
        #expect(map("output_norm.weight") == .values("model.norm.weight", .minusOne))
        #expect(map("blk.0.attn_q.weight") == .tensor("model.layers.0.self_attn.q_proj.weight"))
        #expect(map("blk.0.ffn_gate_inp_shexp.weight") == .tensor("model.layers.0.mlp.shared_expert_gate.weight"))
        #expect(map("blk.0.ffn_up_shexp.weight") == .tensor("model.layers.0.mlp.shared_expert.up_proj.weight"))
        #expect(map("blk.0.ffn_down_exps.weight") == .experts(["model.layers.0.mlp.experts.0.down_proj.weight", "model.layers.0.mlp.experts.1.down_proj.weight"]))
        #expect(map("blk.2.ssm_a") == .skipped && map("blk.2.nextn.eh_proj.weight") == .skipped)
        for bad in ["blk.0.ssm_a.weight", "blk.x.ssm_a", "blk.0.ssm_dt.weight", "blk.0.attn_gate.bias", "blk.0.ffn_gate_tail.weight"] {
            #expect(map(bad) == nil, "\(bad)")
        }
        #expect(GGUFTensorNames.map("blk.0.ssm_a", arch: .qwen3moe, heads: 4, kvHeads: 2, experts: 2) == nil)
        #expect(GGUFTensorNames.map("output_norm.weight", arch: .qwen3moe, heads: 4, kvHeads: 2, experts: 2)?.target == .tensor("model.norm.weight"))
    }

    @Test("in_proj_qkvz rows: the converter's split by hand, and join inverting it on random rows")
    func rows() {
        // 2 key heads of 1 row, 2 v and z rows each: HF rows q0 k0 v0 v0' z0 z0' q1 k1 v1 v1' z1 z1'.
        let hf: [UInt8] = [10, 20, 30, 31, 40, 41, 11, 21, 32, 33, 42, 43]
        let s = GGUFDeltaNetRows.split(hf, rows: 12, keyDim: 1, valueRows: 2, groups: 2)
        #expect(s?.qkv == [10, 11, 20, 21, 30, 31, 32, 33] && s?.gate == [40, 41, 42, 43])
        var rng = SplitMix64(state: 19)
        for (groups, dk, v, width) in [(2, 8, 12, 6), (1, 4, 4, 3), (16, 2, 4, 1)] {
            let rows = groups * (2 * dk + 2 * v)
            let bytes = (0..<(rows * width)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let p = GGUFDeltaNetRows.split(bytes, rows: rows, keyDim: dk, valueRows: v, groups: groups)!
            #expect(GGUFDeltaNetRows.join(qkv: p.qkv, qkvRows: groups * (2 * dk + v), gate: p.gate, gateRows: groups * v, groups: groups) == bytes)
        }
        #expect(GGUFDeltaNetRows.join(qkv: [1, 2, 3], qkvRows: 3, gate: [4], gateRows: 1, groups: 2) == nil)
    }

    @Test("value maps: v - 1 gives back 1 + w = v for every kind of norm weight; log(-A) gives back -expf = A exactly")
    func valueMaps() {
        var rng = SplitMix64(state: 23)
        var ws: [Float] = [0, -0.5, -1, -2, -3.75, 0.999, 1e-9, -1e-9, 3e5, -0.4999999, 1.5e-3]
        for _ in 0..<20000 { ws.append(Float(Int(rng.next() % 2_000_001) - 1_000_000) * 3e-6 * Float(1 << (rng.next() % 6))) }
        for w in ws {
            let v = 1 + w
            #expect(1 + GGUFValueMap.minusOne.apply(v) == v, "w \(w)")
        }
        var missed = 0
        for _ in 0..<20000 {
            let x = Float(Int(rng.next() % 1_400_001) - 1_000_000) * 1e-5  // A_log in [-10, 4]
            let a = -expf(x)
            if -expf(GGUFValueMap.logOfNegated.apply(a)) != a { missed += 1 }
        }
        #expect(missed == 0)
    }

    @Test("the Q4_K_M file's attn_qkv (Q6_K) and attn_gate (Q4_K) stay two tensors, in_proj_qkv and in_proj_z, as stored; the f32 file's join into in_proj_qkvz")
    func deltaNetInputTypes() throws {
        let wide = try GGUFModel(path: GGUFFixtures.path("qwen3_next_sparse-wide-q4_k_m.gguf"))
        let hf = Dictionary(uniqueKeysWithValues: try wide.hfTensors().map { ($0.name, $0) })
        let a = "model.layers.1.linear_attn."
        let qkv = try #require(hf[a + "in_proj_qkv.weight"]), z = try #require(hf[a + "in_proj_z.weight"])
        #expect(hf[a + "in_proj_qkvz.weight"] == nil && qkv.source.type.name == "Q6_K" && z.source.type.name == "Q4_K")
        #expect(qkv.shape == [512, 256] && z.shape == [256, 256] && !qkv.isCopy && !z.isCopy)
        #expect(hf[a + "conv1d.weight"]?.shape == [512, 1, 4] && hf[a + "A_log"]?.isF32 == true)
        let f32 = try GGUFModel(path: GGUFFixtures.path("qwen3_next_sparse-f32.gguf"))
        let joined = try #require(try f32.hfTensors().first { $0.name == "model.layers.0.linear_attn.in_proj_qkvz.weight" })
        #expect(joined.shape == [96, 48] && joined.deltaNetGate?.name == "blk.0.attn_gate.weight" && f32.hfBytes(joined).count == 96 * 48 * 4)
    }
}
