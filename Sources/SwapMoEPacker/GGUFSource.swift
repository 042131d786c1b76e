import Foundation
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive
import SwapMoEGGUF
import SwapMoEKernels

/// A GGUF model (one file or a split set) as the packer reads it: the Hugging Face tensors it holds
/// (`GGUFModel.hfTensors`: experts split from the stacks, attn_q/attn_k rows of llama-architecture files
/// un-permuted, gpt-oss's gate and up rows interleaved, the converter's other changes undone: Docs/GGUF.md), each
/// with its stored dtype (quantized types kept as they are), the config.json its metadata describes, and a
/// tokenizer.json / tokenizer_config.json rebuilt from `tokenizer.ggml.*`.
///
/// Everything that can be refused is checked when this is made, before the packer writes a byte: tensor types
/// (`checkTypesSupported`, naming the tensor and the llama-quantize remedy), names and config. A tokenizer that
/// cannot be rebuilt (an unknown `tokenizer.ggml.pre`, say) is a warning, as a folder without tokenizer.json is:
/// the weights still pack, and inspect / plan work without one.
final class GGUFSource: PackSource {
    let model: GGUFModel
    let origin: SourceInfo?
    let configData: Data
    let config: JSONValue
    let tensorNames: [String]
    private let tensors: [String: (hf: GGUFHFTensor, info: TensorInfo)]
    private let tokenizerFiles: [(name: String, data: Data)]
    let warnings: [String]

    init(path: String) throws {
        let model = try GGUFModel(path: path)
        try model.checkTypesSupported()
        self.model = model
        origin = SourceInfo(format: "gguf", file: model.fileName, parts: model.parts.count > 1 ? model.parts.count : nil)
        config = try model.modelConfig().config
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        configData = try encoder.encode(config)
        var tensors: [String: (hf: GGUFHFTensor, info: TensorInfo)] = [:]
        for t in try model.hfTensors() {
            let start = t.source.range.lowerBound + t.range.lowerBound
            // An interleaved gate_up is twice its gate slice, Qwen3-Next's in_proj_qkvz its two halves, DeepSeek's
            // kv_b_proj and Qwen3-Next's mapped values f32 (copies; `range` only sizes them).
            let count = t.isF32 ? t.shape.reduce(4, *) : t.deltaNetGate.map { t.range.count + $0.byteCount }
                ?? (t.interleaved == nil ? t.range.count : 2 * t.range.count)
            let info = TensorInfo(t.name, dtype: t.isF32 ? .f32 : try model.dtype(of: t.source), shape: t.shape,
                                  range: start..<(start + count))
            tensors[t.name] = (t, info)
        }
        self.tensors = tensors
        tensorNames = tensors.keys.sorted()
        do {
            let tok = try model.tokenizer()
            tokenizerFiles = [("tokenizer.json", try encoder.encode(tok.tokenizerJSON)),
                              ("tokenizer_config.json", try encoder.encode(tok.tokenizerConfig))]
            warnings = []
        } catch {
            tokenizerFiles = []
            warnings = ["the archive has no tokenizer, so run and eval will fail (inspect and plan work): \(error)"]
        }
    }

    func contains(_ name: String) -> Bool { tensors[name] != nil }
    func info(_ name: String) -> TensorInfo? { tensors[name]?.info }

    var totalTensorBytes: Int { tensors.values.reduce(0) { $0 + $1.info.byteCount } }

    /// tokenizer.json and tokenizer_config.json (with the chat template); a GGUF has no generation_config.json.
    func sideFiles() throws -> [(name: String, data: Data)] { tokenizerFiles }

    var inputPaths: [String] { model.parts.map(\.path) }

    func withBytes<R>(_ name: String, _ body: (TensorInfo, UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let (hf, info) = tensors[name] else { throw PackError.missingTensor(name) }
        if let other = hf.latentValue ?? hf.deltaNetGate ?? (hf.valueMap != nil ? hf.source : nil) {
            // DeepSeek's kv_b_proj (both halves dequantized and joined, a few MB a layer), Qwen3-Next's in_proj_qkvz
            // (both halves' rows regrouped) or its norms and A_log (values mapped): a copy, then the pages go.
            let bytes = model.hfBytes(hf, dequantize: Self.floats)
            defer { for t in [hf.source, other] { model.parts[t.part].mapping.release(t.range) } }
            return try bytes.withUnsafeBytes { try body(info, $0) }
        }
        if let up = hf.interleaved {
            // gpt-oss's gate and up rows alternated: a copy of one expert's halves, then both halves' pages go.
            let bytes = model.hfBytes(hf)
            defer {
                for t in [hf.source, up] {
                    let start = t.range.lowerBound + hf.range.lowerBound
                    model.parts[t.part].mapping.release(start..<(start + hf.range.count))
                }
            }
            return try bytes.withUnsafeBytes { try body(info, $0) }
        }
        if hf.permutedHeads != nil {
            // Rows moved back to HF order: a copy (attention projections only, a few MB), then the pages go.
            let bytes = model.hfBytes(hf)
            defer { model.parts[hf.source.part].mapping.release(info.range) }
            return try bytes.withUnsafeBytes { try body(info, $0) }
        }
        return try model.withTensorBytes(hf.source) { (all) throws(any Error) -> R in
            try body(info, UnsafeRawBufferPointer(rebasing: all.buffer[hf.range]))
        }
    }

    func release(_ name: String, piece: UnsafeRawBufferPointer, of base: UnsafeRawBufferPointer) {
        // A copied tensor's (un-permuted, joined, mapped) pages are dropped when `withBytes` ends.
        guard let (hf, info) = tensors[name], !hf.isCopy, let s = piece.baseAddress, let b = base.baseAddress else { return }
        let start = info.range.lowerBound + (s - b)
        model.parts[hf.source.part].mapping.release(start..<(start + piece.count))
    }

    /// A tensor's values as f32 (any stored type the kernels read; `checkTypesSupported` ran at open).
    static func floats(_ info: GGUFTensorInfo, _ bytes: [UInt8]) -> [Float] {
        guard let d = info.dtype, let type = WeightType(d) else { preconditionFailure("\(info.name): type checked at open") }
        let count = bytes.count / d.blockBytes * d.blockSize
        var out = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { convertToFloat($0.baseAddress!, src.baseAddress!, type, count: count) } }
        return out
    }
}
