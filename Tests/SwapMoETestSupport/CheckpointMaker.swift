import Foundation
import SwapMoECore

/// Writes small Hugging Face style checkpoint folders for tests: safetensors (single or sharded with an
/// index), config.json and an optional tokenizer.json. Values come from a seeded generator.
public struct CheckpointMaker {
    public struct Tensor {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]
        public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
            self.name = name; self.dtype = dtype; self.shape = shape; self.bytes = bytes
        }
    }

    public var tensors: [Tensor] = []
    public var config: [String: Any]
    /// A tokenizer from `Tests/Fixtures/tokenizers/<name>` to copy into the folder (else a minimal stub).
    public var tokenizerFixture: String?
    private var rng: UInt64

    public init(config: [String: Any], seed: UInt64 = 42) { self.config = config; rng = seed | 1 }

    mutating func nextFloat() -> Float {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
        return Float(Double(rng % 2_000_001) / 1_000_000.0 - 1.0) * 0.5
    }

    /// Adds a random tensor of `shape` stored as `dtype`.
    public mutating func add(_ name: String, _ shape: [Int], _ dtype: DType = .bf16) {
        let n = shape.reduce(1, *)
        var bytes = [UInt8](repeating: 0, count: n * dtype.size)
        bytes.withUnsafeMutableBytes { b in
            for i in 0..<n {
                let f = nextFloat()
                switch dtype {
                case .f32: b.storeBytes(of: f, toByteOffset: i * 4, as: Float.self)
                case .f16: b.storeBytes(of: floatToF16(f), toByteOffset: i * 2, as: UInt16.self)
                default: b.storeBytes(of: floatToBF16(f), toByteOffset: i * 2, as: UInt16.self)
                }
            }
        }
        tensors.append(Tensor(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds a large tensor quickly: one 64 KiB random tile repeated (for tests that need volume, not variety).
    public mutating func addLarge(_ name: String, _ shape: [Int], _ dtype: DType = .f32) {
        let tileElems = 16384 / dtype.size * 4
        add("__tile", [tileElems], dtype)
        let tile = tensors.removeLast().bytes
        let total = shape.reduce(1, *) * dtype.size
        var bytes = [UInt8](repeating: 0, count: total)
        var off = 0
        while off < total { let n = min(tile.count, total - off); bytes.replaceSubrange(off..<(off + n), with: tile[0..<n]); off += n }
        tensors.append(Tensor(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// A Mixtral-shaped model with per-expert (`w1/w2/w3`) or fused (`gate_up_proj`/`down_proj`) experts.
    public static func mixtral(hidden: Int = 80, intermediate: Int = 48, layers: Int = 2, experts: Int = 4, vocab: Int = 64,
                               dtype: DType = .bf16, fused: Bool = false) -> CheckpointMaker {
        var m = CheckpointMaker(config: [
            "model_type": "mixtral", "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
            "num_attention_heads": 4, "num_key_value_heads": 2, "num_local_experts": experts, "num_experts_per_tok": 2,
            "vocab_size": vocab, "rope_theta": 1e6, "torch_dtype": "bfloat16",
        ])
        m.add("model.embed_tokens.weight", [vocab, hidden], dtype)
        m.add("lm_head.weight", [vocab, hidden], dtype)
        m.add("model.norm.weight", [hidden], dtype)
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            for n in ["q_proj", "o_proj"] { m.add(p + "self_attn.\(n).weight", [hidden, hidden], dtype) }
            for n in ["k_proj", "v_proj"] { m.add(p + "self_attn.\(n).weight", [hidden / 2, hidden], dtype) }
            m.add(p + "input_layernorm.weight", [hidden], dtype)
            m.add(p + "post_attention_layernorm.weight", [hidden], dtype)
            if fused {
                m.add(p + "mlp.gate.weight", [experts, hidden], dtype)
                m.add(p + "mlp.experts.gate_up_proj", [experts, 2 * intermediate, hidden], dtype)
                m.add(p + "mlp.experts.down_proj", [experts, hidden, intermediate], dtype)
            } else {
                m.add(p + "block_sparse_moe.gate.weight", [experts, hidden], dtype)
                for e in 0..<experts {
                    m.add(p + "block_sparse_moe.experts.\(e).w1.weight", [intermediate, hidden], dtype)
                    m.add(p + "block_sparse_moe.experts.\(e).w2.weight", [hidden, intermediate], dtype)
                    m.add(p + "block_sparse_moe.experts.\(e).w3.weight", [intermediate, hidden], dtype)
                }
            }
        }
        return m
    }

    /// Writes the folder; `shards` > 1 splits tensors round-robin and writes `model.safetensors.index.json`.
    public func write(to folder: String, shards: Int = 1, tokenizer: Bool = true) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let configData = try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
        try configData.write(to: URL(fileURLWithPath: folder + "/config.json"))
        if let fixture = tokenizerFixture {
            for f in ["tokenizer.json", "tokenizer_config.json"] {
                let src = TestPaths.fixtures + "/tokenizers/\(fixture)/\(f)"
                if FileManager.default.fileExists(atPath: src) { try FileManager.default.copyItem(atPath: src, toPath: folder + "/" + f) }
            }
        } else if tokenizer {
            let tok = #"{"version":"1.0","added_tokens":[{"id":0,"content":"<s>","special":true}],"model":{"type":"BPE","vocab":{"<s>":0,"a":1},"merges":[]}}"#
            try Data(tok.utf8).write(to: URL(fileURLWithPath: folder + "/tokenizer.json"))
        }
        if shards <= 1 {
            try CheckpointMaker.writeSafetensors(tensors, to: folder + "/model.safetensors")
            return
        }
        var weightMap: [String: String] = [:]
        for s in 0..<shards {
            let name = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards)
            let part = tensors.enumerated().filter { $0.offset % shards == s }.map(\.element)
            for t in part { weightMap[t.name] = name }
            try CheckpointMaker.writeSafetensors(part, to: folder + "/" + name)
        }
        let index = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": tensors.reduce(0) { $0 + $1.bytes.count }], "weight_map": weightMap])
        try index.write(to: URL(fileURLWithPath: folder + "/model.safetensors.index.json"))
    }

    public static func writeSafetensors(_ tensors: [Tensor], to path: String) throws {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var off = 0
        for t in tensors {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [off, off + t.bytes.count]]
            off += t.bytes.count
        }
        var h = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(h)
        for t in tensors { out.append(contentsOf: t.bytes) }
        try out.write(to: URL(fileURLWithPath: path))
    }
}

/// Paths for tests: a fresh temporary directory, and the repository's `Tests/Fixtures`.
public enum TestPaths {
    public static func tempDir(_ tag: String = #function) -> String {
        let safe = tag.filter { $0.isLetter || $0.isNumber }
        let p = NSTemporaryDirectory() + "swapmoe-test-\(safe)-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// Removes a directory made by `tempDir` (tests call it in a `defer`).
    public static func remove(_ dir: String) { try? FileManager.default.removeItem(atPath: dir) }

    /// `<repo>/Tests/Fixtures`, located from this source file.
    public static var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }

    /// Model fixture folders with goldens (`Tests/Fixtures/models/*` with config.json and golden.json), sorted.
    /// The trained demo model (`demo-moe`) has no golden and is not one of them.
    public static var modelFixtures: [String] {
        let root = fixtures + "/models"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.sorted().map { root + "/" + $0 }.filter {
            FileManager.default.fileExists(atPath: $0 + "/config.json") && FileManager.default.fileExists(atPath: $0 + "/golden.json")
        }
    }

    /// Encoder-decoder model fixtures (`is_encoder_decoder` in config.json: the Switch Transformer ones).
    public static var seq2seqFixtures: [String] { modelFixtures.filter(isEncoderDecoder) }

    /// Decoder-only model fixtures.
    public static var decoderFixtures: [String] { modelFixtures.filter { !isEncoderDecoder($0) } }

    static func isEncoderDecoder(_ folder: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: folder + "/config.json"),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        return obj["is_encoder_decoder"] as? Bool ?? false
    }

    /// The built `swapmoe` executable next to the test bundle.
    public static var swapmoeBinary: String {
        var url = Bundle.main.bundleURL
        if url.pathExtension == "xctest" { url = url.deletingLastPathComponent() }
        let candidate = url.appendingPathComponent("swapmoe").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        // Fall back to the build folder of this checkout.
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(".build/debug/swapmoe").path
    }
}

/// Runs a command and captures its exit status, stdout and stderr.
public struct CommandResult { public var status: Int32; public var stdout: String; public var stderr: String }

/// Corrupts one byte of the file at `path` in place (XOR 0x5A), for tests of checksums and error messages.
public func flipByte(_ path: String, at offset: Int) throws {
    let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try h.seek(toOffset: UInt64(offset))
    let b = try h.read(upToCount: 1)![0]
    try h.seek(toOffset: UInt64(offset))
    try h.write(contentsOf: Data([b ^ 0x5A]))
    try h.close()
}

public func runCommand(_ path: String, _ args: [String]) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}
