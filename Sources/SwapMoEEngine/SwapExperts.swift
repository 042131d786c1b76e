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
/// 4. Changes reach a layer only at its next safe point: the start of the decoder's next `withLayer` call for
///    that layer. There, under the lock, loaded newcomers start serving (each in the role of the least
///    important Virtual Expert its round chose, which lingers; as lingering experts if that one has left the
///    role) and reclaimed experts stop serving, their slots empty. Applying them at the safe point, rather than
///    the moment a load ends, keeps the mask the layer routes with valid for every expert it serves in that
///    call: nothing about layer l changes between its mask and its acquires.
/// Steps 1-3 are `SwapPolicy.planRound`'s decisions, made from plain values; `SwapCore` carries them out.
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
/// Mechanism apart from policy: `SwapCore` holds the `ExpertCache` (slots, loader, the one lock over its state),
/// `SwapPolicy` decides each round from plain values.
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
    /// The loader that fills the slots.
    public var loader: ExpertLoader { core.loader }
    /// Bytes of the arena (0 for the mapped backend).
    public var arenaBytes: Int { core.cache.arenaBytes }
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
    public var memoryBytes: Int { core.cache.memoryBytes + importance.memoryBytes }

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
        let initial = try SwapPolicy.initialSets(layers: layers, residents: residents, norms: norms, choice: options.initialResidents, experts: e)

        self.archive = archive
        self.options = options
        self.layers = layers
        self.expertsPerLayer = e
        self.topK = max(1, archive.manifest.model.expertsPerToken)
        self.residentCounts = residents
        let slots = residents.values.reduce(0, +) + options.spareSlots
        self.slotCount = slots
        importance = try ImportanceTracker(norms: norms, window: options.window)
        core = try SwapCore(archive: archive, importance: importance, layers: layers, experts: e, norms: norms,
                            options: options, slots: slots)
        let start = monotonicSeconds()
        do { try core.warmUp(initial) } catch {
            core.cache.shutdown()
            throw error
        }
        core.counters.add(SwapCore.warmupNanos, Int((monotonicSeconds() - start) * 1e9))
        let c = core
        do { swapper = ConditionLock(try JoinableThread(name: "swapmoe-swap", stackSize: 256 << 10) { c.runSwapper() }) } catch {
            core.cache.shutdown()
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

    // MARK: ExpertProvider

    public func acquire(_ key: ExpertKey) throws -> ExpertWeights {
        guard key.stack == options.stack, let li = core.layerIndex[key.layer], key.expert >= 0, key.expert < expertsPerLayer else {
            throw EngineError.unknownExpert(key)
        }
        let slot = try core.pin(li, key)
        do { return try core.cache.weights(slot: slot, key: key, layout: core.layouts[li]) } catch {
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
                          serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        let routing = try route(allowedExperts(layer, router: router))
        try routing.serveEach(layer, acquire: acquire, release: release, serve: serve)
        return routing
    }

    /// The layer's safe point: accumulates importance, counts tokens (on the first MoE layer) to schedule swap
    /// rounds, applies the layer's finished swaps, and returns the experts serving it (nil for layers this
    /// provider does not manage). The mask stays valid until the layer's next safe point.
    func allowedExperts(_ layer: MoELayer, router: RouterOutput) -> [Bool]? {
        guard layer.stack == options.stack, let li = core.layerIndex[layer.layer] else { return nil }
        if router.experts == expertsPerLayer { importance.observe(layerIndex: li, router: router) }
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
}
