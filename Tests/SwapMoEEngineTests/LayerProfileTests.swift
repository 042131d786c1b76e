import Foundation
import Testing
import SwapMoEArchive
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
@testable import SwapMoEEngine

@Suite("Layer profile: SwapMoE's per-layer budgets from measured sensitivities")
struct LayerProfileTests {
    static func layers(_ n: Int) -> [MoELayer] { (0..<n).map { MoELayer(layer: $0) } }

    static func profile(_ costs: [[Double]], budgets: [Int], experts: Int) -> LayerProfile {
        LayerProfile(text: "t.txt", tokens: 10, expertsPerLayer: experts,
                     layers: costs.enumerated().map { .init(layer: $0.offset, budgets: budgets, cost: $0.element) })
    }

    @Test("costs: measured values at measured budgets, linear in between and up to 0 with every expert, the first segment continued below the smallest budget")
    func interpolation() {
        let l = LayerProfile.Layer(layer: 0, budgets: [2, 4], cost: [1.0, 0.5])
        #expect(l.cost(keeping: 2, of: 8) == 1 && l.cost(keeping: 4, of: 8) == 0.5)
        #expect(l.cost(keeping: 3, of: 8) == 0.75 && l.cost(keeping: 6, of: 8) == 0.25)
        #expect(l.cost(keeping: 1, of: 8) == 1.25 && l.cost(keeping: 8, of: 8) == 0 && l.cost(keeping: 9, of: 8) == 0)
        // A rising first segment (noise) is not continued downwards: fewer experts never cost less.
        #expect(LayerProfile.Layer(layer: 0, budgets: [2, 3], cost: [0.1, 0.2]).cost(keeping: 1, of: 8) == 0.1)
    }

    @Test("the split minimises the summed cost (checked against every split of small random profiles), keeps every layer within top-k...E and spends the total")
    func optimal() throws {
        var rng = SplitMix64(state: 7)
        for _ in 0..<40 {
            let count = Int.random(in: 2...4, using: &rng), experts = Int.random(in: 4...6, using: &rng), k = Int.random(in: 1...2, using: &rng)
            let budgets = Array(k..<experts)
            let costs: [[Double]] = (0..<count).map { _ in budgets.map { _ in Double.random(in: 0.0...1.0, using: &rng) }.sorted(by: >) }
            let p = Self.profile(costs, budgets: budgets, experts: experts)
            let total = Int.random(in: (k * count)...(experts * count), using: &rng)
            let split = try #require(p.allocate(total: total, moeLayers: Self.layers(count), minimum: k, experts: experts))
            #expect(split.reduce(0, +) == total && split.allSatisfy { (k...experts).contains($0) })
            func cost(_ s: [Int]) -> Double { zip(p.layers, s).reduce(0) { $0 + $1.0.cost(keeping: $1.1, of: experts) } }
            // Brute force over every split.
            var best = Double.infinity
            func search(_ i: Int, _ left: Int, _ acc: [Int]) {
                if i == count { if left == 0 { best = min(best, cost(acc)) }; return }
                for n in k...experts where n <= left { search(i + 1, left - n, acc + [n]) }
            }
            search(0, total, [])
            #expect(abs(cost(split) - best) < 1e-9, "split \(split) costs \(cost(split)), best \(best)")
        }
    }

    @Test("a sensitive layer gets more experts; equal profiles split uniformly; totals outside the bounds are clamped")
    func shapes() throws {
        let experts = 8
        let steep = [0.6, 0.2, 0.01, 0.004, 0.002, 0.0], flat = [0.01, 0.004, 0.0003, 0.0001, 0.0, 0.0]
        let p = Self.profile([steep, flat, flat], budgets: Array(2..<8), experts: experts)
        let split = try #require(p.allocate(total: 12, moeLayers: Self.layers(3), minimum: 2, experts: experts))
        #expect(split[0] >= 4 && split.reduce(0, +) == 12, "\(split)")
        let same = Self.profile([flat, flat, flat], budgets: Array(2..<8), experts: experts)
        #expect(same.allocate(total: 12, moeLayers: Self.layers(3), minimum: 2, experts: experts) == [4, 4, 4])
        #expect(same.allocate(total: 1, moeLayers: Self.layers(3), minimum: 2, experts: experts) == [2, 2, 2])
        #expect(same.allocate(total: 99, moeLayers: Self.layers(3), minimum: 2, experts: experts) == [8, 8, 8])
    }

    @Test("a profile of another model is named as such: expert count, layers, malformed budgets or costs")
    func problems() throws {
        let p = Self.profile([[0.5, 0.1], [0.4, 0.2]], budgets: [2, 3], experts: 4)
        #expect(p.problem(moeLayers: Self.layers(2), experts: 4) == nil)
        #expect(p.problem(moeLayers: Self.layers(2), experts: 8)?.contains("4 experts per layer") == true)
        #expect(p.problem(moeLayers: Self.layers(3), experts: 4)?.contains("covers MoE layers") == true)
        var bad = p
        bad.layers[1].cost = [.nan, 0.1]
        #expect(bad.problem(moeLayers: Self.layers(2), experts: 4)?.contains("layer 1") == true)
        #expect(bad.allocate(total: 6, moeLayers: Self.layers(2), minimum: 2, experts: 4) == nil)
        bad = p
        bad.layers[0].budgets = [3, 2]
        #expect(bad.problem(moeLayers: Self.layers(2), experts: 4) != nil)
        // JSON keys as written by `swapmoe profile`.
        let json = String(decoding: try JSONEncoder().encode(p), as: UTF8.self)
        #expect(json.contains("\"experts_per_layer\":4") && json.contains("\"stack\":\"decoder\""))
        #expect(try JSONDecoder().decode(LayerProfile.self, from: Data(json.utf8)) == p)
    }

    @Test("the planner splits swap's Virtual Experts by a profile (same slots and spares as uniform), never static's; a profile that does not fit is ignored")
    func planner() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/olmoe", output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        var planner = Planner(archive: archive, runtime: 1 << 20, baseline: 8 << 20, margin: 1 << 20, spareSlots: 1)
        let n = planner.moeLayers.count, e = planner.expertsPerLayer, k = planner.expertsPerToken
        let cap = planner.cap(expertShare: 0.6, policy: .swap, ioThreads: 1)
        let uniform = try planner.plan(cap: cap, policy: .swap, ioThreads: 1)
        #expect(!uniform.profiled)
        // Layer 0 loses much with fewer experts, the others nothing.
        let budgets = Array(k..<e)
        planner.profile = Self.profile((0..<n).map { $0 == 0 ? budgets.map { Double(e - $0) } : budgets.map { _ in 0 } }, budgets: budgets, experts: e)
        let profiled = try planner.plan(cap: cap, policy: .swap, ioThreads: 1)
        // Every slot above the others' top-k goes to layer 0.
        #expect(profiled.profiled && profiled.perLayer[0] == min(e, uniform.perLayer.reduce(0, +) - k * (n - 1)), "\(profiled.perLayer)")
        #expect(profiled.perLayer[0] > uniform.perLayer[0])
        #expect(profiled.slots == uniform.slots && profiled.spareSlots == uniform.spareSlots)
        #expect(profiled.perLayer.reduce(0, +) == uniform.perLayer.reduce(0, +))
        #expect(try planner.plan(cap: cap, policy: .static, ioThreads: 1).perLayer == (try Planner(archive: archive, runtime: 1 << 20, baseline: 8 << 20, margin: 1 << 20, spareSlots: 1).plan(cap: cap, policy: .static, ioThreads: 1)).perLayer)
        planner.profile?.expertsPerLayer = e + 1
        #expect(try planner.plan(cap: cap, policy: .swap, ioThreads: 1).perLayer == uniform.perLayer)
    }
}

@Suite("Fewer Virtual Experts than top-k")
struct BelowTopKTests {
    @Test("a layer holding fewer experts than top-k routes each token to the best of what it holds: static swap with one expert a layer equals the resident model masked to those experts, bit for bit; the planner goes below top-k only when the cap has no room for it")
    func maskedTopK() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/olmoe", output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let layers = archive.manifest.model.stacks[0].moeLayers
        #expect(archive.manifest.model.expertsPerToken == 2 && layers.count == 2)
        let chosen = Dictionary(uniqueKeysWithValues: layers.enumerated().map { ($1, [3 + 2 * $0]) })
        let swap = try SwapExperts(archive: archive, residents: chosen.mapValues { $0.count },
                                   options: .init(spareSlots: 0, initialResidents: .explicit(chosen)))
        let mask = LayerMask(wrapping: try ResidentExperts(archive: archive))
        for (l, experts) in chosen {
            mask.set(MoELayer(layer: l), allowed: (0..<8).map { experts.contains($0) })
        }
        let ids = [5, 17, 42, 99, 7, 250, 31, 8, 64, 12]
        let a = try DecoderModel(archive: archive, experts: swap, context: 32, threads: 1).forward(ids, logits: .all)
        let b = try DecoderModel(archive: archive, experts: mask, context: 32, threads: 1).forward(ids, logits: .all)
        let full = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: 32, threads: 1).forward(ids, logits: .all)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(a != full, "masking to one expert changes the output")
        // The planner: top-k per layer while the arena has room for it, one per layer below that.
        let planner = Planner(archive: archive, runtime: 1 << 20, baseline: 8 << 20, margin: 1 << 20, spareSlots: 1)
        #expect(planner.minimumSlots(.swap) == layers.count + 1 && planner.minimumSlots(.static) == layers.count)
        let fixed = planner.baseline + planner.dense + planner.runtime + planner.providerBytes(.swap, ioThreads: 1) + planner.margin
        #expect(try planner.plan(cap: fixed + 3 * planner.slotSize, policy: .swap, ioThreads: 1).perLayer == [1, 1])
        #expect(try planner.plan(cap: fixed + 5 * planner.slotSize, policy: .swap, ioThreads: 1).perLayer == [2, 2])
        #expect(throws: PlanError.self) { try planner.plan(cap: fixed + 2 * planner.slotSize, policy: .swap, ioThreads: 1) }
    }
}

@Suite("Spearman rank correlation (importance against masking outcomes)")
struct SpearmanTests {
    @Test("perfect, reversed and tied rankings; constant or short inputs give nil")
    func values() throws {
        #expect(LayerProfile.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == 1)
        #expect(LayerProfile.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == -1)
        // Ties take average ranks: ranks (0, 1.5, 1.5, 3) and (0, 2, 1, 3), Pearson 4.5 / sqrt(4.5 * 5).
        #expect(abs(try #require(LayerProfile.spearman([1, 2, 2, 3], [1, 3, 2, 4])) - 0.9486832980505138) < 1e-12)
        #expect(LayerProfile.spearman([1, 1, 1], [1, 2, 3]) == nil && LayerProfile.spearman([1], [2]) == nil)
    }
}
