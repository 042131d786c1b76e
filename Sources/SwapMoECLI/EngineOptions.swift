import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoETokenizers
import SwapMoEEngine

/// Options every model-running command shares: compute threads, context, and how experts are served
/// under which memory cap.
struct EngineOptions: Equatable {
    enum Eviction: String, Equatable { case lru, lfu }
    var archive: String
    var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Tokens of context; when `--ctx` is not given, capped at the model's trained length (`fitContext`).
    var context = 2048
    var contextGiven = false
    /// nil: resident when the model fits the cap (or no cap is given), else exact.
    var policy: Policy?
    var maxRSS: Int?
    var eviction = Eviction.lru
    var swapInterval = 8
    var ioThreads = 2
    /// MoE layers ahead whose likely experts the exact policy prefetches (0: none).
    var prefetchDepth = 0
    /// MoE layers ahead whose last-token experts the exact policy loads while the current layer computes.
    var lookahead = 2
    /// `pread` (O_DIRECT) or `buffered` (plain pread) into the arena (any archive), or `mmap` (raw archives: serve
    /// from the mapping, madvise in/out; resident: in place instead of copied).
    var io = IOMode.pread
    /// Text whose routing picks the `static` policy's experts.
    var calibration: String?
    enum IOMode: String, Equatable { case pread, buffered, mmap }

    static let optionNames: [String: [String]] = [
        "--threads": ["-t"], "--ctx": ["-c"], "--policy": [], "--max-rss": [], "--evict": [], "--swap-interval": [], "--io-threads": [], "--io": [], "--calibration": [], "--prefetch-depth": [], "--lookahead": [],
    ]

    static let help = [
        "  --policy P           resident | exact | swap | static (default: resident if the model fits --max-rss, else exact)",
        "  --max-rss SIZE       hard cap on resident memory (2G, 800M, bytes); sizes the expert arena",
        "  --evict lru|lfu      exact policy: which resident expert to evict (default lru)",
        "  --swap-interval N    swap policy: tokens between Virtual Expert updates (default 8)",
        "  --io-threads N       expert loader threads (default 2)",
        "  --prefetch-depth N   exact policy: MoE layers ahead whose likely experts are prefetched (default 0: none)",
        "  --lookahead N        exact policy: layers ahead whose experts of the last token are loaded while this",
        "                       layer computes, when the cap cannot hold every layer's (default 2; 0: none)",
        "  --calibration FILE   static policy: text whose routing picks each layer's fixed experts",
        "  --io pread|buffered|mmap  load experts with pread + O_DIRECT into the arena (default: from the disk,",
        "                       bypassing the page cache); buffered: plain pread (through the page cache); mmap, for",
        "                       raw archives: serve them from the file mapping, madvise(WILLNEED) in, MADV_DONTNEED out",
        "                       (resident: in place, shared with other processes, instead of copied to huge pages)",
    ].joined(separator: "\n")

    init(archive: String, _ a: Arguments) throws(UsageError) {
        self.archive = archive
        if let t = a.value("--threads") { threads = try parsePositive(t, "--threads", max: maxThreads) }
        if let c = a.value("--ctx") { context = try parsePositive(c, "--ctx"); contextGiven = true }
        if let p = a.value("--policy") { policy = try parsePolicy(p) }
        if let m = a.value("--max-rss") { maxRSS = try parseCap(m) }
        if let e = a.value("--evict") {
            guard let v = Eviction(rawValue: e.lowercased()) else { throw UsageError("--evict must be lru or lfu, not '\(e)'") }
            eviction = v
        }
        if let i = a.value("--swap-interval") { swapInterval = try parsePositive(i, "--swap-interval") }
        if let i = a.value("--io-threads") { ioThreads = try parsePositive(i, "--io-threads", max: maxThreads) }
        if let d = a.value("--prefetch-depth") { prefetchDepth = try parseNonNegative(d, "--prefetch-depth") }
        if let d = a.value("--lookahead") { lookahead = try parseNonNegative(d, "--lookahead") }
        if let m = a.value("--io") {
            guard let v = IOMode(rawValue: m.lowercased()) else { throw UsageError("--io must be pread, buffered or mmap, not '\(m)'") }
            io = v
        }
        calibration = a.value("--calibration")
        if let p = policy, p != .resident, maxRSS == nil {
            throw UsageError("--policy \(p.rawValue) needs --max-rss SIZE to size the expert arena")
        }
        if policy == .static, calibration == nil {
            throw UsageError("--policy static needs --calibration FILE: a text whose routing picks each layer's experts")
        }
    }
}

/// The largest count any numeric option takes (tokens, context, repetitions): `ConfigLimits.positions`, so
/// sums and products of options and model sizes cannot overflow. Thread counts have their own, lower bound.
let maxCount = ConfigLimits.positions
let maxThreads = 1024

func parsePositive(_ s: String, _ name: String, max: Int = maxCount) throws(UsageError) -> Int {
    guard let v = Int(s), v > 0, v <= max else { throw UsageError("\(name) must be a whole number from 1 to \(max), not '\(s)'") }
    return v
}

func parseNonNegative(_ s: String, _ name: String, max: Int = maxCount) throws(UsageError) -> Int {
    guard let v = Int(s), v >= 0, v <= max else { throw UsageError("\(name) must be a whole number from 0 to \(max), not '\(s)'") }
    return v
}

func parseFloat(_ s: String, _ name: String, range: ClosedRange<Float>) throws(UsageError) -> Float {
    guard let v = Float(s), range.contains(v) else { throw UsageError("\(name) must be a number in \(range.lowerBound)...\(range.upperBound), not '\(s)'") }
    return v
}

/// An archive opened for inference: the model with its experts served under the chosen policy and cap,
/// and the embedded tokenizer. A decoder-only archive gets a `DecoderModel`; an encoder-decoder one (opened
/// only by the commands that accept it) a `Seq2SeqModel`.
final class ModelSession {
    enum Accept { case decoderOnly(command: String), any }

    let archive: Archive
    let experts: ExpertProvider
    let decoder: DecoderModel?
    let seq2seq: Seq2SeqModel?
    let tokenizer: Tokenizer
    let plan: MemoryPlan?
    let policy: Policy
    let loadSeconds: Double
    /// The context the model was built with (see `fitContext`); for encoder-decoder models, the longest input
    /// and the most decoder positions.
    let context: Int

    /// The decoder-only model (sessions opened with `.decoderOnly` always have one).
    var model: DecoderModel { decoder! }

    /// Context of an encoder-decoder model when `--ctx` is not given (T5's relative positions have no
    /// trained maximum; 512 is T5's input length).
    static let seq2seqContext = 512

    init(_ o: EngineOptions, accept: Accept = .decoderOnly(command: "this command")) throws {
        let start = monotonicSeconds()
        // What the process holds before the model: measured, so the plan accounts for it.
        let baseline = Int(ProcessMemory.currentRSS())
        archive = try Archive(path: o.archive)
        let config = try archive.modelConfig()
        if case .decoderOnly(let command) = accept, config.isEncoderDecoder {
            throw SessionError.encoderDecoder(command, config.family.rawValue)
        }
        if o.io == .mmap, let compressed = archive.experts.first(where: { $0.codec != .raw }) {
            throw SessionError.mmapNeedsRaw(archive.path, compressed.label)
        }
        tokenizer = try ModelSession.loadTokenizer(archive)
        var o = o
        if config.isEncoderDecoder && !o.contextGiven { o.context = ModelSession.seq2seqContext }
        o.context = fitContext(config, requested: o.contextGiven ? o.context : nil, preferred: o.context)
        o.contextGiven = true
        context = o.context
        let planner = try makePlanner(archive, config: config, context: o.context, baseline: baseline)
        let policy = o.policy ?? planner.defaultPolicy(cap: o.maxRSS, ioThreads: o.ioThreads)
        let plan = try o.maxRSS.map { cap throws(PlanError) in try planner.plan(cap: cap, policy: policy, ioThreads: o.ioThreads) }
        self.policy = policy
        self.plan = plan
        experts = try ModelSession.makeProvider(archive, policy: policy, plan: plan, planner: planner, options: o, tokenizer: tokenizer)
        if config.isEncoderDecoder {
            let model = try Seq2SeqModel(archive: archive, experts: experts, maxSource: o.context, maxTarget: o.context, threads: o.threads)
            model.prefetchDepth = o.prefetchDepth
            seq2seq = model
            decoder = nil
        } else {
            let model = try DecoderModel(archive: archive, experts: experts, context: o.context, threads: o.threads)
            model.prefetchDepth = o.prefetchDepth
            // Loading on demand, a long prompt's layers are best run one at a time over the whole prompt.
            model.layerMajorPrefill = policy == .exact
            decoder = model
            seq2seq = nil
        }
        loadSeconds = monotonicSeconds() - start
    }

    static func makeProvider(_ archive: Archive, policy: Policy, plan: MemoryPlan?, planner: Planner, options o: EngineOptions,
                             tokenizer: Tokenizer) throws -> ExpertProvider {
        let loader = ExpertLoader.Options(ioThreads: o.ioThreads, directIO: o.io != .buffered)
        let storage: ExpertStorage = o.io == .mmap ? .mapped : .arena()
        switch policy {
        case .resident:
            return try ResidentExperts(archive: archive, mapped: o.io == .mmap)
        case .exact:
            // One provider serves every stack (keys carry the stack).
            let slots = plan?.slots ?? archive.experts.count
            return try ExactExperts(archive: archive, slots: slots,
                                    options: .init(policy: o.eviction == .lfu ? .lfu : .lru, storage: storage, loader: loader,
                                                   lookahead: o.lookahead))
        case .swap:
            guard let plan else { throw SessionError.policyNeedsCap("swap") }
            return try perStack(plan) { stack throws(EngineError) in
                try SwapExperts(archive: archive, residents: plan.residents(stack: stack),
                                options: .init(stack: stack, spareSlots: plan.spareSlots, swapInterval: o.swapInterval,
                                               window: planner.importanceWindow, initialResidents: .firstRouting,
                                               storage: storage, loader: loader))
            }
        case .static:
            guard let plan, let file = o.calibration else { throw SessionError.policyNeedsCap("static") }
            let chosen = try calibrate(archive, file: file, plan: plan, options: o, tokenizer: tokenizer)
            return try perStack(plan) { stack throws(EngineError) in
                try SwapExperts(archive: archive, residents: plan.residents(stack: stack),
                                options: .init(stack: stack, spareSlots: 0, swapInterval: o.swapInterval, window: planner.importanceWindow,
                                               initialResidents: .explicit(chosen[stack] ?? [:]), storage: storage, loader: loader))
            }
        }
    }

    /// The swap provider of a single-stack model, or one per stack behind `StackedExperts`.
    static func perStack(_ plan: MemoryPlan, _ make: (String) throws(EngineError) -> SwapExperts) throws -> ExpertProvider {
        let stacks = plan.stacks
        if stacks.count == 1 { return try make(stacks[0]) }
        var providers: [String: ExpertProvider] = [:]
        for st in stacks { providers[st] = try make(st) }
        return StackedExperts(providers)
    }

    /// The static baseline's calibration pass: runs the calibration text under the exact policy in the same
    /// number of slots (so the cap holds) and returns, per stack, each layer's most frequently routed experts.
    /// The calibration model and its arena are released before the static provider allocates its own.
    /// An encoder-decoder model encodes each window of the text and greedily decodes from it, so that both
    /// stacks route.
    static func calibrate(_ archive: Archive, file: String, plan: MemoryPlan, options o: EngineOptions,
                          tokenizer: Tokenizer) throws -> [String: [Int: [Int]]] {
        let ids = tokenizer.encode(try readText(file))
        guard ids.count >= 2 else { throw SessionError.emptyCalibration(file) }
        let exact = try ExactExperts(archive: archive, slots: plan.slots, options: .init(loader: .init(ioThreads: o.ioThreads)))
        let counter = RoutingCounter(wrapping: exact, expertsPerToken: archive.manifest.model.expertsPerToken)
        let config = try archive.modelConfig()
        if config.isEncoderDecoder {
            let model = try Seq2SeqModel(archive: archive, experts: counter, maxSource: o.context, maxTarget: o.context, threads: o.threads)
            var i = 0
            while i < ids.count {
                _ = try model.generate(Array(ids[i..<min(ids.count, i + o.context)]), maxNewTokens: min(32, o.context), eos: [])
                i += o.context
            }
        } else {
            let model = try DecoderModel(archive: archive, experts: counter, context: o.context, threads: o.threads)
            var i = 0
            while i < ids.count {
                model.reset()
                _ = try model.forward(Array(ids[i..<min(ids.count, i + o.context)]))
                i += o.context
            }
        }
        var out: [String: [Int: [Int]]] = [:]
        for st in plan.stacks { out[st] = counter.mostFrequent(plan.residents(stack: st), stack: st) }
        return out
    }

    /// Expert-serving counters for the stats line and `--json`.
    var expertStats: [String: Any] {
        var d: [String: Any] = ["policy": policy.rawValue]
        if let p = plan {
            d["max_rss_bytes"] = p.cap
            d["arena_slots"] = p.slots
            d["expert_fraction"] = p.expertFraction
            d["planned_bytes"] = p.total
        }
        // Swap providers of every stack, summed (one for decoder-only models).
        let swaps: [SwapExperts] = (experts as? StackedExperts).map { st in st.providers.keys.sorted().compactMap { st.providers[$0] as? SwapExperts } }
            ?? [experts as? SwapExperts].compactMap { $0 }
        switch experts {
        case let e as ExactExperts:
            let s = e.stats
            d.merge(["hits": s.hits, "misses": s.misses, "prefetch_hits": s.prefetchHits, "loads": s.loads, "bytes_read": s.bytesRead,
                     "stall_seconds": s.stallSeconds, "evictions": s.evictions, "allocated_slots": e.slotCount]) { a, _ in a }
            // How the loads were read: O_DIRECT, streamed as AIO pieces (LZ4), chunks decoded by an idle I/O thread.
            let l = e.loader.stats
            d.merge(["direct_reads": l.directReads, "streamed_loads": l.streamedReads, "helped_chunks": l.helpedChunks]) { a, _ in a }
        default:
            guard !swaps.isEmpty else { break }
            let st = swaps.map(\.stats)
            func sum(_ f: (SwapStats) -> Int) -> Int { st.reduce(0) { $0 + f($1) } }
            let choices = sum(\.routedChoices), resident = sum(\.routedResident)
            d.merge(["swaps": sum(\.swaps), "reclaimed": sum(\.reclaimed), "loads": sum(\.loads), "bytes_read": sum(\.bytesRead),
                     "stall_seconds": st.reduce(0) { $0 + $1.stallSeconds }, "warmup_seconds": st.reduce(0) { $0 + $1.warmupSeconds },
                     "virtual_experts_per_layer": plan?.perLayer.first ?? 0, "virtual_experts": plan?.perLayer ?? [],
                     "hit_rate": choices > 0 ? Double(resident) / Double(choices) : 1, "routed_choices": choices, "routed_resident": resident,
                     "allocated_slots": swaps.reduce(0) { $0 + $1.slotCount }]) { a, _ in a }
        }
        return d
    }

    /// One line for stderr, e.g. `exact: 812 hits, 44 misses (95% hit rate), 61 loads, 1.0 GiB read, stall 2.1 s`.
    var expertStatsLine: String {
        let d = expertStats
        func i(_ k: String) -> Int { d[k] as? Int ?? 0 }
        let cap = plan.map { " | cap \(ByteSize.format($0.cap)), \($0.slots) slots (\(formatFixed(100 * $0.expertFraction, digits: 0))% of experts)" } ?? ""
        switch policy {
        case .resident:
            return "resident: all \(archive.experts.count) experts in memory" + cap
        case .exact:
            let rate = i("hits") + i("misses") > 0 ? 100 * Double(i("hits")) / Double(i("hits") + i("misses")) : 0
            return "exact: \(i("hits")) hits, \(i("misses")) misses (\(formatFixed(rate, digits: 1))% hit rate), \(i("loads")) loads, "
                + "\(ByteSize.format(i("bytes_read"))) read, stall \(formatFixed(d["stall_seconds"] as? Double ?? 0, digits: 2)) s" + cap
        case .swap, .static:
            let per = plan?.perLayer ?? []
            let range = per.isEmpty ? "0" : per.min()! == per.max()! ? "\(per.min()!)" : "\(per.min()!)-\(per.max()!)"
            let spareCount = plan?.totalSpareSlots ?? 0
            let spares = spareCount > 0 ? " + \(spareCount) spare slots serving" : ""
            return "\(policy.rawValue): \(range) of \(archive.manifest.model.stacks.first?.expertsPerLayer ?? 0) Virtual Experts per layer\(spares), "
                + "\(formatFixed(100 * (d["hit_rate"] as? Double ?? 1), digits: 1))% of routed choices served, "
                + "\(i("swaps")) swaps, \(ByteSize.format(i("bytes_read"))) read, stall \(formatFixed(d["stall_seconds"] as? Double ?? 0, digits: 2)) s" + cap
        }
    }

    static func loadTokenizer(_ archive: Archive) throws -> Tokenizer {
        guard let json = try archive.fileData("tokenizer.json") else { throw SessionError.noTokenizer(archive.path) }
        return try Tokenizer(tokenizerJSON: json, tokenizerConfigJSON: try archive.fileData("tokenizer_config.json"))
    }

    /// End-of-sequence ids: generation_config.json's `eos_token_id` (int or list), else config.json's, else
    /// the tokenizer's, as transformers' `generate` resolves them.
    var eosTokenIds: Set<Int> {
        func ids(_ v: JSONValue?) -> Set<Int>? {
            guard let v else { return nil }
            if let i = v.intValue { return [i] }
            if let a = v.arrayValue { return Set(a.compactMap(\.intValue)) }
            return nil
        }
        if let data = try? archive.fileData("generation_config.json"),
           let g = try? JSONDecoder().decode(JSONValue.self, from: data), let e = ids(g["eos_token_id"]) { return e }
        if let e = ids(archive.manifest.config["eos_token_id"]) { return e }
        return Set(tokenizer.eosTokenIds)
    }
}

enum SessionError: Error, CustomStringConvertible {
    case noTokenizer(String)
    case emptyPrompt
    case unreadable(String)
    case policyNeedsCap(String)
    case mmapNeedsRaw(String, String)
    case emptyCalibration(String)
    case encoderDecoder(String, String)

    var description: String {
        switch self {
        case .noTokenizer(let p): "archive '\(p)' has no tokenizer.json; re-pack from a checkpoint folder that includes it"
        case .emptyPrompt: "the prompt encodes to no tokens; give a non-empty -p TEXT"
        case .unreadable(let p): "cannot read text file '\(p)'; check the path"
        case .policyNeedsCap(let p): "policy \(p) needs --max-rss SIZE to size its expert arena"
        case let .encoderDecoder(command, family): "\(command) runs decoder-only models, but this archive is \(family), an encoder-decoder model; use 'swapmoe run --input' or 'swapmoe eval --text --target'"
        case .emptyCalibration(let f): "calibration text '\(f)' encodes to fewer than 2 tokens; give a longer text"
        case let .mmapNeedsRaw(path, block): "--io mmap serves experts in place, but '\(path)' stores \(block) compressed; re-pack without --compress, or use --io pread"
        }
    }
}

/// Reads a text file for --text / --prompt-file.
func readText(_ path: String) throws -> String {
    guard let d = FileManager.default.contents(atPath: path) else { throw SessionError.unreadable(path) }
    return String(decoding: d, as: UTF8.self)
}

func jsonLine(_ obj: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self)
}

func tokPerSec(_ n: Int, _ s: Double) -> Double { s > 0 ? Double(n) / s : 0 }
