/// A lock that hands itself out in the order it was asked for (a ticket lock). A `Session` serves several
/// conversation slots by taking its lock once per decode step: with a plain mutex the thread that just released
/// it usually takes it straight back, and one slot would starve the others; here each waiting slot gets its turn.
public final class FairLock: @unchecked Sendable {
    // @unchecked Sendable: `next` and `serving` are read and written only with `condition` locked.
    private let condition = PthreadCondition()
    private var next: UInt64 = 0
    private var serving: UInt64 = 0

    public init() {}

    /// Waits for this caller's turn.
    public func lock() {
        condition.lock()
        let ticket = next
        next &+= 1
        while serving != ticket { condition.wait() }
        condition.unlock()
    }

    /// Passes the lock to the next caller in line.
    public func unlock() {
        condition.lock()
        serving &+= 1
        condition.broadcast()
        condition.unlock()
    }

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
