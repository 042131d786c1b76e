import Foundation
import Testing
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEModels
import SwapMoETestSupport
@testable import SwapMoEGGUF

// Serialized for the same reason as the tokenizer tests: each case reads whole fixtures.
@Suite("GGUF metadata as config.json and tensor names as HF names", .serialized)
struct GGUFConfigTests {
    /// (GGUF fixture, the HF fixture it was converted from).
    static let pairs: [(String, String)] = [
        ("mixtral-f32.gguf", "mixtral"), ("qwen2_moe-f32.gguf", "qwen2_moe"), ("qwen3_moe-bf16.gguf", "qwen3_moe"),
        ("olmoe-f32.gguf", "olmoe"), ("qwen3_moe-q8_0.gguf", "qwen3_moe"), ("mixtral-q4_k_m.gguf", "mixtral"),
        ("olmoe-split-00002-of-00003.gguf", "olmoe"), ("gpt_oss-f32.gguf", "gpt_oss"), ("gpt_oss-mxfp4.gguf", "gpt_oss_mxfp4"),
        ("gpt_oss-q8_0.gguf", "gpt_oss"), ("deepseek_v3-f32.gguf", "deepseek_v3"), ("deepseek_v3_yarn-f32.gguf", "deepseek_v3_yarn"),
        ("glm4_moe-f32.gguf", "glm4_moe"), ("qwen3_next_sparse-f32.gguf", "qwen3_next_sparse"),
    ]

    static func decode(_ json: JSONValue) throws -> any FamilyConfig {
        try ModelFamily.detectDecoder(configData: try JSONEncoder().encode(json))
    }

    @Test("the config derived from each fixture equals the HF config.json it was converted from on every key the family reads",
          arguments: pairs)
    func configMatchesHF(gguf: String, hf: String) throws {
        let model = try GGUFModel(path: GGUFFixtures.path(gguf))
        let derived = try model.modelConfig()
        let ours = try Self.decode(derived.config)
        let data = try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.hfFolder(hf) + "/config.json"))
        let theirs = try ModelFamily.detectDecoder(configData: data)
        #expect(ours.family == theirs.family)
        let a = ours.base, b = theirs.base
        #expect(a.hiddenSize == b.hiddenSize && a.intermediateSize == b.intermediateSize && a.numLayers == b.numLayers)
        #expect(a.numHeads == b.numHeads && a.numKVHeads == b.numKVHeads && a.headDim == b.headDim)
        #expect(a.numExperts == b.numExperts && a.expertsPerToken == b.expertsPerToken && a.vocabSize == b.vocabSize)
        #expect(a.rmsNormEps == b.rmsNormEps, "rms_norm_eps \(a.rmsNormEps) vs \(b.rmsNormEps)")
        #expect(a.ropeTheta == b.ropeTheta && a.ropeScaling == b.ropeScaling)
        #expect(a.tieWordEmbeddings == b.tieWordEmbeddings && a.normTopKProb == b.normTopKProb)
        #expect(a.decoderSparseStep == b.decoderSparseStep && a.mlpOnlyLayers == b.mlpOnlyLayers)
        #expect(a.maxPositionEmbeddings == b.maxPositionEmbeddings)
        #expect(ours.moeLayers == theirs.moeLayers)
        #expect(ours.moeLayers.map(ours.expertIntermediate) == theirs.moeLayers.map(theirs.expertIntermediate))
        switch (ours, theirs) {
        case let (x as MixtralConfig, y as MixtralConfig):
            #expect(x.slidingWindow == y.slidingWindow)
        case let (x as Qwen2MoEConfig, y as Qwen2MoEConfig):
            #expect(x.moeIntermediateSize == y.moeIntermediateSize && x.sharedExpertIntermediateSize == y.sharedExpertIntermediateSize)
            #expect(x.qkvBias == y.qkvBias && x.useSlidingWindow == y.useSlidingWindow)
        case let (x as Qwen3MoEConfig, y as Qwen3MoEConfig):
            #expect(x.moeIntermediateSize == y.moeIntermediateSize && x.attentionBias == y.attentionBias && x.useSlidingWindow == y.useSlidingWindow)
        case let (x as OLMoEConfig, y as OLMoEConfig):
            #expect(x.clipQKV == y.clipQKV && x.attentionBias == y.attentionBias)
        case let (x as GptOssConfig, y as GptOssConfig):
            #expect(x.slidingWindow == y.slidingWindow && x.layerTypes == y.layerTypes && x.attentionBias == y.attentionBias)
            #expect(x.swigluAlpha == y.swigluAlpha && x.hiddenAct == y.hiddenAct)
            // What llama.cpp computes, not what the HF config says: its graph's SwiGLU limit is always 7, and ggml
            // rounds YaRN's correction range outward (transformers' truncate: true; the fixtures say false).
            #expect(x.swigluLimit == 7)
            var yarn = try #require(b.yarn)
            yarn.truncate = true
            #expect(a.yarn == yarn)
        case let (x as DeepSeekV3Config, y as DeepSeekV3Config):
            let (p, q) = (x.keys, y.keys)
            #expect(p.kvLoraRank == q.kvLoraRank && p.qLoraRank == q.qLoraRank && p.qkNopeHeadDim == q.qkNopeHeadDim)
            #expect(p.qkRopeHeadDim == q.qkRopeHeadDim && p.vHeadDim == q.vHeadDim && p.moeIntermediateSize == q.moeIntermediateSize)
            #expect(p.nSharedExperts == q.nSharedExperts && p.routedScalingFactor == q.routedScalingFactor)
            #expect(p.nGroup == q.nGroup && p.topkGroup == q.topkGroup && p.normTopKProb == q.normTopKProb)
            #expect(p.scoringFunc == "sigmoid" && p.topkMethod == q.topkMethod && p.ropeInterleave == q.ropeInterleave)
            #expect(p.attentionBias == q.attentionBias && p.nextTokenPredictionLayers == 0)
            // YaRN as llama.cpp computes it: the file keeps only mscale_all_dim, and llama.cpp sets mscale to it.
            if var yarn = b.yarn {
                yarn.mscale = yarn.mscaleAllDim
                yarn.truncate = true
                #expect(a.yarn == yarn)
            }
        case let (x as Glm4MoEConfig, y as Glm4MoEConfig):
            #expect(x.moeIntermediateSize == y.moeIntermediateSize && x.nSharedExperts == y.nSharedExperts)
            #expect(x.routedScalingFactor == y.routedScalingFactor && x.nGroup == y.nGroup && x.topkGroup == y.topkGroup)
            #expect(x.normTopKProb == y.normTopKProb && x.useQKNorm == y.useQKNorm && x.attentionBias == y.attentionBias)
            #expect(try x.decoderSpec().rotaryDim == (try y.decoderSpec().rotaryDim) && x.hiddenAct == y.hiddenAct)
            // The file counts its multi-token-prediction layer in block_count; swapmoe drops it as transformers does.
            #expect(x.nextTokenPredictionLayers == 0 && y.nextTokenPredictionLayers == 1)
        case let (x as Qwen3NextConfig, y as Qwen3NextConfig):
            #expect(x.moeIntermediateSize == y.moeIntermediateSize && x.sharedExpertIntermediateSize == y.sharedExpertIntermediateSize)
            #expect(x.attentionBias == y.attentionBias && x.partialRotaryFactor == y.partialRotaryFactor && x.layerTypes == y.layerTypes)
            #expect(x.convKernel == y.convKernel && x.keyHeadDim == y.keyHeadDim && x.valueHeadDim == y.valueHeadDim)
            #expect(x.keyHeads == y.keyHeads && x.valueHeads == y.valueHeads && x.hiddenAct == y.hiddenAct && x.useSlidingWindow == y.useSlidingWindow)
            let (p, q) = (try x.decoderSpec(), try y.decoderSpec())
            #expect(p.rotaryDim == q.rotaryDim && p.deltaNet == q.deltaNet && p.gatedAttention && p.zeroCentredNorms)
        default:
            Issue.record("families differ: \(ours.family) vs \(theirs.family)")
        }
        #expect(try ours.decoderSpec().qkvBias == (try theirs.decoderSpec().qkvBias))
    }

    /// The HF fixture's tensors by name.
    static func safetensors(_ hf: String) throws -> SafetensorsFile {
        try SafetensorsFile(path: GGUFFixtures.hfFolder(hf) + "/model.safetensors")
    }

    @Test("every tensor of each f32 fixture maps to HF names covering the whole HF checkpoint, with equal shapes and bytes (attn_q/attn_k un-permuted, experts split, Qwen3-Next's in_proj_qkvz joined; its norms and A_log give the engine's values)",
          arguments: [("mixtral-f32.gguf", "mixtral"), ("qwen2_moe-f32.gguf", "qwen2_moe"), ("olmoe-f32.gguf", "olmoe"),
                      ("olmoe-split-00001-of-00003.gguf", "olmoe"), ("deepseek_v3-f32.gguf", "deepseek_v3"), ("glm4_moe-f32.gguf", "glm4_moe"),
                      ("qwen3_next_sparse-f32.gguf", "qwen3_next_sparse")])
    func tensorsMatchHF(gguf: String, hf: String) throws {
        let model = try GGUFModel(path: GGUFFixtures.path(gguf))
        let st = try Self.safetensors(hf)
        var covered: [String] = []
        var permuted = 0
        for (t, m) in zip(model.tensors, try model.tensorMappings()) {
            let bytes = model.bytes(of: t)
            switch m.target {
            case .tensor(let name):
                let info = try #require(st.tensors[name], "\(t.name) -> \(name) not in the HF checkpoint")
                // Qwen3-Next's conv1d: the converter squeezed HF's [C, 1, K] to [C, K].
                #expect(info.shape == t.shape || info.shape == [t.shape[0], 1] + t.shape.dropFirst(), "\(t.name) shape")
                var ours = bytes
                if let heads = m.permutedHeads {
                    ours = try #require(GGUFPermutation.unpermuteRows(bytes, rows: t.shape[0], heads: heads))
                    #expect(ours != bytes, "\(t.name): the permutation is not the identity here")
                    permuted += 1
                }
                #expect(ours == st.withTensorBytes(info) { Array($0) }, "\(t.name) bytes")
                covered.append(name)
            case .experts(let names):
                #expect(names.count == t.ne[2])
                for (e, name) in names.enumerated() {
                    let info = try #require(st.tensors[name], "\(t.name)[\(e)] -> \(name)")
                    #expect(info.shape == Array(t.shape.dropFirst()), "\(name) shape")
                    let r = try #require(model.expertRange(t, expert: e))
                    #expect(Array(bytes[r]) == st.withTensorBytes(info) { Array($0) }, "\(name) bytes")
                    covered.append(name)
                }
            case .latentKV(let name, _):
                // kv_b_proj from llama.cpp's k_b / v_b split: joined again below (hfBytes), exactly.
                covered.append(name)
            case .values(let name, let map):
                let info = try #require(st.tensors[name], "\(t.name) -> \(name)")
                let theirs = GGUFValueMap.floats(st.withTensorBytes(info) { Array($0) })
                #expect(GGUFQwen3NextTests.sameInEngine(GGUFValueMap.floats(bytes).map(map.apply), theirs, map), "\(t.name)")
                covered.append(name)
            case .deltaNetInput(let name, let gate):
                let info = try #require(st.tensors[name], "\(t.name) -> \(name)")
                let g = try #require(model.tensor(gate))
                let hfBytes = st.withTensorBytes(info) { Array($0) }
                #expect(GGUFDeltaNetRows.join(qkv: bytes, qkvRows: t.ne[1], gate: model.bytes(of: g), gateRows: g.ne[1], groups: try model.file.int("qwen3next.ssm.group_count")) == hfBytes)
                covered.append(name)
            case .mergedInto(let owner):
                #expect(owner.hasSuffix("attn_k_b.weight") || owner.hasSuffix("attn_qkv.weight"), "\(t.name): a gpt-oss target in a \(hf) file")
            case .interleavedExperts, .skipped:
                Issue.record("\(t.name): a gpt-oss target or an MTP layer in a \(hf) file")
            }
        }
        #expect(covered.count == Set(covered).count)
        #expect(Set(covered) == Set(st.tensors.keys))
        // The same through the packer's view: one entry per HF tensor, HF shapes and bytes.
        let listed = try model.hfTensors()
        #expect(listed.map(\.name).sorted() == covered.sorted())
        for t in listed {
            let info = try #require(st.tensors[t.name])
            #expect(t.shape == info.shape)
            let f32 = { (info: GGUFTensorInfo, bytes: [UInt8]) -> [Float] in
                bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            }
            let theirs = st.withTensorBytes(info) { Array($0) }
            if let map = t.valueMap {
                let ours = GGUFValueMap.floats(model.hfBytes(t))
                #expect(GGUFQwen3NextTests.sameInEngine(ours, GGUFValueMap.floats(theirs), map), "\(t.name)")
            } else {
                #expect(model.hfBytes(t, dequantize: f32) == theirs, "\(t.name)")
            }
        }
        // Only the llama architecture (Mixtral) is permuted: attn_q and attn_k of every layer.
        #expect(permuted == (hf == "mixtral" ? 4 : 0))
    }

    @Test("bf16 and Q8_0 fixtures map every tensor to an HF tensor of the same shape (also the shared-expert gate llama-quantize flattens); bf16 values round the f32 ones",
          arguments: [("qwen3_moe-bf16.gguf", "qwen3_moe"), ("qwen3_moe-q8_0.gguf", "qwen3_moe"), ("mixtral-q8_0.gguf", "mixtral"),
                      ("qwen2_moe-q8_0.gguf", "qwen2_moe"), ("olmoe-q8_0.gguf", "olmoe")])
    func convertedTypes(gguf: String, family: String) throws {
        let model = try GGUFModel(path: GGUFFixtures.path(gguf))
        let st = try Self.safetensors(family)
        let hfShapes = Dictionary(uniqueKeysWithValues: try model.hfTensors().map { ($0.name, $0.shape) })
        var covered = Set<String>()
        for (t, m) in zip(model.tensors, try model.tensorMappings()) {
            switch m.target {
            case .tensor(let name):
                let info = try #require(st.tensors[name])
                #expect(info.shape == hfShapes[name], "\(name)")
                covered.insert(name)
                if t.type.name == "BF16" {
                    let hfFloats = st.withTensorBytes(info) { Array($0.bindMemory(to: Float.self)) }
                    let ours = model.bytes(of: t)
                    for i in stride(from: 0, to: hfFloats.count, by: 7) {
                        let bits = UInt32(ours[2 * i]) << 16 | UInt32(ours[2 * i + 1]) << 24
                        let v = Float(bitPattern: bits)
                        #expect(abs(v - hfFloats[i]) <= abs(hfFloats[i]) / 128, "\(t.name)[\(i)]")
                    }
                }
            case .experts(let names):
                for name in names {
                    #expect(st.tensors[name]?.shape == Array(t.shape.dropFirst()))
                    covered.insert(name)
                }
            case .interleavedExperts, .mergedInto, .latentKV, .values, .deltaNetInput, .skipped:
                Issue.record("\(t.name): a gpt-oss, MLA, Qwen3-Next or MTP target in a \(family) file")
            }
        }
        #expect(covered == Set(st.tensors.keys))
    }

    @Test("un-permute inverts convert_hf_to_gguf's permute: the row table by hand, and a round trip of random rows")
    func permutation() {
        // One head of 8 rows: GGUF rows hold HF rows 0, 4, 1, 5, 2, 6, 3, 7 (pairs interleaved).
        #expect((0..<8).map { GGUFPermutation.hfRow(ofGGUFRow: $0, rows: 8, heads: 1) } == [0, 4, 1, 5, 2, 6, 3, 7])
        #expect((0..<8).map { GGUFPermutation.hfRow(ofGGUFRow: $0, rows: 8, heads: 2) } == [0, 2, 1, 3, 4, 6, 5, 7])
        var rng = GGUFFuzz.SplitMix(state: 7)
        for (rows, heads, width) in [(32, 4, 12), (16, 2, 34), (64, 8, 1)] {
            let bytes = (0..<(rows * width)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            let p = GGUFPermutation.permuteRows(bytes, rows: rows, heads: heads)!
            #expect(GGUFPermutation.unpermuteRows(p, rows: rows, heads: heads) == bytes)
        }
        #expect(GGUFPermutation.unpermuteRows([1, 2, 3], rows: 3, heads: 1) == nil)
    }

    func inputs(_ metadata: [String: GGUFValue], tensors: [String: [Int]] = [:]) -> GGUFConfigInputs {
        GGUFConfigInputs(fileName: "model.gguf", metadata: metadata, tensorDims: tensors)
    }

    @Test("deepseek2 metadata: V2 from a softmax router (V2-Lite: no q LoRA, pre-split MHA key lengths, greedy; groups: group_limited_greedy), V3 from a sigmoid one; a softmax file with V3's selection bias is refused; MTP layers counted in block_count are dropped")
    func deepSeekMetadata() throws {
        let d = "deepseek2."
        var md: [String: GGUFValue] = [
            "general.architecture": .string("deepseek2"), d + "embedding_length": .uint(64, .uint32),
            d + "block_count": .uint(3, .uint32), d + "attention.head_count": .uint(4, .uint32),
            d + "attention.head_count_kv": .uint(4, .uint32), d + "expert_count": .uint(8, .uint32),
            d + "expert_used_count": .uint(2, .uint32), d + "vocab_size": .uint(100, .uint32),
            d + "attention.kv_lora_rank": .uint(32, .uint32), d + "rope.dimension_count": .uint(16, .uint32),
            d + "attention.key_length": .uint(48, .uint32), d + "attention.value_length": .uint(24, .uint32),
            d + "expert_feed_forward_length": .uint(20, .uint32), d + "expert_shared_count": .uint(2, .uint32),
            d + "leading_dense_block_count": .uint(1, .uint32), d + "feed_forward_length": .uint(40, .uint32),
        ]
        let lite = try GGUFConfigMapping.config(inputs(md)).config
        #expect(lite["model_type"]?.stringValue == "deepseek_v2" && lite["q_lora_rank"] == .null && lite["topk_method"]?.stringValue == "greedy")
        #expect(lite["qk_nope_head_dim"]?.intValue == 32 && lite["qk_rope_head_dim"]?.intValue == 16 && lite["v_head_dim"]?.intValue == 24)
        #expect(lite["num_key_value_heads"]?.intValue == 4 && lite["first_k_dense_replace"]?.intValue == 1 && lite["routed_scaling_factor"]?.doubleValue == 1)
        let v2 = try Self.decode(lite)
        #expect(v2.family == .deepseekV2)
        try v2.validate()
        md[d + "expert_group_count"] = .uint(4, .uint32)
        md[d + "expert_group_used_count"] = .uint(2, .uint32)
        let grouped = try GGUFConfigMapping.config(inputs(md)).config
        #expect(grouped["topk_method"]?.stringValue == "group_limited_greedy" && grouped["topk_group"]?.intValue == 2)
        // A softmax router with V3's selection bias: a V3 converted from a config without scoring_func.
        #expect { try GGUFConfigMapping.config(inputs(md, tensors: ["blk.1.exp_probs_b.bias": [8]])) } throws: {
            "\($0)".contains("scoring_func") && "\($0)".contains("exp_probs_b")
        }
        md[d + "expert_gating_func"] = .uint(2, .uint32)
        md[d + "attention.q_lora_rank"] = .uint(24, .uint32)
        md[d + "attention.key_length_mla"] = .uint(40, .uint32)
        md[d + "attention.value_length_mla"] = .uint(20, .uint32)
        md[d + "attention.key_length"] = .uint(48, .uint32)
        md[d + "nextn_predict_layers"] = .uint(1, .uint32)
        let v3 = try GGUFConfigMapping.config(inputs(md)).config
        #expect(v3["model_type"]?.stringValue == "deepseek_v3" && v3["q_lora_rank"]?.intValue == 24 && v3["topk_method"]?.stringValue == "noaux_tc")
        #expect(v3["qk_nope_head_dim"]?.intValue == 24 && v3["v_head_dim"]?.intValue == 20 && v3["num_hidden_layers"]?.intValue == 2)
        try Self.decode(v3).validate()
        // Tensors: the MTP layer (blk.2 of 3) is skipped; a pre-split file's attn_kv_b is kv_b_proj as stored.
        #expect(GGUFTensorNames.map("blk.2.nextn.eh_proj.weight", arch: .deepseek2, heads: 4, kvHeads: 1, experts: 8, layers: 2)?.target == .skipped)
        #expect(GGUFTensorNames.map("blk.2.attn_norm.weight", arch: .deepseek2, heads: 4, kvHeads: 1, experts: 8, layers: 2)?.target == .skipped)
        #expect(GGUFTensorNames.map("blk.1.attn_kv_b.weight", arch: .deepseek2, heads: 4, kvHeads: 1, experts: 8, layers: 2)?.target == .tensor("model.layers.1.self_attn.kv_b_proj.weight"))
        #expect(GGUFTensorNames.map("blk.1.exp_probs_b.bias", arch: .glm4moe, heads: 4, kvHeads: 1, experts: 8)?.target == .tensor("model.layers.1.mlp.gate.e_score_correction_bias"))
        #expect(GGUFTensorNames.map("blk.1.ffn_up_shexp.weight", arch: .glm4moe, heads: 4, kvHeads: 1, experts: 8)?.target == .tensor("model.layers.1.mlp.shared_experts.up_proj.weight"))
        #expect(GGUFTensorNames.map("blk.1.ffn_gate_tail.weight", arch: .glm4moe, heads: 4, kvHeads: 1, experts: 8) == nil)
        // kv_b_proj joined from k_b [heads][rank][nope] and v_b [heads][v][rank]: row h*(nope+v)+n is k_b[h][.][n].
        let k: [Float] = (0..<(2 * 3 * 2)).map(Float.init), v: [Float] = (100..<(100 + 2 * 1 * 3)).map(Float.init)
        #expect(GGUFLatentKV.join(k: k, v: v, heads: 2, nope: 2, value: 1, rank: 3) ==
                [0, 2, 4, 1, 3, 5, 100, 101, 102, 6, 8, 10, 7, 9, 11, 103, 104, 105])
        #expect(GGUFLatentKV.join(k: k, v: v, heads: 2, nope: 2, value: 2, rank: 3) == nil)
    }

    @Test("other architectures, a dense llama, per-layer sizes that differ, partial RoPE and sigmoid routers are refused by name")
    func refusals() throws {
        var md: [String: GGUFValue] = ["general.architecture": .string("gemma3")]
        #expect { try GGUFConfigMapping.config(inputs(md)) } throws: {
            "\($0)".contains("'gemma3'") && "\($0)".contains("qwen3moe") && "\($0)".contains("Mixtral")
        }
        md["general.architecture"] = .string("llama")
        #expect { try GGUFConfigMapping.config(inputs(md)) } throws: { "\($0)".contains("dense") }
        md["general.architecture"] = .string("phimoe")
        #expect { try GGUFConfigMapping.config(inputs(md)) } throws: { "\($0)".contains("sparsemixer") && "\($0)".contains("Hugging Face checkpoint") }
        let base: [String: GGUFValue] = [
            "general.architecture": .string("qwen3moe"), "qwen3moe.embedding_length": .uint(64, .uint32),
            "qwen3moe.block_count": .uint(2, .uint32), "qwen3moe.attention.head_count": .uint(4, .uint32),
            "qwen3moe.expert_count": .uint(8, .uint32), "qwen3moe.expert_used_count": .uint(2, .uint32),
            "qwen3moe.vocab_size": .uint(100, .uint32),
        ]
        #expect(try GGUFConfigMapping.config(inputs(base)).config["head_dim"]?.intValue == 16)
        md = base
        md["qwen3moe.attention.head_count_kv"] = .array(.uints([2, 4], .uint32))
        #expect { try GGUFConfigMapping.config(inputs(md)) } throws: { "\($0)".contains("differs between layers") }
        md["qwen3moe.attention.head_count_kv"] = .array(.uints([2, 2], .uint32))
        #expect(try GGUFConfigMapping.config(inputs(md)).config["num_key_value_heads"]?.intValue == 2)
        md = base
        md["qwen3moe.rope.dimension_count"] = .uint(8, .uint32)
        #expect { try GGUFConfigMapping.config(inputs(md)) } throws: { "\($0)".contains("partial rotary") }
        md = base
        md["qwen3moe.expert_gating_func"] = .uint(2, .uint32)
        #expect { try GGUFConfigMapping.config(inputs(md)) } throws: { "\($0)".contains("softmax") }
        md = base
        md["qwen3moe.expert_weights_norm"] = .bool(false)
        #expect(try GGUFConfigMapping.config(inputs(md)).config["norm_topk_prob"]?.boolValue == false)
        md = base
        md["qwen3moe.rope.scaling.type"] = .string("yarn")
        md["qwen3moe.rope.scaling.factor"] = .float(4, .float32)
        let yarn = try GGUFConfigMapping.config(inputs(md)).config
        #expect(yarn["rope_scaling"]?["rope_type"]?.stringValue == "yarn")
        #expect { try Self.decode(yarn).validate() } throws: { "\($0)".contains("yarn") }
        // gpt-oss: the sliding-window pattern as llama.cpp reads it; a per-layer list of the wrong length is refused.
        var oss: [String: GGUFValue] = ["general.architecture": .string("gpt-oss")]
        for (k, v) in base where k.hasPrefix("qwen3moe.") { oss["gpt-oss." + k.dropFirst("qwen3moe.".count)] = v }
        oss["gpt-oss.block_count"] = .uint(3, .uint32)
        oss["gpt-oss.expert_feed_forward_length"] = .uint(32, .uint32)
        let c = try GGUFConfigMapping.config(inputs(oss)).config
        #expect(c["layer_types"]?.arrayValue?.compactMap(\.stringValue) == ["sliding_attention", "full_attention", "sliding_attention"])
        #expect(c["swiglu_limit"]?.doubleValue == 7 && c["intermediate_size"]?.intValue == 32 && c["model_type"]?.stringValue == "gpt_oss")
        oss["gpt-oss.attention.sliding_window_pattern"] = .array(.bools([true, false]))
        #expect { try GGUFConfigMapping.config(inputs(oss)) } throws: { "\($0)".contains("gpt-oss.attention.sliding_window_pattern") }
        oss["gpt-oss.attention.sliding_window_pattern"] = .array(.bools([false, true, true]))
        #expect(try GGUFConfigMapping.config(inputs(oss)).config["layer_types"]?.arrayValue?.compactMap(\.stringValue) == ["full_attention", "sliding_attention", "sliding_attention"])
        md = base
        md.removeValue(forKey: "qwen3moe.block_count")
        #expect { try GGUFConfigMapping.config(inputs(md)) } throws: { "\($0)".contains("qwen3moe.block_count") }
    }

    @Test("a gpt-oss file whose ffn_gate_exps has no ffn_up_exps half is refused naming the tensor")
    func gptOssMissingHalf() throws {
        var bytes = try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.path("gpt_oss-f32.gguf")))
        // Rename layer 0's up bias to layer 9's (same length): layer 0's gate bias loses its other half.
        let from = Data("blk.0.ffn_up_exps.bias".utf8), to = Data("blk.9.ffn_up_exps.bias".utf8)
        let r = try #require(bytes.range(of: from))
        bytes.replaceSubrange(r, with: to)
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try bytes.write(to: URL(fileURLWithPath: dir + "/m.gguf"))
        let model = try GGUFModel(path: dir + "/m.gguf")
        #expect { try model.hfTensors() } throws: { "\($0)".contains("ffn_up_exps.bias") || "\($0)".contains("ffn_gate_exps.bias") }
    }

    @Test("tensor names outside the table are refused naming the tensor; the Mixtral names use block_sparse_moe and w1/w2/w3")
    func names() {
        #expect(GGUFTensorNames.map("blk.3.ffn_gate_exps.weight", arch: .llama, heads: 4, kvHeads: 2, experts: 2)?.target ==
                .experts(["model.layers.3.block_sparse_moe.experts.0.w1.weight", "model.layers.3.block_sparse_moe.experts.1.w1.weight"]))
        #expect(GGUFTensorNames.map("blk.0.ffn_down_exps.weight", arch: .qwen2moe, heads: 4, kvHeads: 2, experts: 1)?.target ==
                .experts(["model.layers.0.mlp.experts.0.down_proj.weight"]))
        #expect(GGUFTensorNames.map("blk.0.attn_k.weight", arch: .llama, heads: 4, kvHeads: 2, experts: 1)?.permutedHeads == 2)
        #expect(GGUFTensorNames.map("blk.0.attn_q.bias", arch: .llama, heads: 4, kvHeads: 2, experts: 1)?.permutedHeads == 4)
        #expect(GGUFTensorNames.map("blk.0.attn_q.weight", arch: .qwen3moe, heads: 4, kvHeads: 2, experts: 1)?.permutedHeads == nil)
        // Per-expert tensors of files converted before experts were stacked.
        #expect(GGUFTensorNames.map("blk.1.ffn_down.3.weight", arch: .llama, heads: 4, kvHeads: 2, experts: 8)?.target ==
                .tensor("model.layers.1.block_sparse_moe.experts.3.w2.weight"))
        #expect(GGUFTensorNames.map("blk.1.ffn_up.0.weight", arch: .olmoe, heads: 4, kvHeads: 2, experts: 8)?.target ==
                .tensor("model.layers.1.mlp.experts.0.up_proj.weight"))
        #expect(GGUFTensorNames.map("blk.1.ffn_up.8.weight", arch: .llama, heads: 4, kvHeads: 2, experts: 8) == nil)
        // gpt-oss: the converter's two halves of gate_up become one interleaved tensor per expert.
        #expect(GGUFTensorNames.map("blk.2.ffn_gate_exps.bias", arch: .gptOss, heads: 4, kvHeads: 2, experts: 2)?.target ==
                .interleavedExperts(["model.layers.2.mlp.experts.0.gate_up.bias", "model.layers.2.mlp.experts.1.gate_up.bias"], with: "blk.2.ffn_up_exps.bias"))
        #expect(GGUFTensorNames.map("blk.2.ffn_up_exps.weight", arch: .gptOss, heads: 4, kvHeads: 2, experts: 2)?.target == .mergedInto("blk.2.ffn_gate_exps.weight"))
        #expect(GGUFTensorNames.map("blk.0.attn_sinks.weight", arch: .gptOss, heads: 4, kvHeads: 2, experts: 2)?.target == .tensor("model.layers.0.self_attn.sinks"))
        #expect(GGUFTensorNames.map("blk.0.ffn_gate_inp.bias", arch: .gptOss, heads: 4, kvHeads: 2, experts: 2)?.target == .tensor("model.layers.0.mlp.router.bias"))
        #expect(GGUFTensorNames.map("blk.0.ffn_norm.weight", arch: .gptOss, heads: 4, kvHeads: 2, experts: 2) == nil)
        for bad in ["blk.x.attn_q.weight", "blk.0.ffn_gate.x.weight", "blk.0.attn_q.0.weight", "blk.01.attn_q.weight", "blk.0.attn_q.scale", "rope_freqs.weight", "blk.0.ssm_a", "blk..attn_q.weight"] {
            #expect(GGUFTensorNames.map(bad, arch: .qwen3moe, heads: 4, kvHeads: 2, experts: 1) == nil, "\(bad)")
        }
    }
}
