import Foundation
import SwapMoECore
import SwapMoEModels
import SwapMoERuntime

/// `swapmoe run <archive> -p TEXT [-n 128] [--temp 0.8] [--top-k 40] [--top-p 0.95] [--seed N] ...`
/// `swapmoe run <archive> --input TEXT ...` for encoder-decoder archives.
enum RunCommand {
    static let usage = """
    usage: swapmoe run <archive> -p TEXT [-n 128] [--temp 0.8] [--top-k 40] [--top-p 0.95] [--seed N]
                       [--threads N] [--ctx N] [--ignore-eos] [--json]
           swapmoe run <archive> --input TEXT [-n 128] [...]        (encoder-decoder models: Switch Transformers)

    Generates text. The prompt is encoded as transformers' AutoTokenizer does (default special tokens);
    tokens stream to stdout as they are made; a stats line goes to stderr. An encoder-decoder model
    encodes --input once and decodes from its decoder start token (transformers' generate).

      -p, --prompt TEXT    the prompt (or --prompt-file FILE)
      --input TEXT         encoder-decoder models: the input to encode (or --input-file FILE; -p also works)
      -n, --n-predict N    tokens to generate at most (default 128); stops earlier at end-of-sequence
      --temp T             temperature; 0 is greedy (default 0.8)
      --top-k K            keep the K most likely tokens (default 40; 0 = all)
      --top-p P            nucleus sampling threshold (default 0.95)
      --seed N             sampling seed (default 0)
      -t, --threads N      compute threads (default: all cores)
      -c, --ctx N          context size in tokens (default 2048, at most the model's trained length;
                           encoder-decoder: the longest input and the most decoded tokens, default 512)
      --ignore-eos         keep generating past end-of-sequence
      --chat               treat the prompt as a user message: render it with the model's chat template (as
                           'swapmoe chat' and the server do) and answer it
      --system TEXT        with --chat: a system message before it
      --chat-template FILE with --chat: a Jinja chat template instead of the archive's
    \(EngineOptions.help)
      --json               print one JSON object at the end instead of streaming
    """

    struct Options: Equatable {
        var engine: SessionOptions
        var prompt: String
        var count = 128
        var temperature: Float = 0.8
        var topK = 40
        var topP: Float = 0.95
        var seed: UInt64 = 0
        var ignoreEOS = false
        var json = false
        /// The text came from --input / --input-file (meant for an encoder-decoder model).
        var isInput = false
        /// --chat: the prompt is a user message for the chat template (with --system, --chat-template).
        var chat = false
        var system: String?
        var chatTemplate: String?
    }

    static let spec = Arguments.Spec(
        options: EngineOptions.optionNames.merging(["--prompt": ["-p"], "--prompt-file": [], "--input": [], "--input-file": [], "--n-predict": ["-n"],
                                                    "--system": [], "--chat-template": []]) { a, _ in a }
            .merging(samplingOptions) { a, _ in a },
        flags: ["--json": [], "--ignore-eos": [], "--chat": []])

    static func parse(_ args: [String]) throws -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to run" : "expected one archive path") }
        let given = ["--prompt", "--prompt-file", "--input", "--input-file"].filter { a.value($0) != nil }
        guard given.count <= 1 else { throw UsageError("give one of \(given.joined(separator: ", ")), not several") }
        let prompt: String
        if let p = a.value("--prompt") ?? a.value("--input") { prompt = p }
        else if let f = a.value("--prompt-file") ?? a.value("--input-file") { prompt = try readText(f) }
        else { throw UsageError("missing -p TEXT (or --prompt-file FILE; --input TEXT for encoder-decoder models)") }
        var o = Options(engine: try EngineOptions.parse(archive: a.positionals[0], a), prompt: prompt)
        o.isInput = given.first?.hasPrefix("--input") ?? false
        if let n = a.value("--n-predict") { o.count = try parseNonNegative(n, "-n") }
        let sampler = try parseSampler(a)
        (o.temperature, o.topK, o.topP, o.seed) = (sampler.temperature, sampler.topK, sampler.topP, try parseSeed(a))
        o.ignoreEOS = a.has("--ignore-eos")
        o.chat = a.has("--chat")
        o.system = a.value("--system")
        o.chatTemplate = a.value("--chat-template")
        if !o.chat, o.system != nil || o.chatTemplate != nil { throw UsageError("--system and --chat-template go with --chat") }
        o.json = a.has("--json")
        return o
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let session = try Session(o.engine, accept: .any)
        if session.isEncoderDecoder { return try runSeq2Seq(o, session) }
        if o.isInput { throw UsageError("--input is for encoder-decoder models; this archive is decoder-only, give the prompt with -p TEXT") }
        let r = try generate(o, session)
        let promptRate = tokPerSec(r.promptTokens.count, r.promptSeconds)
        // The first sampled token comes from the prompt's logits; each later one costs one decode step.
        let genRate = tokPerSec(max(r.tokens.count - 1, 0), r.decodeSeconds)
        try report(session, "prompt: \(r.promptTokens.count) tokens, \(formatFixed(promptRate, digits: 1)) tok/s | generated: \(r.tokens.count) tokens, "
                   + "\(formatFixed(genRate, digits: 1)) tok/s", json: !o.json ? nil : [
                    "prompt_ids": r.promptTokens, "generated_ids": r.tokens, "text": r.text, "prompt_tok_s": promptRate, "gen_tok_s": genRate])
        return 0
    }

    /// The sampling options (`--temp`, `--top-k`, `--top-p`, `--seed`) as a sampler, the command line's defaults
    /// for those not given.
    static func parseSampler(_ a: Arguments) throws -> Sampler {
        var s = Sampler(seed: try parseSeed(a))
        if let t = a.value("--temp") { s.temperature = try parseFloat(t, "--temp", range: 0...100) }
        if let k = a.value("--top-k") { s.topK = try parseNonNegative(k, "--top-k") }
        if let p = a.value("--top-p") { s.topP = try parseFloat(p, "--top-p", range: 0...1) }
        return s
    }

    static func parseSeed(_ a: Arguments) throws -> UInt64 {
        guard let s = a.value("--seed") else { return 0 }
        guard let v = UInt64(s) else { throw UsageError("--seed must be a whole number >= 0, not '\(s)'") }
        return v
    }

    static let samplingOptions: [String: [String]] = ["--temp": [], "--top-k": [], "--top-p": [], "--seed": []]

    /// Generates from the prompt (decoder-only) or the input (encoder-decoder), streaming the text to stdout
    /// unless `--json`; stops after an end-of-sequence token (which is returned, but not printed).
    static func generate(_ o: Options, _ session: Session) throws -> GenerationResult {
        let sampler = Sampler(temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed)
        let prompt = o.chat ? try chatPrompt(o, session) : session.encode(o.prompt)
        let r = try session.generate(prompt, maxNewTokens: o.count, sampler: sampler, eos: o.ignoreEOS ? [] : nil) { _, piece in
            if !o.json && !piece.isEmpty { Terminal.writeAll(1, piece) }
            return true
        }
        if !o.json { Terminal.writeAll(1, "\n") }
        return r
    }

    /// `--chat`: the prompt as a user message (after `--system`), rendered with the chat template and tokenized as
    /// the server and `swapmoe chat` do.
    static func chatPrompt(_ o: Options, _ session: Session) throws -> [Int] {
        guard !session.isEncoderDecoder else { throw UsageError("--chat is for decoder-only chat models; this archive is an encoder-decoder model") }
        let (format, warning) = try session.chatFormat(templateFile: o.chatTemplate)
        if let warning { Terminal.err(warning) }
        let messages = (o.system.map { [ChatCommand.message("system", $0)] } ?? []) + [ChatCommand.message("user", o.prompt)]
        do { return session.encodeChat(try format.render(messages)) } catch { throw SessionError.chatTemplate(format.source.description, error.description) }
    }

    /// The end of a run: `summary` with peak RSS and load time, and the expert stats, on stderr; with `json`,
    /// one JSON object on stdout holding it, the same figures and the expert stats.
    static func report(_ session: Session, _ summary: String, json: [String: Any]?) throws {
        let peak = ProcessMemory.peakRSS()
        Terminal.err(summary + " | peak RSS \(ByteSize.format(peak)) | load \(formatFixed(session.loadSeconds, digits: 2)) s")
        Terminal.err(session.expertStatsLine)
        if let json {
            Terminal.out(try jsonLine(json.merging(["peak_rss_bytes": peak, "load_seconds": session.loadSeconds]) { a, _ in a }
                .merging(session.expertStats) { a, _ in a }))
        }
    }

    /// Encoder-decoder generation: encode the input once, then decode from the decoder start token.
    static func runSeq2Seq(_ o: Options, _ session: Session) throws -> Int32 {
        let r = try generate(o, session)
        let inputRate = tokPerSec(r.promptTokens.count, r.promptSeconds)
        let genRate = tokPerSec(r.tokens.count, r.decodeSeconds)
        try report(session, "input: \(r.promptTokens.count) tokens encoded, \(formatFixed(inputRate, digits: 1)) tok/s | generated: \(r.tokens.count) tokens, "
                   + "\(formatFixed(genRate, digits: 1)) tok/s", json: !o.json ? nil : [
                    "input_ids": r.promptTokens, "generated_ids": r.tokens, "text": r.text, "input_tok_s": inputRate, "gen_tok_s": genRate,
                    "dropped_tokens": session.seq2seq!.stats.droppedTokens])
        return 0
    }
}
