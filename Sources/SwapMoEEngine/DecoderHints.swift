import SwapMoEArchive
import SwapMoEModels

/// The decoder's prefetch hints (this layer's routed experts, the next layer's predicted ones) become
/// prefetch-priority loads; demand requests for them then wait on the load already in flight.
extension ExactExperts {
    public var wantsPrefetch: Bool { true }

    public func prefetch(stack: String, layer: Int, experts: [Int]) {
        _ = prefetch(experts.map { ExpertKey(stack: stack, layer: layer, expert: $0) })
        loadAhead(stack: stack, after: layer)
    }
}
