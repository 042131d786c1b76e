import Foundation
import SwapMoECore
import SwapMoETokenizers
import SwapMoEPacker
import SwapMoEArchive

/// `swapmoe pack <hf-folder | model.gguf> -o <file> [--compress none|lz4] [--shuffle] [--dtype keep|bf16|f16|f32] [--quant SPEC]
/// [--no-interleave]`
enum PackCommand {
    static let usage = """
    usage: swapmoe pack <hf-folder | model.gguf> -o <archive> [--compress none|lz4] [--shuffle]
                        [--dtype keep|bf16|f16|f32] [--quant SPEC] [--no-interleave]

    Converts a Hugging Face MoE checkpoint folder (config.json, *.safetensors, tokenizer.json) or a GGUF
    file (llama.cpp's format; any part of a split set, or a folder holding one GGUF model) into one expert
    archive. A GGUF's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and MXFP4 tensors are
    kept as stored; its F32/F16/BF16 ones follow --dtype and --quant. A folder's FP8 block-quantized
    weights (quantization_config quant_method fp8: DeepSeek-V3, Kimi-K2, Qwen3-*-FP8) and compressed-tensors
    FP8 weights (float-quantized, per-channel, per-tensor or block scales) are dequantized and stored as
    bf16 (or --dtype, or --quant from their values). Streams tensor by tensor (bounded memory); writes
    <archive>.partial and renames it into place only when complete.

      -o, --output PATH      archive to write (required)
      --compress none|lz4    compress expert blocks with LZ4 (default: none)
      --shuffle              split bf16/f16 high and low bytes before LZ4 (better ratio; needs --compress lz4)
      --dtype keep|bf16|f16|f32
                             store float weights in this dtype (default: keep the source dtype)
      --quant SPEC           store weight matrices as GGUF-compatible quantized blocks: a type for the
                             experts (q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K, mxfp4),
                             or part=type pairs over experts, dense (attention and dense MLPs), embed,
                             head: e.g. experts=q4_K,dense=q8_0.
                             Routers, norms and biases stay in float. A matrix whose rows are not whole
                             256-blocks takes llama-quantize's 32-block stand-in for a K-type (q4_K -> q5_0,
                             q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K -> q4_0); rows not whole blocks of
                             that stay in float.
      --no-interleave        store Q4_K, Q5_K, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and MXFP4 matrices as plain rows; by default
                             their rows are interleaved eight at a time (Q4_K_X8, ...: the same bytes, laid out for
                             the GEMV and GEMM; faster decode and prefill; makes the archive format version 3)
    """

    static let spec = Arguments.Spec(options: ["--output": ["-o"], "--compress": [], "--dtype": [], "--quant": []], flags: ["--shuffle": [], "--no-interleave": []])

    static func parse(_ args: [String]) throws(UsageError) -> PackOptions {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else {
            throw UsageError(a.positionals.isEmpty ? "missing the checkpoint folder or .gguf file to pack" : "expected one checkpoint folder or .gguf file, got \(a.positionals.count) arguments")
        }
        guard let out = a.value("--output"), !out.isEmpty else { throw UsageError("missing -o <archive>: where to write the archive") }
        var o = PackOptions(input: a.positionals[0], output: out)
        if let c = a.value("--compress") {
            guard let comp = PackOptions.Compression(rawValue: c.lowercased()) else { throw UsageError("--compress must be none or lz4, not '\(c)'") }
            o.compress = comp
        }
        o.shuffle = a.has("--shuffle")
        o.interleave = !a.has("--no-interleave")
        if o.shuffle && o.compress == .none { throw UsageError("--shuffle only helps LZ4; add --compress lz4") }
        if let d = a.value("--dtype"), d.lowercased() != "keep" {
            guard let t = DType(userSpelling: d), t.isComputeFloat else { throw UsageError("--dtype must be keep, bf16, f16 or f32, not '\(d)'") }
            o.dtype = t
        }
        if let q = a.value("--quant") {
            do { o.quant = try QuantSpec(parsing: q) } catch { throw UsageError(error.description) }
        }
        return o
    }

    static func run(_ args: [String]) throws -> Int32 {
        let options = try parse(args)
        InterruptCleanup.install()
        let bar = ProgressBar("packing")
        let summary = try Packer.pack(options) { bar.update($0, $1) }
        bar.finish()
        Terminal.err(summary.line)
        summary.warnings.forEach { Terminal.err("warning: " + $0) }
        if summary.warnings.isEmpty { warnIfTokenizerFails(archive: options.output, input: options.input) }
        return 0
    }
}

/// The archive carries tokenizer.json (verbatim from a folder, rebuilt from a GGUF's metadata); tell the user now,
/// not at `run` time, if it will not load.
func warnIfTokenizerFails(archive path: String, input: String) {
    guard let archive = try? Archive(path: path) else { return }
    guard let json = try? archive.fileData("tokenizer.json") else {
        Terminal.err("warning: '\(input)' has no tokenizer.json; run and eval need one (inspect and plan work without)")
        return
    }
    do { _ = try Tokenizer(tokenizerJSON: json, tokenizerConfigJSON: try archive.fileData("tokenizer_config.json")) }
    catch { Terminal.err("warning: the archive's tokenizer does not load, so run and eval will fail: \(error)") }
}
