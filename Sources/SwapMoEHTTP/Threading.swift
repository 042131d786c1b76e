#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with a condition variable whose waits can time out (SwapMoECore's `PthreadCondition` waits
/// without a limit). A stream's content reader sleeps here for the producer's next bytes and wakes now and then
/// to see whether the client went away; the producer sleeps here while too much is unsent. pthread calls (not
/// `Synchronization.Mutex`) so ThreadSanitizer sees the locking.
final class TimedCondition: @unchecked Sendable {
    // @unchecked Sendable: the pthread objects live in heap memory allocated here (they never move), are used
    // only through pthread calls, which are thread-safe by contract, and are destroyed in deinit, when no
    // thread can be using them any more.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        cond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        // Timeouts on the monotonic clock, so a change of the wall clock neither stalls nor hurries a wait.
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }
    /// Wakes every waiter; call with the lock held.
    func broadcast() { pthread_cond_broadcast(cond) }

    /// Sleeps until notified or until `seconds` have passed; the caller holds the lock, which is released while
    /// asleep and re-taken. Returns false when the time ran out (a spurious wake-up also returns true: callers
    /// re-check their state in a loop either way).
    @discardableResult
    func wait(seconds: Double) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let nanoseconds = Int(seconds * 1e9) + deadline.tv_nsec
        deadline.tv_sec += nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        return pthread_cond_timedwait(cond, mutex, &deadline) != ETIMEDOUT
    }

    /// Runs `body` with the lock held.
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

/// Runs `body` on a new detached thread (a stream's producer, or a `stop()` asked for from a connection's own
/// thread). Returns false if the thread could not be created (then `body` was not run).
func startDetachedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let created = pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        Unmanaged<Box>.fromOpaque(argument).takeRetainedValue().body()
        return nil
    }, box)
    guard created == 0 else {
        Unmanaged<Box>.fromOpaque(box).release()
        return false
    }
    pthread_detach(thread)
    return true
}

/// Marks the threads on which libmicrohttpd calls this module's callbacks (its per-connection threads), so that
/// `HTTPServer.stop()` called from a handler does not make libmicrohttpd join the very thread it runs on (which
/// would abort the process in `MHD_stop_daemon`).
enum ConnectionThreadMark {
    /// A thread-specific value: the server context whose connection thread this is, nil elsewhere.
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    static func set(_ context: UnsafeMutableRawPointer) { pthread_setspecific(key, context) }
    static func isSet(_ context: UnsafeMutableRawPointer) -> Bool { pthread_getspecific(key) == context }
}
