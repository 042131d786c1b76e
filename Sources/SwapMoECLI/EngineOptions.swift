import Foundation
import SwapMoECore
import SwapMoERuntime

/// The options every model-running command shares (compute threads, context, and how experts are served under
/// which memory cap), parsed into a `SessionOptions`.
enum EngineOptions {
    static let optionNames: [String: [String]] = [
        "--threads": ["-t"], "--ctx": ["-c"], "--policy": [], "--max-rss": [], "--evict": [], "--swap-interval": [], "--window": [], "--io-threads": [], "--io": [], "--calibration": [], "--prefetch-depth": [], "--lookahead": [], "--profile": [], "--shadow": [],
    ]

    static let help = [
        "  --policy P           resident | exact | swap | static | shadow (default: resident if the model fits --max-rss,",
        "                       else exact)",
        "  --max-rss SIZE       hard cap on resident memory (2G, 800M, bytes); sizes the expert arena",
        "  --evict lru|lfu      exact policy: which resident expert to evict (default lru)",
        "  --swap-interval N    swap policy: tokens between Virtual Expert updates (default 8)",
        "  --window N           swap policy: tokens in the importance window that ranks experts (default 256)",
        "  --io-threads N       expert loader threads (default 2)",
        "  --prefetch-depth N   exact policy: MoE layers ahead whose likely experts are prefetched (default 0: none)",
        "  --lookahead N        exact policy: layers ahead whose experts of the last token are loaded while this",
        "                       layer computes, when the cap cannot hold every layer's (default 2; 0: none)",
        "  --calibration FILE   static policy: text whose routing picks each layer's fixed experts",
        "  --profile FILE|none  swap policy: per-layer sensitivities ('swapmoe profile') that split the Virtual",
        "                       Experts across layers (default: ARCHIVE.profile.json when it exists; none: uniform)",
        "  --shadow TYPE|auto   shadow policy: the type of the low-bit copy of every expert that serves what the",
        "                       Virtual Experts do not (q6_K, q4_K, q3_K, q2_K, ...; default auto: the most bits",
        "                       that fit the cap, the rest of it to full-precision Virtual Experts)",
        "  --io pread|buffered|mmap  load experts with pread + O_DIRECT into the arena (default: from the disk,",
        "                       bypassing the page cache); buffered: plain pread (through the page cache); mmap, for",
        "                       raw archives: serve them from the file mapping, madvise(WILLNEED) in, MADV_DONTNEED out",
        "                       (resident: in place, shared with other processes, instead of copied to huge pages)",
    ].joined(separator: "\n")

    /// The session options of `archive` under the parsed arguments; inconsistent combinations are usage errors.
    static func parse(archive: String, _ a: Arguments) throws(UsageError) -> SessionOptions {
        var o = SessionOptions(archive: archive)
        if let t = a.value("--threads") { o.threads = try parsePositive(t, "--threads", max: maxThreads) }
        if let c = a.value("--ctx") { o.context = try parsePositive(c, "--ctx"); o.contextGiven = true }
        if let p = a.value("--policy") { o.policy = try parsePolicy(p) }
        if let m = a.value("--max-rss") { o.maxRSS = try parseCap(m) }
        if let e = a.value("--evict") {
            guard let v = SessionOptions.Eviction(rawValue: e.lowercased()) else { throw UsageError("--evict must be lru or lfu, not '\(e)'") }
            o.eviction = v
        }
        if let i = a.value("--swap-interval") { o.swapInterval = try parsePositive(i, "--swap-interval") }
        if let w = a.value("--window") { o.window = try parsePositive(w, "--window") }
        if let i = a.value("--io-threads") { o.ioThreads = try parsePositive(i, "--io-threads", max: maxThreads) }
        if let d = a.value("--prefetch-depth") { o.prefetchDepth = try parseNonNegative(d, "--prefetch-depth") }
        if let d = a.value("--lookahead") { o.lookahead = try parseNonNegative(d, "--lookahead") }
        if let m = a.value("--io") {
            guard let v = SessionOptions.IOMode(rawValue: m.lowercased()) else { throw UsageError("--io must be pread, buffered or mmap, not '\(m)'") }
            o.io = v
        }
        o.calibration = a.value("--calibration")
        o.profile = a.value("--profile")
        o.shadow = a.value("--shadow")
        do { try o.validate() } catch { throw UsageError(error.description) }
        return o
    }
}

extension Session {
    /// Opens a session for a command: warnings go to stderr as they are given.
    convenience init(_ options: SessionOptions, accept: Accept) throws {
        try self.init(options: options, accept: accept, warn: { Terminal.err($0) })
    }
}

/// The largest count any numeric option takes (`SessionOptions.maxCount`); thread counts have their own, lower bound.
let maxCount = SessionOptions.maxCount
let maxThreads = SessionOptions.maxThreads

func parsePositive(_ s: String, _ name: String, max: Int = maxCount) throws(UsageError) -> Int {
    guard let v = Int(s), v > 0, v <= max else { throw UsageError(SessionError.outOfRange(name, s, 1...max).description) }
    return v
}

func parseNonNegative(_ s: String, _ name: String, max: Int = maxCount) throws(UsageError) -> Int {
    guard let v = Int(s), v >= 0, v <= max else { throw UsageError(SessionError.outOfRange(name, s, 0...max).description) }
    return v
}

func parseFloat(_ s: String, _ name: String, range: ClosedRange<Float>) throws(UsageError) -> Float {
    guard let v = Float(s), range.contains(v) else { throw UsageError("\(name) must be a number in \(range.lowerBound)...\(range.upperBound), not '\(s)'") }
    return v
}

/// Reads a text file for --text / --prompt-file.
func readText(_ path: String) throws -> String { try Session.readText(path) }

func jsonLine(_ obj: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self)
}

func tokPerSec(_ n: Int, _ s: Double) -> Double { s > 0 ? Double(n) / s : 0 }
