import Testing
import SwapMoECore
import SwapMoEModels
import SwapMoEPacker

@Suite("pack --quant")
struct QuantSpecTests {
    @Test("a type alone quantizes the experts; part=type pairs name each part")
    func parse() throws {
        #expect(try QuantSpec(parsing: "q4_K") == QuantSpec(experts: .q4_K))
        #expect(try QuantSpec(parsing: "Q6_K") == QuantSpec(experts: .q6_K))
        let s = try QuantSpec(parsing: "experts=q4_K,dense=q8_0,embed=q8_0,head=q6_K")
        #expect(s == QuantSpec(experts: .q4_K, dense: .q8_0, embed: .q8_0, head: .q6_K))
        #expect(s.description == "experts=Q4_K,dense=Q8_0,embed=Q8_0,head=Q6_K")
        #expect(try QuantSpec(parsing: "dense=q8_0").experts == nil)
        #expect(try QuantSpec(parsing: "experts=q5_0,dense=Q4_1,embed=q5_1,head=mxfp4")
                == QuantSpec(experts: .q5_0, dense: .q4_1, embed: .q5_1, head: .mxfp4))
        #expect(try QuantSpec(parsing: "experts=q2_K,dense=q3_K") == QuantSpec(experts: .q2_K, dense: .q3_K))
        #expect(throws: QuantSpecError.badType("bf16")) { try QuantSpec(parsing: "bf16") }
        #expect(throws: QuantSpecError.badPart("router")) { try QuantSpec(parsing: "router=q8_0") }
        #expect(throws: QuantSpecError.badItem("")) { try QuantSpec(parsing: "experts=q4_K,") }
    }

    @Test("routers, norms, biases and position tables are never quantized; matrices, embeddings and heads may be")
    func roles() {
        let cases: [(String, [Int], TensorRole)] = [
            ("model.embed_tokens.weight", [100, 32], .embedding), ("shared.weight", [100, 32], .embedding),
            ("lm_head.weight", [100, 32], .head),
            ("model.layers.0.mlp.gate.weight", [8, 32], .router),
            ("model.layers.0.block_sparse_moe.gate.weight", [8, 32], .router),
            ("model.layers.0.mlp.shared_expert_gate.weight", [1, 32], .router),
            ("encoder.block.1.layer.1.mlp.router.classifier.weight", [8, 32], .router),
            ("model.layers.0.self_attn.q_proj.weight", [32, 32], .matrix),
            ("model.layers.0.mlp.shared_expert.gate_proj.weight", [64, 32], .matrix),
            ("decoder.block.0.layer.2.mlp.wi.weight", [64, 32], .matrix),
            ("model.layers.0.self_attn.q_proj.bias", [32], .other),
            ("model.layers.0.input_layernorm.weight", [32], .other),
            ("model.layers.0.self_attn.q_norm.weight", [32], .other),
            ("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", [32, 4], .other),
        ]
        for (name, shape, role) in cases { #expect(TensorRole(name: name, shape: shape) == role, "\(name)") }
        let spec = QuantSpec(experts: .q4_K, dense: .q8_0)
        #expect(spec.requested(for: .router) == nil && spec.requested(for: .embedding) == nil && spec.requested(for: .matrix) == .q8_0)
    }

    @Test("a K-type falls back as llama-quantize does (Q2_K/Q3_K to Q4_0, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0) when rows are whole 32-blocks but not 256-blocks, else stays in float")
    func fallback() {
        #expect(QuantSpec.resolve(.q4_K, cols: 512) == .q4_K)
        #expect(QuantSpec.resolve(.q4_K, cols: 96) == .q5_0 && QuantSpec.resolve(.q5_K, cols: 96) == .q5_1)
        #expect(QuantSpec.resolve(.q6_K, cols: 96) == .q8_0 && QuantSpec.resolve(.q3_K, cols: 96) == .q4_0)
        #expect(QuantSpec.resolve(.q4_K, cols: 80) == nil)
        #expect(QuantSpec.resolve(.q4_0, cols: 48) == nil)
        #expect(QuantSpec.resolve(.q2_K, cols: 96) == .q4_0 && QuantSpec.resolve(.mxfp4, cols: 96) == .mxfp4)
        #expect(QuantSpec.resolve(.iq4_xs, cols: 96) == .iq4_nl && QuantSpec.resolve(.iq4_xs, cols: 512) == .iq4_xs)
        #expect(QuantSpec.resolve(nil, cols: 512) == nil)
    }
}
