import Synchronization

/// Thread-safe monotonic counters. Relaxed atomics: each counter is independent and only ever added to, so no
/// ordering with other memory is needed; a snapshot may be a few events out of date, never torn.
final class Counters: Sendable {
    private let values: [Counter]

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    init(count: Int) { values = (0..<count).map { _ in Counter() } }

    @inline(__always) func add(_ i: Int, _ n: Int = 1) { values[i].value.wrappingAdd(n, ordering: .relaxed) }
    @inline(__always) func get(_ i: Int) -> Int { values[i].value.load(ordering: .relaxed) }
}

/// Counters of `ExpertLoader`: every load it performed, whoever asked for it.
public struct LoaderStats: Sendable, Equatable {
    /// Loads completed successfully.
    public var loads = 0
    /// Stored (on-disk) bytes read by successful loads.
    public var bytesRead = 0
    /// Loads that failed (I/O error, short read, checksum mismatch, corrupt block).
    public var failures = 0
    /// Requests cancelled while still queued.
    public var cancelled = 0
    /// Blocks read with O_DIRECT, bypassing the page cache (into their slot; LZ4 ones to its end, decoded in place).
    public var directReads = 0
    /// Of those, LZ4 blocks decoded chunk by chunk while their pieces were still arriving (AIO).
    public var streamedReads = 0
    /// LZ4 chunks an idle I/O thread decoded for a block another one was streaming in.
    public var helpedChunks = 0
    public init() {}
}

/// Counters of `ExactExperts`.
public struct ExactStats: Sendable, Equatable {
    /// `acquire` calls served from a ready slot without waiting.
    public var hits = 0
    /// `acquire` calls that had to wait for a load (a new demand load or an in-flight prefetch).
    public var misses = 0
    /// Hits on an expert brought in by `prefetch` or by routing announcement, used for the first time.
    public var prefetchHits = 0
    /// Loads this provider queued with demand priority because `acquire` missed.
    public var demandLoads = 0
    /// Loads queued by `prefetch` and by routing announcement.
    public var prefetchLoads = 0
    /// Queued prefetches cancelled to make room for a demand load.
    public var prefetchesCancelled = 0
    /// Completed loads (all priorities), from the loader.
    public var loads = 0
    /// Stored bytes read by completed loads, from the loader.
    public var bytesRead = 0
    /// Seconds `acquire` callers spent blocked (waiting for I/O or for a free slot).
    public var stallSeconds = 0.0
    /// Ready experts dropped from a slot to make room for another.
    public var evictions = 0
    /// Loads that failed (each failed load once, however many callers waited for it), from the loader.
    public var failures = 0
    public init() {}
}

/// Counters and state of `SwapExperts`.
public struct SwapStats: Sendable, Equatable {
    /// Experts swapped in: loaded by the swapper and serving from their layer's next safe point.
    public var swaps = 0
    /// Lingering experts dropped because a swap needed their slot.
    public var reclaimed = 0
    /// Swap rounds the swapper ran.
    public var rounds = 0
    /// Swap loads that failed (the old expert kept serving; the new one is not tried again).
    public var failedSwaps = 0
    /// Tokens observed (on the first MoE layer).
    public var tokens = 0
    /// Completed loads including warm-up, from the loader.
    public var loads = 0
    /// Stored bytes read including warm-up, from the loader.
    public var bytesRead = 0
    /// Seconds spent loading the initial residents.
    public var warmupSeconds = 0.0
    /// Seconds `acquire` waited for I/O after warm-up. Always 0: `acquire` of a resident never waits for I/O,
    /// by construction (the swapper loads into spare slots and the map only ever names ready slots).
    public var stallSeconds = 0.0
    /// The Virtual Experts of each MoE layer, ascending (lingering experts serve too, but are not listed).
    public var residents: [Int: [Int]] = [:]
    /// Top-k choices of the unmasked router seen (tokens x k, summed over MoE layers) ...
    public var routedChoices = 0
    /// ... and how many of them named a resident expert (served exactly as the full model would).
    public var routedResident = 0
    /// `routedResident / routedChoices`: SwapMoE's hit rate (1 when nothing was routed yet).
    public var hitRate: Double { routedChoices > 0 ? Double(routedResident) / Double(routedChoices) : 1 }
    public init() {}
}
