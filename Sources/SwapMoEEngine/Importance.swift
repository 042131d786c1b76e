import SwapMoEModels

/// SwapMoE's expert importance (arXiv 2308.15030), per MoE layer, over a sliding window of the most recent
/// `window` tokens:
///
///     importance_i = Σ_{t in window} ‖x_t‖ · p_i(x_t) · ‖E_i‖
///
/// where `x_t` is the layer input of token t, `p_i` the router's softmax probability of expert i (before any
/// mask, so experts that are not resident keep earning importance) and `‖E_i‖` the Frobenius norm of the
/// expert's weights from the archive manifest.
///
/// Why an exact window rather than exponential decay: the paper scores the recent workload, and a window has a
/// hard memory of W tokens (a burst of one topic is forgotten after exactly W tokens, which makes the swapper's
/// behaviour easy to reason about and to test). Decay would need O(experts) memory instead of O(W · experts),
/// but at W = 256 and 128 experts a layer's ring is 128 KiB, small beside one expert.
///
/// How: per layer, a ring of W rows stores each token's `‖x‖ · p_i` (f32, one row per token); a running f64
/// sum per expert adds the newest row and subtracts the row it overwrites. `‖E_i‖` is a per-expert constant,
/// applied when reading. Running sums drift by rounding, so they are recomputed from the ring every W tokens
/// (amortised O(experts) per token). A batch longer than the window only contributes its last W tokens.
///
/// Memory (exact payload bytes, allocated once in init): `layers · (W · experts · 4 + experts · 16)`, see
/// `memoryBytes(layers:experts:window:)`.
///
/// Concurrency: one lock per layer, so the decoder updating layer l never contends with the swapper reading
/// another layer.
public final class ImportanceTracker: Sendable {
    public let window: Int
    public let experts: Int
    public let layerCount: Int
    /// ‖E_i‖ per layer and expert.
    public let norms: [[Double]]
    private let layers: [LayerBox]

    private final class LayerBox: Sendable {
        let state: ConditionLock<LayerWindow>
        init(_ w: LayerWindow) { state = ConditionLock(w) }
    }

    private struct LayerWindow: Sendable {
        var ring: [Float]
        var sums: [Double]
        var head = 0
        var filled = 0
        var sinceRecompute = 0
        var observed = 0
    }

    /// Payload bytes a tracker of this shape allocates (ring, running sums and norms).
    public static func memoryBytes(layers: Int, experts: Int, window: Int) -> Int {
        layers * (window * experts * MemoryLayout<Float>.size + experts * 2 * MemoryLayout<Double>.size)
    }

    public var memoryBytes: Int { Self.memoryBytes(layers: layerCount, experts: experts, window: window) }

    /// - Parameters:
    ///   - norms: ‖E_i‖ for each layer (outer) and expert (inner); every layer has the same expert count.
    ///   - window: tokens remembered (at least 1).
    public init(norms: [[Double]], window: Int) throws(EngineError) {
        guard window >= 1 else { throw .invalidConfiguration("the importance window must be at least 1 token (got \(window))") }
        guard let e = norms.first?.count, e > 0, norms.allSatisfy({ $0.count == e }) else {
            throw .invalidConfiguration("importance needs the same, non-zero expert count in every layer")
        }
        self.window = window
        self.experts = e
        self.layerCount = norms.count
        self.norms = norms
        layers = norms.map { _ in LayerBox(LayerWindow(ring: .init(repeating: 0, count: window * e), sums: .init(repeating: 0, count: e))) }
    }

    /// Adds `tokens` routing observations of layer `layerIndex`: `inputNorms[t]` and the row-major
    /// `[tokens, experts]` softmax `probabilities`.
    public func observe(layerIndex: Int, tokens: Int, inputNorms: UnsafePointer<Float>, probabilities: UnsafePointer<Float>) {
        guard tokens > 0 else { return }
        let e = experts, w = window
        let first = max(0, tokens - w)
        layers[layerIndex].state.withLock { s in
            s.observed += tokens
            for t in first..<tokens {
                let row = s.head * e
                let n = inputNorms[t]
                let p = probabilities + t * e
                let evicting = s.filled == w
                for i in 0..<e {
                    let c = n * p[i]
                    if evicting { s.sums[i] -= Double(s.ring[row + i]) }
                    s.ring[row + i] = c
                    s.sums[i] += Double(c)
                }
                s.head = s.head + 1 == w ? 0 : s.head + 1
                if !evicting { s.filled += 1 }
                s.sinceRecompute += 1
            }
            if s.sinceRecompute >= w {
                for i in 0..<e { s.sums[i] = 0 }
                for r in 0..<s.filled { for i in 0..<e { s.sums[i] += Double(s.ring[r * e + i]) } }
                s.sinceRecompute = 0
            }
        }
    }

    /// `observe` for a layer's router output (its probabilities and input norms).
    public func observe(layerIndex: Int, router: RouterOutput) {
        guard router.tokens > 0 else { return }
        router.probabilities.withUnsafeBufferPointer { p in
            router.inputNorms.withUnsafeBufferPointer { n in
                observe(layerIndex: layerIndex, tokens: router.tokens, inputNorms: n.baseAddress!, probabilities: p.baseAddress!)
            }
        }
    }

    /// Current importance of every expert of layer `layerIndex` (never negative).
    public func importance(layerIndex: Int) -> [Double] {
        let sums = layers[layerIndex].state.withLock { $0.sums }
        let n = norms[layerIndex]
        return sums.indices.map { max(0, sums[$0]) * n[$0] }
    }

    /// Tokens observed so far on layer `layerIndex` (all of them, not only the window).
    public func observedTokens(layerIndex: Int) -> Int { layers[layerIndex].state.withLock { $0.observed } }
}
