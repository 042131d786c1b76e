import Foundation
import SwapMoECore
import SwapMoEMetrics

/// `swapmoe rouge --pred FILE --ref FILE [--stem] [--json]`
enum RougeCommand {
    static let usage = """
    usage: swapmoe rouge --pred FILE --ref FILE [--stem] [--json]

    ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum of predictions against references, computed as Google's
    rouge-score package does (RougeScorer with its default tokenizer). One example per line in each file;
    both files must have the same number of lines. Reports the plain mean over examples of each precision,
    recall and F-measure (rouge-score's BootstrapAggregator reports a resampled median of means instead,
    which is close to but not exactly this). A line is one sentence for ROUGE-Lsum, so there it equals
    ROUGE-L; score multi-sentence summaries with the SwapMoEMetrics library, sentences split by newlines.

      --pred FILE        predicted summaries, one per line (UTF-8)
      --ref FILE         reference summaries, one per line, in the same order
      --stem             Porter-stem words longer than 3 letters (rouge-score's use_stemmer=True)
      --json             print {"examples", "stemmed", "rouge1": {"precision", "recall", "fmeasure"}, ...}
    """

    static let spec = Arguments.Spec(options: ["--pred": [], "--ref": []], flags: ["--stem": [], "--json": []])

    struct Options: Equatable { var pred: String; var ref: String; var stem = false; var json = false }

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.isEmpty else { throw UsageError("unexpected argument '\(a.positionals[0])'; give the files as --pred FILE --ref FILE") }
        guard let pred = a.value("--pred") else { throw UsageError("missing --pred FILE: the predictions, one per line") }
        guard let ref = a.value("--ref") else { throw UsageError("missing --ref FILE: the references, one per line") }
        return Options(pred: pred, ref: ref, stem: a.has("--stem"), json: a.has("--json"))
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let predictions = try readLines(o.pred), references = try readLines(o.ref)
        guard predictions.count == references.count else {
            throw RougeError.lineCounts(pred: o.pred, predLines: predictions.count, ref: o.ref, refLines: references.count)
        }
        guard !predictions.isEmpty else { throw RougeError.empty(o.pred, o.ref) }
        let scorer = RougeScorer(types: RougeType.standard, useStemmer: o.stem)
        var agg = RougeAggregator()
        for (p, r) in zip(predictions, references) { agg.add(scorer.score(reference: r, prediction: p)) }
        let means = RougeType.standard.map { ($0, agg.mean($0) ?? .zero) }
        if o.json {
            var obj: [String: Any] = ["examples": agg.count, "stemmed": o.stem]
            for (t, s) in means { obj[t.description] = ["precision": s.precision, "recall": s.recall, "fmeasure": s.fmeasure] }
            Terminal.out(try jsonLine(obj))
        } else {
            Terminal.out(describe(means, examples: agg.count, stem: o.stem))
        }
        return 0
    }

    static func describe(_ means: [(RougeType, RougeScore)], examples: Int, stem: Bool) -> String {
        let column = { (s: String) in String(repeating: " ", count: max(0, 9 - s.count)) + s }
        var lines = ["ROUGE over \(examples) example\(examples == 1 ? "" : "s")\(stem ? ", Porter-stemmed" : "") (mean per example, x100):",
                     String(repeating: " ", count: 10) + column("P") + column("R") + column("F")]
        for (t, s) in means {
            lines.append(t.description.padding(toLength: 10, withPad: " ", startingAt: 0) + [s.precision, s.recall, s.fmeasure].map { column(formatFixed(100 * $0, digits: 2)) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// One example per line: split on `\n`, a `\r` before it dropped, and no extra empty example after a
    /// final newline. Blank lines in between are examples (empty texts score 0).
    static func readLines(_ path: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else { throw RougeError.missing(path) }
        // Split on the scalar U+000A, not on Characters: "\r\n" is a single Character.
        var lines = try readText(path).unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { s in
            var line = String(Substring(s))
            if line.unicodeScalars.last == "\r" { line.unicodeScalars.removeLast() }
            return line
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

enum RougeError: Error, CustomStringConvertible {
    case missing(String)
    case lineCounts(pred: String, predLines: Int, ref: String, refLines: Int)
    case empty(String, String)

    var description: String {
        switch self {
        case .missing(let p): "file '\(p)' does not exist; check the --pred / --ref path"
        case let .lineCounts(pred, p, ref, r):
            "--pred '\(pred)' has \(p) lines but --ref '\(ref)' has \(r); give one prediction per reference, one per line, in the same order"
        case let .empty(pred, ref): "--pred '\(pred)' and --ref '\(ref)' hold no lines; give one example per line"
        }
    }
}
