import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEPacker
import SwapMoETestSupport
@testable import SwapMoEModels
import SwapMoEEngine

/// Packs a generated checkpoint and opens it with every expert resident.
func generatedModel(_ maker: CheckpointMaker, lz4: Bool = false, context: Int = 64, batch: Int = DecoderModel.defaultBatch) throws -> DecoderModel {
    let dir = TestPaths.tempDir()
    defer { TestPaths.remove(dir) }
    try maker.write(to: dir + "/ckpt")
    _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/m.swm", compress: lz4 ? .lz4 : .none, shuffle: lz4))
    let archive = try Archive(path: dir + "/m.swm")
    return try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: context, threads: 2, batch: batch)
}

@Suite("Decoder")
struct DecoderTests {
    @Test("prefill in one batch and token-by-token decode give the same logits")
    func incremental() throws {
        let model = try generatedModel(.mixtral(hidden: 80, intermediate: 48, layers: 2, experts: 4, vocab: 64))
        let ids = [1, 5, 9, 33, 2, 60, 7, 11]
        let batch = try model.forward(ids)
        model.reset()
        var step: [Float] = []
        for t in ids { step = try model.forward([t]) }
        #expect(batch.count == 64 && step.count == 64)
        let maxDiff = zip(batch, step).map { abs($0 - $1) }.max()!
        let scale = batch.map(abs).max()!
        #expect(maxDiff <= 1e-4 * max(scale, 1), "max |diff| \(maxDiff)")
        #expect(batch.allSatisfy { $0.isFinite })
    }

    @Test("resident experts copied to huge-page memory and served in place from the mapping give identical logits")
    func residentCopiedOrMapped() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(hidden: 64, intermediate: 32, layers: 2, experts: 4, vocab: 64).write(to: dir + "/ckpt")
        let ids = [3, 1, 4, 1, 5, 9, 2, 6]
        var results: [[Float]] = []
        for lz4 in [false, true] {
            let path = dir + (lz4 ? "/lz4.swm" : "/raw.swm")
            _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: path, compress: lz4 ? .lz4 : .none, shuffle: lz4))
            let archive = try Archive(path: path)
            // `mapped` serves raw blocks in place; compressed ones are decoded into memory either way.
            for mapped in [false, true] {
                let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive, mapped: mapped), context: 16, threads: 2)
                results.append(try model.forward(ids))
            }
        }
        for r in results.dropFirst() { #expect(r == results[0]) }
    }

    @Test("a decoded token's experts one by one, together, side by side or balanced, on 1-3 threads: the same logits",
          arguments: ["bf16", "q4_K", "gpt_oss"])
    func expertsSideBySide(_ kind: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var input = TestPaths.fixtures + "/models/gpt_oss"
        if kind != "gpt_oss" {
            input = dir + "/ckpt"
            try CheckpointMaker.mixtral(hidden: 256, intermediate: 96, layers: 2, experts: 4, vocab: 64).write(to: input)
        }
        _ = try Packer.pack(PackOptions(input: input, output: dir + "/m.swm", quant: QuantSpec(experts: kind == "q4_K" ? .q4_K : nil)))
        let archive = try Archive(path: dir + "/m.swm")
        let experts = try ResidentExperts(archive: archive)
        var results: [[UInt32]] = []
        for threads in [1, 2, 3] { for schedule in [nil, .oneByOne, .together, .sideBySide, .balanced] as [ExpertSchedule?] {
            let model = try DecoderModel(archive: archive, experts: experts, context: 16, threads: threads, batch: 1)
            model.decodedExpertSchedule = schedule
            var logits = try model.forward([3, 1, 4, 1], logits: .all)
            for t in [5, 9, 2] { logits += try model.forward([t]) }
            results.append(logits.map(\.bitPattern))
        } }
        for r in results.dropFirst() { #expect(r == results[0]) }
    }

    @Test("a damaged dense matrix is caught by its checksum when the model loads, naming the tensor")
    func corruptDense() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(hidden: 64, intermediate: 32, layers: 2, experts: 4, vocab: 64).write(to: dir + "/ckpt")
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/m.swm"))
        let name = "model.layers.1.self_attn.o_proj.weight"
        let t = try #require(try Archive(path: dir + "/m.swm").dense(name))
        try flipByte(dir + "/m.swm", at: t.offset + t.length / 2)
        let archive = try Archive(path: dir + "/m.swm")
        #expect {
            try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: 8, threads: 1)
        } throws: { "\($0)".contains("checksum mismatch in dense tensor '\(name)'") && "\($0)".contains("re-pack") }
    }

    @Test("resident experts copied on several threads: the same logits; a damaged block fails the load, named")
    func residentCopyThreads() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(hidden: 64, intermediate: 32, layers: 2, experts: 4, vocab: 64).write(to: dir + "/ckpt")
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: dir + "/m.swm", compress: .lz4, shuffle: true))
        let archive = try Archive(path: dir + "/m.swm")
        let ids = [3, 1, 4, 1, 5, 9, 2, 6]
        let logits = try [1, 3, 8].map { threads in
            try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive, copyThreads: threads), context: 16, threads: 1).forward(ids)
        }
        #expect(logits[1] == logits[0] && logits[2] == logits[0])
        let e = archive.experts[5]
        try flipByte(dir + "/m.swm", at: e.offset + e.storedLength / 3)
        let damaged = try Archive(path: dir + "/m.swm")
        #expect { try ResidentExperts(archive: damaged, copyThreads: 3) } throws: { "\($0)".contains(e.label) }
    }

    @Test("a prompt run layer by layer (layer-major prefill) gives the same logits and cache as batch by batch")
    func layerMajorPrefill() throws {
        // vocab 64 x batch 4 / hidden 32: spans of 8 tokens, two batches each (23 tokens: 8 + 8 + 7).
        let maker = CheckpointMaker.mixtral(hidden: 32, intermediate: 40, layers: 3, experts: 4, vocab: 64)
        let ids = (0..<23).map { ($0 * 5 + 3) % 64 }
        var results: [[Float]] = []
        for layerMajor in [false, true] {
            let model = try generatedModel(maker, context: 64, batch: 4)
            model.layerMajorPrefill = layerMajor
            let prompt = try model.forward(ids)
            let next = try model.forward([7, 11, 13])  // reads the prompt's keys and values from the cache
            #expect(model.position == ids.count + 3)
            results.append(prompt + next)
        }
        #expect(results[1] == results[0])
    }

    @Test("batches smaller than the prompt give the same logits as one batch")
    func batching() throws {
        let maker = CheckpointMaker.mixtral(hidden: 96, intermediate: 40, layers: 2, experts: 4, vocab: 64)
        let ids = (0..<20).map { ($0 * 7) % 64 }
        let whole = try generatedModel(maker).forward(ids, logits: .all)
        let cut = try generatedModel(maker, batch: 3).forward(ids, logits: .all)
        #expect(whole.count == 20 * 64 && cut.count == whole.count)
        let maxDiff = zip(whole, cut).map { abs($0 - $1) }.max()!
        #expect(maxDiff <= 1e-4 * max(whole.map(abs).max()!, 1))
    }

    @Test("raw and LZ4-packed archives compute identical logits")
    func codecsAgree() throws {
        let maker = CheckpointMaker.mixtral(layers: 2, experts: 4)
        let ids = [3, 1, 4, 1, 5, 9, 2, 6]
        let raw = try generatedModel(maker).forward(ids, logits: .all)
        let lz4 = try generatedModel(maker, lz4: true).forward(ids, logits: .all)
        #expect(raw == lz4)
    }

    @Test("errors: context full, token out of range")
    func errors() throws {
        let model = try generatedModel(.mixtral(layers: 1, experts: 2, vocab: 64), context: 4)
        #expect { try model.forward([1, 2, 3, 4, 5]) } throws: { "\($0)".contains("context size 4") }
        #expect { try model.forward([64]) } throws: { "\($0)".contains("outside the vocabulary") }
    }

    @Test("the sampler is greedy at temperature 0 and reproducible with a seed")
    func sampler() {
        var g = Sampler(temperature: 0)
        #expect(g.sample([0.1, 3, 3, -1]) == 1)
        let logits: [Float] = (0..<50).map { Float($0 % 7) }
        var a = Sampler(temperature: 0.9, topK: 10, topP: 0.9, seed: 7), b = Sampler(temperature: 0.9, topK: 10, topP: 0.9, seed: 7)
        let sa = (0..<20).map { _ in a.sample(logits) }, sb = (0..<20).map { _ in b.sample(logits) }
        #expect(sa == sb)
        #expect(sa.allSatisfy { logits[$0] >= 5 })
    }

    @Test("the top-k list equals the head of a full sort (largest first, ties in index order)")
    func rankedEqualsSort() {
        var rng: UInt64 = 1
        for trial in 0..<200 {
            let n = 1 + trial * 37 % 3000
            // Few distinct values, so ties are common.
            let logits: [Float] = (0..<n).map { _ in rng = rng &* 6364136223846793005 &+ 1442695040888963407; return Float((rng >> 33) % 23) - 11 }
            var sorted = Array(logits.indices)
            sorted.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            for k in [1, 2, 40, n / 3, n, n + 5] {
                #expect(Sampler.ranked(logits, limit: k) == Array(sorted.prefix(k)), "n \(n) k \(k)")
            }
        }
    }

    @Test("decode speed on a big archive (set SWAPMOE_BENCH_ARCHIVE)",
          .enabled(if: ProcessInfo.processInfo.environment["SWAPMOE_BENCH_ARCHIVE"] != nil))
    func bench() throws {
        let archive = try Archive(path: ProcessInfo.processInfo.environment["SWAPMOE_BENCH_ARCHIVE"]!)
        let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: 128, threads: 2)
        let prompt = (0..<64).map { ($0 * 131) % 1000 }
        for rep in 0..<3 {
            model.reset()
            let t0 = monotonicSeconds()
            var logits = try model.forward(prompt)
            let t1 = monotonicSeconds()
            for _ in 0..<16 { logits = try model.forward([Sampler.argmax(logits)]) }
            let t2 = monotonicSeconds()
            print("rep \(rep): prefill \(64 / (t1 - t0)) tok/s, decode \(16 / (t2 - t1)) tok/s")
        }
    }

    @Test("decode with a token's experts one by one, together, side by side and balanced, alternating token by token (set SWAPMOE_BENCH_ARCHIVE)",
          .enabled(if: ProcessInfo.processInfo.environment["SWAPMOE_BENCH_ARCHIVE"] != nil))
    func benchTogether() throws {
        let env = ProcessInfo.processInfo.environment
        let archive = try Archive(path: env["SWAPMOE_BENCH_ARCHIVE"]!)
        let threads = Int(env["THREADS"] ?? "") ?? 2, tokens = Int(env["TOKENS"] ?? "") ?? 256
        let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: tokens + 8, threads: threads)
        var logits = try model.forward([1, 415, 2936])
        let schedules: [ExpertSchedule] = [.oneByOne, .together, .sideBySide, .balanced]
        var seconds = [Double](repeating: 0, count: schedules.count), waits = seconds
        for i in 0..<tokens {
            model.decodedExpertSchedule = schedules[i % schedules.count]
            let s0 = model.pool.statistics
            let t0 = monotonicSeconds()
            logits = try model.forward([Sampler.argmax(logits)])
            seconds[i % schedules.count] += monotonicSeconds() - t0
            waits[i % schedules.count] += model.pool.statistics.waitSeconds - s0.waitSeconds
        }
        print("threads \(threads), \(tokens) tokens: one by one \(seconds[0]) s, together \(seconds[1]) s (\(seconds[0] / seconds[1])x), "
              + "side by side \(seconds[2]) s (\(seconds[0] / seconds[2])x), balanced \(seconds[3]) s (\(seconds[0] / seconds[3])x); "
              + "the caller waiting for another thread's last chunk: \(zip(waits, seconds).map { $0 / $1 }) of each")
    }
}
