import Testing
import SwapMoEArchive
import SwapMoEModels
@testable import SwapMoEEngine

/// A provider that serves nothing: the counter's bookkeeping is what is under test.
final class NullProvider: ExpertProvider, Sendable {
    func acquire(_ key: ExpertKey) throws -> ExpertWeights { throw EngineError.invalidConfiguration("not used") }
    func release(_ key: ExpertKey) {}
}

@Suite("Routing counter (static baseline calibration)")
struct RoutingCounterTests {
    @Test("counts each token's top-k per layer and returns the most frequent, ties to the lower index")
    func counts() {
        let c = RoutingCounter(wrapping: NullProvider(), expertsPerToken: 2)
        // 3 tokens x 4 experts: top-2 are {1,3}, {1,2}, {0,1}.
        let probs: [Float] = [0.1, 0.4, 0.1, 0.4,   0.1, 0.5, 0.3, 0.1,   0.3, 0.3, 0.2, 0.2]
        let norms: [Float] = [1, 1, 1]
        probs.withUnsafeBufferPointer { p in norms.withUnsafeBufferPointer { n in
            c.observeRouting(layer: 5, tokens: 3, inputNorms: n.baseAddress!, probabilities: p.baseAddress!, experts: 4)
        } }
        #expect(c.routingCounts()[5] == [1, 3, 1, 1])
        #expect(c.mostFrequent([5: 2]) == [5: [0, 1]])
        #expect(c.mostFrequent([5: 1]) == [5: [1]])
    }
}
