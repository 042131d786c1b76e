import SwapMoECore
import SwapMoEArchive
import SwapMoEModels

/// SwapMoE's Virtual Experts (arXiv 2308.15030): each MoE layer l keeps `k_l` resident experts; the router is
/// masked to them (`allowedExperts`), so decoding never waits for I/O; a background swapper keeps the resident
/// set close to the most important experts of the recent workload.
///
/// How a swap happens, and why it never stalls the decoder:
/// 1. Every `swapInterval` tokens the swapper thread (its own thread, not the decode path) reads the sliding-
///    window importance (`ImportanceTracker`) and pairs, per layer, the least important residents with the most
///    important non-residents; a pair is kept when the newcomer is more important (by `minimumGain`). The
///    pairs with the largest gains, across layers, get the free spare slots.
/// 2. The newcomer is loaded into a spare slot at background priority while the old expert keeps serving.
/// 3. Once loaded, the flip is queued for the layer's next safe point: the decoder's next `observeRouting` or
///    `allowedExperts` call for that layer. There, under the lock, the virtual-to-real map flips (the newcomer
///    now serves, the mask changes) and the old slot becomes a spare. Flipping at the safe point, rather than
///    the moment the load ends, keeps the mask the decoder got from `allowedExperts(l)` valid for every
///    `acquire` of that layer: nothing about layer l changes between its mask and its acquires.
///
/// `acquire` of a resident is a map lookup and a pin under the lock: it never waits for I/O (stall time is 0
/// after warm-up). `acquire` of a non-resident throws `.notResident` (route with the mask). A pinned slot is
/// never reused: if a flip ever removes a pinned expert (several threads decoding through one provider, which
/// is not the intended use), its slot retires when released.
///
/// Warm-up: the initial residents are the `k_l` experts of largest ‖E_i‖ per layer (the importance prior
/// before any token is seen, since importance is proportional to ‖E_i‖), ties to the lower index; or the lowest
/// indices, or an explicit set. They are loaded at start, and `init` returns when all are ready.
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
    }

    public struct Options: Sendable {
        /// The stack of the archive the layers belong to.
        public var stack: String
        /// Slots reserved for swaps in flight (0 freezes the initial residents).
        public var spareSlots: Int
        /// Tokens (seen by the first MoE layer) between swap rounds.
        public var swapInterval: Int
        /// Tokens in the importance window.
        public var window: Int
        public var initialResidents: InitialResidents
        /// A newcomer replaces a resident only if `importance(new) > importance(old) * (1 + minimumGain)`.
        public var minimumGain: Double
        /// Swaps started per round, across layers (nil: as many as there are free spare slots).
        public var maxSwapsPerRound: Int?
        public var storage: ExpertStorage
        public var loader: ExpertLoader.Options

        public init(stack: String = "decoder", spareSlots: Int = 2, swapInterval: Int = 16, window: Int = 256,
                    initialResidents: InitialResidents = .largestNorm, minimumGain: Double = 0, maxSwapsPerRound: Int? = nil,
                    storage: ExpertStorage = .arena(), loader: ExpertLoader.Options = .init()) {
            self.stack = stack; self.spareSlots = spareSlots; self.swapInterval = swapInterval; self.window = window
            self.initialResidents = initialResidents; self.minimumGain = minimumGain; self.maxSwapsPerRound = maxSwapsPerRound
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
        core = SwapCore(archive: archive, loader: loader, importance: importance, layers: layers, experts: e, options: options,
                        slots: slots)
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
        swapper.withLock { t in t?.join(); t = nil }
        loader.shutdown()
    }

    static func initialSets(layers: [Int], residents: [Int: Int], norms: [[Double]], choice: InitialResidents, experts: Int) throws(EngineError) -> [[Int]] {
        var out: [[Int]] = []
        for (li, l) in layers.enumerated() {
            let k = residents[l]!
            switch choice {
            case .largestNorm:
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

    /// The resident-and-ready experts of `layer` (nil for layers this provider does not manage). Applies the
    /// layer's finished swaps first; the mask then stays valid until the next call for this layer.
    public func allowedExperts(stack: String, layer: Int) -> [Bool]? {
        guard stack == options.stack, let li = core.layerIndex[layer] else { return nil }
        return core.mask(li)
    }

    /// Accumulates importance, counts tokens (on the first MoE layer) to schedule swap rounds, and applies the
    /// layer's finished swaps (its safe point).
    public func observeRouting(stack: String, layer: Int, tokens: Int, inputNorms: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, experts: Int) {
        guard stack == options.stack, let li = core.layerIndex[layer], experts == expertsPerLayer else { return }
        importance.observe(layerIndex: li, tokens: tokens, inputNorms: inputNorms, probabilities: probabilities)
        core.safePoint(li, tokens: li == 0 ? tokens : 0)
        countResidentRoutes(li, tokens: tokens, probabilities: probabilities)
    }

    /// Tallies how many of the *unmasked* router's top-k choices are resident: the share of routing decisions
    /// SwapMoE serves exactly (the rest go to the best resident instead). Uses the mask just made current by
    /// the safe point, the one the decoder is about to apply.
    private func countResidentRoutes(_ li: Int, tokens: Int, probabilities: UnsafePointer<Float>) {
        let e = expertsPerLayer, k = min(topK, e)
        let mask = core.currentMask(li)
        var hits = 0
        var top = [Int](repeating: 0, count: k)
        for t in 0..<tokens {
            let p = probabilities + t * e
            var n = 0
            for i in 0..<e {  // insertion into a k-long descending list (k is 1-8)
                guard n < k || p[i] > p[top[k - 1]] else { continue }
                var j = min(n, k - 1)
                while j > 0 && p[top[j - 1]] < p[i] { top[j] = top[j - 1]; j -= 1 }
                top[j] = i
                n = min(n + 1, k)
            }
            for j in 0..<k where mask[top[j]] { hits += 1 }
        }
        core.counters.add(SwapCore.routedChoices, tokens * k)
        core.counters.add(SwapCore.routedResident, hits)
    }

    // MARK: Control and introspection

    /// Asks the swapper for a round now (as if `swapInterval` tokens had passed).
    public func requestSwapRound() { core.requestRound() }

    /// Blocks until the swapper is idle: no round running and none it could start (a requested round waits
    /// while every spare slot holds a loaded swap that awaits its layer's safe point).
    public func waitUntilSwapperIdle() { core.waitIdle() }

    /// The resident experts of `layer`, ascending (empty for unmanaged layers).
    public func residentSet(layer: Int) -> [Int] {
        guard let li = core.layerIndex[layer] else { return [] }
        return core.lock.withLock { s in s.slotOf[li].indices.filter { s.slotOf[li][$0] >= 0 } }
    }

    /// Swaps loaded and waiting for their layer's safe point.
    public var pendingSwaps: Int { core.lock.withLock { $0.pendingCount } }

    public var stats: SwapStats {
        var st = SwapStats()
        st.swaps = core.counters.get(SwapCore.swaps)
        st.rounds = core.counters.get(SwapCore.rounds)
        st.failedSwaps = core.counters.get(SwapCore.failedSwaps)
        st.warmupSeconds = Double(core.counters.get(SwapCore.warmupNanos)) * 1e-9
        st.routedChoices = core.counters.get(SwapCore.routedChoices)
        st.routedResident = core.counters.get(SwapCore.routedResident)
        st.stallSeconds = 0
        let l = loader.stats
        st.loads = l.loads
        st.bytesRead = l.bytesRead
        core.lock.withLock { s in
            st.tokens = s.tokens
            for (li, l) in layers.enumerated() { st.residents[l] = s.slotOf[li].indices.filter { s.slotOf[li][$0] >= 0 } }
        }
        return st
    }

    /// Checks the bookkeeping invariants (for tests): each slot is booked at most once; every resident's slot
    /// is ready with that expert; masks equal the resident sets; each layer has exactly `k_l` residents;
    /// spares hold nothing and are not loading. Returns the violations found (empty when consistent).
    func invariantViolations() -> [String] {
        core.lock.withLock { s in
            var v: [String] = []
            var booked = [Int](repeating: 0, count: slotCount)
            for (li, l) in layers.enumerated() {
                var count = 0
                for e in 0..<expertsPerLayer where s.slotOf[li][e] >= 0 {
                    let slot = s.slotOf[li][e]
                    count += 1
                    booked[slot] += 1
                    let key = ExpertKey(stack: options.stack, layer: l, expert: e)
                    if s.owner[slot] != key { v.append("slot \(slot) serves \(key) but is owned by \(String(describing: s.owner[slot]))") }
                    if !loader.state(of: slot).isReady(key) { v.append("resident \(key) in slot \(slot) is \(loader.state(of: slot))") }
                    if !s.mask[li][e] { v.append("resident \(key) missing from the mask") }
                }
                for e in 0..<expertsPerLayer where s.mask[li][e] && s.slotOf[li][e] < 0 { v.append("layer \(l) mask allows non-resident \(e)") }
                if count != residentCounts[l]! { v.append("layer \(l) has \(count) residents, expected \(residentCounts[l]!)") }
                for f in s.pending[li] {
                    booked[f.slot] += 1
                    let key = ExpertKey(stack: options.stack, layer: l, expert: f.into)
                    if !loader.state(of: f.slot).isReady(key) || s.owner[f.slot] != key { v.append("pending swap to \(key) in slot \(f.slot) is not ready") }
                }
            }
            for slot in s.spares {
                booked[slot] += 1
                if s.owner[slot] != nil { v.append("spare \(slot) is owned by \(s.owner[slot]!)") }
                if loader.state(of: slot).isLoading { v.append("spare \(slot) is loading") }
            }
            for slot in s.inFlight { booked[slot] += 1 }
            for (slot, n) in booked.enumerated() where n > 1 { v.append("slot \(slot) is booked \(n) times") }
            for (slot, p) in s.pins.enumerated() where p < 0 { v.append("slot \(slot) has pin count \(p)") }
            return v
        }
    }
}

/// The state shared by the decoder-facing provider and the swapper thread.
final class SwapCore: Sendable {
    struct Flip: Sendable {
        let out: Int
        let into: Int
        let slot: Int
    }

    struct State: Sendable {
        /// [layer index][expert] → the slot serving it, or -1. Only ever names ready slots.
        var slotOf: [[Int]]
        /// [layer index][expert]: `slotOf >= 0`, kept as arrays so `allowedExperts` returns without building one.
        var mask: [[Bool]]
        /// The expert each slot serves, is loading for a swap, or is retiring with; nil for spares.
        var owner: [ExpertKey?]
        var pins: [Int]
        /// Free slots for swaps.
        var spares: [Int]
        /// Slots a swap is loading into right now.
        var inFlight: Set<Int> = []
        /// Per layer index: loaded swaps waiting for the layer's safe point.
        var pending: [[Flip]]
        var pendingCount = 0
        /// Slots flipped out while pinned; they become spares when released.
        var retiring = 0
        /// Per layer index: experts being swapped in (loading or pending) and residents chosen to leave.
        var incoming: [Set<Int>]
        var outgoing: [Set<Int>]
        /// Experts whose block failed to load; not tried again.
        var broken: Set<Int> = []
        var tokens = 0
        var nextRoundAt: Int
        var roundRequested = false
        var roundRunning = false
        var stopping = false
    }

    static let swaps = 0, rounds = 1, failedSwaps = 2, warmupNanos = 3, routedChoices = 4, routedResident = 5

    let archive: Archive
    let loader: ExpertLoader
    let importance: ImportanceTracker
    let layers: [Int]
    let layerIndex: [Int: Int]
    let layouts: [ExpertLayout]
    let experts: Int
    let options: SwapExperts.Options
    let lock: ConditionLock<State>
    let counters = Counters(count: 6)

    init(archive: Archive, loader: ExpertLoader, importance: ImportanceTracker, layers: [Int], experts: Int,
         options: SwapExperts.Options, slots: Int) {
        self.archive = archive
        self.loader = loader
        self.importance = importance
        self.layers = layers
        self.experts = experts
        self.options = options
        layerIndex = Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($1, $0) })
        layouts = layers.map { archive.layout(of: archive.expert(ExpertKey(stack: options.stack, layer: $0, expert: 0))!) }
        let n = layers.count
        lock = ConditionLock(State(slotOf: .init(repeating: .init(repeating: -1, count: experts), count: n),
                                   mask: .init(repeating: .init(repeating: false, count: experts), count: n),
                                   owner: .init(repeating: nil, count: slots), pins: .init(repeating: 0, count: slots),
                                   spares: [], pending: .init(repeating: [], count: n),
                                   incoming: .init(repeating: [], count: n), outgoing: .init(repeating: [], count: n),
                                   nextRoundAt: options.swapInterval))
    }

    func key(_ li: Int, _ e: Int) -> ExpertKey { ExpertKey(stack: options.stack, layer: layers[li], expert: e) }

    /// Loads the initial residents into slots `0 ..< Σ k_l` and waits for all of them; the rest become spares.
    func warmUp(_ initial: [[Int]]) throws(EngineError) {
        var slot = 0
        var planned: [(li: Int, e: Int, slot: Int)] = []
        for (li, set) in initial.enumerated() {
            for e in set {
                try loader.load(key(li, e), into: slot, priority: .demand)
                planned.append((li, e, slot))
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
            // A slot flipped out while pinned (only possible with several decoding threads) is released first.
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
                retire(&s, slot)
                return true
            }
            return false
        }
        if freed { lock.notifyAll() }
    }

    /// An unpinned slot that no longer serves anything becomes a spare.
    private func retire(_ s: inout State, _ slot: Int) {
        s.owner[slot] = nil
        loader.clear(slot: slot)
        s.spares.append(slot)
    }

    /// Layer `li`'s mask as it stands (no flips applied).
    func currentMask(_ li: Int) -> [Bool] { lock.withLock { $0.mask[li] } }

    func mask(_ li: Int) -> [Bool] {
        let (m, freed) = lock.withLock { s in
            let freed = applyFlips(&s, li)
            return (s.mask[li], freed)
        }
        if freed { lock.notifyAll() }
        return m
    }

    /// The decoder's safe point for layer `li`: flip its finished swaps and count tokens for the next round.
    func safePoint(_ li: Int, tokens: Int) {
        let wake: Bool = lock.withLock { s in
            var wake = applyFlips(&s, li)
            if tokens > 0 {
                s.tokens += tokens
                if s.tokens >= s.nextRoundAt {
                    s.nextRoundAt = s.tokens + options.swapInterval
                    s.roundRequested = true
                    wake = true
                }
            }
            return wake
        }
        if wake { lock.notifyAll() }
    }

    /// Applies layer `li`'s loaded swaps. Returns whether a spare was freed (the swapper should look).
    private func applyFlips(_ s: inout State, _ li: Int) -> Bool {
        guard !s.pending[li].isEmpty else { return false }
        var freed = false
        for f in s.pending[li] {
            let old = s.slotOf[li][f.out]
            s.slotOf[li][f.out] = -1
            s.mask[li][f.out] = false
            s.slotOf[li][f.into] = f.slot
            s.mask[li][f.into] = true
            s.incoming[li].remove(f.into)
            s.outgoing[li].remove(f.out)
            if s.pins[old] == 0 { retire(&s, old); freed = true } else { s.retiring += 1 }
            counters.add(SwapCore.swaps)
        }
        s.pendingCount -= s.pending[li].count
        s.pending[li].removeAll(keepingCapacity: true)
        return freed
    }

    // MARK: Swapper thread

    func requestRound() { lock.withLockNotifying { $0.roundRequested = true } }

    func stop() { lock.withLockNotifying { $0.stopping = true } }

    func waitIdle() {
        lock.wait { s in (s.stopping || (!s.roundRunning && (!s.roundRequested || s.spares.isEmpty))) ? () : nil }
    }

    func runSwapper() {
        while true {
            let go: Bool = lock.wait { s in
                if s.stopping { return false }
                guard s.roundRequested, !s.spares.isEmpty else { return nil }
                s.roundRequested = false
                s.roundRunning = true
                return true
            }
            guard go else { return }
            runRound()
            lock.withLockNotifying { $0.roundRunning = false }
        }
    }

    /// One round: choose pairs by importance, load newcomers into spares, queue the flips.
    private func runRound() {
        let scores = layers.indices.map { importance.importance(layerIndex: $0) }
        let gain = 1 + max(0, options.minimumGain)
        // Plan and start the loads under the lock (the loader's lock nests inside ours, never the reverse).
        let started: [(li: Int, flip: Flip)] = lock.withLock { s in
            var candidates: [(benefit: Double, li: Int, out: Int, into: Int)] = []
            for li in layers.indices {
                let imp = scores[li]
                let residents = (0..<experts).filter { s.slotOf[li][$0] >= 0 && !s.outgoing[li].contains($0) }
                    .sorted { (imp[$0], -$0) < (imp[$1], -$1) }
                let others = (0..<experts).filter { s.slotOf[li][$0] < 0 && !s.incoming[li].contains($0) && !s.broken.contains(li * experts + $0) }
                    .sorted { (imp[$0], -$0) > (imp[$1], -$1) }
                for j in 0..<min(residents.count, others.count) {
                    let out = residents[j], into = others[j]
                    guard imp[into] > imp[out] * gain, imp[into] > 0 else { break }
                    candidates.append((imp[into] - imp[out], li, out, into))
                }
            }
            candidates.sort { $0.benefit > $1.benefit }
            let budget = min(s.spares.count, options.maxSwapsPerRound ?? Int.max)
            var started: [(li: Int, flip: Flip)] = []
            for c in candidates.prefix(budget) {
                let slot = s.spares.removeLast()
                do throws(EngineError) { try loader.load(key(c.li, c.into), into: slot, priority: .background) } catch {
                    s.spares.append(slot)
                    break
                }
                s.owner[slot] = key(c.li, c.into)
                s.inFlight.insert(slot)
                s.incoming[c.li].insert(c.into)
                s.outgoing[c.li].insert(c.out)
                started.append((c.li, Flip(out: c.out, into: c.into, slot: slot)))
            }
            return started
        }
        counters.add(SwapCore.rounds)
        for (li, f) in started {
            let result = loader.waitUntilSettled(slot: f.slot)
            lock.withLock { s in
                s.inFlight.remove(f.slot)
                if result.isReady(key(li, f.into)) {
                    s.pending[li].append(f)
                    s.pendingCount += 1
                } else {
                    // The old expert keeps serving; the newcomer is not tried again.
                    counters.add(SwapCore.failedSwaps)
                    s.broken.insert(li * experts + f.into)
                    s.incoming[li].remove(f.into)
                    s.outgoing[li].remove(f.out)
                    retire(&s, f.slot)
                }
            }
        }
    }
}
