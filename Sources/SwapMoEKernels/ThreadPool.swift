import SwapMoECore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A persistent pool of worker threads that runs one data-parallel job at a time.
///
/// `threadCount` includes the calling thread: a pool of 2 owns one worker thread and the caller works
/// alongside it. A job is a number of chunks; threads claim chunks one at a time from a shared counter, so
/// *which* thread runs a chunk varies, but the kernels in this module compute every output element inside
/// exactly one chunk with a fixed reduction order, so their results are bit-identical for any thread count.
///
/// Dispatch: after finishing a job, workers spin on an atomic for `spinMicroseconds` (a decode token issues
/// hundreds of small GEMVs back to back, and a spinning worker picks the next one up in ~0.1-0.3 us), then
/// park on a condition variable until the next job (waking a parked worker measured ~10 us).
///
/// Re-entrancy: one job runs at a time. A call made while another job is running (from another thread, or
/// nested inside a job's body) runs its chunks serially on the calling thread instead of deadlocking.
public final class ThreadPool: Sendable {
    /// Threads that execute a job, including the caller.
    public let threadCount: Int
    private let state: PoolState
    private let submitLock = Mutex<Bool>(false)
    private let workers: Mutex<[pthread_t]>

    /// A process-wide pool sized to the active processor count.
    public static let shared = ThreadPool()

    /// - Parameters:
    ///   - threads: threads that run a job, including the caller (default: active processor count; minimum 1).
    ///   - spinMicroseconds: how long an idle worker polls for the next job before parking.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount, spinMicroseconds: Double = 100) {
        let count = max(1, threads)
        threadCount = count
        state = PoolState(spinSeconds: max(0, spinMicroseconds) * 1e-6)
        var ids: [pthread_t] = []
        for _ in 1..<count {
            var tid = pthread_t()
            let arg = Unmanaged.passRetained(state).toOpaque()
            let rc = pthread_create(&tid, nil, { raw in
                #if canImport(Darwin)
                let state = Unmanaged<PoolState>.fromOpaque(raw).takeRetainedValue()
                #else
                let state = Unmanaged<PoolState>.fromOpaque(raw!).takeRetainedValue()
                #endif
                state.workerLoop()
                return nil
            }, arg)
            precondition(rc == 0, "pthread_create failed: \(rc)")
            ids.append(tid)
        }
        workers = Mutex(ids)
    }

    deinit {
        state.shutdown()
        let ids = workers.withLock { $0 }
        for tid in ids { pthread_join(tid, nil) }
    }

    /// Jobs this pool has run on more than one thread since it was made, the wall time they took (from publishing a
    /// job to its last chunk), and the part of that the caller spent waiting for another thread's last chunk after
    /// running out of its own. `bench` compares them with a decode's time: what lies outside the jobs runs on one
    /// thread while the others wait, and the waiting inside them is imbalance.
    public var statistics: ThreadPoolStatistics {
        ThreadPoolStatistics(jobs: state.jobs.load(ordering: .relaxed),
                             seconds: Double(state.jobNanoseconds.load(ordering: .relaxed)) * 1e-9,
                             waitSeconds: Double(state.waitNanoseconds.load(ordering: .relaxed)) * 1e-9)
    }

    /// Runs `body(chunk)` for every chunk in `0..<chunks`, spread over the pool; returns when all are done.
    /// Each chunk index is passed exactly once. `body` must only write memory that no other chunk touches.
    public func run(chunks: Int, _ body: @Sendable (Int) -> Void) {
        runChunks(chunks, body)
    }

    /// Splits `0..<count` into contiguous ranges whose bounds are multiples of `alignment` (except the end)
    /// and runs `body` on each range in parallel. Ranges are disjoint and cover `0..<count`.
    public func parallelFor(_ count: Int, alignment: Int = 1, _ body: @Sendable (Range<Int>) -> Void) {
        forEachRange(count, alignment: alignment, minimum: alignment, body)
    }

    /// Like `run(chunks:)` for a body that is not `Sendable` (it captures views of buffers): the caller guarantees
    /// that chunks write disjoint memory and read what another chunk writes only after synchronizing with it. A
    /// model computes a decoded token's experts with it: each chunk one expert into its own rows of scratch (side by
    /// side), or one thread's share of them, rows claimed and hidden features published through atomic counters
    /// (`swiGLUExperts`).
    public func runDisjoint(chunks: Int, _ body: (Int) -> Void) {
        runChunks(chunks, body)
    }

    // MARK: Internal entry points used by the kernels (bodies capture raw pointers, hence non-Sendable).

    /// Like `parallelFor`, but with at least `minimum` items per range and a non-Sendable body.
    /// Callers in this module guarantee that chunks write disjoint memory.
    ///
    /// Guided schedule: chunk k takes 1/(2 · threads) of what is left (at least `minimum`), so the first chunks
    /// are long (one stream each for the hardware prefetcher) and the last ones short: a thread that finishes
    /// early waits for at most one short chunk of the other's, where equal chunks (four per thread) left it
    /// waiting half a long one, ~5% of a two-thread decode spent at the end of each matrix.
    func forEachRange(_ count: Int, alignment: Int, minimum: Int, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let align = max(1, alignment)
        let units = (count &+ align &- 1) / align
        let least = max(1, minimum / align)
        if threadCount == 1 || units <= least { body(0..<count); return }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: PoolState.guidedBounds(units: units, least: least, threads: threadCount, into: nil) &+ 1) { bounds in
            let chunks = PoolState.guidedBounds(units: units, least: least, threads: threadCount, into: bounds.baseAddress!)
            let b = bounds.baseAddress!
            runChunks(chunks) { c in body(min(count, b[c] &* align) ..< min(count, b[c &+ 1] &* align)) }
        }
    }

    func runChunks(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 0 { return }
        if threadCount == 1 || chunks == 1 {
            for c in 0..<chunks { body(c) }
            return
        }
        let ran: Bool? = submitLock.withLockIfAvailable { _ in
            withoutActuallyEscaping(body) { escapable in
                var first = 0
                while first < chunks {
                    let n = min(chunks &- first, PoolState.maxChunks)
                    let base = first
                    if base == 0 && n == chunks {
                        state.execute(chunks: n, escapable)
                    } else {
                        state.execute(chunks: n) { escapable(base &+ $0) }
                    }
                    first &+= n
                }
            }
            return true
        }
        if ran == nil {
            // Pool busy (concurrent or nested use): run on this thread.
            for c in 0..<chunks { body(c) }
        }
    }
}

/// `ThreadPool.statistics`: counts since the pool was made; subtract two snapshots for an interval.
public struct ThreadPoolStatistics: Sendable {
    public var jobs: Int
    public var seconds: Double
    public var waitSeconds: Double

    public init(jobs: Int = 0, seconds: Double = 0, waitSeconds: Double = 0) {
        self.jobs = jobs; self.seconds = seconds; self.waitSeconds = waitSeconds
    }

    public static func - (a: Self, b: Self) -> Self {
        Self(jobs: a.jobs - b.jobs, seconds: a.seconds - b.seconds, waitSeconds: a.waitSeconds - b.waitSeconds)
    }

    public static func + (a: Self, b: Self) -> Self {
        Self(jobs: a.jobs + b.jobs, seconds: a.seconds + b.seconds, waitSeconds: a.waitSeconds + b.waitSeconds)
    }
}

/// Shared state between the submitting thread and the workers.
///
/// `@unchecked Sendable` is safe because:
/// - `job` is written only by the submitter while holding `ThreadPool.submitLock`, and only while no chunk
///   of any job can be claimed (before the release-store that publishes a job and after every chunk of the
///   previous job has reported done). Workers read `job` only after a successful acquire-CAS on `claim`
///   that still carries the job's generation, which the submitter cannot retire until that chunk reports done.
/// - `sleep` (a `PthreadCondition`) is itself thread-safe.
/// - everything else is `Atomic`.
final class PoolState: @unchecked Sendable {
    // claim = generation (24 bits) | chunk count (20 bits) | next unclaimed chunk (20 bits)
    static let countBits: UInt64 = 20
    static let maxChunks = (1 << 20) - 1
    static let fieldMask: UInt64 = (1 << 20) - 1

    let claim = Atomic<UInt64>(0)
    let done = Atomic<Int>(0)
    let sleepers = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    /// `ThreadPool.statistics` (written by the submitter only, read by anyone).
    let jobs = Atomic<Int>(0), jobNanoseconds = Atomic<Int>(0), waitNanoseconds = Atomic<Int>(0)
    let spinSeconds: Double
    var job: ((Int) -> Void)? = nil
    /// Where idle workers sleep after spinning.
    let sleep = PthreadCondition()

    init(spinSeconds: Double) {
        self.spinSeconds = spinSeconds
    }

    /// The guided schedule of `forEachRange` over `units`: chunk k starts at bounds[k] and ends at bounds[k + 1],
    /// each taking ceil(left / (2 · threads)) units but at least `least`. Returns the number of chunks; with
    /// `into` nil only counts them.
    static func guidedBounds(units: Int, least: Int, threads: Int, into bounds: UnsafeMutablePointer<Int>?) -> Int {
        var at = 0, chunks = 0
        while at < units {
            bounds?[chunks] = at
            let left = units &- at
            at &+= min(left, max(least, (left &+ 2 &* threads &- 1) / (2 &* threads)))
            chunks &+= 1
        }
        bounds?[chunks] = units
        return chunks
    }

    @inline(__always) static func generation(_ w: UInt64) -> UInt64 { w >> (2 &* countBits) }
    @inline(__always) static func count(_ w: UInt64) -> Int { Int((w >> countBits) & fieldMask) }
    @inline(__always) static func next(_ w: UInt64) -> Int { Int(w & fieldMask) }

    /// Publishes a job, works on it, and waits until every chunk has finished. Caller holds the submit lock.
    func execute(chunks: Int, _ body: @escaping (Int) -> Void) {
        let start = monotonicNanoseconds()
        job = body
        done.store(0, ordering: .relaxed)
        let old = claim.load(ordering: .relaxed)
        let gen = (PoolState.generation(old) &+ 1) & 0xFF_FFFF
        claim.store((gen << (2 &* PoolState.countBits)) | (UInt64(chunks) << PoolState.countBits),
                    ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            sleep.lock()
            sleep.broadcast()
            sleep.unlock()
        }
        workOn(generation: gen)
        let own = monotonicNanoseconds()
        var spins = 0
        while done.load(ordering: .acquiring) != chunks {
            spins &+= 1
            if spins & 0x3FF == 0 { sched_yield() }
        }
        job = nil
        let end = monotonicNanoseconds()
        jobs.add(1, ordering: .relaxed)
        jobNanoseconds.add(end &- start, ordering: .relaxed)
        waitNanoseconds.add(end &- own, ordering: .relaxed)
    }

    /// Claims and runs chunks of job `generation` until none are left.
    @inline(__always)
    func workOn(generation gen: UInt64) {
        var w = claim.load(ordering: .acquiring)
        while PoolState.generation(w) == gen && PoolState.next(w) < PoolState.count(w) {
            let (exchanged, original) = claim.compareExchange(expected: w, desired: w &+ 1,
                                                              successOrdering: .acquiring,
                                                              failureOrdering: .acquiring)
            if exchanged {
                runClaimed(PoolState.next(w))
                done.add(1, ordering: .releasing)
                w = claim.load(ordering: .acquiring)
            } else {
                w = original
            }
        }
    }

    /// Runs one claimed chunk. Kept out of line so that the local reference to `job` is released before the
    /// chunk is reported done (the submitter clears `job` right after the last chunk reports). Unwrapped by `if let`:
    /// `unsafelyUnwrapped`, generic over the wrapped type, wrapped the closure in a reabstraction thunk allocated on the
    /// heap at every chunk (~6400 of a two-thread decode's ~8600 allocations a token).
    @inline(never)
    func runClaimed(_ chunk: Int) {
        if let job { job(chunk) }
    }

    func workerLoop() {
        var seen = PoolState.generation(claim.load(ordering: .acquiring))
        while true {
            // Wait for a new generation: spin (checking the clock every 256 loads), then park.
            var w = claim.load(ordering: .acquiring)
            if PoolState.generation(w) == seen && spinSeconds > 0 {
                let deadline = monotonicSeconds() + spinSeconds
                var spins = 0
                while PoolState.generation(w) == seen {
                    spins &+= 1
                    if spins & 255 == 0 && monotonicSeconds() > deadline { break }
                    w = claim.load(ordering: .acquiring)
                }
            }
            if PoolState.generation(w) == seen {
                sleep.lock()
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while PoolState.generation(claim.load(ordering: .sequentiallyConsistent)) == seen
                        && !stopping.load(ordering: .sequentiallyConsistent) {
                    sleep.wait()
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                sleep.unlock()
            }
            if stopping.load(ordering: .acquiring) { return }
            seen = PoolState.generation(claim.load(ordering: .acquiring))
            workOn(generation: seen)
        }
    }

    func shutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        sleep.lock()
        // Bump the generation with zero chunks so spinning workers notice too.
        let old = claim.load(ordering: .relaxed)
        claim.store(((PoolState.generation(old) &+ 1) & 0xFF_FFFF) << (2 &* PoolState.countBits),
                    ordering: .sequentiallyConsistent)
        sleep.broadcast()
        sleep.unlock()
    }
}

