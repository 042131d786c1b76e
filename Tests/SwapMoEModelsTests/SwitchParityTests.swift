import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEPacker
import SwapMoETokenizers
import SwapMoETestSupport
@testable import SwapMoEModels
import SwapMoEEngine

/// Reference outputs of transformers' SwitchTransformersForConditionalGeneration, written by
/// Tools/make_switch_fixtures.py (float32).
struct SwitchGolden: Decodable {
    struct BucketTable: Decodable {
        let numBuckets: Int, maxDistance: Int, bidirectional: Bool, from: Int, buckets: [Int]
        enum CodingKeys: String, CodingKey { case numBuckets = "num_buckets", maxDistance = "max_distance", bidirectional, from, buckets }
    }
    struct Routing: Decodable { let layer: Int; let expert: [Int]; let dropped: [Bool] }
    struct Case: Decodable {
        let inputText: String?
        let inputIds: [Int]
        let encoderHidden: [Float]
        let encoderRouting: [Routing]
        let decoderInputIds: [Int]
        let labels: [Int]
        let logits: [Float]
        let decoderRouting: [Routing]
        let greedyIds: [Int]
        let overflow: Bool
        enum CodingKeys: String, CodingKey {
            case inputText = "input_text", inputIds = "input_ids", encoderHidden = "encoder_hidden", encoderRouting = "encoder_routing"
            case decoderInputIds = "decoder_input_ids", labels, logits, decoderRouting = "decoder_routing", greedyIds = "greedy_ids", overflow
        }
    }
    let bucketTables: [BucketTable]
    let cases: [Case]
    enum CodingKeys: String, CodingKey { case bucketTables = "bucket_tables", cases }

    static func load(_ folder: String) throws -> SwitchGolden {
        try JSONDecoder().decode(SwitchGolden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json")))
    }
}

/// max |a - b| over max(1, max |b|): the relative error of a whole tensor.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    guard a.count == b.count, !a.isEmpty else { return .infinity }
    let scale = max(1, b.map(abs).max() ?? 1)
    return zip(a, b).map { abs($0 - $1) }.max()! / scale
}

@Suite("Switch Transformers parity with transformers")
struct SwitchParityTests {
    @Test("relative position buckets equal transformers' (float32 log boundaries included)", arguments: TestPaths.seq2seqFixtures)
    func buckets(folder: String) throws {
        for t in try SwitchGolden.load(folder).bucketTables {
            let got = t.buckets.indices.map {
                relativePositionBucket(t.from + $0, bidirectional: t.bidirectional, buckets: t.numBuckets, maxDistance: t.maxDistance)
            }
            #expect(got == t.buckets, "\(t.numBuckets)/\(t.maxDistance) bidirectional \(t.bidirectional)")
        }
    }

    @Test("encoder output, teacher-forced logits and greedy ids match, expert-capacity overflow included",
          arguments: TestPaths.seq2seqFixtures)
    func parity(folder: String) throws {
        let name = URL(fileURLWithPath: folder).lastPathComponent
        let golden = try SwitchGolden.load(folder)
        #expect(golden.cases.contains { $0.overflow }, "\(name): some case must overflow expert capacity")
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let tokenizer = try archive.fileData("tokenizer.json").map { try Tokenizer(tokenizerJSON: $0, tokenizerConfigJSON: try archive.fileData("tokenizer_config.json")) }
        let model = try Seq2SeqModel(archive: archive, experts: try ResidentExperts(archive: archive), maxSource: 128, maxTarget: 64, threads: 2)
        let eos = Set(model.config.eosTokenIds)
        for (i, cs) in golden.cases.enumerated() {
            if let text = cs.inputText, let tokenizer { #expect(tokenizer.encode(text) == cs.inputIds, "\(name) case \(i): input ids") }
            let before = model.stats.droppedTokens
            try model.encode(cs.inputIds)
            let encErr = relativeError(model.encoderOutput, cs.encoderHidden)
            #expect(encErr <= 1e-4, "\(name) case \(i): encoder output relative error \(encErr)")
            let encDropped = cs.encoderRouting.reduce(0) { $0 + $1.dropped.filter { $0 }.count }
            #expect(model.stats.droppedTokens - before == encDropped, "\(name) case \(i): tokens over encoder capacity")

            #expect(cs.decoderInputIds.first == model.config.decoderStartTokenId)
            let mid = model.stats.droppedTokens
            let logits = try model.decode(cs.decoderInputIds, logits: .all)
            let logitErr = relativeError(logits, cs.logits)
            #expect(logitErr <= 1e-4, "\(name) case \(i): logits relative error \(logitErr)")
            let decDropped = cs.decoderRouting.reduce(0) { $0 + $1.dropped.filter { $0 }.count }
            #expect(model.stats.droppedTokens - mid == decDropped, "\(name) case \(i): tokens over decoder capacity")

            let ids = try model.generate(cs.inputIds, maxNewTokens: 10, eos: eos)
            #expect(ids == cs.greedyIds, "\(name) case \(i): greedy ids")
        }
    }

    @Test("a decode call cut into batches still counts capacity over the whole call", arguments: TestPaths.seq2seqFixtures)
    func batchedDecode(folder: String) throws {
        let golden = try SwitchGolden.load(folder)
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let model = try Seq2SeqModel(archive: archive, experts: try ResidentExperts(archive: archive), maxSource: 128, maxTarget: 64,
                                     threads: 1, batch: 3)
        let cs = try #require(golden.cases.last)
        try model.encode(cs.inputIds)
        let logits = try model.decode(cs.decoderInputIds, logits: .all)
        #expect(relativeError(logits, cs.logits) <= 1e-4)
    }

    @Test("inputs and decoder positions beyond the limits are refused with what to do")
    func limits() throws {
        let folder = try #require(TestPaths.seq2seqFixtures.first)
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: folder, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let model = try Seq2SeqModel(archive: archive, experts: try ResidentExperts(archive: archive), maxSource: 4, maxTarget: 2, threads: 1)
        #expect { try model.encode([3, 4, 5, 6, 7]) } throws: { "\($0)".contains("raise --max-input") }
        try model.encode([3, 4, 1])
        _ = try model.decode([0, 5])
        #expect { try model.decode([6]) } throws: { "\($0)".contains("context size 2") }
        #expect { try model.encode([100_000]) } throws: { "\($0)".contains("outside the vocabulary") }
        #expect { try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: 8, threads: 1) }
            throws: { "\($0)".contains("encoder-decoder") }
    }
}
