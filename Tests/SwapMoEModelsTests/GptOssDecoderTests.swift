import Foundation
import Testing
import SwapMoEArchive
import SwapMoEPacker
import SwapMoETestSupport
@testable import SwapMoEModels
import SwapMoEEngine

/// A sliding layer keeps a ring of window + batch - 1 rows instead of the whole context.
@Suite("gpt-oss sliding-window KV rings")
struct GptOssDecoderTests {
    @Test("the hub 20b config at 32k context: sliding layers keep 191 rows, full layers 32768; the planner counts that")
    func ringSizes() throws {
        let spec = try ModelFamily.detectDecoder(configData: GptOssConfigTests.hub20b()).spec()
        #expect(KVCache.rows(spec: spec, context: 32768, batch: 64) == Array(repeating: [191, 32768], count: 12).flatMap { $0 })
        let row = 8 * 64 * 4 * 2   // keys and values of one position, f32
        #expect(DecoderSequence.bytes(spec: spec, context: 32768) == 12 * (191 + 32768) * row)
        // A context within the ring keeps every row.
        #expect(KVCache.rows(spec: spec, context: 100, batch: 64) == Array(repeating: 100, count: 24))
    }

    @Test("rings of window + batch - 1 rows give a full cache's logits; truncation within a batch keeps the prefix, past it forgets")
    func ringsAndTruncation() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/gpt_oss", output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let experts = try ResidentExperts(archive: archive)
        let prompt = (0..<40).map { ($0 * 37 + 11) % 1500 }
        // batch 4: sliding layers (window 6) keep 9 rows; batch 64 at context 64: every layer keeps all 64.
        let ring = try DecoderModel(archive: archive, experts: experts, context: 64, threads: 1, batch: 4)
        let full = try DecoderModel(archive: archive, experts: experts, context: 64, threads: 1, batch: 64)
        #expect(ring.sequence.cache.rows == [9, 64, 9] && full.sequence.cache.rows == [64, 64, 64])
        func close(_ a: [Float], _ b: [Float]) -> Bool { a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) } }
        let reference = try full.forward(prompt, logits: .all)
        #expect(close(try ring.forward(prompt, logits: .all), reference))
        for t in [7, 3] { #expect(close(try ring.forward([t]), try full.forward([t]))) }

        // Cut back by 4 (one batch): the rings still hold what position 38 attends to.
        #expect(ring.truncate(to: 38) == 38)
        #expect(close(try ring.forward(Array(prompt[38...]), logits: .all), Array(reference[(38 * 1536)...])))
        // Cut back by 30: position 10's keys were overwritten, so the sequence starts over.
        #expect(ring.truncate(to: 10) == 0 && ring.position == 0)
        #expect(full.truncate(to: 10) == 10)
    }
}
