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
        // gpt-oss: ffn_gate_exps / ffn_up_exps rows interleaved back into gate_up (f32: the converter's transposes
        // undone; MXFP4: the converter's repacked blocks are the packer's repack of the hub's, byte for byte).
        ("gpt_oss-f32.gguf", "gpt_oss"), ("gpt_oss-mxfp4.gguf", "gpt_oss_mxfp4"),
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

    @Test("the f32 Qwen3-Next GGUF packs into the HF checkpoint's archive: every tensor's bytes but the norms' and A_log's, whose values give the engine the same 1 + w and -exp(A_log); the same experts")
    func qwen3NextF32() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        _ = try Packer.pack(PackOptions(input: GGUFFixtures.dir + "/qwen3_next_sparse-f32.gguf", output: dir + "/g.swm"))
        _ = try Packer.pack(PackOptions(input: GGUFFixtures.hf("qwen3_next_sparse"), output: dir + "/h.swm"))
        let g = try Archive(path: dir + "/g.swm"), h = try Archive(path: dir + "/h.swm")
        #expect(g.manifest.dense.map(\.name).sorted() == h.manifest.dense.map(\.name).sorted())
        var mapped = 0
        for a in g.manifest.dense {
            let b = try #require(h.manifest.dense.first { $0.name == a.name })
            #expect(a.dtype == b.dtype && a.shape == b.shape, "\(a.name)")
            guard a.xxh3 != b.xxh3 else { continue }
            let x = widened(g.withDenseBytes(a) { Array($0) }, a.dtype, cols: a.shape.last!)
            let y = widened(h.withDenseBytes(b) { Array($0) }, b.dtype, cols: b.shape.last!)
            let engine: (Float) -> UInt32 = a.name.hasSuffix("A_log") ? { (-expf($0)).bitPattern } : { (1 + $0).bitPattern }
            #expect(a.name.hasSuffix("norm.weight") || a.name.hasSuffix("A_log"), "\(a.name) differs")
            #expect(x.map(engine) == y.map(engine), "\(a.name)")
            mapped += 1
        }
        // 4 layers of input / post-attention norms, 2 of q / k norms, the final norm: w + 1 - 1 rounds them all (13);
        // the A_log found is the checkpoint's (torch's exp and expf agree on it), which need not hold in general.
        #expect(mapped > 0 && mapped <= 4 * 2 + 2 * 2 + 1 + 2)
        #expect(g.manifest.expertLayouts == h.manifest.expertLayouts)
        for (a, b) in zip(g.manifest.experts, h.manifest.experts) { #expect(a.xxh3 == b.xxh3 && a.norm == b.norm) }
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

    /// The quantized fixtures and how many of their dense (non-expert) tensors are stored as each type: llama-quantize
    /// Q8_0, and Q4_K_M, which on rows of 32 falls back to Q5_0 (and Q8_0 for a few tensors); on the 256-wide
    /// models Q4_K_M (Q4_K, Q6_K for some) and Q6_K.
    static let quantizedFixtures: [(gguf: String, dense: [DType: Int])] = [
        ("qwen3_moe-q8_0.gguf", [.q8_0: 10]), ("mixtral-q4_k_m.gguf", [.q5_0: 8, .q8_0: 2]), ("qwen2_moe-q8_0.gguf", [.q8_0: 14]),
        ("mixtral-wide-q4_k_m.gguf", [.q4_K: 8, .q6_K: 2]), ("qwen2_moe-wide-q4_k_m.gguf", [.q4_K: 13, .q6_K: 3]),
        ("olmoe-wide-q6_k.gguf", [.q6_K: 10]), ("mixtral-wide-iq4_xs.gguf", [.iq4_xs: 9, .q6_K: 1]),
        ("mixtral-iq4_xs.gguf", [.iq4_nl: 9, .q8_0: 1]),
        // Qwen3-Next: attn_qkv (Q6_K) and attn_gate (Q4_K) kept apart as in_proj_qkv / in_proj_z.
        ("qwen3_next_sparse-wide-q4_k_m.gguf", [.q4_K: 13, .q6_K: 3]),
    ]

    @Test("quantized tensors are copied block for block and keep their type, float ones keep theirs, expert norms are of the dequantized weights; --quant never re-quantizes them",
          arguments: quantizedFixtures.map(\.gguf))
    func quantizedKeptAsStored(fixture: String) throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let path = GGUFFixtures.dir + "/" + fixture
        let gguf = try GGUFModel(path: path)
        let hf = Dictionary(uniqueKeysWithValues: try gguf.hfTensors().map { ($0.name, $0) })
        for quant in [QuantSpec(), QuantSpec(experts: .q4_K, dense: .q4_0, embed: .q6_K, head: .q5_K)] {
            let s = try Packer.pack(PackOptions(input: path, output: dir + "/m.swm", quant: quant))
            let archive = try Archive(path: dir + "/m.swm")
            // Q4_K expert matrices are interleaved (Q4_K_X8, format version 3).
            #expect(archive.header.major == (s.interleaved > 0 ? 3 : 2) && !s.keptQuantized.isEmpty)
            for d in archive.manifest.dense {
                let t = try #require(hf[d.name], "\(d.name)")
                guard t.source.dtype?.isQuantized == true || quant.isEmpty else { continue }
                if d.dtype.rowGroup > 1 {
                    // Interleaved: the GGUF's K-type blocks, rearranged (and back, byte for byte).
                    #expect(t.source.dtype == d.dtype.plain && deinterleaved(archive.withDenseBytes(d) { Array($0) }, d.dtype, rows: d.shape[0], cols: d.shape[1]) == gguf.hfBytes(t), "\(d.name)")
                    continue
                }
                #expect(d.dtype == t.source.dtype, "\(d.name) is \(d.dtype), stored \(t.source.type) in the GGUF")
                #expect(archive.withDenseBytes(d) { Array($0) } == gguf.hfBytes(t), "\(d.name) bytes")
            }
            if quant.isEmpty {
                // Q4_K_X8, Q5_K_X8, Q6_K_X8 are Q4_K, Q5_K, Q6_K with their rows interleaved.
                let dense = Dictionary(grouping: archive.manifest.dense.filter { $0.dtype.isQuantized }, by: \.dtype.plain).mapValues(\.count)
                #expect(dense == Self.quantizedFixtures.first { $0.gguf == fixture }?.dense)
            }
            try eachExpertMatrix(archive, gguf: path, checkNorms: quant.isEmpty) { at, name, t, bytes in
                let src = try #require(hf[name])
                if src.source.dtype?.isQuantized == true || quant.isEmpty {
                    if t.dtype.rowGroup > 1 {
                        // Interleaved: the GGUF's K-type blocks, rearranged (and back, byte for byte).
                        #expect(src.source.dtype == t.dtype.plain && deinterleaved(bytes, t.dtype, rows: t.shape[0], cols: t.shape[1]) == gguf.hfBytes(src), "\(at)")
                    } else {
                        #expect(t.dtype == src.source.dtype && bytes == gguf.hfBytes(src), "\(at)")
                    }
                }
                return widened(bytes, t.dtype, cols: t.shape.last!)
            }
        }
    }

    /// The block types a GGUF can hold that the fixtures do not (llama-quantize's fallbacks for rows that are not
    /// whole 256-blocks, its 2- and 3-bit K-quants, MXFP4 as gpt-oss's experts come), with their ggml type ids.
    static let blockTypes: [(id: UInt32, type: DType)] = [(10, .q2_K), (11, .q3_K), (39, .mxfp4), (6, .q5_0), (3, .q4_1), (7, .q5_1),
                                                          (20, .iq4_nl), (23, .iq4_xs)]

    @Test("a GGUF holding every block type swapmoe keeps packs: blocks copied, types kept, weights those of the dequantized source, expert norms of them")
    func everyBlockType() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        // A one-layer qwen3moe model with rows of 256 (K-quant blocks fit): each matrix of another block type, made
        // by swapmoe's quantizer from random weights (kept as f32 `original`, by GGUF tensor name).
        let hidden = 256, headDim = 128, experts = 2, vocab = 8
        var b = GGUFBuilder()
        b.add("general.architecture", string: "qwen3moe")
        for (k, v) in [("block_count", 1), ("context_length", 64), ("embedding_length", hidden), ("feed_forward_length", hidden),
                       ("attention.head_count", 2), ("attention.head_count_kv", 2), ("attention.key_length", headDim),
                       ("attention.value_length", headDim), ("expert_count", experts), ("expert_used_count", 2),
                       ("expert_feed_forward_length", hidden)] {
            b.add("qwen3moe." + k, u32: UInt32(v))
        }
        b.add("qwen3moe.attention.layer_norm_rms_epsilon", f32: 1e-6)
        var rng = SplitMix64(state: 18)
        var original: [String: [Float]] = [:]
        func add(_ name: String, _ ne: [Int], _ type: DType?) {
            let values = (0..<ne.reduce(1, *)).map { _ in Float(Int(rng.next() % 2001) - 1000) * 4e-5 }
            original[name] = values
            let bytes = type.map { quantize(values, cols: ne[0], as: WeightType($0)!) } ?? values.flatMap { GGUFBuilder.le($0.bitPattern) }
            let id = type.map { t in Self.blockTypes.first { $0.type == t }!.id } ?? 0
            b.tensors.append(.init(name: name, ne: ne.map(UInt64.init), type: id, data: bytes))
        }
        let matrices: [(String, [Int])] = [
            ("token_embd.weight", [hidden, vocab]), ("output.weight", [hidden, vocab]),
            ("blk.0.attn_q.weight", [hidden, 2 * headDim]), ("blk.0.attn_k.weight", [hidden, 2 * headDim]),
            ("blk.0.attn_v.weight", [hidden, 2 * headDim]), ("blk.0.attn_output.weight", [2 * headDim, hidden]),
            ("blk.0.ffn_gate_exps.weight", [hidden, hidden, experts]), ("blk.0.ffn_up_exps.weight", [hidden, hidden, experts]),
            ("blk.0.ffn_down_exps.weight", [hidden, hidden, experts]),
        ]
        for (i, (name, ne)) in matrices.enumerated() { add(name, ne, Self.blockTypes[i % Self.blockTypes.count].type) }
        for (name, n) in [("output_norm.weight", hidden), ("blk.0.attn_norm.weight", hidden), ("blk.0.ffn_norm.weight", hidden),
                          ("blk.0.attn_q_norm.weight", headDim), ("blk.0.attn_k_norm.weight", headDim)] { add(name, [n], nil) }
        add("blk.0.ffn_gate_inp.weight", [hidden, experts], nil)
        try b.write(to: dir + "/types.gguf")

        // Plain rows (`--no-interleave`): the blocks as stored, byte for byte (MXFP4 would otherwise be MXFP4_X8, the
        // same bytes regrouped: f32RoundTrip checks that layout on gpt-oss's MXFP4 GGUF).
        var options = PackOptions(input: dir + "/types.gguf", output: dir + "/m.swm")
        options.interleave = false
        let s = try Packer.pack(options)
        #expect(Set(s.keptQuantized.keys) == Set(Self.blockTypes.map(\.type)))
        let archive = try Archive(path: dir + "/m.swm"), gguf = try GGUFModel(path: dir + "/types.gguf")
        /// Checks one stored matrix against its source: same type and bytes, and (for the block types) weights within
        /// the type's rounding of the values it was quantized from (a wrong layout or type mapping is far off).
        func check(_ t: GGUFHFTensor, stored: DType, _ bytes: [UInt8]) throws -> [Float] {
            let source = try #require(t.source.dtype)
            #expect(stored == source && bytes == gguf.hfBytes(t), "\(t.name): \(stored) vs \(source)")
            let cols = t.shape.last!, w = widened(bytes, stored, cols: cols)
            guard source.isQuantized else { return w }
            let start = t.range.lowerBound / source.blockBytes * source.blockSize
            let values = Array(original[t.source.name]![start..<(start + w.count)])
            let amax = values.map(abs).max()!
            let err = zip(w, values).map { abs($0 - $1) }.max()!
            #expect(err <= amax * (source.bitsPerWeight < 4.5 ? 0.5 : 0.125), "\(t.name) (\(source)): max error \(err) for max |w| \(amax)")
            return w
        }
        let hf = Dictionary(uniqueKeysWithValues: try gguf.hfTensors().map { ($0.name, $0) })
        for d in archive.manifest.dense {
            _ = try check(try #require(hf[d.name]), stored: d.dtype, archive.withDenseBytes(d) { Array($0) })
        }
        try eachExpertMatrix(archive, gguf: dir + "/types.gguf", checkNorms: true) { _, name, t, bytes in
            try check(try #require(hf[name]), stored: t.dtype, bytes)
        }
    }

    @Test("a GGUF with a type swapmoe cannot compute with fails before writing, naming tensor, type and llama-quantize")
    func unsupportedType() throws {
        let dir = TestPaths.tempDir(), input = TestPaths.tempDir()
        defer { TestPaths.remove(dir); TestPaths.remove(input) }
        // The 256-wide Q4_K_M fixture with one Q4_K tensor relabelled IQ3_XXS (98 bytes per 256 weights, Q4_K has 144).
        let fixture = [UInt8](try Data(contentsOf: URL(fileURLWithPath: GGUFFixtures.dir + "/mixtral-wide-q4_k_m.gguf")))
        try Data(try #require(GGUFBuilder.settingType(of: "blk.1.ffn_up_exps.weight", to: 18, in: fixture)))
            .write(to: URL(fileURLWithPath: input + "/iq3.gguf"))
        #expect {
            try Packer.pack(PackOptions(input: input + "/iq3.gguf", output: dir + "/x.swm"))
        } throws: { error in
            let text = "\(error)"
            return text.contains("iq3.gguf") && text.contains("IQ3_XXS") && text.contains("llama-quantize") && !text.contains("\n")
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

/// Walks every expert matrix of an archive packed from the GGUF at `gguf`: `visit` gets where it is ("layer L
/// expert E role"), the HF name of the GGUF tensor it came from, its stored layout entry and bytes, and returns
/// its weights; with `checkNorms`, their sum of squares must give the expert's recorded norm.
func eachExpertMatrix(_ archive: Archive, gguf: String, checkNorms: Bool,
                      _ visit: (_ at: String, _ tensor: String, _ stored: ExpertLayout.Tensor, _ bytes: [UInt8]) throws -> [Float]) throws {
    let config = try archive.modelConfig()
    let source = try GGUFSource(path: gguf)
    for stack in config.stacks { for layer in stack.moeLayers {
        for (e, parts) in try stack.resolve(layer: layer, hidden: config.hiddenSize, in: source).enumerated() {
            let entry = try #require(archive.expert(ExpertKey(stack: stack.name, layer: layer, expert: e)))
            let raw = try archive.expertBytes(entry)
            var sumSq = 0.0
            for p in parts {
                let t = try #require(archive.layout(of: entry).tensor(p.role))
                let w = try visit("layer \(layer) expert \(e) \(p.role)", p.tensor, t, Array(raw[t.offset..<(t.offset + t.length)]))
                sumSq += w.reduce(0.0) { $0 + Double($1) * Double($1) }
            }
            if checkNorms {
                #expect(abs(sumSq.squareRoot() - entry.norm) <= 1e-5 * max(1, entry.norm), "layer \(layer) expert \(e) norm")
            }
        }
    } }
}

/// A matrix's stored bytes (rows of `cols` weights) as floats, through the kernels' row conversion.
func widened(_ bytes: [UInt8], _ type: DType, cols: Int) -> [Float] {
    let w = WeightType(type)!
    let rows = bytes.count / w.rowBytes(cols)
    var out = [Float](repeating: 0, count: rows * cols)
    bytes.withUnsafeBytes { b in
        out.withUnsafeMutableBufferPointer { dequantizeRows($0.baseAddress!, b.baseAddress!, w, rows: 0..<rows, cols: cols) }
    }
    return out
}

/// Interleaved bytes (Q4_K_X8, ...) as the plain rows they were made from.
func deinterleaved(_ bytes: [UInt8], _ type: DType, rows: Int, cols: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: bytes.count)
    bytes.withUnsafeBytes { b in out.withUnsafeMutableBytes { deinterleave($0.baseAddress!, b.baseAddress!, as: WeightType(type)!, rows: rows, cols: cols) } }
    return out
}
