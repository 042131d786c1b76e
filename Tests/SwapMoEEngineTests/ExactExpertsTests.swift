import Foundation
import Testing
import Synchronization
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
@testable import SwapMoEEngine

@Suite("ExactExperts")
struct ExactExpertsTests {
    @Test("serves bit-identical expert bytes with 2 slots for 8 experts per layer",
          arguments: Fixture.Codec.allCases, EvictionPolicy.allCases)
    func bitIdentical(codec: Fixture.Codec, policy: EvictionPolicy) throws {
        let f = try Fixture(codec)
        let p = try ExactExperts(archive: f.archive, slots: 2, options: .init(policy: policy))
        var rng = SeededRandom(7)
        for _ in 0..<300 {
            let key = f.keys.randomElement(using: &rng)!
            let w = try p.acquire(key)
            #expect(f.matches(w, key), "\(key)")
            p.release(key)
        }
        let s = p.stats
        #expect(s.hits + s.misses == 300)
        #expect(s.misses > 0 && s.evictions > 0 && s.failures == 0)
        #expect(s.loads == s.demandLoads && s.demandLoads == s.misses && s.bytesRead > 0)
        #expect(p.pinCounts == [0, 0])
    }

    @Test("the mapped backend serves bit-identical bytes from the archive mapping")
    func mapped() throws {
        let f = try Fixture(.raw)
        let p = try ExactExperts(archive: f.archive, slots: 3, options: .init(storage: .mapped))
        #expect(p.arenaBytes == 0 && p.memoryBytes == 0)
        for key in f.keys + f.keys.reversed() {
            let w = try p.acquire(key)
            #expect(f.matches(w, key))
            p.release(key)
        }
    }

    @Test("a pinned expert is never evicted, whatever else is loaded")
    func pinned() throws {
        let f = try Fixture(.lz4)
        let p = try ExactExperts(archive: f.archive, slots: 2)
        let held = f.keys[3]
        let w = try p.acquire(held)
        let slot = try #require(p.slot(of: held))
        for key in f.keys where key != held {
            let x = try p.acquire(key)
            #expect(f.matches(x, key))
            p.release(key)
            #expect(p.slot(of: held) == slot)
        }
        #expect(p.prefetch(Array(f.keys.prefix(6))) <= 1, "only the unpinned slot can take a prefetch")
        #expect(p.slot(of: held) == slot)
        #expect(f.matches(w, held), "the held expert's bytes were never overwritten")
        p.release(held)
    }

    @Test("a one-token layer's experts are served in one call, pinned together; a batch's one call each; a single slot one each")
    func servedTogether() throws {
        let f = try Fixture(.raw)
        let layer = MoELayer(layer: f.keys[0].layer)
        func calls(slots: Int, _ assign: [(token: Int, expert: Int)]) throws -> [[Int]] {
            let p = try ExactExperts(archive: f.archive, slots: slots)
            var calls: [[Int]] = []
            let probs = [Float](repeating: 1.0 / 8, count: 8 * (assign.map(\.token).max()! + 1))
            _ = try p.withLayer(layer, router: RouterOutput(rows: probs, experts: 8), route: { _ in
                var r = Routing(experts: 8)
                for a in assign { r.assign(token: a.token, to: a.expert, weight: 0.5) }
                return r
            }, predict: { [] }, serve: { batch in
                calls.append(batch.map(\.expert))
                #expect(p.pinCounts.reduce(0, +) == batch.count, "every expert of the call is pinned")
                for e in batch { #expect(f.matches(e.weights, layer.expert(e.expert))) }
            })
            #expect(p.pinCounts.allSatisfy { $0 == 0 })
            return calls
        }
        #expect(try calls(slots: 3, [(0, 6), (0, 2)]) == [[2, 6]])
        #expect(try calls(slots: 3, [(0, 6), (1, 2)]) == [[2], [6]])
        #expect(try calls(slots: 1, [(0, 6), (0, 2)]) == [[2], [6]])
    }

    @Test("when every slot is pinned, acquire waits for a release instead of evicting")
    func waitsForRelease() throws {
        let f = try Fixture(.raw)
        let p = try ExactExperts(archive: f.archive, slots: 1)
        let a = f.keys[0], b = f.keys[1]
        let wa = try p.acquire(a)
        let acquiredB = Atomic<Bool>(false)
        let done = background {
            do {
                let wb = try p.acquire(b)
                acquiredB.store(true, ordering: .sequentiallyConsistent)
                if !f.matches(wb, b) { Issue.record("wrong bytes for b") }
                p.release(b)
            } catch { Issue.record("\(error)") }
        }
        usleep(50_000)
        let early = acquiredB.load(ordering: .sequentiallyConsistent)
        #expect(!early, "b must not be served while a pins the only slot")
        #expect(f.matches(wa, a))
        p.release(a)
        done.wait()
        let late = acquiredB.load(ordering: .sequentiallyConsistent)
        #expect(late)
        #expect(p.stats.stallSeconds > 0)
    }

    @Test("prefetch then demand is a hit without another load")
    func prefetchThenHit() throws {
        let f = try Fixture(.lz4)
        let p = try ExactExperts(archive: f.archive, slots: 4)
        let keys = Array(f.keys[2..<5])
        #expect(p.prefetch(keys) == 3)
        #expect(p.prefetch(keys) == 0, "already resident or loading")
        #expect(eventually { keys.allSatisfy { p.isReady($0) } })
        for key in keys {
            let w = try p.acquire(key)
            #expect(f.matches(w, key))
            p.release(key)
        }
        let s = p.stats
        #expect(s.hits == 3 && s.misses == 0 && s.prefetchHits == 3 && s.demandLoads == 0 && s.loads == 3)
    }

    @Test("a demand for an expert being prefetched promotes and waits for that load instead of issuing another")
    func demandJoinsPrefetch() throws {
        let f = try Fixture(.raw)
        let p = try ExactExperts(archive: f.archive, slots: 2, options: .init(loader: .init(ioThreads: 1)))
        p.loader.pause()
        let key = f.keys[5]
        #expect(p.prefetch([key]) == 1)
        let done = background {
            do { let w = try p.acquire(key); if !f.matches(w, key) { Issue.record("bytes") }; p.release(key) } catch { Issue.record("\(error)") }
        }
        #expect(eventually { p.stats.misses == 1 })
        #expect(p.loader.queuedCount == 1, "no second request")
        p.loader.resume()
        done.wait()
        let s = p.stats
        #expect(s.demandLoads == 0 && s.prefetchLoads == 1 && s.loads == 1)
    }

    @Test("prefetch never evicts pinned experts or the announced demand")
    func prefetchRespectsDemand() throws {
        let f = try Fixture(.raw, layers: 1)
        let p = try ExactExperts(archive: f.archive, slots: 3, options: .init(expertsPerToken: 2))
        // One token routed mostly to experts 1 and 6: they become the current demand and start loading.
        var probs = [Float](repeating: 0.01, count: 8)
        probs[1] = 0.5; probs[6] = 0.4
        p.observeRouting(layer: 0, probs: probs)
        let k1 = ExpertKey(layer: 0, expert: 1), k6 = ExpertKey(layer: 0, expert: 6)
        #expect(p.slot(of: k1) != nil && p.slot(of: k6) != nil)
        #expect(p.prefetch([0, 2, 3, 4].map { ExpertKey(layer: 0, expert: $0) }) == 1, "one free slot")
        #expect(p.slot(of: k1) != nil && p.slot(of: k6) != nil, "demand kept")
        for k in [k1, k6] {
            let w = try p.acquire(k)
            #expect(f.matches(w, k))
            p.release(k)
        }
        #expect(p.stats.prefetchHits + p.stats.misses == 2)
    }

    @Test("the experts a pass's last token routed to are evicted last, and never by a hint for a layer ahead")
    func keepsLastToken() throws {
        let f = try Fixture(.raw, layers: 2)
        let p = try ExactExperts(archive: f.archive, slots: 3)
        let key = { ExpertKey(layer: 0, expert: $0) }
        func use(_ e: Int) throws { let w = try p.acquire(key(e)); #expect(f.matches(w, key(e))); p.release(key(e)) }
        // A two-token prompt: the first token routes to experts 2 and 3, the last one to 1 and 6.
        var probs = [Float](repeating: 0.01, count: 16)
        probs[2] = 0.5; probs[3] = 0.4; probs[8 + 1] = 0.5; probs[8 + 6] = 0.4
        p.observeRouting(layer: 0, probs: probs)
        for e in [1, 6, 2, 3] { try use(e) }
        // Plain LRU would have dropped 1 (used first) for 3; 2 went instead.
        #expect(p.slot(of: key(1)) != nil && p.slot(of: key(6)) != nil && p.slot(of: key(3)) != nil)
        #expect(p.slot(of: key(2)) == nil)
        // A prefetch for a layer ahead (a hint) takes only the slot not holding a kept expert.
        let next = { ExpertKey(layer: 1, expert: $0) }
        #expect(p.prefetch([next(4), next(5)]) == 1, "only the one slot not holding a kept expert")
        #expect(p.slot(of: key(1)) != nil && p.slot(of: key(6)) != nil && p.slot(of: next(4)) != nil)
        // The experts of the layer being computed, queued together as the decoder does, take kept slots, as
        // their misses would.
        let r = try ExactExperts(archive: f.archive, slots: 2)
        r.observeRouting(layer: 0, probs: probs)
        for e in [1, 6] { let w = try r.acquire(key(e)); #expect(f.matches(w, key(e))); r.release(key(e)) }
        #expect(r.prefetch([next(4)]) == 0, "a hint evicts no kept expert")
        r.observeRouting(layer: 1, probs: probs)
        #expect(r.prefetch([next(1), next(6)]) == 2, "layer 1 is being computed")
        #expect(r.invariantViolations().isEmpty)
        // When only kept experts are left to evict, a load still takes one of them (the least recently used).
        let q = try ExactExperts(archive: f.archive, slots: 2)
        q.observeRouting(layer: 0, probs: probs)
        for e in [1, 6, 2] { let w = try q.acquire(key(e)); #expect(f.matches(w, key(e))); q.release(key(e)) }
        #expect(q.slot(of: key(1)) == nil && q.slot(of: key(6)) != nil && q.slot(of: key(2)) != nil)
        #expect(q.invariantViolations().isEmpty && p.invariantViolations().isEmpty)
    }

    @Test("with fewer slots than the layers' top-k, the expert needed furthest ahead goes first (not LRU's next one)")
    func fewerSlotsThanKept() throws {
        let layers = 6, slots = 7
        let f = try Fixture(.raw, layers: layers)
        let p = try ExactExperts(archive: f.archive, slots: slots)
        // Every token routes each layer to experts 1 and 6: 12 uses per pass over the layers, 7 slots. LRU evicts
        // the expert used longest ago, which in a cycle is the one needed next, and misses on every use.
        var probs = [Float](repeating: 0.01, count: 8)
        probs[1] = 0.5; probs[6] = 0.3
        var missesPerPass: [Int] = []
        for _ in 0..<10 {
            let before = p.stats.misses
            for l in 0..<layers {
                p.observeRouting(layer: l, probs: probs)
                for e in [1, 6] { let k = ExpertKey(layer: l, expert: e); let w = try p.acquire(k); #expect(f.matches(w, k)); p.release(k) }
            }
            missesPerPass.append(p.stats.misses - before)
        }
        // All the slots but one keep serving from pass to pass: at most 12 - 6 misses per pass after the first
        // (Belady's optimum averages 12 * 5 / 11 = 5.45 over a long cycle; LRU's is 12).
        #expect(missesPerPass.first == 2 * layers)
        #expect(missesPerPass.dropFirst().allSatisfy { $0 <= 2 * layers - (slots - 1) }, "misses per pass: \(missesPerPass)")
        #expect(p.invariantViolations().isEmpty)
    }

    @Test("lookahead: the next layers' experts of the last token are already loading when their routing comes",
          arguments: [0, 1, 2])
    func lookahead(depth: Int) throws {
        let layers = 8, slots = 12
        let f = try Fixture(.lz4, layers: layers)
        let p = try ExactExperts(archive: f.archive, slots: slots, options: .init(lookahead: depth))
        var probs = [Float](repeating: 0.01, count: 8)
        probs[1] = 0.5; probs[6] = 0.3
        var early = 0
        for pass in 0..<5 {
            for l in 0..<layers {
                let keys = [1, 6].map { ExpertKey(layer: l, expert: $0) }
                if pass > 0 && keys.allSatisfy({ p.slot(of: $0) != nil }) { early += 1 }
                p.observeRouting(layer: l, probs: probs)
                p.hint(layer: l, experts: [1, 6])  // as the decoder does, before acquiring
                for k in keys { let w = try p.acquire(k); #expect(f.matches(w, k)); p.release(k) }
            }
        }
        // 16 kept experts in 12 slots: without lookahead, 5 layers of 8 come back each pass with both experts
        // missing or half there; looking ahead, every layer's experts are there or on their way.
        if depth == 0 { #expect(early < 4 * layers) } else { #expect(early == 4 * layers, "layers found loading: \(early)") }
        #expect(p.invariantViolations().isEmpty)
    }

    @Test("steps until an expert's layer comes again: ahead in this pass, behind in the next, other stacks last")
    func stepsUntilUse() {
        var kept = KeptExperts()
        kept.passLength = [.decoder: 6, .encoder: 4]
        kept.current = MoELayer(stack: .decoder, layer: 4)
        let d = { ExpertKey(stack: .decoder, layer: $0, expert: 0) }
        #expect([4, 5, 0, 1, 2, 3].map { kept.stepsUntilUse(d($0), usedSinceObserved: false) } == [0, 1, 2, 3, 4, 5])
        #expect(kept.stepsUntilUse(d(4), usedSinceObserved: true) == 6, "used in this layer: next pass")
        #expect(kept.stepsUntilUse(ExpertKey(stack: .encoder, layer: 1, expert: 0), usedSinceObserved: false) > 6)
    }

    @Test("the last token's next choice after its top-k is evicted after other experts, before its top-k")
    func keepsRunnerUp() throws {
        let f = try Fixture(.raw, layers: 1)
        let key = { ExpertKey(layer: 0, expert: $0) }
        // One token: experts 1 and 6 routed, 4 its next choice.
        var probs = [Float](repeating: 0.01, count: 8)
        probs[1] = 0.5; probs[6] = 0.3; probs[4] = 0.15
        for (slots, sequence, gone) in [(4, [1, 6, 4, 2, 3], 2), (3, [1, 6, 4, 2], 4)] {
            let p = try ExactExperts(archive: f.archive, slots: slots)
            p.observeRouting(layer: 0, probs: probs)
            for e in sequence { let w = try p.acquire(key(e)); #expect(f.matches(w, key(e))); p.release(key(e)) }
            // LRU alone would have dropped 1, the least recently used.
            #expect(p.slot(of: key(gone)) == nil, "\(slots) slots")
            #expect(p.slot(of: key(1)) != nil && p.slot(of: key(6)) != nil)
            if slots == 4 { #expect(p.slot(of: key(4)) != nil, "the next choice outlives an expert used after it") }
            #expect(p.invariantViolations().isEmpty)
        }
    }

    @Test("LRU evicts the least recently used, LFU the least frequently used")
    func policies() throws {
        let f = try Fixture(.raw)
        let (a, b, c) = (f.keys[0], f.keys[1], f.keys[2])
        for policy in EvictionPolicy.allCases {
            let p = try ExactExperts(archive: f.archive, slots: 2, options: .init(policy: policy))
            for key in [a, a, a, b] { _ = try p.acquire(key); p.release(key) }
            _ = try p.acquire(c); p.release(c)
            switch policy {
            case .lru: #expect(p.slot(of: a) == nil && p.slot(of: b) != nil, "LRU drops a (used before b)")
            case .lfu: #expect(p.slot(of: b) == nil && p.slot(of: a) != nil, "LFU drops b (used once)")
            }
            #expect(p.stats.evictions == 1)
        }
    }

    @Test("a corrupt block is reported to the caller and retried on the next acquire")
    func loadFailure() throws {
        let f = try Fixture(.lz4)
        let p = try ExactExperts(archive: try f.corruptedCopy(f.keys[2], at: 10), slots: 2)
        for _ in 0..<2 {
            #expect { _ = try p.acquire(f.keys[2]) } throws: { e in
                (e as? EngineError)?.description.contains("checksum mismatch") == true
            }
        }
        let w = try p.acquire(f.keys[3])
        #expect(f.matches(w, f.keys[3]))
        p.release(f.keys[3])
        #expect(p.stats.failures == 2)
        #expect(throws: EngineError.self) { try p.acquire(ExpertKey(layer: 9, expert: 0)) }
    }

    @Test("memoryBytes is the arena plus loader buffers and is known before construction")
    func memory() throws {
        let f = try Fixture(.lz4)
        let opts = ExactExperts.Options(loader: .init(ioThreads: 2))
        let p = try ExactExperts(archive: f.archive, slots: 5, options: opts)
        #expect(p.memoryBytes == 5 * Arena.slotSize(for: f.archive) + p.loader.memoryOverhead)
        #expect(p.memoryBytes == ExactExperts.plannedBytes(archive: f.archive, slots: 5, options: opts))
    }
}

@Suite("Decoder end to end")
struct DecoderEndToEndTests {
    /// Logits of a short prompt and a few decode steps with `provider`.
    func logits(_ archive: Archive, _ provider: ExpertProvider, prefetchDepth: Int = 0) throws -> [[Float]] {
        let model = try DecoderModel(archive: archive, experts: provider, context: 32, threads: 1, batch: 4)
        model.prefetchDepth = prefetchDepth
        var out = [try model.forward([1, 5, 9, 2, 7, 3], logits: .all)]
        for t in [4, 8, 6, 1] { out.append(try model.forward([t])) }
        return out
    }

    @Test("the decoder's logits with ExactExperts (2 slots) are bit-identical to ResidentExperts",
          arguments: Fixture.Codec.allCases)
    func exactMatchesResident(codec: Fixture.Codec) throws {
        let f = try Fixture(codec, layers: 2, experts: 8)
        let reference = try logits(f.archive, try ResidentExperts(archive: f.archive))
        #expect(reference.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isFinite) })
        for policy in EvictionPolicy.allCases {
            let exact = try ExactExperts(archive: f.archive, slots: 2, options: .init(policy: policy, expertsPerToken: 2))
            let got = try logits(f.archive, exact)
            #expect(got.map { $0.map(\.bitPattern) } == reference.map { $0.map(\.bitPattern) }, "\(policy)")
            #expect(exact.stats.misses > 0)
        }
    }

    @Test("a long prompt run layer by layer gives resident's logits, loading each layer's experts less often")
    func layerMajorPrefill() throws {
        // hidden 32, vocab 64, batch 4: spans of 8 tokens, two batches each.
        let f = try Fixture(.lz4, layers: 3, experts: 8, hidden: 32)
        let prompt = (0..<21).map { ($0 * 7 + 1) % 64 }
        func run(_ p: ExpertProvider, layerMajor: Bool) throws -> [Float] {
            let model = try DecoderModel(archive: f.archive, experts: p, context: 32, threads: 1, batch: 4)
            model.layerMajorPrefill = layerMajor
            return try model.forward(prompt) + model.forward([9]) + model.forward([4])
        }
        let reference = try run(try ResidentExperts(archive: f.archive), layerMajor: false)
        var loads: [Int] = []
        for layerMajor in [false, true] {
            // One layer's experts fit, all three layers' do not. No loads ahead: those race the computation, so
            // with them the count depends on the machine's load (73 vs 47 once on a busy machine).
            let exact = try ExactExperts(archive: f.archive, slots: 8, options: .init(lookahead: 0))
            #expect(try run(exact, layerMajor: layerMajor).map(\.bitPattern) == reference.map(\.bitPattern), "layer-major \(layerMajor)")
            loads.append(exact.stats.loads)
        }
        #expect(loads[1] < loads[0], "loads batch by batch, layer by layer: \(loads)")
    }

    @Test("prefetching several MoE layers ahead changes what is loaded when, never the logits")
    func deeperPrefetch() throws {
        let f = try Fixture(.lz4, layers: 4, experts: 8)
        let reference = try logits(f.archive, try ResidentExperts(archive: f.archive))
        for depth in [1, 2, 3, 8] {
            let exact = try ExactExperts(archive: f.archive, slots: 3, options: .init(expertsPerToken: 2))
            let got = try logits(f.archive, exact, prefetchDepth: depth)
            #expect(got.map { $0.map(\.bitPattern) } == reference.map { $0.map(\.bitPattern) }, "depth \(depth)")
            #expect(exact.stats.prefetchLoads > 0)
        }
    }
}
