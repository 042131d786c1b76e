import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
@testable import SwapMoEEngine

@Suite("ImportanceTracker")
struct ImportanceTests {
    @Test("importance is the sum of ‖x‖·p_i·‖E_i‖ over exactly the last W tokens, for any batch sizes")
    func slidingWindow() throws {
        let experts = 5, window = 7
        let norms: [[Double]] = [[1, 2, 0.5, 3, 1.5], [1, 1, 1, 1, 1]]
        let t = try ImportanceTracker(norms: norms, window: window)
        var rng = SeededRandom(3)
        var history: [(norm: Float, p: [Float])] = []
        for batch in [1, 3, 2, 12, 1, 1, 5, 30, 4, 1, 9] {
            var n: [Float] = [], p: [Float] = []
            for _ in 0..<batch {
                let x = Float.random(in: 0.1...4, using: &rng)
                var row = (0..<experts).map { _ in Float.random(in: 0...1, using: &rng) }
                let s = row.reduce(0, +); row = row.map { $0 / s }
                n.append(x); p += row; history.append((x, row))
            }
            n.withUnsafeBufferPointer { nb in p.withUnsafeBufferPointer { pb in
                t.observe(layerIndex: 0, tokens: batch, inputNorms: nb.baseAddress!, probabilities: pb.baseAddress!)
            } }
            let got = t.importance(layerIndex: 0)
            for i in 0..<experts {
                let want = history.suffix(window).reduce(0.0) { $0 + Double($1.norm * $1.p[i]) } * norms[0][i]
                #expect(abs(got[i] - want) <= 1e-4 * max(1, want), "expert \(i): \(got[i]) vs \(want)")
            }
        }
        #expect(t.importance(layerIndex: 1) == [0, 0, 0, 0, 0], "layers are independent")
        #expect(t.observedTokens(layerIndex: 0) == history.count)
        #expect(t.memoryBytes == 2 * (window * experts * 4 + experts * 16))
        #expect(throws: EngineError.self) { try ImportanceTracker(norms: norms, window: 0) }
    }
}

/// Feeds one token's routing for `layer` with the given probabilities.
func observe(_ p: SwapExperts, layer: Int, probs: [Float], norm: Float = 1) {
    _ = p.allowedExperts(MoELayer(layer: layer), router: RouterOutput(rows: probs, experts: probs.count, norms: [norm]))
}

/// A probability row favouring `hot` experts.
func routing(_ experts: Int, hot: [Int], weight: Float = 0.8) -> [Float] {
    var p = [Float](repeating: (1 - weight) / Float(experts), count: experts)
    for h in hot { p[h] += weight / Float(hot.count) }
    return p
}

@Suite("SwapExperts")
struct SwapExpertsTests {
    @Test("warm-up loads the k_l experts of largest norm and fills the spare slots with lingering experts; masks name exactly the serving experts")
    func warmUp() throws {
        let f = try Fixture(.lz4)
        let p = try SwapExperts(archive: f.archive, residents: [0: 3, 1: 5], options: .init(spareSlots: 2))
        #expect(p.slotCount == 10)
        // Both spares go to layer 0 (it serves the fewest): its next two experts by norm.
        for (l, k, extra) in [(0, 3, 2), (1, 5, 0)] {
            let norms = (0..<8).map { f.entry(ExpertKey(layer: l, expert: $0)).norm }
            let order = (0..<8).sorted { (norms[$0], -$0) > (norms[$1], -$1) }
            #expect(p.residentSet(layer: l) == order.prefix(k).sorted())
            #expect(p.lingeringSet(layer: l) == order.dropFirst(k).prefix(extra).sorted())
            let serving = order.prefix(k + extra).sorted()
            let mask = try #require(p.allowedExperts(layer: l))
            #expect(mask.indices.filter { mask[$0] } == serving)
            for e in serving {
                let key = ExpertKey(layer: l, expert: e)
                let w = try p.acquire(key)
                #expect(f.matches(w, key))
                p.release(key)
            }
            #expect(throws: EngineError.self) { try p.acquire(ExpertKey(layer: l, expert: order[k + extra])) }
        }
        #expect(p.allowedExperts(layer: 5) == nil)
        #expect(p.invariantViolations() == [])
        #expect(p.stats.loads == 10 && p.stats.stallSeconds == 0 && p.stats.swaps == 0)
    }

    @Test("a swap reclaims the least important lingering expert at its layer's safe point, loads the newcomer into its slot while everything else serves, and the newcomer serves from the next safe point")
    func swapsIn() throws {
        let f = try Fixture(.raw)
        let p = try SwapExperts(archive: f.archive, residents: [0: 3, 1: 3],
                                options: .init(spareSlots: 1, swapInterval: 1_000_000, window: 16, initialResidents: .explicit([0: [0, 1, 2], 1: [0, 1, 2]])))
        let lingering = try #require(p.lingeringSet(layer: 0).first, "the one spare slot goes to layer 0")
        #expect(lingering != 7)
        func serving(_ l: Int) throws -> [Int] { let m = try #require(p.allowedExperts(layer: l)); return m.indices.filter { m[$0] } }
        // Experts 0, 1 and 7 are busy, 2 less so, the rest are barely routed: 7 should take the lingering slot.
        var probs = [Float](repeating: 0.004, count: 8)
        for h in [0, 1, 7] { probs[h] = 0.3 }
        probs[2] = 0.08
        for _ in 0..<16 { observe(p, layer: 0, probs: probs) }
        p.loader.pause()
        defer { p.loader.resume() }
        p.requestSwapRound()
        p.waitUntilSwapperIdle()
        #expect(p.loader.queuedCount == 0, "no slot is empty: the round only reclaims")
        #expect(p.lingeringSet(layer: 0) == [lingering], "the reclaim waits for the layer's safe point")
        #expect(try serving(0) == [0, 1, 2], "at the safe point the reclaim applies; the slot is empty")
        #expect(eventually { p.loader.queuedCount == 1 }, "the emptied slot starts the next round, which loads 7 into it")
        #expect(try serving(0) == [0, 1, 2], "everything else serves while the newcomer loads")
        let w2 = try p.acquire(ExpertKey(layer: 0, expert: 2))
        #expect(f.matches(w2, ExpertKey(layer: 0, expert: 2)))
        p.release(ExpertKey(layer: 0, expert: 2))
        p.loader.resume()
        p.waitUntilSwapperIdle()
        #expect(p.pendingSwaps == 1)
        #expect(p.residentSet(layer: 0) == [0, 1, 2] && p.lingeringSet(layer: 0) == [], "no change before the safe point")
        #expect(try serving(0) == [0, 1, 2, 7])
        #expect(p.residentSet(layer: 0) == [0, 1, 7] && p.lingeringSet(layer: 0) == [2],
                "the newcomer takes the least important Virtual Expert's role; that one keeps serving")
        let key = ExpertKey(layer: 0, expert: 7)
        let w = try p.acquire(key)
        #expect(f.matches(w, key))
        p.release(key)
        // Now 2 is busy and 0 is not: a round trades their roles, with no I/O.
        let loads = p.stats.loads
        probs[2] = 0.3
        probs[0] = 0.004
        for _ in 0..<16 { observe(p, layer: 0, probs: probs) }
        p.requestSwapRound()
        p.waitUntilSwapperIdle()
        #expect(p.residentSet(layer: 0) == [1, 2, 7] && p.lingeringSet(layer: 0) == [0])
        #expect(try serving(0) == [0, 1, 2, 7] && p.stats.loads == loads, "a promotion needs no I/O")
        #expect(p.residentSet(layer: 1) == [0, 1, 2] && p.lingeringSet(layer: 1) == [], "other layers untouched")
        #expect(p.stats.swaps == 1 && p.stats.reclaimed == 1 && p.stats.stallSeconds == 0)
        #expect(p.invariantViolations() == [])
    }

    @Test("a swap whose block is corrupt is dropped: what serves keeps serving, the newcomer is not retried")
    func failedSwap() throws {
        let f = try Fixture(.raw)
        // Corrupt layer 0's smallest-norm expert, never among those warm-up loads.
        let bad = (2..<8).min { f.entry(ExpertKey(layer: 0, expert: $0)).norm < f.entry(ExpertKey(layer: 0, expert: $1)).norm }!
        let p = try SwapExperts(archive: try f.corruptedCopy(ExpertKey(layer: 0, expert: bad), at: 1), residents: [0: 2, 1: 2],
                                options: .init(spareSlots: 1, swapInterval: 1, window: 8, initialResidents: .lowestIndex))
        for _ in 0..<40 {
            observe(p, layer: 0, probs: routing(8, hot: [0, bad], weight: 1))
            p.waitUntilSwapperIdle()
            _ = p.allowedExperts(layer: 0)
        }
        #expect(p.stats.failedSwaps == 1)
        #expect(p.residentSet(layer: 0) == [0, 1] && p.stats.swaps == 0)
        #expect(p.invariantViolations() == [])
    }

    @Test("a corrupt initial resident fails construction with the block named")
    func failedWarmUp() throws {
        let f = try Fixture(.raw)
        let bad = try f.corruptedCopy(ExpertKey(layer: 1, expert: 0), at: 1)
        #expect { try SwapExperts(archive: bad, residentsPerLayer: 2, options: .init(initialResidents: .lowestIndex)) } throws: {
            "\($0)".contains("layer 1, expert 0")
        }
    }

    @Test("first routing: nothing loads in init; a layer's first safe point loads the experts its tokens route to most (a corrupt one is skipped), and the decoder waits for them as warm-up, not stall")
    func firstRouting() throws {
        let f = try Fixture(.lz4)
        let p = try SwapExperts(archive: try f.corruptedCopy(ExpertKey(layer: 0, expert: 6), at: 1), residents: [0: 3, 1: 3],
                                options: .init(spareSlots: 2, initialResidents: .firstRouting))
        #expect(p.stats.loads == 0 && p.residentSet(layer: 0) == [] && p.invariantViolations() == [])
        #expect(throws: EngineError.self) { try p.acquire(ExpertKey(layer: 0, expert: 0)) }
        var probs = [Float](repeating: 0.01, count: 8)
        for (e, w) in [(5, 0.3), (6, 0.25), (7, 0.2), (1, 0.1), (2, 0.08)] as [(Int, Float)] { probs[e] = w }
        observe(p, layer: 0, probs: probs)
        // One spare slot each (layer 0 first, as it serves fewest; then layer 1): 4 experts per layer.
        // 6 is corrupt: the next in importance order takes its place.
        #expect(p.residentSet(layer: 0) == [1, 5, 7] && p.lingeringSet(layer: 0) == [2])
        let mask = try #require(p.allowedExperts(layer: 0))
        #expect(mask.indices.filter { mask[$0] } == [1, 2, 5, 7])
        for e in [1, 2, 5, 7] {
            let w = try p.acquire(ExpertKey(layer: 0, expert: e))
            #expect(f.matches(w, ExpertKey(layer: 0, expert: e)))
            p.release(ExpertKey(layer: 0, expert: e))
        }
        #expect(p.residentSet(layer: 1) == [], "layer 1 has not been reached")
        // A layer whose mask is asked for before any routing is seen falls back to ‖E_i‖.
        let norms = (0..<8).map { f.entry(ExpertKey(layer: 1, expert: $0)).norm }
        let byNorm = (0..<8).sorted { (norms[$0], -$0) > (norms[$1], -$1) }
        let mask1 = try #require(p.allowedExperts(layer: 1))
        #expect(mask1.indices.filter { mask1[$0] } == byNorm.prefix(4).sorted())
        #expect(p.residentSet(layer: 1) == byNorm.prefix(3).sorted())
        let s = p.stats
        #expect(s.loads == 8 && s.failedSwaps == 1 && s.stallSeconds == 0 && s.warmupSeconds > 0)
        #expect(p.invariantViolations() == [])
    }

    @Test("invalid configurations are refused")
    func invalid() throws {
        let f = try Fixture(.raw)
        #expect(throws: EngineError.self) { try SwapExperts(archive: f.archive, residents: [0: 2]) }
        #expect(throws: EngineError.self) { try SwapExperts(archive: f.archive, residentsPerLayer: 9) }
        #expect(throws: EngineError.self) { try SwapExperts(archive: f.archive, residentsPerLayer: 0) }
        #expect(throws: EngineError.self) { try SwapExperts(archive: f.archive, residentsPerLayer: 2, options: .init(swapInterval: 0)) }
        #expect(throws: EngineError.self) {
            try SwapExperts(archive: f.archive, residentsPerLayer: 2, options: .init(initialResidents: .explicit([0: [1, 1], 1: [0, 1]])))
        }
    }

    @Test("memoryBytes is the arena, loader buffers and importance window, known before construction")
    func memory() throws {
        let f = try Fixture(.lz4)
        let opts = SwapExperts.Options(spareSlots: 3, window: 32)
        let p = try SwapExperts(archive: f.archive, residents: [0: 2, 1: 4], options: opts)
        #expect(p.memoryBytes == 9 * Arena.slotSize(for: f.archive) + p.loader.memoryOverhead + ImportanceTracker.memoryBytes(layers: 2, experts: 8, window: 32))
        #expect(p.memoryBytes == SwapExperts.plannedBytes(archive: f.archive, residents: [0: 2, 1: 4], options: opts))
    }

    @Test("with every expert resident the decoder's logits are bit-identical to ResidentExperts; with fewer it runs and swaps")
    func decoder() throws {
        let f = try Fixture(.lz4)
        let reference = try DecoderEndToEndTests().logits(f.archive, try ResidentExperts(archive: f.archive))
        let all = try SwapExperts(archive: f.archive, residentsPerLayer: 8, options: .init(swapInterval: 1))
        let got = try DecoderEndToEndTests().logits(f.archive, all)
        #expect(got.map { $0.map(\.bitPattern) } == reference.map { $0.map(\.bitPattern) })
        #expect(all.stats.swaps == 0)

        let few = try SwapExperts(archive: f.archive, residentsPerLayer: 3, options: .init(spareSlots: 2, swapInterval: 1, window: 4))
        let model = try DecoderModel(archive: f.archive, experts: few, context: 128, threads: 1, batch: 4)
        var rng = SeededRandom(11)
        for _ in 0..<100 {
            let logits = try model.forward([Int.random(in: 0..<64, using: &rng)])
            #expect(logits.allSatisfy { $0.isFinite })
            few.waitUntilSwapperIdle()
        }
        #expect(few.stats.swaps > 0, "routing of random tokens should move at least one virtual expert")
        #expect(few.stats.stallSeconds == 0)
        #expect(few.invariantViolations() == [])
    }
}
