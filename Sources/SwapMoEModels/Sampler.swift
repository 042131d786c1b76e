import Foundation

/// Picks the next token from logits: greedy at temperature 0, otherwise temperature, then top-k, then
/// top-p (nucleus) filtering, then a draw from a seeded generator (same seed, same text).
public struct Sampler: Sendable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    private var state: UInt64

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        state = seed &+ 0x9E37_79B9_7F4A_7C15
    }

    /// SplitMix64: tiny, seedable, good enough for sampling.
    public mutating func nextUnit() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    /// Index of the largest logit; ties go to the lowest index, as `torch.argmax`.
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return best
    }

    /// The indices of the `limit` largest logits, largest first, ties in index order: the first `limit` of
    /// every index sorted that way. A full sort of a 32k-150k vocabulary took several milliseconds per token
    /// (as long as a decode step of a small model); for a top-k of tens this keeps a short sorted list instead.
    public static func ranked(_ logits: [Float], limit: Int) -> [Int] {
        let k = min(max(limit, 0), logits.count)
        if k == 0 { return [] }
        if k * 8 >= logits.count {
            var idx = Array(logits.indices)
            idx.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            return Array(idx.prefix(k))
        }
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for i in logits.indices {
            let v = logits[i]
            if best.count == k, !(v > logits[best[k - 1]]) { continue }
            // After every kept index of a value >= v: equal values stay in index order.
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if logits[best[mid]] >= v { lo = mid + 1 } else { hi = mid }
            }
            best.insert(i, at: lo)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    public mutating func sample(_ logits: [Float]) -> Int {
        if temperature <= 0 || topK == 1 { return Sampler.argmax(logits) }
        var idx = Sampler.ranked(logits, limit: topK > 0 ? topK : logits.count)
        let maxL = logits[idx[0]]
        var probs = idx.map { Double(expf((logits[$0] - maxL) / temperature)) }
        let total = probs.reduce(0, +)
        probs = probs.map { $0 / total }
        if topP < 1 {
            var cum = 0.0
            var keep = probs.count
            for (i, p) in probs.enumerated() { cum += p; if cum >= Double(topP) { keep = i + 1; break } }
            probs.removeSubrange(keep...)
            idx.removeSubrange(keep...)
        }
        let r = nextUnit() * probs.reduce(0, +)
        var acc = 0.0
        for (i, p) in probs.enumerated() { acc += p; if r < acc { return idx[i] } }
        return idx[idx.count - 1]
    }
}
