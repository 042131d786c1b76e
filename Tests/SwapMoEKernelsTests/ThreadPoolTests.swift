import Foundation
import Synchronization
import Testing
import SwapMoECore
@testable import SwapMoEKernels

@Suite("ThreadPool")
struct ThreadPoolTests {
    @Test("parallelFor covers every index exactly once, for many job sizes and pool sizes")
    func coversOnce() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool(threads: threads)
            for count in [0, 1, 2, 3, 17, 64, 1000, 4097] {
                for alignment in [1, 4, 16] {
                    let box = AtomicArray(count)
                    pool.parallelFor(count, alignment: alignment) { r in
                        #expect(r.lowerBound % alignment == 0)
                        for i in r { box.increment(i) }
                    }
                    #expect(box.all { $0 == 1 }, "threads=\(threads) count=\(count)")
                }
            }
        }
    }

    @Test("The guided schedule covers the units in order, long chunks first, none shorter than the least but the last")
    func guidedSchedule() {
        for threads in [2, 3, 8] {
            for (units, least) in [(1, 1), (7, 2), (176, 3), (1024, 1), (16384, 4), (5, 9)] {
                let n = PoolState.guidedBounds(units: units, least: least, threads: threads, into: nil)
                var b = [Int](repeating: -1, count: n + 1)
                #expect(PoolState.guidedBounds(units: units, least: least, threads: threads, into: &b) == n)
                #expect(b.first == 0 && b.last == units)
                let sizes = (0..<n).map { b[$0 + 1] - b[$0] }
                #expect(sizes.allSatisfy { $0 > 0 } && zip(sizes, sizes.dropFirst()).allSatisfy { $0 >= $1 }, "\(sizes)")
                #expect(sizes.dropLast().allSatisfy { $0 >= least }, "\(sizes)")
                // Each chunk is at most what is left over twice the threads (or the least): the tail is short.
                #expect(sizes.last! <= max(least, 1), "threads=\(threads) units=\(units): \(sizes)")
            }
        }
    }

    @Test("thousands of back-to-back tiny jobs complete (spin handoff and park/wake paths)")
    func manySmallJobs() {
        let pool = ThreadPool(threads: 3, spinMicroseconds: 5)
        let total = Counter()
        for i in 0..<3000 {
            pool.run(chunks: 1 + i % 7) { _ in total.value.add(1, ordering: .relaxed) }
            if i % 500 == 0 { usleep(2000) }   // let workers park, then wake them
        }
        let expected = (0..<3000).reduce(0) { $0 + 1 + $1 % 7 }
        #expect(total.value.load(ordering: .relaxed) == expected)
    }

    @Test("a nested call from inside a job runs serially instead of deadlocking")
    func nested() {
        let pool = ThreadPool(threads: 2)
        let total = Counter()
        pool.run(chunks: 4) { _ in
            pool.run(chunks: 3) { _ in total.value.add(1, ordering: .relaxed) }
        }
        #expect(total.value.load(ordering: .relaxed) == 12)
    }

    @Test("concurrent submitters from several threads all complete")
    func concurrentSubmitters() async {
        let pool = ThreadPool(threads: 2)
        let total = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<200 { pool.run(chunks: 5) { _ in total.value.add(1, ordering: .relaxed) } }
                }
            }
        }
        #expect(total.value.load(ordering: .relaxed) == 4 * 200 * 5)
    }

    @Test("pools shut down and join their workers")
    func shutdown() {
        for _ in 0..<20 {
            let pool = ThreadPool(threads: 3)
            pool.run(chunks: 6) { _ in }
        }
    }
}

/// Per-index hit counters shared by a job's chunks. Behind a pthread mutex rather than `Synchronization.Mutex`,
/// whose synchronisation ThreadSanitizer on Linux cannot see (Docs/Architecture.md), so that these tests run clean
/// under `--sanitize=thread`. `@unchecked Sendable`: `counters` is only touched with `guardLock` held.
final class AtomicArray: @unchecked Sendable {
    private let guardLock = PthreadCondition()
    private var counters: [Int]
    init(_ n: Int) { counters = [Int](repeating: 0, count: n) }
    func increment(_ i: Int) { guardLock.lock(); counters[i] += 1; guardLock.unlock() }
    func all(_ p: (Int) -> Bool) -> Bool { guardLock.lock(); defer { guardLock.unlock() }; return counters.allSatisfy(p) }
}

/// A shared atomic counter (a class so escaping task closures can capture it).
final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
