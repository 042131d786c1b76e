// ExpertLoader: the type and its public API (options, construction, shutdown, observing slots), and test hooks.
// The rest of the loader is split by concern: ExpertLoader+Queue (priorities, slot states, requests),
// +Worker (I/O threads, shared state), +IO (read and mapped back ends), +LZ4Stream (streamed multi-thread
// LZ4 decode), +Stats (counters); ExpertStorage.swift builds a loader for a storage kind.

#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import SwapMoECore
import SwapMoEArchive

/// The I/O pool: `ioThreads` dedicated threads serving a bounded priority queue of "load expert X into slot s"
/// requests, and the state of every slot.
///
/// Bounded by construction: a slot has at most one outstanding request (a second `load` into a loading slot is
/// refused with `.slotBusy`), so the queue never holds more than `slotCount` requests; its storage is reserved
/// once at init.
///
/// Memory it allocates (all at init, never grown; `memoryOverhead` is the exact sum):
/// - per I/O thread, a staging buffer for stored LZ4 blocks (largest LZ4 stored length rounded up to 4096; none
///   if no block is LZ4), and a decode scratch buffer of one chunk (`min(chunkSize, largest raw length)`; none if
///   no block is shuffled);
/// - per I/O thread a stack of `threadStackSize` bytes (virtual; only touched pages become RSS, reported
///   separately as `threadStackBytes`);
/// - bookkeeping of O(slotCount + experts) small values.
///
/// Lock order: callers may call into the loader while holding their own lock; the loader never calls out while
/// holding its lock, so the order "provider lock, then loader lock" cannot deadlock.
public final class ExpertLoader: Sendable {
    public struct Options: Sendable {
        /// Dedicated I/O threads (each decodes too, so LZ4 archives benefit from more than one).
        public var ioThreads: Int
        /// Try `O_DIRECT` reads (stored bytes land in the slot or staging buffer without a page-cache copy).
        /// Falls back to buffered reads, once and for good, if the filesystem refuses it.
        public var directIO: Bool
        /// Check every block's XXH3 checksum as it is loaded (fast: tens of GB/s).
        public var verifyChecksums: Bool
        /// Stack reserved per I/O thread.
        public var threadStackSize: Int
        /// With `O_DIRECT`, read LZ4 blocks as pieces submitted together (Linux AIO) and decode each chunk as soon
        /// as it has landed, instead of reading the whole block and then decoding it (see `PieceReader`).
        public var streamLZ4: Bool

        public init(ioThreads: Int = 2, directIO: Bool = true, verifyChecksums: Bool = true, threadStackSize: Int = 256 << 10,
                    streamLZ4: Bool = true) {
            self.ioThreads = ioThreads; self.directIO = directIO; self.verifyChecksums = verifyChecksums
            self.threadStackSize = threadStackSize; self.streamLZ4 = streamLZ4
        }
    }

    public let archive: Archive
    public let slotCount: Int
    public let options: Options
    /// Exact bytes of staging and scratch buffers this loader allocated (excluding the arena and stacks).
    public let memoryOverhead: Int
    /// Virtual bytes reserved for I/O thread stacks (an upper bound on their RSS).
    public var threadStackBytes: Int { options.ioThreads * options.threadStackSize }

    let core: LoaderCore
    private let workers: ConditionLock<[JoinableThread]>

    /// Scratch bytes one I/O thread needs for `archive` (multiply by `ioThreads` for the total): one LZ4 chunk,
    /// which each chunk is decoded into before it is un-shuffled or copied to its place in the slot (the stored
    /// block is read into the slot itself, so there is no staging buffer); none if no block is LZ4.
    public static func perThreadScratch(for archive: Archive) -> Int {
        let lz4 = archive.experts.filter { $0.codec == .lz4 }
        return lz4.isEmpty ? 0 : min(ArchiveFormat.chunkSize, lz4.map(\.rawLength).max()!)
    }

    /// `memoryOverhead` of a loader for `archive` with `options`, before creating it (for the planner).
    /// The mapped backend decodes nothing and allocates no buffers.
    public static func memoryOverhead(for archive: Archive, options: Options = .init(), mapped: Bool = false) -> Int {
        mapped ? 0 : options.ioThreads * perThreadScratch(for: archive)
    }

    /// A loader filling the slots of an arena from `archive`. The arena must outlive the I/O threads: its owner
    /// calls `shutdown()` (which joins them) before it goes (`ExpertCache`).
    convenience init(archive: Archive, arena: ArenaSlots, options: Options = .init()) throws(EngineError) {
        guard arena.slotSize >= Arena.slotSize(for: archive) else {
            throw .invalidConfiguration("arena slots of \(arena.slotSize) bytes are smaller than the largest expert (\(Arena.slotSize(for: archive)) bytes)")
        }
        try self.init(archive: archive, arena: arena, slots: arena.slotCount, options: options)
    }

    /// A loader for the mmap backend: `slots` blocks of a raw `archive` mapped in at once.
    public convenience init(mappedArchive archive: Archive, slots: Int, options: Options = .init()) throws(EngineError) {
        if let e = archive.experts.first(where: { $0.codec != .raw }) {
            throw .mappedNeedsRawArchive(path: archive.path, expert: ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert))
        }
        guard slots > 0 else { throw .invalidConfiguration("the mapped backend needs at least one slot (got \(slots))") }
        try self.init(archive: archive, arena: nil, slots: slots, options: options)
    }

    private init(archive: Archive, arena: ArenaSlots?, slots: Int, options: Options) throws(EngineError) {
        guard options.ioThreads >= 1 && options.ioThreads <= 64 else {
            throw .invalidConfiguration("I/O threads must be 1...64 (got \(options.ioThreads))")
        }
        self.archive = archive
        self.slotCount = slots
        self.options = options
        let buffered: FileHandleFD
        do { buffered = try FileHandleFD.openForReading(archive.path) } catch { throw .archiveUnreadable(path: archive.path, error) }
        // O_DIRECT is only worth having for the arena backend (the mapped backend never calls read).
        let direct = (arena != nil && options.directIO) ? try? FileHandleFD(path: archive.path, flags: O_RDONLY | FileHandleFD.directIOFlag) : nil
        core = LoaderCore(archive: archive, arena: arena, slots: slots, buffered: buffered, direct: direct, verify: options.verifyChecksums)

        let scratch = arena == nil ? 0 : ExpertLoader.perThreadScratch(for: archive)
        memoryOverhead = options.ioThreads * scratch
        var started: [JoinableThread] = []
        for i in 0..<options.ioThreads {
            let buffers = WorkerBuffers(scratch: scratch, pieceReads: scratch > 0 && direct != nil && options.streamLZ4)
            let core = self.core
            do {
                started.append(try JoinableThread(name: "swapmoe-io\(i)", stackSize: options.threadStackSize) { core.run(buffers) })
            } catch {
                core.stop(); started.forEach { $0.join() }; throw error
            }
        }
        workers = ConditionLock(started)
    }

    deinit { shutdown() }

    /// Stops the I/O threads: queued requests fail with `.shutDown` (waking their waiters), in-flight ones
    /// finish, then the threads are joined and their buffers freed. Idempotent.
    public func shutdown() {
        core.stop()
        let threads = workers.withLock { w -> [JoinableThread] in let t = w; w = []; return t }
        threads.forEach { $0.join() }
    }

    // MARK: Observing

    /// The current state of `slot`.
    public func state(of slot: Int) -> SlotState { core.lock.withLock { $0.slots[slot] } }

    /// Whether a worker is reading into `slot` right now (its request has left the queue).
    public func isInFlight(_ slot: Int) -> Bool { core.lock.withLock { $0.slots[slot].isLoading && $0.queued[slot] == nil } }

    /// Blocks the calling thread (no spinning) until `slot` is no longer loading, and returns its state.
    public func waitUntilSettled(slot: Int) -> SlotState {
        core.lock.wait { s in s.slots[slot].isLoading ? nil : s.slots[slot] }
    }

    /// A counter bumped by every completion, cancellation, clear and `notifyChange`.
    public var generation: UInt64 { core.lock.withLock { $0.generation } }

    /// Blocks until `generation` differs from `since` (something finished or was freed).
    public func waitForChange(since: UInt64) {
        core.lock.wait { s in s.generation != since ? () : nil }
    }

    /// Bumps `generation` and wakes `waitForChange` callers (providers call it when they unpin a slot).
    public func notifyChange() { core.lock.withLockNotifying { $0.generation &+= 1 } }

    /// The block of `key` in the archive's mapping (the mapped backend serves weights there once its slot is
    /// ready; arena slots are the `ExpertCache`'s to hand out).
    public func mappedBlock(_ key: ExpertKey) -> UnsafeRawBufferPointer {
        archive.mappedBlock(core.entries[core.index[key]!])
    }

    /// Whether raw reads currently go through O_DIRECT (false after a fallback to buffered reads).
    public var usesDirectIO: Bool { core.direct != nil && core.directEnabled.load(ordering: .relaxed) }

    // MARK: Test hooks

    /// Stops workers from taking new requests (in-flight ones finish). For tests of ordering and cancellation.
    func pause() { core.lock.withLockNotifying { $0.paused = true } }
    func resume() { core.lock.withLockNotifying { $0.paused = false } }
    /// The order in which `slot`'s last load completed among all completions (1-based; 0 = never).
    func completionOrder(slot: Int) -> UInt64 { core.lock.withLock { $0.completion[slot] } }
    /// Requests queued and not yet taken by a worker.
    var queuedCount: Int { core.lock.withLock { s in s.queues.reduce(0) { $0 + $1.count } } }
}
