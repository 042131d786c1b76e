import Foundation
import SwapMoEModels
import SwapMoEEngine

/// How a `Session` opens an archive: compute threads, context, and how experts are served under which memory
/// cap. Plain values; the command line parses its options into one (`swapmoe run --help` lists them).
public struct SessionOptions: Equatable, Sendable {
    /// Which resident expert the exact policy evicts.
    public enum Eviction: String, Equatable, Sendable { case lru, lfu }
    /// How expert bytes reach the arena.
    public enum IOMode: String, Equatable, Sendable { case pread, buffered, mmap }

    /// The largest count any numeric option takes (tokens, context, repetitions): `ConfigLimits.positions`, so
    /// sums and products of options and model sizes cannot overflow. Thread counts have their own, lower bound.
    public static let maxCount = ConfigLimits.positions
    /// The most compute or I/O threads a session starts.
    public static let maxThreads = 1024

    /// Path of the expert archive (`swapmoe pack` output).
    public var archive: String
    /// Compute threads (default: every active core).
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Tokens of context; when `contextGiven` is false, capped at the model's trained length (`Session.fitContext`),
    /// and for encoder-decoder models replaced by `Session.seq2seqContext`.
    public var context = 2048
    /// Whether `context` was chosen by the user (it is then honoured, with a warning past the trained length).
    public var contextGiven = false
    /// nil: resident when the model fits the cap (or no cap is given), else exact.
    public var policy: Policy?
    /// Hard cap on resident memory in bytes; sizes the expert arena. nil: no cap.
    public var maxRSS: Int?
    /// Exact policy: which resident expert to evict.
    public var eviction = Eviction.lru
    /// Swap policy: tokens between Virtual Expert updates.
    public var swapInterval = 8
    /// Swap policy: tokens in the importance window that ranks experts.
    public var window = 256
    /// Expert loader threads.
    public var ioThreads = 2
    /// MoE layers ahead whose likely experts the exact policy prefetches (0: none).
    public var prefetchDepth = 0
    /// MoE layers ahead whose last-token experts the exact policy loads while the current layer computes.
    public var lookahead = 2
    /// `pread` (O_DIRECT) or `buffered` (plain pread) into the arena (any archive), or `mmap` (raw archives: serve
    /// from the mapping, madvise in/out; resident: in place instead of copied).
    public var io = IOMode.pread
    /// Text file whose routing picks the `static` policy's experts.
    public var calibration: String?
    /// Swap policy: the per-layer sensitivities (`swapmoe profile`) that split the Virtual Experts across layers:
    /// a JSON file, `none` (uniform), or nil for the archive's own (`<archive>.profile.json`) when it exists.
    public var profile: String?
    /// Shadow policy: the type of the low-bit copy of every expert (`q4_K`, `q3_K`, ...), or nil / `auto` for the
    /// planner's choice under the cap (`Session.shadowType`).
    public var shadow: String?
    /// Conversation slots (`Session.slots`), each with its own KV cache of `context` positions, all inside the
    /// cap (the planner counts every slot's cache); decoder-only models. The server's `--parallel`.
    public var slots = 1
    /// Whether slots' decode steps that wait for the model at the same time run as one batch
    /// (`Session.decodeStep`); off, each runs alone in turn. The server's `--no-batch`.
    public var batchSteps = true
    /// The most slots a session opens.
    public static let maxSlots = 256

    /// Options with every default: resident, no cap, all cores, a context of up to 2048 tokens.
    public init(archive: String) { self.archive = archive }

    /// Checks the ranges of the numbers and the combinations that cannot work (a capped policy without a cap, the
    /// static policy without a calibration text). Throws `SessionError`, whose messages are the command line's.
    public func validate() throws(SessionError) {
        let ranges: [(String, Int, ClosedRange<Int>)] = [
            ("--threads", threads, 1...Self.maxThreads), ("--ctx", context, 1...Self.maxCount),
            ("--swap-interval", swapInterval, 1...Self.maxCount), ("--window", window, 1...Self.maxCount), ("--io-threads", ioThreads, 1...Self.maxThreads),
            ("--prefetch-depth", prefetchDepth, 0...Self.maxCount), ("--lookahead", lookahead, 0...Self.maxCount),
            ("--parallel", slots, 1...Self.maxSlots),
        ]
        for (name, value, range) in ranges where !range.contains(value) {
            throw .outOfRange(name, "\(value)", range)
        }
        if let m = maxRSS, m <= 0 { throw .badCap("\(m)") }
        if let p = policy, p != .resident, maxRSS == nil { throw .policyNeedsMaxRSS(p.rawValue) }
        if policy == .static, calibration == nil { throw .staticNeedsCalibration }
        if shadow != nil, policy != .shadow { throw .shadowNeedsPolicy }
    }
}
