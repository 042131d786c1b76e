#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with its condition variable: the one primitive behind every lock that threads sleep on
/// (the kernels' thread pool, the engine's `ConditionLock`). pthread calls, unlike `Synchronization.Mutex`,
/// are intercepted by ThreadSanitizer, so races around these locks stay checkable.
public final class PthreadCondition: @unchecked Sendable {
    // @unchecked Sendable: the pthread objects live in heap memory allocated here (they never move), are used
    // only through pthread calls, which are thread-safe by contract, and are destroyed in deinit, when no
    // thread can be using them any more.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        cond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    public func lock() { pthread_mutex_lock(mutex) }
    public func unlock() { pthread_mutex_unlock(mutex) }
    /// Sleeps until notified; the caller holds the lock, which is released while asleep and re-taken.
    public func wait() { pthread_cond_wait(cond, mutex) }
    /// `wait`, for at most `seconds`; false when the time ran out.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let whole = Int(seconds)
        var deadline = timespec(tv_sec: now.tv_sec + whole, tv_nsec: now.tv_nsec + Int((seconds - Double(whole)) * 1e9))
        if deadline.tv_nsec >= 1_000_000_000 { deadline.tv_sec += 1; deadline.tv_nsec -= 1_000_000_000 }
        return pthread_cond_timedwait(cond, mutex, &deadline) == 0
    }
    /// Wakes every waiter; call with the lock held.
    public func broadcast() { pthread_cond_broadcast(cond) }
}
