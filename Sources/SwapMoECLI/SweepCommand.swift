import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEEngine
import SwapMoERuntime

/// `swapmoe sweep <archive> --text FILE [--caps 25%,50%,75%,100%] [--policies exact,swap,static] ...`
enum SweepCommand {
    static let usage = """
    usage: swapmoe sweep <archive> --text FILE [--caps 25%,50%,75%,100%] [--policies exact,swap,static]
                         [--ctx 512] [--calibration FILE] [--profile FILE] [--threads N] [--json] [--svg FILE]

    The quality/memory trade-off: runs `eval` on --text without a cap (resident, the reference) and then at
    every cap and policy, each in its own process so each run's peak RSS is its own, and prints perplexity,
    KL divergence from the resident model's next-token distribution, top-1 agreement with it, tokens/s,
    peak RSS, and the expert bytes actually held (and the experts' bits per weight).

      --caps LIST         caps as a share of the expert bytes on top of what the rest of the process needs
                          (50% = room for half the experts), or absolute sizes (1.5G); a share below what a
                          policy needs is raised to its minimum, and the row says so
      --policies LIST     any of exact, swap, static, swap-uniform, shadow, shadow:TYPE (default:
                          exact,swap,static); swap splits its Virtual Experts by the layer profile when there
                          is one (the row says swap-profiled), swap-uniform evenly whatever the profile;
                          shadow at the same cap as swap, its shadows' type chosen under the cap (auto) or
                          TYPE (shadow:q4_K)
      --calibration FILE  text for the static policy's calibration pass (default: --text itself)
      --profile FILE      the layer profile swap uses (default: ARCHIVE.profile.json when it exists)
      -c, --ctx N         window length (default 512, at most the model's trained length)
      --svg FILE          also draw perplexity and tokens/s against memory
      --json              print one JSON object
    """

    struct Options: Equatable {
        var archive: String
        var text: String
        var caps = ["25%", "50%", "75%", "100%"]
        var policies: [Policy] = [.exact, .swap, .static]
        /// `swap-uniform` was listed: swap rows without the layer profile, beside the profiled ones.
        var uniformSwap = false
        /// The shadow rows' `--shadow` values (`auto` for a plain `shadow`), in the order listed.
        var shadowTypes: [String] = []
        var calibration: String?
        var profile: String?
        /// nil: 512 capped at the model's trained length (`fitContext`).
        var context: Int?
        var threads: Int?
        var json = false
        var svg: String?
    }

    static let spec = Arguments.Spec(options: ["--text": [], "--caps": [], "--policies": [], "--calibration": [], "--profile": [], "--ctx": ["-c"],
                                               "--threads": ["-t"], "--svg": []], flags: ["--json": []])

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to sweep" : "expected one archive path") }
        guard let text = a.value("--text") else { throw UsageError("missing --text FILE: the text to score") }
        var o = Options(archive: a.positionals[0], text: text)
        if let c = a.value("--caps") {
            o.caps = c.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            for cap in o.caps {
                if cap.hasSuffix("%") { _ = try parseExpertShare(cap, "--caps") }
                else if ByteSize.parse(cap) == nil { throw UsageError("--caps takes percentages of the expert bytes (50%) or sizes (1.5G), not '\(cap)'") }
            }
        }
        if let p = a.value("--policies") {
            let names = p.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            o.uniformSwap = names.contains("swap-uniform")
            o.shadowTypes = names.filter { $0.lowercased() == "shadow" || $0.lowercased().hasPrefix("shadow:") }
                .map { $0.contains(":") ? String($0.split(separator: ":", maxSplits: 1)[1]) : "auto" }
            let plain = names.filter { $0 != "swap-uniform" && !$0.lowercased().hasPrefix("shadow:") }
            o.policies = try (o.shadowTypes.isEmpty || plain.contains { $0.lowercased() == "shadow" } ? plain : plain + ["shadow"]).map { (s) throws(UsageError) -> Policy in
                let pol = try parsePolicy(s)
                guard pol != .resident else { throw UsageError("--policies lists capped policies (exact, swap, static); resident is always the reference") }
                return pol
            }
        }
        o.calibration = a.value("--calibration")
        o.profile = a.value("--profile")
        if let c = a.value("--ctx") { o.context = try parsePositive(c, "--ctx") }
        if let t = a.value("--threads") { o.threads = try parsePositive(t, "--threads", max: maxThreads) }
        o.json = a.has("--json")
        o.svg = a.value("--svg")
        return o
    }

    /// One evaluated configuration.
    struct Row {
        var policy: String
        var cap: String
        var capBytes: Int?
        /// The share the cap was raised to, when the one asked for is below what the policy needs.
        var raisedTo: String?
        var result: [String: Any]?
        var error: String?
        func number(_ k: String) -> Double? { (result?[k] as? NSNumber)?.doubleValue }
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let archive = try Archive(path: o.archive)
        let config = try archive.modelConfig()
        let context = fitContext(config, requested: o.context, preferred: 512)
        let planner = try Session.makePlanner(archive, config: config, context: context, baseline: Int(ProcessMemory.currentRSS()))
        let bitsPerWeight = ArchiveStats(archive.manifest).expertBitsPerWeight
        let refFile = NSTemporaryDirectory() + "swapmoe-sweep-\(getpid()).logits"
        defer { FileSystem.remove(refFile) }
        var common = ["--text", o.text, "--ctx", "\(context)", "--json"]
        if let t = o.threads { common += ["--threads", "\(t)"] }

        var rows: [Row] = []
        let reference = child(["eval", o.archive] + common + ["--save-logits", refFile])
        guard let ref = reference.result else {
            throw SweepError.referenceFailed(reference.error ?? "unknown error")
        }
        rows.append(Row(policy: "resident", cap: "none", capBytes: nil, result: ref))
        var options = SessionOptions(archive: o.archive)
        options.profile = o.profile
        let profiled = try Session.loadProfile(options, archive: archive) != nil
        // (label, policy, extra eval arguments): swap with the profile when there is one, and without it if asked.
        let profileArgs = o.profile.map { ["--profile", $0] } ?? []
        var runs: [(String, Policy, [String])] = o.policies.flatMap { p -> [(String, Policy, [String])] in
            switch p {
            case .swap: [profiled ? ("swap-profiled", p, profileArgs) : ("swap", p, ["--profile", "none"])]
            case .shadow: o.shadowTypes.map { t in (t == "auto" ? "shadow" : "shadow-\(t)", p, ["--shadow", t] + profileArgs) }
            default: [(p.rawValue, p, [])]
            }
        }
        if o.uniformSwap {
            let at = (runs.firstIndex { $0.1 == .swap }).map { $0 + 1 } ?? runs.count
            runs.insert(("swap-uniform", .swap, ["--profile", "none"]), at: at)
        }
        for cap in o.caps {
            for (label, policy, extra) in runs {
                var bytes: Int
                var raisedTo: String?
                if cap.hasSuffix("%"), var share = try? parseExpertShare(cap, "--caps") {
                    // Shadows: the run's own planner decides whether its shadows fit at the cap (it measured its
                    // own baseline); if not, the row runs at the minimum it names (below).
                    if policy != .shadow, let needed = shareBelowMinimum(share, planner: planner, policy: policy) {
                        // This policy cannot run with so few experts: run it at the least it needs, and say so.
                        share = planner.minimumExpertShare(policy)
                        raisedTo = needed
                    }
                    bytes = planner.cap(expertShare: share, policy: policy, ioThreads: 2)
                } else {
                    bytes = Int(ByteSize.parse(cap) ?? 0)
                }
                var args = ["eval", o.archive] + common + ["--reference", refFile, "--policy", policy.rawValue, "--max-rss", "\(bytes)"] + extra
                if policy == .static { args += ["--calibration", o.calibration ?? o.text] }
                var r = child(args)
                if policy == .shadow, let minimum = r.error.flatMap(minimumCap), minimum > bytes {
                    let unit = Double(max(planner.totalExperts * planner.slotSize, 1))
                    let share = Double(minimum - planner.cap(expertShare: 0, policy: policy, ioThreads: 2)) / unit
                    raisedTo = formatFixed((1000 * share).rounded(.up) / 10, digits: 1) + "%"
                    bytes = minimum
                    args[args.firstIndex(of: "--max-rss")! + 1] = "\(bytes)"
                    r = child(args)
                }
                r.policy = label
                r.cap = cap
                r.capBytes = bytes
                r.raisedTo = raisedTo
                rows.append(r)
                if !o.json { Terminal.err("swept \(label) at \(raisedTo ?? cap)") }
            }
        }
        if let svg = o.svg { try drawSVG(rows, to: svg) }
        if o.json {
            Terminal.out(try jsonLine(["archive": o.archive, "text": o.text, "ctx": context, "expert_bits_per_weight": bitsPerWeight,
                                       "rows": rows.map { r -> [String: Any] in
                var d: [String: Any] = ["policy": r.policy, "cap": r.cap]
                if let b = r.capBytes { d["cap_bytes"] = b }
                if let s = r.raisedTo { d["raised_to"] = s }
                if let e = r.error { d["error"] = e }
                for k in ["ppl", "kl", "top1_agreement", "tok_s", "peak_rss_bytes", "expert_fraction", "arena_bytes", "swaps", "loads", "shadow_type", "shadow_bytes"] {
                    if let v = r.result?[k] { d[k] = v }
                }
                return d
            }]))
        } else {
            Terminal.out("| policy | cap | experts held | perplexity | KL vs resident | top-1 agreement | tok/s | peak RSS |")
            Terminal.out("|---|---|---:|---:|---:|---:|---:|---:|")
            for r in rows {
                var cap = r.cap + (r.capBytes.map { " (\(ByteSize.format($0)))" } ?? "")
                if let s = r.raisedTo { cap = "\(r.cap) raised to \(s), \(r.policy)'s minimum" + (r.capBytes.map { " (\(ByteSize.format($0)))" } ?? "") }
                guard r.result != nil else { Terminal.out("| \(r.policy) | \(cap) | | \(r.error ?? "failed") | | | | |"); continue }
                let frac = r.number("expert_fraction").map { formatFixed(100 * min($0, 1), digits: 0) + "%" } ?? "100%"
                let shadows = (r.result?["shadow_type"] as? String).map { t in " + \(ByteSize.format(Int(r.number("shadow_bytes") ?? 0))) of \(t) shadows" } ?? ""
                let held = r.number("arena_bytes").map { ByteSize.format(Int($0)) + ", " } ?? ""
                Terminal.out("| \(r.policy) | \(cap) | \(held)\(frac)\(shadows) | "
                             + "\(formatFixed(r.number("ppl") ?? .nan, digits: 3)) | \(r.number("kl").map { formatFixed($0, digits: 5) } ?? "0") | "
                             + "\(r.number("top1_agreement").map { formatFixed(100 * $0, digits: 1) + "%" } ?? "100%") | "
                             + "\(formatFixed(r.number("tok_s") ?? 0, digits: 1)) | \(ByteSize.format(Int(r.number("peak_rss_bytes") ?? 0))) |")
            }
            Terminal.out("experts at \(formatFixed(bitsPerWeight, digits: 2)) bits per weight; \"experts held\": the arena's bytes and the share of all experts it holds at full precision (and the shadow policy's low-bit copies of all of them)")
        }
        return 0
    }

    /// The minimum cap in bytes a `PlanError.capTooSmall` message names ("... (N bytes) ...").
    static func minimumCap(_ message: String) -> Int? {
        guard let end = message.range(of: " bytes)")?.lowerBound else { return nil }
        return Int(String(message[..<end].reversed().prefix { $0.isNumber }.reversed()))
    }

    /// Runs this executable with `args`; the JSON object it prints, or its first error line.
    static func child(_ args: [String]) -> Row {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return Row(policy: "", cap: "", error: "\(error)") }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        if p.terminationStatus == 0, let obj = try? JSONSerialization.jsonObject(with: o) as? [String: Any] {
            return Row(policy: "", cap: "", result: obj)
        }
        let line = String(decoding: e, as: UTF8.self).split(separator: "\n").first.map { String($0) } ?? "exit \(p.terminationStatus)"
        return Row(policy: "", cap: "", error: line.replacingOccurrences(of: "swapmoe: ", with: ""))
    }

    /// Two panels (perplexity, tokens/s) against peak resident memory, one line per policy.
    static func drawSVG(_ rows: [Row], to path: String) throws {
        let ok = rows.filter { $0.result != nil }
        let xs = ok.compactMap { $0.number("peak_rss_bytes") }
        guard let xMin = xs.min(), let xMax = xs.max() else { return }
        let colors = ["resident": "#000000", "exact": "#1f77b4", "swap": "#d62728", "static": "#2ca02c", "shadow": "#9467bd"]
        var svg = #"<svg xmlns="http://www.w3.org/2000/svg" width="900" height="380" font-family="sans-serif" font-size="12">"#
        for (panel, key, title) in [(0, "ppl", "perplexity"), (1, "tok_s", "tokens/s")] {
            let ys = ok.compactMap { $0.number(key) }
            guard let yMin = ys.min(), let yMax = ys.max() else { continue }
            let ox = 60.0 + Double(panel) * 440, oy = 330.0, w = 360.0, h = 280.0
            func px(_ x: Double) -> Double { ox + (xMax > xMin ? (x - xMin) / (xMax - xMin) : 0.5) * w }
            func py(_ y: Double) -> Double { oy - (yMax > yMin ? (y - yMin) / (yMax - yMin) : 0.5) * h }
            svg += #"<text x="\#(ox + w / 2)" y="30" text-anchor="middle" font-weight="bold">\#(title) vs peak RSS</text>"#
            svg += #"<line x1="\#(ox)" y1="\#(oy)" x2="\#(ox + w)" y2="\#(oy)" stroke="gray"/><line x1="\#(ox)" y1="\#(oy)" x2="\#(ox)" y2="\#(oy - h)" stroke="gray"/>"#
            svg += #"<text x="\#(ox)" y="\#(oy + 16)">\#(ByteSize.format(Int(xMin)))</text><text x="\#(ox + w)" y="\#(oy + 16)" text-anchor="end">\#(ByteSize.format(Int(xMax)))</text>"#
            svg += #"<text x="\#(ox - 4)" y="\#(oy)" text-anchor="end">\#(formatFixed(yMin, digits: 2))</text><text x="\#(ox - 4)" y="\#(oy - h + 4)" text-anchor="end">\#(formatFixed(yMax, digits: 2))</text>"#
            for (policy, color) in colors {
                let pts = ok.filter { $0.policy == policy }.compactMap { r -> (Double, Double)? in
                    guard let x = r.number("peak_rss_bytes"), let y = r.number(key) else { return nil }
                    return (x, y)
                }.sorted { $0.0 < $1.0 }
                guard !pts.isEmpty else { continue }
                svg += #"<polyline fill="none" stroke="\#(color)" stroke-width="2" points="\#(pts.map { "\(px($0.0)),\(py($0.1))" }.joined(separator: " "))"/>"#
                for p in pts { svg += #"<circle cx="\#(px(p.0))" cy="\#(py(p.1))" r="3" fill="\#(color)"/>"# }
            }
        }
        for (i, (policy, color)) in colors.sorted(by: { $0.key < $1.key }).enumerated() {
            svg += #"<rect x="\#(60 + i * 110)" y="352" width="12" height="12" fill="\#(color)"/><text x="\#(76 + i * 110)" y="363">\#(policy)</text>"#
        }
        svg += "</svg>\n"
        try svg.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

enum SweepError: Error, CustomStringConvertible {
    case referenceFailed(String)
    var description: String { "the resident reference run failed: \(error); sweep needs the model to fit in memory once without a cap" }
    private var error: String { switch self { case .referenceFailed(let e): e } }
}
