import SwapMoECore
import SwapMoEArchive
import SwapMoEModels

/// The exact on-demand provider: any expert can be acquired; one that is not resident is loaded and the caller
/// waits. Output is bit-identical to `ResidentExperts` because the bytes served are the archive's decoded bytes.
///
/// - Pinning: `acquire` pins the expert's slot (a reference count) until the matching `release`; a pinned slot
///   is never evicted, cleared or reloaded. Every caller can hold at most `slots` experts at once in total;
///   more concurrent holders wait for a release.
/// - Demand and prefetch: a miss issues a demand-priority load; `prefetch` queues prefetch-priority loads into
///   free or evictable slots (never pinned ones, never experts of the current demand); acquiring an expert that
///   is being prefetched promotes and waits for that load instead of issuing a second one.
/// - Keeping the last token's experts: each layer's `withLayer` call remembers, per layer, the top-k experts of the pass's
///   last token; loads evict any other unpinned expert before one of those, and prefetches never evict them.
///   The next token most often routes the same way, and after a prompt (whose many tokens route to most
///   experts of every layer) plain LRU would have evicted the early layers' experts the first generated
///   token needs. Each layer's next choice of that token (its (k+1)-th expert) goes just before them
///   (`KeptExperts`). Among the kept experts, the one whose layer comes furthest ahead goes first (Belady's rule
///   for a decoder that visits its layers in order): when the slots cannot hold them all, as under a low cap,
///   most of them then stay from token to token, where LRU would evict each just before it is needed again.
/// - Routing announcement (`Options.expertsPerToken`): `withLayer` first computes each token's top-k experts
///   (what the decoder is about to acquire), makes them the "current demand" (protected from prefetch
///   eviction), and queues the missing ones at demand priority right away, so the I/O threads load them in
///   parallel while the decoder computes the first ones.
/// - The decisions (eviction order, what is kept, what to load ahead) are `ExactPolicy`'s, made from the plain
///   `ExactState` kept under the lock; this type carries them out.
///
/// Memory: the `ExpertCache`'s arena (`slots * Arena.slotSize(for: archive)` bytes, or none for `.mapped`) and
/// loader buffers, and bookkeeping of O(slots + experts) small values. `memoryBytes` is the sum of the first two;
/// `plannedBytes(...)` gives it before construction.
///
/// Concurrency: the cache's one lock (`ConditionLock`, a pthread mutex) guards the slot map, pins and policy
/// data; the loader has its own lock and is only ever called with this one held or with no lock (never the
/// reverse), so they cannot deadlock. The per-token
/// path (`acquire` hit, `release`) is one lock round-trip plus one loader-lock read, with no actor hop and no
/// allocation.
public final class ExactExperts: ExpertProvider, Sendable {
    public struct Options: Sendable {
        public var policy: EvictionPolicy
        public var storage: ExpertStorage
        public var loader: ExpertLoader.Options
        /// When set, routing observations announce each token's top-k experts as the current demand.
        public var expertsPerToken: Int?
        /// Layers ahead whose last-token experts are loaded while the current layer computes (`loadAhead`; 0:
        /// none). Default 2: under caps too small for every layer's experts, 4-13% faster decode on the test model
        /// for 8-18% more bytes read; above them nothing is loaded ahead (Docs/Benchmarks.md).
        public var lookahead: Int

        public init(policy: EvictionPolicy = .lru, storage: ExpertStorage = .arena(), loader: ExpertLoader.Options = .init(),
                    expertsPerToken: Int? = nil, lookahead: Int = 2) {
            self.policy = policy; self.storage = storage; self.loader = loader; self.expertsPerToken = expertsPerToken
            self.lookahead = lookahead
        }
    }

    public let archive: Archive
    /// The loader that fills the slots.
    public var loader: ExpertLoader { cache.loader }
    /// Bytes of the arena (0 for the mapped backend).
    public var arenaBytes: Int { cache.arenaBytes }
    public let slotCount: Int
    public let options: Options
    /// Bytes this provider allocated for weights and I/O: the arena plus the loader's staging/scratch buffers.
    public var memoryBytes: Int { cache.memoryBytes }

    /// The decisions: what to evict, keep and load ahead.
    private let policy: ExactPolicy
    private let layouts: [ExpertLayout]
    /// The slots, the loader and the one lock over `ExactState`.
    private let cache: ExpertCache<State>
    private let counters = Counters(count: 8)
    private static let hits = 0, misses = 1, prefetchHits = 2, demandLoads = 3, prefetchLoads = 4
    private static let cancelled = 5, stallNanos = 6, evictions = 7

    /// What `memoryBytes` will be for these arguments, without allocating anything.
    public static func plannedBytes(archive: Archive, slots: Int, options: Options = .init()) -> Int {
        options.storage.plannedBytes(archive: archive, slots: slots, options: options.loader)
    }

    /// An exact provider with `slots` expert slots. Allocates (and by default pre-faults) the arena and starts
    /// the I/O threads; nothing is loaded until asked for.
    public init(archive: Archive, slots: Int, options: Options = .init()) throws(EngineError) {
        guard slots >= 1 else { throw .invalidConfiguration("ExactExperts needs at least one slot (got \(slots))") }
        if let k = options.expertsPerToken, k < 1 { throw .invalidConfiguration("expertsPerToken must be at least 1 (got \(k))") }
        self.archive = archive
        self.options = options
        self.slotCount = slots
        var idx: [ExpertKey: Int] = [:]
        for (i, e) in archive.experts.enumerated() { idx[ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert)] = i }
        policy = ExactPolicy(eviction: options.policy, lookahead: options.lookahead,
                             routedPerToken: max(1, options.expertsPerToken ?? archive.manifest.model.expertsPerToken), entryIndex: idx)
        layouts = archive.experts.map { archive.layout(of: $0) }
        var st = State(slots: slots, experts: archive.experts.count)
        for e in archive.experts { st.kept.passLength[e.stack] = max(st.kept.passLength[e.stack] ?? 0, e.layer + 1) }
        cache = try ExpertCache(archive: archive, slots: slots, storage: options.storage, loader: options.loader, book: st)
    }

    deinit { cache.shutdown() }

    /// Stops the I/O threads. Pending loads fail with `.shutDown`. The arena lives until the provider is freed.
    public func shutdown() { cache.shutdown() }

    typealias State = ExactState

    private enum Step: Sendable {
        case ready(Int)
        case wait(Int)
        case full(UInt64)
        case failed(EngineError)
    }

    /// Takes the slot `policy.victim` chooses: frees it in the loader and forgets its expert. A slot whose load
    /// is in flight cannot be freed; the policy is asked again without it. Returns nil if no slot can be taken.
    private func takeVictim(_ s: inout State, worth: (ExpertKey, _ steps: Int) -> Int?) -> Int? {
        var skip = Set<Int>()
        while true {
            guard let best = policy.victim(s, skip: skip, worth: worth) else { return nil }
            guard let old = loader.reclaim(slot: best) else { skip.insert(best); continue }
            if s.table.free(best) != nil {
                if case .ready = old { counters.add(Self.evictions) }
                if case .loading = old { counters.add(Self.cancelled) }
            }
            s.prefetched[best] = false
            return best
        }
    }

    // MARK: ExpertProvider

    public func acquire(_ key: ExpertKey) throws -> ExpertWeights {
        guard let entry = policy.entryIndex[key] else { throw EngineError.unknownExpert(key) }
        var waitStart: Double? = nil
        defer {
            if let t = waitStart { counters.add(Self.stallNanos, Int((monotonicSeconds() - t) * 1e9)) }
        }
        var counted = false
        while true {
            let step: Step = cache.lock.withLock { s in
                s.frequency[entry] &+= counted ? 0 : 1
                if let slot = s.table.slotOf[key] {
                    s.table.pin(slot)
                    s.touch(slot)
                    let st = loader.state(of: slot)
                    if st.isReady(key) {
                        if !counted { counters.add(Self.hits) }
                        if s.prefetched[slot] { counters.add(Self.prefetchHits); s.prefetched[slot] = false }
                        return .ready(slot)
                    }
                    if !counted { counters.add(Self.misses) }
                    if st.isLoading {
                        loader.promote(slot: slot, to: .demand)
                        return .wait(slot)
                    }
                    // The previous load failed (or the slot was emptied): try again, at demand priority.
                    do throws(EngineError) { try loader.load(key, into: slot, priority: .demand) } catch {
                        s.table.unpin(slot)
                        return .failed(error)
                    }
                    counters.add(Self.demandLoads)
                    return .wait(slot)
                }
                if !counted { counters.add(Self.misses) }
                guard let v = takeVictim(&s, worth: ExactPolicy.demandWorth(s)) else {
                    s.slotWaiters += 1
                    return .full(loader.generation)
                }
                do throws(EngineError) { try loader.load(key, into: v, priority: .demand) } catch { return .failed(error) }
                s.table.assign(key, to: v)
                s.table.pin(v)
                s.touch(v)
                counters.add(Self.demandLoads)
                return .wait(v)
            }
            counted = true
            switch step {
            case .ready(let slot):
                return try weights(slot: slot, key: key, entry: entry)
            case .failed(let e):
                throw e
            case .wait(let slot):
                if waitStart == nil { waitStart = monotonicSeconds() }
                let st = loader.waitUntilSettled(slot: slot)
                if st.isReady(key) { return try weights(slot: slot, key: key, entry: entry) }
                // Failed: unpin, leave the failed slot mapped so the next acquire retries, report the error.
                unpin(key)
                if case .failed(_, let e) = st { throw e }
                // Emptied under us (cannot happen while pinned, but retrying is always correct).
            case .full(let generation):
                if waitStart == nil { waitStart = monotonicSeconds() }
                loader.waitForChange(since: generation)
                cache.lock.withLock { $0.slotWaiters -= 1 }
            }
        }
    }

    public func release(_ key: ExpertKey) { unpin(key) }

    private func unpin(_ key: ExpertKey) {
        let wake: Bool = cache.lock.withLock { s in
            guard let slot = s.table.slotOf[key], s.table.pins[slot] > 0 else {
                assertionFailure("release(\(key)) without a matching acquire")
                return false
            }
            if s.table.unpin(slot) == 0 { s.demand.remove(key) }
            s.touch(slot)
            return s.slotWaiters > 0
        }
        if wake { loader.notifyChange() }
    }

    private func weights(slot: Int, key: ExpertKey, entry: Int) throws -> ExpertWeights {
        do { return try cache.weights(slot: slot, key: key, layout: layouts[entry]) } catch {
            unpin(key)
            throw error
        }
    }

    /// One MoE layer: remember what the router says (`observe`), route over every expert, queue this layer's
    /// routed experts together (so they load in parallel) and the last token's experts of the layers ahead
    /// (`loadAhead`), then the model's predictions for the layers ahead, and serve the routed experts (a decoded
    /// token's together, if the slots can hold them all pinned), waiting for those not resident yet.
    public func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                          predict: () -> [MoELayerPrediction],
                          serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        observe(layer, router)
        let routing = try route(nil)
        prefetch(routing.usedExperts.map(layer.expert))
        loadAhead(after: layer)
        for p in predict() { prefetch(p.experts.map(p.layer.expert)) }
        try routing.serveEach(layer, pinnable: slotCount, acquire: acquire, release: release, serve: serve)
        return routing
    }

    /// Remembers the experts the layer's last token routes to (`KeptExperts`), and announces the layer's
    /// demand when `expertsPerToken` is set (see the type's documentation).
    func observe(_ layer: MoELayer, _ router: RouterOutput) {
        cache.lock.withLock { s in s.kept.observe(layer, router, k: policy.routedPerToken, at: s.tick) }
        guard let k = options.expertsPerToken, router.tokens > 0 else { return }
        let keys = ExactPolicy.demand(layer, router, k: k)
        cache.lock.withLock { s in s.demand = Set(keys) }
        queueLoads(keys, priority: .demand, mayEvictKept: ExactPolicy.ofCurrentLayer)
    }

    /// Queues prefetch-priority loads of `keys` (in order) into free or evictable slots. Never evicts a pinned
    /// expert, an expert of the current demand, or one of `keys`, nor one of the last token's experts unless the
    /// key is of the layer being computed (the decoder queues a layer's experts together, so they load in
    /// parallel); stops when no such slot is left. Already resident or loading experts are skipped. Returns how
    /// many loads were queued.
    @discardableResult
    public func prefetch(_ keys: [ExpertKey]) -> Int { queueLoads(keys, priority: .prefetch, mayEvictKept: ExactPolicy.ofCurrentLayer) }

    /// Loads ahead the last token's experts of the `options.lookahead` layers after `layer` (the one being
    /// computed) that are not resident, nearest first, at background priority, so that under a cap too small
    /// for every layer's experts the next layers' loads overlap this layer's compute. Room comes only from
    /// experts the last token did not route to, or from the `lookahead` layers computed last (needed again only
    /// a pass later); every layer looked ahead holds its experts out of the set that serves hits from token to
    /// token, so it trades about `expertsPerToken` loads per token for the overlap. Returns how many loads were
    /// queued.
    @discardableResult
    func loadAhead(after layer: MoELayer) -> Int {
        guard let plan = cache.lock.withLock({ s in policy.loadAhead(s, after: layer) }) else { return 0 }
        return queueLoads(plan.keys, priority: .background, mayEvictKept: plan.mayEvictKept)
    }

    /// Queues loads of `keys` (in order) into free or evictable slots, never evicting a pinned expert, one of the
    /// current demand or one of `keys`; one of the last token's experts only where `mayEvictKept(key, its steps
    /// until use, kept)` says so, its next choices only if nothing else. Stops when no slot is left.
    @discardableResult
    private func queueLoads(_ keys: [ExpertKey], priority: LoadPriority,
                            mayEvictKept: (ExpertKey, Int, KeptExperts) -> Bool) -> Int {
        cache.lock.withLock { s in
            let protected = s.demand.union(keys), kept = s.kept
            var queued = 0
            for key in keys {
                guard policy.entryIndex[key] != nil, s.table.slotOf[key] == nil else { continue }
                guard let v = takeVictim(&s, worth: { k, steps in
                    ExactPolicy.queuedWorth(k, steps: steps, kept: kept, loading: key, protected: protected, mayEvictKept: mayEvictKept)
                }) else { break }
                do { try loader.load(key, into: v, priority: priority) } catch { break }
                s.table.assign(key, to: v)
                s.prefetched[v] = true
                s.touch(v)
                queued += 1
            }
            counters.add(Self.prefetchLoads, queued)
            return queued
        }
    }

    // MARK: Introspection

    public var stats: ExactStats {
        var st = ExactStats()
        st.hits = counters.get(Self.hits)
        st.misses = counters.get(Self.misses)
        st.prefetchHits = counters.get(Self.prefetchHits)
        st.demandLoads = counters.get(Self.demandLoads)
        st.prefetchLoads = counters.get(Self.prefetchLoads)
        st.prefetchesCancelled = counters.get(Self.cancelled)
        st.stallSeconds = Double(counters.get(Self.stallNanos)) * 1e-9
        st.evictions = counters.get(Self.evictions)
        let l = loader.stats
        st.failures = l.failures
        st.loads = l.loads
        st.bytesRead = l.bytesRead
        return st
    }

    /// The experts mapped to slots (ready or loading), by slot.
    public var residentKeys: [ExpertKey?] { cache.lock.withLock { $0.table.keyIn } }

    /// The slot currently assigned to `key`, if any.
    public func slot(of key: ExpertKey) -> Int? { cache.lock.withLock { $0.table.slotOf[key] } }

    /// Pin count of each slot (for tests and diagnostics).
    public var pinCounts: [Int] { cache.lock.withLock { $0.table.pins } }

    /// Whether `key` is resident and ready (acquire would not wait).
    public func isReady(_ key: ExpertKey) -> Bool {
        cache.lock.withLock { s in s.table.slotOf[key].map { loader.state(of: $0).isReady(key) } ?? false }
    }
}

extension ExactExperts {
    /// Checks the bookkeeping invariants (for tests): the slot table's (`SlotTable.violations`: no expert in
    /// two slots, no slot holding two experts, pins never negative, free slots unpinned), none retiring, and a
    /// slot holding an expert is loading, ready or failed with exactly that expert, a slot holding none is
    /// empty in the loader. Returns the violations found (empty when consistent).
    func invariantViolations() -> [String] {
        cache.lock.withLock { s in
            var v = s.table.violations()
            if !s.table.retiring.isEmpty { v.append("slots \(s.table.retiring) retire; only the swap provider retires slots") }
            for slot in 0..<slotCount {
                let st = loader.state(of: slot)
                if let k = s.table.keyIn[slot] {
                    if st.key != k { v.append("slot \(slot) holds \(k) but the loader has \(st)") }
                } else if case .empty = st {} else {
                    v.append("free slot \(slot) is \(st)")
                }
            }
            return v
        }
    }
}
