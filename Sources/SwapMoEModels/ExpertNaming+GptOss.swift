import SwapMoECore
import SwapMoECheckpoint

/// gpt-oss keeps each layer's experts in four tensors under `model.layers.{l}.mlp.experts.`, in one of two layouts:
///
/// - the hub's MXFP4 (`quantization_config.quant_method: mxfp4`): `gate_up_proj_blocks` `[E, 2I, H/32, 16]` and
///   `down_proj_blocks` `[E, H, I/32, 16]` uint8 (two E2M1 codes a byte, low nibble first), their E8M0 scales
///   `gate_up_proj_scales` `[E, 2I, H/32]` and `down_proj_scales` `[E, H, I/32]` uint8: rows are output features,
///   as `nn.Linear.weight`;
/// - transformers' dequantized save: `gate_up_proj` `[E, H, 2I]` and `down_proj` `[E, I, H]` (input first: the
///   model computes `x @ W`), in float;
///
/// with `gate_up_proj_bias` `[E, 2I]` and `down_proj_bias` `[E, H]` in both; or, from a GGUF file, one tensor per
/// expert and part in the archive's layout (`experts.{e}.gate_up.weight`, `.gate_up.bias`, `down.weight`, `down.bias`). Rows (or, dequantized, columns)
/// `2i` of `gate_up` are gate features and `2i + 1` up features; the archive keeps them interleaved as one
/// `gate_up` matrix `[2I, H]` (the kernel splits the pairs), so neither layout needs a row gather.
/// An expert's parts: `gate_up` `[2I, H]`, `gate_up_bias` `[2I]`, `down` `[H, I]`, `down_bias` `[H]`.
extension ExpertNaming {
    public static func gptOss(prefix: String) -> ExpertNaming {
        var n = ExpertNaming(perExpertPrefixes: [], roles: [
            Role("gate_up", shape: { h, i in [2 * i, h] }), Role("down", shape: { h, i in [h, i] }),
            Role("gate_up_bias", shape: { _, i in [2 * i] }), Role("down_bias", shape: { h, _ in [h] })], fusedPrefixes: [])
        n.gptOssPrefixes = [prefix]
        return n
    }

    /// The parts of every expert under `p` (a filled prefix), nil when neither layout is there.
    func resolveGptOss(prefix p: String, experts e: Int, hidden h: Int, intermediate i: Int,
                       in checkpoint: some TensorCatalog) throws(ModelError) -> [[ExpertPart]]? {
        func info(_ suffix: String) -> TensorInfo? { checkpoint.info(p + suffix) }
        func expect(_ t: TensorInfo, _ shape: [Int], _ meaning: String) throws(ModelError) {
            guard t.shape == shape else { throw .badExpertTensor(name: t.name, shape: t.shape, expected: "\(shape) (\(meaning))") }
        }
        // A GGUF's experts (SwapMoEGGUF's names): one tensor per expert and part, already the archive's layout and
        // kept in their stored type (MXFP4 blocks, f32, ...), gate and up rows interleaved by the GGUF reader.
        if info("0.gate_up.weight") != nil {
            return try (0..<e).map { (x: Int) throws(ModelError) -> [ExpertPart] in
                try [("gate_up", "gate_up.weight", [2 * i, h]), ("down", "down.weight", [h, i]),
                     ("gate_up_bias", "gate_up.bias", [2 * i]), ("down_bias", "down.bias", [h])].map { (role, suffix, shape) throws(ModelError) in
                    let name = "\(p)\(x).\(suffix)"
                    guard let t = info("\(x).\(suffix)") else { throw .missingTensor(name) }
                    try expect(t, shape, role)
                    return ExpertPart(role: role, tensor: name, rows: nil, shape: shape)
                }
            }
        }
        guard let gub = info("gate_up_proj_bias"), let db = info("down_proj_bias") else { return nil }
        try expect(gub, [e, 2 * i], "experts, 2 x intermediate")
        try expect(db, [e, h], "experts, hidden")
        /// Expert x's rows of a tensor whose last-dimension rows number `perExpert` per expert.
        func rows(_ x: Int, _ perExpert: Int) -> Range<Int> { (x * perExpert)..<((x + 1) * perExpert) }
        let biases = { (x: Int) in
            [ExpertPart(role: "gate_up_bias", tensor: gub.name, rows: x..<(x + 1), shape: [2 * i]),
             ExpertPart(role: "down_bias", tensor: db.name, rows: x..<(x + 1), shape: [h])]
        }
        if let gu = info("gate_up_proj_blocks"), let gus = info("gate_up_proj_scales"),
           let dn = info("down_proj_blocks"), let dns = info("down_proj_scales") {
            guard h % 32 == 0, i % 32 == 0 else {
                throw .badExpertTensor(name: gu.name, shape: gu.shape, expected: "hidden_size (\(h)) and intermediate_size (\(i)) multiples of 32 for MXFP4 blocks")
            }
            for (t, want) in [(gu, [e, 2 * i, h / 32, 16]), (dn, [e, h, i / 32, 16]), (gus, [e, 2 * i, h / 32]), (dns, [e, h, i / 32])] {
                try expect(t, want, "MXFP4 \(t.name.hasSuffix("_scales") ? "scales: experts, out, in / 32" : "blocks: experts, out, in / 32, 16 bytes")")
                guard t.dtype == .u8 else { throw .badExpertTensor(name: t.name, shape: t.shape, expected: "uint8 MXFP4 bytes, not \(t.dtype.rawValue)") }
            }
            return (0..<e).map { x in
                [ExpertPart(role: "gate_up", tensor: gu.name, rows: rows(x, 2 * i * h / 32), shape: [2 * i, h], transform: .mxfp4(scales: gus.name)),
                 ExpertPart(role: "down", tensor: dn.name, rows: rows(x, h * i / 32), shape: [h, i], transform: .mxfp4(scales: dns.name))] + biases(x)
            }
        }
        guard let gu = info("gate_up_proj"), let dn = info("down_proj") else { return nil }
        try expect(gu, [e, h, 2 * i], "experts, hidden, 2 x intermediate: transformers' dequantized gpt-oss layout")
        try expect(dn, [e, i, h], "experts, intermediate, hidden")
        return (0..<e).map { x in
            [ExpertPart(role: "gate_up", tensor: gu.name, rows: rows(x, h), shape: [2 * i, h], transform: .transposed),
             ExpertPart(role: "down", tensor: dn.name, rows: rows(x, i), shape: [h, i], transform: .transposed)] + biases(x)
        }
    }
}
