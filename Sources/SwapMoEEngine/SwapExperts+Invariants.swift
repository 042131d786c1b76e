import SwapMoEArchive

extension SwapExperts {
    /// Checks the bookkeeping invariants (for tests): every slot is accounted for exactly once (serving,
    /// loading, pending, empty or retiring); every serving slot is ready with its expert; masks equal the
    /// serving sets; each layer has exactly `k_l` Virtual Experts; reclaims name lingering experts; empty
    /// slots hold nothing and are not loading; the slot table's own (`SlotTable.violations`). Returns the
    /// violations found (empty when consistent).
    func invariantViolations() -> [String] {
        core.lock.withLock { s in
            var v = s.table.violations()
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
                    if s.table.keyIn[slot] != key { v.append("slot \(slot) serves \(key) but holds \(String(describing: s.table.keyIn[slot]))") }
                    if !loader.state(of: slot).isReady(key) { v.append("\(key) in slot \(slot) is \(loader.state(of: slot))") }
                }
                if let seed = s.seeds[li] { for slot in seed.slots { booked[slot] += 1 } }
                if s.isSeeded(li) && virtual != residentCounts[l]! { v.append("layer \(l) has \(virtual) Virtual Experts, expected \(residentCounts[l]!)") }
                for e in s.reclaim[li] where !s.lingering[li][e] { v.append("layer \(l) reclaims \(e), which does not linger") }
                for a in s.pending[li] {
                    booked[a.slot] += 1
                    let key = ExpertKey(stack: options.stack, layer: l, expert: a.expert)
                    if !loader.state(of: a.slot).isReady(key) || s.table.keyIn[a.slot] != key { v.append("pending \(key) in slot \(a.slot) is not ready") }
                    if s.slotOf[li][a.expert] >= 0 { v.append("pending \(key) already serves") }
                }
            }
            for slot in s.spares {
                booked[slot] += 1
                if let k = s.table.keyIn[slot] { v.append("empty slot \(slot) holds \(k)") }
                if loader.state(of: slot).isLoading { v.append("empty slot \(slot) is loading") }
            }
            for slot in s.inFlight { booked[slot] += 1 }
            for (slot, n) in booked.enumerated() where n > 1 { v.append("slot \(slot) is booked \(n) times") }
            let unbooked = booked.filter { $0 == 0 }.count
            if unbooked != s.table.retiring.count { v.append("\(unbooked) slots are unaccounted for, \(s.table.retiring.count) retiring") }
            return v
        }
    }
}
