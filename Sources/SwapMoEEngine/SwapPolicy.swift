/// What one swap round decides, as plain values (`SwapPolicy.planRound`); `SwapCore` carries it out.
struct SwapRoundPlan: Sendable, Equatable {
    struct Promotion: Sendable, Equatable {
        let layer: Int
        /// The Virtual Expert that becomes lingering, and the lingering expert that takes its role.
        let demoted: Int, promoted: Int
    }

    struct Load: Sendable, Equatable {
        let layer: Int
        /// The newcomer, the empty slot it loads into, and the Virtual Expert whose role it takes on arrival.
        let arrival: SwapCore.Arrival
    }

    /// Role trades between lingering and Virtual Experts (bookkeeping only: both keep serving).
    var promotions: [Promotion] = []
    /// Loads into empty slots, most important newcomer first, each into the last empty slot left.
    var loads: [Load] = []
    /// Lingering experts to drop at their layer's next safe point, for newcomers still waiting.
    var reclaims: [(layer: Int, expert: Int)] = []
    /// Loads whose displaced Virtual Expert is dropped on arrival rather than left lingering.
    var reclaimOnArrival: [Int] = []
    /// Newcomers wait for slots that reclaims will empty: an emptied slot starts the next round.
    var starved = false

    static func == (a: SwapRoundPlan, b: SwapRoundPlan) -> Bool {
        a.promotions == b.promotions && a.loads == b.loads && a.reclaimOnArrival == b.reclaimOnArrival && a.starved == b.starved
            && a.reclaims.map { [$0.layer, $0.expert] } == b.reclaims.map { [$0.layer, $0.expert] }
    }
}

/// The swap policy's decisions, from plain values (a `SwapCore.State` and each layer's importance shares): no
/// threads, no I/O.
struct SwapPolicy: Sendable {
    /// A newcomer takes a lingering expert's slot, and a lingering expert a Virtual Expert's role, only if
    /// `importance(new) > importance(old) * (1 + minimumGain)`.
    let minimumGain: Double
    /// ... and, for taking a slot, only if its share of its layer's importance exceeds the other's by this much.
    let minimumShareGain: Double
    /// Loads (and reclaims) per round, across layers (nil: no limit).
    let maxSwapsPerRound: Int?

    init(_ o: SwapExperts.Options) {
        minimumGain = o.minimumGain; minimumShareGain = o.minimumShareGain; maxSwapsPerRound = o.maxSwapsPerRound
    }

    init(minimumGain: Double = 0, minimumShareGain: Double = 0.01, maxSwapsPerRound: Int? = nil) {
        self.minimumGain = minimumGain; self.minimumShareGain = minimumShareGain; self.maxSwapsPerRound = maxSwapsPerRound
    }

    /// Each layer's importance as shares of the layer's total: across layers experts compare by their share (a
    /// layer's scale, ‖x‖ and ‖E_i‖, grows with depth; its share is what serving the expert is worth to that layer).
    static func shares(_ importance: [[Double]]) -> [[Double]] {
        importance.map { v in
            let total = v.reduce(0, +)
            return total > 0 ? v.map { $0 / total } : v
        }
    }

    /// One round, by importance shares `imp[layer][expert]` over a copy of the state:
    /// 1. per layer, lingering experts more important than Virtual Experts (by `minimumGain`) trade roles;
    /// 2. the most important experts not serving (nor loading, nor broken), across layers, get the empty slots,
    ///    each taking the role of its layer's least important Virtual Expert if it beats it by `minimumGain`;
    /// 3. the newcomers still waiting take the slots of the least important lingering experts (those lingering
    ///    now, or displaced by this round's arrivals) that they beat by `minimumGain` and `minimumShareGain`.
    func planRound(_ state: SwapCore.State, imp: [[Double]]) -> SwapRoundPlan {
        var s = state
        var plan = SwapRoundPlan()
        let layers = imp.indices, experts = s.slotOf.first?.count ?? 0
        let gain = 1 + max(0, minimumGain)
        /// Layer `li`'s Virtual Experts, least important first.
        func virtualByImportance(_ li: Int) -> [Int] { s.virtualExperts(li).sorted { (imp[li][$0], -$0) < (imp[li][$1], -$1) } }
        let seeded = layers.filter { s.isSeeded($0) }
        for li in seeded {
            let virtual = virtualByImportance(li)
            let spare = (0..<experts).filter { s.lingering[li][$0] && !s.reclaim[li].contains($0) }
                .sorted { (imp[li][$0], -$0) > (imp[li][$1], -$1) }
            for (out, into) in zip(virtual, spare) {
                guard imp[li][into] > imp[li][out] * gain else { break }
                s.lingering[li][out] = true
                s.lingering[li][into] = false
                plan.promotions.append(.init(layer: li, demoted: out, promoted: into))
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
        var budget = maxSwapsPerRound ?? Int.max
        // Per layer, its Virtual Experts from least important: the roles newcomers take on arrival.
        var replaceable = layers.map { virtualByImportance($0)[...] }
        var unserved = wanted[...]
        while let w = unserved.first, budget > 0, let slot = s.spares.popLast() {
            unserved.removeFirst()
            budget -= 1
            var replaces: Int?
            if let old = replaceable[w.li].first, w.imp > imp[w.li][old] * gain { replaces = replaceable[w.li].popFirst() }
            plan.loads.append(.init(layer: w.li, arrival: .init(expert: w.e, slot: slot, replaces: replaces)))
        }
        var pool = victims.map { (imp: $0.imp, li: $0.li, e: $0.e, arrival: -1) }
        for (i, a) in plan.loads.enumerated() { if let old = a.arrival.replaces { pool.append((imp[a.layer][old], a.layer, old, i)) } }
        pool.sort { ($0.imp, $0.li, $0.e) < ($1.imp, $1.li, $1.e) }
        for (w, v) in zip(unserved.prefix(budget), pool) {
            guard w.imp > v.imp * gain, w.imp - v.imp >= minimumShareGain else { break }
            if v.arrival >= 0 { plan.reclaimOnArrival.append(v.arrival) } else { plan.reclaims.append((v.li, v.e)) }
            plan.starved = true
        }
        return plan
    }

    /// Each layer's first Virtual Experts (`SwapExperts.InitialResidents`), ascending.
    static func initialSets(layers: [Int], residents: [Int: Int], norms: [[Double]], choice: SwapExperts.InitialResidents, experts: Int) throws(EngineError) -> [[Int]] {
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
}
