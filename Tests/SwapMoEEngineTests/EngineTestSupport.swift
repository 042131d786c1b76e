import SwapMoEArchive
import SwapMoEModels
@testable import SwapMoEEngine

extension RouterOutput {
    /// Rows of `experts` probabilities, one per token (input norms 1 unless given).
    init(rows probs: [Float], experts: Int, norms: [Float]? = nil) {
        self.init(tokens: probs.count / experts, experts: experts, probabilities: probs,
                  inputNorms: norms ?? [Float](repeating: 1, count: probs.count / experts))
    }
}

extension ExactExperts {
    /// What `withLayer` does first for a decoder layer: see its router output.
    func observeRouting(layer: Int, probs: [Float], experts: Int = 8) {
        observe(MoELayer(layer: layer), RouterOutput(rows: probs, experts: experts))
    }

    /// What `withLayer` does next for the routed experts of a decoder layer: queue them, then load ahead.
    func hint(layer: Int, experts: [Int]) {
        prefetch(experts.map(MoELayer(layer: layer).expert))
        loadAhead(after: MoELayer(layer: layer))
    }
}

extension SwapExperts {
    /// The decoder layer's safe point for a batch of no tokens: its mask.
    func allowedExperts(layer: Int) -> [Bool]? {
        allowedExperts(MoELayer(layer: layer), router: RouterOutput(tokens: 0, experts: expertsPerLayer, probabilities: [], inputNorms: []))
    }
}
