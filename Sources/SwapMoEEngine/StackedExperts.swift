import SwapMoEArchive
import SwapMoEModels

/// Serves a model whose experts live in several stacks (an encoder-decoder's `encoder` and `decoder`) from one
/// provider per stack: every call goes to the provider of its stack. The swap and static policies use it, since
/// a `SwapExperts` manages the MoE layers of one stack; the exact policy serves every stack from one provider
/// and needs no composite.
public final class StackedExperts: ExpertProvider, Sendable {
    /// The provider of each stack.
    public let providers: [String: ExpertProvider]

    public init(_ providers: [String: ExpertProvider]) { self.providers = providers }

    public func acquire(_ key: ExpertKey) throws -> ExpertWeights {
        guard let p = providers[key.stack] else { throw EngineError.unknownExpert(key) }
        return try p.acquire(key)
    }

    public func release(_ key: ExpertKey) { providers[key.stack]?.release(key) }

    public func allowedExperts(stack: String, layer: Int) -> [Bool]? { providers[stack]?.allowedExperts(stack: stack, layer: layer) }

    public func observeRouting(stack: String, layer: Int, tokens: Int, inputNorms: UnsafePointer<Float>, probabilities: UnsafePointer<Float>, experts: Int) {
        providers[stack]?.observeRouting(stack: stack, layer: layer, tokens: tokens, inputNorms: inputNorms, probabilities: probabilities, experts: experts)
    }

    public var wantsPrefetch: Bool { providers.values.contains { $0.wantsPrefetch } }

    public func prefetch(stack: String, layer: Int, experts: [Int]) {
        providers[stack]?.prefetch(stack: stack, layer: layer, experts: experts)
    }
}
