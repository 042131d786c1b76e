import Foundation
#if canImport(Glibc)
import Glibc
#endif
import SwapMoECore
import SwapMoEModels
import SwapMoERuntime

/// `swapmoe eval <archive> --text FILE [--ctx 512] [--json]`
/// `swapmoe eval <archive> --text FILE --target FILE [--json]` for encoder-decoder archives.
enum EvalCommand {
    /// The plain-text line for a comparison with reference logits.
    static func describe(_ c: DistributionComparison) -> String {
        "against the reference: mean KL \(formatFixed(c.meanKL, digits: 6)), top-1 agreement \(formatFixed(100 * c.top1Agreement, digits: 2))%"
    }

    static let usage = """
    usage: swapmoe eval <archive> --text FILE [--ctx 512] [--threads N] [--decode] [--json]
           swapmoe eval <archive> --text FILE --target FILE [...]   (encoder-decoder models)

    Perplexity of the model on a text: the whole file is tokenised (default special tokens), cut into
    consecutive windows of --ctx tokens, each run from position 0; the mean next-token negative
    log-likelihood over every predicted token is reported, with its exponential (perplexity).

    An encoder-decoder model scores targets given inputs instead: line i of --text is encoded and the
    decoder is teacher-forced on line i of --target (tokenised with its end-of-sequence token); the
    mean negative log-likelihood is over every target token.

      --text FILE        the text to score (UTF-8); encoder-decoder: the inputs, one per line
      --target FILE      encoder-decoder models: the targets, one per line of --text
      -c, --ctx N        window length in tokens (default 512, at most the model's trained length)
      -t, --threads N    compute threads (default: all cores)
      --save-logits FILE write every predicted position's logits (f32 rows) for later comparison
      --reference FILE   compare with logits saved by another run: adds mean KL(reference || this) and
                         top-1 agreement
      --decode           score one token per forward pass, as generation computes it (the decode kernels:
                         quantized weights then multiply 8-bit activations, as llama.cpp's do); slower
      --json             print {"ppl", "mean_nll", "tokens", "windows", ...}
    \(EngineOptions.help)
    """

    struct Options: Equatable {
        var engine: SessionOptions; var text: String; var json = false; var saveLogits: String?; var reference: String?; var target: String?
        var decode = false
    }

    static let spec = Arguments.Spec(options: EngineOptions.optionNames.merging(["--text": [], "--target": [], "--save-logits": [], "--reference": []]) { a, _ in a },
                                     flags: ["--json": [], "--decode": []])

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to evaluate" : "expected one archive path") }
        guard let text = a.value("--text") else { throw UsageError("missing --text FILE: the text to score") }
        var engine = try EngineOptions.parse(archive: a.positionals[0], a)
        if a.value("--ctx") == nil { engine.context = 512 }
        return Options(engine: engine, text: text, json: a.has("--json"), saveLogits: a.value("--save-logits"), reference: a.value("--reference"),
                       target: a.value("--target"), decode: a.has("--decode"))
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let text = try readText(o.text)
        let session = try Session(o.engine, accept: .any)
        if session.isEncoderDecoder {
            if o.decode { throw UsageError("--decode is for decoder-only models; score this encoder-decoder archive without it") }
            return try runSeq2Seq(o, text, session)
        }
        if o.target != nil { throw UsageError("--target is for encoder-decoder models; this archive is decoder-only: score a text with --text alone") }
        let ids = session.tokenizer.encode(text, addSpecialTokens: true)
        let bar = ProgressBar("evaluating")
        let sink = try LogitsSink(o, vocab: session.vocabSize)
        let r = try session.perplexity(ids, decode: o.decode, onWindow: { bar.update($0, $1) }) { try sink.take($0) }
        bar.finish()
        try sink.finish()
        let peak = ProcessMemory.peakRSS()
        let seconds = r.seconds - sink.seconds
        if o.json {
            Terminal.out(try jsonLine(["ppl": r.ppl, "mean_nll": r.meanNLL, "tokens": r.tokens, "windows": r.windows,
                                       "predicted_tokens": r.predicted, "ctx": session.context, "mode": o.decode ? "decode" : "prefill", "seconds": seconds,
                                       "tok_s": tokPerSec(r.predicted, seconds), "peak_rss_bytes": peak].merging(session.expertStats) { a, _ in a }
                                       .merging(sink.json) { a, _ in a }))
        } else {
            Terminal.out("perplexity \(formatFixed(r.ppl, digits: 4)) (mean NLL \(formatFixed(r.meanNLL, digits: 6))) over \(r.predicted) predicted tokens "
                         + "of \(r.tokens) in \(r.windows) windows of \(session.context)")
            if let c = sink.comparison { Terminal.out(describe(c)) }
            Terminal.err("\(formatFixed(tokPerSec(r.predicted, seconds), digits: 1)) tok/s | peak RSS \(ByteSize.format(peak))")
            Terminal.err(session.expertStatsLine)
        }
        return 0
    }
}

extension EvalCommand {
    /// Teacher-forced target perplexity of an encoder-decoder model over line-aligned input/target pairs.
    static func runSeq2Seq(_ o: Options, _ text: String, _ session: Session) throws -> Int32 {
        guard let targetFile = o.target else {
            throw UsageError("this is an encoder-decoder model: give --target FILE with one target per line of --text")
        }
        func lines(_ s: String) -> [String] { s.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.allSatisfy(\.isWhitespace) } }
        let inputs = lines(text), targets = lines(try readText(targetFile))
        guard !inputs.isEmpty, inputs.count == targets.count else {
            throw UsageError("--text has \(inputs.count) non-empty lines and --target \(targets.count); give one target per input line")
        }
        let sink = try LogitsSink(o, vocab: session.vocabSize)
        let bar = ProgressBar("evaluating")
        let r = try session.targetPerplexity(zip(inputs, targets).map { (input: $0, target: $1) }, onExample: { bar.update($0, $1) }) { try sink.take($0) }
        bar.finish()
        try sink.finish()
        let seconds = r.seconds - sink.seconds
        let mean = r.meanNLL, ppl = r.ppl, count = r.tokens, inputTokens = r.inputTokens
        let peak = ProcessMemory.peakRSS()
        if o.json {
            Terminal.out(try jsonLine(["ppl": ppl, "mean_nll": mean, "tokens": count, "examples": inputs.count, "input_tokens": inputTokens,
                                       "predicted_tokens": count, "ctx": session.context, "seconds": seconds, "tok_s": tokPerSec(count, seconds),
                                       "dropped_tokens": session.seq2seq!.stats.droppedTokens, "peak_rss_bytes": peak]
                .merging(session.expertStats) { a, _ in a }.merging(sink.json) { a, _ in a }))
        } else {
            Terminal.out("target perplexity \(formatFixed(ppl, digits: 4)) (mean NLL \(formatFixed(mean, digits: 6))) over \(count) target tokens "
                         + "of \(inputs.count) examples (\(inputTokens) input tokens)")
            if let c = sink.comparison { Terminal.out(describe(c)) }
            Terminal.err("\(formatFixed(tokPerSec(count, seconds), digits: 1)) tok/s | peak RSS \(ByteSize.format(peak))")
            Terminal.err(session.expertStatsLine)
        }
        return 0
    }
}

/// Where `eval` sends each predicted position's logits: saved (`--save-logits`), compared with a reference
/// (`--reference`), or both. Times itself, so the speed `eval` reports is the model's alone.
final class LogitsSink {
    private let writer: LogitsFile?
    private let reader: LogitsFile?
    private var compared = DistributionComparison()
    private var refRow: [Float]
    private(set) var seconds = 0.0

    init(_ o: EvalCommand.Options, vocab: Int) throws {
        writer = try o.saveLogits.map { try LogitsFile.create($0, vocab: vocab) }
        reader = try o.reference.map { try LogitsFile.open($0, vocab: vocab) }
        refRow = [Float](repeating: 0, count: reader == nil ? 0 : vocab)
    }

    func take(_ row: ArraySlice<Float>) throws {
        guard writer != nil || reader != nil else { return }
        let start = monotonicSeconds()
        defer { seconds += monotonicSeconds() - start }
        try writer?.append(row)
        if let reader {
            try reader.read(row: compared.positions, into: &refRow)
            compared.add(reference: refRow, this: row)
        }
    }

    /// Checks that the reference had exactly as many positions as were evaluated.
    func finish() throws {
        if let reader, compared.positions != reader.rows {
            throw LogitsFileError.mismatch(reader.path, "\(reader.rows) positions saved, \(compared.positions) evaluated")
        }
    }

    var comparison: DistributionComparison? { reader == nil ? nil : compared }
    var json: [String: Any] { reader == nil ? [:] : ["kl": compared.meanKL, "top1_agreement": compared.top1Agreement, "compare_seconds": seconds] }
}

/// Logits of every predicted position, for comparing runs: `SWPLOGT1`, u64 vocab, then f32 rows.
final class LogitsFile {
    static let magic = Array("SWPLOGT1".utf8)
    let path: String
    let vocab: Int
    let rows: Int
    private let fd: FileHandleFD
    private var written = 0

    private init(path: String, vocab: Int, rows: Int, fd: FileHandleFD) { self.path = path; self.vocab = vocab; self.rows = rows; self.fd = fd }

    static func create(_ path: String, vocab: Int) throws -> LogitsFile {
        let fd = try FileHandleFD(path: path, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try fd.pwrite(bytes: magic + UInt64(vocab).littleEndianBytes, offset: 0)
        return LogitsFile(path: path, vocab: vocab, rows: 0, fd: fd)
    }

    static func open(_ path: String, vocab: Int) throws -> LogitsFile {
        let fd = try FileHandleFD.openForReading(path)
        let header = try fd.pread(count: 16, offset: 0)
        guard header.count == 16, Array(header[0..<8]) == magic else { throw LogitsFileError.mismatch(path, "not a logits file saved by 'eval --save-logits'") }
        let v = Int(truncatingIfNeeded: UInt64(littleEndianBytes: header[8...]))
        guard v == vocab else { throw LogitsFileError.mismatch(path, "saved for a vocabulary of \(v), this model has \(vocab)") }
        return LogitsFile(path: path, vocab: vocab, rows: (try fd.size() - 16) / (4 * vocab), fd: fd)
    }

    func append(_ row: ArraySlice<Float>) throws {
        try fd.pwrite(floats: row, offset: 16 + written * 4 * vocab)
        written += 1
    }

    func read(row i: Int, into out: inout [Float]) throws {
        guard i < rows else { throw LogitsFileError.mismatch(path, "has \(rows) positions, more were evaluated") }
        let n = try fd.pread(floats: &out, offset: 16 + i * 4 * vocab)
        guard n == 4 * vocab else { throw LogitsFileError.mismatch(path, "is truncated") }
    }
}

enum LogitsFileError: Error, CustomStringConvertible {
    case mismatch(String, String)
    var description: String {
        switch self { case let .mismatch(p, why): "reference logits '\(p)' \(why); save them again with 'swapmoe eval --save-logits' on the same text and --ctx" }
    }
}
