import SwapMoEArchive
import SwapMoEModels

/// SwapMoE with shadow experts: the full-precision Virtual Experts of `swap` serve the experts that matter most
/// now (and swaps move them as importance shifts, exactly as under the swap policy), while every other expert of
/// the layer is served by its low-bit copy in `shadows`, always resident. So no routed choice is dropped: the
/// router is not masked, each token goes to the family's own top-k, and only the precision of the weights that
/// serve a choice depends on what is resident:
///
///     mo = Σ_{i∈topk(p)} w_i · (i ∈ V_l ? E_i : Ê_i)(y)       (V_l: layer l's serving set, Ê_i: E_i at low bit)
///
/// With every expert serving (the cap holds them all) this is the resident model exactly; without a swap provider
/// (a cap with no room for one beside the shadows) it is the model with every expert at the shadows' type. The
/// swap provider's safe point (importance, applying swaps) runs as under the swap policy; its hit rate counts the
/// routed choices served at full precision, the rest went to shadows.
public final class ShadowExperts: ExpertProvider, Sendable {
    public let swap: SwapExperts?
    public let shadows: ShadowStore

    public init(swap: SwapExperts?, shadows: ShadowStore) throws(EngineError) {
        if let swap, swap.options.stack != shadows.stack {
            throw .invalidConfiguration("shadow experts of stack \(shadows.stack) given to the swap provider of stack \(swap.options.stack)")
        }
        self.swap = swap
        self.shadows = shadows
    }

    /// Routes over every expert (no mask), then serves each routed expert from its slot if it is serving at this
    /// safe point, else from its shadow. The mask stays valid until the layer's next safe point, so an expert
    /// found serving is pinned without waiting.
    public func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                          predict: () -> [MoELayerPrediction],
                          serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        // The swap provider's safe point; nil for a layer it does not manage, which it serves as it would.
        let serving = swap?.allowedExperts(layer, router: router)
        if let swap, serving == nil { return try swap.withLayer(layer, router: router, route: route, predict: predict, serve: serve) }
        let routing = try route(nil)
        try routing.serveEach(layer, acquire: { key in
            if let swap, serving?[key.expert] == true { return try swap.acquire(key) }
            guard let w = shadows.weights(key) else { throw EngineError.unknownExpert(key) }
            return w
        }, release: { key in
            if serving?[key.expert] == true { swap?.release(key) }
        }, serve: serve)
        return routing
    }
}
