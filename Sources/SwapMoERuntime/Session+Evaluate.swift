import Foundation
import SwapMoECore
import SwapMoEModels

/// Teacher-forced perplexity of an encoder-decoder model over input/target pairs (`Session.targetPerplexity`).
public struct TargetPerplexity: Equatable, Sendable {
    /// Summed negative log-likelihood (nats) of every target token.
    public var nllSum: Double
    /// Target tokens scored.
    public var tokens: Int
    public var examples: Int
    /// Tokens of the inputs, encoded.
    public var inputTokens: Int
    /// Seconds of the whole pass, `onRow` and `onExample` included.
    public var seconds: Double
    public var meanNLL: Double { nllSum / Double(tokens) }
    public var ppl: Double { exp(meanNLL) }
}

extension Session {
    /// Perplexity of a decoder-only model on `ids`: cut into consecutive windows of `context` tokens, each run from
    /// position 0; the mean next-token negative log-likelihood over every predicted token. `onWindow(done, total)`
    /// follows progress; `onRow` sees every predicted position's logits, in order. `decode` scores one token per
    /// forward pass, as generation computes it (the decode kernels), instead of prefill batches.
    public func perplexity(_ ids: [Int], decode: Bool = false, onWindow: ((Int, Int) -> Void)? = nil,
                           onRow: ((ArraySlice<Float>) throws -> Void)? = nil) throws -> PerplexityResult {
        guard let decoder else { throw SessionError.needsDecoderOnly("perplexity") }
        return try exclusive { try decoder.perplexity(ids, context: context, batch: decode ? 1 : nil, onWindow: onWindow, onRow: onRow) }
    }

    /// Perplexity of an encoder-decoder model on targets given inputs: each input is encoded (default special
    /// tokens) and the decoder is teacher-forced on its target (tokenised with its end-of-sequence token); the mean
    /// is over every target token. `onExample(done, total)` follows progress; `onRow` sees every target position's
    /// logits, in order. Throws `SessionError.emptyPrompt` for an input or target that encodes to no tokens.
    public func targetPerplexity(_ pairs: [(input: String, target: String)], onExample: ((Int, Int) -> Void)? = nil,
                                 onRow: ((ArraySlice<Float>) throws -> Void)? = nil) throws -> TargetPerplexity {
        guard let model = seq2seq else { throw SessionError.needsEncoderDecoder("targetPerplexity") }
        return try exclusive { try targetPerplexity(model, pairs, onExample: onExample, onRow: onRow) }
    }

    private func targetPerplexity(_ model: Seq2SeqModel, _ pairs: [(input: String, target: String)], onExample: ((Int, Int) -> Void)?,
                                  onRow: ((ArraySlice<Float>) throws -> Void)?) throws -> TargetPerplexity {
        let start = monotonicSeconds()
        var total = 0.0, count = 0, inputTokens = 0
        for (i, pair) in pairs.enumerated() {
            let inIds = encode(pair.input), tgtIds = encode(pair.target)
            guard !inIds.isEmpty, !tgtIds.isEmpty else { throw SessionError.emptyPrompt }
            let r = try model.targetNLL(input: inIds, target: tgtIds, onRow: onRow)
            total += r.sum
            count += r.tokens
            inputTokens += inIds.count
            onExample?(i + 1, pairs.count)
        }
        return TargetPerplexity(nllSum: total, tokens: count, examples: pairs.count, inputTokens: inputTokens,
                                seconds: monotonicSeconds() - start)
    }
}
