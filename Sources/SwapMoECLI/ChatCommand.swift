import Foundation
import Synchronization
import SwapMoECore
import SwapMoEModels
import SwapMoERuntime
#if canImport(Glibc)
import Glibc
#endif

/// `swapmoe chat <archive> [--system TEXT] [-n N] [--temp T] ...`: an interactive conversation in the terminal.
enum ChatCommand {
    static let usage = """
    usage: swapmoe chat <archive> [--system TEXT] [-n 1024] [--temp 0.8] [--top-k 40] [--top-p 0.95] [--seed N]
                        [--chat-template FILE] [--ctx N] [--max-rss SIZE] [...]

    Talks with the model: type a message and press Enter (end a line with \\ to continue on the next one).
    The answer streams as it is generated; Ctrl-C stops the answer, Ctrl-C at the prompt or Ctrl-D quits.
    The conversation is rendered with the model's chat template; each turn reuses the KV cache of the turns
    before it. Commands: /reset (forget the conversation), /stats (engine figures), /help, /quit.

      --system TEXT        system prompt
      -n, --n-predict N    most tokens per answer (default 1024)
      --temp T, --top-k K, --top-p P, --seed N   sampling, as for 'swapmoe run'
      --chat-template FILE a Jinja chat template instead of the archive's
      -t, --threads N      compute threads (default: all cores)
      -c, --ctx N          context size in tokens (default 2048, at most the model's trained length)
    \(EngineOptions.help)
    """

    static let spec = Arguments.Spec(
        options: EngineOptions.optionNames.merging(["--system": [], "--n-predict": ["-n"], "--chat-template": []]) { a, _ in a }
            .merging(RunCommand.samplingOptions) { a, _ in a })

    /// Set by SIGINT while an answer is generated.
    static let interrupted = Atomic<Bool>(false)

    static func run(_ args: [String]) throws -> Int32 {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to chat with" : "expected one archive path") }
        let options = try EngineOptions.parse(archive: a.positionals[0], a)
        let sampler = try RunCommand.parseSampler(a)
        let seed = try RunCommand.parseSeed(a)
        let limit = try a.value("--n-predict").map { try parsePositive($0, "-n") } ?? 1024
        let session = try Session(options, accept: .decoderOnly(command: "chat"))
        let (format, warning) = try session.chatFormat(templateFile: a.value("--chat-template"))
        if let warning { Terminal.err(warning) }
        let system: [JSONValue] = a.value("--system").map { [message("system", $0)] } ?? []
        var messages = system
        let interactive = StandardStream.isTerminal(0)
        if interactive {
            Terminal.err("swapmoe chat: \(session.archive.manifest.family), \(session.context) tokens of context, \(session.policy.rawValue) policy; /help for commands, Ctrl-D to quit")
        }
        var turn = 0
        while let input = readMessage(prompt: interactive) {
            switch input.trimmingCharacters(in: .whitespaces) {
            case "": continue
            case "/quit", "/exit": return 0
            case "/help": Terminal.err("/reset forgets the conversation, /stats shows the engine's figures, /quit ends"); continue
            case "/reset": messages = system; Terminal.err("(conversation reset)"); continue
            case "/stats": Terminal.err(session.expertStatsLine + " | peak RSS \(ByteSize.format(ProcessMemory.peakRSS()))"); continue
            default: break
            }
            messages.append(message("user", input))
            let prompt: [Int]
            do {
                prompt = session.encodeChat(try format.render(messages))
            } catch {
                Terminal.err("swapmoe chat: \(error.description)")
                messages.removeLast()
                continue
            }
            guard prompt.count < session.context else {
                Terminal.err("swapmoe chat: the conversation is \(prompt.count) tokens, the context holds \(session.context); /reset, or restart with a larger --ctx")
                messages.removeLast()
                continue
            }
            // Each answer draws from its own seed: the same conversation gives the same answers.
            let turnSampler = Sampler(temperature: sampler.temperature, topK: sampler.topK, topP: sampler.topP, seed: seed &+ UInt64(turn))
            turn += 1
            let result = try answer(session, prompt: prompt, limit: min(limit, session.context - prompt.count), sampler: turnSampler, stops: format.stopStrings)
            messages.append(message("assistant", result.text))
            let r = result.result
            let rate = tokPerSec(max(r.tokens.count - 1, 0), r.decodeSeconds)
            let how = result.interrupted ? "stopped" : r.finishReason == .eos || result.stopString ? "done" : "hit the limit"
            Terminal.err("[\(r.tokens.count) tokens, \(formatFixed(rate, digits: 1)) tok/s | prompt \(r.promptTokens.count) tokens (\(r.reusedTokens) reused), "
                         + "\(formatFixed(r.promptSeconds, digits: 2)) s | \(how)]")
        }
        if interactive { Terminal.err("") }
        return 0
    }

    /// One answer, streamed to stdout; Ctrl-C stops it (SIGINT is caught only while it is generated).
    static func answer(_ session: Session, prompt: [Int], limit: Int, sampler: Sampler, stops: [String])
        throws -> (text: String, result: GenerationResult, interrupted: Bool, stopString: Bool) {
        interrupted.store(false, ordering: .relaxed)
        signal(SIGINT) { _ in ChatCommand.interrupted.store(true, ordering: .relaxed) }
        defer { signal(SIGINT, SIG_DFL) }
        let a = try session.generate(in: session.slots[0], prompt: prompt, maxNewTokens: limit, sampler: sampler, stops: stops) { shown in
            Terminal.writeAll(1, shown)
            return !interrupted.load(ordering: .relaxed)
        }
        Terminal.writeAll(1, "\n")
        return (a.text, a.result, interrupted.load(ordering: .relaxed), a.stopString)
    }

    static func message(_ role: String, _ content: String) -> JSONValue {
        .object(JSONObject(keys: ["role", "content"], values: [.string(role), .string(content)]))
    }

    /// One message from stdin: a line, or several when lines end with a backslash; nil at end of input.
    static func readMessage(prompt: Bool) -> String? {
        var lines: [String] = []
        while true {
            if prompt { Terminal.writeAll(2, lines.isEmpty ? "> " : ". ") }
            guard let line = readLine(strippingNewline: true) else { return lines.isEmpty ? nil : lines.joined(separator: "\n") }
            if line.hasSuffix("\\") { lines.append(String(line.dropLast())); continue }
            lines.append(line)
            return lines.joined(separator: "\n")
        }
    }
}
