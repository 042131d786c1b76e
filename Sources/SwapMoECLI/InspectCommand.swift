import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoETokenizers

/// `swapmoe inspect <archive> [--tensors] [--experts] [--verify] [--json]`
enum InspectCommand {
    static let usage = """
    usage: swapmoe inspect <archive> [--tensors] [--experts] [--verify] [--json]

    Prints what an archive holds: family, config summary, parameter counts (total, per token), sizes,
    codec and compression ratio per region, tokenizer summary.

      --tensors   list the dense tensors (name, dtype, shape, bytes)
      --experts   list the expert blocks (layer, expert, codec, stored/raw bytes, norm)
      --verify    check every checksum; exit 1 naming the first bad block
      --json      print one JSON object instead of text
    """

    struct Options: Equatable { var path: String; var tensors = false; var experts = false; var verify = false; var json = false }

    static let spec = Arguments.Spec(flags: ["--tensors": [], "--experts": [], "--verify": [], "--json": []])

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to inspect" : "expected one archive path") }
        return Options(path: a.positionals[0], tensors: a.has("--tensors"), experts: a.has("--experts"), verify: a.has("--verify"), json: a.has("--json"))
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let archive = try Archive(path: o.path)
        let m = archive.manifest
        let stats = ArchiveStats(m)
        var failures: [Archive.VerifyFailure] = []
        if o.verify {
            let bar = ProgressBar("verifying")
            failures = try archive.verify { bar.update($0, $1) }
            bar.finish()
        }
        let tokenizer = TokenizerSummary(archive: archive)
        if o.json {
            var obj: [String: Any] = [
                "path": o.path, "format_version": "\(archive.header.major).\(archive.header.minor)", "family": m.family,
                "layers": m.model.stacks.reduce(0) { $0 + $1.layers },
                "moe_layers": m.model.stacks.reduce(0) { $0 + $1.moeLayers.count },
                "experts_per_layer": m.model.stacks.first?.expertsPerLayer ?? 0,
                "experts_per_token": m.model.expertsPerToken, "hidden_size": m.model.hiddenSize, "vocab_size": m.model.vocabSize,
                "tie_word_embeddings": m.model.tieWordEmbeddings,
                "stacks": m.model.stacks.map { ["name": $0.name.rawValue, "layers": $0.layers, "moe_layers": $0.moeLayers, "experts_per_layer": $0.expertsPerLayer] },
                "params_total": stats.paramsDense + stats.paramsExperts, "params_dense": stats.paramsDense,
                "params_experts": stats.paramsExperts, "params_active": stats.paramsActive,
                "dense_bytes": stats.denseBytes, "expert_bytes": stats.expertStoredBytes, "expert_raw_bytes": stats.expertRawBytes,
                "file_bytes": archive.fileSize, "codec": stats.codec, "shuffle": m.pack.shuffle,
                "compression_ratio": stats.compressionRatio, "dtypes": stats.dtypes, "pack_dtype": m.pack.dtype,
                "pack_quant": m.pack.quant ?? "none",
                "source": m.pack.source?.format ?? "safetensors", "source_file": m.pack.source?.file ?? NSNull(), "dequantized": m.pack.dequantized ?? NSNull(),
                "types": Dictionary(uniqueKeysWithValues: stats.byType.map { t, u in
                    (t.rawValue, ["params": u.params, "bytes": u.bytes, "bits_per_weight": u.bitsPerWeight] as [String: Any])
                }),
                "quantized_bytes": stats.quantizedBytes.stored, "quantized_bytes_as_bf16": stats.quantizedBytes.asBF16,
                "expert_blocks": m.experts.count, "dense_tensors": m.dense.count,
                "regions": m.regions.map { ["name": $0.name, "offset": $0.offset, "length": $0.length] },
                "tokenizer": tokenizer.json, "created_by": m.createdBy,
            ]
            if o.tensors {
                obj["tensors"] = m.dense.map { ["name": $0.name, "dtype": $0.dtype.rawValue, "shape": $0.shape, "bytes": $0.length] as [String: Any] }
            }
            if o.experts {
                obj["experts"] = m.experts.map {
                    ["stack": $0.stack.rawValue, "layer": $0.layer, "expert": $0.expert, "codec": $0.codec.rawValue, "stored_bytes": $0.storedLength,
                     "raw_bytes": $0.rawLength, "norm": $0.norm] as [String: Any]
                }
            }
            if o.verify {
                obj["verify"] = ["ok": failures.isEmpty, "bad_blocks": failures.map(\.block)] as [String: Any]
            }
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            Terminal.out(String(decoding: data, as: UTF8.self))
        } else {
            printText(archive, stats, tokenizer, o)
            if o.verify {
                Terminal.out(failures.isEmpty ? "verify: ok (\(m.files.count + m.dense.count + m.experts.count) blocks)"
                                              : "verify: \(failures.count) bad block(s)")
            }
        }
        if let first = failures.first {
            Terminal.err("swapmoe: archive '\(o.path)' is corrupt: \(first.reason) in \(first.block)"
                         + (failures.count > 1 ? " (and \(failures.count - 1) more)" : "") + "; re-pack or re-copy it")
            return 1
        }
        return 0
    }

    static func printText(_ archive: Archive, _ s: ArchiveStats, _ tok: TokenizerSummary, _ o: Options) {
        let m = archive.manifest
        func count(_ n: Int) -> String {
            n >= 1_000_000_000 ? formatFixed(Double(n) / 1e9, digits: 2) + "B" : n >= 1_000_000 ? formatFixed(Double(n) / 1e6, digits: 2) + "M" : "\(n)"
        }
        var lines = [
            "archive      \(o.path) (format \(archive.header.major).\(archive.header.minor), \(ByteSize.format(archive.fileSize)), \(m.createdBy))",
            "family       \(m.family)",
            "source       \(m.pack.source?.text ?? "Hugging Face safetensors")\(m.pack.dequantized.map { " (\($0), dequantized on packing)" } ?? "")",
        ]
        for st in m.model.stacks {
            lines.append("\(st.name.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)) \(st.layers) layers (\(st.moeLayers.count) MoE), \(st.expertsPerLayer) experts per MoE layer, top-\(m.model.expertsPerToken)")
        }
        lines += [
            "model        hidden \(m.model.hiddenSize), vocab \(m.model.vocabSize)\(m.model.tieWordEmbeddings ? ", tied embeddings" : "")",
            "parameters   \(count(s.paramsDense + s.paramsExperts)) total (\(count(s.paramsDense)) dense + \(count(s.paramsExperts)) in experts), \(count(s.paramsActive)) active per token",
            "dtypes       \(s.dtypes.joined(separator: ", ")) (pack --dtype \(m.pack.dtype)\(m.pack.quant.map { " --quant \($0)" } ?? ""))",
        ]
        for (t, u) in s.byType.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            lines.append("  \(t.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(count(u.params)) params, \(ByteSize.format(u.bytes)), \(formatFixed(u.bitsPerWeight, digits: 2)) bits per weight")
        }
        let q = s.quantizedBytes
        if q.stored > 0 {
            let saved = 100 * Double(q.asBF16 - q.stored) / Double(q.asBF16)
            lines.append("quantized    \(ByteSize.format(q.stored)) for what takes \(ByteSize.format(q.asBF16)) in bf16 (\(formatFixed(saved, digits: 1))% smaller)")
        }
        lines += [
            "dense        \(ByteSize.format(s.denseBytes)) in \(m.dense.count) tensors, raw (ratio 1.000)",
            "experts      \(ByteSize.format(s.expertStoredBytes)) stored / \(ByteSize.format(s.expertRawBytes)) raw in \(m.experts.count) blocks, codec \(s.codec)\(m.pack.shuffle ? "+shuffle" : "") (ratio \(formatFixed(s.compressionRatio, digits: 3)))\(lz4Note(s))",
            "tokenizer    \(tok.text)",
        ]
        lines.forEach(Terminal.out)
        if o.tensors {
            Terminal.out("\ndense tensors:")
            for d in m.dense { Terminal.out("  \(d.name)  \(d.dtype.rawValue) \(d.shape)  \(ByteSize.format(d.length))") }
        }
        if o.experts {
            Terminal.out("\nexpert blocks:")
            for e in m.experts {
                Terminal.out("  \(e.stack) layer \(e.layer) expert \(e.expert)  \(e.codec.rawValue)\(e.shuffle > 1 ? "+shuffle\(e.shuffle)" : "")  \(ByteSize.format(e.storedLength)) / \(ByteSize.format(e.rawLength))  norm \(formatFixed(e.norm, digits: 4))")
            }
        }
    }
}

/// A short description of the embedded tokenizer, from the tokenizer itself (so `inspect` also tells
/// whether it loads).
struct TokenizerSummary {
    var json: [String: Any] = ["present": false]
    var text = "none embedded"

    init(archive: Archive) {
        let files = archive.manifest.files.map(\.name)
        guard let data = try? archive.fileData("tokenizer.json") else { return }
        do {
            let t = try Tokenizer(tokenizerJSON: data, tokenizerConfigJSON: try archive.fileData("tokenizer_config.json"))
            json = ["present": true, "kind": t.kind, "vocab_size": t.vocabSize, "bos_token_id": t.bosTokenId ?? NSNull(),
                    "eos_token_ids": t.eosTokenIds, "special_tokens": t.specialTokenIds.compactMap(t.idToToken), "files": files]
            text = t.summary
        } catch {
            json = ["present": true, "error": "\(error)", "files": files]
            text = "does not load: \(error)"
        }
    }
}

/// LZ4 finds little to squeeze in quantized blocks (their scales and packed nibbles look random); say so when it
/// bought under 5%, since decoding it still costs time on every load.
func lz4Note(_ s: ArchiveStats) -> String {
    guard s.codec == "lz4", s.quantizedBytes.stored > 0, s.compressionRatio < 1.05 else { return "" }
    return "; LZ4 gains little on quantized blocks, pack without --compress"
}
