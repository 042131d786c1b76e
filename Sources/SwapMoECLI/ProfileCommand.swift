import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEEngine
import SwapMoERuntime

/// `swapmoe profile <archive> --text FILE [--tokens N] [--budgets LIST] [-o FILE]`
enum ProfileCommand {
    static let usage = """
    usage: swapmoe profile <archive> --text FILE [--tokens 2048] [--budgets LIST] [--ctx 256] [--threads N] [-o FILE]

    SwapMoE's offline planner: measures how much each MoE layer suffers when it keeps fewer experts, so that
    the swap policy gives more Virtual Experts to the layers that need them. With every expert resident, the
    model reads the text; then, for each MoE layer and each budget n, it reads it again with that layer alone
    restricted to its n most routed experts, and records the mean KL divergence of the next-token distributions
    from the first pass. Writes the measurements as JSON (default ARCHIVE.profile.json, which run, eval, chat,
    serve, plan and sweep then use for --policy swap); prints one line per layer. Decoder-only models.

      --text FILE        calibration text (UTF-8), ideally like what the model will serve
      --tokens N         tokens of it to use (default 2048)
      --budgets LIST     experts kept per layer to measure, e.g. 2,4,6 (default: every count from 1 to E - 1,
                         or 8 of them for wider layers; costs in between are interpolated)
      -c, --ctx N        window length (default 256, at most the model's trained length)
      -t, --threads N    compute threads (default: all cores)
      -o, --output FILE  where to write the profile (default ARCHIVE.profile.json)
      --experts          also mask each expert alone and record the KL and loss change it causes, beside
                         SwapMoE's importance of it over the text (how well importance ranks experts:
                         Spearman's rank correlation per layer, printed; one more pass per expert)
    """

    static let spec = Arguments.Spec(options: ["--text": [], "--tokens": [], "--budgets": [], "--ctx": ["-c"], "--threads": ["-t"], "--output": ["-o"]],
                                     flags: ["--experts": []])

    struct Options: Equatable {
        var archive: String; var text: String; var tokens = 2048; var budgets: [Int]?; var context: Int?; var threads: Int?; var output: String?
        var experts = false
    }

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to profile" : "expected one archive path") }
        guard let text = a.value("--text") else { throw UsageError("missing --text FILE: the calibration text") }
        var o = Options(archive: a.positionals[0], text: text)
        if let t = a.value("--tokens") { o.tokens = try parsePositive(t, "--tokens") }
        if let b = a.value("--budgets") {
            o.budgets = try b.split(separator: ",").map { (s) throws(UsageError) -> Int in try parsePositive(String(s), "--budgets") }
            guard let list = o.budgets, !list.isEmpty, zip(list, list.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw UsageError("--budgets takes ascending expert counts, like 2,4,6, not '\(b)'")
            }
        }
        if let c = a.value("--ctx") { o.context = try parsePositive(c, "--ctx") }
        if let t = a.value("--threads") { o.threads = try parsePositive(t, "--threads", max: maxThreads) }
        o.output = a.value("--output")
        o.experts = a.has("--experts")
        return o
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let archive = try Archive(path: o.archive)
        let config = try archive.modelConfig()
        let experts = archive.manifest.model.stacks.map(\.expertsPerLayer).max() ?? 0
        if let b = o.budgets, let bad = b.first(where: { $0 >= experts }) {
            throw UsageError("--budgets lists \(bad), but a layer has \(experts) experts: measure budgets below \(experts) (all of them costs nothing)")
        }
        let context = fitContext(config, requested: o.context, preferred: 256)
        let start = monotonicSeconds()
        let profile = try Session.profile(archive: o.archive, text: o.text, tokens: o.tokens, context: context,
                                          threads: o.threads ?? ProcessInfo.processInfo.activeProcessorCount, budgets: o.budgets,
                                          experts: o.experts, progress: { Terminal.err($0) })
        let output = o.output ?? Session.defaultProfilePath(archive: o.archive)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            try encoder.encode(profile).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw SessionError.unreadable(output)
        }
        Terminal.out("profiled \(profile.layers.count) MoE layers on \(profile.tokens) tokens of \(profile.text) in \(formatFixed(monotonicSeconds() - start, digits: 1)) s -> \(output)")
        return 0
    }
}
