import Foundation
import SwapMoECore
import SwapMoEArchive

/// The kinds of malformed input the fuzzer makes.
public enum FuzzKind: String, CaseIterable, Sendable {
    /// Random bytes of a valid archive flipped, zeroed or cut off (the checksums must catch these).
    case archiveBytes = "archive-bytes"
    /// The manifest edited and its checksum and header recomputed, so the manifest parser and the checks behind
    /// it are reached (a hand-edited or crafted archive).
    case manifest
    /// A checkpoint folder whose config.json was edited (packed, then run).
    case config
    /// A checkpoint folder whose safetensors header (or its length prefix, or the shard index) was edited.
    case safetensors
    /// A checkpoint folder whose tokenizer.json (or tokenizer_config.json) was edited.
    case tokenizer
    /// A GGUF file (llama.cpp's format) with bytes of its header, metadata or tensor table changed, a number set
    /// to an extreme value, or the file cut (packed, then run). GGUF has no checksums: damage in the tensor data
    /// packs into an archive that runs with other weights.
    case gguf

    /// Cases of this kind are archives (else checkpoint folders to pack).
    public var isArchive: Bool { self == .archiveBytes || self == .manifest }
}

/// One generated input: an archive file or a checkpoint folder, and what was done to it.
public struct FuzzCase: Sendable {
    public let kind: FuzzKind
    public let index: Int
    public let path: String
    public let mutation: String
}

/// Makes malformed inputs from valid seeds: seed archives (packed from the test fixtures) and seed checkpoint
/// folders. Case `i` depends only on `seed`, `i` and the seeds, so a failing case can be made again from its
/// number alone (`Tools/fuzz.sh` keeps the files too).
public struct FuzzGenerator: Sendable {
    public let archives: [String]
    public let checkpoints: [String]
    public let ggufs: [String]
    public let seed: UInt64

    public init(archives: [String], checkpoints: [String], ggufs: [String], seed: UInt64 = 0x5EED) {
        self.archives = archives; self.checkpoints = checkpoints; self.ggufs = ggufs; self.seed = seed
    }

    /// The kind of case `index` (the kinds in turn).
    public static func kind(of index: Int) -> FuzzKind { FuzzKind.allCases[index % FuzzKind.allCases.count] }

    /// Writes case `index` under `dir` (a file `case-<index>.swapmoe` or a folder `case-<index>/`).
    public func make(index: Int, in dir: String) throws -> FuzzCase {
        let kind = Self.kind(of: index)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var rng = FuzzRNG(seed: seed &* 0x100_0000_01B3 &+ UInt64(index))
        switch kind {
        case .archiveBytes:
            let src = rng.pick(archives)
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: src)))
            let what = Self.damage(&bytes, covered: try Self.checkedRanges(src), rng: &rng)
            let path = "\(dir)/case-\(index).swapmoe"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return FuzzCase(kind: kind, index: index, path: path, mutation: "\(name(src)): \(what)")
        case .manifest:
            let src = rng.pick(archives)
            let (bytes, what) = try Self.editManifest(of: src, rng: &rng)
            let path = "\(dir)/case-\(index).swapmoe"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return FuzzCase(kind: kind, index: index, path: path, mutation: "\(name(src)): \(what)")
        case .gguf:
            let src = rng.pick(ggufs)
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: src)))
            let what = Self.damageGGUF(&bytes, rng: &rng)
            let path = "\(dir)/case-\(index).gguf"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return FuzzCase(kind: kind, index: index, path: path, mutation: "\(name(src)): \(what)")
        case .config, .safetensors, .tokenizer:
            let src = rng.pick(checkpoints)
            let folder = "\(dir)/case-\(index)"
            try? FileManager.default.removeItem(atPath: folder)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for f in try FileManager.default.contentsOfDirectory(atPath: src) where Self.isCheckpointFile(f) {
                try FileManager.default.copyItem(atPath: "\(src)/\(f)", toPath: "\(folder)/\(f)")
            }
            let what: String
            switch kind {
            case .config: what = try Self.editJSON("\(folder)/config.json", targets: Self.configTargets, rng: &rng)
            case .safetensors: what = try Self.editSafetensors(folder, rng: &rng)
            default:
                let file = rng.chance(0.85) || !FileSystem.exists("\(folder)/tokenizer_config.json") ? "tokenizer.json" : "tokenizer_config.json"
                what = file + ": " + (try Self.editJSON("\(folder)/\(file)", targets: Self.tokenizerTargets, rng: &rng))
            }
            return FuzzCase(kind: kind, index: index, path: folder, mutation: "\(name(src)): \(what)")
        }
    }

    private func name(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }

    static func isCheckpointFile(_ f: String) -> Bool {
        f.hasSuffix(".safetensors") || f.hasSuffix(".json") && !["golden.json", "fixture.json", "training_report.json"].contains(f)
    }

    // MARK: GGUF bytes

    /// Damages a GGUF file: mostly its header, metadata and tensor table (the first 64 KiB, where every count,
    /// length and offset lives), sometimes anywhere.
    static func damageGGUF(_ bytes: inout [UInt8], rng: inout FuzzRNG) -> String {
        let head = min(bytes.count, rng.chance(0.8) ? 64 << 10 : bytes.count)
        switch rng.below(4) {
        case 0:
            let n = 1 + rng.below(8)
            for _ in 0..<n { bytes[rng.below(head)] ^= UInt8(truncatingIfNeeded: 1 + rng.below(255)) }
            return "\(n) bytes flipped in the first \(head) bytes"
        case 1:
            let at = rng.below(max(1, head - 8))
            let v: UInt64 = rng.pick([UInt64.max, 1 << 63, 1 << 62, 1 << 32, (1 << 32) - 1, 0, 1, 13, 4096, 1 << 20])
            for k in 0..<8 where at + k < bytes.count { bytes[at + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
            return "u64 \(v) written at byte \(at)"
        case 2:
            let cut = rng.below(bytes.count)
            bytes.removeSubrange(cut..<bytes.count)
            return "cut at byte \(cut)"
        default:
            let at = rng.below(head), len = 1 + rng.below(64)
            for k in at..<min(bytes.count, at + len) { bytes[k] = 0 }
            return "\(len) bytes zeroed at \(at)"
        }
    }

    // MARK: Archive bytes

    /// The byte ranges of a valid archive that a checksum covers: the header's checked 64 bytes, the manifest,
    /// every embedded file, dense tensor and expert block (not the alignment padding between them, whose bytes
    /// carry nothing: changing them leaves the same archive).
    static func checkedRanges(_ path: String) throws -> [Range<Int>] {
        let a = try Archive(path: path)
        let m = a.manifest
        let off = Int(a.header.manifestOffset)
        return [0..<ArchiveFormat.headerSize, off..<(off + Int(a.header.manifestLength))]
            + m.files.map { $0.offset..<($0.offset + $0.length) } + m.dense.map { $0.offset..<($0.offset + $0.length) }
            + m.experts.map { $0.offset..<($0.offset + $0.storedLength) }
    }

    /// Damages `bytes` inside the checked ranges, so every case is an archive that must be refused.
    static func damage(_ bytes: inout [UInt8], covered: [Range<Int>], rng: inout FuzzRNG) -> String {
        let ranges = covered.filter { !$0.isEmpty }
        func somewhere() -> Int { let r = rng.pick(ranges); return r.lowerBound + rng.below(r.count) }
        switch rng.below(4) {
        case 0:
            let n = 1 + rng.below(8)
            var at: [Int] = []
            for _ in 0..<n { let i = somewhere(); bytes[i] ^= UInt8(1 + rng.below(255)); at.append(i) }
            return "flipped bytes at \(at)"
        case 1:
            let end = somewhere()
            bytes.removeSubrange(end...)
            return "truncated to \(end) bytes"
        case 2:
            // Zeroes a run inside one checked range that holds a non-zero byte (else nothing would change).
            for _ in 0..<16 {
                let r = rng.pick(ranges)
                let start = r.lowerBound + rng.below(r.count), n = min(r.upperBound - start, 1 + rng.below(8192))
                guard bytes[start..<(start + n)].contains(where: { $0 != 0 }) else { continue }
                for i in start..<(start + n) { bytes[i] = 0 }
                return "zeroed \(n) bytes at \(start)"
            }
            let i = somewhere()
            bytes[i] ^= 0xFF
            return "flipped byte \(i)"
        default:
            // The header's fields (offsets, lengths) rather than anywhere.
            let i = 8 + rng.below(ArchiveFormat.headerSize - 8)
            bytes[i] ^= UInt8(1 + rng.below(255))
            return "flipped header byte \(i)"
        }
    }

    // MARK: Manifest

    /// The archive at `path` with its manifest edited and the header (manifest length, checksum, file length)
    /// recomputed.
    static func editManifest(of path: String, rng: inout FuzzRNG) throws -> ([UInt8], String) {
        var what = ""
        let bytes = try rewriteManifest(of: path) { manifest in
            if rng.chance(0.6) {
                (manifest, what) = targetedManifestEdit(manifest, rng: &rng)
            } else {
                (manifest, what) = JSONMutator.mutate(manifest, rng: &rng)
            }
        }
        return (bytes, what)
    }

    /// The bytes of the archive at `path` with its manifest (parsed JSON) changed by `edit`, and the header's
    /// manifest length, checksum and file length recomputed to match: what a hand-edited archive looks like.
    public static func rewriteManifest(of path: String, _ edit: (inout Any) throws -> Void) throws -> [UInt8] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try bytes.withUnsafeBytes { try ArchiveHeader(decoding: $0) }
        let off = Int(header.manifestOffset), len = Int(header.manifestLength)
        var manifest = try JSONMutator.parse(Data(bytes[off..<(off + len)]))
        try edit(&manifest)
        let json = [UInt8](JSONMutator.encode(manifest))
        var out = Array(bytes[0..<off]) + json
        var h = header
        h.manifestLength = UInt64(json.count)
        h.manifestChecksum = json.withUnsafeBytes { Checksum.xxh3($0) }
        h.fileLength = UInt64(out.count)
        out.replaceSubrange(0..<ArchiveFormat.headerSize, with: h.encoded())
        return out
    }

    static func targetedManifestEdit(_ m: Any, rng: inout FuzzRNG) -> (Any, String) {
        guard var d = m as? [String: Any] else { return (m, "none") }
        var experts = d["experts"] as? [[String: Any]] ?? []
        var dense = d["dense"] as? [[String: Any]] ?? []
        var layouts = d["expert_layouts"] as? [[String: Any]] ?? []
        let big = [0, -1, 1 << 31, 1 << 32, 1 << 40, 1 << 62, Int.max]
        var what = ""
        /// Edits one random tensor of one random expert layout; false when there is none.
        func editLayoutTensor(_ edit: (_ layout: Int, _ tensor: Int, inout [String: Any]) -> Void) -> Bool {
            guard !layouts.isEmpty else { return false }
            let li = rng.below(layouts.count)
            var ts = layouts[li]["tensors"] as? [[String: Any]] ?? []
            guard !ts.isEmpty else { return false }
            let ti = rng.below(ts.count)
            edit(li, ti, &ts[ti])
            layouts[li]["tensors"] = ts
            return true
        }
        switch rng.below(15) {
        case 0, 1:
            let (c, w) = targetedEdit(d["config"] ?? [:], targets: configTargets, rng: &rng)
            d["config"] = c
            what = "config: \(w)"
        case 2:
            _ = editLayoutTensor { li, ti, t in
                let s = t["shape"] as? [Int] ?? [1, 1]
                let n = s.reduce(1, *)
                let new = rng.pick([[s.last ?? 1, s.first ?? 1], [n, 1], [1, n], [n / 2, 2], [n]])
                t["shape"] = new
                what = "layout \(li) tensor \(ti) reshaped \(s) -> \(new) (same length)"
            }
        case 3:
            guard !experts.isEmpty else { break }
            let i = rng.below(experts.count)
            experts.append(experts[i])
            what = "expert entry \(i) listed twice"
        case 4:
            guard !dense.isEmpty else { break }
            let i = rng.below(dense.count)
            dense.append(dense[i])
            what = "dense entry \(i) listed twice"
        case 5:
            guard !dense.isEmpty else { break }
            let i = rng.below(dense.count)
            dense[i]["shape"] = [1 << 32, 1 << 32]
            dense[i]["length"] = 0
            what = "dense \(i) shape [2^32, 2^32], length 0"
        case 6:
            guard !experts.isEmpty else { break }
            let i = rng.below(experts.count), v = rng.pick(big)
            experts[i]["raw_length"] = v
            if let l = experts[i]["layout"] as? Int, l < layouts.count, rng.chance(0.7) { layouts[l]["raw_length"] = v }
            what = "expert \(i) raw_length \(v)"
        case 7:
            guard !experts.isEmpty else { break }
            let i = rng.below(experts.count), v = rng.pick([1e300, -1.0, 0.0, 1e-300])
            experts[i]["norm"] = v
            what = "expert \(i) norm \(v)"
        case 8:
            guard !experts.isEmpty else { break }
            let i = rng.below(experts.count)
            experts[i]["codec"] = (experts[i]["codec"] as? String) == "lz4" ? "raw" : "lz4"
            what = "expert \(i) codec flipped"
        case 9:
            guard !experts.isEmpty else { break }
            let i = rng.below(experts.count)
            experts.remove(at: i)
            what = "expert entry \(i) removed"
        case 10:
            _ = editLayoutTensor { li, ti, t in
                let key = rng.pick(["offset", "length"]), v = rng.pick(big + [64, 4096])
                t[key] = v
                what = "layout \(li) tensor \(ti) \(key) \(v)"
            }
        case 11:
            let key = rng.pick(["experts_per_token", "hidden_size", "vocab_size"])
            var model = d["model"] as? [String: Any] ?? [:]
            let v = rng.pick(big + [2, 3, 1_000_000_000])
            model[key] = v
            d["model"] = model
            what = "model.\(key) \(v)"
        case 14:
            // A tensor retyped as a quantized block type, its length made consistent or not: the archive either
            // opens and runs on reinterpreted bytes (any f16 scale, NaN included) or is refused.
            // (IQ3_XXS: a GGUF type name that is no archive dtype.)
            let type = rng.pick(DType.quantized.map(\.rawValue) + ["IQ3_XXS"])
            func retype(_ t: inout [String: Any]) -> String {
                t["dtype"] = type
                let shape = t["shape"] as? [Int] ?? []
                if rng.chance(0.7), let q = DType(rawValue: type), let last = shape.last, last % q.blockSize == 0 {
                    t["length"] = shape.reduce(1, *) / q.blockSize * q.blockBytes
                    return "\(type), length made consistent"
                }
                return type
            }
            if rng.chance(0.5) || dense.isEmpty {
                _ = editLayoutTensor { li, ti, t in what = "layout \(li) tensor \(ti) retyped \(retype(&t))" }
            } else {
                let i = rng.below(dense.count)
                what = "dense \(i) retyped \(retype(&dense[i]))"
            }
        case 12:
            guard experts.count > 1 else { break }
            let i = rng.below(experts.count), v = rng.pick(big)
            experts[i][rng.pick(["offset", "stored_length", "layer", "expert", "layout", "shuffle"])] = v
            what = "expert \(i) field = \(v)"
        default:
            let fam = rng.pick(["mixtral", "qwen2_moe", "qwen3_moe", "olmoe", "switch_transformers", "llama"])
            if rng.chance(0.5) { d["family"] = fam; what = "family \(fam)" } else {
                var c = d["config"] as? [String: Any] ?? [:]
                c["model_type"] = fam
                d["config"] = c
                what = "config.model_type \(fam)"
            }
        }
        d["experts"] = experts; d["dense"] = dense; d["expert_layouts"] = layouts
        return (d, what)
    }

    // MARK: JSON files

    /// config.json keys whose absurd values broke size arithmetic before they were range-checked.
    static let configTargets: [[String]] = [
        ["hidden_size"], ["intermediate_size"], ["moe_intermediate_size"], ["shared_expert_intermediate_size"],
        ["num_hidden_layers"], ["num_attention_heads"], ["num_key_value_heads"], ["head_dim"], ["vocab_size"],
        ["max_position_embeddings"], ["num_local_experts"], ["num_experts"], ["num_experts_per_tok"], ["decoder_sparse_step"],
        ["mlp_only_layers"], ["rms_norm_eps"], ["rope_theta"], ["rope_parameters", "rope_theta"], ["sliding_window"], ["clip_qkv"],
        ["d_model"], ["d_kv"], ["d_ff"], ["num_heads"], ["num_layers"], ["num_decoder_layers"], ["num_sparse_encoder_layers"],
        ["num_sparse_decoder_layers"], ["encoder_sparse_step"], ["decoder_sparse_step"], ["expert_capacity"],
        ["relative_attention_num_buckets"], ["relative_attention_max_distance"], ["eos_token_id"], ["pad_token_id"],
        ["decoder_start_token_id"], ["bos_token_id"], ["tie_word_embeddings"], ["model_type"],
    ]

    /// tokenizer.json / tokenizer_config.json places that parsers index or size buffers by.
    static let tokenizerTargets: [[String]] = [
        ["model", "type"], ["model", "unk_token"], ["model", "byte_fallback"], ["model", "dropout"], ["model", "merges"],
        ["normalizer", "type"], ["pre_tokenizer", "type"], ["decoder", "type"], ["post_processor", "type"],
        ["pre_tokenizer", "pattern", "Regex"], ["added_tokens"], ["model", "vocab"], ["bos_token"], ["eos_token"],
        ["chat_template"], ["add_bos_token"], ["legacy"], ["model_max_length"],
    ]

    static func targetedEdit(_ root: Any, targets: [[String]], rng: inout FuzzRNG) -> (Any, String) {
        // Mostly keys the file has (a Mixtral config has no d_model), sometimes one it lacks.
        let present = targets.filter { JSONMutator.get(root, $0.map { PathStep.key($0) }[...]) != nil }
        let keys = rng.chance(0.8) && !present.isEmpty ? rng.pick(present) : rng.pick(targets)
        var root = root
        let value: Any
        // Vocabulary ids and merges get edits of their entries rather than a whole replacement.
        if keys == ["model", "vocab"], let vocab = JSONMutator.get(root, [.key("model"), .key("vocab")]) as? [String: Any], let k = vocab.keys.sorted().first {
            let v = rng.pick([1 << 32, -1, Int(Int32.max), 1 << 62, 10_000_000])
            root = JSONMutator.set(root, ["model", "vocab", k], v)
            return (root, "model.vocab[\(k.debugDescription)] = \(v)")
        }
        if keys == ["added_tokens"], var added = (root as? [String: Any])?["added_tokens"] as? [[String: Any]], !added.isEmpty {
            let i = rng.below(added.count), v = rng.pick([1 << 32, -1, Int(Int32.max), 1 << 62])
            added[i]["id"] = v
            root = JSONMutator.set(root, ["added_tokens"], added)
            return (root, "added_tokens[\(i)].id = \(v)")
        }
        switch rng.below(4) {
        case 0, 1: value = rng.pick(interestingNumbers)
        case 2: value = rng.pick(["", "unknown", "BPE", "Sequence", "(", "[", "\\", "a{99999999}", "(?<", NSNull()] as [Any])
        default: value = rng.pick([[Any](), [1 << 32], [-1], [0, 0, 0], ["x y", "y z"], [String: Any](), true] as [Any])
        }
        root = JSONMutator.set(root, keys, value)
        return (root, "\(keys.joined(separator: ".")) = \(String(describing: value).prefix(24))")
    }

    /// Edits the JSON file at `path` in place: a targeted edit (60%) or a random structural one.
    static func editJSON(_ path: String, targets: [[String]], rng: inout FuzzRNG) throws -> String {
        let root = try JSONMutator.parse(Data(contentsOf: URL(fileURLWithPath: path)))
        let (out, what) = rng.chance(0.6) ? targetedEdit(root, targets: targets, rng: &rng) : JSONMutator.mutate(root, rng: &rng)
        try JSONMutator.encode(out).write(to: URL(fileURLWithPath: path))
        return what
    }

    // MARK: Safetensors

    static func editSafetensors(_ folder: String, rng: inout FuzzRNG) throws -> String {
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".safetensors") }.sorted()
        if FileSystem.exists("\(folder)/model.safetensors.index.json"), rng.chance(0.2) {
            return "index: " + (try editJSON("\(folder)/model.safetensors.index.json", targets: [["weight_map"], ["metadata", "total_size"]], rng: &rng))
        }
        let file = "\(folder)/\(rng.pick(files))"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        guard bytes.count >= 8 else { return "none" }
        let n = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        if rng.chance(0.2) {
            let v = rng.pick([0, 1, 7, n - 1, n + 1, bytes.count, 1 << 32, 1 << 62, -1])
            withUnsafeBytes(of: UInt64(bitPattern: Int64(v)).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            return "\(URL(fileURLWithPath: file).lastPathComponent) header length \(v)"
        }
        guard n > 0, 8 + n <= bytes.count, var header = try? JSONMutator.parse(Data(bytes[8..<(8 + n)])) else { return "none" }
        var what: String
        if rng.chance(0.6), let d = header as? [String: Any] {
            let names = d.keys.filter { $0 != "__metadata__" }.sorted()
            guard !names.isEmpty else { return "none" }
            let t = rng.pick(names)
            let key = rng.pick(["dtype", "shape", "data_offsets"])
            let value: Any
            switch key {
            case "dtype": value = rng.pick(["F32", "F16", "BF16", "I64", "BOOL", "F8_E4M3", "Q4", "", 7] as [Any])
            case "shape": value = rng.pick([[0], [-1, 4], [1 << 32, 1 << 32], [1 << 62, 4], [], [3, 5, 7]] as [Any])
            default: value = rng.pick([[0, 0], [0, 1 << 62], [-8, 8], [8, 0], [0, Int.max], [1]] as [Any])
            }
            header = JSONMutator.set(header, [t, key], value)
            what = "\(t).\(key) = \(value)"
        } else {
            (header, what) = JSONMutator.mutate(header, rng: &rng)
        }
        let json = [UInt8](JSONMutator.encode(header))
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out += json + bytes[(8 + n)...]
        try Data(out).write(to: URL(fileURLWithPath: file))
        return "\(URL(fileURLWithPath: file).lastPathComponent): \(what)"
    }
}
