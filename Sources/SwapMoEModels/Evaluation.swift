import Foundation
import SwapMoECore
import SwapMoEKernels

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
    static func nll(_ logits: ArraySlice<Float>, target: Int) -> Double {
        logSumExp(logits) - Double(logits[logits.startIndex + target])
    }

    /// `onRow` sees every predicted position's logits, in order (for saving or comparing distributions).
    /// `batch` caps the tokens per forward pass (default: the workspace's); 1 scores every position as
    /// generation computes it (the decode kernels: quantized weights then see 8-bit activations).
    public func perplexity(_ ids: [Int], context: Int, batch: Int? = nil, onWindow: ((Int, Int) -> Void)? = nil,
                           onRow: ((ArraySlice<Float>) throws -> Void)? = nil) throws -> PerplexityResult {
        let start = monotonicSeconds()
        var total = 0.0, predicted = 0, windows = 0
        var w = 0
        let starts = stride(from: 0, to: ids.count, by: context).map { $0 }
        for s in starts {
            let window = Array(ids[s..<min(ids.count, s + context)])
            guard window.count >= 2 else { continue }
            reset()
            // transformers scores the window in one call: LongRoPE's regime is the whole window's.
            callEnd = window.count
            defer { callEnd = 0 }
            // Run in batches so only one batch of logits is alive at a time.
            var i = 0
            while i < window.count - 1 {
                let n = min(max(1, min(batch ?? ws.capacity, ws.capacity)), window.count - 1 - i)
                let logits = try forward(Array(window[i..<(i + n)]), logits: .all)
                for j in 0..<n {
                    let row = logits[(j * spec.vocab)..<((j + 1) * spec.vocab)]
                    total += DecoderModel.nll(row, target: window[i + j + 1])
                    try onRow?(row)
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

/// Compares next-token distributions with a reference model's, position by position: KL(reference || this)
/// and whether the most likely token is the same (SwapMoE's quality measures beside perplexity).
public struct DistributionComparison: Sendable {
    public private(set) var positions = 0
    public private(set) var klSum = 0.0
    public private(set) var top1Agree = 0

    public init() {}

    public var meanKL: Double { positions > 0 ? klSum / Double(positions) : .nan }
    public var top1Agreement: Double { positions > 0 ? Double(top1Agree) / Double(positions) : .nan }

    static func logSoftmax(_ x: [Float]) -> [Double] {
        let lse = logSumExp(x[...])
        return x.map { Double($0) - lse }
    }

    /// Adds one position: `reference` and `this` are its logits under the reference model and this one (any
    /// float collection: arrays, slices, buffer pointers).
    public mutating func add<R: Collection<Float>, T: Collection<Float>>(reference: R, this: T) {
        let r = Array(reference), t = Array(this)
        let p = DistributionComparison.logSoftmax(r), q = DistributionComparison.logSoftmax(t)
        var kl = 0.0
        for i in p.indices { kl += exp(p[i]) * (p[i] - q[i]) }
        klSum += kl
        if Sampler.argmax(r) == Sampler.argmax(t) { top1Agree += 1 }
        positions += 1
    }
}
