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
    /// The arena loads go into; nil for the mapped backend.
    public let arena: Arena?
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

    /// A loader filling `arena`'s slots from `archive`.
    public convenience init(archive: Archive, arena: Arena, options: Options = .init()) throws(EngineError) {
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

    private init(archive: Archive, arena: Arena?, slots: Int, options: Options) throws(EngineError) {
        guard options.ioThreads >= 1 && options.ioThreads <= 64 else {
            throw .invalidConfiguration("I/O threads must be 1...64 (got \(options.ioThreads))")
        }
        self.archive = archive
        self.arena = arena
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

    /// Where the weights of `key` are when `slot` is ready with it: the arena slot, or the block in the mapping.
    public func baseAddress(slot: Int, key: ExpertKey) -> UnsafeRawPointer {
        if let arena { return arena.slot(slot).baseAddress! }
        return archive.mappedBlock(core.entries[core.index[key]!]).baseAddress!
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

/// One I/O thread's private buffers.
final class WorkerBuffers: @unchecked Sendable {
    // @unchecked Sendable: created by the loader's init and handed to exactly one worker thread, which is the
    // only one to use it; it is freed (deinit) after that thread has been joined, when the last reference goes.
    let scratch: UnsafeMutableRawBufferPointer?
    /// AIO piece reads for LZ4 blocks with O_DIRECT (nil: no LZ4 blocks, or the kernel refused an AIO context).
    let pieces: PieceReader?
    let hash = StreamingChecksum()

    init(scratch: Int, pieceReads: Bool) {
        self.scratch = scratch > 0 ? .allocate(byteCount: scratch, alignment: 64) : nil
        pieces = pieceReads ? PieceReader() : nil
    }

    deinit { scratch?.deallocate() }
}

/// The loader's shared state and the worker loop. Workers hold this, not the `ExpertLoader`, so dropping the
/// loader runs its deinit (which stops and joins them).
final class LoaderCore: Sendable {
    let archive: Archive
    let arena: Arena?
    let entries: [ExpertEntry]
    let checksums: [UInt64]
    let index: [ExpertKey: Int]
    let buffered: FileHandleFD
    let direct: FileHandleFD?
    let directEnabled = Atomic<Bool>(true)
    let touchSink = Atomic<UInt8>(0)
    let verify: Bool
    /// Chunk tables of LZ4 blocks loaded once (verified), so later loads of the block decode from its first
    /// piece on instead of waiting for the trailer. Bookkeeping: 16 bytes per chunk of a block loaded.
    let layouts: ConditionLock<[LZ4BlockLayout?]>
    let lock: ConditionLock<State>
    let counters = Counters(count: 7)

    init(archive: Archive, arena: Arena?, slots: Int, buffered: FileHandleFD, direct: FileHandleFD?, verify: Bool) {
        self.archive = archive
        self.arena = arena
        self.entries = archive.experts
        self.checksums = archive.experts.map { UInt64($0.xxh3, radix: 16) ?? 0 }
        var idx: [ExpertKey: Int] = [:]
        for (i, e) in archive.experts.enumerated() { idx[ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert)] = i }
        self.index = idx
        self.buffered = buffered
        self.direct = direct
        self.verify = verify
        layouts = ConditionLock(.init(repeating: nil, count: archive.experts.count))
        var queues = [[Request]](repeating: [], count: LoadPriority.allCases.count)
        for i in queues.indices { queues[i].reserveCapacity(slots) }
        lock = ConditionLock(State(slots: .init(repeating: .empty, count: slots), queued: .init(repeating: nil, count: slots),
                                   queues: queues, completion: .init(repeating: 0, count: slots)))
    }

    private enum Work { case load(Request), help(DecodeJob, Int) }

    /// The worker loop: take the most urgent request, load it without holding the lock, publish the result.
    /// With nothing queued, help decode the chunks of a block another worker is streaming in.
    func run(_ buffers: WorkerBuffers) {
        while true {
            let next: Work? = lock.wait { s -> Work?? in
                if s.stopping { return .some(nil) }
                if s.paused { return nil }
                for p in LoadPriority.allCases.reversed() where !s.queues[p.rawValue].isEmpty {
                    let r = s.queues[p.rawValue].removeFirst()
                    s.queued[r.slot] = nil
                    return .some(.load(r))
                }
                if buffers.scratch != nil, case .chunk(let j) = LoaderCore.claim(&s) {
                    s.decode!.helpers += 1
                    return .some(.help(s.decode!.job, j))
                }
                return nil
            }
            let r: Request
            switch next {
            case nil: return
            case .help(let job, let j):
                decodeClaimed(job, j, scratch: buffers.scratch!, helper: true)
                counters.add(LoaderCore.helpedCounter)
                continue
            case .load(let request): r = request
            }
            let outcome = perform(r, buffers)
            lock.withLockNotifying { s in
                s.completions &+= 1
                s.completion[r.slot] = s.completions
                s.generation &+= 1
                switch outcome {
                case .success: s.slots[r.slot] = .ready(r.key)
                case .failure(let e): s.slots[r.slot] = .failed(r.key, e)
                }
            }
        }
    }

    /// Loads one block into its slot. Runs on a worker thread without the lock; the slot is exclusively this
    /// worker's while its state is `loading` and its request has left the queue.
    private func perform(_ r: Request, _ buffers: WorkerBuffers) -> Result<Void, EngineError> {
        let e = entries[r.entry]
        do {
            if let arena {
                try loadIntoArena(e, entry: r.entry, dst: arena.mutableSlot(r.slot), buffers)
            } else {
                try touchMapped(e, entry: r.entry)
            }
        } catch {
            counters.add(LoaderCore.failuresCounter)
            return .failure(.loadFailed(r.key, error))
        }
        counters.add(LoaderCore.loadsCounter)
        counters.add(LoaderCore.bytesCounter, e.storedLength)
        return .success(())
    }

}
