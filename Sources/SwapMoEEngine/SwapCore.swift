import Synchronization
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels

/// The state shared by the decoder-facing provider and the swapper thread.
final class SwapCore: Sendable {
    /// A loaded expert waiting for its layer's safe point, and the Virtual Expert whose role it takes there
    /// (if that one still has it; otherwise the newcomer lingers until a round promotes it). With
    /// `thenReclaim` the displaced expert does not linger: its slot empties at once for a waiting newcomer.
    struct Arrival: Sendable, Equatable {
        let expert: Int
        let slot: Int
        let replaces: Int?
        var thenReclaim = false
    }

    struct Seed: Sendable {
        let virtual: Int
        let slots: [Int]
    }

    struct State: Sendable {
        /// [layer index][expert] → the slot serving it, or -1: the layer's Virtual Experts and its lingering
        /// experts. Only ever names ready slots.
        var slotOf: [[Int]]
        /// [layer index][expert]: `slotOf >= 0`, kept as arrays so `allowedExperts` returns without building one.
        var mask: [[Bool]]
        /// [layer index][expert]: serving, but not one of the layer's `k_l` Virtual Experts: the first to give
        /// its slot up when a swap needs one.
        var lingering: [[Bool]]
        /// Per layer index: lingering experts to drop at the layer's next safe point (their slots are needed).
        var reclaim: [Set<Int>]
        /// The expert each slot serves, is loading or pending with, or is retiring with (a slot dropped while
        /// pinned, empty at its last release: only possible with several decoding threads); and the pins.
        var table: SlotTable
        /// Empty slots.
        var spares: [Int]
        /// Slots a swap is loading into right now.
        var inFlight: Set<Int> = []
        /// Per layer index: loaded experts waiting for the layer's safe point.
        var pending: [[Arrival]]
        var pendingCount = 0
        /// Per layer index: experts being swapped in (loading or pending).
        var incoming: [Set<Int>]
        /// Experts whose block failed to load; not tried again.
        var broken: Set<Int> = []
        /// Per layer index (`.firstRouting`): the slots booked for the layer's first experts, until its first
        /// safe point has loaded them; `seeding` while that happens.
        var seeds: [Seed?]
        var seeding: [Bool]
        /// The last round wanted more slots than were empty: a slot emptied later asks for another round.
        var starved = false
        var tokens = 0
        var nextRoundAt: Int
        var roundRequested = false
        var roundRunning = false
        var stopping = false

        func isVirtual(_ li: Int, _ e: Int) -> Bool { slotOf[li][e] >= 0 && !lingering[li][e] }
        /// Layer `li`'s Virtual Experts, ascending.
        func virtualExperts(_ li: Int) -> [Int] { slotOf[li].indices.filter { isVirtual(li, $0) } }
        func isSeeded(_ li: Int) -> Bool { seeds[li] == nil }
    }

    static let swaps = 0, rounds = 1, failedSwaps = 2, warmupNanos = 3, routedChoices = 4, routedResident = 5, reclaimed = 6

    let archive: Archive
    /// The slots, the loader and the one lock over `State`.
    let cache: ExpertCache<State>
    var loader: ExpertLoader { cache.loader }
    var lock: ConditionLock<State> { cache.lock }
    let importance: ImportanceTracker
    let layers: [Int]
    let layerIndex: [Int: Int]
    let layouts: [ExpertLayout]
    let experts: Int
    /// [layer index][expert] → ‖E_i‖.
    let norms: [[Double]]
    let options: SwapExperts.Options
    /// The round's decisions.
    let policy: SwapPolicy
    let counters = Counters(count: 7)
    /// Layers still waiting for their `.firstRouting` seed: once 0, safe points skip `seed` without locking.
    let unseeded = Atomic<Int>(0)

    /// Allocates the slots and starts the I/O threads (`ExpertCache`); nothing is loaded until `warmUp`.
    init(archive: Archive, importance: ImportanceTracker, layers: [Int], experts: Int, norms: [[Double]],
         options: SwapExperts.Options, slots: Int) throws(EngineError) {
        self.norms = norms
        self.archive = archive
        self.importance = importance
        self.layers = layers
        self.experts = experts
        self.options = options
        policy = SwapPolicy(options)
        layerIndex = Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($1, $0) })
        layouts = layers.map { archive.layout(of: archive.expert(ExpertKey(stack: options.stack, layer: $0, expert: 0))!) }
        let n = layers.count
        let flags = [[Bool]](repeating: .init(repeating: false, count: experts), count: n)
        let book = State(slotOf: .init(repeating: .init(repeating: -1, count: experts), count: n),
                         mask: flags, lingering: flags, reclaim: .init(repeating: [], count: n),
                         table: SlotTable(slots: slots), spares: [], pending: .init(repeating: [], count: n), incoming: .init(repeating: [], count: n),
                         seeds: .init(repeating: nil, count: n), seeding: .init(repeating: false, count: n),
                         nextRoundAt: options.swapInterval)
        cache = try ExpertCache(archive: archive, slots: slots, storage: options.storage, loader: options.loader, book: book)
    }

    func key(_ li: Int, _ e: Int) -> ExpertKey { ExpertKey(stack: options.stack, layer: layers[li], expert: e) }

    /// Loads the Virtual Experts (`initial`) and fills the spare slots with lingering experts: one at a time
    /// to the layer serving the fewest (ties to the lower layer), its largest-‖E_i‖ expert not yet chosen.
    /// Waits for all of them. With `.firstRouting` it only books each layer's slots; `seed` fills them.
    func warmUp(_ initial: [[Int]]) throws(EngineError) {
        var chosen = initial.map { Set($0) }
        var extra = [[Int]](repeating: [], count: layers.count)
        for _ in 0..<(lock.withLock { $0.table.count } - initial.joined().count) {
            guard let li = chosen.indices.filter({ chosen[$0].count < experts }).min(by: { (chosen[$0].count, $0) < (chosen[$1].count, $1) }) else { break }
            let e = (0..<experts).filter { !chosen[li].contains($0) }.max { (norms[li][$0], -$0) < (norms[li][$1], -$1) }!
            chosen[li].insert(e)
            extra[li].append(e)
        }
        var slot = 0
        if case .firstRouting = options.initialResidents {
            lock.withLock { s in
                for li in layers.indices {
                    let n = initial[li].count + extra[li].count
                    s.seeds[li] = Seed(virtual: initial[li].count, slots: Array(slot..<(slot + n)))
                    unseeded.add(1, ordering: .relaxed)
                    slot += n
                }
                s.spares = Array((slot..<s.table.count).reversed())
            }
            return
        }
        var planned: [(li: Int, e: Int, slot: Int, lingering: Bool)] = []
        for li in layers.indices {
            for (e, lingering) in initial[li].map({ ($0, false) }) + extra[li].map({ ($0, true) }) {
                try loader.load(key(li, e), into: slot, priority: .demand)
                planned.append((li, e, slot, lingering))
                slot += 1
            }
        }
        for p in planned {
            if case .failed(_, let error) = loader.waitUntilSettled(slot: p.slot) { throw error }
        }
        lock.withLock { s in
            for p in planned {
                s.slotOf[p.li][p.e] = p.slot
                s.mask[p.li][p.e] = true
                s.lingering[p.li][p.e] = p.lingering
                s.table.assign(key(p.li, p.e), to: p.slot)
            }
            s.spares = Array((slot..<s.table.count).reversed())
        }
    }

    // MARK: Decode path

    func pin(_ li: Int, _ key: ExpertKey) throws(EngineError) -> Int {
        try lock.withLock { (s) throws(EngineError) -> Int in
            let slot = s.slotOf[li][key.expert]
            guard slot >= 0 else { throw .notResident(key) }
            s.table.pin(slot)
            return slot
        }
    }

    func unpin(_ li: Int, _ key: ExpertKey) {
        let freed: Bool = lock.withLock { s in
            var slot = s.slotOf[li][key.expert]
            // A slot dropped while pinned (only possible with several decoding threads) is released first.
            if !s.table.retiring.isEmpty, let r = s.table.retiringSlot(holding: key, except: slot) { slot = r }
            guard slot >= 0, s.table.pins[slot] > 0 else {
                assertionFailure("release(\(key)) without a matching acquire")
                return false
            }
            if s.table.unpin(slot) == 0 && s.table.isRetiring(slot) {
                empty(&s, slot)
                return true
            }
            return false
        }
        if freed { lock.notifyAll() }
    }

    /// An unpinned slot that no longer serves anything becomes empty; a starved swapper is asked for a round.
    func empty(_ s: inout State, _ slot: Int) {
        s.table.free(slot)
        loader.clear(slot: slot)
        s.spares.append(slot)
        if s.starved { s.roundRequested = true }
    }

    /// The decoder's safe point for layer `li`: apply its arrivals and reclaims, count tokens for the next round,
    /// and return the layer's mask as it then stands.
    func safePoint(_ li: Int, tokens: Int) -> [Bool] {
        seed(li)
        let (mask, wake): ([Bool], Bool) = lock.withLock { s in
            var wake = applySafePoint(&s, li)
            if tokens > 0 {
                s.tokens += tokens
                if s.tokens >= s.nextRoundAt {
                    s.nextRoundAt = s.tokens + options.swapInterval
                    s.roundRequested = true
                    wake = true
                }
            }
            return (s.mask[li], wake)
        }
        if wake { lock.notifyAll() }
        return mask
    }

    /// `.firstRouting`: at layer `li`'s first safe point, loads the experts most important to the tokens seen
    /// so far (ties, and a layer with none seen yet, by ‖E_i‖) into its booked slots and waits for them: the
    /// first `virtual` become its Virtual Experts, the rest linger. A block that fails to load is skipped for
    /// the next expert in that order. Another thread at the same safe point waits until it is done.
    private func seed(_ li: Int) {
        guard unseeded.load(ordering: .acquiring) > 0 else { return }
        let claimed: Seed? = lock.wait { s -> Seed?? in
            if s.seeding[li] { return nil }
            guard let seed = s.seeds[li] else { return .some(nil) }
            s.seeding[li] = true
            return .some(seed)
        }
        guard let seed = claimed else { return }
        let start = monotonicSeconds()
        let v = importance.importance(layerIndex: li), n = norms[li]
        var order = (0..<experts).sorted { (v[$0], n[$0], -$0) > (v[$1], n[$1], -$1) }[...]
        var loaded: [(e: Int, slot: Int)] = [], failed: [Int] = []
        var free = seed.slots[...]
        while !free.isEmpty, !order.isEmpty {
            let batch = zip(order.prefix(free.count), free).map { (e: $0, slot: $1) }
            order = order.dropFirst(batch.count)
            free = free.dropFirst(batch.count)
            for b in batch {
                do throws(EngineError) { try loader.load(key(li, b.e), into: b.slot, priority: .demand) } catch { failed.append(b.e); free.append(b.slot) }
            }
            for b in batch where !failed.contains(b.e) {
                if loader.waitUntilSettled(slot: b.slot).isReady(key(li, b.e)) { loaded.append(b) } else { failed.append(b.e); free.append(b.slot) }
            }
        }
        lock.withLockNotifying { s in
            for (i, b) in loaded.enumerated() {
                s.slotOf[li][b.e] = b.slot
                s.mask[li][b.e] = true
                s.lingering[li][b.e] = i >= seed.virtual
                s.table.assign(key(li, b.e), to: b.slot)
            }
            for e in failed { s.broken.insert(li * experts + e) }
            for slot in free { loader.clear(slot: slot); s.spares.append(slot) }
            s.seeds[li] = nil
            unseeded.subtract(1, ordering: .releasing)
            s.seeding[li] = false
        }
        counters.add(SwapCore.failedSwaps, failed.count)
        counters.add(SwapCore.warmupNanos, Int((monotonicSeconds() - start) * 1e9))
    }

    /// Applies layer `li`'s changes: loaded experts start serving (as Virtual Experts in place of the one
    /// their round chose, which lingers), reclaimed lingering experts stop serving and their slots empty. Returns whether waiters should look.
    private func applySafePoint(_ s: inout State, _ li: Int) -> Bool {
        guard !s.pending[li].isEmpty || !s.reclaim[li].isEmpty else { return false }
        for a in s.pending[li] {
            s.slotOf[li][a.expert] = a.slot
            s.mask[li][a.expert] = true
            if let old = a.replaces, s.isVirtual(li, old) {
                s.lingering[li][old] = true
                if a.thenReclaim { s.reclaim[li].insert(old) }
            } else {
                s.lingering[li][a.expert] = true
            }
            s.incoming[li].remove(a.expert)
            counters.add(SwapCore.swaps)
        }
        s.pendingCount -= s.pending[li].count
        s.pending[li].removeAll(keepingCapacity: true)
        for e in s.reclaim[li] {
            let slot = s.slotOf[li][e]
            s.slotOf[li][e] = -1
            s.mask[li][e] = false
            s.lingering[li][e] = false
            if s.table.pins[slot] == 0 { empty(&s, slot) } else { s.table.retire(slot) }
            counters.add(SwapCore.reclaimed)
        }
        s.reclaim[li].removeAll(keepingCapacity: true)
        return true
    }
}
