import SwapMoEArchive
import SwapMoEModels
import SwapMoEEngine

extension Session {
    /// The context (tokens) a session runs with: `requested` when given, else `preferred` capped at the length the
    /// model was trained for (`max_position_embeddings`), since positions past it were never trained. A requested
    /// context past that length is honoured (the user may know better, e.g. after fine-tuning) with a warning.
    public static func fitContext(_ config: any ModelConfig, requested: Int?, preferred: Int) -> (context: Int, warning: String?) {
        let trained = config.maxPositionEmbeddings
        guard let requested else { return (min(preferred, trained ?? preferred), nil) }
        if let trained, requested > trained {
            return (requested, "warning: --ctx \(requested) is longer than this model was trained for (max_position_embeddings \(trained)); output past \(trained) tokens is unreliable")
        }
        return (requested, nil)
    }

    /// The planner for an archive at a context size, with the model's own buffers (KV cache, workspace) accounted.
    /// `baseline`: what the process holds before the model (`ProcessMemory.currentRSS()`); `sequences`: KV caches
    /// of `context` positions (one per conversation slot; decoder-only models).
    public static func makePlanner(_ archive: Archive, config detected: any ModelConfig, context: Int, baseline: Int,
                                   sequences: Int = 1) throws -> Planner {
        if let s2s = detected as? SwitchTransformersConfig {
            // Encoder-decoder: the context bounds both the input and the decoder positions.
            let runtime = Seq2SeqModel.runtimeBytes(config: s2s, maxSource: context, maxTarget: context)
            return Planner(archive: archive, runtime: runtime, baseline: baseline)
        }
        guard let config = detected as? any FamilyConfig else { throw ModelError.notDecoderOnly(family: detected.family.rawValue) }
        let spec = try config.spec()
        let inter = spec.moeLayers.map { config.expertIntermediate(layer: $0) }.max() ?? 0
        let runtime = DecoderModel.runtimeBytes(spec: spec, context: context, batch: DecoderModel.defaultBatch, expertIntermediate: inter)
            + max(0, sequences - 1) * DecoderSequence.bytes(spec: spec, context: context)
        return Planner(archive: archive, runtime: runtime, baseline: baseline)
    }
}
