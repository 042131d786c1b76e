import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
@testable import SwapMoEEngine

/// Serves the experts of `full` in `chosen` from `full` and every other from `low`, without masking: the shadow
/// policy's output computed from two resident archives, with none of its code.
private final class TwoArchives: ExpertProvider, Sendable {
    let full: ResidentExperts, low: ResidentExperts, chosen: [Int: Set<Int>]
    init(full: ResidentExperts, low: ResidentExperts, chosen: [Int: Set<Int>]) { self.full = full; self.low = low; self.chosen = chosen }

    func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                   predict: () -> [MoELayerPrediction],
                   serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        let routing = try route(nil)
        try routing.serveEach(layer, acquire: { key in
            try (chosen[key.layer]?.contains(key.expert) == true ? full : low).acquire(key)
        }, release: { _ in }, serve: serve)
        return routing
    }
}

@Suite("Shadow experts")
struct ShadowExpertsTests {
    /// One synthetic Mixtral packed as bf16 and with its experts as `types` (`intermediate` 256: every row whole
    /// K-quant blocks; 96: `down`'s rows take the 32-weight fallback).
    static func packed(_ dir: String, types: [DType], intermediate: Int = 256) throws -> (bf16: Archive, quantized: [DType: Archive]) {
        try CheckpointMaker.mixtral(hidden: 256, intermediate: intermediate, layers: 2, experts: 8, vocab: 96).write(to: dir + "/ckpt")
        packLock.lock()
        defer { packLock.unlock() }
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/bf16.swm"))
        var q: [DType: Archive] = [:]
        for t in types {
            _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/\(t.rawValue).swm", quant: QuantSpec(experts: t)))
            q[t] = try Archive(path: dir + "/\(t.rawValue).swm")
        }
        return (try Archive(path: dir + "/bf16.swm"), q)
    }

    static let ids = [5, 17, 42, 9, 71, 3, 88, 31, 8, 64, 12, 50]

    static func logits(_ archive: Archive, _ experts: ExpertProvider) throws -> [UInt32] {
        try DecoderModel(archive: archive, experts: experts, context: 32, threads: 1).forward(ids, logits: .all).map(\.bitPattern)
    }

    @Test("shadows alone are the model packed with its experts at the shadows' type, bit for bit (the same quantizers, the same kernels)",
          arguments: [(DType.q8_0, 256), (.q4_0, 256), (.q4_K, 256), (.q2_K, 256), (.q4_K, 96), (.q6_K, 96)])
    func shadowsAreThePackersBlocks(type: DType, intermediate: Int) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let (bf16, q) = try Self.packed(dir, types: [type], intermediate: intermediate)
        let shadows = try ShadowStore(archive: bf16, stack: .decoder, type: type, threads: 2)
        #expect(shadows.bytes == ShadowStore.plannedBytes(archive: bf16, stack: .decoder, type: type))
        #expect(shadows.bytes < bf16.experts.reduce(0) { $0 + $1.rawLength })
        let a = try Self.logits(bf16, try ShadowExperts(swap: nil, shadows: shadows))
        let b = try Self.logits(q[type]!, try ResidentExperts(archive: q[type]!))
        #expect(a == b)
    }

    @Test("every expert serving: the resident model, bit for bit; some serving: those at full precision and the rest by their shadows, nothing masked")
    func mixed() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let (bf16, q) = try Self.packed(dir, types: [.q4_K])
        let shadows = try ShadowStore(archive: bf16, stack: .decoder, type: .q4_K, threads: 1)
        let resident = try Self.logits(bf16, try ResidentExperts(archive: bf16))
        let all = try SwapExperts(archive: bf16, residentsPerLayer: 8, options: .init(spareSlots: 0))
        #expect(try Self.logits(bf16, try ShadowExperts(swap: all, shadows: shadows)) == resident)

        let chosen = [0: [1, 6], 1: [0, 3, 5]]
        let swap = try SwapExperts(archive: bf16, residents: chosen.mapValues(\.count), options: .init(spareSlots: 0, initialResidents: .explicit(chosen)))
        let provider = try ShadowExperts(swap: swap, shadows: shadows)
        let got = try Self.logits(bf16, provider)
        let reference = try Self.logits(bf16, TwoArchives(full: try ResidentExperts(archive: bf16), low: try ResidentExperts(archive: q[.q4_K]!),
                                                          chosen: chosen.mapValues(Set.init)))
        #expect(got == reference)
        #expect(got != resident)
        let quantized = try Self.logits(q[.q4_K]!, try ResidentExperts(archive: q[.q4_K]!))
        #expect(got != quantized)
        // Every routed choice was served: the ones among the Virtual Experts counted as resident, the rest by shadows.
        let st = swap.stats
        #expect(st.routedChoices == 2 * Self.ids.count * 2 && st.routedResident > 0 && st.routedResident < st.routedChoices)
        #expect(throws: EngineError.self) {
            try ShadowExperts(swap: try SwapExperts(archive: bf16, residentsPerLayer: 1, options: .init(stack: .decoder)),
                              shadows: try ShadowStore(archive: bf16, stack: .encoder, type: .q4_K))
        }
    }

    @Test("the planner: shadows come out of swap's cap, the arena gets the rest (none when swap's minimum does not fit beside them), the error names the shadows")
    func planner() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let (bf16, _) = try Self.packed(dir, types: [])
        var planner = Planner(archive: bf16, runtime: 1 << 20, baseline: 8 << 20, margin: 1 << 20, spareSlots: 1)
        planner.useShadows(.q4_K, archive: bf16, threads: 1)
        #expect(planner.shadowBytes == ShadowStore.plannedBytes(archive: bf16, stack: .decoder, type: .q4_K))
        let half = planner.cap(expertShare: 0.75, policy: .shadow, ioThreads: 1)
        #expect(half == planner.cap(expertShare: 0.75, policy: .swap, ioThreads: 1))
        let p = try planner.plan(cap: half, policy: .shadow, ioThreads: 1)
        #expect(p.shadowType == .q4_K && p.shadows == planner.shadowBytes && p.total <= half)
        let swapSlots = try planner.plan(cap: half, policy: .swap, ioThreads: 1).slots
        #expect(p.slots > 0 && p.slots < swapSlots)
        let fixed = p.total - p.arena
        let bare = try planner.plan(cap: fixed + planner.slotSize, policy: .shadow, ioThreads: 1)
        #expect(bare.slots == 0 && bare.perLayer == [0, 0])
        #expect(throws: PlanError.capTooSmall(cap: fixed - 1, minimum: fixed, policy: .shadow)) {
            try planner.plan(cap: fixed - 1, policy: .shadow, ioThreads: 1)
        }
        #expect(PlanError.capTooSmall(cap: 1, minimum: 2, policy: .shadow).description.contains("shadow"))
    }
}
