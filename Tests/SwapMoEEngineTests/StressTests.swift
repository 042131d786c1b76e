import Foundation
import Testing
import Synchronization
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
@testable import SwapMoEEngine

/// Concurrency stress: real threads, tiny arenas, random workloads, invariants checked while everything runs.
/// Seeded so a failure replays the same request stream (thread interleavings still vary, which is the point;
/// run the suite repeatedly and under ThreadSanitizer).
@Suite("Stress")
struct StressTests {
    @Test("5 threads acquire and release random experts through 3 slots while a prefetcher and lookahead churn; bytes are always right",
          arguments: Fixture.Codec.allCases, EvictionPolicy.allCases)
    func exactThreads(codec: Fixture.Codec, policy: EvictionPolicy) throws {
        let f = try Fixture(codec)
        let p = try ExactExperts(archive: f.archive, slots: 3, options: .init(policy: policy, loader: .init(ioThreads: 2)))
        let failures = Failures()
        let stop = Atomic<Bool>(false)
        let side = background {
            var rng = SeededRandom(99)
            var probs = [Float](repeating: 0, count: 8)
            while !stop.load(ordering: .relaxed) {
                p.prefetch((0..<2).map { _ in f.keys.randomElement(using: &rng)! })
                // A decoder's routing and layer prefetch, which also loads the next layer's kept experts ahead.
                let layer = Int(rng.next() % 2)
                for i in probs.indices { probs[i] = Float(rng.next() % 100) }
                p.observeRouting(layer: layer, probs: probs)
                p.hint(layer: layer, experts: [Int(rng.next() % 8)])
                let v = p.invariantViolations()
                if !v.isEmpty { failures.add("invariants: \(v)") }
                usleep(100)
            }
        }
        let threads = 5, rounds = 600
        onThreads(threads) { i in
            var rng = SeededRandom(UInt64(i) &+ 1)
            for _ in 0..<rounds {
                let key = f.keys.randomElement(using: &rng)!
                do {
                    let w = try p.acquire(key)
                    if !f.matches(w, key) { failures.add("wrong bytes when \(key) was acquired") }
                    if rng.next() % 3 == 0 { sched_yield() }  // hold it while the others churn
                    if !f.matches(w, key) { failures.add("bytes of \(key) changed while it was held") }
                    p.release(key)
                } catch { failures.add("acquire \(key): \(error)") }
            }
        }
        stop.store(true, ordering: .relaxed)
        side.wait()
        #expect(failures.all == [])
        #expect(p.invariantViolations() == [])
        #expect(p.pinCounts == [0, 0, 0])
        let s = p.stats
        #expect(s.hits + s.misses == threads * rounds)
        #expect(s.failures == 0 && s.loads > 0)
    }

    @Test("two decoders on two threads share one 3-slot ExactExperts and both match ResidentExperts bit for bit")
    func sharedDecoders() throws {
        let f = try Fixture(.lz4)
        let reference = try DecoderEndToEndTests().logits(f.archive, try ResidentExperts(archive: f.archive))
        let p = try ExactExperts(archive: f.archive, slots: 3, options: .init(expertsPerToken: 2))
        let failures = Failures()
        onThreads(2) { _ in
            for _ in 0..<5 {
                do {
                    let got = try DecoderEndToEndTests().logits(f.archive, p)
                    if got.map({ $0.map(\.bitPattern) }) != reference.map({ $0.map(\.bitPattern) }) { failures.add("logits differ") }
                } catch { failures.add("\(error)") }
            }
        }
        #expect(failures.all == [])
        #expect(p.invariantViolations() == [])
    }

    /// SwapExperts promises a mask valid for a layer's whole step to one decoding thread; with several, another
    /// thread's safe point can drop an expert between this thread's mask and its acquire, which then throws
    /// `.notResident` (documented). Everything else must hold: seeding once, slots, pins, invariants.
    @Test("three decoders on three threads share one SwapExperts that seeds on first routing and swaps every token: only documented errors, every invariant holds")
    func sharedSwapDecoders() throws {
        let f = try Fixture(.lz4)
        let p = try SwapExperts(archive: f.archive, residentsPerLayer: 3,
                                options: .init(spareSlots: 2, swapInterval: 1, window: 4, initialResidents: .firstRouting))
        let failures = Failures()
        onThreads(3) { i in
            do {
                let model = try DecoderModel(archive: f.archive, experts: p, context: 64, threads: 1, batch: 4)
                var rng = SeededRandom(UInt64(i) &+ 40)
                for step in 0..<60 {
                    if step % 20 == 0 { model.reset() }
                    do {
                        let logits = try model.forward((0..<Int.random(in: 1...4, using: &rng)).map { _ in Int.random(in: 0..<64, using: &rng) })
                        if !logits.allSatisfy(\.isFinite) { failures.add("thread \(i) step \(step): non-finite logits") }
                    } catch EngineError.notResident {
                        model.reset()  // the step was cut short; start the sequence again
                    }
                    let v = p.invariantViolations()
                    if !v.isEmpty { failures.add("invariants: \(v)") }
                }
            } catch { failures.add("thread \(i): \(error)") }
        }
        p.waitUntilSwapperIdle()
        #expect(failures.all == [])
        #expect(p.invariantViolations() == [])
        #expect(p.stats.stallSeconds == 0 && p.stats.failedSwaps == 0)
        #expect(p.core.lock.withLock { $0.table.pins }.allSatisfy { $0 == 0 }, "every acquire was released")
    }

    @Test("SwapExperts swapping every token under drifting random routing for 3000 steps keeps every invariant",
          arguments: [(Fixture.Codec.raw, false, false), (.lz4, false, true), (.raw, true, false)])
    func swapEveryToken(codec: Fixture.Codec, mapped: Bool, firstRouting: Bool) throws {
        let f = try Fixture(codec)
        let experts = 8, k = 3
        let p = try SwapExperts(archive: f.archive, residentsPerLayer: k,
                                options: .init(spareSlots: 2, swapInterval: 1, window: 4, initialResidents: firstRouting ? .firstRouting : .largestNorm,
                                               storage: mapped ? .mapped : .arena()))
        let failures = Failures()
        let stop = Atomic<Bool>(false)
        let monitor = background {
            while !stop.load(ordering: .relaxed) {
                let v = p.invariantViolations()
                if !v.isEmpty { failures.add("invariants: \(v)") }
                usleep(50)
            }
        }
        var rng = SeededRandom(2024)
        var hot: [[Int]] = [[0, 1], [2, 3]]
        for step in 0..<3000 {
            if step % 20 == 0 { hot = (0..<2).map { _ in (0..<2).map { _ in Int.random(in: 0..<experts, using: &rng) } } }
            for layer in 0..<2 {
                var probs = (0..<experts).map { _ in Float.random(in: 0...0.1, using: &rng) }
                for h in hot[layer] { probs[h] += Float.random(in: 0.5...1, using: &rng) }
                let sum = probs.reduce(0, +)
                probs = probs.map { $0 / sum }
                observe(p, layer: layer, probs: probs, norm: Float.random(in: 0.5...2, using: &rng))
                guard let mask = p.allowedExperts(layer: layer) else { failures.add("no mask"); continue }
                let allowed = mask.indices.filter { mask[$0] }
                if allowed.count < k || allowed.count > k + 2 { failures.add("layer \(layer) mask has \(allowed.count) experts") }
                // The decoder's pattern: top-2 of the masked router, acquired in ascending order, one at a time.
                let chosen = allowed.sorted { probs[$0] > probs[$1] }.prefix(2).sorted()
                for e in chosen {
                    let key = ExpertKey(layer: layer, expert: e)
                    do {
                        let w = try p.acquire(key)
                        if !f.matches(w, key) { failures.add("step \(step): wrong bytes for \(key)") }
                        p.release(key)
                    } catch { failures.add("step \(step): \(error)") }
                }
            }
            // Every 10th step let the swapper catch up, so how many swaps happen does not depend on how fast
            // this loop runs; the other steps race the swapper.
            if step % 10 == 9 { p.waitUntilSwapperIdle() }
            if failures.all.count > 5 { break }
        }
        stop.store(true, ordering: .relaxed)
        monitor.wait()
        #expect(failures.all == [])
        p.waitUntilSwapperIdle()
        #expect(p.invariantViolations() == [])
        let s = p.stats
        #expect(s.swaps > 50, "swaps: \(s.swaps)")
        #expect(s.failedSwaps == 0 && s.stallSeconds == 0)
        print("swap stress (\(codec), \(mapped ? "mapped" : "arena")): \(s.swaps) swaps in \(s.rounds) rounds, \(s.loads) loads")
    }
}
