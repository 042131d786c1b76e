import Testing
import SwapMoEArchive
@testable import SwapMoEEngine

/// The slot table both loading providers keep under their lock, driven as a plain value (no loader, no threads).
@Suite("SlotTable")
struct SlotTableTests {
    static func key(_ layer: Int, _ expert: Int) -> ExpertKey { ExpertKey(layer: layer, expert: expert) }

    @Test("assign and free keep slot -> expert and expert -> slot in agreement")
    func assignAndFree() {
        var t = SlotTable(slots: 3)
        #expect(t.count == 3 && t.keyIn == [nil, nil, nil] && t.violations().isEmpty)
        t.assign(Self.key(0, 1), to: 2)
        t.assign(Self.key(1, 0), to: 0)
        #expect(t.keyIn == [Self.key(1, 0), nil, Self.key(0, 1)])
        #expect(t.slotOf == [Self.key(1, 0): 0, Self.key(0, 1): 2])
        #expect(t.violations().isEmpty)
        #expect(t.free(2) == Self.key(0, 1))
        #expect(t.free(1) == nil, "freeing a free slot is a no-op")
        #expect(t.keyIn == [Self.key(1, 0), nil, nil] && t.slotOf == [Self.key(1, 0): 0])
        t.assign(Self.key(0, 1), to: 1)
        #expect(t.slotOf[Self.key(0, 1)] == 1 && t.violations().isEmpty)
    }

    @Test("pins count users: unpin returns how many are left")
    func pins() {
        var t = SlotTable(slots: 2)
        t.assign(Self.key(0, 0), to: 1)
        t.pin(1); t.pin(1)
        #expect(t.pins == [0, 2])
        #expect(t.unpin(1) == 1)
        #expect(t.unpin(1) == 0)
        #expect(t.pins == [0, 0] && t.violations().isEmpty)
    }

    @Test("a retiring slot keeps its expert for its user while the expert is loaded again elsewhere, and frees at its last unpin")
    func retire() {
        var t = SlotTable(slots: 4)
        let k = Self.key(2, 5)
        t.assign(k, to: 3)
        t.pin(3); t.pin(3)
        t.retire(3)
        #expect(t.keyIn[3] == k && t.slotOf[k] == nil && t.retiring == [3] && t.isRetiring(3))
        #expect(t.violations().isEmpty)
        // The same expert comes back into another slot while the retiring one is still in use.
        t.assign(k, to: 1)
        #expect(t.slotOf[k] == 1 && t.retiringSlot(holding: k, except: 1) == 3)
        #expect(t.retiringSlot(holding: k, except: 3) == nil && t.retiringSlot(holding: Self.key(2, 4), except: -1) == nil)
        #expect(t.violations().isEmpty)
        // Another retiring slot of the same expert below it is found first.
        t.pin(1)
        t.retire(1)
        #expect(t.retiring == [1, 3] && t.retiringSlot(holding: k, except: -1) == 1)
        #expect(t.unpin(3) == 1)
        #expect(t.unpin(3) == 0)
        #expect(t.free(3) == k)
        #expect(t.retiring == [1] && t.keyIn[3] == nil && t.violations().isEmpty)
        #expect(t.unpin(1) == 0)
        t.free(1)
        #expect(t.retiring.isEmpty && t.slotOf.isEmpty && t.keyIn == [nil, nil, nil, nil] && t.violations().isEmpty)
    }

    @Test("violations name what is inconsistent")
    func violations() {
        var t = SlotTable(slots: 2)
        t.assign(Self.key(0, 0), to: 0)
        #expect(t.violations().isEmpty)
        // A pinned free slot can only be reached by a bookkeeping bug; the check says so.
        t.pin(1)
        #expect(t.violations() == ["free slot 1 is pinned"])
    }
}
