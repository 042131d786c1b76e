// ExpertLoader: the I/O threads' side. `LoaderCore` (the state the workers share with the loader), each
// thread's buffers, and the worker loop that takes the most urgent request, loads it and publishes the result.

import Synchronization
import SwapMoECore
import SwapMoEArchive

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
    /// The arena's slots (nil for the mapped backend); its owner joins the workers before unmapping it.
    let arena: ArenaSlots?
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

    init(archive: Archive, arena: ArenaSlots?, slots: Int, buffered: FileHandleFD, direct: FileHandleFD?, verify: Bool) {
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
