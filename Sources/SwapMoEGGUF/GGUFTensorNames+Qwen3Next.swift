import Foundation
import SwapMoECore

/// Qwen3-Next (llama.cpp's qwen3next) as convert_hf_to_gguf writes it (`Qwen3NextModel.modify_tensors`), each change
/// and what undoes it (HF names under `model.layers.N.`):
/// - `attn_qkv` + `attn_gate` -> `linear_attn.in_proj_qkvz`: rows regrouped from per key head [q, k, v, z] to
///   [all q, all k, all v] and [all z]; `GGUFDeltaNetRows.join`;
/// - `ssm_a` -> `linear_attn.A_log`: stored as A = −exp(A_log); `GGUFValueMap.logOfNegated`;
/// - `attn_norm`, `post_attention_norm`, `attn_q_norm`, `attn_k_norm`, `output_norm` -> the zero-centred norms:
///   stored as w + 1; `GGUFValueMap.minusOne` (the DeltaNet's gated norm `ssm_norm` is a plain scale, kept);
/// - `ssm_conv1d` -> `linear_attn.conv1d`: `[C, 1, K]` squeezed to `[C, K]` (same bytes, HF's shape given back);
/// - `ssm_dt.bias` -> `linear_attn.dt_bias`, renamed; `ssm_ba`, `ssm_out`, `ssm_in` (older files: in_proj_qkvz as
///   is) -> `in_proj_ba`, `out_proj`, `in_proj_qkvz`, unchanged.
extension GGUFTensorNames {
    /// The qwen3next tensors that differ from Qwen2/3-MoE's (whose names `map` gives the rest: attention, router,
    /// experts, shared expert and its gate): the zero-centred norms and the DeltaNet's; nil for the others.
    static func qwen3Next(_ name: String, role: String, kind: String, layer: Int) -> GGUFTensorMapping? {
        let l = "model.layers.\(layer).", a = l + "linear_attn."
        func one(_ hf: String) -> GGUFTensorMapping { .init(gguf: name, target: .tensor(hf), permutedHeads: nil) }
        func norm(_ hf: String) -> GGUFTensorMapping { .init(gguf: name, target: .values(hf, .minusOne), permutedHeads: nil) }
        switch (role, kind) {
        case ("attn_norm", "weight"): return norm(l + "input_layernorm.weight")
        case ("post_attention_norm", "weight"), ("ffn_norm", "weight"): return norm(l + "post_attention_layernorm.weight")
        case ("attn_q_norm", "weight"): return norm(l + "self_attn.q_norm.weight")
        case ("attn_k_norm", "weight"): return norm(l + "self_attn.k_norm.weight")
        case ("attn_qkv", "weight"):
            return .init(gguf: name, target: .deltaNetInput(a + "in_proj_qkvz.weight", gate: "blk.\(layer).attn_gate.weight"), permutedHeads: nil)
        case ("attn_gate", "weight"): return .init(gguf: name, target: .mergedInto("blk.\(layer).attn_qkv.weight"), permutedHeads: nil)
        case ("ssm_in", "weight"): return one(a + "in_proj_qkvz.weight")
        case ("ssm_ba", "weight"): return one(a + "in_proj_ba.weight")
        case ("ssm_conv1d", "weight"): return one(a + "conv1d.weight")
        case ("ssm_dt", "bias"): return one(a + "dt_bias")
        case ("ssm_norm", "weight"): return one(a + "norm.weight")
        case ("ssm_out", "weight"): return one(a + "out_proj.weight")
        default: return nil
        }
    }
}

/// Element-wise changes convert_hf_to_gguf makes to Qwen3-Next's small tensors (all f32 in its files), inverted.
public enum GGUFValueMap: Sendable, Hashable {
    /// A zero-centred RMSNorm weight w, stored as v = w + 1 (in f32): v − 1 is exact for every float32 v the
    /// converter can write (Sterbenz for v in [0.5, 2]; a multiple of v's ulp otherwise), so the engine's 1 + (v − 1)
    /// is v again: the scale llama.cpp multiplies by, and transformers' 1 + w on the checkpoint.
    case minusOne
    /// `A_log`, stored as A = −exp(A_log): the float32 x whose −expf(x) is A (the engine computes −expf(A_log)),
    /// searched a few ulps around log(−A); the nearest when none hits A exactly.
    case logOfNegated

    public func apply(_ v: Float) -> Float {
        switch self {
        case .minusOne: v - 1
        case .logOfNegated: Self.logOfNegated(v)
        }
    }

    /// Little-endian f32 bytes as floats (a trailing partial value is dropped), and back.
    static func floats(_ b: [UInt8]) -> [Float] {
        stride(from: 0, to: b.count - 3, by: 4).map {
            Float(bitPattern: UInt32(b[$0]) | UInt32(b[$0 + 1]) << 8 | UInt32(b[$0 + 2]) << 16 | UInt32(b[$0 + 3]) << 24)
        }
    }

    static func bytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v.bitPattern >> (8 * $0)) } }
    }

    static func logOfNegated(_ a: Float) -> Float {
        let target = -a
        let guess = Float(log(Double(target)))
        guard target > 0, target.isFinite, guess.isFinite else { return guess }
        var best = guess, bestError = abs(expf(guess) - target)
        var down = guess, up = guess
        for _ in 0..<8 where bestError > 0 {
            down = down.nextDown
            up = up.nextUp
            for x in [down, up] {
                let e = abs(expf(x) - target)
                if e < bestError { (best, bestError) = (x, e) }
            }
        }
        return best
    }
}

/// Qwen3-Next's `in_proj_qkvz` from the converter's two halves: HF's rows come per key head g (of `groups`) as
/// [q_g (dk), k_g (dk), v_g (r · dv), z_g (r · dv)]; `attn_qkv` holds [q of every key head, k of every key head, v
/// of every value head] and `attn_gate` z of every value head. Whole rows move, so any row-wise storage works.
public enum GGUFDeltaNetRows {
    /// The HF rows from `qkv` (`qkvRows` rows) and `gate` (`gateRows` rows of the same width); nil when the sizes
    /// do not split into `groups` key heads.
    public static func join(qkv: [UInt8], qkvRows: Int, gate: [UInt8], gateRows: Int, groups: Int) -> [UInt8]? {
        guard groups > 0, groups <= Int.max / 2, qkvRows > gateRows, gateRows > 0, gateRows % groups == 0,
              (qkvRows - gateRows) % (2 * groups) == 0, qkv.count % qkvRows == 0, gate.count % gateRows == 0,
              qkv.count / qkvRows == gate.count / gateRows else { return nil }
        let width = qkv.count / qkvRows, dk = (qkvRows - gateRows) / (2 * groups), v = gateRows / groups
        var out: [UInt8] = []
        out.reserveCapacity(qkv.count + gate.count)
        func rows(_ from: [UInt8], _ start: Int, _ count: Int) { out += from[(start * width)..<((start + count) * width)] }
        for g in 0..<groups {
            rows(qkv, g * dk, dk)
            rows(qkv, groups * dk + g * dk, dk)
            rows(qkv, 2 * groups * dk + g * v, v)
            rows(gate, g * v, v)
        }
        return out
    }

    /// The converter's split itself (HF rows -> `attn_qkv`, `attn_gate`), for tests and writers.
    public static func split(_ qkvz: [UInt8], rows: Int, keyDim dk: Int, valueRows v: Int, groups: Int) -> (qkv: [UInt8], gate: [UInt8])? {
        guard groups > 0, dk > 0, v > 0, Checked.product([groups, Checked.total([dk, dk, v, v]) ?? -1]) == rows,
              qkvz.count % rows == 0 else { return nil }
        let width = qkvz.count / rows, group = 2 * dk + 2 * v
        func part(_ offset: Int, _ count: Int) -> [UInt8] {
            var out: [UInt8] = []
            for g in 0..<groups {
                let first = g * group + offset
                out += qkvz[(first * width)..<((first + count) * width)]
            }
            return out
        }
        return (part(0, dk) + part(dk, dk) + part(2 * dk, v), part(2 * dk + v, v))
    }
}

extension GGUFModel {
    /// Qwen3-Next's DeltaNet key heads (`qwen3next.ssm.group_count`): the groups of in_proj_qkvz's rows.
    func deltaNetGroups() throws(GGUFError) -> Int {
        let groups = try file.int("qwen3next.ssm.group_count")
        guard groups > 0 else { throw .badMetadata(file: fileName, key: "qwen3next.ssm.group_count", reason: "is \(groups), expected >= 1") }
        return groups
    }

    /// `attn_qkv` and its `attn_gate`: matrices of one width whose rows split into the key heads' groups.
    func checkDeltaNetInput(_ t: GGUFTensorInfo, gate: GGUFTensorInfo) throws(GGUFError) {
        let groups = try deltaNetGroups()
        let (twice, overflow) = groups.multipliedReportingOverflow(by: 2)
        guard t.ne.count == 2, gate.ne.count == 2, t.ne[0] == gate.ne[0], !overflow, t.ne[1] > gate.ne[1],
              gate.ne[1] % groups == 0, (t.ne[1] - gate.ne[1]) % twice == 0 else {
            throw .badTensor(file: fileName, tensor: t.name,
                             reason: "has dims \(t.ne) and \(gate.name) \(gate.ne), which do not split into \(groups) key heads of [q, k, v] and z rows of one width")
        }
    }

    /// The HF tensors `attn_qkv` and `attn_gate` hold: in_proj_qkvz when both have one type (rows joined), else the
    /// halves as they are, under transformers' names for them (`in_proj_qkv`, `in_proj_z`, which the family also
    /// reads): llama-quantize's K-quant mixes give `attn_qkv` more bits than `attn_gate` on some layers, and joining
    /// blocks of two types would need a re-quantization.
    func deltaNetInput(_ t: GGUFTensorInfo, name: String, gate: GGUFTensorInfo) throws(GGUFError) -> [GGUFHFTensor] {
        if gate.type == t.type {
            guard let rows = Checked.sum(t.ne[1], gate.ne[1]) else {
                throw .badTensor(file: fileName, tensor: t.name, reason: "has too many rows (\(t.ne))")
            }
            return [GGUFHFTensor(name: name, shape: [rows, t.ne[0]], source: t, range: 0..<t.byteCount, permutedHeads: nil, deltaNetGate: gate)]
        }
        let prefix = String(name.dropLast("in_proj_qkvz.weight".count))
        return [GGUFHFTensor(name: prefix + "in_proj_qkv.weight", shape: t.shape, source: t, range: 0..<t.byteCount, permutedHeads: nil),
                GGUFHFTensor(name: prefix + "in_proj_z.weight", shape: gate.shape, source: gate, range: 0..<gate.byteCount, permutedHeads: nil)]
    }
}
