import SwapMoECore
import SwapMoERuntime

/// Hands a session's conversation slots to requests, one request per slot, and queues the rest in arrival order
/// up to a bound (beyond it a request gets 429). Among free slots a request gets the one whose cache already
/// holds the longest prefix of its prompt (the previous turn of its conversation, usually).
final class SlotPool: @unchecked Sendable {
    // @unchecked Sendable: every stored property is read and written with `condition` locked.
    private let condition = PthreadCondition()
    private var free: [GenerationSlot]
    private var queue: [UInt64] = []
    private var nextTicket: UInt64 = 0
    let maxWaiting: Int
    let total: Int

    init(slots: [GenerationSlot], maxWaiting: Int) {
        free = slots
        total = slots.count
        self.maxWaiting = maxWaiting
    }

    /// Requests generating and requests waiting for a slot.
    var counts: (busy: Int, waiting: Int) { condition.lock(); defer { condition.unlock() }; return (total - free.count, queue.count) }

    /// A free slot for `prompt`, waiting in line while all are busy; nil if `abandoned()` turns true while
    /// waiting (the client went away). Throws 429 when the line is full.
    func acquire(for prompt: [Int], abandoned: () -> Bool) throws(APIError) -> GenerationSlot? {
        condition.lock()
        defer { condition.unlock() }
        if free.isEmpty || !queue.isEmpty {
            guard queue.count < maxWaiting else {
                throw APIError(status: 429, "all \(total) slots are busy and \(queue.count) requests are waiting; retry later (or start the server with a larger --parallel)")
            }
        }
        let ticket = nextTicket
        nextTicket &+= 1
        queue.append(ticket)
        while !(queue.first == ticket && !free.isEmpty) {
            condition.wait(seconds: 0.25)
            if abandoned() {
                queue.removeAll { $0 == ticket }
                condition.broadcast()
                return nil
            }
        }
        queue.removeFirst()
        let best = free.indices.max { free[$0].sharedPrefix(with: prompt) < free[$1].sharedPrefix(with: prompt) }!
        let slot = free.remove(at: best)
        condition.broadcast()
        return slot
    }

    func release(_ slot: GenerationSlot) {
        condition.lock()
        free.append(slot)
        condition.broadcast()
        condition.unlock()
    }
}
