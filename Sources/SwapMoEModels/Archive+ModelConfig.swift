import Foundation
import SwapMoECore
import SwapMoEArchive

extension Archive {
    /// The archive's model: its `config.json` decoded and validated (`ConfigLimits`), and its expert blocks checked
    /// against it. Every expert of every MoE layer of every stack must be listed once, with no others, and its
    /// layout must hold exactly the family's matrices at the shapes the config gives (`[intermediate, hidden]` in,
    /// `[hidden, intermediate]` out) in a float type the kernels compute with. The models size their work buffers
    /// from the config and the kernels read the matrices through the layouts, so this is what keeps a consistent
    /// but mismatched archive (a hand-edited config, a reshaped layout) from running a kernel past its buffers.
    public func modelConfig() throws(ModelError) -> any ModelConfig {
        let data: Data
        do { data = try JSONEncoder().encode(manifest.config) } catch { throw .corruptArchive("archive '\(path)': its config cannot be re-encoded") }
        let config = try ModelFamily.detect(configData: data)
        func mismatch(_ reason: String) -> ModelError { .archiveMismatch(path: path, reason: reason) }
        guard manifest.family == config.family.rawValue else {
            throw mismatch("the manifest says family '\(manifest.family)' but config.json says '\(config.family.rawValue)'")
        }
        guard manifest.model == config.summary else {
            throw mismatch("its model summary (layers, MoE layers, sizes, expert counts) differs from what config.json gives")
        }
        var expected = 0
        for stack in config.stacks {
            let roles = stack.naming.roles
            for layer in stack.moeLayers {
                let inter = stack.intermediate(layer)
                let shapes = roles.map { $0.shape(hidden: config.hiddenSize, intermediate: inter) }
                for e in 0..<stack.experts {
                    guard let entry = expert(ExpertKey(stack: stack.name, layer: layer, expert: e)) else {
                        throw mismatch("it has no block for \(stack.name) layer \(layer) expert \(e)")
                    }
                    let tensors = self.layout(of: entry).tensors
                    guard tensors.map(\.role) == roles.map(\.role) else {
                        throw mismatch("\(entry.label) holds matrices \(tensors.map(\.role)), expected \(roles.map(\.role))")
                    }
                    for (t, shape) in zip(tensors, shapes) where t.shape != shape || !t.dtype.isMatrixType {
                        throw mismatch("\(entry.label) matrix '\(t.role)' is \(t.dtype.rawValue) \(t.shape), expected a float or quantized \(shape)")
                    }
                }
                expected += stack.experts
            }
        }
        guard manifest.experts.count == expected else {
            let extra = manifest.experts.first { e in
                guard let s = config.stack(e.stack) else { return true }
                return !s.moeLayers.contains(e.layer) || e.expert >= s.experts
            }
            throw mismatch("it lists \(manifest.experts.count) expert blocks where config.json has \(expected)"
                           + (extra.map { " (\($0.label) is not in the model)" } ?? ""))
        }
        return config
    }

    /// `modelConfig()` for callers that run a decoder-only model: an encoder-decoder family is refused.
    public func decoderConfig() throws(ModelError) -> any FamilyConfig {
        let c = try modelConfig()
        guard let d = c as? any FamilyConfig else { throw .notDecoderOnly(family: c.family.rawValue) }
        return d
    }
}

extension ModelConfig {
    /// The family-independent facts the manifest records for `inspect` and the engine (which reads no config).
    public var summary: ModelSummary {
        ModelSummary(architecture: family.rawValue,
                     stacks: stacks.map { StackSummary(name: $0.name, layers: $0.layers, moeLayers: $0.moeLayers, expertsPerLayer: $0.experts) },
                     hiddenSize: hiddenSize, vocabSize: vocabSize, expertsPerToken: expertsPerToken, tieWordEmbeddings: tieWordEmbeddings)
    }
}
