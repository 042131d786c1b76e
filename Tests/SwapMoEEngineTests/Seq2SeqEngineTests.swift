import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
@testable import SwapMoEEngine

/// The engine on the encoder-decoder (Switch Transformers) fixtures: experts of two stacks whose layer numbers
/// overlap, planned and served under a cap.
@Suite("Engine on encoder-decoder models", .serialized)
struct Seq2SeqEngineTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            let inputIds: [Int]
            let decoderInputIds: [Int]
            let greedyIds: [Int]
            enum CodingKeys: String, CodingKey { case inputIds = "input_ids", decoderInputIds = "decoder_input_ids", greedyIds = "greedy_ids" }
        }
        let cases: [Case]
    }

    /// Packs a fixture (LZ4 + shuffle, so loads decode) and returns its archive and golden cases.
    static func packed(_ folder: String, _ dir: String) throws -> (Archive, [Golden.Case]) {
        packLock.lock()
        defer { packLock.unlock() }
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm", compress: .lz4, shuffle: true))
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json")))
        return (try Archive(path: dir + "/m.swm"), golden.cases)
    }

    static func model(_ archive: Archive, _ experts: ExpertProvider) throws -> Seq2SeqModel {
        try Seq2SeqModel(archive: archive, experts: experts, maxSource: 128, maxTarget: 32, threads: 1)
    }

    @Test("the planner keeps encoder and decoder layers apart: per-stack residents and spare slots")
    func planner() throws {
        let folder = try #require(TestPaths.seq2seqFixtures.first { $0.hasSuffix("switch_odd") })
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let (archive, _) = try Self.packed(folder, dir)
        let planner = Planner(archive: archive, runtime: 1 << 20, baseline: 8 << 20, margin: 1 << 20, spareSlots: 1)
        // switch_odd: encoder layers 0, 1, 2 and decoder layer 1 are MoE, 8 experts each (layer 1 twice, by stack).
        #expect(planner.moeLayers == [MoELayer(stack: .encoder, layer: 0), MoELayer(stack: .encoder, layer: 1),
                                      MoELayer(stack: .encoder, layer: 2), MoELayer(stack: .decoder, layer: 1)])
        #expect(planner.totalExperts == 32 && planner.expertsPerLayer == 8)
        #expect(planner.minimumSlots(.swap) == 4 * 1 + 2 * 1, "top-1 in 4 layers + one spare per stack")
        let fixed = planner.baseline + planner.dense + planner.runtime + planner.providerBytes(.swap, ioThreads: 1) + planner.margin
        let p = try planner.plan(cap: fixed + 14 * planner.slotSize, policy: .swap, ioThreads: 1)
        #expect(p.stacks == [.encoder, .decoder] && p.spareSlots == 1 && p.totalSpareSlots == 2)
        #expect(p.perLayer == [3, 3, 3, 3] && p.slots == 14)
        #expect(p.residents(stack: .encoder) == [0: 3, 1: 3, 2: 3] && p.residents(stack: .decoder) == [1: 3])
        #expect(p.total <= p.cap)
        // With room, a quarter of the arena is spare slots (they keep serving while no swap needs them).
        let roomy = try planner.plan(cap: fixed + 30 * planner.slotSize, policy: .swap, ioThreads: 1)
        #expect(roomy.spareSlots == 3 && roomy.perLayer == [6, 6, 6, 6] && roomy.slots == 30)
        #expect(planner.providerBytes(.swap, ioThreads: 1) > planner.providerBytes(.exact, ioThreads: 1), "one swap provider per stack")
        #expect(throws: PlanError.self) { try planner.plan(cap: fixed + 5 * planner.slotSize, policy: .swap, ioThreads: 1) }
    }

    @Test("exact policy under a cap gives the resident logits bit for bit and the same greedy ids, with or without next-block hints",
          arguments: TestPaths.seq2seqFixtures, [0, 1])
    func exactUnderCap(folder: String, prefetchDepth: Int) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let (archive, cases) = try Self.packed(folder, dir)
        let resident = try Self.model(archive, try ResidentExperts(archive: archive))
        // Two slots: far fewer than the experts of one layer, so both stacks keep evicting each other's experts.
        let exact = try ExactExperts(archive: archive, slots: 2, options: .init(loader: .init(ioThreads: 1), expertsPerToken: 1))
        let capped = try Self.model(archive, exact)
        capped.prefetchDepth = prefetchDepth
        for cs in cases {
            try resident.encode(cs.inputIds)
            try capped.encode(cs.inputIds)
            #expect(capped.encoderOutput == resident.encoderOutput)
            let a = try capped.decode(cs.decoderInputIds, logits: .all), b = try resident.decode(cs.decoderInputIds, logits: .all)
            #expect(a == b)
            let eos = Set(capped.config.eosTokenIds)
            #expect(try capped.generate(cs.inputIds, maxNewTokens: 10, eos: eos) == cs.greedyIds)
        }
        let st = exact.stats
        #expect(st.misses > 0 && st.evictions > 0 && st.failures == 0)
        if prefetchDepth > 0 { #expect(st.prefetchLoads > 0) }
        let stacks = Set(exact.residentKeys.compactMap { k in k.map(\.stack) })
        #expect(stacks.isSubset(of: [.encoder, .decoder]))
        #expect(exact.invariantViolations().isEmpty)
    }

    @Test("swap policy: one SwapExperts per stack behind StackedExperts; all resident equals resident, fewer routes only to residents",
          arguments: TestPaths.seq2seqFixtures)
    func swapPerStack(folder: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let (archive, cases) = try Self.packed(folder, dir)
        let resident = try Self.model(archive, try ResidentExperts(archive: archive))
        func stacked(k: Int, spares: Int) throws -> (StackedExperts, [SwapExperts]) {
            var providers: [ExpertStack: ExpertProvider] = [:]
            var swaps: [SwapExperts] = []
            for st in archive.manifest.model.stacks where !st.moeLayers.isEmpty {
                let s = try SwapExperts(archive: archive, residentsPerLayer: min(k, st.expertsPerLayer),
                                        options: .init(stack: st.name, spareSlots: spares, swapInterval: 2, window: 8, loader: .init(ioThreads: 1)))
                providers[st.name] = s
                swaps.append(s)
            }
            return (StackedExperts(providers), swaps)
        }
        let (all, _) = try stacked(k: 64, spares: 0)
        let full = try Self.model(archive, all)
        let (few, swaps) = try stacked(k: 2, spares: 1)
        let capped = try Self.model(archive, few)
        for cs in cases {
            try resident.encode(cs.inputIds)
            try full.encode(cs.inputIds)
            #expect(full.encoderOutput == resident.encoderOutput)
            #expect(try full.generate(cs.inputIds, maxNewTokens: 10, eos: []) == resident.generate(cs.inputIds, maxNewTokens: 10, eos: []))
            // With 2 Virtual Experts per layer, routing is masked to them: acquiring never fails.
            let ids = try capped.generate(cs.inputIds, maxNewTokens: 10, eos: [])
            #expect(ids.count == 10)
        }
        for s in swaps {
            s.waitUntilSwapperIdle()
            #expect(s.invariantViolations().isEmpty)
            #expect(s.stats.routedChoices > 0, "\(s.options.stack) saw routing")
            for l in s.layers { #expect(s.residentSet(layer: l).count == 2) }
        }
        // A stack without a provider: its layers are refused.
        let encoderOnly = StackedExperts([.encoder: swaps[0]])
        #expect(throws: EngineError.self) {
            try encoderOnly.withLayer(MoELayer(layer: 1), router: RouterOutput(rows: [1, 0], experts: 2), route: { _ in Routing(experts: 2) },
                                      predict: { [] }, serve: { _ in })
        }
    }
}
