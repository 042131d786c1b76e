import SwapMoEArchive

/// Which expert each slot holds, the slot of each expert, and how many users pin each slot: the bookkeeping both
/// providers that load experts keep under their `ExpertCache` lock (`ExactState.table`, `SwapCore.State.table`).
/// A plain value, so its rules are tested without threads (SlotTableTests) and checked in one place
/// (`violations`).
///
/// A slot is in one of three states:
/// - free: holds no expert, unpinned;
/// - held: holds an expert (loading, ready or failed in the loader) that maps back to it;
/// - retiring: still holds its expert and is pinned by a user computing with it, but the expert no longer maps
///   to it (the swap provider stopped serving it while a decoding thread had it pinned); `free` it at its last
///   unpin. The same expert may meanwhile be held by another slot.
///
/// An expert maps to at most one slot. Pins are counts: `pin` / `unpin` in pairs, never below zero. The table
/// does not decide anything (that is the policies') nor talk to the loader (that is the providers').
struct SlotTable: Sendable, Equatable {
    /// The expert each slot holds (held or retiring), nil for a free slot.
    private(set) var keyIn: [ExpertKey?]
    /// The slot each held expert is in (retiring slots are not listed).
    private(set) var slotOf: [ExpertKey: Int] = [:]
    /// Users of each slot's weights right now: a pinned slot is never freed, reloaded or given to another expert.
    private(set) var pins: [Int]
    /// Slots that still hold their expert for a user but no longer serve it, ascending.
    private(set) var retiring: [Int] = []

    init(slots: Int) {
        keyIn = .init(repeating: nil, count: slots)
        pins = .init(repeating: 0, count: slots)
    }

    var count: Int { keyIn.count }

    /// `slot` (free) now holds `key` (held by no other slot).
    mutating func assign(_ key: ExpertKey, to slot: Int) {
        assert(keyIn[slot] == nil && pins[slot] == 0, "slot \(slot) is not free (holds \(String(describing: keyIn[slot])))")
        assert(slotOf[key] == nil, "\(key) is already in slot \(slotOf[key]!)")
        keyIn[slot] = key
        slotOf[key] = slot
    }

    /// Empties `slot` (held or retiring, unpinned, or already free) and returns the expert it held.
    @discardableResult
    mutating func free(_ slot: Int) -> ExpertKey? {
        assert(pins[slot] == 0, "slot \(slot) is freed while pinned \(pins[slot]) times")
        guard let key = keyIn[slot] else { return nil }
        if slotOf[key] == slot { slotOf[key] = nil }
        if let i = retiring.firstIndex(of: slot) { retiring.remove(at: i) }
        keyIn[slot] = nil
        return key
    }

    /// `slot` (held and pinned) stops serving its expert but keeps it until its last unpin (then `free` it).
    mutating func retire(_ slot: Int) {
        assert(pins[slot] > 0, "only a pinned slot retires; free an unpinned one")
        if let key = keyIn[slot], slotOf[key] == slot { slotOf[key] = nil }
        retiring.insert(slot, at: retiring.firstIndex(where: { $0 > slot }) ?? retiring.endIndex)
    }

    /// The lowest retiring slot other than `except` that holds `key`.
    func retiringSlot(holding key: ExpertKey, except: Int) -> Int? {
        retiring.first { $0 != except && keyIn[$0] == key }
    }

    func isRetiring(_ slot: Int) -> Bool { retiring.contains(slot) }

    mutating func pin(_ slot: Int) { pins[slot] += 1 }

    /// Removes one pin of `slot` and returns how many are left.
    @discardableResult
    mutating func unpin(_ slot: Int) -> Int {
        assert(pins[slot] > 0, "slot \(slot) unpinned more often than pinned")
        pins[slot] -= 1
        return pins[slot]
    }

    /// The table's invariants broken right now, as sentences (empty when consistent): each listed expert is held
    /// by the slot it is listed in; each slot holding an expert is either listed for it or retiring; no pin count
    /// is negative; free slots are unpinned; retiring slots hold an expert, are pinned and are listed once.
    func violations() -> [String] {
        var v: [String] = []
        for (k, slot) in slotOf where keyIn[slot] != k { v.append("\(k) maps to slot \(slot), which holds \(String(describing: keyIn[slot]))") }
        for slot in keyIn.indices {
            if pins[slot] < 0 { v.append("slot \(slot) has pin count \(pins[slot])") }
            if let k = keyIn[slot] {
                let retires = isRetiring(slot)
                if (slotOf[k] == slot) == retires {
                    v.append("slot \(slot) holds \(k), which maps to \(String(describing: slotOf[k]))\(retires ? " though the slot retires" : "")")
                }
                if retires && pins[slot] <= 0 { v.append("retiring slot \(slot) is not pinned") }
            } else {
                if pins[slot] != 0 { v.append("free slot \(slot) is pinned") }
                if isRetiring(slot) { v.append("free slot \(slot) is listed as retiring") }
            }
        }
        if Set(retiring).count != retiring.count { v.append("a slot is listed as retiring twice: \(retiring)") }
        if slotOf.count + retiring.count != keyIn.compactMap({ $0 }).count { v.append("map sizes differ") }
        return v
    }
}
