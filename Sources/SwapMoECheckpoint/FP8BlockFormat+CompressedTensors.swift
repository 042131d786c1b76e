import SwapMoECore

/// compressed-tensors' FP8 schemes (llm-compressor's output, `quant_method: "compressed-tensors"`):
/// `format` `float-quantized` (or `naive-quantized`, which stores the same `F8_E4M3` weights), and in
/// `config_groups` the weights' `QuantizationArgs`: `num_bits: 8`, `type: "float"`, `symmetric: true`, `strategy`
/// `channel`, `tensor` or `block` (with `block_structure`). Decompressing is `fp8 x weight_scale` whatever the
/// activation scheme, so `input_activations` is not read: activations are computed in float here (as for the `fp8`
/// method's dynamic scheme), and a static scheme's `X.input_scale` tensors, which only quantize activations at
/// inference, are skipped with the weight scales (`FP8BlockFormat.isSideTensor`). `ignore` is not read either: a
/// module it lists is stored in float, without a scale, and read as it is.
extension FP8BlockFormat {
    /// Formats whose weights are `F8_E4M3` beside a `weight_scale` multiplier.
    static let floatFormats: Set<String> = ["float-quantized", "naive-quantized"]

    static func parseCompressedTensors(_ q: JSONValue, path: String) throws(CheckpointError) -> FP8BlockFormat {
        func bad(_ reason: String) -> CheckpointError {
            .badConfig(path: path, reason: "quantization_config (quant_method compressed-tensors): " + reason)
        }
        let remedy = "pack the model's bf16 or FP8 release, or decompress it to bf16 first (compressed-tensors' ModelCompressor.decompress)"
        if let format = q["format"]?.stringValue, !floatFormats.contains(format) {
            let what = switch format {
            case "pack-quantized": "int4/int8 weights packed into int32 (W4A16, W8A16)"
            case "int-quantized": "int8 weights"
            case "nvfp4-pack-quantized": "NVFP4 weights"
            case "mixed-precision": "several weight schemes in one model"
            default: "not FP8 weights"
            }
            throw bad("format '\(format)' (\(what)) is not supported, only float-quantized or naive-quantized FP8; " + remedy)
        }
        if let sparsity = q["sparsity_config"], !sparsity.isNull, let f = sparsity["format"]?.stringValue, f != "dense" {
            throw bad("sparsity_config format '\(f)' is not supported (only dense weights); " + remedy)
        }
        if let kv = q["kv_cache_scheme"], !kv.isNull {
            throw bad("kv_cache_scheme is set (FP8 KV-cache scales are not read); use a release without KV-cache quantization")
        }
        guard let groups = q["config_groups"]?.objectValue, !groups.keys.isEmpty else {
            throw bad("no config_groups; restore the checkpoint's original config.json")
        }
        // The common case is one group (targets ["Linear"]); several are accepted when their weights agree.
        var weights: JSONValue? = nil
        for (name, group) in zip(groups.keys, groups.values) {
            guard let w = group["weights"], !w.isNull else {
                throw bad("config group '\(name)' quantizes no weights (activation-only schemes are not supported); " + remedy)
            }
            if let first = weights, scheme(first) != scheme(w) {
                throw bad("config groups have different weight schemes (\(scheme(first)) and '\(name)': \(scheme(w))); only one FP8 weight scheme per model is supported, " + remedy)
            }
            weights = w
        }
        let w = weights!
        let bits = w["num_bits"]?.intValue, type = w["type"]?.stringValue ?? "int"
        guard bits == 8, type == "float" else {
            throw bad("weights are \(type) with \(bits.map(String.init) ?? "no") num_bits, only 8-bit float (FP8 e4m3) is supported; " + remedy)
        }
        if w["symmetric"]?.boolValue == false {
            throw bad("weights are asymmetric (zero points), only symmetric FP8 is supported; " + remedy)
        }
        if w["dynamic"]?.boolValue == true {
            throw bad("weights are dynamic (no stored scales); restore the checkpoint's original config.json")
        }
        let strategy = w["strategy"]?.stringValue ?? "tensor"
        switch strategy {
        case "channel": return FP8BlockFormat(method: .compressedTensors, strategy: .channel)
        case "tensor": return FP8BlockFormat(method: .compressedTensors, strategy: .tensor)
        case "block":
            guard let sizes = w["block_structure"]?.arrayValue else {
                throw bad("weights have strategy block but no block_structure; restore the checkpoint's original config.json")
            }
            let (bm, bn) = try blockSizes(sizes, key: "block_structure", bad: bad)
            return FP8BlockFormat(method: .compressedTensors, strategy: .block, blockRows: bm, blockCols: bn)
        default:
            throw bad("weight strategy '\(strategy)' is not supported (only channel, tensor or block); " + remedy)
        }
    }

    /// The parts of a group's weight arguments that decide how its tensors are read.
    private static func scheme(_ w: JSONValue) -> String {
        let keys = ["num_bits", "type", "strategy", "block_structure", "group_size", "symmetric"]
        return keys.compactMap { k in w[k].flatMap { $0.isNull ? nil : "\(k)=\(FP8BlockFormat.describe($0))" } }.joined(separator: " ")
    }

    /// Whether `name` is a tensor read with (or for) the FP8 weights rather than a tensor of the model:
    /// compressed-tensors' `X.input_scale` (static activation scales, unused when activations stay float) and
    /// `X.weight_zero_point` (zero for the symmetric schemes this reader accepts). Weight scales are known by
    /// their weights (`Checkpoint.isFP8Scale`).
    public func isSideTensor(_ name: String) -> Bool {
        method == .compressedTensors && (name.hasSuffix(".input_scale") || name.hasSuffix(".weight_zero_point"))
    }
}
