import SwapMoEArchive
import SwapMoEModels

/// Serves a model whose experts live in several stacks (an encoder-decoder's `encoder` and `decoder`) from one
/// provider per stack: each layer goes to the provider of its stack. The swap and static policies use it, since
/// a `SwapExperts` manages the MoE layers of one stack; the exact policy serves every stack from one provider
/// and needs no composite.
public final class StackedExperts: ExpertProvider, Sendable {
    /// The provider of each stack.
    public let providers: [ExpertStack: ExpertProvider]

    public init(_ providers: [ExpertStack: ExpertProvider]) { self.providers = providers }

    public func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                          predict: () -> [MoELayerPrediction],
                          serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        guard let p = providers[layer.stack] else { throw EngineError.unknownExpert(layer.expert(0)) }
        return try p.withLayer(layer, router: router, route: route, predict: predict, serve: serve)
    }
}
