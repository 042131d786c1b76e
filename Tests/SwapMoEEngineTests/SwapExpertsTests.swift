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
    var n = norm
    probs.withUnsafeBufferPointer { p.observeRouting(layer: layer, tokens: 1, inputNorms: &n, probabilities: $0.baseAddress!, experts: probs.count) }
}

/// A probability row favouring `hot` experts.
func routing(_ experts: Int, hot: [Int], weight: Float = 0.8) -> [Float] {
    var p = [Float](repeating: (1 - weight) / Float(experts), count: experts)
    for h in hot { p[h] += weight / Float(hot.count) }
    return p
}

@Suite("SwapExperts")
struct SwapExpertsTests {
    @Test("warm-up loads the k_l experts of largest norm; masks name exactly the ready residents")
    func warmUp() throws {
        let f = try Fixture(.lz4)
        let p = try SwapExperts(archive: f.archive, residents: [0: 3, 1: 5], options: .init(spareSlots: 2))
        #expect(p.slotCount == 10)
        for (l, k) in [(0, 3), (1, 5)] {
            let norms = (0..<8).map { f.entry(ExpertKey(layer: l, expert: $0)).norm }
            let want = (0..<8).sorted { (norms[$0], -$0) > (norms[$1], -$1) }.prefix(k).sorted()
            #expect(p.residentSet(layer: l) == Array(want))
            let mask = try #require(p.allowedExperts(layer: l))
            #expect(mask.indices.filter { mask[$0] } == Array(want))
            for e in want {
                let key = ExpertKey(layer: l, expert: e)
                let w = try p.acquire(key)
                #expect(f.matches(w, key))
                p.release(key)
            }
        }
        #expect(p.allowedExperts(layer: 5) == nil)
        #expect(p.invariantViolations() == [])
        #expect(p.stats.loads == 8 && p.stats.stallSeconds == 0 && p.stats.swaps == 0)
        #expect(throws: EngineError.self) { try p.acquire(ExpertKey(layer: 0, expert: (0..<8).first { !p.residentSet(layer: 0).contains($0) }!)) }
    }

    @Test("an expert that becomes important is swapped in at the layer's next safe point; the old one serves until then")
    func swapsIn() throws {
        let f = try Fixture(.raw)
        let p = try SwapExperts(archive: f.archive, residents: [0: 3, 1: 3],
                                options: .init(spareSlots: 1, swapInterval: 1_000_000, window: 16, initialResidents: .lowestIndex))
        // Experts 0 and 1 stay busy, 2 is never routed, 7 is hot: 7 should replace 2.
        for _ in 0..<16 { observe(p, layer: 0, probs: routing(8, hot: [0, 1, 7])) }
        p.loader.pause()
        p.requestSwapRound()
        #expect(eventually { p.loader.queuedCount == 1 })
        #expect(p.residentSet(layer: 0) == [0, 1, 2], "the old expert keeps serving while the new one loads")
        let w2 = try p.acquire(ExpertKey(layer: 0, expert: 2))
        #expect(f.matches(w2, ExpertKey(layer: 0, expert: 2)))
        p.release(ExpertKey(layer: 0, expert: 2))
        p.loader.resume()
        p.waitUntilSwapperIdle()
        #expect(p.pendingSwaps == 1)
        #expect(p.residentSet(layer: 0) == [0, 1, 2], "no flip before the safe point")
        let mask = try #require(p.allowedExperts(layer: 0))
        #expect(mask == [true, true, false, false, false, false, false, true])
        #expect(p.residentSet(layer: 0) == [0, 1, 7])
        let key = ExpertKey(layer: 0, expert: 7)
        let w = try p.acquire(key)
        #expect(f.matches(w, key))
        p.release(key)
        #expect(p.residentSet(layer: 1) == [0, 1, 2], "other layers untouched")
        #expect(p.stats.swaps == 1 && p.stats.stallSeconds == 0)
        #expect(p.invariantViolations() == [])
    }

    @Test("a swap whose block is corrupt is dropped: the old expert stays, the newcomer is not retried")
    func failedSwap() throws {
        let f = try Fixture(.raw)
        let bad = f.dir + "/bad.swm"
        var data = try Data(contentsOf: URL(fileURLWithPath: f.archive.path))
        data[f.entry(ExpertKey(layer: 0, expert: 7)).offset + 1] ^= 1
        try data.write(to: URL(fileURLWithPath: bad))
        let p = try SwapExperts(archive: try Archive(path: bad), residents: [0: 2, 1: 2],
                                options: .init(spareSlots: 1, swapInterval: 1, window: 8, initialResidents: .lowestIndex))
        for _ in 0..<40 {
            observe(p, layer: 0, probs: routing(8, hot: [0, 7], weight: 1))
            p.waitUntilSwapperIdle()
            _ = p.allowedExperts(layer: 0)
        }
        #expect(p.stats.failedSwaps == 1)
        #expect(p.residentSet(layer: 0) == [0, 1])
        #expect(p.invariantViolations() == [])
    }

    @Test("a corrupt initial resident fails construction with the block named")
    func failedWarmUp() throws {
        let f = try Fixture(.raw)
        let bad = f.dir + "/bad.swm"
        var data = try Data(contentsOf: URL(fileURLWithPath: f.archive.path))
        data[f.entry(ExpertKey(layer: 1, expert: 0)).offset + 1] ^= 1
        try data.write(to: URL(fileURLWithPath: bad))
        #expect { try SwapExperts(archive: try Archive(path: bad), residentsPerLayer: 2, options: .init(initialResidents: .lowestIndex)) } throws: {
            "\($0)".contains("layer 1, expert 0")
        }
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
