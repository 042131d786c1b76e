import SwapMoEArchive
import SwapMoEModels

/// Passes every call through to another provider and counts, per MoE layer, how often each expert is among a
/// token's top-k of the unmasked router: the calibration pass of the `static` baseline (each layer keeps its
/// most frequently routed experts and never swaps). Counts are kept per stack.
public final class RoutingCounter: ExpertProvider, Sendable {
    public let inner: ExpertProvider
    public let expertsPerToken: Int
    private let counts = ConditionLock<[String: [Int: [Int]]]>([:])

    public init(wrapping inner: ExpertProvider, expertsPerToken: Int) {
        self.inner = inner
        self.expertsPerToken = expertsPerToken
    }

    public func acquire(_ key: ExpertKey) throws -> ExpertWeights { try inner.acquire(key) }
    public func release(_ key: ExpertKey) { inner.release(key) }
    public func allowedExperts(stack: String, layer: Int) -> [Bool]? { inner.allowedExperts(stack: stack, layer: layer) }
    public var wantsPrefetch: Bool { inner.wantsPrefetch }
    public func prefetch(stack: String, layer: Int, experts: [Int]) { inner.prefetch(stack: stack, layer: layer, experts: experts) }

    public func observeRouting(stack: String, layer: Int, tokens: Int, inputNorms: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, experts: Int) {
        inner.observeRouting(stack: stack, layer: layer, tokens: tokens, inputNorms: inputNorms, probabilities: probabilities, experts: experts)
        var local = [Int](repeating: 0, count: experts)
        for t in 0..<tokens {
            let p = probabilities + t * experts
            // Top-k, ties to the lower index (as the decoder's routing).
            for i in (0..<experts).sorted(by: { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }).prefix(expertsPerToken) { local[i] += 1 }
        }
        counts.withLock { c in
            var row = c[stack]?[layer] ?? [Int](repeating: 0, count: experts)
            for i in 0..<experts { row[i] += local[i] }
            c[stack, default: [:]][layer] = row
        }
    }

    /// Routing counts per layer of `stack` so far.
    public func routingCounts(stack: String = "decoder") -> [Int: [Int]] { counts.withLock { $0[stack] ?? [:] } }

    /// The `k_l` most frequently routed experts of each layer of `stack` (ties to the lower index), ascending.
    public func mostFrequent(_ residents: [Int: Int], stack: String = "decoder") -> [Int: [Int]] {
        let c = routingCounts(stack: stack)
        var out: [Int: [Int]] = [:]
        for (layer, k) in residents {
            let row = c[layer] ?? []
            out[layer] = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k).sorted()
        }
        return out
    }
}
