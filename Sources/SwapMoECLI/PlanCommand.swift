import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEEngine
import SwapMoERuntime

/// `swapmoe plan <archive> --max-rss SIZE|--experts N% [--ctx N] [--policy P] [--json]`
enum PlanCommand {
    static let usage = """
    usage: swapmoe plan <archive> (--max-rss SIZE | --experts N%) [--ctx N] [--policy resident|exact|swap|static|shadow]
                        [--shadow TYPE|auto] [--io-threads N] [--parallel N] [--json]

    Shows how a memory cap would be spent: runtime baseline, dense weights, KV cache and workspace,
    I/O buffers, margin, and the expert arena (slots, and Virtual Experts per layer for --policy swap).
    Fails with the minimum cap when SIZE is too small.

      --max-rss SIZE     hard cap on resident memory: 1.5G, 800M, or bytes
      --experts N%       instead of --max-rss: the cap whose arena holds N% of the expert bytes (as in sweep)
      -c, --ctx N        context size in tokens (default 2048, at most the model's trained length)
      --policy P         resident, exact, swap, static or shadow (default: resident if it fits, else exact)
      --shadow TYPE|auto shadow: the type of every expert's low-bit copy (default auto: the most bits that fit)
      --io-threads N     expert loader threads (default 2)
      --parallel N       conversation slots of 'serve --parallel', each with its own KV cache (default 1)
      --profile FILE|none  swap: the layer profile splitting Virtual Experts across layers ('swapmoe profile';
                         default ARCHIVE.profile.json when it exists; none: uniform)
      --json             print the plan as JSON
    """

    static let spec = Arguments.Spec(options: ["--max-rss": [], "--experts": [], "--ctx": ["-c"], "--policy": [], "--io-threads": [], "--threads": ["-t"], "--parallel": ["-np"], "--profile": [], "--shadow": []],
                                     flags: ["--json": []])

    /// A cap in bytes, or the cap whose arena holds a share (0...1) of the expert bytes.
    enum Cap: Equatable { case bytes(Int), expertShare(Double) }

    struct Options: Equatable { var archive: String; var cap: Cap; var context: Int?; var policy: Policy?; var ioThreads = 2; var slots = 1; var json = false; var profile: String?; var shadow: String?
        var threads = ProcessInfo.processInfo.activeProcessorCount }

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to plan for" : "expected one archive path") }
        let cap: Cap
        switch (a.value("--max-rss"), a.value("--experts")) {
        case let (m?, nil): cap = .bytes(try parseCap(m))
        case let (nil, e?): cap = .expertShare(try parseExpertShare(e, "--experts"))
        case (nil, nil): throw UsageError("missing --max-rss SIZE (e.g. 2G, 800M) or --experts N% (e.g. 50%)")
        case (_?, _?): throw UsageError("give --max-rss or --experts, not both")
        }
        var o = Options(archive: a.positionals[0], cap: cap)
        if let c = a.value("--ctx") { o.context = try parsePositive(c, "--ctx") }
        if let p = a.value("--policy") { o.policy = try parsePolicy(p) }
        if let t = a.value("--io-threads") { o.ioThreads = try parsePositive(t, "--io-threads", max: maxThreads) }
        if let t = a.value("--threads") { o.threads = try parsePositive(t, "--threads", max: maxThreads) }
        if let n = a.value("--parallel") { o.slots = try parsePositive(n, "--parallel", max: SessionOptions.maxSlots) }
        o.json = a.has("--json")
        o.profile = a.value("--profile")
        o.shadow = a.value("--shadow")
        if o.shadow != nil, o.policy != .shadow { throw UsageError(SessionError.shadowNeedsPolicy.description) }
        return o
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        let baseline = Int(ProcessMemory.currentRSS())
        let archive = try Archive(path: o.archive)
        let config = try archive.modelConfig()
        var planner = try Session.makePlanner(archive, config: config, context: fitContext(config, requested: o.context, preferred: 2048), baseline: baseline,
                                               sequences: o.slots)
        var options = SessionOptions(archive: o.archive)
        options.profile = o.profile
        planner.profile = try Session.loadProfile(options, archive: archive)
        let cap: Int
        switch o.cap {
        case let .bytes(b): cap = b
        case let .expertShare(s):
            let policy = o.policy ?? .exact
            if let needed = shareBelowMinimum(s, planner: planner, policy: policy) {
                throw UsageError("--experts \(formatFixed(100 * s, digits: 1))% is below the \(needed) of the experts the \(policy.rawValue) policy needs at least; give --experts \(needed) or more")
            }
            cap = planner.cap(expertShare: s, policy: policy, ioThreads: o.ioThreads)
        }
        let policy = o.policy ?? planner.defaultPolicy(cap: cap, ioThreads: o.ioThreads)
        if policy == .shadow {
            try Session.useShadows(o.shadow, planner: &planner, archive: archive, cap: cap, ioThreads: o.ioThreads, threads: o.threads)
        }
        let plan = try planner.plan(cap: cap, policy: policy, ioThreads: o.ioThreads)
        if o.json {
            Terminal.out(try jsonLine(planJSON(plan)))
        } else {
            Terminal.out(describe(plan))
        }
        return 0
    }

    static func planJSON(_ p: MemoryPlan) -> [String: Any] {
        ["cap_bytes": p.cap, "policy": p.policy.rawValue, "baseline_bytes": p.baseline, "dense_bytes": p.dense, "runtime_bytes": p.runtime,
         "io_bytes": p.io, "margin_bytes": p.margin, "slot_bytes": p.slotSize, "slots": p.slots, "arena_bytes": p.arena,
         "total_bytes": p.total, "experts_total": p.totalExperts, "expert_fraction": p.expertFraction, "per_layer": p.perLayer,
         "spare_slots": p.totalSpareSlots, "profiled": p.profiled, "shadow_type": p.shadowType?.rawValue ?? NSNull(), "shadow_bytes": p.shadows,
         "stacks": p.stacks.map { st in
             ["name": st.rawValue, "moe_layers": p.moeLayers.filter { $0.stack == st }.map(\.layer),
              "per_layer": p.moeLayers.indices.filter { p.moeLayers[$0].stack == st }.map { p.perLayer[$0] }, "spare_slots": p.spareSlots] as [String: Any]
         }]
    }

    static func describe(_ p: MemoryPlan) -> String {
        var lines = ["plan for --max-rss \(ByteSize.format(p.cap)), policy \(p.policy.rawValue):"]
        for (name, bytes) in p.breakdown { lines.append("  \(name.padding(toLength: 40, withPad: " ", startingAt: 0)) \(ByteSize.format(bytes))") }
        lines.append("  \("total".padding(toLength: 40, withPad: " ", startingAt: 0)) \(ByteSize.format(p.total)) of \(ByteSize.format(p.cap))")
        lines.append("  experts resident: \(p.slots) slots for \(p.totalExperts) experts (\(formatFixed(100 * p.expertFraction, digits: 1))%)")
        if p.policy.swaps || p.policy == .static {
            // One line per stack: encoder-decoder models run a swap provider (with its own spares) per stack.
            for st in p.stacks {
                let counts = p.moeLayers.indices.filter { p.moeLayers[$0].stack == st }.map { p.perLayer[$0] }
                guard let f = counts.first else { continue }
                let label = p.stacks.count > 1 ? "Virtual Experts per \(st) MoE layer:" : "Virtual Experts per MoE layer:"
                lines.append("  \(label) \(Set(counts).count == 1 ? "\(f)" : counts.map(String.init).joined(separator: ",")) of \(p.expertsPerLayer), plus \(p.spareSlots) spare slots"
                             + (p.profiled ? " (split by the layer profile)" : ""))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// The policy's minimum share of the experts, formatted (`37.5%`, rounded up to 0.1%), when `share` is below it.
func shareBelowMinimum(_ share: Double, planner: Planner, policy: Policy) -> String? {
    let minimum = planner.minimumExpertShare(policy)
    guard policy != .resident, share < minimum else { return nil }
    return formatFixed((1000 * minimum).rounded(.up) / 10, digits: 1) + "%"
}

func parseCap(_ s: String) throws(UsageError) -> Int {
    guard let v = ByteSize.parse(s), v > 0, v < UInt64(Int.max) else { throw UsageError(SessionError.badCap(s).description) }
    return Int(v)
}

/// `50%` -> 0.5; a share of the expert bytes in (0, 100]%.
func parseExpertShare(_ s: String, _ name: String) throws(UsageError) -> Double {
    guard s.hasSuffix("%"), let v = Double(s.dropLast()), v > 0, v <= 100 else {
        throw UsageError("\(name) takes a percentage of the expert bytes in (0, 100], like 50%, not '\(s)'")
    }
    return v / 100
}

func parsePolicy(_ s: String) throws(UsageError) -> Policy {
    guard let p = Policy(rawValue: s.lowercased()) else { throw UsageError("--policy must be resident, exact, swap, static or shadow, not '\(s)'") }
    return p
}

/// The context (tokens) a command runs with (`Session.fitContext`); its warning, if any, goes to stderr.
func fitContext(_ config: any ModelConfig, requested: Int?, preferred: Int) -> Int {
    let fitted = Session.fitContext(config, requested: requested, preferred: preferred)
    if let w = fitted.warning { Terminal.err(w) }
    return fitted.context
}
