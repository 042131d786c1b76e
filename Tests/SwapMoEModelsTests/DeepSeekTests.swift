import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoEKernels
import SwapMoEEngine
@testable import SwapMoEModels

/// DeepSeek-V2/V3 (and GLM-4.5, which shares V3's router) beyond the parity tests (which run the `deepseek_*`
/// and `glm4_moe` fixtures with golden.json): the routers'
/// rules on hand-made scores, masked routing, the compressed cache the planner counts, and the config knobs
/// that are refused or ignored.
@Suite("DeepSeek and GLM-4.5 families")
struct DeepSeekTests {
    static func fixture(_ name: String) -> String { TestPaths.fixtures + "/models/" + name }

    static func config(_ name: String, edit: (inout [String: Any]) -> Void = { _ in }) throws -> Data {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture(name) + "/config.json"))
        var obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        edit(&obj)
        return try JSONSerialization.data(withJSONObject: obj)
    }

    static let v3 = GroupedRouter(scoring: .sigmoid, groups: 2, groupsPerToken: 1, groupScore: .topTwoSum, selectionBias: true,
                                  renormalize: true, scalingFactor: 2.5, scaleRenormalized: true)

    @Test("V3 routing: the bias picks the group and the experts, the weights are the unbiased scores, normalised and scaled")
    func v3Routing() {
        // Scores of 6 experts in 2 groups of 3. Unbiased, group 0 holds the two best; the bias moves group 1 ahead.
        let s: [Float] = [0.9, 0.8, 0.1, 0.5, 0.4, 0.3]
        let bias: [Float] = [0, 0, 0, 0.5, 0.5, 0]
        let out = RouterOutput(tokens: 1, experts: 6, probabilities: s, inputNorms: [1])
        let r = Self.v3.route(out, k: 2, bias: bias, allowed: nil)
        #expect(r.usedExperts == [3, 4])
        let w = r.perExpert[3].first?.weight ?? 0, u = r.perExpert[4].first?.weight ?? 0
        #expect(abs(w - 0.5 / 0.9 * 2.5) < 1e-6 && abs(u - 0.4 / 0.9 * 2.5) < 1e-6)
        // Without the bias, group 0 wins.
        #expect(Self.v3.route(out, k: 2, bias: nil, allowed: nil).usedExperts == [0, 1])
    }

    @Test("masked routing selects among allowed experts only, groups scored from their allowed experts")
    func maskedRouting() {
        let s: [Float] = [0.9, 0.8, 0.1, 0.5, 0.4, 0.3]
        let out = RouterOutput(tokens: 1, experts: 6, probabilities: s, inputNorms: [1])
        // Expert 0 and 1 not allowed: group 0 keeps only 0.1, group 1 wins.
        let allowed = [false, false, true, true, true, true]
        #expect(Self.v3.route(out, k: 2, bias: nil, allowed: allowed).usedExperts == [3, 4])
        // A single allowed expert: one pick, weight renormalised to 1 x scale.
        let one = Self.v3.route(out, k: 2, bias: nil, allowed: [false, false, true, false, false, false])
        #expect(one.usedExperts == [2] && abs(one.perExpert[2][0].weight - 2.5) < 1e-5)
    }

    @Test("V2 routing: softmax scores, group_limited_greedy keeps the groups with the best expert, no renormalisation")
    func v2Routing() {
        let r = GroupedRouter(scoring: .softmax, groups: 3, groupsPerToken: 1, groupScore: .max, selectionBias: false,
                              renormalize: false, scalingFactor: 1.5, scaleRenormalized: false)
        let s: [Float] = [0.05, 0.3, 0.25, 0.2, 0.1, 0.1]
        let routing = r.route(RouterOutput(tokens: 1, experts: 6, probabilities: s, inputNorms: [1]), k: 2, bias: nil, allowed: nil)
        #expect(routing.usedExperts == [0, 1])
        #expect(abs(routing.perExpert[1][0].weight - 0.45) < 1e-6 && abs(routing.perExpert[0][0].weight - 0.075) < 1e-6)
    }

    @Test("the KV cache holds the compressed latent and rope key per position, and the planner counts that")
    func compressedCache() throws {
        let c = try ModelFamily.detectDecoder(configData: Self.config("deepseek_v3"))
        let spec = try c.spec()
        let m = try #require(spec.mla)
        #expect(spec.cacheWidths.key == 20 + 8 && spec.cacheWidths.value == 0 && m.shape.heads == 3)
        #expect(DecoderSequence.bytes(spec: spec, context: 100) == 3 * 100 * 28 * 4)
        #expect(DecoderModel.runtimeBytes(spec: spec, context: 100, batch: 4, expertIntermediate: 12)
                < DecoderModel.runtimeBytes(spec: spec, context: 200, batch: 4, expertIntermediate: 12))
        // kv_b_proj is read as the archive stores it (counted with the dense weights): no f32 copy among the runtime's
        // bytes, only the scratch of the expanded path for a chunk over the whole context.
        #expect(DecoderModel.runtimeBytes(spec: spec, context: 100, batch: 4, expertIntermediate: 12)
                == KVCache.bytes(spec: spec, context: 100, batch: 4) + Workspace.bytes(spec: spec, capacity: 4, expertIntermediate: 12)
                + 4 * spec.vocab * 4 + LatentScratch.bytes(m, capacity: 4) + LatentScratch.expandedBytes(m, context: 100))
        #expect(abs(m.scale - 1 / Float(20).squareRoot()) < 1e-7)
    }

    @Test("a YaRN config carries YaRN into the spec (its parity is the deepseek_v3_yarn fixture's golden); mscale_all_dim enters the scale")
    func yarn() throws {
        let config = try ModelFamily.detectDecoder(configData: Self.config("deepseek_v3_yarn"))
        guard case .yarn(let y)? = try config.spec().ropeScaling else { Issue.record("no YaRN in the spec"); return }
        #expect(y.factor == 4 && y.mscaleAllDim == 0.8)
        let decoded = try JSONDecoder().decode(DeepSeekV3Config.self, from: Self.config("deepseek_v3_yarn"))
        let mscale = 0.1 * 0.8 * Foundation.log(4.0) + 1
        #expect(abs(Double(decoded.keys.softmaxScale(decoded.base.yarn)) - mscale * mscale / 20.0.squareRoot()) < 1e-6)
    }

    @Test("config knobs: other quantization methods, other scoring or top-k methods and bad group sizes are one-line errors")
    func refusedKnobs() throws {
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("deepseek_v3", { $0["quantization_config"] = ["quant_method": "bitsandbytes", "load_in_4bit": true] }, "quant_method 'bitsandbytes'"),
            ("deepseek_v3", { $0["scoring_func"] = "softmax" }, "scoring_func"),
            ("deepseek_v3", { $0["topk_method"] = "greedy" }, "topk_method"),
            ("deepseek_v3", { $0["n_group"] = 2 }, "n_group"),
            ("deepseek_v3", { $0["topk_group"] = 4 }, "topk_group"),
            ("deepseek_v3", { $0["num_experts_per_tok"] = 7 }, "num_experts_per_tok"),
            ("deepseek_v3", { $0["qk_rope_head_dim"] = 7 }, "qk_rope_head_dim 7"),
            ("deepseek_v3", { $0["hidden_act"] = "gelu" }, "hidden_act"),
            ("deepseek_v2", { $0["topk_method"] = "noaux_tc" }, "topk_method"),
            ("deepseek_v2", { $0["mlp_bias"] = true }, "mlp_bias"),
            ("glm4_moe", { $0["partial_rotary_factor"] = 0.05 }, "partial_rotary_factor"),
            ("glm4_moe", { $0["n_group"] = 9 }, "n_routed_experts / n_group"),
            ("glm4_moe", { $0["rope_scaling"] = ["type": "linear", "factor": 4.0] }, "RoPE scaling 'linear'"),
        ]
        for (name, edit, key) in cases {
            do {
                _ = try ModelFamily.detectDecoder(configData: Self.config(name, edit: edit))
                Issue.record("\(key) accepted")
            } catch {
                #expect("\(error)".contains(key), "\(error)")
            }
        }
        // Hub-only knobs are read and change nothing.
        let hub = try ModelFamily.detectDecoder(configData: Self.config("deepseek_v3") {
            $0["aux_loss_alpha"] = 0.001; $0["seq_aux"] = true; $0["ep_size"] = 1; $0["moe_layer_freq"] = 1
            $0["scoring_func"] = "sigmoid"; $0["topk_method"] = "noaux_tc"
            // The hub's FP8 weights: the checkpoint reader dequantizes them (FP8Tests, FP8PackTests).
            $0["quantization_config"] = ["quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]]
        })
        #expect(hub.moeLayers == [1, 2])
        // Kimi-K2 names DeepSeek-V3's architecture `kimi_k2`.
        #expect(try ModelFamily.detectDecoder(configData: Self.config("deepseek_v3") { $0["model_type"] = "kimi_k2" }).family == .deepseekV3)
    }

    @Test("pack leaves out the multi-token-prediction layers after the last one (model.layers.{num_hidden_layers})")
    func mtpIgnored() throws {
        let c = try JSONDecoder().decode(DeepSeekV3Config.self, from: Self.config("deepseek_v3"))
        #expect(c.packIgnores("model.layers.3.mlp.experts.0.up_proj.weight") && c.packIgnores("model.layers.3.eh_proj.weight"))
        #expect(!c.packIgnores("model.layers.2.mlp.gate.weight") && !c.packIgnores("lm_head.weight") && !c.packIgnores("model.norm.weight"))
    }

    @Test("exact with k + 1 expert slots gives resident's logits bit for bit",
          arguments: ["deepseek_v3", "deepseek_v3_plain", "deepseek_v2", "glm4_moe", "deepseek_v3_fp8", "glm4_moe_fp8",
                      "glm4_moe_ct", "deepseek_v3_ct_tensor"])
    func exactAtMinimum(fixture: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: Self.fixture(fixture), output: dir + "/m.swm", compress: .lz4, shuffle: true))
        let archive = try Archive(path: dir + "/m.swm")
        func logits(_ provider: ExpertProvider) throws -> [[Float]] {
            let model = try DecoderModel(archive: archive, experts: provider, context: 32, threads: 1, batch: 4)
            var out = [try model.forward([1, 5, 9, 2, 7, 3, 11], logits: .all)]
            for t in [4, 8, 6, 1] { out.append(try model.forward([t])) }
            return out
        }
        let reference = try logits(try ResidentExperts(archive: archive))
        let k = try archive.decoderConfig().expertsPerToken
        let exact = try ExactExperts(archive: archive, slots: k + 1, options: .init(expertsPerToken: k))
        #expect(try logits(exact).map { $0.map(\.bitPattern) } == reference.map { $0.map(\.bitPattern) })
        #expect(exact.stats.misses > 0)
    }

    @Test("a batched decode step over three sequences (each its own compressed cache) gives each one's own logits",
          arguments: ["deepseek_v3", "deepseek_v2"])
    func batchedStep(fixture: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: Self.fixture(fixture), output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: 32, threads: 2, batch: 4)
        let prompts = [[3, 14, 15, 92, 65], [35, 89], [79, 32, 38, 46, 26, 43, 38]], next = [5, 17, 300]
        // Two copies of the three prompts' sequences: one decodes alone, the other in one batched step.
        let copies = (0..<2).map { _ in prompts.map { _ in model.makeSequence() } }
        for (q, p) in zip(copies.joined(), prompts + prompts) { model.use(q); _ = try model.forward(p) }
        let expected = try zip(copies[0], next).map { q, t in model.use(q); return try model.forward([t]) }
        let rows = try model.step(zip(copies[1], next).map { (sequence: $0, token: $1) })
        for (r, e) in zip(rows, expected) {
            let scale = e.map(abs).max() ?? 1, worst = zip(r, e).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= 1e-4 * scale, "\(fixture): max difference \(worst) of logits up to \(scale)")
        }
    }

    @Test("both ways through latent attention (absorbed, expanded) give transformers' logits and greedy tokens",
          arguments: ["deepseek_v3", "deepseek_v2", "deepseek_v3_yarn"])
    func latentPathsMatchGolden(fixture: String) throws {
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixture(fixture) + "/golden.json")))
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: Self.fixture(fixture), output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        var results: [[Float]] = []
        for path in LatentAttentionPath.allCases {
            let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive),
                                         context: golden.promptIds.count + golden.greedyIds.count + 1, threads: 2, batch: 4)
            model.latentPath = path
            var logits = try model.forward(golden.promptIds)
            let scale = golden.logitsLast.map(abs).max() ?? 1, worst = zip(logits, golden.logitsLast).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4 * max(scale, 1), "\(fixture) \(path): logits differ by \(worst) (scale \(scale))")
            results.append(logits)
            var generated: [Int] = []
            while generated.count < golden.greedyIds.count {
                generated.append(Sampler.argmax(logits))
                logits = try model.forward([generated.last!])
            }
            #expect(generated == golden.greedyIds, "\(fixture) \(path): greedy ids")
        }
        let worst = zip(results[0], results[1]).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-4 * max(results[0].map(abs).max() ?? 1, 1), "\(fixture): the paths differ by \(worst)")
    }
}
