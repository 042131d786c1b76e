import Synchronization
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels

/// SwapMoE's Virtual Experts (arXiv 2308.15030): each MoE layer l keeps `k_l` Virtual Experts resident; the
/// router is masked to the experts serving (`allowedExperts`), so decoding never waits for I/O; a background
/// swapper keeps the serving set close to the most important experts of the recent workload.
///
/// The arena has `Σ k_l + spareSlots` slots. The spare slots are what lets a swap load its newcomer while
/// the expert it replaces keeps serving. Between swaps they are not left empty: a slot a swap no longer
/// needs keeps serving its expert as a *lingering* expert (routable, not one of the layer's `k_l`), until a
/// later swap needs the slot. So every slot serves, and the `k_l` are each layer's guaranteed minimum.
///
/// How a swap happens, and why it never stalls the decoder:
/// 1. Every `swapInterval` tokens the swapper thread (its own thread, not the decode path) reads the sliding-
///    window importance (`ImportanceTracker`). Per layer, lingering experts more important than Virtual
///    Experts (by `minimumGain`) trade roles with them: bookkeeping only, both keep serving.
/// 2. The most important experts not serving, across layers, get the empty slots: each is loaded at
///    background priority while everything serving keeps serving.
/// 3. When no slot is empty, the least important lingering experts, across layers, are reclaimed for the
///    newcomers more important than them (by `minimumGain` and `minimumShareGain`); the round ends, and the next round starts as
///    soon as a reclaim empties a slot.
/// 4. Changes reach a layer only at its next safe point: the decoder's next `observeRouting` or
///    `allowedExperts` call for that layer. There, under the lock, loaded newcomers start serving (each in
///    the role of the least important Virtual Expert its round chose, which lingers; as lingering experts if
///    that one has left the role) and reclaimed experts stop serving, their slots empty.
///    Applying them at the safe point, rather than the moment a load ends, keeps the mask the decoder got
///    from `allowedExperts(l)` valid for every `acquire` of that layer: nothing about layer l changes
///    between its mask and its acquires.
///
/// `acquire` of a serving expert is a map lookup and a pin under the lock: it never waits for I/O (stall
/// time is 0 after warm-up). `acquire` of an expert not serving throws `.notResident` (route with the mask).
/// One decoding thread per provider is the intended use: with several, another thread's safe point can drop an
/// expert between this thread's mask and its `acquire`, which then throws `.notResident`. Even so a pinned slot
/// is never reused: a reclaimed expert that is pinned keeps its slot until released (tested under stress).
///
/// Warm-up: the Virtual Experts are the `k_l` experts of largest ‖E_i‖ per layer (the importance prior
/// before any token is seen, since importance is proportional to ‖E_i‖), ties to the lower index; or the lowest
/// indices, or an explicit set. The spare slots are filled with lingering experts, one at a time to the layer
/// serving the fewest, its largest-‖E_i‖ expert. All are loaded at start, and `init` returns when all are ready.
/// With `.firstRouting` the same counts per layer are booked in `init` but loaded at each layer's first safe
/// point, chosen by the routing seen there.
///
/// Memory (all allocated in init, never grown): the arena of `Σ k_l + spareSlots` slots of
/// `Arena.slotSize(for:)` bytes (none for `.mapped`), the loader's `memoryOverhead`, the importance tracker's
/// `memoryBytes`, and O(slots + layers · experts) bookkeeping. `memoryBytes` sums the first three;
/// `plannedBytes(...)` gives it before construction.
public final class SwapExperts: ExpertProvider, Sendable {
    public enum InitialResidents: Sendable {
        /// The `k_l` experts with the largest ‖E_i‖ (ties to the lower index).
        case largestNorm
        /// Experts `0 ..< k_l`.
        case lowestIndex
        /// Exactly these experts per layer (each list must have `k_l` distinct experts).
        case explicit([Int: [Int]])
        /// Chosen by the first tokens routed: nothing is loaded in `init`; at each layer's first safe point the
        /// experts most important to the tokens observed there (ties by ‖E_i‖) are loaded, and the decoder
        /// waits for them (warm-up time, not stall). A prompt picks its own experts instead of a norm prior.
        case firstRouting
    }

    public struct Options: Sendable {
        /// The stack of the archive the layers belong to.
        public var stack: ExpertStack
        /// Slots beyond the Virtual Experts: lingering experts serve from them until a swap needs one
        /// (0 freezes the initial residents).
        public var spareSlots: Int
        /// Tokens (seen by the first MoE layer) between swap rounds.
        public var swapInterval: Int
        /// Tokens in the importance window.
        public var window: Int
        public var initialResidents: InitialResidents
        /// A newcomer takes a lingering expert's slot, and a lingering expert a Virtual Expert's role, only if
        /// `importance(new) > importance(old) * (1 + minimumGain)`.
        public var minimumGain: Double
        /// ... and, for taking a slot (a load), only if its share of its layer's importance exceeds the other's
        /// share of its own layer's by at least this much: a load is not spent on a negligible gain.
        public var minimumShareGain: Double
        /// Loads (and reclaims) started per round, across layers (nil: no limit).
        public var maxSwapsPerRound: Int?
        public var storage: ExpertStorage
        public var loader: ExpertLoader.Options

        public init(stack: ExpertStack = .decoder, spareSlots: Int = 2, swapInterval: Int = 16, window: Int = 256,
                    initialResidents: InitialResidents = .largestNorm, minimumGain: Double = 0, minimumShareGain: Double = 0.01, maxSwapsPerRound: Int? = nil,
                    storage: ExpertStorage = .arena(), loader: ExpertLoader.Options = .init()) {
            self.stack = stack; self.spareSlots = spareSlots; self.swapInterval = swapInterval; self.window = window
            self.initialResidents = initialResidents; self.minimumGain = minimumGain; self.minimumShareGain = minimumShareGain
            self.maxSwapsPerRound = maxSwapsPerRound
            self.storage = storage; self.loader = loader
        }
    }

    public let archive: Archive
    public let loader: ExpertLoader
    public let arena: Arena?
    public let importance: ImportanceTracker
    /// The managed MoE layers, ascending.
    public let layers: [Int]
    public let expertsPerLayer: Int
    /// Experts each token is routed to (the model's top-k), for the hit-rate tally.
    public let topK: Int
    /// `k_l` per layer.
    public let residentCounts: [Int: Int]
    public let slotCount: Int
    public let options: Options
    /// Bytes allocated: arena, loader buffers and importance window.
    public var memoryBytes: Int { (arena?.byteCount ?? 0) + loader.memoryOverhead + importance.memoryBytes }

    let core: SwapCore
    private let swapper: ConditionLock<JoinableThread?>

    /// What `memoryBytes` will be for these arguments, without allocating anything.
    public static func plannedBytes(archive: Archive, residents: [Int: Int], options: Options = .init()) -> Int {
        let slots = residents.values.reduce(0, +) + options.spareSlots
        let experts = archive.manifest.model.stacks.first { $0.name == options.stack }?.expertsPerLayer ?? 0
        let imp = ImportanceTracker.memoryBytes(layers: residents.count, experts: experts, window: options.window)
        return options.storage.plannedBytes(archive: archive, slots: slots, options: options.loader) + imp
    }

    /// The same `k` for every MoE layer.
    public convenience init(archive: Archive, residentsPerLayer k: Int, options: Options = .init()) throws(EngineError) {
        guard let stack = archive.manifest.model.stacks.first(where: { $0.name == options.stack }) else {
            throw .invalidConfiguration("the archive has no '\(options.stack)' stack")
        }
        try self.init(archive: archive, residents: Dictionary(uniqueKeysWithValues: stack.moeLayers.map { ($0, k) }), options: options)
    }

    /// - Parameter residents: `k_l` for every MoE layer of the stack (1 ... experts per layer).
    /// Loads the initial residents and returns when they are all ready (throws if one fails to load).
    public init(archive: Archive, residents: [Int: Int], options: Options = .init()) throws(EngineError) {
        guard let stack = archive.manifest.model.stacks.first(where: { $0.name == options.stack }) else {
            throw .invalidConfiguration("the archive has no '\(options.stack)' stack")
        }
        let layers = stack.moeLayers.sorted()
        let e = stack.expertsPerLayer
        guard Set(residents.keys) == Set(layers) else {
            throw .invalidConfiguration("resident counts are given for layers \(residents.keys.sorted()) but the MoE layers are \(layers)")
        }
        for (l, k) in residents where k < 1 || k > e {
            throw .invalidConfiguration("layer \(l) asks for \(k) resident experts; it must be 1...\(e)")
        }
        guard options.spareSlots >= 0 else { throw .invalidConfiguration("spare slots must be >= 0 (got \(options.spareSlots))") }
        guard options.swapInterval >= 1 else { throw .invalidConfiguration("the swap interval must be >= 1 token (got \(options.swapInterval))") }
        var norms: [[Double]] = []
        for l in layers {
            var row: [Double] = []
            for i in 0..<e {
                guard let entry = archive.expert(ExpertKey(stack: options.stack, layer: l, expert: i)) else {
                    throw .unknownExpert(ExpertKey(stack: options.stack, layer: l, expert: i))
                }
                row.append(entry.norm)
            }
            norms.append(row)
        }
        let initial = try SwapExperts.initialSets(layers: layers, residents: residents, norms: norms, choice: options.initialResidents, experts: e)

        self.archive = archive
        self.options = options
        self.layers = layers
        self.expertsPerLayer = e
        self.topK = max(1, archive.manifest.model.expertsPerToken)
        self.residentCounts = residents
        let slots = residents.values.reduce(0, +) + options.spareSlots
        self.slotCount = slots
        importance = try ImportanceTracker(norms: norms, window: options.window)
        (arena, loader) = try options.storage.makeLoader(archive: archive, slots: slots, options: options.loader)
        core = SwapCore(archive: archive, loader: loader, importance: importance, layers: layers, experts: e, norms: norms,
                        options: options, slots: slots)
        let start = monotonicSeconds()
        do { try core.warmUp(initial) } catch {
            loader.shutdown()
            throw error
        }
        core.counters.add(SwapCore.warmupNanos, Int((monotonicSeconds() - start) * 1e9))
        let c = core
        do { swapper = ConditionLock(try JoinableThread(name: "swapmoe-swap", stackSize: 256 << 10) { c.runSwapper() }) } catch {
            loader.shutdown()
            throw error
        }
    }

    deinit { shutdown() }

    /// Stops the swapper and the I/O threads (idempotent). Resident experts stay servable until the provider
    /// is freed; no further swaps happen.
    public func shutdown() {
        core.stop()
        loader.shutdown()  // first: it fails queued loads, so a round waiting for one ends
        swapper.withLock { t in t?.join(); t = nil }
    }

    static func initialSets(layers: [Int], residents: [Int: Int], norms: [[Double]], choice: InitialResidents, experts: Int) throws(EngineError) -> [[Int]] {
        var out: [[Int]] = []
        for (li, l) in layers.enumerated() {
            let k = residents[l]!
            switch choice {
            case .largestNorm, .firstRouting:
                out.append(Array(norms[li].indices.sorted { (norms[li][$0], -$0) > (norms[li][$1], -$1) }.prefix(k)).sorted())
            case .lowestIndex:
                out.append(Array(0..<k))
            case .explicit(let sets):
                guard let s = sets[l], s.count == k, Set(s).count == k, s.allSatisfy({ $0 >= 0 && $0 < experts }) else {
                    throw .invalidConfiguration("explicit initial residents of layer \(l) must be \(k) distinct experts in 0..<\(experts)")
                }
                out.append(s.sorted())
            }
        }
        return out
    }

    // MARK: ExpertProvider

    public func acquire(_ key: ExpertKey) throws -> ExpertWeights {
        guard key.stack == options.stack, let li = core.layerIndex[key.layer], key.expert >= 0, key.expert < expertsPerLayer else {
            throw EngineError.unknownExpert(key)
        }
        let slot = try core.pin(li, key)
        do { return try ExpertWeights(block: loader.baseAddress(slot: slot, key: key), layout: core.layouts[li]) } catch {
            core.unpin(li, key)
            throw error
        }
    }

    public func release(_ key: ExpertKey) {
        guard key.stack == options.stack, let li = core.layerIndex[key.layer] else { return }
        core.unpin(li, key)
    }

    /// One MoE layer: at the layer's safe point (`enter`) the importance window sees the router output and the
    /// layer's finished swaps apply; routing is masked to the experts serving then, and each routed expert is
    /// served from its slot without waiting. Layers of other stacks, or not MoE layers, are not this provider's:
    /// they route over every expert, and serving one throws `.unknownExpert`.
    public func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                          predict: () -> [MoELayerPrediction],
                          serve: (_ expert: Int, _ weights: ExpertWeights, _ tokens: [Routing.Choice]) throws -> Void) throws -> Routing {
        let routing = try route(allowedExperts(layer, router: router))
        try routing.serveEach(layer, acquire: acquire, release: release, serve: serve)
        return routing
    }

    /// The layer's safe point: accumulates importance, counts tokens (on the first MoE layer) to schedule swap
    /// rounds, applies the layer's finished swaps, and returns the experts serving it (nil for layers this
    /// provider does not manage). The mask stays valid until the layer's next safe point.
    func allowedExperts(_ layer: MoELayer, router: RouterOutput?) -> [Bool]? {
        guard layer.stack == options.stack, let li = core.layerIndex[layer.layer] else { return nil }
        guard let router else { return core.safePoint(li, tokens: 0) }
        if router.experts == expertsPerLayer {
            router.probabilities.withUnsafeBufferPointer { p in
                router.inputNorms.withUnsafeBufferPointer { n in
                    importance.observe(layerIndex: li, tokens: router.tokens, inputNorms: n.baseAddress!, probabilities: p.baseAddress!)
                }
            }
        }
        let mask = core.safePoint(li, tokens: li == 0 ? router.tokens : 0)
        countResidentRoutes(router, mask: mask)
        return mask
    }

    /// Tallies how many of the *unmasked* router's top-k choices are resident: the share of routing decisions
    /// SwapMoE serves exactly (the rest go to the best resident instead), under the mask the safe point made
    /// current, the one the layer is about to route with.
    private func countResidentRoutes(_ router: RouterOutput, mask: [Bool]) {
        let k = min(topK, router.experts)
        var hits = 0
        for t in 0..<router.tokens {
            for pick in router.top(k, token: t) where mask[pick.index] { hits += 1 }
        }
        core.counters.add(SwapCore.routedChoices, router.tokens * k)
        core.counters.add(SwapCore.routedResident, hits)
    }

    // MARK: Control and introspection

    /// Asks the swapper for a round now (as if `swapInterval` tokens had passed).
    public func requestSwapRound() { core.requestRound() }

    /// Blocks until the swapper is idle: no round running or requested. (A round that had to reclaim slots
    /// asks for the next one when a layer's safe point empties them.)
    public func waitUntilSwapperIdle() { core.waitIdle() }

    /// The Virtual Experts of `layer`, ascending (empty for unmanaged layers).
    public func residentSet(layer: Int) -> [Int] {
        guard let li = core.layerIndex[layer] else { return [] }
        return core.lock.withLock { $0.virtualExperts(li) }
    }

    /// The lingering experts of `layer`: serving from slots no swap has needed yet, ascending.
    public func lingeringSet(layer: Int) -> [Int] {
        guard let li = core.layerIndex[layer] else { return [] }
        return core.lock.withLock { s in (0..<expertsPerLayer).filter { s.lingering[li][$0] } }
    }

    /// Swaps loaded and waiting for their layer's safe point.
    public var pendingSwaps: Int { core.lock.withLock { $0.pendingCount } }

    public var stats: SwapStats {
        var st = SwapStats()
        st.swaps = core.counters.get(SwapCore.swaps)
        st.rounds = core.counters.get(SwapCore.rounds)
        st.failedSwaps = core.counters.get(SwapCore.failedSwaps)
        st.reclaimed = core.counters.get(SwapCore.reclaimed)
        st.warmupSeconds = Double(core.counters.get(SwapCore.warmupNanos)) * 1e-9
        st.routedChoices = core.counters.get(SwapCore.routedChoices)
        st.routedResident = core.counters.get(SwapCore.routedResident)
        st.stallSeconds = 0
        let l = loader.stats
        st.loads = l.loads
        st.bytesRead = l.bytesRead
        core.lock.withLock { s in
            st.tokens = s.tokens
            for (li, l) in layers.enumerated() { st.residents[l] = s.virtualExperts(li) }
        }
        return st
    }

    /// Checks the bookkeeping invariants (for tests): every slot is accounted for exactly once (serving,
    /// loading, pending, empty or retiring); every serving slot is ready with its expert; masks equal the
    /// serving sets; each layer has exactly `k_l` Virtual Experts; reclaims name lingering experts; empty
    /// slots hold nothing and are not loading. Returns the violations found (empty when consistent).
    func invariantViolations() -> [String] {
        core.lock.withLock { s in
            var v: [String] = []
            var booked = [Int](repeating: 0, count: slotCount)
            for (li, l) in layers.enumerated() {
                var virtual = 0
                for e in 0..<expertsPerLayer {
                    let key = ExpertKey(stack: options.stack, layer: l, expert: e), slot = s.slotOf[li][e]
                    if s.mask[li][e] != (slot >= 0) { v.append("layer \(l) mask says \(s.mask[li][e]) for \(e), slot \(slot)") }
                    if s.lingering[li][e] && slot < 0 { v.append("\(key) lingers without a slot") }
                    guard slot >= 0 else { continue }
                    booked[slot] += 1
                    if !s.lingering[li][e] { virtual += 1 }
                    if s.owner[slot] != key { v.append("slot \(slot) serves \(key) but is owned by \(String(describing: s.owner[slot]))") }
                    if !loader.state(of: slot).isReady(key) { v.append("\(key) in slot \(slot) is \(loader.state(of: slot))") }
                }
                if let seed = s.seeds[li] { for slot in seed.slots { booked[slot] += 1 } }
                if s.isSeeded(li) && virtual != residentCounts[l]! { v.append("layer \(l) has \(virtual) Virtual Experts, expected \(residentCounts[l]!)") }
                for e in s.reclaim[li] where !s.lingering[li][e] { v.append("layer \(l) reclaims \(e), which does not linger") }
                for a in s.pending[li] {
                    booked[a.slot] += 1
                    let key = ExpertKey(stack: options.stack, layer: l, expert: a.expert)
                    if !loader.state(of: a.slot).isReady(key) || s.owner[a.slot] != key { v.append("pending \(key) in slot \(a.slot) is not ready") }
                    if s.slotOf[li][a.expert] >= 0 { v.append("pending \(key) already serves") }
                }
            }
            for slot in s.spares {
                booked[slot] += 1
                if s.owner[slot] != nil { v.append("empty slot \(slot) is owned by \(s.owner[slot]!)") }
                if loader.state(of: slot).isLoading { v.append("empty slot \(slot) is loading") }
            }
            for slot in s.inFlight { booked[slot] += 1 }
            for (slot, n) in booked.enumerated() where n > 1 { v.append("slot \(slot) is booked \(n) times") }
            let unbooked = booked.filter { $0 == 0 }.count
            if unbooked != s.retiring { v.append("\(unbooked) slots are unaccounted for, \(s.retiring) retiring") }
            for (slot, p) in s.pins.enumerated() where p < 0 { v.append("slot \(slot) has pin count \(p)") }
            return v
        }
    }
}

/// The state shared by the decoder-facing provider and the swapper thread.
final class SwapCore: Sendable {
    /// A loaded expert waiting for its layer's safe point, and the Virtual Expert whose role it takes there
    /// (if that one still has it; otherwise the newcomer lingers until a round promotes it). With
    /// `thenReclaim` the displaced expert does not linger: its slot empties at once for a waiting newcomer.
    struct Arrival: Sendable {
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
        /// The expert each slot serves, is loading, or is retiring with; nil for empty slots.
        var owner: [ExpertKey?]
        var pins: [Int]
        /// Empty slots.
        var spares: [Int]
        /// Slots a swap is loading into right now.
        var inFlight: Set<Int> = []
        /// Per layer index: loaded experts waiting for the layer's safe point.
        var pending: [[Arrival]]
        var pendingCount = 0
        /// Slots dropped while pinned; they become empty when released.
        var retiring = 0
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
    let loader: ExpertLoader
    let importance: ImportanceTracker
    let layers: [Int]
    let layerIndex: [Int: Int]
    let layouts: [ExpertLayout]
    let experts: Int
    /// [layer index][expert] → ‖E_i‖.
    let norms: [[Double]]
    let options: SwapExperts.Options
    let lock: ConditionLock<State>
    let counters = Counters(count: 7)
    /// Layers still waiting for their `.firstRouting` seed: once 0, safe points skip `seed` without locking.
    let unseeded = Atomic<Int>(0)

    init(archive: Archive, loader: ExpertLoader, importance: ImportanceTracker, layers: [Int], experts: Int, norms: [[Double]],
         options: SwapExperts.Options, slots: Int) {
        self.norms = norms
        self.archive = archive
        self.loader = loader
        self.importance = importance
        self.layers = layers
        self.experts = experts
        self.options = options
        layerIndex = Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($1, $0) })
        layouts = layers.map { archive.layout(of: archive.expert(ExpertKey(stack: options.stack, layer: $0, expert: 0))!) }
        let n = layers.count
        let flags = [[Bool]](repeating: .init(repeating: false, count: experts), count: n)
        lock = ConditionLock(State(slotOf: .init(repeating: .init(repeating: -1, count: experts), count: n),
                                   mask: flags, lingering: flags, reclaim: .init(repeating: [], count: n),
                                   owner: .init(repeating: nil, count: slots), pins: .init(repeating: 0, count: slots),
                                   spares: [], pending: .init(repeating: [], count: n), incoming: .init(repeating: [], count: n),
                                   seeds: .init(repeating: nil, count: n), seeding: .init(repeating: false, count: n),
                                   nextRoundAt: options.swapInterval))
    }

    func key(_ li: Int, _ e: Int) -> ExpertKey { ExpertKey(stack: options.stack, layer: layers[li], expert: e) }

    /// Loads the Virtual Experts (`initial`) and fills the spare slots with lingering experts: one at a time
    /// to the layer serving the fewest (ties to the lower layer), its largest-‖E_i‖ expert not yet chosen.
    /// Waits for all of them. With `.firstRouting` it only books each layer's slots; `seed` fills them.
    func warmUp(_ initial: [[Int]]) throws(EngineError) {
        var chosen = initial.map { Set($0) }
        var extra = [[Int]](repeating: [], count: layers.count)
        for _ in 0..<(lock.withLock { $0.owner.count } - initial.joined().count) {
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
                s.spares = Array((slot..<s.owner.count).reversed())
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
                s.owner[p.slot] = key(p.li, p.e)
            }
            s.spares = Array((slot..<s.owner.count).reversed())
        }
    }

    // MARK: Decode path

    func pin(_ li: Int, _ key: ExpertKey) throws(EngineError) -> Int {
        try lock.withLock { (s) throws(EngineError) -> Int in
            let slot = s.slotOf[li][key.expert]
            guard slot >= 0 else { throw .notResident(key) }
            s.pins[slot] += 1
            return slot
        }
    }

    func unpin(_ li: Int, _ key: ExpertKey) {
        let freed: Bool = lock.withLock { s in
            var slot = s.slotOf[li][key.expert]
            // A slot dropped while pinned (only possible with several decoding threads) is released first.
            if s.retiring > 0, let r = s.owner.indices.first(where: { $0 != slot && s.owner[$0] == key && s.pins[$0] > 0 }) {
                slot = r
            }
            guard slot >= 0, s.pins[slot] > 0 else {
                assertionFailure("release(\(key)) without a matching acquire")
                return false
            }
            s.pins[slot] -= 1
            if slot != s.slotOf[li][key.expert] && s.pins[slot] == 0 {
                s.retiring -= 1
                empty(&s, slot)
                return true
            }
            return false
        }
        if freed { lock.notifyAll() }
    }

    /// An unpinned slot that no longer serves anything becomes empty; a starved swapper is asked for a round.
    private func empty(_ s: inout State, _ slot: Int) {
        s.owner[slot] = nil
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
                s.owner[b.slot] = key(li, b.e)
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
            if s.pins[slot] == 0 { empty(&s, slot) } else { s.retiring += 1 }
            counters.add(SwapCore.reclaimed)
        }
        s.reclaim[li].removeAll(keepingCapacity: true)
        return true
    }

    // MARK: Swapper thread

    func requestRound() { lock.withLockNotifying { $0.roundRequested = true } }

    func stop() { lock.withLockNotifying { $0.stopping = true } }

    func waitIdle() {
        lock.wait { s in (s.stopping || (!s.roundRunning && !s.roundRequested)) ? () : nil }
    }

    func runSwapper() {
        while true {
            let go: Bool = lock.wait { s in
                if s.stopping { return false }
                guard s.roundRequested else { return nil }
                s.roundRequested = false
                s.roundRunning = true
                return true
            }
            guard go else { return }
            runRound()
            lock.withLockNotifying { $0.roundRunning = false }
        }
    }

    /// One round, by the sliding-window importance: promote lingering experts over less important Virtual
    /// Experts (bookkeeping only); load the most important experts not serving into empty slots; where no
    /// slot is empty, reclaim the least important lingering experts (at their layers' safe points) for the
    /// next round. Across layers, experts compare by their share of their layer's importance (a layer's
    /// scale, ‖x‖ and ‖E_i‖, grows with depth; its share is what serving the expert is worth to that layer).
    private func runRound() {
        let imp = layers.indices.map { li in
            let v = importance.importance(layerIndex: li), total = v.reduce(0, +)
            return total > 0 ? v.map { $0 / total } : v
        }
        let gain = 1 + max(0, options.minimumGain)
        /// Layer `li`'s Virtual Experts, least important first.
        func virtualByImportance(_ s: State, _ li: Int) -> [Int] { s.virtualExperts(li).sorted { (imp[li][$0], -$0) < (imp[li][$1], -$1) } }
        // Plan and start the loads under the lock (the loader's lock nests inside ours, never the reverse).
        let started: [(li: Int, arrival: Arrival)] = lock.withLock { s in
            let seeded = layers.indices.filter { s.isSeeded($0) }
            for li in seeded {
                let virtual = virtualByImportance(s, li)
                let spare = (0..<experts).filter { s.lingering[li][$0] && !s.reclaim[li].contains($0) }
                    .sorted { (imp[li][$0], -$0) > (imp[li][$1], -$1) }
                for (out, into) in zip(virtual, spare) {
                    guard imp[li][into] > imp[li][out] * gain else { break }
                    s.lingering[li][out] = true
                    s.lingering[li][into] = false
                }
            }
            var wanted: [(imp: Double, li: Int, e: Int)] = []
            var victims: [(imp: Double, li: Int, e: Int)] = []
            for li in seeded {
                for e in 0..<experts {
                    if s.slotOf[li][e] < 0 {
                        if imp[li][e] > 0 && !s.incoming[li].contains(e) && !s.broken.contains(li * experts + e) { wanted.append((imp[li][e], li, e)) }
                    } else if s.lingering[li][e] && !s.reclaim[li].contains(e) {
                        victims.append((imp[li][e], li, e))
                    }
                }
            }
            wanted.sort { ($0.imp, -$0.li, -$0.e) > ($1.imp, -$1.li, -$1.e) }
            victims.sort { ($0.imp, $0.li, $0.e) < ($1.imp, $1.li, $1.e) }
            var budget = options.maxSwapsPerRound ?? Int.max
            // Per layer, its Virtual Experts from least important: the roles newcomers take on arrival.
            var replaceable = layers.indices.map { virtualByImportance(s, $0)[...] }
            var started: [(li: Int, arrival: Arrival)] = []
            var unserved = wanted[...]
            while let w = unserved.first, budget > 0, let slot = s.spares.popLast() {
                do throws(EngineError) { try loader.load(key(w.li, w.e), into: slot, priority: .background) } catch {
                    s.spares.append(slot)
                    unserved = []
                    break
                }
                unserved.removeFirst()
                budget -= 1
                s.owner[slot] = key(w.li, w.e)
                s.inFlight.insert(slot)
                s.incoming[w.li].insert(w.e)
                var replaces: Int?
                if let old = replaceable[w.li].first, w.imp > imp[w.li][old] * gain { replaces = replaceable[w.li].popFirst() }
                started.append((w.li, Arrival(expert: w.e, slot: slot, replaces: replaces)))
            }
            // The newcomers still waiting take the slots of the least important lingering experts: those
            // lingering now (dropped at their layer's next safe point), or displaced by this round's arrivals
            // (dropped as they arrive). An emptied slot starts the next round.
            var pool = victims.map { (imp: $0.imp, li: $0.li, e: $0.e, arrival: -1) }
            for (i, a) in started.enumerated() { if let old = a.arrival.replaces { pool.append((imp[a.li][old], a.li, old, i)) } }
            pool.sort { ($0.imp, $0.li, $0.e) < ($1.imp, $1.li, $1.e) }
            s.starved = false
            for (w, v) in zip(unserved.prefix(budget), pool) {
                guard w.imp > v.imp * gain, w.imp - v.imp >= options.minimumShareGain else { break }
                if v.arrival >= 0 { started[v.arrival].arrival.thenReclaim = true } else { s.reclaim[v.li].insert(v.e) }
                s.starved = true
            }
            return started
        }
        counters.add(SwapCore.rounds)
        for (li, a) in started {
            let result = loader.waitUntilSettled(slot: a.slot)
            lock.withLock { s in
                s.inFlight.remove(a.slot)
                if result.isReady(key(li, a.expert)) {
                    s.pending[li].append(a)
                    s.pendingCount += 1
                } else {
                    // The newcomer is not tried again.
                    counters.add(SwapCore.failedSwaps)
                    s.broken.insert(li * experts + a.expert)
                    s.incoming[li].remove(a.expert)
                    empty(&s, a.slot)
                }
            }
        }
    }
}
