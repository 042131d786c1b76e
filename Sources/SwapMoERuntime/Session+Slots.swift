import SwapMoECore
import SwapMoEModels

/// A conversation slot of a `Session`: its own KV cache, and the ids whose keys and values it holds. A server
/// gives each request a free slot; a prompt that extends what the slot last held (the next turn of a chat) runs
/// only its new tokens. One request uses a slot at a time (the caller sees to it).
public final class GenerationSlot: @unchecked Sendable {
    // @unchecked Sendable: `cached` and the sequence are touched only under the session's lock.
    public let index: Int
    let sequence: DecoderSequence
    /// The ids in the cache, in order: the last prompt and what was generated after it (but the last token,
    /// which was never run).
    var cached: [Int] = []
    /// `cached`, for choosing the slot that holds most of a prompt; read it only while no generation uses the slot.
    public var cachedTokens: [Int] { cached }

    init(index: Int, sequence: DecoderSequence) {
        self.index = index
        self.sequence = sequence
    }
}

extension Session {
    /// Prompt tokens run per turn of the lock: other slots step in between chunks of a long prompt.
    static let prefillChunk = 256

    /// `generate` in `slot`: continues from the longest prefix of `prompt` the slot's cache already holds
    /// (`reusedTokens` in the result) and takes the lock once per step (a prompt chunk or one token), in turn with
    /// the other slots, so conversations in different slots progress together. A prompt of `context` tokens or
    /// more is `SessionError.promptTooLong`. The logits of a reused prefix were computed in other batches than a
    /// fresh run would use, so they may differ from it in the last bits (as in llama.cpp's server).
    public func generate(in slot: GenerationSlot, prompt: [Int], maxNewTokens: Int, sampler: Sampler = Sampler(),
                         eos: Set<Int>? = nil, onToken: TokenHandler? = nil) throws -> GenerationResult {
        guard let model = decoder else { throw SessionError.encoderDecoder("generation in a slot", archive.manifest.family) }
        guard !prompt.isEmpty else { throw SessionError.emptyPrompt }
        guard prompt.count < slot.sequence.context else { throw SessionError.promptTooLong(prompt.count, context: slot.sequence.context) }
        precondition(slots.indices.contains(slot.index) && slots[slot.index] === slot, "a slot of another session")

        /// One turn of the lock with the model on the slot's sequence; a failure forgets what the slot held.
        func turn<T>(_ body: () throws -> T) throws -> T {
            try lock.withLock {
                model.use(slot.sequence)
                do { return try body() } catch { slot.cached = []; model.reset(); throw error }
            }
        }
        let t0 = monotonicSeconds()
        var reused = 0
        let first = { () throws -> [Float] in
            reused = try turn {
                let shared = zip(slot.cached, prompt).prefix { $0 == $1 }.count
                // At least the last prompt token runs: its logits give the first new token.
                let keep = min(shared, prompt.count - 1)
                model.truncate(to: keep)
                slot.cached.removeSubrange(keep...)
                return keep
            }
            var logits: [Float] = []
            var i = reused
            while i < prompt.count {
                let chunk = Array(prompt[i..<min(i + Session.prefillChunk, prompt.count)])
                logits = try turn {
                    let l = try model.forward(chunk)
                    slot.cached += chunk
                    return l
                }
                i += chunk.count
            }
            return logits
        }
        var result = try generationLoop(
            prompt: prompt, promptStart: t0, first: first, maxNewTokens: maxNewTokens, sampler: sampler, eos: eos,
            full: { slot.sequence.position >= slot.sequence.context },
            step: { next in
                try turn {
                    let l = try model.forward([next])
                    slot.cached.append(next)
                    return l
                }
            }, onToken: onToken)
        result.reusedTokens = reused
        return result
    }
}
