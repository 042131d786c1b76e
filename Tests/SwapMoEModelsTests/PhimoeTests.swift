import Foundation
import Testing
import SwapMoEKernels
import SwapMoEArchive
import SwapMoEEngine
import SwapMoEPacker
import SwapMoECheckpoint
import SwapMoETestSupport
import SwapMoETokenizers
@testable import SwapMoEModels

/// Phi-3.5-MoE's config.json and its sparsemixer router.
@Suite("Phi-3.5-MoE")
struct PhimoeTests {
    /// microsoft/Phi-3.5-MoE-instruct's config.json, every key, with LongRoPE's 64-entry factor lists replaced by
    /// stand-ins of the same length (their values do not change what is read).
    static func hub(_ edit: (inout [String: Any]) -> Void = { _ in }) -> Data {
        let short = (0..<64).map { 1 + Double($0) / 64 }, long = (0..<64).map { 1 + Double($0) }
        var c: [String: Any] = [
            "architectures": ["PhiMoEForCausalLM"], "attention_bias": true, "attention_dropout": 0.0,
            "auto_map": ["AutoConfig": "configuration_phimoe.PhiMoEConfig", "AutoModelForCausalLM": "modeling_phimoe.PhiMoEForCausalLM"],
            "bos_token_id": 1, "eos_token_id": 32000, "hidden_act": "silu", "hidden_dropout": 0.0, "hidden_size": 4096,
            "initializer_range": 0.02, "input_jitter_noise": 0.01, "intermediate_size": 6400, "lm_head_bias": true,
            "max_position_embeddings": 131072, "model_type": "phimoe", "num_attention_heads": 32, "num_experts_per_tok": 2,
            "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 16, "original_max_position_embeddings": 4096,
            "output_router_logits": false, "rms_norm_eps": 1e-05,
            "rope_scaling": ["long_factor": long, "long_mscale": 1.243163121016122, "original_max_position_embeddings": 4096,
                             "short_factor": short, "short_mscale": 1.243163121016122, "type": "longrope"],
            "rope_theta": 10000.0, "router_aux_loss_coef": 0.0, "router_jitter_noise": 0.01, "sliding_window": 131072,
            "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.43.3", "use_cache": true,
            "vocab_size": 32064]
        edit(&c)
        return try! JSONSerialization.data(withJSONObject: c)
    }

    @Test("the hub's Phi-3.5-MoE-instruct config: LayerNorms with biases, attention and LM-head biases, LongRoPE, sparsemixer")
    func hubConfig() throws {
        let config = try ModelFamily.detectDecoder(configData: Self.hub())
        #expect(type(of: config).family == .phimoe)
        let s = try config.decoderSpec()
        #expect(s.hidden == 4096 && s.layers == 32 && s.heads == 32 && s.kvHeads == 8 && s.headDim == 128 && s.experts == 16)
        #expect(s.layerNorm && s.lmHeadBias && s.qkvBias && s.outputBias && s.eps == 1e-5)
        #expect(s.sparseMixer == SparseMixer(jitter: 0.01) && s.expertsPerToken == 2)
        #expect(s.window.allSatisfy { $0 == 131072 })
        guard case .longRoPE(let l)? = s.ropeScaling else { Issue.record("no LongRoPE in the spec"); return }
        #expect(l.originalMaxPositions == 4096 && l.factor == 32 && l.shortFactor.count == 64 && l.longMscale == 1.243163121016122)
    }

    @Test("what the family refuses: other top-k, activations, LongRoPE without its mscales or with short lists, LongRoPE elsewhere")
    func refusals() throws {
        func error(_ edit: (inout [String: Any]) -> Void) -> String {
            do { _ = try ModelFamily.detectDecoder(configData: Self.hub(edit)); return "" } catch { return "\(error)" }
        }
        #expect(error { $0["num_experts_per_tok"] = 4 }.contains("num_experts_per_tok 4"))
        #expect(error { $0["hidden_act"] = "gelu" }.contains("hidden_act 'gelu'"))
        #expect(error { c in var r = c["rope_scaling"] as! [String: Any]; r["long_mscale"] = nil; c["rope_scaling"] = r }.contains("long_mscale"))
        #expect(error { c in var r = c["rope_scaling"] as! [String: Any]; r["short_factor"] = [1.0, 2.0]; c["rope_scaling"] = r }.contains("short_factor has 2 entries"))
        #expect(error { c in var r = c["rope_scaling"] as! [String: Any]; r["type"] = "dynamic"; c["rope_scaling"] = r }.contains("RoPE scaling 'dynamic'"))
        let mixtral = try! JSONSerialization.data(withJSONObject: ["model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 4, "vocab_size": 10, "rope_scaling": ["type": "longrope", "short_factor": [1.0], "long_factor": [1.0]]])
        #expect((try? ModelFamily.detectDecoder(configData: mixtral)) == nil, "LongRoPE is Phi-3.5-MoE's only")
    }

    @Test("sparsemixer: the best, then the best of the rest, each weighted by its softmax over the logits within the jitter threshold")
    func sparseMixer() {
        let logits: [Float] = [1.0, 0.9, 0.2, -1.0, 0.95]
        let r = SparseMixer(jitter: 0.1).route(logits: logits, tokens: 1, experts: 5, allowed: nil)
        // First: expert 0, sharing with 1 (0.1 / 1 <= 0.2) and 4; second: expert 4 (max 0.95), sharing with 1 only.
        #expect(abs(r.perExpert[0][0].weight - 1 / (1 + expf(-0.1) + expf(-0.05))) < 1e-6)
        #expect(abs(r.perExpert[4][0].weight - 1 / (1 + expf(-0.05))) < 1e-6)
        #expect(r.perExpert[1].isEmpty && r.perExpert[2].isEmpty && r.perExpert[3].isEmpty)
    }

    @Test("sparsemixer under a mask picks among allowed experts only, with one pick when one is allowed and none when none is")
    func sparseMixerMasked() {
        let logits: [Float] = [1.0, 0.9, 0.2, -1.0, 0.95]
        let m = SparseMixer(jitter: 0.1)
        let r = m.route(logits: logits, tokens: 1, experts: 5, allowed: [false, true, true, true, true])
        #expect(abs(r.perExpert[4][0].weight - 1 / (1 + expf(-0.05))) < 1e-6, "first: 4, sharing with 1")
        #expect(r.perExpert[1].map(\.weight) == [1], "second: 1, alone within 2 x 0.1 of 0.9")
        #expect(r.perExpert[0].isEmpty)
        let one = m.route(logits: logits, tokens: 1, experts: 5, allowed: [false, false, true, false, false])
        #expect(one.perExpert[2].map(\.weight) == [1] && one.perExpert.map(\.count).reduce(0, +) == 1)
        let none = m.route(logits: logits, tokens: 1, experts: 5, allowed: Array(repeating: false, count: 5))
        #expect(none.perExpert.allSatisfy { $0.isEmpty })
    }

    @Test("perplexity in batches shorter than LongRoPE's original context still scores each window as one call, as transformers does")
    func windowIsOneCall() throws {
        let folder = TestPaths.fixtures + "/models/phimoe"
        func file(_ name: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name)) }
        let golden = try JSONSerialization.jsonObject(with: try file("golden.json")) as! [String: Any]
        let want = ((golden["eval"] as! [String: Any])["ctx64"] as! [String: Any])["ppl"] as! Double
        let tokenizer = try Tokenizer(tokenizerJSON: try file("tokenizer.json"), tokenizerConfigJSON: try file("tokenizer_config.json"))
        let ids = tokenizer.encode(try String(contentsOfFile: TestPaths.fixtures + "/texts/eval.txt", encoding: .utf8))
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: 64, threads: 1)
        // Batches of 8 end before the original context (40) for the first five; the window of 64 is past it.
        let r = try model.perplexity(ids, context: 64, batch: 8)
        #expect(abs(r.ppl - want) <= 1e-4 * want, "ppl \(r.ppl) vs transformers' \(want)")
    }

    /// The second fixture: plain RoPE, experts in transformers 5's fused 3-D layout (Tools/make_phimoe_fixtures.py).
    @Test("phimoe_fused: fused gate_up_proj / down_proj resolve to each expert's rows (gate, then up), plain RoPE, and the archive matches transformers")
    func fusedLayout() throws {
        let folder = TestPaths.fixtures + "/models/phimoe_fused"
        let config = try ModelFamily.detectDecoder(configData: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json")))
        #expect(try config.spec().ropeScaling == nil)
        let checkpoint = try Checkpoint(folder: folder)
        let stack = try #require(config.stacks.first)
        let parts = try stack.resolve(layer: 1, hidden: 48, in: checkpoint)
        #expect(parts.count == 5)
        #expect(parts[2].map(\.role) == ["gate", "up", "down"])
        #expect(parts[2].map(\.tensor) == ["model.layers.1.mlp.experts.gate_up_proj", "model.layers.1.mlp.experts.gate_up_proj", "model.layers.1.mlp.experts.down_proj"])
        #expect(parts[2].map(\.rows) == [160..<200, 200..<240, 96..<144])
        try ParityTests.check(folder: folder, golden: "golden.json", dtype: nil)
    }
}
