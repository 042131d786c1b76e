import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEEngine
import SwapMoEPacker
import SwapMoERuntime
import SwapMoETokenizers
import SwapMoETestSupport

/// `Tests/Fixtures/gguf` (llama.cpp's converter run on the HF fixtures) and the HF folder each came from.
private enum Fixtures {
    static var gguf: String { TestPaths.fixtures + "/gguf" }
    static func hf(_ family: String) -> String { TestPaths.fixtures + "/models/" + family }

    /// The HF fixture's prompt ids (ids, not text: llama.cpp's tokenization may differ from HF's on some strings).
    static func promptIds(_ family: String) throws -> [Int] {
        let data = try Data(contentsOf: URL(fileURLWithPath: hf(family) + "/golden.json"))
        return try #require(JSONParser.parse([UInt8](data), file: "golden.json")["prompt_ids"]?.arrayValue).compactMap(\.intValue)
    }
}

/// Last-position logits of `ids` and the `greedy` ids that follow, every expert resident.
private func logitsAndGreedy(_ archivePath: String, _ ids: [Int], greedy: Int = 12) throws -> (logits: [Float], greedy: [Int]) {
    let archive = try Archive(path: archivePath)
    let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: 128, threads: 2)
    let first = try model.forward(ids)
    var logits = first, out: [Int] = []
    while out.count < greedy {
        out.append(Sampler.argmax(logits))
        logits = try model.forward([out.last!])
    }
    return (first, out)
}

// Serialized: the exact-policy case measures this process's RSS, which parallel packs would move.
@Suite("Packing GGUF files: the model they give", .serialized)
struct GGUFModelTests {
    @Test("an f32 GGUF's archive gives the HF checkpoint's logits bit for bit and the same greedy ids",
          arguments: [("mixtral-f32.gguf", "mixtral"), ("qwen2_moe-f32.gguf", "qwen2_moe"), ("olmoe-f32.gguf", "olmoe"),
                      ("olmoe-split-00002-of-00003.gguf", "olmoe"), ("deepseek_v3-f32.gguf", "deepseek_v3"), ("glm4_moe-f32.gguf", "glm4_moe"),
                      ("qwen3_next_sparse-f32.gguf", "qwen3_next_sparse")])
    // Not deepseek_v3_yarn: its HF mscale (1.0) differs from mscale_all_dim (0.8), and a GGUF keeps only the latter,
    // with which llama.cpp computes both (checked against llama.cpp and transformers so configured in `llamaCpp`).
    func f32Logits(gguf: String, family: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: Fixtures.gguf + "/" + gguf, output: dir + "/g.swm"))
        _ = try Packer.pack(PackOptions(input: Fixtures.hf(family), output: dir + "/h.swm"))
        let ids = try Fixtures.promptIds(family)
        let g = try logitsAndGreedy(dir + "/g.swm", ids), h = try logitsAndGreedy(dir + "/h.swm", ids)
        #expect(g.logits.count == h.logits.count && !g.logits.isEmpty)
        #expect(g.logits.map(\.bitPattern) == h.logits.map(\.bitPattern), "\(gguf): logits differ from the HF pack's")
        #expect(g.greedy == h.greedy, "\(gguf): greedy ids")
    }

    @Test("the bf16 Qwen3-MoE GGUF: logits within bf16 rounding of the f32 HF checkpoint's")
    func bf16Logits() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: Fixtures.gguf + "/qwen3_moe-bf16.gguf", output: dir + "/g.swm"))
        _ = try Packer.pack(PackOptions(input: Fixtures.hf("qwen3_moe"), output: dir + "/h.swm"))
        let ids = try Fixtures.promptIds("qwen3_moe")
        let g = try logitsAndGreedy(dir + "/g.swm", ids, greedy: 0), h = try logitsAndGreedy(dir + "/h.swm", ids, greedy: 0)
        let scale = h.logits.map(abs).max() ?? 1
        let maxDiff = zip(g.logits, h.logits).map { abs($0 - $1) }.max() ?? .infinity
        // bf16 keeps 8 bits of mantissa (relative rounding 2^-9 per weight); over two layers the fixture's logits move
        // by 0.3% of their largest magnitude (0.015 at 5.6).
        #expect(maxDiff > 0 && maxDiff <= 1e-2 * max(scale, 1), "max |diff| \(maxDiff), scale \(scale)")
        #expect(Sampler.argmax(g.logits) == Sampler.argmax(h.logits))
    }

    @Test("the Q8_0 GGUF runs: resident and exact under a cap generate the same greedy tokens")
    func q8ExactEqualsResident() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: Fixtures.gguf + "/qwen3_moe-q8_0.gguf", output: dir + "/m.swm"))
        var o = SessionOptions(archive: dir + "/m.swm")
        o.threads = 1; o.context = 64; o.contextGiven = true
        let ids = try Fixtures.promptIds("qwen3_moe")
        func greedy(_ o: SessionOptions) throws -> [Int] {
            try Session(options: o).generate(ids, maxNewTokens: 12, sampler: .greedy, eos: []) { _, _ in true }.tokens
        }
        let resident = try greedy(o)
        #expect(resident.count == 12)
        let session = try Session(options: o)
        let planner = try Session.makePlanner(session.archive, config: session.archive.modelConfig(), context: 64,
                                              baseline: Int(ProcessMemory.currentRSS()))
        var e = o
        e.policy = .exact
        // The session measures this process's RSS again, and suites running beside this one move it by tens of MiB
        // (main's quantized-session test allows 64 MiB too): the slack only grows the arena, and exact output does
        // not depend on the arena's size; what this shows is the exact provider serving the kept Q8_0 blocks.
        e.maxRSS = planner.cap(expertShare: max(0.5, planner.minimumExpertShare(.exact)), policy: .exact, ioThreads: e.ioThreads) + (64 << 20)
        #expect(try greedy(e) == resident)
    }

    /// `Tests/Fixtures/gguf/llama-goldens.json`: llama.cpp's answers on every whole fixture file.
    static let llamaGoldens: [JSONValue] = {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: Fixtures.gguf + "/llama-goldens.json")) else { return [] }
        return (try? JSONParser.parse([UInt8](data), file: "llama-goldens.json"))?["cases"]?.arrayValue ?? []
    }()

    @Test("llama.cpp's own answers on each fixture GGUF (Tools/llama_reference.c): the same 24 greedy ids, perplexity within 1e-2 (K-quants, IQ4, MXFP4 and their fallbacks) or 2e-3 (Q8_0) or 1e-3 (f32, bf16), last logits within llama.cpp's activation rounding; and transformers on the file's dequantized weights: perplexity within 1e-5, logits within 1e-4",
          arguments: ["mixtral-f32.gguf", "qwen2_moe-f32.gguf", "olmoe-f32.gguf", "qwen3_moe-bf16.gguf",
                      "qwen3_moe-q8_0.gguf", "mixtral-q8_0.gguf", "qwen2_moe-q8_0.gguf", "olmoe-q8_0.gguf", "mixtral-q4_k_m.gguf",
                      "mixtral-iq4_xs.gguf", "mixtral-wide-iq4_xs.gguf", "gpt_oss-f32.gguf", "gpt_oss-mxfp4.gguf", "gpt_oss-q8_0.gguf",
                      "deepseek_v3-f32.gguf", "deepseek_v3_yarn-f32.gguf", "glm4_moe-f32.gguf", "deepseek_v3-wide-q4_k_m.gguf",
                      "deepseek_v2-wide-q4_k_m.gguf", "glm4_moe-wide-q4_k_m.gguf", "qwen3_next_sparse-f32.gguf",
                      "qwen3_next_sparse-wide-q4_k_m.gguf"]
                      + ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"].flatMap { ["\($0)-wide-q4_k_m.gguf", "\($0)-wide-q6_k.gguf"] })
    func llamaCpp(gguf: String) throws {
        let golden = try #require(Self.llamaGoldens.first { $0["gguf"]?.stringValue == gguf }, "\(gguf): no golden")
        func ints(_ key: String) throws -> [Int] { try #require(golden[key]?.arrayValue).compactMap(\.intValue) }
        func floats(_ key: String) throws -> [Float] { try #require(golden[key]?.arrayValue).compactMap { $0.doubleValue.map(Float.init) } }
        func relative(_ a: [Float], _ b: [Float]) -> Float {
            (zip(a, b).map { abs($0 - $1) }.max() ?? .infinity) / max(b.map(abs).max() ?? 1, 1)
        }
        let prompt = try ints("prompt_ids"), greedyIds = try ints("greedy_ids"), evalIds = try ints("eval_ids")
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let packed = try Packer.pack(PackOptions(input: Fixtures.gguf + "/" + gguf, output: dir + "/m.swm"))
        let got = try logitsAndGreedy(dir + "/m.swm", prompt, greedy: greedyIds.count)
        #expect(got.greedy == greedyIds, "\(gguf): greedy ids")
        let llama = try floats("logits_last"), exact = try floats("dequantized_logits_last")
        #expect(got.logits.count == llama.count && got.logits.count == exact.count)
        // llama.cpp multiplies BF16 weights by activations rounded to BF16, and quantized weights by activations
        // quantized to Q8_0 / Q8_K (F16 ones by activations rounded to F16), where swapmoe keeps them in f32:
        // its answers move by that rounding; transformers on the same dequantized weights does not.
        let float = gguf.contains("f32")
        #expect(relative(got.logits, llama) <= (float ? 1e-5 : gguf.contains("bf16") ? 1e-2 : 3e-2), "\(gguf): logits vs llama.cpp")

        // One row through a quantized LM head takes the integer GEMV, which quantizes the activations to 8 bits as
        // llama.cpp does; asked for every row, the head runs as a float GEMM: that is the stored weights' exact maths.
        // Q4_K_X8 matrices (Q4_K rows interleaved by the packer) multiply many rows on integers too, as llama.cpp's
        // repacked Q4_K does: the exact maths is checked on the same GGUF packed with plain Q4_K rows.
        if packed.interleaved > 0 {
            var plain = PackOptions(input: Fixtures.gguf + "/" + gguf, output: dir + "/plain.swm")
            plain.interleave = false
            _ = try Packer.pack(plain)
        }
        let archive = try Archive(path: dir + (packed.interleaved > 0 ? "/plain.swm" : "/m.swm"))
        let model = try DecoderModel(archive: archive, experts: try ResidentExperts(archive: archive), context: evalIds.count, threads: 2)
        let v = model.spec.vocab
        let lastRow = Array(try model.forward(prompt, logits: .all).suffix(v))
        #expect(relative(lastRow, exact) <= 1e-4, "\(gguf): logits vs transformers on the dequantized weights")
        model.reset()
        let logits = try model.forward(evalIds, logits: .all)
        var nll = 0.0
        for i in 0..<(evalIds.count - 1) {
            let row = logits[(i * v)..<((i + 1) * v)].map(Double.init), top = row.max()!
            nll += top + log(row.reduce(0) { $0 + exp($1 - top) }) - row[evalIds[i + 1]]
        }
        let ppl = exp(nll / Double(evalIds.count - 1))
        let llamaPPL = try #require(golden["ppl"]?.doubleValue), exactPPL = try #require(golden["dequantized_ppl"]?.doubleValue)
        // The issue asked 1e-3 for Q8_0: olmoe-q8_0 (expert down matrices kept F16 by llama-quantize) is at 1.2e-3
        // from llama.cpp while within 3e-8 of transformers on its dequantized weights (Docs/GGUF.md).
        let bound = gguf.contains("_k") || gguf.contains("iq4") || gguf.contains("mxfp4") ? 1e-2 : gguf.contains("q8_0") ? 2e-3 : 1e-3
        #expect(abs(ppl / llamaPPL - 1) <= bound, "\(gguf): perplexity \(ppl), llama.cpp \(llamaPPL)")
        #expect(abs(ppl / exactPPL - 1) <= 1e-5, "\(gguf): perplexity \(ppl), transformers on the dequantized weights \(exactPPL)")
    }

    @Test("the tokenizer stored from a GGUF encodes ~370 golden texts as llama.cpp does, specials parsed",
          arguments: [("mixtral-f32.gguf", "mixtral"), ("qwen2_moe-f32.gguf", "qwen2_moe"), ("qwen3_moe-q8_0.gguf", "qwen3_moe"),
                      ("olmoe-f32.gguf", "olmoe"), ("gpt_oss-f32.gguf", "gpt_oss"), ("deepseek_v3-f32.gguf", "deepseek_v3"),
                      ("glm4_moe-f32.gguf", "glm4_moe"), ("qwen3_next_sparse-f32.gguf", "qwen3_next_sparse")])
    func tokenizer(gguf: String, family: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: Fixtures.gguf + "/" + gguf, output: dir + "/m.swm"))
        let archive = try Archive(path: dir + "/m.swm")
        let tok = try Tokenizer(tokenizerJSON: try #require(try archive.fileData("tokenizer.json")),
                                tokenizerConfigJSON: try archive.fileData("tokenizer_config.json"))
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.gguf + "/tokens-\(family).json"))
        let cases = try #require(JSONParser.parse([UInt8](data), file: "tokens-\(family).json")["cases"]?.arrayValue)
        #expect(cases.count >= 300)
        for c in cases {
            let text = c["text"]?.stringValue ?? ""
            #expect(tok.encode(text) == c["llama_ids"]?.arrayValue?.compactMap(\.intValue), "\(gguf): \(text.debugDescription)")
        }
    }
}

@Suite("swapmoe pack with GGUF input", .serialized)
struct GGUFCommandTests {
    let bin = TestPaths.swapmoeBinary

    @Test("pack x.gguf: exit 0, the summary and inspect name the source, inspect --json has it")
    func packFile() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let p = try runCommand(bin, ["pack", Fixtures.gguf + "/qwen3_moe-q8_0.gguf", "-o", dir + "/m.swm"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stderr.contains("packed qwen3_moe from GGUF (qwen3_moe-q8_0.gguf): ") && p.stderr.contains("kept as stored: "))
        #expect(!p.stderr.contains("warning"), "\(p.stderr)")
        let i = try runCommand(bin, ["inspect", dir + "/m.swm"])
        #expect(i.status == 0 && i.stdout.contains("source       GGUF (qwen3_moe-q8_0.gguf)") && i.stdout.contains("Q8_0"), "\(i.stdout)")
        let j = try runCommand(bin, ["inspect", dir + "/m.swm", "--json"])
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        #expect(obj["source"] as? String == "gguf" && obj["source_file"] as? String == "qwen3_moe-q8_0.gguf")
    }

    @Test("pack <folder> holding one GGUF split set packs it; a folder with a HF checkpoint is packed from its safetensors")
    func packFolder() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/olmoe", withIntermediateDirectories: true)
        for n in 1...3 {
            let name = "olmoe-split-0000\(n)-of-00003.gguf"
            try fm.copyItem(atPath: Fixtures.gguf + "/" + name, toPath: dir + "/olmoe/" + name)
        }
        let p = try runCommand(bin, ["pack", dir + "/olmoe", "-o", dir + "/m.swm"])
        #expect(p.status == 0 && p.stderr.contains("from GGUF (olmoe-split-00001-of-00003.gguf, 3 parts)"), "\(p.stderr)")
        let i = try runCommand(bin, ["inspect", dir + "/m.swm"])
        #expect(i.stdout.contains("source       GGUF (olmoe-split-00001-of-00003.gguf, 3 parts)"), "\(i.stdout)")
        let h = try runCommand(bin, ["pack", Fixtures.hf("olmoe"), "-o", dir + "/h.swm"])
        #expect(h.status == 0 && h.stderr.contains("packed olmoe: "))
        #expect(try runCommand(bin, ["inspect", dir + "/h.swm"]).stdout.contains("source       Hugging Face safetensors"))
    }

    @Test("a truncated GGUF and an unsupported type: exit 1, one line naming the file, no output left")
    func failures() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.gguf + "/olmoe-f32.gguf"))
        try data.prefix(data.count - 1000).write(to: URL(fileURLWithPath: dir + "/cut.gguf"))
        // The 256-wide Q4_K_M fixture with one Q4_K tensor relabelled IQ3_XXS, a type swapmoe does not compute with.
        let q4km = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.gguf + "/mixtral-wide-q4_k_m.gguf")))
        try Data(try #require(GGUFBuilder.settingType(of: "blk.1.ffn_up_exps.weight", to: 18, in: q4km)))
            .write(to: URL(fileURLWithPath: dir + "/iq3.gguf"))
        for (input, says) in [(dir + "/cut.gguf", "cut.gguf is truncated"), (dir + "/iq3.gguf", "llama-quantize"),
                              (dir + "/missing.gguf", "missing.gguf")] {
            let r = try runCommand(bin, ["pack", input, "-o", dir + "/out.swm"])
            #expect(r.status == 1, "\(input): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && r.stderr.contains(says), "\(input): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/out.swm") && !FileManager.default.fileExists(atPath: dir + "/out.swm.partial"))
        }
    }
}
