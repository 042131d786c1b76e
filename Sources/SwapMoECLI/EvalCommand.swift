import Foundation
import SwapMoECore
import SwapMoEModels

/// `swapmoe eval <archive> --text FILE [--ctx 512] [--json]`
enum EvalCommand {
    static let usage = """
    usage: swapmoe eval <archive> --text FILE [--ctx 512] [--threads N] [--json]

    Perplexity of the model on a text: the whole file is tokenised (default special tokens), cut into
    consecutive windows of --ctx tokens, each run from position 0; the mean next-token negative
    log-likelihood over every predicted token is reported, with its exponential (perplexity).

      --text FILE        the text to score (UTF-8)
      -c, --ctx N        window length in tokens (default 512)
      -t, --threads N    compute threads (default: all cores)
      --json             print {"ppl", "mean_nll", "tokens", "windows", ...}
    \(EngineOptions.help)
    """

    struct Options: Equatable { var engine: EngineOptions; var text: String; var json = false }

    static let spec = Arguments.Spec(options: EngineOptions.optionNames.merging(["--text": []]) { a, _ in a }, flags: ["--json": []])

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to evaluate" : "expected one archive path") }
        guard let text = a.value("--text") else { throw UsageError("missing --text FILE: the text to score") }
        var engine = try EngineOptions(archive: a.positionals[0], a)
        if a.value("--ctx") == nil { engine.context = 512 }
        return Options(engine: engine, text: text, json: a.has("--json"))
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let text = try readText(o.text)
        let session = try ModelSession(o.engine)
        let ids = session.tokenizer.encode(text, addSpecialTokens: true)
        let bar = ProgressBar("evaluating")
        let r = try session.model.perplexity(ids, context: o.engine.context) { bar.update($0, $1) }
        bar.finish()
        let peak = ProcessMemory.peakRSS()
        if o.json {
            Terminal.out(try jsonLine(["ppl": r.ppl, "mean_nll": r.meanNLL, "tokens": r.tokens, "windows": r.windows,
                                       "predicted_tokens": r.predicted, "ctx": o.engine.context, "seconds": r.seconds,
                                       "tok_s": tokPerSec(r.predicted, r.seconds), "peak_rss_bytes": peak].merging(session.expertStats) { a, _ in a }))
        } else {
            Terminal.out("perplexity \(formatFixed(r.ppl, digits: 4)) (mean NLL \(formatFixed(r.meanNLL, digits: 6))) over \(r.predicted) predicted tokens "
                         + "of \(r.tokens) in \(r.windows) windows of \(o.engine.context)")
            Terminal.err("\(formatFixed(tokPerSec(r.predicted, r.seconds), digits: 1)) tok/s | peak RSS \(ByteSize.format(peak))")
            Terminal.err(session.expertStatsLine)
        }
        return 0
    }
}
