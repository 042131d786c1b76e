import Foundation
import Testing
import SwapMoEKernels
import SwapMoEArchive
import SwapMoEEngine
import SwapMoEPacker
import SwapMoETestSupport
@testable import SwapMoEModels

/// Qwen3-Next's config.json, its Gated DeltaNet state and the `qwen3_next` fixture (golden.json from
/// Tools/make_qwen3next_fixtures.py; `ParityTests` checks the one-shot prefill, greedy decode and perplexity).
@Suite("Qwen3-Next")
struct Qwen3NextTests {
    /// Qwen/Qwen3-Next-80B-A3B-Instruct's config.json, every key.
    static func hub(_ edit: (inout [String: Any]) -> Void = { _ in }) -> Data {
        var c: [String: Any] = [
            "architectures": ["Qwen3NextForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "decoder_sparse_step": 1,
            "eos_token_id": 151645, "full_attention_interval": 4, "head_dim": 256, "hidden_act": "silu", "hidden_size": 2048,
            "initializer_range": 0.02, "intermediate_size": 5120, "linear_conv_kernel_dim": 4, "linear_key_head_dim": 128,
            "linear_num_key_heads": 16, "linear_num_value_heads": 32, "linear_value_head_dim": 128, "max_position_embeddings": 262144,
            "mlp_only_layers": [Int](), "model_type": "qwen3_next", "moe_intermediate_size": 512, "norm_topk_prob": true,
            "num_attention_heads": 16, "num_experts": 512, "num_experts_per_tok": 10, "num_hidden_layers": 48,
            "num_key_value_heads": 2, "output_router_logits": false, "partial_rotary_factor": 0.25, "rms_norm_eps": 1e-06,
            "rope_scaling": NSNull(), "rope_theta": 10000000, "router_aux_loss_coef": 0.001, "shared_expert_intermediate_size": 512,
            "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.57.0.dev0", "use_cache": true,
            "use_sliding_window": false, "vocab_size": 151936]
        edit(&c)
        return try! JSONSerialization.data(withJSONObject: c)
    }

    static let folder = TestPaths.fixtures + "/models/qwen3_next"

    @Test("the hub's Qwen3-Next-80B-A3B config: every 4th layer full attention, DeltaNet shapes, partial rotary, zero-centred norms")
    func hubConfig() throws {
        let config = try ModelFamily.detectDecoder(configData: Self.hub())
        #expect(type(of: config).family == .qwen3Next)
        let s = try config.decoderSpec()
        #expect(s.hidden == 2048 && s.layers == 48 && s.heads == 16 && s.kvHeads == 2 && s.headDim == 256 && s.experts == 512)
        #expect(s.expertsPerToken == 10 && s.router.renormalizes && s.sharedExpertIntermediate == 512 && s.sharedExpertGated)
        #expect(s.rotaryDim == 64 && s.ropeTheta == 1e7 && s.gatedAttention && s.zeroCentredNorms && s.qkNorm == .perHead)
        let d = try #require(s.deltaNet)
        #expect(d == DeltaNetSpec(keyHeads: 16, valueHeads: 32, keyDim: 128, valueDim: 128, convKernel: 4,
                                  layers: Set((0..<48).filter { ($0 + 1) % 4 != 0 })))
        #expect(s.moeLayers.count == 48 && config.packIgnores("mtp.layers.0.mlp.gate.weight") && !config.packIgnores("model.norm.weight"))
    }

    @Test("what the family refuses, naming the key")
    func refusals() {
        func error(_ edit: (inout [String: Any]) -> Void) -> String {
            do { _ = try ModelFamily.detectDecoder(configData: Self.hub(edit)); return "" } catch { return "\(error)" }
        }
        #expect(error { $0["hidden_act"] = "gelu" }.contains("hidden_act 'gelu'"))
        #expect(error { $0["use_sliding_window"] = true }.contains("use_sliding_window"))
        #expect(error { $0["linear_num_value_heads"] = 24 }.contains("multiple of linear_num_key_heads"))
        #expect(error { $0["layer_types"] = ["linear_attention", "sliding_attention"] }.contains("layer_types has 2 entries"))
        #expect(error { $0["layer_types"] = Array(repeating: "sliding_attention", count: 48) }.contains("layer type 'sliding_attention'"))
        #expect(error { $0["full_attention_interval"] = 0 }.contains("full_attention_interval"))
        #expect(error { $0["partial_rotary_factor"] = 0.001 }.contains("partial_rotary_factor"))
        #expect(error { $0["linear_conv_kernel_dim"] = 0 }.contains("linear_conv_kernel_dim"))
        #expect(error { $0["rope_scaling"] = ["type": "yarn", "factor": 4.0, "original_max_position_embeddings": 262144] }.contains("RoPE scaling 'yarn'"))
        #expect(error { _ in } == "")
    }

    @Test("plan counts each DeltaNet layer's conv inputs and recurrent state per sequence, and no KV rows for those layers")
    func stateBytes() throws {
        let s = try ModelFamily.detectDecoder(configData: Self.hub()).decoderSpec()
        let d = try #require(s.deltaNet)
        let kv = 12 * 4096 * 2 * (2 * 256) * 4   // 12 full-attention layers x 4096 positions x (k + v)
        let state = 36 * ((3 * (2 * 2048 + 4096)) + 32 * 128 * 128) * 4
        #expect(d.stateFloats * 4 * 36 == state)
        #expect(DecoderSequence.bytes(spec: s, context: 4096) == kv + state)
        #expect(KVCache.rows(spec: s, context: 4096, batch: 64).enumerated().allSatisfy { l, r in r == ((l + 1) % 4 == 0 ? 4096 : 0) })
    }

    /// The fixture packed and loaded with every expert resident.
    static func model(context: Int = 128, batch: Int = DecoderModel.defaultBatch) throws -> (DecoderModel, Golden, String) {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json")))
        let dir = TestPaths.tempDir()
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        return (try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: context, threads: 1, batch: batch),
                golden, dir)
    }

    static func expectClose(_ got: [Float], _ want: [Float], _ what: String) {
        let scale = max(want.map(abs).max() ?? 1, 1)
        let diff = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
        #expect(got.count == want.count && diff <= 1e-4 * scale, "\(what): logits differ by \(diff) (scale \(scale))")
    }

    @Test("the prompt fed token by token (the recurrent decode path) gives transformers' one-shot logits")
    func tokenByToken() throws {
        let (model, golden, dir) = try Self.model()
        defer { TestPaths.remove(dir) }
        var logits: [Float] = []
        for t in golden.promptIds { logits = try model.forward([t]) }
        Self.expectClose(logits, golden.logitsLast, "token by token")
        // Batches of 5 (a prefill cut mid-prompt carries the conv and recurrent states over), after a reset.
        model.reset()
        for i in stride(from: 0, to: golden.promptIds.count, by: 5) {
            logits = try model.forward(Array(golden.promptIds[i..<min(i + 5, golden.promptIds.count)]))
        }
        Self.expectClose(logits, golden.logitsLast, "batches of 5")
    }

    @Test("layer-major prefill (every batch through a DeltaNet layer before the next layer) carries each layer's state across batches")
    func layerMajor() throws {
        let (model, golden, dir) = try Self.model(batch: 8)
        defer { TestPaths.remove(dir) }
        model.layerMajorPrefill = true
        Self.expectClose(try model.forward(golden.promptIds), golden.logitsLast, "layer-major, batches of 8")
        model.layerMajorPrefill = false
        model.reset()
        Self.expectClose(try model.forward(golden.promptIds), golden.logitsLast, "batch-major, batches of 8")
    }

    @Test("reset and truncate start the recurrent state over; a batched step matches the lone decode")
    func resetAndStep() throws {
        let (model, golden, dir) = try Self.model()
        defer { TestPaths.remove(dir) }
        let first = try model.forward(golden.promptIds)
        _ = try model.forward([golden.greedyIds[0]])
        #expect(model.truncate(to: 3) == 0, "a recurrent state cannot be cut back")
        #expect(model.truncate(to: model.position) == model.position)
        model.reset()
        #expect(try model.forward(golden.promptIds) == first, "after reset, the same logits bit for bit")
        let lone = try model.forward([golden.greedyIds[0]])
        let other = DecoderSequence(spec: model.spec, context: 128, batch: DecoderModel.defaultBatch)
        model.use(other)
        _ = try model.forward(golden.promptIds)
        // Two rows of different sequences in one step: the second sequence is the first at one more position.
        let s2 = DecoderSequence(spec: model.spec, context: 128, batch: DecoderModel.defaultBatch)
        model.use(s2)
        _ = try model.forward(Array(golden.promptIds.prefix(7)))
        let rows = try model.step([(other, golden.greedyIds[0]), (s2, golden.promptIds[7])])
        Self.expectClose(rows[0], lone, "batched step")
    }
}
