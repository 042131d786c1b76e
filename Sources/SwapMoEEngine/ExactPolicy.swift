import SwapMoEArchive
import SwapMoEModels

/// Which unpinned expert to drop when a slot is needed.
public enum EvictionPolicy: Sendable, CaseIterable {
    /// Least recently used (acquired or released) first.
    case lru
    /// Least frequently acquired first (counts are kept per expert for the provider's lifetime, so popularity
    /// survives eviction; ties go to the least recently used).
    case lfu
}

/// The exact policy's bookkeeping as a plain value: which expert each slot holds and pins (`SlotTable`), use
/// clocks and what the routing said. `ExactExperts` keeps one under its lock; `ExactPolicy` decides from it.
struct ExactState: Sendable {
    var table: SlotTable
    var lastUse: [UInt64]
    var tick: UInt64 = 0
    /// Per archive entry, how often it was acquired (LFU).
    var frequency: [UInt64]
    /// The slot was filled by prefetch/announcement and not acquired since (for `prefetchHits`).
    var prefetched: [Bool]
    /// The experts the decoder is about to acquire (from routing announcement); prefetch never evicts them.
    var demand: Set<ExpertKey> = []
    /// What the last token's routing says is worth keeping.
    var kept = KeptExperts()
    /// Callers waiting for any slot to become evictable.
    var slotWaiters = 0

    init(slots: Int, experts: Int) {
        table = SlotTable(slots: slots)
        lastUse = .init(repeating: 0, count: slots)
        prefetched = .init(repeating: false, count: slots)
        frequency = .init(repeating: 0, count: experts)
    }

    var slotCount: Int { table.count }

    mutating func touch(_ slot: Int) { tick &+= 1; lastUse[slot] = tick }
}

/// The exact policy's decisions, each a function of plain values (an `ExactState`, a router output): which slot
/// a load takes, what the last token says to keep, what to load ahead. No threads, no I/O; `ExactExperts`
/// carries them out.
struct ExactPolicy: Sendable {
    let eviction: EvictionPolicy
    /// Layers ahead whose last-token experts are loaded while the current layer computes (0: none).
    let lookahead: Int
    /// Experts each token routes to (the archive's top-k, or the announced count).
    let routedPerToken: Int
    /// Archive entry of each expert (LFU counts are per entry; an expert the archive lacks has none).
    let entryIndex: [ExpertKey: Int]

    /// Lower is evicted first (among experts of equal `worth`): free slots, then by policy. The last token's
    /// top-k (`worth` 2) go in the order of their expected next use instead, the furthest first (Belady's rule),
    /// least recently used first within a layer: the decoder visits the layers in order, so the layer just
    /// computed is needed again only after all the others. Where the slots cannot hold every layer's top-k (a
    /// low cap), LRU would evict exactly the expert needed next and miss on every use; this keeps a fixed share
    /// of them resident from token to token. (The next choices, `worth` 1, stay in LRU order: ordering them by
    /// layer too read more at 45% of the model.)
    func evictionRank(_ s: ExactState, _ slot: Int, worth: Int, steps: Int) -> (UInt64, UInt64) {
        guard let k = s.table.keyIn[slot] else { return (0, 0) }
        if worth == 2 { return (UInt64(Int.max - steps), s.lastUse[slot]) }
        switch eviction {
        case .lru: return (1, s.lastUse[slot])
        case .lfu: return (1 &+ s.frequency[entryIndex[k]!], s.lastUse[slot])
        }
    }

    /// The unpinned slot (not in `skip`) whose expert is worth least (`worth` of the expert and its layer's steps
    /// until use, `KeptExperts.stepsUntilUse`: nil = never take it; an empty slot is worth 0), in `evictionRank`'s
    /// order among equals; nil if there is none.
    func victim(_ s: ExactState, skip: Set<Int> = [], worth: (ExpertKey, _ steps: Int) -> Int?) -> Int? {
        var best = -1
        var bestRank: (Int, UInt64, UInt64) = (.max, .max, .max)
        for slot in 0..<s.slotCount where s.table.pins[slot] == 0 && !skip.contains(slot) {
            var w = 0, steps = 0
            if let k = s.table.keyIn[slot] {
                steps = s.kept.stepsUntilUse(k, usedSinceObserved: s.lastUse[slot] > s.kept.observedAt)
                guard let v = worth(k, steps) else { continue }
                w = v
            }
            let r = evictionRank(s, slot, worth: w, steps: steps)
            if (w, r.0, r.1) < bestRank { bestRank = (w, r.0, r.1); best = slot }
        }
        return best >= 0 ? best : nil
    }

    /// What a demand load may evict: anything unpinned; announced demand (not used yet) goes last, then the last
    /// token's experts, then its next choices.
    static func demandWorth(_ s: ExactState) -> (ExpertKey, Int) -> Int? {
        let demand = s.demand, kept = s.kept
        return { k, _ in demand.contains(k) ? 3 : kept.rank(k) }
    }

    /// What a queued load of `key` (one of `keys`) may evict: never a pinned expert, one of the current demand or
    /// one of `keys`; one of the last token's experts only where `mayEvictKept(key, its steps until use, kept)`
    /// says so, its next choices only if nothing else.
    static func queuedWorth(_ k: ExpertKey, steps: Int, kept: KeptExperts, loading key: ExpertKey, protected: Set<ExpertKey>,
                            mayEvictKept: (ExpertKey, Int, KeptExperts) -> Bool) -> Int? {
        let rank = kept.rank(k)
        return protected.contains(k) || (rank == 2 && !mayEvictKept(key, steps, kept)) ? nil : rank
    }

    /// A load for the layer being computed may take a kept expert's slot: its miss would take the same one now.
    static func ofCurrentLayer(_ key: ExpertKey, _: Int, _ kept: KeptExperts) -> Bool {
        kept.current == key.moeLayer
    }

    /// Each token's top-k experts of a layer (what the decoder is about to acquire), ascending: the demand a
    /// routing announcement (`ExactExperts.Options.expertsPerToken`) makes current.
    static func demand(_ layer: MoELayer, _ router: RouterOutput, k: Int) -> [ExpertKey] {
        var wanted = [Bool](repeating: false, count: router.experts)
        for t in 0..<router.tokens {
            for pick in router.top(k, token: t) { wanted[pick.index] = true }
        }
        return wanted.indices.filter { wanted[$0] }.map(layer.expert)
    }

    /// The last token's experts of the `lookahead` layers after `layer` (the one being computed) that no slot
    /// holds, nearest first, each with its layer's steps ahead; and the rule for what their loads may evict:
    /// only experts the last token did not route to, or those of the `lookahead` layers computed last (needed
    /// again only a pass later).
    func loadAhead(_ s: ExactState, after layer: MoELayer) -> (keys: [ExpertKey], mayEvictKept: (ExpertKey, Int, KeptExperts) -> Bool)? {
        let d = lookahead
        guard d > 0, s.kept.current == layer, let n = s.kept.passLength[layer.stack] else { return nil }
        var keys: [ExpertKey] = [], steps: [ExpertKey: Int] = [:]
        for step in 1...max(1, min(d, n - 1)) {
            for k in s.kept.lastToken[MoELayer(stack: layer.stack, layer: (layer.layer + step) % n)] ?? [] where s.table.slotOf[k] == nil {
                keys.append(k); steps[k] = step
            }
        }
        guard !keys.isEmpty else { return nil }
        return (keys, { key, victimSteps, _ in victimSteps > steps[key]! && victimSteps >= n - d })
    }
}

/// Per MoE layer, the experts the last token of the latest forward pass routed to (the best guess for the next
/// token's experts) and its next choice after them (when a layer's routing changes from one token to the next,
/// the newcomer is most often that one).
struct KeptExperts: Sendable {
    var lastToken: [MoELayer: [ExpertKey]] = [:]
    var runnerUp: [MoELayer: ExpertKey] = [:]
    /// The layer being computed (the latest routing observed), and the provider's use clock then.
    var current: MoELayer?
    var observedAt: UInt64 = 0
    /// Per stack, one past its highest MoE layer index: the length of one pass over it.
    var passLength: [ExpertStack: Int] = [:]

    /// Remembers `layer`'s routing: the last token's top `k` and its next choice, as of use clock `tick`.
    mutating func observe(_ layer: MoELayer, _ router: RouterOutput, k: Int, at tick: UInt64) {
        guard router.tokens > 0, router.experts > 0 else { return }
        // The last token's top k+1, most probable first: its top-k, and after them its next choice.
        var last = router.top(k + 1, token: router.tokens - 1).map(\.index)
        let next = last.count > k ? last.removeLast() : nil
        lastToken[layer] = last.map(layer.expert)
        runnerUp[layer] = next.map(layer.expert)
        current = layer
        observedAt = tick
    }

    /// How many layer steps from the current layer until `key`'s layer is computed again: 0 for the current
    /// layer, 1 for the next, ..., `passLength - 1` for the one just computed, and `passLength` (the next pass)
    /// for an expert of the current layer already used since its routing was observed. An expert of another
    /// stack than the current one (an encoder's, while decoding: needed again only for the next input) is
    /// further than any of this stack's.
    func stepsUntilUse(_ key: ExpertKey, usedSinceObserved: Bool) -> Int {
        let n = passLength[key.stack] ?? (key.layer + 1)
        guard let c = current, c.stack == key.stack else { return Int(Int32.max) }
        let steps = ((key.layer - c.layer) % n + n) % n
        return steps == 0 && usedSinceObserved ? n : steps
    }

    /// 2 for one of the last token's top-k, 1 for its next choice, 0 otherwise: evicted in that order, last first.
    func rank(_ key: ExpertKey) -> Int {
        let layer = key.moeLayer
        if lastToken[layer]?.contains(key) == true { return 2 }
        return runnerUp[layer] == key ? 1 : 0
    }
}
