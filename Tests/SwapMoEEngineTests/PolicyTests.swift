import Testing
import SwapMoEArchive
import SwapMoEModels
@testable import SwapMoEEngine

/// The policies decide from plain values: these tests drive them with routing sequences and slot tables and
/// check their decisions, with no provider, no thread and no I/O.
@Suite("Policies as plain decisions")
struct PolicyTests {
    static let e = 8

    /// One token's router output at a layer: `hot` experts share most of the probability, in decreasing order.
    static func token(_ hot: [Int]) -> RouterOutput {
        var p = [Float](repeating: 0.01, count: e)
        for (i, h) in hot.enumerated() { p[h] = 0.5 - Float(i) * 0.1 }
        return RouterOutput(rows: p, experts: e)
    }

    static func key(_ layer: Int, _ expert: Int) -> ExpertKey { ExpertKey(layer: layer, expert: expert) }

    /// An exact-policy slot table holding `keys` (slot i holds keys[i]), used in that order (the first least recently).
    static func exactState(_ keys: [ExpertKey?], pins: Set<Int> = [], layers: Int = 4) -> ExactState {
        var s = ExactState(slots: keys.count, experts: layers * e)
        for (slot, k) in keys.enumerated() {
            if let k { s.table.assign(k, to: slot) }
            s.touch(slot)
            if pins.contains(slot) { s.table.pin(slot) }
        }
        s.kept.passLength[.decoder] = layers
        return s
    }

    static func exactPolicy(_ eviction: EvictionPolicy = .lru, lookahead: Int = 2, layers: Int = 4) -> ExactPolicy {
        var index: [ExpertKey: Int] = [:]
        for l in 0..<layers { for x in 0..<e { index[key(l, x)] = l * e + x } }
        return ExactPolicy(eviction: eviction, lookahead: lookahead, routedPerToken: 2, entryIndex: index)
    }

    @Test("exact, LRU: an empty slot first, then the least recently used unpinned expert")
    func lru() {
        let policy = Self.exactPolicy()
        var s = Self.exactState([Self.key(0, 0), Self.key(0, 1), nil, Self.key(0, 3)])
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 2, "the empty slot")
        s = Self.exactState([Self.key(0, 0), Self.key(0, 1), Self.key(0, 2), Self.key(0, 3)], pins: [0])
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 1, "slot 0 is older but pinned")
        s.touch(1)
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 2)
        #expect(policy.victim(s, skip: [2], worth: ExactPolicy.demandWorth(s)) == 3, "a slot in flight is skipped")
        for slot in 1...3 { s.table.pin(slot) }
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == nil, "everything pinned")
    }

    @Test("exact, LFU: the least often acquired first, ties to the least recently used")
    func lfu() {
        let policy = Self.exactPolicy(.lfu)
        var s = Self.exactState([Self.key(1, 0), Self.key(1, 1), Self.key(1, 2)])
        s.frequency[1 * Self.e + 0] = 5
        s.frequency[1 * Self.e + 1] = 1
        s.frequency[1 * Self.e + 2] = 1
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 1)
        s.touch(1)
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 2)
    }

    @Test("exact: a routing sequence decides what is kept; kept experts go last, the layer furthest ahead first")
    func keptAndBelady() {
        let policy = Self.exactPolicy()
        // Slots: layer 0's and layer 2's top-2 of the last token, and two experts nobody routed to.
        var s = Self.exactState([Self.key(0, 1), Self.key(2, 4), Self.key(0, 7), Self.key(2, 5), Self.key(3, 6)])
        // One token through layers 0...3; layer 3 is the one being computed.
        for (l, hot) in [[1, 2, 3], [0, 1, 2], [4, 5, 6], [6, 0, 1]].enumerated() {
            s.kept.observe(MoELayer(layer: l), Self.token(hot), k: 2, at: s.tick)
        }
        #expect(s.kept.lastToken[MoELayer(layer: 0)] == [Self.key(0, 1), Self.key(0, 2)])
        #expect(s.kept.runnerUp[MoELayer(layer: 2)] == Self.key(2, 6))
        #expect(s.kept.rank(Self.key(0, 1)) == 2 && s.kept.rank(Self.key(2, 6)) == 1 && s.kept.rank(Self.key(0, 7)) == 0)
        // Least recently used first would take slot 0 (layer 0's kept expert); the unrouted (0, 7) goes first.
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 2)
        s.table.pin(2)
        // Layer 3 is being computed; its kept expert (3, 6), once used, is needed again only a pass later.
        s.touch(4)
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 4)
        s.table.pin(4)
        // Then Belady's order: layer 2 (3 steps ahead) before layer 0 (1 step ahead), the older first within it.
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 1)
        s.table.pin(1)
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 3)
    }

    @Test("exact: announced demand and queued keys are never evicted by a queued load")
    func protectedFromPrefetch() {
        var s = Self.exactState([Self.key(1, 0), Self.key(1, 1)])
        s.demand = [Self.key(1, 0)]
        let policy = Self.exactPolicy()
        let loading = Self.key(1, 5)
        let worth = { (k: ExpertKey, steps: Int) in
            ExactPolicy.queuedWorth(k, steps: steps, kept: s.kept, loading: loading, protected: s.demand.union([Self.key(1, 1)]),
                                    mayEvictKept: ExactPolicy.ofCurrentLayer)
        }
        #expect(policy.victim(s, worth: worth) == nil)
        #expect(policy.victim(s, worth: ExactPolicy.demandWorth(s)) == 1, "a demand load may take the queued key's slot")
        #expect(ExactPolicy.demand(MoELayer(layer: 1), RouterOutput(rows: Self.token([3, 4]).probabilities + Self.token([4, 6]).probabilities, experts: Self.e), k: 2)
                == [Self.key(1, 3), Self.key(1, 4), Self.key(1, 6)])
    }

    @Test("exact: load-ahead targets the next layers' last-token experts that no slot holds, nearest first")
    func loadAhead() throws {
        let policy = Self.exactPolicy(lookahead: 2)
        var s = Self.exactState([Self.key(1, 2), nil])
        for (l, hot) in [[1, 2], [2, 3], [4, 5], [6, 7]].enumerated() {
            s.kept.observe(MoELayer(layer: l), Self.token(hot), k: 2, at: s.tick)
        }
        s.kept.observe(MoELayer(layer: 0), Self.token([1, 2]), k: 2, at: s.tick)
        let plan = try #require(policy.loadAhead(s, after: MoELayer(layer: 0)))
        #expect(plan.keys == [Self.key(1, 3), Self.key(2, 4), Self.key(2, 5)], "layer 1's (1, 2) is resident")
        // A load may evict a kept expert only of a layer needed after its own and among the `lookahead` layers
        // computed last (n - d = 2 or more steps ahead).
        #expect(plan.mayEvictKept(Self.key(2, 4), 3, s.kept) && !plan.mayEvictKept(Self.key(2, 4), 2, s.kept))
        #expect(plan.mayEvictKept(Self.key(1, 3), 2, s.kept) && !plan.mayEvictKept(Self.key(1, 3), 1, s.kept))
        #expect(policy.loadAhead(s, after: MoELayer(layer: 2)) == nil, "only for the layer being computed")
        #expect(Self.exactPolicy(lookahead: 0).loadAhead(s, after: MoELayer(layer: 0)) == nil)
    }

    // MARK: Swap

    /// A swap state for `virtual`/`lingering` experts per layer, serving from consecutive slots, plus `spares`
    /// empty slots after them.
    static func swapState(virtual: [[Int]], lingering: [[Int]], spares: Int) -> SwapCore.State {
        let n = virtual.count
        let flags = [[Bool]](repeating: .init(repeating: false, count: e), count: n)
        var slotOf = [[Int]](repeating: .init(repeating: -1, count: e), count: n)
        var lingers = flags, mask = flags
        let serving = zip(virtual, lingering).map { $0 + $1 }.reduce(0) { $0 + $1.count }, slots = serving + spares
        var table = SlotTable(slots: slots), next = 0
        for li in 0..<n {
            for x in virtual[li] + lingering[li] {
                slotOf[li][x] = next
                mask[li][x] = true
                table.assign(key(li, x), to: next)
                next += 1
            }
            for x in lingering[li] { lingers[li][x] = true }
        }
        return SwapCore.State(slotOf: slotOf, mask: mask, lingering: lingers, reclaim: .init(repeating: [], count: n),
                              table: table, spares: Array((serving..<slots).reversed()), pending: .init(repeating: [], count: n),
                              incoming: .init(repeating: [], count: n), seeds: .init(repeating: nil, count: n),
                              seeding: .init(repeating: false, count: n), nextRoundAt: 8)
    }

    /// Importance shares of one layer from a plain routing sequence (each token routes to `hot`), through the
    /// tracker the swap provider uses.
    static func shares(_ tokens: [[Int]], window: Int = 16) throws -> [Double] {
        let t = try ImportanceTracker(norms: [[Double](repeating: 1, count: e)], window: window)
        for hot in tokens { t.observe(layerIndex: 0, router: token(hot)) }
        return SwapPolicy.shares([t.importance(layerIndex: 0)])[0]
    }

    @Test("swap: a routing shift makes the newly hot experts load into the empty slots, in the least important roles")
    func loadsIntoSpares() throws {
        // Layer 0 serves 0, 1 (Virtual) and 2 (lingering); 4 and 5 become hot.
        let imp = [try Self.shares(Array(repeating: [4, 5, 0], count: 16))]
        let s = Self.swapState(virtual: [[0, 1]], lingering: [[2]], spares: 2)
        let plan = SwapPolicy().planRound(s, imp: imp)
        #expect(plan.promotions.isEmpty)
        #expect(plan.loads.map(\.arrival.expert) == [4, 5], "most important first")
        #expect(plan.loads.map(\.arrival.slot) == [3, 4], "the last empty slot first")
        #expect(plan.loads.map(\.arrival.replaces) == [1, 0], "each takes the least important Virtual Expert's role")
        #expect(plan.reclaims.isEmpty && !plan.starved)
        let capped = SwapPolicy(maxSwapsPerRound: 1).planRound(s, imp: imp)
        #expect(capped.loads.map(\.arrival.expert) == [4])
    }

    @Test("swap: a lingering expert more important than a Virtual Expert takes its role; no slot moves")
    func promotions() throws {
        let imp = [try Self.shares(Array(repeating: [2, 0], count: 8))]
        let plan = SwapPolicy().planRound(Self.swapState(virtual: [[0, 1]], lingering: [[2]], spares: 0), imp: imp)
        #expect(plan.promotions == [.init(layer: 0, demoted: 1, promoted: 2)])
        #expect(plan.loads.isEmpty)
    }

    @Test("swap: with no empty slot, the least important lingering expert is reclaimed for a newcomer worth it")
    func reclaims() throws {
        let imp = [try Self.shares(Array(repeating: [5, 0, 1], count: 16))]
        let s = Self.swapState(virtual: [[0, 1]], lingering: [[2, 3]], spares: 0)
        let plan = SwapPolicy().planRound(s, imp: imp)
        #expect(plan.loads.isEmpty && plan.starved)
        // 5 takes the slot of the least important lingering expert (2 and 3 tie: the lower index); the next
        // newcomers gain nothing over 3.
        #expect(plan.reclaims.map(\.expert) == [2])
        // A gain in share below minimumShareGain is not worth a load.
        let strict = SwapPolicy(minimumShareGain: 0.9).planRound(s, imp: imp)
        #expect(strict.reclaims.isEmpty && !strict.starved)
    }

    @Test("swap: broken and incoming experts are not wanted; experts with no importance are not loaded")
    func notWanted() throws {
        let imp = [try Self.shares(Array(repeating: [4, 5], count: 16))]
        var s = Self.swapState(virtual: [[0, 1]], lingering: [[]], spares: 2)
        s.broken.insert(4)
        s.incoming[0].insert(5)
        let plan = SwapPolicy().planRound(s, imp: imp)
        #expect(!plan.loads.isEmpty && !plan.loads.contains { [4, 5].contains($0.arrival.expert) })
        #expect(SwapPolicy().planRound(Self.swapState(virtual: [[0, 1]], lingering: [[]], spares: 2),
                                        imp: [[Double](repeating: 0, count: Self.e)]).loads.isEmpty)
    }

    @Test("warm-up: largest norms, lowest indices, or an explicit set per layer")
    func initialSets() throws {
        let norms: [[Double]] = [[1, 3, 2, 3], [4, 1, 1, 1]]
        #expect(try SwapPolicy.initialSets(layers: [1, 3], residents: [1: 2, 3: 1], norms: norms, choice: .largestNorm, experts: 4) == [[1, 3], [0]])
        #expect(try SwapPolicy.initialSets(layers: [1, 3], residents: [1: 2, 3: 1], norms: norms, choice: .lowestIndex, experts: 4) == [[0, 1], [0]])
        #expect(throws: EngineError.self) {
            try SwapPolicy.initialSets(layers: [1, 3], residents: [1: 2, 3: 1], norms: norms, choice: .explicit([1: [0, 0], 3: [1]]), experts: 4)
        }
    }
}
