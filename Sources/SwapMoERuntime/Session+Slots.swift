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

    /// How many leading ids of `prompt` the slot's cache already holds (read it only while no generation uses
    /// the slot, or under the session's lock).
    public func sharedPrefix(with prompt: [Int]) -> Int { zip(cached, prompt).prefix { $0 == $1 }.count }

    init(index: Int, sequence: DecoderSequence) {
        self.index = index
        self.sequence = sequence
    }
}

extension Session {
    /// The fewest waiting decode steps run as one batch; fewer run one by one. Measured on the 1.2B model at q8_0
    /// (Docs/Benchmarks.md): 4 rows batched ran 1.17x the one-by-one rate, 2 rows 0.88x (the GEMM kernels on a
    /// few rows read the weights once but compute slower than the integer GEMV of one).
    static let minimumBatchRows = 4
    /// Prompt tokens run per turn of the lock: other slots step in between chunks of a long prompt.
    static let prefillChunk = 256

    /// One decode step of `slot`, batched with the steps other slots are waiting to take: the thread that gets
    /// the lock runs every waiting step (up to a batch) as one `DecoderModel.step` when there are at least
    /// `minimumBatchRows` of them, so the weights and experts the rows share are read once per step for all of
    /// them; fewer run one by one through the one-token `forward`, exactly as `generate` does; batched rows go through the GEMM kernels instead of the GEMV ones,
    /// so their logits may differ from a lone run's in the last bits (which rows share a step depends on timing,
    /// as in llama.cpp's server).
    func decodeStep(_ slot: GenerationSlot, _ token: Int, _ model: DecoderModel) throws -> [Float] {
        let mine = PendingStep(slot: slot, token: token)
        pendingSteps.add(mine)
        return try lock.withLock {
            while !mine.done {
                let batch = pendingSteps.take(max: batchSteps ? DecoderModel.defaultBatch : 1)
                // Steps are taken and completed under this lock, so one not done yet is still waiting.
                precondition(!batch.isEmpty, "a decode step neither waiting nor done")
                do {
                    let rows: [[Float]]
                    if batch.count >= Session.minimumBatchRows {
                        rows = try model.step(batch.map { ($0.slot.sequence, $0.token) })
                    } else {
                        rows = try batch.map { p in
                            model.use(p.slot.sequence)
                            return try model.forward([p.token])
                        }
                    }
                    for (p, logits) in zip(batch, rows) {
                        p.logits = logits
                        p.slot.cached.append(p.token)
                        p.done = true
                    }
                } catch {
                    // A failed step leaves the rows' caches unknown: each slot starts over.
                    for p in batch {
                        p.error = error
                        p.done = true
                        p.slot.cached = []
                        model.use(p.slot.sequence)
                        model.reset()
                    }
                }
            }
            if let error = mine.error { throw error }
            return mine.logits ?? []
        }
    }

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
                // At least the last prompt token runs: its logits give the first new token.
                // A sliding layer's ring may not reach back that far: then the model keeps nothing.
                let keep = model.truncate(to: min(slot.sharedPrefix(with: prompt), prompt.count - 1))
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
            step: { next in try self.decodeStep(slot, next, model) }, onToken: onToken)
        result.reusedTokens = reused
        return result
    }
}

/// A slot's decode step waiting to run (`Session.decodeStep`); its result is written under the session's lock.
final class PendingStep: @unchecked Sendable {
    // @unchecked Sendable: `logits`, `error` and `done` are written and read with the session's lock held.
    let slot: GenerationSlot
    let token: Int
    var logits: [Float]?
    var error: (any Error)?
    var done = false

    init(slot: GenerationSlot, token: Int) {
        self.slot = slot
        self.token = token
    }
}

/// The decode steps waiting for the session's lock, in arrival order.
final class StepQueue: @unchecked Sendable {
    // @unchecked Sendable: `pending` is touched only with `condition` locked.
    private let condition = PthreadCondition()
    private var pending: [PendingStep] = []

    func add(_ step: PendingStep) {
        condition.lock()
        pending.append(step)
        condition.unlock()
    }

    /// The oldest `max` waiting steps, removed from the queue.
    func take(max: Int) -> [PendingStep] {
        condition.lock()
        defer { condition.unlock() }
        let n = min(max, pending.count)
        let batch = Array(pending[..<n])
        pending.removeFirst(n)
        return batch
    }
}

/// What `generate(in:…stops:onText:)` made: the text as shown, the generation, and why it ended early.
public struct StoppableGeneration: Sendable {
    /// The answer's text as `onText` saw it: up to (not including) the first stop string.
    public var text: String
    public var result: GenerationResult
    /// A stop string ended the answer.
    public var stopString: Bool
    /// `onText` returned false (the listener went away, or asked to stop).
    public var abandoned: Bool
}

extension Session {
    /// `generate(in:…)` that also ends at the first of `stops` (OpenAI's `stop`, a chat format's stop strings).
    /// `onText` is called once per generated token with the text that may be shown (possibly empty: the start
    /// of a possible stop string is held back until it is known not to be one; the stop string and what follows
    /// are cut), and once more with the held-back tail when no stop string ended the answer; it returns false to
    /// stop generating. Called for every token, text or not, it is where a caller notices a listener gone.
    public func generate(in slot: GenerationSlot, prompt: [Int], maxNewTokens: Int, sampler: Sampler = Sampler(),
                         eos: Set<Int>? = nil, stops: [String], onText: @escaping (String) -> Bool) throws -> StoppableGeneration {
        var matcher = StopMatcher(stops: stops)
        var text = "", stopString = false, abandoned = false
        let result = try generate(in: slot, prompt: prompt, maxNewTokens: maxNewTokens, sampler: sampler, eos: eos) { _, piece in
            let (shown, stop) = matcher.push(piece)
            text += shown
            if !onText(shown) { abandoned = true; return false }
            if stop { stopString = true; return false }
            return true
        }
        if !stopString {
            let tail = matcher.finish()
            text += tail
            if !tail.isEmpty { _ = onText(tail) }
        }
        return StoppableGeneration(text: text, result: result, stopString: stopString, abandoned: abandoned)
    }
}
