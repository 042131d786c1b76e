import Foundation
import SwapMoECore
import SwapMoEMetrics
import SwapMoEModels
import SwapMoERuntime

/// `swapmoe summarize <archive> --data FILE.jsonl [...]`: summarisation with ROUGE, per policy and cap.
enum SummarizeCommand {
    static let usage = """
    usage: swapmoe summarize <archive> --data FILE.jsonl [--prefix TEXT] [-n 64] [--limit N] [--stem]
                             [--out FILE] [--json] [--policy P --max-rss SIZE ...]

    Summarises every document of a JSON-lines file ({"document": ..., "summary": ...} per line) with an
    encoder-decoder archive (Switch Transformers; greedy decoding from the decoder start token) and scores
    the outputs against the reference summaries with ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum, computed as
    Google's rouge-score does (plain means over examples). Run it once per --policy and --max-rss to
    reproduce SwapMoE's summarisation table for your checkpoint and dataset.

      --data FILE        JSON lines, each an object with string "document" and "summary" (other keys ignored)
      --prefix TEXT      prepended to every document (default "summarize: ", the T5-family task prefix)
      -n, --n-predict N  summary tokens at most (default 64); stops earlier at end-of-sequence
      --limit N          only the first N examples
      --stem             Porter-stem words longer than 3 letters in ROUGE (rouge-score's use_stemmer=True)
      --out FILE         also write the generated summaries, one per line
      -t, --threads N    compute threads (default: all cores)
      -c, --ctx N        input tokens kept per document (longer ones are truncated, keeping their final
                         end-of-sequence token) and most summary tokens (default 512)
    \(EngineOptions.help)
      --json             print one JSON object (ROUGE means, tok/s, peak RSS, expert stats)
    """

    struct Options: Equatable {
        var engine: SessionOptions
        var data: String
        var prefix = "summarize: "
        var count = 64
        var limit: Int?
        var stem = false
        var out: String?
        var json = false
    }

    static let spec = Arguments.Spec(
        options: EngineOptions.optionNames.merging(["--data": [], "--prefix": [], "--n-predict": ["-n"], "--limit": [], "--out": []]) { a, _ in a },
        flags: ["--stem": [], "--json": []])

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to summarise with" : "expected one archive path") }
        guard let data = a.value("--data") else { throw UsageError("missing --data FILE: JSON lines with \"document\" and \"summary\"") }
        var o = Options(engine: try EngineOptions.parse(archive: a.positionals[0], a), data: data)
        if let p = a.value("--prefix") { o.prefix = p }
        if let n = a.value("--n-predict") { o.count = try parsePositive(n, "-n") }
        if let l = a.value("--limit") { o.limit = try parsePositive(l, "--limit") }
        o.stem = a.has("--stem")
        o.out = a.value("--out")
        o.json = a.has("--json")
        return o
    }

    /// One example of the data file.
    struct Example: Equatable { var document: String; var summary: String }

    /// Reads JSON lines; blank lines are skipped, anything else that is not an object with string "document"
    /// and "summary" is an error naming its line.
    static func readExamples(_ path: String, limit: Int?) throws -> [Example] {
        guard FileManager.default.fileExists(atPath: path) else { throw SummarizeError.missing(path) }
        var out: [Example] = []
        for (i, line) in try readText(path).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let limit, out.count >= limit { break }
            guard !line.allSatisfy(\.isWhitespace) else { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let doc = obj["document"] as? String, let sum = obj["summary"] as? String else {
                throw SummarizeError.badLine(path, i + 1)
            }
            out.append(Example(document: doc, summary: sum))
        }
        guard !out.isEmpty else { throw SummarizeError.empty(path) }
        return out
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let examples = try readExamples(o.data, limit: o.limit)
        let session = try Session(o.engine, accept: .any)
        guard let model = session.seq2seq else { throw SummarizeError.notEncoderDecoder(o.engine.archive) }
        let scorer = RougeScorer(types: RougeType.standard, useStemmer: o.stem)
        var rouge = RougeAggregator()
        var predictions: [String] = []
        var inputTokens = 0, outputTokens = 0, truncated = 0
        let start = monotonicSeconds()
        for ex in examples {
            var ids = session.tokenizer.encode(o.prefix + ex.document, addSpecialTokens: true)
            if ids.count > model.maxSource {
                // Keep the head and the final token (the tokenizer's end-of-sequence), as truncation does.
                ids = Array(ids.prefix(model.maxSource - 1)) + [ids[ids.count - 1]]
                truncated += 1
            }
            let out = try session.generate(ids, maxNewTokens: min(o.count, model.maxTarget), sampler: .greedy).tokens
            let text = session.decode(out).trimmingCharacters(in: .whitespacesAndNewlines)
            predictions.append(text)
            rouge.add(scorer.score(reference: ex.summary, prediction: text))
            inputTokens += ids.count
            outputTokens += out.count
        }
        let seconds = monotonicSeconds() - start
        if let path = o.out {
            let lines = predictions.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n") + "\n"
            do { try Data(lines.utf8).write(to: URL(fileURLWithPath: path)) } catch { throw SummarizeError.unwritable(path, "\(error.localizedDescription)") }
        }
        let means = RougeType.standard.map { ($0, rouge.mean($0) ?? .zero) }
        let peak = ProcessMemory.peakRSS()
        if o.json {
            var obj: [String: Any] = ["examples": examples.count, "stemmed": o.stem, "input_tokens": inputTokens, "generated_tokens": outputTokens,
                                      "truncated_inputs": truncated, "seconds": seconds, "examples_per_s": Double(examples.count) / max(seconds, 1e-9),
                                      "gen_tok_s": Double(outputTokens) / max(seconds, 1e-9), "peak_rss_bytes": peak]
            for (t, s) in means { obj[t.description] = ["precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure] }
            Terminal.out(try jsonLine(obj.merging(session.expertStats) { a, _ in a }))
        } else {
            Terminal.out(RougeCommand.describe(means, examples: examples.count, stem: o.stem))
        }
        Terminal.err("\(examples.count) examples in \(formatFixed(seconds, digits: 1)) s (\(inputTokens) input tokens, \(outputTokens) generated, "
                     + "\(truncated) inputs truncated to \(model.maxSource)) | peak RSS \(ByteSize.format(peak))")
        Terminal.err(session.expertStatsLine)
        return 0
    }
}

enum SummarizeError: Error, CustomStringConvertible {
    case missing(String)
    case badLine(String, Int)
    case empty(String)
    case notEncoderDecoder(String)
    case unwritable(String, String)

    var description: String {
        switch self {
        case let .missing(p): "no data file at '\(p)'; give --data a JSON-lines file of {\"document\": ..., \"summary\": ...}"
        case let .badLine(p, n): "line \(n) of '\(p)' is not a JSON object with string \"document\" and \"summary\"; fix or remove it"
        case let .empty(p): "'\(p)' has no examples; it needs one {\"document\": ..., \"summary\": ...} object per line"
        case let .notEncoderDecoder(p): "'\(p)' is a decoder-only model; summarize needs an encoder-decoder archive (Switch Transformers). Use run or eval instead"
        case let .unwritable(p, why): "cannot write the summaries to '\(p)' (\(why)); choose another --out path"
        }
    }
}
