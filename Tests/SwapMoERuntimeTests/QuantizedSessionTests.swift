import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime
import SwapMoEEngine

/// Archives packed with `--quant` run like float ones: every provider serves the same quantized bytes, so
/// resident, exact under several caps and swap with every expert resident give the same greedy tokens.
@Suite("Quantized archives", .serialized)
struct QuantizedSessionTests {
    /// The Session tests' Mixtral (4 layers x 16 experts, hidden 128, intermediate 256) packed with `quant`.
    static func packed(_ quant: String, compress: PackOptions.Compression = .none) throws -> (dir: String, archive: String, summary: PackSummary) {
        let dir = TestPaths.tempDir()
        var maker = CheckpointMaker.mixtral(hidden: 128, intermediate: 256, layers: 4, experts: 16, vocab: 1536)
        maker.tokenizerFixture = "sentencepiece-small"
        try maker.write(to: dir + "/ckpt")
        let summary = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/m.swm", compress: compress,
                                                  quant: try QuantSpec(parsing: quant)))
        return (dir, dir + "/m.swm", summary)
    }

    static func greedy(_ o: SessionOptions) throws -> [Int] {
        try Session(options: o).generate("Once upon a time", maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
    }

    @Test("q8_0 experts and dense matrices: format 3 (rows interleaved as Q8_0_X8), types recorded, routers and norms in float")
    func recordsTypes() throws {
        let m = try Self.packed("experts=q8_0,dense=q8_0")
        defer { TestPaths.remove(m.dir) }
        let archive = try Archive(path: m.archive)
        #expect(archive.header.major == 3 && archive.manifest.version == 3)
        #expect(archive.manifest.pack.quant == "experts=Q8_0,dense=Q8_0")
        for d in archive.manifest.dense {
            switch TensorRole(name: d.name, shape: d.shape) {
            case .matrix: #expect(d.dtype == .q8_0x8, "\(d.name)")
            default: #expect(!d.dtype.isQuantized, "\(d.name)")
            }
        }
        #expect(archive.manifest.expertLayouts.allSatisfy { $0.tensors.allSatisfy { $0.dtype == .q8_0x8 } })
        #expect(m.summary.quantized[.q8_0] == 4 * 16 * 3 + 4 * 4 && m.summary.keptFloat == 0)
        _ = try archive.modelConfig()
    }

    @Test("an archive without quantized tensors is still format 1")
    func floatStaysV1() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(hidden: 32, intermediate: 32, layers: 1, experts: 2, vocab: 64).write(to: dir + "/ckpt")
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        #expect(archive.header.major == 1 && archive.manifest.version == 1 && archive.manifest.pack.quant == nil)
    }

    @Test("resident, exact under several caps and swap at 100% give the same greedy tokens",
          arguments: ["experts=q8_0,dense=q8_0", "experts=q4_K,dense=q6_K", "experts=q5_K", "q4_0",
                      "experts=q5_0,dense=q4_1,embed=q5_1", "experts=q3_K,dense=mxfp4", "experts=q2_K", "experts=iq4_xs,dense=iq4_nl"])
    func providersAgree(quant: String) throws {
        let m = try Self.packed(quant, compress: .lz4)
        defer { TestPaths.remove(m.dir) }
        var o = SessionOptions(archive: m.archive)
        o.threads = 1; o.context = 64; o.contextGiven = true
        let resident = try Self.greedy(o)
        #expect(resident.count == 12)

        let caps = try PlannedCaps(o)
        try caps.expectResidentTokens(resident, exactShares: [max(0.25, try caps.minimumShare(.exact)), 0.5], greedy: Self.greedy)
    }

    @Test("the demo model: q8_0 keeps >= 99% top-1 agreement with bf16 and perplexity within 0.5%; q4_K within 3%")
    func demoModelQuality() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let model = TestPaths.fixtures + "/models/demo-moe"
        let text = try String(contentsOfFile: model + "/heldout_in_domain.txt", encoding: .utf8)
        /// Perplexity and every predicted position's argmax over the first 512 tokens (2 windows of 256).
        func score(_ quant: String?) throws -> (ppl: Double, top1: [Int]) {
            let out = dir + "/\(quant ?? "bf16").swm"
            _ = try Packer.pack(PackOptions(input: model, output: out, quant: try quant.map { try QuantSpec(parsing: $0) } ?? QuantSpec()))
            var o = SessionOptions(archive: out)
            o.context = 256; o.contextGiven = true
            let s = try Session(options: o)
            var top1: [Int] = []
            let r = try s.perplexity(Array(s.encode(text).prefix(512)), onRow: { row in
                top1.append(row.indices.max { row[$0] < row[$1] }! - row.startIndex)
            })
            return (r.ppl, top1)
        }
        let bf16 = try score(nil)
        for (quant, pplBound, top1Bound) in [("experts=q8_0,dense=q8_0", 0.005, 0.99), ("experts=q4_K,dense=q4_K", 0.03, 0.9)] {
            let q = try score(quant)
            let agree = Double(zip(q.top1, bf16.top1).filter { $0 == $1 }.count) / Double(bf16.top1.count)
            #expect(abs(q.ppl / bf16.ppl - 1) <= pplBound && agree >= top1Bound, "\(quant): ppl \(q.ppl) vs \(bf16.ppl), top-1 \(agree)")
        }
    }
}

/// Caps for a session's archive (context 64).
struct PlannedCaps {
    let session: Session
    let config: any ModelConfig
    let options: SessionOptions

    init(_ o: SessionOptions) throws {
        options = o
        session = try Session(options: o)
        config = try session.archive.modelConfig()
    }

    /// The cap that leaves `policy` `share` of the expert bytes, planned on this process's RSS as it is now:
    /// the session measures it again when it opens, and the suites running beside this one (GGUF files,
    /// templates, fixtures) move it by tens of MiB, so the plan is made just before each session and given
    /// slack. Slack only grows the arena a little; exact output does not depend on the arena's size, and
    /// swap's arena stops at every expert.
    func cap(_ share: Double, _ policy: Policy) throws -> Int {
        let planner = try Session.makePlanner(session.archive, config: config, context: 64, baseline: Int(ProcessMemory.currentRSS()))
        return planner.cap(expertShare: share, policy: policy, ioThreads: options.ioThreads) + (64 << 20)
    }

    /// Exact at each of `exactShares` and swap with every expert resident give `resident`'s greedy tokens.
    func expectResidentTokens(_ resident: [Int], exactShares: [Double], greedy: (SessionOptions) throws -> [Int],
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        for share in exactShares {
            var e = options
            e.policy = .exact
            e.maxRSS = try cap(share, .exact)
            #expect(try greedy(e) == resident, "exact at \(share) of the expert bytes", sourceLocation: sourceLocation)
        }
        var s = options
        s.policy = .swap
        s.maxRSS = try cap(1.0, .swap)
        #expect(try greedy(s) == resident, "swap with every expert resident", sourceLocation: sourceLocation)
    }

    /// The smallest share of the expert bytes `policy` runs with (independent of the baseline).
    func minimumShare(_ policy: Policy) throws -> Double {
        try Session.makePlanner(session.archive, config: config, context: 64, baseline: 1).minimumExpertShare(policy)
    }

    /// The first 12 greedy tokens after the full Austen line (34 tokens with the byte-level fixture tokenizer).
    static func austenGreedy(_ o: SessionOptions) throws -> [Int] {
        let prompt = "It is a truth universally acknowledged, that a single man in possession of a good fortune"
        return try Session(options: o).generate(prompt, maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
    }

    /// `expectPolicies` for the model fixture `name` packed with `compress`, greedy after the full Austen line.
    static func expectPolicies(fixture name: String, compress: PackOptions.Compression,
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/" + name, output: archive, compress: compress))
        try expectPolicies(archive: archive, dir: dir, greedy: austenGreedy, sourceLocation: sourceLocation)
    }

    /// A family suite's policy checks on a packed `archive` (context 64, one thread): exact at the smallest cap it
    /// runs with gives the greedy tokens of every expert resident (`expectResidentTokens`); swap, and static
    /// calibrated on a line written into `dir`, each generate `count` tokens at 70% of the expert bytes.
    static func expectPolicies(archive: String, dir: String, count: Int = 12, greedy: (SessionOptions) throws -> [Int],
                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        var o = SessionOptions(archive: archive)
        o.threads = 1; o.context = 64; o.contextGiven = true
        let resident = try greedy(o)
        #expect(resident.count == count, sourceLocation: sourceLocation)

        let caps = try PlannedCaps(o)
        try caps.expectResidentTokens(resident, exactShares: [try caps.minimumShare(.exact)], greedy: greedy, sourceLocation: sourceLocation)
        var s = o
        s.policy = .swap
        s.maxRSS = try caps.cap(0.7, .swap)
        #expect(try greedy(s).count == count, "swap at 70%", sourceLocation: sourceLocation)

        let calibration = dir + "/calibration.txt"
        try "It is a truth universally acknowledged, that a single man".write(toFile: calibration, atomically: true, encoding: .utf8)
        var st = o
        st.policy = .static
        st.calibration = calibration
        st.maxRSS = try caps.cap(0.7, .static)
        #expect(try greedy(st).count == count, "static at 70%", sourceLocation: sourceLocation)
    }
}
