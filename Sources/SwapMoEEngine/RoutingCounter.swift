import SwapMoEArchive
import SwapMoEModels

/// Passes every layer through to another provider and counts, per MoE layer, how often each expert is among a
/// token's top-k of the unmasked router: the calibration pass of the `static` baseline (each layer keeps its
/// most frequently routed experts and never swaps). Counts are kept per stack.
public final class RoutingCounter: ExpertProvider, Sendable {
    public let inner: ExpertProvider
    public let expertsPerToken: Int
    private let counts = ConditionLock<[ExpertStack: [Int: [Int]]]>([:])
    private let masses = ConditionLock<[MoELayer: [Double]]>([:])

    public init(wrapping inner: ExpertProvider, expertsPerToken: Int) {
        self.inner = inner
        self.expertsPerToken = expertsPerToken
    }

    public func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                          predict: () -> [MoELayerPrediction],
                          serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        count(layer, router)
        return try inner.withLayer(layer, router: router, route: route, predict: predict, serve: serve)
    }

    private func count(_ layer: MoELayer, _ router: RouterOutput) {
        var local = [Int](repeating: 0, count: router.experts)
        var mass = [Double](repeating: 0, count: router.experts)
        for t in 0..<router.tokens {
            for pick in router.top(expertsPerToken, token: t) { local[pick.index] += 1 }
            for (i, p) in router.row(t).enumerated() { mass[i] += Double(router.inputNorms[t] * p) }
        }
        counts.withLock { c in
            var row = c[layer.stack]?[layer.layer] ?? [Int](repeating: 0, count: router.experts)
            for i in row.indices { row[i] += local[i] }
            c[layer.stack, default: [:]][layer.layer] = row
        }
        masses.withLock { m in
            var row = m[layer] ?? [Double](repeating: 0, count: router.experts)
            for i in row.indices { row[i] += mass[i] }
            m[layer] = row
        }
    }

    /// Σ over the tokens seen of ‖x‖ · p_i (SwapMoE's importance without ‖E_i‖) per expert of `layer`.
    public func routerMass(_ layer: MoELayer) -> [Double] { masses.withLock { $0[layer] ?? [] } }

    /// Routing counts per layer of `stack` so far.
    public func routingCounts(stack: ExpertStack = .decoder) -> [Int: [Int]] { counts.withLock { $0[stack] ?? [:] } }

    /// The `k_l` most frequently routed experts of each layer of `stack` (ties to the lower index), ascending.
    public func mostFrequent(_ residents: [Int: Int], stack: ExpertStack = .decoder) -> [Int: [Int]] {
        let c = routingCounts(stack: stack)
        var out: [Int: [Int]] = [:]
        for (layer, k) in residents {
            let row = c[layer] ?? []
            out[layer] = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }.prefix(k).sorted()
        }
        return out
    }
}

/// Passes every layer through to another provider, except that chosen MoE layers route among fixed sets of their
/// experts (the others masked out, as under the static policy): what `swapmoe profile` measures, the cost of one
/// layer alone keeping fewer experts.
public final class LayerMask: ExpertProvider, Sendable {
    public let inner: ExpertProvider
    private let masks = ConditionLock<[MoELayer: [Bool]]>([:])

    public init(wrapping inner: ExpertProvider) { self.inner = inner }

    /// Masks `layer` to `allowed` from its next batch on (nil: unmasked).
    public func set(_ layer: MoELayer, allowed: [Bool]?) { masks.withLock { $0[layer] = allowed } }

    /// Unmasks every layer.
    public func clear() { masks.withLock { $0 = [:] } }

    public func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                          predict: () -> [MoELayerPrediction],
                          serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        guard let allowed = masks.withLock({ $0[layer] }) else {
            return try inner.withLayer(layer, router: router, route: route, predict: predict, serve: serve)
        }
        return try inner.withLayer(layer, router: router, route: { _ in try route(allowed) }, predict: predict, serve: serve)
    }
}
