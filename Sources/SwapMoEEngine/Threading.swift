#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SwapMoECore

/// A pthread mutex and condition variable guarding one value: the engine's only lock type.
///
/// Why not `Synchronization.Mutex`:
/// - it has no condition variable, and the engine has threads that must sleep until something changes (I/O
///   workers waiting for work, a decoder waiting for its expert, the swapper waiting for a round);
/// - ThreadSanitizer cannot see its happens-before edges on Linux (its futex-based lock lives in the
///   uninstrumented standard library), so with Swift 6.3 every access made under it is reported as a race —
///   a 4-thread counter under `Mutex` that ends exactly right still yields reports. That noise would hide real
///   races, and the engine's race-freedom is checked under TSan. pthread calls are intercepted by TSan.
/// Lock-free counters use `Synchronization.Atomic` (inlined into this module, so TSan sees them).
///
/// The uncontended cost is one `pthread_mutex_lock`/`unlock` pair (tens of nanoseconds), nothing beside an
/// expert's compute.
///
/// Every access to the value goes through `withLock`/`wait`, each a separate, short exclusive access made while
/// the mutex is held, so the value is never touched by two threads at once and never held across a sleep.
final class ConditionLock<State: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `state` is read and written only inside `withLock`/`withLockNotifying`/`wait`, all of
    // which hold the lock for the whole access (and `wait` re-takes it before evaluating its predicate).
    // `State: Sendable`, so what is stored or returned may cross threads.
    private let sync = PthreadCondition()
    private var state: State

    init(_ initial: State) {
        state = initial
    }

    /// Runs `body` with exclusive access to the value.
    @inline(__always)
    func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        sync.lock()
        defer { sync.unlock() }
        return try body(&state)
    }

    /// `withLock`, then wakes every thread blocked in `wait` so it re-checks its condition.
    @inline(__always)
    func withLockNotifying<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        sync.lock()
        defer { sync.broadcast(); sync.unlock() }
        return try body(&state)
    }

    /// Blocks until `predicate` returns a value (it is evaluated with the lock held, first immediately and then
    /// after every notification), and returns it. No spinning: the thread sleeps in `pthread_cond_wait`.
    func wait<R>(until predicate: (inout State) -> R?) -> R {
        sync.lock()
        defer { sync.unlock() }
        while true {
            if let r = predicate(&state) { return r }
            sync.wait()
        }
    }

    /// Wakes every waiter without changing the value.
    func notifyAll() {
        sync.lock()
        sync.broadcast()
        sync.unlock()
    }
}

/// A dedicated, joinable OS thread (not a GCD worker: GCD's pool grows without bound under blocking I/O, and
/// the engine wants exactly N I/O threads whose stacks the memory planner can count).
final class JoinableThread: @unchecked Sendable {
    // @unchecked Sendable: `handle` is written once in init (before the object is shared) and only read by
    // `join`, which each owner calls at most once (it removes the thread from its locked list first).
    private var handle = pthread_t()
    let stackSize: Int

    private final class Start {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
    }

    /// Starts `body` on a new thread named `name` (at most 15 bytes are shown by the OS) with a stack of
    /// `stackSize` bytes (virtual; only the pages the thread touches become resident).
    init(name: String, stackSize: Int, _ body: @escaping @Sendable () -> Void) throws(EngineError) {
        self.stackSize = stackSize
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, max(stackSize, Int(PTHREAD_STACK_MIN)))
        let start = Unmanaged.passRetained(Start(name: name, body: body)).toOpaque()
        let rc = pthread_create(&handle, &attr, { arg in
            let start = Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue()
            Thread.current.name = start.name  // shows in `top -H` and debuggers
            start.body()
            return nil
        }, start)
        if rc != 0 {
            Unmanaged<Start>.fromOpaque(start).release()
            throw .threadStartFailed(errno: rc)
        }
    }

    /// Waits for the thread to finish. Call once.
    func join() { pthread_join(handle, nil) }
}
