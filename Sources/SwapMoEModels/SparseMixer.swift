import Foundation

/// Phi-3.5-MoE's router (transformers' `sparsemixer` in eval mode), always two experts per token, from the router
/// logits l of one token:
///
///     i₁ = argmax l;            m₁ = l_{i₁};   keep j when (m₁ - l_j) / max(|l_j|, m₁) <= 2ε
///     w₁ = softmax(l over the kept)_{i₁}
///     l' = l with l_{i₁} = -∞;  i₂ = argmax l';  m₂ = l'_{i₂};   keep j when (m₂ - l_j) / max(|l_j|, m₂) <= 2ε
///     w₂ = softmax(l' over the kept)_{i₂}
///
/// with ε = `router_jitter_noise`. The weights are not renormalised: each comes from its own masked softmax.
///
/// Masked routing (SwapMoE's Virtual Experts: `allowed`) selects among the allowed experts only: the others count
/// as -∞ logits from the start, so both picks and both masked softmaxes see only allowed experts (with one allowed
/// expert a token gets that one; with none, nothing).
public struct SparseMixer: Sendable, Equatable {
    /// `router_jitter_noise`: the relative distance from the best logit within which experts share the softmax.
    public var jitter: Float

    public init(jitter: Float) { self.jitter = jitter }

    /// Each token's two experts and weights from the router logits `[tokens, experts]` (row-major).
    public func route(logits: [Float], tokens: Int, experts e: Int, allowed: [Bool]?) -> Routing {
        precondition(logits.count == tokens * e, "sparsemixer: \(logits.count) logits for \(tokens) x \(e)")
        var routing = Routing(experts: e)
        for t in 0..<tokens {
            let scores = logits[(t * e)..<((t + 1) * e)].enumerated().map { allowed?[$0.offset] ?? true ? $0.element : -Float.infinity }
            guard let (first, w1) = pick(scores, scores) else { continue }
            routing.assign(token: t, to: first, weight: w1)
            var rest = scores
            rest[first] = -.infinity
            // The threshold's distances are to the unmasked logits (the first pick's stays -∞ in `rest`).
            if let (second, w2) = pick(rest, scores) { routing.assign(token: t, to: second, weight: w2) }
        }
        return routing
    }

    /// The best of `candidates` (the first on ties, like torch's max) and its share of the softmax over the
    /// candidates within the jitter threshold of it (distances measured on `scores`); nil when none is finite.
    func pick(_ candidates: [Float], _ scores: [Float]) -> (Int, Float)? {
        var best = -1
        for (i, v) in candidates.enumerated() where v > -.infinity && (best < 0 || v > candidates[best]) { best = i }
        guard best >= 0 else { return nil }
        let m = candidates[best]
        let kept = candidates.indices.map { j -> Float in
            let masked = (m - scores[j]) / max(abs(scores[j]), m) > 2 * jitter
            return masked ? -.infinity : candidates[j]
        }
        var sum: Float = 0
        for v in kept where v > -.infinity { sum += expf(v - m) }
        return (best, 1 / sum)
    }
}
