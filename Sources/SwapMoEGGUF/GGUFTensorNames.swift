/// Where a GGUF tensor's bytes go in the Hugging Face checkpoint it was converted from.
public struct GGUFTensorMapping: Sendable, Hashable {
    public enum Target: Sendable, Hashable {
        /// One HF tensor with the same bytes (its shape is the GGUF tensor's `shape`, ggml dims reversed).
        case tensor(String)
        /// A stacked 3-D expert tensor (`ffn_*_exps`, ggml dims `[cols, rows, experts]`): expert `e` is the
        /// `e`-th contiguous slice (`GGUFModel.expertRange`), named `names[e]` in HF.
        case experts([String])
        /// gpt-oss's `ffn_gate_exps` (weight or bias), whose HF tensor per expert (`experts.E.gate_up`) has its
        /// rows alternating with those of `with` (`ffn_up_exps`): row 2i is gate row i, row 2i + 1 up row i, the
        /// layout the converter split (`gate_up_proj[..., ::2]` / `[..., 1::2]`).
        case interleavedExperts([String], with: String)
        /// Held in the HF tensors of the GGUF tensor named (gpt-oss's `ffn_up_exps`, in `ffn_gate_exps`'s).
        case mergedInto(String)
        /// DeepSeek's `attn_k_b` (ggml dims `[nope, rank, heads]`), which with `valueHalf` (`attn_v_b`,
        /// `[rank, v, heads]`) is transformers' `kv_b_proj` `[heads * (nope + v), rank]`: llama.cpp's converter split
        /// it per head into the key rows, transposed for its absorbed MLA, and the value rows. Joined in f32.
        case latentKV(String, valueHalf: String)
        /// Qwen3-Next's small tensors the converter changed value by value (`GGUFValueMap`); stored f32.
        case values(String, GGUFValueMap)
        /// Qwen3-Next's `attn_qkv`, which with `gate` (`attn_gate`) is transformers' `in_proj_qkvz`, rows regrouped
        /// per key head (`GGUFDeltaNetRows`); two tensors (`in_proj_qkv`, `in_proj_z`) when their types differ.
        case deltaNetInput(String, gate: String)
        /// Not packed: a tensor of a multi-token-prediction layer (llama.cpp's `nextn`), which transformers drops.
        case skipped
    }

    public let gguf: String
    public let target: Target
    /// The head count of the row permutation convert_hf_to_gguf applied to this tensor (`LlamaModel.permute`:
    /// llama-architecture attn_q with the attention heads, attn_k with the key/value heads, weights and biases);
    /// nil when the bytes are stored in HF's order. Undo it with `GGUFPermutation.unpermuteRows`.
    public let permutedHeads: Int?
}

/// GGUF tensor names (llama.cpp's `LLM_TENSOR_NAMES`, gguf-py `TENSOR_NAMES`) -> Hugging Face names of the
/// families. Layer tensors are `blk.N.<role>.<weight|bias>`.
public enum GGUFTensorNames {
    /// The mapping of `name` for `arch`, or nil when it has no HF counterpart swapmoe knows.
    /// `heads` / `kvHeads` are the attention head counts (for the permutation flag), `experts` the expert count,
    /// `layers` the decoder layers (`blk.N` from there on are multi-token-prediction layers, skipped).
    public static func map(_ name: String, arch: GGUFArchitecture, heads: Int, kvHeads: Int, experts: Int,
                           layers: Int = .max) -> GGUFTensorMapping? {
        func one(_ hf: String, permuted: Int? = nil) -> GGUFTensorMapping { .init(gguf: name, target: .tensor(hf), permutedHeads: permuted) }
        switch name {
        case "token_embd.weight": return one("model.embed_tokens.weight")
        case "output.weight": return one("lm_head.weight")
        case "output_norm.weight":
            guard arch.addsOneToNorms else { return one("model.norm.weight") }
            return .init(gguf: name, target: .values("model.norm.weight", .minusOne), permutedHeads: nil)
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        func number(_ s: Substring) -> Int? { Int(s).flatMap { $0 >= 0 && String($0) == s ? $0 : nil } }
        // Qwen3-Next's A (`blk.N.ssm_a`, llama.cpp's LLM_TENSOR_SSM_A_NOSCAN) is the one tensor without a suffix.
        if arch == .qwen3next, parts.count == 3, parts[0] == "blk", parts[2] == "ssm_a", let layer = number(parts[1]) {
            let aLog = GGUFTensorMapping.Target.values("model.layers.\(layer).linear_attn.A_log", .logOfNegated)
            return .init(gguf: name, target: layer >= layers ? .skipped : aLog, permutedHeads: nil)
        }
        guard parts.count == 4 || parts.count == 5, parts[0] == "blk", let layer = number(parts[1]),
              parts.last == "weight" || parts.last == "bias" else { return nil }
        if layer >= layers { return .init(gguf: name, target: .skipped, permutedHeads: nil) }
        let role = String(parts[2]), kind = String(parts.last!)
        let l = "model.layers.\(layer)."
        let mixtral = arch == .llama
        let moe = mixtral ? l + "block_sparse_moe." : l + "mlp."
        if parts.count == 5 {
            // Files converted before experts were stacked (early 2024, many Mixtral GGUFs on the hub) keep one
            // tensor per expert: blk.N.ffn_gate.E.weight (llama.cpp still loads them).
            guard let e = number(parts[3]), e < experts, kind == "weight" else { return nil }
            let proj: String
            switch role {
            case "ffn_gate": proj = mixtral ? "w1" : "gate_proj"
            case "ffn_down": proj = mixtral ? "w2" : "down_proj"
            case "ffn_up": proj = mixtral ? "w3" : "up_proj"
            default: return nil
            }
            return one("\(moe)experts.\(e).\(proj).weight")
        }
        if arch == .gptOss { return gptOss(name, role: role, kind: kind, layer: layer, experts: experts) }
        if arch == .deepseek2 || arch == .glm4moe { return deepSeek(name, role: role, kind: kind, layer: layer, experts: experts) }
        if arch == .qwen3next, let m = qwen3Next(name, role: role, kind: kind, layer: layer) { return m }
        let permute = arch.permutesQK
        switch (role, kind) {
        case ("attn_norm", "weight"): return one(l + "input_layernorm.weight")
        case ("ffn_norm", "weight"): return one(l + "post_attention_layernorm.weight")
        case ("attn_q", _): return one(l + "self_attn.q_proj.\(kind)", permuted: permute ? heads : nil)
        case ("attn_k", _): return one(l + "self_attn.k_proj.\(kind)", permuted: permute ? kvHeads : nil)
        case ("attn_v", _): return one(l + "self_attn.v_proj.\(kind)")
        case ("attn_output", _): return one(l + "self_attn.o_proj.\(kind)")
        case ("attn_q_norm", "weight"): return one(l + "self_attn.q_norm.weight")
        case ("attn_k_norm", "weight"): return one(l + "self_attn.k_norm.weight")
        case ("ffn_gate_inp", "weight"): return one(moe + "gate.weight")
        case ("ffn_gate_exps", "weight"), ("ffn_down_exps", "weight"), ("ffn_up_exps", "weight"):
            let proj: String
            switch role {
            case "ffn_gate_exps": proj = mixtral ? "w1" : "gate_proj"
            case "ffn_down_exps": proj = mixtral ? "w2" : "down_proj"
            default: proj = mixtral ? "w3" : "up_proj"
            }
            return .init(gguf: name, target: .experts((0..<max(0, experts)).map { "\(moe)experts.\($0).\(proj).weight" }), permutedHeads: nil)
        case ("ffn_gate_shexp", "weight"): return one(l + "mlp.shared_expert.gate_proj.weight")
        case ("ffn_up_shexp", "weight"): return one(l + "mlp.shared_expert.up_proj.weight")
        case ("ffn_down_shexp", "weight"): return one(l + "mlp.shared_expert.down_proj.weight")
        case ("ffn_gate_inp_shexp", "weight"): return one(l + "mlp.shared_expert_gate.weight")
        // Dense layers among MoE layers (mlp_only_layers).
        case ("ffn_gate", "weight"): return one(l + "mlp.gate_proj.weight")
        case ("ffn_up", "weight"): return one(l + "mlp.up_proj.weight")
        case ("ffn_down", "weight"): return one(l + "mlp.down_proj.weight")
        default: return nil
        }
    }

    /// gpt-oss (llama.cpp's openai-moe): the names transformers' GptOssForCausalLM has for the dense tensors; the
    /// experts under the names the archive's roles have (`experts.E.gate_up.weight` `[2I, H]`, `.gate_up.bias`,
    /// `down.weight` `[H, I]`, `down.bias`), one tensor per expert, which `ExpertNaming.gptOss` reads as stored.
    static func gptOss(_ name: String, role: String, kind: String, layer: Int, experts: Int) -> GGUFTensorMapping? {
        let l = "model.layers.\(layer)."
        func one(_ hf: String) -> GGUFTensorMapping { .init(gguf: name, target: .tensor(hf), permutedHeads: nil) }
        func each(_ part: String) -> [String] { (0..<max(0, experts)).map { "\(l)mlp.experts.\($0).\(part).\(kind)" } }
        switch (role, kind) {
        case ("attn_norm", "weight"): return one(l + "input_layernorm.weight")
        case ("post_attention_norm", "weight"): return one(l + "post_attention_layernorm.weight")
        case ("attn_sinks", "weight"): return one(l + "self_attn.sinks")
        case ("attn_q", _): return one(l + "self_attn.q_proj.\(kind)")
        case ("attn_k", _): return one(l + "self_attn.k_proj.\(kind)")
        case ("attn_v", _): return one(l + "self_attn.v_proj.\(kind)")
        case ("attn_output", _): return one(l + "self_attn.o_proj.\(kind)")
        case ("ffn_gate_inp", _): return one(l + "mlp.router.\(kind)")
        case ("ffn_gate_exps", _):
            return .init(gguf: name, target: .interleavedExperts(each("gate_up"), with: "blk.\(layer).ffn_up_exps.\(kind)"), permutedHeads: nil)
        case ("ffn_up_exps", _): return .init(gguf: name, target: .mergedInto("blk.\(layer).ffn_gate_exps.\(kind)"), permutedHeads: nil)
        case ("ffn_down_exps", _): return .init(gguf: name, target: .experts(each("down")), permutedHeads: nil)
        default: return nil
        }
    }
}

extension GGUFTensorNames {
    /// DeepSeek-V2/V3 (llama.cpp's deepseek2: MLA) and GLM-4.5 (glm4moe: GQA with biases and q/k norms), which share
    /// DeepSeek-V3's MoE block: `mlp.gate` with `e_score_correction_bias` (`exp_probs_b`), `mlp.shared_experts`,
    /// `mlp.experts.E`, and dense `mlp.*_proj` in the first layers.
    static func deepSeek(_ name: String, role: String, kind: String, layer: Int, experts: Int) -> GGUFTensorMapping? {
        let l = "model.layers.\(layer)."
        func one(_ hf: String) -> GGUFTensorMapping { .init(gguf: name, target: .tensor(hf), permutedHeads: nil) }
        let projections = ["gate": "gate_proj", "up": "up_proj", "down": "down_proj"]
        if role.hasPrefix("ffn_"), kind == "weight" {
            let parts = role.dropFirst(4).split(separator: "_")
            if let p = parts.first.flatMap({ projections[String($0)] }) {
                switch parts.count == 2 ? String(parts[1]) : parts.count == 1 ? "" : "?" {
                case "": return one(l + "mlp.\(p).weight")
                case "shexp": return one(l + "mlp.shared_experts.\(p).weight")
                case "exps":
                    return .init(gguf: name, target: .experts((0..<max(0, experts)).map { "\(l)mlp.experts.\($0).\(p).weight" }), permutedHeads: nil)
                default: break
                }
            }
        }
        switch (role, kind) {
        case ("attn_norm", "weight"): return one(l + "input_layernorm.weight")
        case ("ffn_norm", "weight"), ("post_attention_norm", "weight"): return one(l + "post_attention_layernorm.weight")
        case ("attn_q", _), ("attn_k", _), ("attn_v", _): return one(l + "self_attn.\(role.dropFirst(5))_proj.\(kind)")
        case ("attn_output", _): return one(l + "self_attn.o_proj.\(kind)")
        case ("attn_q_norm", "weight"): return one(l + "self_attn.q_norm.weight")
        case ("attn_k_norm", "weight"): return one(l + "self_attn.k_norm.weight")
        case ("attn_q_a", "weight"): return one(l + "self_attn.q_a_proj.weight")
        case ("attn_q_a_norm", "weight"): return one(l + "self_attn.q_a_layernorm.weight")
        case ("attn_q_b", "weight"): return one(l + "self_attn.q_b_proj.weight")
        case ("attn_kv_a_mqa", "weight"): return one(l + "self_attn.kv_a_proj_with_mqa.weight")
        case ("attn_kv_a_norm", "weight"): return one(l + "self_attn.kv_a_layernorm.weight")
        case ("attn_kv_b", "weight"): return one(l + "self_attn.kv_b_proj.weight")
        case ("attn_k_b", "weight"):
            return .init(gguf: name, target: .latentKV(l + "self_attn.kv_b_proj.weight", valueHalf: "blk.\(layer).attn_v_b.weight"), permutedHeads: nil)
        case ("attn_v_b", "weight"): return .init(gguf: name, target: .mergedInto("blk.\(layer).attn_k_b.weight"), permutedHeads: nil)
        case ("ffn_gate_inp", "weight"): return one(l + "mlp.gate.weight")
        case ("exp_probs_b", "bias"): return one(l + "mlp.gate.e_score_correction_bias")
        default: return nil
        }
    }
}

extension GGUFModel {
    /// The decoder layers: `block_count` less the multi-token-prediction layers counted in it.
    func decoderLayers() throws(GGUFError) -> Int {
        let a = try architecture().rawValue
        return try file.int(a + ".block_count") - (try file.optionalInt(a + ".nextn_predict_layers") ?? 0)
    }

    /// The HF counterpart of every tensor, in tensor order; an error names the first tensor without one.
    public func tensorMappings() throws(GGUFError) -> [GGUFTensorMapping] {
        let arch = try architecture()
        let a = arch.rawValue
        let heads = try file.int(a + ".attention.head_count")
        let kvHeads = try file.optionalInt(a + ".attention.head_count_kv") ?? heads
        let experts = try file.int(a + ".expert_count")
        let layers = try decoderLayers()
        var out: [GGUFTensorMapping] = []
        for t in tensors {
            guard let m = GGUFTensorNames.map(t.name, arch: arch, heads: heads, kvHeads: kvHeads, experts: experts, layers: layers) else {
                throw .unmappedTensor(file: fileName, tensor: t.name, architecture: a)
            }
            switch m.target {
            case .experts(let names), .interleavedExperts(let names, _):
                // Stacked weights are [cols, rows, experts]; stacked biases (gpt-oss) [rows, experts].
                let dims = t.name.hasSuffix(".bias") ? 2 : 3
                guard t.ne.count == dims, t.ne.last == names.count else {
                    throw .badTensor(file: fileName, tensor: t.name, reason: "has dims \(t.ne) but the model has \(names.count) experts (expected \(dims == 3 ? "[cols, rows, \(names.count)]" : "[rows, \(names.count)]"))")
                }
                if case .interleavedExperts(_, let partner) = m.target {
                    guard let p = tensor(partner) else { throw .missingTensor(file: fileName, tensor: partner) }
                    guard p.ne == t.ne, p.type == t.type else {
                        throw .badTensor(file: fileName, tensor: partner, reason: "has dims \(p.ne) and type \(p.type.name) but \(t.name) has \(t.ne) and \(t.type.name); the two halves of gate_up must match")
                    }
                }
            case .mergedInto(let owner):
                guard tensor(owner) != nil else { throw .missingTensor(file: fileName, tensor: owner) }
            case .latentKV(_, let value):
                let v = try requireTensor(value)
                guard t.ne.count == 3, v.ne.count == 3, v.ne[0] == t.ne[1], v.ne[2] == t.ne[2], t.ne.allSatisfy({ $0 > 0 }), v.ne[1] > 0 else {
                    throw .badTensor(file: fileName, tensor: t.name, reason: "has dims \(t.ne) and \(value) \(v.ne); expected [nope, rank, heads] and [rank, v, heads]")
                }
            case .deltaNetInput(_, let gate):
                try checkDeltaNetInput(t, gate: try requireTensor(gate))
            case .tensor, .values, .skipped: break
            }
            if let h = m.permutedHeads {
                let rows = t.ne.count == 1 ? t.ne[0] : t.ne[1]
                guard t.ne.count <= 2, h > 0, rows % (2 * h) == 0 else {
                    throw .badTensor(file: fileName, tensor: t.name, reason: "has dims \(t.ne), which cannot hold \(h) heads of RoPE pairs")
                }
            }
            out.append(m)
        }
        return out
    }

    /// The bytes of expert `expert` within a stacked expert tensor (relative to the tensor's start): whole rows,
    /// so this holds for quantized types too.
    /// Stacked biases (`[rows, experts]`) slice the same way.
    public func expertRange(_ info: GGUFTensorInfo, expert: Int) -> Range<Int>? {
        guard info.ne.count >= 2, let count = info.ne.last, (0..<count).contains(expert) else { return nil }
        let per = info.byteCount / count
        return (expert * per)..<((expert + 1) * per)
    }
}

/// One tensor of the HF checkpoint a GGUF was converted from, and where its bytes are in the GGUF.
public struct GGUFHFTensor: Sendable, Hashable {
    /// The HF name (`model.layers.0.block_sparse_moe.experts.3.w1.weight`).
    public let name: String
    /// The HF shape (`[rows, cols]`, `[n]`).
    public let shape: [Int]
    /// The GGUF tensor holding it (its `type` / `dtype` is this tensor's storage type).
    public let source: GGUFTensorInfo
    /// Its bytes within the source tensor (all of them, or one expert's slice of a stack).
    public let range: Range<Int>
    /// The rows were permuted by the converter for this many heads (undone by `GGUFModel.hfBytes`).
    public let permutedHeads: Int?
    /// gpt-oss's gate_up: the tensor (`ffn_up_exps`) whose rows, at the same `range`, alternate with the source's
    /// (gate) rows in HF (`hfBytes` interleaves them); nil for every other tensor.
    public var interleaved: GGUFTensorInfo? = nil
    /// DeepSeek's kv_b_proj: `attn_v_b`, joined with the source (`attn_k_b`) in f32 (`GGUFLatentKV`); stored f32.
    public var latentValue: GGUFTensorInfo? = nil
    /// Qwen3-Next's norms and A_log: the source's values mapped back (`GGUFValueMap`); stored f32.
    public var valueMap: GGUFValueMap? = nil
    /// Qwen3-Next's in_proj_qkvz: `attn_gate`, whose rows join the source's (`attn_qkv`, same type) per key head.
    public var deltaNetGate: GGUFTensorInfo? = nil
    /// Whether the HF bytes are made by `GGUFModel.hfBytes` (a copy) rather than a slice of the mapping as stored.
    public var isCopy: Bool { permutedHeads != nil || interleaved != nil || latentValue != nil || valueMap != nil || deltaNetGate != nil }
    /// Whether the HF tensor is f32 whatever the source's type (joined or mapped through values).
    public var isF32: Bool { latentValue != nil || valueMap != nil }
}

extension GGUFModel {
    /// Every HF tensor this file holds, in tensor order (stacked experts split into one entry per expert): the
    /// list a packer walks to store the model under HF names.
    public func hfTensors() throws(GGUFError) -> [GGUFHFTensor] {
        var out: [GGUFHFTensor] = []
        for (t, m) in zip(tensors, try tensorMappings()) {
            switch m.target {
            case .tensor(let name):
                // The shared-expert gate is a one-row matrix in HF ([1, hidden]); the converter writes it so, but
                // llama-quantize drops the unit dimension (a Qwen2-MoE Q4_K_M or Q8_0 file holds it as [hidden]).
                // Qwen3-Next's depthwise conv1d is [channels, 1, kernel] in HF; the converter squeezed the 1.
                var shape = name.hasSuffix("shared_expert_gate.weight") && t.shape.count == 1 ? [1] + t.shape : t.shape
                if name.hasSuffix("linear_attn.conv1d.weight"), shape.count == 2 { shape.insert(1, at: 1) }
                out.append(GGUFHFTensor(name: name, shape: shape, source: t, range: 0..<t.byteCount, permutedHeads: m.permutedHeads))
            case .experts(let names):
                for (e, name) in names.enumerated() {
                    guard let r = expertRange(t, expert: e) else { continue }
                    out.append(GGUFHFTensor(name: name, shape: Array(t.shape.dropFirst()), source: t, range: r, permutedHeads: nil))
                }
            case .interleavedExperts(let names, let partner):
                guard let up = tensor(partner) else { throw .missingTensor(file: fileName, tensor: partner) }
                var shape = Array(t.shape.dropFirst())
                let (rows, overflow) = shape[0].multipliedReportingOverflow(by: 2)
                guard !overflow else { throw .badTensor(file: fileName, tensor: t.name, reason: "has too many rows (\(shape[0]))") }
                shape[0] = rows
                for (e, name) in names.enumerated() {
                    guard let r = expertRange(t, expert: e) else { continue }
                    out.append(GGUFHFTensor(name: name, shape: shape, source: t, range: r, permutedHeads: nil, interleaved: up))
                }
            case .latentKV(let name, let value):
                let v = try requireTensor(value)
                let (nope, rank, heads, width) = (t.ne[0], t.ne[1], t.ne[2], v.ne[1])
                let (rows, o1) = heads.multipliedReportingOverflow(by: nope + width)
                guard !o1, rows.multipliedReportingOverflow(by: rank).overflow == false else {
                    throw .badTensor(file: fileName, tensor: t.name, reason: "is too large (\(t.ne), \(v.ne))")
                }
                out.append(GGUFHFTensor(name: name, shape: [rows, rank], source: t, range: 0..<t.byteCount, permutedHeads: nil, latentValue: v))
            case .values(let name, let map):
                out.append(GGUFHFTensor(name: name, shape: t.shape, source: t, range: 0..<t.byteCount, permutedHeads: nil, valueMap: map))
            case .deltaNetInput(let name, let gate):
                out += try deltaNetInput(t, name: name, gate: try requireTensor(gate))
            case .mergedInto, .skipped: break
            }
        }
        return out
    }

    /// The bytes of an HF tensor in HF's layout (rows un-permuted where the converter permuted them, gpt-oss's
    /// gate and up rows interleaved, Qwen3-Next's in_proj_qkvz rows regrouped, DeepSeek's kv_b_proj joined and
    /// Qwen3-Next's norms and A_log mapped back in f32 from the values `dequantize` gives of a tensor's bytes: needed
    /// for those tensors only, as this module has no kernels).
    public func hfBytes(_ t: GGUFHFTensor, dequantize: ((GGUFTensorInfo, [UInt8]) -> [Float])? = nil) -> [UInt8] {
        let bytes = withTensorBytes(t.source) { Array($0.buffer[t.range]) }
        if let map = t.valueMap {
            // F32 in every file the converter writes; another type needs `dequantize`.
            let f32 = t.source.dtype == .f32 ? GGUFValueMap.floats(bytes) : nil
            guard let values = f32 ?? dequantize?(t.source, bytes) else { preconditionFailure("\(t.name) needs its source's values") }
            return GGUFValueMap.bytes(values.map(map.apply))
        }
        if let gate = t.deltaNetGate {
            guard let joined = GGUFDeltaNetRows.join(qkv: bytes, qkvRows: t.source.ne[1], gate: withTensorBytes(gate) { Array($0.buffer) },
                                                     gateRows: gate.ne[1], groups: (try? deltaNetGroups()) ?? 0) else {
                preconditionFailure("in_proj_qkvz of \(t.source.name): shapes checked at open")
            }
            return joined
        }
        if let v = t.latentValue {
            guard let dequantize, let rank = t.shape.last, let kv = GGUFLatentKV.join(
                k: dequantize(t.source, bytes), v: dequantize(v, withTensorBytes(v) { Array($0.buffer) }),
                heads: t.source.ne[2], nope: t.source.ne[0], value: v.ne[1], rank: rank) else {
                preconditionFailure("kv_b_proj of \(t.source.name) needs its halves' values (shapes checked at open)")
            }
            return kv.withUnsafeBytes { Array($0) }
        }
        if let up = t.interleaved {
            let other = withTensorBytes(up) { Array($0.buffer[t.range]) }
            // tensorMappings checked both halves have the same dims and type, so the rows split evenly.
            guard let rows = t.shape.first, let joined = GGUFPermutation.interleaveRows(bytes, other, rows: rows / 2) else {
                preconditionFailure("gate_up halves of \(t.name) checked at open")
            }
            return joined
        }
        guard let heads = t.permutedHeads, let rows = t.shape.first,
              let restored = GGUFPermutation.unpermuteRows(bytes, rows: rows, heads: heads) else { return bytes }
        return restored
    }
}

