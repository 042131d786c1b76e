import SwapMoEArchive
import SwapMoEKernels

/// The seam between a model and whatever serves its experts (every expert resident, loaded on demand, or
/// SwapMoE's Virtual Experts): one call per MoE layer and batch.
///
/// The model computes its router output once (`RouterOutput`) and hands over its routing rule (`route`: the
/// family's top-k, scoring and renormalisation, given the experts a provider allows). The provider decides the
/// rest in this order, all inside `withLayer`:
/// 1. it sees the router output (importance, what to keep, what to load next) and applies its changes for this
///    layer (SwapMoE's safe point);
/// 2. it calls `route` once, with the experts this layer may use (nil: all), and gets the routing to serve;
/// 3. a provider that loads on demand may ask `predict` for the experts of the layers ahead and load them early;
/// 4. it calls `serve` with the routed experts in ascending expert order, each in exactly one call, their typed
///    weight views valid only inside that call (the experts are pinned for it): one call with every expert when
///    the batch is one token (a decode step, whose top-k experts a provider pins at once if it can, so the model
///    computes them at once over its threads), one call per expert otherwise (a batch may route to more experts than a cap
///    leaves slots for; an exact provider with fewer slots than top-k serves one at a time);
/// and returns the routing it served. Nothing about the layer changes between steps 1 and 4.
public protocol ExpertProvider: AnyObject, Sendable {
    @discardableResult
    func withLayer(_ layer: MoELayer, router: RouterOutput,
                   route: (_ allowed: [Bool]?) throws -> Routing,
                   predict: () -> [MoELayerPrediction],
                   serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing
}

/// One routed expert as `ExpertProvider.withLayer` serves it: its index in the layer, its weights (valid only
/// inside the `serve` call that hands them over), and the tokens it serves with their weights.
public struct ServedExpert: Sendable {
    public let expert: Int
    public let weights: ExpertWeights
    public let tokens: [Routing.Choice]
    public init(expert: Int, weights: ExpertWeights, tokens: [Routing.Choice]) {
        self.expert = expert; self.weights = weights; self.tokens = tokens
    }
}

/// A batch's router output at one MoE layer, as plain values.
public struct RouterOutput: Sendable {
    public let tokens: Int
    public let experts: Int
    /// The router's probabilities over every expert, `[tokens, experts]` row-major (SwapMoE's importance and the
    /// exact policy's keep and load-ahead choices read these; routing itself is the family's `route`). For
    /// sigmoid routers (DeepSeek-V3, GLM-4.5) these are the per-expert sigmoid scores without the selection bias,
    /// in (0, 1) and not summing to one (see `GroupedRouter`).
    public let probabilities: [Float]
    /// ‖y‖ of each token's MoE input (SwapMoE's importance: ‖x‖ · p_i · ‖E_i‖).
    public let inputNorms: [Float]

    public init(tokens: Int, experts: Int, probabilities: [Float], inputNorms: [Float]) {
        precondition(probabilities.count == tokens * experts && inputNorms.count == tokens, "router output shape")
        self.tokens = tokens; self.experts = experts; self.probabilities = probabilities; self.inputNorms = inputNorms
    }

    /// Token `t`'s probabilities.
    public func row(_ t: Int) -> ArraySlice<Float> { probabilities[(t * experts)..<((t + 1) * experts)] }

    /// Token `t`'s `k` most probable experts, most probable first (ties to the lower index), among `allowed`
    /// (nil: all). The one top-k of the code base (`SwapMoEKernels.topK`).
    public func top(_ k: Int, token t: Int, allowed: [Bool]? = nil) -> [(index: Int, value: Float)] {
        guard let allowed else { return topK(row(t), k: k) }
        var masked = Array(row(t))
        for i in masked.indices where !allowed[i] { masked[i] = -.infinity }
        return topK(masked[...], k: min(k, allowed.lazy.filter { $0 }.count))
    }
}

/// Which experts serve each token of a batch, and with what weight.
public struct Routing: Sendable, Equatable {
    public struct Choice: Sendable, Equatable {
        public let token: Int
        public let weight: Float
        public init(token: Int, weight: Float) { self.token = token; self.weight = weight }
    }

    /// Per expert, the tokens it serves (ascending) and their weights.
    public private(set) var perExpert: [[Choice]]

    public init(experts: Int) { perExpert = Array(repeating: [], count: experts) }

    public mutating func assign(token: Int, to expert: Int, weight: Float) {
        perExpert[expert].append(Choice(token: token, weight: weight))
    }

    /// The experts serving at least one token, ascending.
    public var usedExperts: [Int] { perExpert.indices.filter { !perExpert[$0].isEmpty } }

    /// Top-k routing as Mixtral, Qwen and OLMoE do it: each token's `k` most probable allowed experts, their
    /// probabilities as weights, renormalised to sum to 1 if `renormalize`.
    public static func topK(_ router: RouterOutput, k: Int, renormalize: Bool, allowed: [Bool]?) -> Routing {
        var routing = Routing(experts: router.experts)
        for t in 0..<router.tokens {
            let picks = router.top(k, token: t, allowed: allowed)
            var sum: Float = 0
            for p in picks { sum += p.value }
            for p in picks { routing.assign(token: t, to: p.index, weight: renormalize ? p.value / sum : p.value) }
        }
        return routing
    }
}

/// Experts a layer ahead is expected to route to (the next layer's router applied to the current hidden state).
public struct MoELayerPrediction: Sendable, Equatable {
    public let layer: MoELayer
    public let experts: [Int]
    public init(layer: MoELayer, experts: [Int]) { self.layer = layer; self.experts = experts }
}

extension Routing {
    /// Step 4 of `ExpertProvider.withLayer`, shared by every provider: `acquire` the weights of routed experts in
    /// ascending order (pinning them), `serve` them, then `release` them (also when `acquire` or `serve` throws).
    /// When every routed expert serves token 0 alone (a one-token batch) and the provider can pin that many at once
    /// (`pinnable`: an exact provider's slots; the planner gives it top-k + 1), all of them in one call; otherwise
    /// one call per expert.
    public func serveEach(_ layer: MoELayer, pinnable: Int = .max, acquire: (ExpertKey) throws -> ExpertWeights,
                          release: (ExpertKey) -> Void, serve: ([ServedExpert]) throws -> Void) throws {
        let used = usedExperts
        let oneToken = used.count <= pinnable && used.allSatisfy { perExpert[$0].count == 1 && perExpert[$0][0].token == 0 }
        for group in oneToken ? [used] : used.map({ [$0] }) {
            var served: [ServedExpert] = []
            served.reserveCapacity(group.count)
            defer { for s in served { release(layer.expert(s.expert)) } }
            for expert in group {
                served.append(ServedExpert(expert: expert, weights: try acquire(layer.expert(expert)), tokens: perExpert[expert]))
            }
            try serve(served)
        }
    }
}
