// ExpertLoader: the priority queue of load requests and the slot state machine: `LoadPriority`, `SlotState`,
// the requests that move a slot between states (load, cancel, promote, clear, reclaim) and the queue state
// they change under the loader's lock.

import SwapMoEArchive

/// How urgently a load is needed. Workers always take the highest-priority queued request, FIFO within a
/// priority: a decoder blocked on an expert (`demand`) overtakes predicted experts (`prefetch`), which overtake
/// swaps nobody waits for (`background`).
public enum LoadPriority: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case background = 0, prefetch = 1, demand = 2
    public static func < (a: LoadPriority, b: LoadPriority) -> Bool { a.rawValue < b.rawValue }
    public var description: String { ["background", "prefetch", "demand"][rawValue] }
}

/// The life of one slot. Transitions, all made under the loader's lock:
///
///     empty/ready/failed --load()--> loading --worker--> ready | failed
///     loading (still queued) --cancel()--> empty
///     ready/failed --clear()--> empty
///
/// A slot's memory is written only while it is `loading` and a worker has taken the request; it is meant to be
/// read only while it is `ready`.
public enum SlotState: Sendable, CustomStringConvertible {
    case empty
    case loading(ExpertKey)
    case ready(ExpertKey)
    case failed(ExpertKey, EngineError)

    /// The expert the slot holds, is loading, or failed to load.
    public var key: ExpertKey? {
        switch self {
        case .empty: nil
        case .loading(let k), .ready(let k), .failed(let k, _): k
        }
    }
    public var isLoading: Bool { if case .loading = self { true } else { false } }
    public func isReady(_ key: ExpertKey) -> Bool { if case .ready(let k) = self { k == key } else { false } }
    public var description: String {
        switch self {
        case .empty: "empty"
        case .loading(let k): "loading(\(k))"
        case .ready(let k): "ready(\(k))"
        case .failed(let k, let e): "failed(\(k): \(e))"
        }
    }
}

extension ExpertLoader {
    // MARK: Requests

    /// Queues "load `key` into `slot`". The slot becomes `loading(key)` now and `ready(key)` or `failed` when a
    /// worker is done. Whatever the slot held before is forgotten (callers choose the slot: it must not be
    /// in use by a reader). Throws `.slotBusy` if the slot is already loading, `.unknownExpert`, `.shutDown`.
    public func load(_ key: ExpertKey, into slot: Int, priority: LoadPriority) throws(EngineError) {
        precondition(slot >= 0 && slot < slotCount, "slot \(slot) out of range 0..<\(slotCount)")
        guard let entry = core.index[key] else { throw .unknownExpert(key) }
        try core.lock.withLockNotifying { (s) throws(EngineError) in
            guard !s.stopping else { throw .shutDown }
            if s.slots[slot].isLoading { throw .slotBusy(slot: slot) }
            core.unmapIfMapped(s.slots[slot])
            s.slots[slot] = .loading(key)
            s.queued[slot] = priority
            s.queues[priority.rawValue].append(LoaderCore.Request(slot: slot, entry: entry, key: key))
        }
    }

    /// Removes `slot`'s request if it is still queued (the slot becomes `empty`, waiters wake up) and returns
    /// true; returns false if there is nothing queued for it (not loading, or a worker already took it).
    @discardableResult
    public func cancel(slot: Int) -> Bool {
        core.lock.withLockNotifying { s in
            guard let p = s.queued[slot] else { return false }
            s.queues[p.rawValue].removeAll { $0.slot == slot }
            s.queued[slot] = nil
            s.slots[slot] = .empty
            s.generation &+= 1
            core.counters.add(LoaderCore.cancelledCounter)
            return true
        }
    }

    /// Raises the priority of `slot`'s queued request to `priority` (no-op if not queued or already higher).
    /// A demand for an expert that is being prefetched uses this instead of issuing a second load.
    public func promote(slot: Int, to priority: LoadPriority) {
        core.lock.withLockNotifying { s in
            guard let p = s.queued[slot], p < priority, let i = s.queues[p.rawValue].firstIndex(where: { $0.slot == slot }) else { return }
            let r = s.queues[p.rawValue].remove(at: i)
            s.queues[priority.rawValue].append(r)
            s.queued[slot] = priority
        }
    }

    /// Marks a ready, failed or empty slot `empty` (for the mapped backend this drops the block's pages with
    /// `MADV_DONTNEED`). Returns false and changes nothing if the slot is loading.
    @discardableResult
    public func clear(slot: Int) -> Bool {
        core.lock.withLockNotifying { s in
            if s.slots[slot].isLoading { return false }
            core.unmapIfMapped(s.slots[slot])
            s.slots[slot] = .empty
            s.generation &+= 1
            return true
        }
    }

    /// Frees `slot` for a new load if nothing is in flight there: a queued request is cancelled, a ready or
    /// failed slot cleared. Returns what was there, or nil if a worker is loading into it right now.
    func reclaim(slot: Int) -> SlotState? {
        core.lock.withLockNotifying { s in
            let old = s.slots[slot]
            if let p = s.queued[slot] {
                s.queues[p.rawValue].removeAll { $0.slot == slot }
                s.queued[slot] = nil
                core.counters.add(LoaderCore.cancelledCounter)
            } else if old.isLoading {
                return nil
            }
            core.unmapIfMapped(old)
            s.slots[slot] = .empty
            s.generation &+= 1
            return old
        }
    }
}

extension LoaderCore {
    struct Request: Sendable {
        let slot: Int
        let entry: Int
        let key: ExpertKey
    }

    struct State: Sendable {
        var slots: [SlotState]
        /// The priority of the slot's queued request; nil if none is queued (idle, or taken by a worker).
        var queued: [LoadPriority?]
        /// FIFO per priority, indexed by `LoadPriority.rawValue`.
        var queues: [[Request]]
        var generation: UInt64 = 0
        var completion: [UInt64]
        var completions: UInt64 = 0
        var paused = false
        var stopping = false
        /// The streamed LZ4 block whose chunks idle workers help decode, if any (one at a time).
        var decode: DecodeProgress?
    }

    func stop() {
        lock.withLockNotifying { s in
            s.stopping = true
            for q in s.queues { for r in q { s.slots[r.slot] = .failed(r.key, .shutDown) } }
            for i in s.queues.indices { s.queues[i].removeAll(keepingCapacity: true) }
            for i in s.queued.indices { s.queued[i] = nil }
            s.generation &+= 1
        }
    }
}
