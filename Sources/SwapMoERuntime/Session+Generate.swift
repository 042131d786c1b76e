import SwapMoECore
import SwapMoEModels

extension Sampler {
    /// Always the most likely token (ties to the lowest id, as `torch.argmax`).
    public static var greedy: Sampler { Sampler(temperature: 0) }
}

/// What `Session.generate` made.
public struct GenerationResult: Equatable, Sendable {
    /// Why generation ended.
    public enum FinishReason: String, Equatable, Sendable {
        /// An end-of-sequence token was generated (it is the last of `tokens`).
        case eos
        /// `maxNewTokens` were generated.
        case length
        /// `onToken` returned false.
        case stopped
        /// The context (decoder-only) or the decoder positions (encoder-decoder) are used up.
        case contextFull = "context_full"
    }

    /// The prompt (decoder-only) or the encoded input (encoder-decoder), as ids.
    public var promptTokens: [Int]
    /// The generated ids, an end-of-sequence token included when one ended generation.
    public var tokens: [Int]
    /// The generated text, without special tokens: the pieces passed to `onToken`, in order (see `generate`).
    public var text: String
    /// Seconds of the prompt's prefill (decoder-only) or of encoding the input (encoder-decoder).
    public var promptSeconds: Double
    /// Seconds from then until the last token: the first token comes from the prompt's logits (decoder-only) or
    /// from decoding the start token (encoder-decoder); each later token costs one decode step.
    public var decodeSeconds: Double
    public var finishReason: FinishReason
    /// Prompt tokens whose keys and values were already in the slot's cache (`generate(in:…)`), not run again.
    public var reusedTokens = 0
}

extension Session {
    /// Sees each generated token and the text it completed; returns false to stop generating.
    public typealias TokenHandler = (_ token: Int, _ text: String) -> Bool

    /// Encodes `prompt` (default special tokens, as transformers' AutoTokenizer) and generates from it; see
    /// `generate(_:maxNewTokens:sampler:eos:onToken:)` for ids. Throws `SessionError.emptyPrompt` if the prompt
    /// encodes to no tokens.
    public func generate(_ prompt: String, maxNewTokens: Int, sampler: Sampler = Sampler(), eos: Set<Int>? = nil,
                         onToken: TokenHandler? = nil) throws -> GenerationResult {
        let ids = encode(prompt)
        guard !ids.isEmpty else { throw SessionError.emptyPrompt }
        return try generate(ids, maxNewTokens: maxNewTokens, sampler: sampler, eos: eos, onToken: onToken)
    }

    /// Generates up to `maxNewTokens` tokens from `prompt`, from position 0, each picked by `sampler` (default:
    /// the command line's temperature 0.8, top-k 40, top-p 0.95, seed 0; `.greedy` for the most likely token).
    ///
    /// A decoder-only model continues the prompt; an encoder-decoder model encodes it once and decodes from its
    /// decoder start token (transformers' `generate`). Generation stops after a token of `eos` (default:
    /// `eosTokenIds`; pass `[]` to ignore end-of-sequence), at `maxNewTokens`, when the context is full, or when
    /// `onToken` returns false.
    ///
    /// `onToken` is called once per generated token, the end-of-sequence token included, with the text that token
    /// completed (often empty: a character split over tokens waits for its last byte). The last call of a
    /// generation also carries any text still held back, so the pieces concatenate to `text`; the one exception
    /// is a stop by `onToken`, after which `text` may end with a few held-back characters that were not passed.
    /// An empty prompt is `SessionError.emptyPrompt` (decoder-only) or the model's error (encoder-decoder).
    /// `onToken` runs under the session's lock: it must not call `generate`, `reset` or the evaluation calls.
    public func generate(_ prompt: [Int], maxNewTokens: Int, sampler: Sampler = Sampler(), eos: Set<Int>? = nil,
                         onToken: TokenHandler? = nil) throws -> GenerationResult {
        // An encoder-decoder model refuses an empty input itself.
        guard !prompt.isEmpty || decoder == nil else { throw SessionError.emptyPrompt }
        return try exclusive {
            let t0 = monotonicSeconds()
            let run = try begin(prompt, decodeStart: maxNewTokens > 0)
            return try generationLoop(prompt: prompt, promptStart: t0, first: run.first, maxNewTokens: maxNewTokens, sampler: sampler,
                                      eos: eos, full: run.full, step: run.step, onToken: onToken)
        }
    }

    /// Runs the prompt (`first()`), then samples up to `maxNewTokens` tokens, the first from `first()`'s logits, each later one
    /// from `step(previous)`'s; streams their text to `onToken` and says why it stopped (see `generate`).
    /// `full()`: whether no further step fits the context. `promptStart`: when the prompt began to run.
    func generationLoop(prompt: [Int], promptStart t0: Double, first: () throws -> [Float], maxNewTokens: Int, sampler: Sampler,
                        eos: Set<Int>?, full: () -> Bool, step: (Int) throws -> [Float],
                        onToken: TokenHandler?) throws -> GenerationResult {
        let eos = eos ?? eosTokenIds
        var sampler = sampler
        var stream = tokenizer.makeStreamingDecoder(skipSpecialTokens: true)
        var logits = try first()
        let t1 = monotonicSeconds()
        var tokens: [Int] = [], text = "", reason = GenerationResult.FinishReason.length
        while tokens.count < maxNewTokens {
            let next = sampler.sample(logits)
            tokens.append(next)
            if eos.contains(next) {
                reason = .eos
                let tail = stream.finish()
                text += tail
                _ = onToken?(next, tail)
                break
            }
            var piece = stream.push(next)
            let end: GenerationResult.FinishReason? = tokens.count >= maxNewTokens ? .length : full() ? .contextFull : nil
            if let end {
                piece += stream.finish()
                reason = end
            }
            text += piece
            let goOn = onToken?(next, piece) ?? true
            if end != nil { break }
            if !goOn {
                reason = .stopped
                text += stream.finish()
                break
            }
            logits = try step(next)
        }
        return GenerationResult(promptTokens: prompt, tokens: tokens, text: text, promptSeconds: t1 - t0,
                                decodeSeconds: monotonicSeconds() - t1, finishReason: reason)
    }

    /// Runs the prompt from position 0 (prefill, or encoding the input) and returns how generation goes on: the
    /// first token's logits, whether no further step fits, and one step. An encoder-decoder model decodes its start
    /// token only if `decodeStart`.
    private func begin(_ prompt: [Int], decodeStart: Bool) throws -> (first: () throws -> [Float], full: () -> Bool, step: (Int) throws -> [Float]) {
        if let m = decoder {
            m.reset()
            return ({ try m.forward(prompt) }, { m.position >= m.context }, { try m.forward([$0]) })
        }
        guard let m = seq2seq else { preconditionFailure("a session has a decoder-only or an encoder-decoder model") }
        return ({ try m.encode(prompt); return decodeStart ? try m.decode([m.config.decoderStartTokenId]) : [] }, { m.position >= m.maxTarget }, { try m.decode([$0]) })
    }
}
