import SwapMoECore
import SwapMoECheckpoint

/// One matrix of one expert, as the packer finds it in a checkpoint (or a GGUF file seen under HF names).
public struct ExpertPart: Sendable, Hashable {
    /// The role the engine knows it by: `gate`, `up`, `down` for SwiGLU experts; `wi`, `wo` for the two-matrix
    /// ReLU experts of Switch Transformers.
    public let role: String
    /// The checkpoint tensor holding it.
    public let tensor: String
    /// For fused 3-D expert tensors, the rows of the tensor (viewed as 2-D `[rows, last_dim]`) that belong
    /// to this expert; nil when the tensor is this expert's matrix alone.
    public let rows: Range<Int>?
    /// The matrix shape `[out, in]` (`[count]` for an expert's bias vector).
    public let shape: [Int]
    /// How the stored bytes become the part (gpt-oss layouts; `.none` for every other family).
    public var transform: Transform = .none

    public enum Transform: Sendable, Hashable {
        /// The rows are the part as stored.
        case none
        /// The rows hold the part transposed (`[in, out]`, transformers' dequantized gpt-oss `gate_up_proj`).
        case transposed
        /// The rows are the part's MXFP4 nibbles as the hub stores them (`*_blocks`, `[out, in / 32, 16]` uint8),
        /// with their E8M0 scales in the same rows of `scales` (`[out, in / 32]` uint8).
        case mxfp4(scales: String)
    }

    init(role: String, tensor: String, rows: Range<Int>?, shape: [Int], transform: Transform = .none) {
        self.role = role; self.tensor = tensor; self.rows = rows; self.shape = shape; self.transform = transform
    }
}

/// Where a family keeps its experts on disk. Hub checkpoints keep one tensor per expert and matrix
/// (`...experts.{e}.w1.weight`); transformers 5 may write fused 3-D tensors (`...experts.gate_up_proj` of
/// shape `[E, 2I, H]`, gate rows first, and `...experts.down_proj` of shape `[E, H, I]`). Both are read.
public struct ExpertNaming: Sendable {
    /// One matrix of an expert: its role, the accepted tensor-name suffixes after the prefix, and whether it
    /// maps the hidden state in (`[intermediate, hidden]`) or back out (`[hidden, intermediate]`).
    public struct Role: Sendable {
        public let role: String
        public let suffixes: [String]
        public let projectsIn: Bool
        /// The archive shape of a role that is neither `[intermediate, hidden]` nor `[hidden, intermediate]`
        /// (gpt-oss's interleaved `gate_up` and bias vectors), from (hidden, intermediate).
        let customShape: (@Sendable (Int, Int) -> [Int])?
        public init(_ role: String, _ suffixes: [String], projectsIn: Bool) {
            self.role = role; self.suffixes = suffixes; self.projectsIn = projectsIn; customShape = nil
        }
        init(_ role: String, shape: @escaping @Sendable (_ hidden: Int, _ intermediate: Int) -> [Int]) {
            self.role = role; suffixes = []; projectsIn = true; customShape = shape
        }
        func shape(hidden: Int, intermediate: Int) -> [Int] {
            customShape?(hidden, intermediate) ?? (projectsIn ? [intermediate, hidden] : [hidden, intermediate])
        }
    }

    /// Per-expert prefixes with `{l}` and `{e}` placeholders, e.g. `model.layers.{l}.block_sparse_moe.experts.{e}.`
    public let perExpertPrefixes: [String]
    /// The expert's matrices in block order, e.g. `gate: ["w1.weight", "gate_proj.weight"]`.
    public let roles: [Role]
    /// Fused prefixes with `{l}`, e.g. `model.layers.{l}.mlp.experts.` (SwiGLU experts only).
    public let fusedPrefixes: [String]
    /// Prefixes with `{l}` of gpt-oss's expert tensors (`gate_up_proj` with gate and up interleaved, biases; see
    /// `resolveGptOss`).
    public var gptOssPrefixes: [String] = []

    public init(perExpertPrefixes: [String], roles: [Role], fusedPrefixes: [String]) {
        self.perExpertPrefixes = perExpertPrefixes; self.roles = roles; self.fusedPrefixes = fusedPrefixes
    }

    /// The three SwiGLU roles under their Mixtral (`w1/w3/w2`) and Llama-MLP (`gate/up/down_proj`) names.
    public static func swiGLU(perExpert: [String], fused: [String]) -> ExpertNaming {
        ExpertNaming(perExpertPrefixes: perExpert,
                     roles: [Role("gate", ["w1.weight", "gate_proj.weight"], projectsIn: true),
                             Role("up", ["w3.weight", "up_proj.weight"], projectsIn: true),
                             Role("down", ["w2.weight", "down_proj.weight"], projectsIn: false)],
                     fusedPrefixes: fused)
    }

    /// The two matrices of a plain (ReLU) MLP expert, T5/Switch names: `wo(relu(wi · x))`.
    public static func dense(perExpert: [String]) -> ExpertNaming {
        ExpertNaming(perExpertPrefixes: perExpert,
                     roles: [Role("wi", ["wi.weight"], projectsIn: true), Role("wo", ["wo.weight"], projectsIn: false)],
                     fusedPrefixes: [])
    }

    static func fill(_ template: String, layer: Int, expert: Int = 0) -> String {
        template.replacingOccurrences(of: "{l}", with: String(layer)).replacingOccurrences(of: "{e}", with: String(expert))
    }

    /// The parts of every expert of `layer`, indexed by expert, checked against the expected matrix shapes.
    /// `hidden` and `intermediate` are the model's hidden size and this layer's expert width.
    public func resolve(layer: Int, experts: Int, hidden: Int, intermediate: Int,
                        in checkpoint: some TensorCatalog) throws(ModelError) -> [[ExpertPart]] {
        var tried: [String] = []
        for prefix in gptOssPrefixes {
            let p = ExpertNaming.fill(prefix, layer: layer)
            if let parts = try resolveGptOss(prefix: p, experts: experts, hidden: hidden, intermediate: intermediate, in: checkpoint) { return parts }
            tried.append(p + "gate_up_proj_blocks")
        }
        // One tensor per expert and matrix.
        for prefix in perExpertPrefixes {
            let first = ExpertNaming.fill(prefix, layer: layer, expert: 0)
            guard let suffixIndex = roles.first?.suffixes.firstIndex(where: { checkpoint.contains(first + $0) }) else {
                tried.append(first + (roles.first?.suffixes.first ?? "")); continue
            }
            var all: [[ExpertPart]] = []
            for e in 0..<experts {
                let p = ExpertNaming.fill(prefix, layer: layer, expert: e)
                var parts: [ExpertPart] = []
                for r in roles {
                    let preferred = r.suffixes[min(suffixIndex, r.suffixes.count - 1)]
                    guard let name = ([preferred] + r.suffixes).first(where: { checkpoint.contains(p + $0) }),
                          let info = checkpoint.info(p + name) else {
                        throw .missingExperts(layer: layer, tried: [p + preferred])
                    }
                    let want = r.shape(hidden: hidden, intermediate: intermediate)
                    if info.shape != want {
                        throw .badExpertTensor(name: info.name, shape: info.shape, expected: "\(want)")
                    }
                    parts.append(ExpertPart(role: r.role, tensor: info.name, rows: nil, shape: info.shape))
                }
                all.append(parts)
            }
            return all
        }
        // Fused 3-D tensors: gate_up_proj [E, 2I, H] (gate rows, then up rows) and down_proj [E, H, I].
        for prefix in fusedPrefixes {
            let p = ExpertNaming.fill(prefix, layer: layer)
            let gateUpName = [p + "gate_up_proj", p + "gate_up_proj.weight"].first(where: checkpoint.contains)
            let downName = [p + "down_proj", p + "down_proj.weight"].first(where: checkpoint.contains)
            guard let gateUpName, let downName, let gu = checkpoint.info(gateUpName), let dn = checkpoint.info(downName) else {
                tried.append(p + "gate_up_proj"); continue
            }
            guard gu.shape == [experts, 2 * intermediate, hidden] else {
                throw .badExpertTensor(name: gateUpName, shape: gu.shape, expected: "[\(experts), \(2 * intermediate), \(hidden)] (experts, 2 x intermediate, hidden)")
            }
            guard dn.shape == [experts, hidden, intermediate] else {
                throw .badExpertTensor(name: downName, shape: dn.shape, expected: "[\(experts), \(hidden), \(intermediate)] (experts, hidden, intermediate)")
            }
            return (0..<experts).map { e in
                [ExpertPart(role: "gate", tensor: gateUpName, rows: (2 * e * intermediate)..<((2 * e + 1) * intermediate), shape: [intermediate, hidden]),
                 ExpertPart(role: "up", tensor: gateUpName, rows: ((2 * e + 1) * intermediate)..<((2 * e + 2) * intermediate), shape: [intermediate, hidden]),
                 ExpertPart(role: "down", tensor: downName, rows: (e * hidden)..<((e + 1) * hidden), shape: [hidden, intermediate])]
            }
        }
        throw .missingExperts(layer: layer, tried: tried)
    }
}
