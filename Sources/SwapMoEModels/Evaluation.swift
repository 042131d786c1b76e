import Foundation
import SwapMoECore

/// Perplexity over a token stream cut into consecutive windows of `context` tokens, each run from position 0:
/// the mean next-token negative log-likelihood over every predicted token (context - 1 per full window).
public struct PerplexityResult: Sendable {
    public var meanNLL: Double
    public var tokens: Int
    public var windows: Int
    public var predicted: Int
    public var seconds: Double
    public var ppl: Double { exp(meanNLL) }
}

extension DecoderModel {
    /// Negative log-likelihood of `target` under `logits` (one row), computed with a stable log-sum-exp.
    static func nll(_ logits: UnsafeBufferPointer<Float>, target: Int) -> Double {
        var m = -Float.infinity
        for v in logits { m = max(m, v) }
        var s = 0.0
        for v in logits { s += Double(expf(v - m)) }
        return Double(m) + log(s) - Double(logits[target])
    }

    public func perplexity(_ ids: [Int], context: Int, onWindow: ((Int, Int) -> Void)? = nil) throws -> PerplexityResult {
        let start = monotonicSeconds()
        var total = 0.0, predicted = 0, windows = 0
        var w = 0
        let starts = stride(from: 0, to: ids.count, by: context).map { $0 }
        for s in starts {
            let window = Array(ids[s..<min(ids.count, s + context)])
            guard window.count >= 2 else { continue }
            reset()
            // Run in batches so only one batch of logits is alive at a time.
            var i = 0
            while i < window.count - 1 {
                let n = min(ws.capacity, window.count - 1 - i)
                let logits = try forward(Array(window[i..<(i + n)]), logits: .all)
                logits.withUnsafeBufferPointer { lp in
                    for j in 0..<n {
                        total += DecoderModel.nll(UnsafeBufferPointer(rebasing: lp[(j * spec.vocab)..<((j + 1) * spec.vocab)]), target: window[i + j + 1])
                    }
                }
                predicted += n
                i += n
            }
            windows += 1
            w += 1
            onWindow?(w, starts.count)
        }
        return PerplexityResult(meanNLL: predicted > 0 ? total / Double(predicted) : .nan, tokens: ids.count, windows: windows,
                                predicted: predicted, seconds: monotonicSeconds() - start)
    }
}
