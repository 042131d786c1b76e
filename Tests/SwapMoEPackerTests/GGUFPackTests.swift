import Foundation
import Testing
import SwapMoECore
import SwapMoECheckpoint
import SwapMoEArchive
import SwapMoEModels
import SwapMoEGGUF
import SwapMoEKernels
import SwapMoETestSupport
@testable import SwapMoEPacker

/// The GGUF fixtures (made by llama.cpp's converter from the HF fixtures) and the HF folders they came from.
enum GGUFFixtures {
    static var dir: String { TestPaths.fixtures + "/gguf" }
    static func hf(_ family: String) -> String { TestPaths.fixtures + "/models/" + family }
    /// f32 GGUFs: their tensors are the HF checkpoint's bytes (attn_q/attn_k rows permuted back for Mixtral).
    static let f32: [(gguf: String, family: String)] = [
        ("mixtral-f32.gguf", "mixtral"), ("qwen2_moe-f32.gguf", "qwen2_moe"), ("olmoe-f32.gguf", "olmoe"),
        ("olmoe-split-00001-of-00003.gguf", "olmoe"), ("olmoe-split-00003-of-00003.gguf", "olmoe"),
    ]
}

@Suite("Packing a GGUF")
struct GGUFPackTests {
    @Test("an f32 GGUF (one file or any part of a split set) packs into the HF checkpoint's exact bytes, every tensor once",
          arguments: GGUFFixtures.f32.map { $0.gguf })
    func f32RoundTrip(gguf: String) throws {
        let family = try #require(GGUFFixtures.f32.first { $0.gguf == gguf }).family
        // assertRoundTrip compares the archive with the HF folder it is given, whatever was packed.
        try assertRoundTrip(GGUFFixtures.hf(family)) { PackOptions(input: GGUFFixtures.dir + "/" + gguf, output: $0) }
        try assertRoundTrip(GGUFFixtures.hf(family)) { PackOptions(input: GGUFFixtures.dir + "/" + gguf, output: $0, compress: .lz4, shuffle: true) }
    }

    @Test("the manifest records the source, config and tokenizer files; the HF pack records none")
    func recordsSource() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let s = try Packer.pack(PackOptions(input: GGUFFixtures.dir + "/olmoe-split-00002-of-00003.gguf", output: dir + "/a.swm"))
        #expect(s.line.hasPrefix("packed olmoe from GGUF (olmoe-split-00001-of-00003.gguf, 3 parts): "))
        let a = try Archive(path: dir + "/a.swm")
        #expect(a.manifest.pack.source == SourceInfo(format: "gguf", file: "olmoe-split-00001-of-00003.gguf", parts: 3))
        #expect(a.manifest.files.map(\.name) == ["tokenizer.json", "tokenizer_config.json"])
        let hfConfig = try ModelFamily.detect(configData: Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.hf("olmoe") + "/config.json")))
        #expect(try a.modelConfig().summary == hfConfig.summary)

        let h = try Packer.pack(PackOptions(input: GGUFFixtures.hf("olmoe"), output: dir + "/h.swm"))
        #expect(h.line.hasPrefix("packed olmoe: ") && h.source == nil)
        #expect(try Archive(path: dir + "/h.swm").manifest.pack.source == nil)
    }

    @Test("Q8_0 tensors are copied block for block and stay Q8_0, float ones keep their type, expert norms are of the dequantized weights; --quant never re-quantizes them")
    func q8KeptAsStored() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let path = GGUFFixtures.dir + "/qwen3_moe-q8_0.gguf"
        let gguf = try GGUFModel(path: path)
        let hf = Dictionary(uniqueKeysWithValues: try gguf.hfTensors().map { ($0.name, $0) })
        for quant in [QuantSpec(), QuantSpec(experts: .q4_K, dense: .q4_0, embed: .q6_K, head: .q5_K)] {
            let s = try Packer.pack(PackOptions(input: path, output: dir + "/m.swm", quant: quant))
            let archive = try Archive(path: dir + "/m.swm")
            #expect(archive.header.major == 2 && s.keptQuantized[.q8_0, default: 0] > 0)
            for d in archive.manifest.dense {
                let t = try #require(hf[d.name], "\(d.name)")
                guard t.source.dtype == .q8_0 || quant.isEmpty else { continue }
                #expect(d.dtype == t.source.dtype, "\(d.name) is \(d.dtype), stored \(t.source.type) in the GGUF")
                #expect(archive.withDenseBytes(d) { Array($0) } == gguf.hfBytes(t), "\(d.name) bytes")
            }
            #expect(archive.manifest.dense.filter { $0.dtype == .q8_0 }.count == 10)
            let config = try archive.modelConfig()
            let source = try GGUFSource(path: path)
            for stack in config.stacks { for layer in stack.moeLayers {
                for (e, parts) in try stack.resolve(layer: layer, hidden: config.hiddenSize, in: source).enumerated() {
                    let entry = try #require(archive.expert(ExpertKey(stack: stack.name, layer: layer, expert: e)))
                    let raw = try archive.expertBytes(entry)
                    var sumSq = 0.0
                    for p in parts {
                        let t = try #require(archive.layout(of: entry).tensor(p.role))
                        let src = try #require(hf[p.tensor])
                        let bytes = Array(raw[t.offset..<(t.offset + t.length)])
                        if src.source.dtype == .q8_0 || quant.isEmpty {
                            #expect(t.dtype == src.source.dtype && bytes == gguf.hfBytes(src), "layer \(layer) expert \(e) \(p.role)")
                        }
                        sumSq += widened(bytes, t.dtype, cols: t.shape.last!).reduce(0.0) { $0 + Double($1) * Double($1) }
                    }
                    if quant.isEmpty {
                        #expect(abs(sumSq.squareRoot() - entry.norm) <= 1e-5 * max(1, entry.norm), "layer \(layer) expert \(e) norm")
                    }
                }
            } }
        }
    }

    @Test("a GGUF with a type swapmoe cannot compute with fails before writing, naming tensor, type and llama-quantize")
    func unsupportedType() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        #expect {
            try Packer.pack(PackOptions(input: GGUFFixtures.dir + "/mixtral-q4_k_m.gguf", output: dir + "/x.swm"))
        } throws: { error in
            let text = "\(error)"
            return text.contains("mixtral-q4_k_m.gguf") && text.contains("Q5_0") && text.contains("llama-quantize") && !text.contains("\n")
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? ["?"]).isEmpty, "no output, no .partial")
    }

    @Test("a tokenizer that cannot be rebuilt (unknown tokenizer.ggml.pre) is a warning: the weights pack, no tokenizer files")
    func unknownPreTokenizer() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var data = try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.dir + "/qwen2_moe-f32.gguf"))
        let value = try #require(data.range(of: Data("tokenizer.ggml.pre".utf8)).flatMap { data.range(of: Data("qwen2".utf8), in: $0.upperBound..<(data.count)) })
        data.replaceSubrange(value, with: Data("zzzzz".utf8))
        try data.write(to: URL(fileURLWithPath: dir + "/odd.gguf"))
        let s = try Packer.pack(PackOptions(input: dir + "/odd.gguf", output: dir + "/m.swm"))
        #expect(s.warnings.count == 1 && s.warnings[0].contains("'zzzzz'") && s.warnings[0].contains("no tokenizer"))
        #expect(try Archive(path: dir + "/m.swm").manifest.files.isEmpty)
    }

    @Test("--quant on an f32 GGUF quantizes its float matrices exactly as on the HF folder")
    func quantFloatGGUF() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let quant = try QuantSpec(parsing: "experts=q8_0,dense=q8_0")
        _ = try Packer.pack(PackOptions(input: GGUFFixtures.dir + "/mixtral-f32.gguf", output: dir + "/g.swm", quant: quant))
        _ = try Packer.pack(PackOptions(input: GGUFFixtures.hf("mixtral"), output: dir + "/h.swm", quant: quant))
        let g = try Archive(path: dir + "/g.swm"), h = try Archive(path: dir + "/h.swm")
        #expect(g.manifest.dense.map(\.name) == h.manifest.dense.map(\.name))
        for (a, b) in zip(g.manifest.dense, h.manifest.dense) {
            #expect(a.dtype == b.dtype && a.xxh3 == b.xxh3, "\(a.name)")
        }
        #expect(g.manifest.expertLayouts == h.manifest.expertLayouts)
        for (a, b) in zip(g.manifest.experts, h.manifest.experts) { #expect(a.xxh3 == b.xxh3 && a.norm == b.norm) }
    }

    @Test("which reader a path gets: .gguf files, folders with one GGUF model, HF folders first")
    func inputDetection() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let fm = FileManager.default
        #expect(try PackInput.detect("x/model.gguf") == .gguf(path: "x/model.gguf"))
        #expect(PackInput.splitSetKey("m-00002-of-00003.gguf") == PackInput.splitSetKey("m-00001-of-00003.gguf"))
        #expect(PackInput.splitSetKey("a.gguf") != PackInput.splitSetKey("b.gguf"))

        try fm.createDirectory(atPath: dir + "/split", withIntermediateDirectories: true)
        for n in 1...3 {
            let name = "olmoe-split-0000\(n)-of-00003.gguf"
            try fm.copyItem(atPath: GGUFFixtures.dir + "/" + name, toPath: dir + "/split/" + name)
        }
        #expect(try PackInput.detect(dir + "/split") == .gguf(path: dir + "/split/olmoe-split-00001-of-00003.gguf"))

        try fm.createDirectory(atPath: dir + "/two", withIntermediateDirectories: true)
        try fm.copyItem(atPath: GGUFFixtures.dir + "/olmoe-f32.gguf", toPath: dir + "/two/a.gguf")
        try fm.copyItem(atPath: GGUFFixtures.dir + "/olmoe-f32.gguf", toPath: dir + "/two/b.gguf")
        #expect { try PackInput.detect(dir + "/two") } throws: { "\($0)".contains("several GGUF models (a.gguf, b.gguf)") }

        // A folder with config.json, safetensors and a GGUF is packed from the safetensors, as before GGUF input.
        try fm.copyItem(atPath: GGUFFixtures.hf("olmoe"), toPath: dir + "/both")
        try fm.copyItem(atPath: GGUFFixtures.dir + "/olmoe-f32.gguf", toPath: dir + "/both/olmoe.gguf")
        #expect(try PackInput.detect(dir + "/both") == .huggingFace(folder: dir + "/both"))
        #expect(throws: CheckpointError.self) { try PackInput.detect(dir + "/nothing") }
        try fm.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        #expect { try PackInput.detect(dir + "/empty") } throws: { "\($0)".contains("no config.json (Hugging Face checkpoint) nor .gguf file") }
    }
}

/// A matrix's stored bytes (rows of `cols` weights) as floats, through the kernels' embedding-row conversion.
func widened(_ bytes: [UInt8], _ type: DType, cols: Int) -> [Float] {
    let w = WeightType(type)!
    let rows = bytes.count / w.rowBytes(cols)
    var out = [Float](repeating: 0, count: rows * cols)
    bytes.withUnsafeBytes { b in
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows { convertToFloat(o.baseAddress! + r * cols, b.baseAddress! + r * w.rowBytes(cols), w, count: cols) }
        }
    }
    return out
}
