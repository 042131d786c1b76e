import Foundation
import SwapMoEArchive

/// SwapMoE's offline planner (paper §4.3): how much each MoE layer suffers when it keeps fewer experts, measured
/// once on a calibration text, and the split of the Virtual Experts across layers that the measurements favour.
///
///     cost_l(n) = mean over tokens of KL(p_resident ‖ p_l,n)
///
/// where p_l,n is the model's next-token distribution with layer l alone masked to its n most routed experts
/// (every other layer whole). `allocate` then picks n_l per layer, m <= n_l <= E (m: top-k, or fewer when the cap
/// leaves less), Σ n_l = total slots, minimising
/// Σ cost_l(n_l) (exactly, by dynamic programming over the layers). A plain value: no threads, no model; the
/// runtime measures it (`Session.profile`) and the planner reads it.
public struct LayerProfile: Sendable, Equatable, Codable {
    public struct Layer: Sendable, Equatable, Codable {
        public var stack: ExpertStack
        public var layer: Int
        /// Experts kept, ascending; every value below the layer's expert count.
        public var budgets: [Int]
        /// `cost[i]`: the mean KL (nats per token) with `budgets[i]` experts kept.
        public var cost: [Double]

        /// `profile --experts`: per expert, the mean KL and the change of the mean next-token loss when that expert
        /// alone is masked out of this layer (the outcome SwapMoE's importance is meant to predict), and the
        /// importance itself over the text (Σ ‖x‖ · p_i · ‖E_i‖) and how often the expert was among a token's top-k.
        public var maskedKL: [Double]?
        public var maskedLossChange: [Double]?
        public var importance: [Double]?
        public var routed: [Int]?

        public init(stack: ExpertStack = .decoder, layer: Int, budgets: [Int], cost: [Double]) {
            self.stack = stack; self.layer = layer; self.budgets = budgets; self.cost = cost
        }

        enum CodingKeys: String, CodingKey {
            case stack, layer, budgets, cost, importance, routed
            case maskedKL = "masked_kl"
            case maskedLossChange = "masked_loss_change"
        }

        var moeLayer: MoELayer { MoELayer(stack: stack, layer: layer) }

        /// The cost of keeping `n` of `experts` experts: 0 with all of them, the measured value at a measured
        /// budget, linear between measured budgets (and between the largest one and 0 at `experts`); below the
        /// smallest budget, the first segment's line continued (never less than the smallest budget's cost), so a
        /// profile measured from top-k still tells the planner that fewer experts cost more.
        public func cost(keeping n: Int, of experts: Int) -> Double {
            if n >= experts || budgets.isEmpty { return 0 }
            let points = Array(zip(budgets, cost)) + [(experts, 0.0)]
            if n <= budgets[0] {
                let (a, b) = (points[0], points[1])
                let slope = (a.1 - b.1) / Double(b.0 - a.0)
                return a.1 + max(0, slope) * Double(a.0 - n)
            }
            for (a, b) in zip(points, points.dropFirst()) where n <= b.0 {
                let t = Double(n - a.0) / Double(b.0 - a.0)
                return a.1 + t * (b.1 - a.1)
            }
            return 0
        }
    }

    /// What the profile was measured on: the text's file name and tokens, and the archive's experts per layer.
    public var text: String
    public var tokens: Int
    public var expertsPerLayer: Int
    public var layers: [Layer]

    public init(text: String, tokens: Int, expertsPerLayer: Int, layers: [Layer]) {
        self.text = text; self.tokens = tokens; self.expertsPerLayer = expertsPerLayer; self.layers = layers
    }

    enum CodingKeys: String, CodingKey {
        case text, tokens, layers
        case expertsPerLayer = "experts_per_layer"
    }

    /// Why this profile cannot plan for `moeLayers` of `experts` experts each, or nil when it can: every MoE layer
    /// measured once, budgets ascending within 1..<experts, one finite non-negative cost per budget.
    public func problem(moeLayers: [MoELayer], experts: Int) -> String? {
        guard expertsPerLayer == experts else { return "it was measured on a model with \(expertsPerLayer) experts per layer, this one has \(experts)" }
        let measured = layers.map(\.moeLayer)
        guard Set(measured) == Set(moeLayers), measured.count == moeLayers.count else {
            return "it covers MoE layers \(measured.map(\.layer)), the model has \(moeLayers.map(\.layer))"
        }
        for l in layers {
            guard !l.budgets.isEmpty, l.budgets.count == l.cost.count, zip(l.budgets, l.budgets.dropFirst()).allSatisfy({ $0 < $1 }),
                  l.budgets.allSatisfy({ (1..<experts).contains($0) }), l.cost.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                return "layer \(l.layer) has budgets \(l.budgets) and costs \(l.cost): expected ascending budgets in 1..<\(experts), one finite cost >= 0 each"
            }
        }
        return nil
    }

    /// Experts to keep per layer of `moeLayers` (in that order), each in `minimum...experts`, summing to `total`
    /// (clamped to what the bounds allow), with the least summed cost; ties go to the split closest to uniform.
    /// Nil when the profile does not fit the model (`problem`).
    public func allocate(total: Int, moeLayers: [MoELayer], minimum: Int, experts: Int) -> [Int]? {
        guard problem(moeLayers: moeLayers, experts: experts) == nil, !moeLayers.isEmpty, minimum <= experts else { return nil }
        let byLayer = Dictionary(uniqueKeysWithValues: layers.map { ($0.moeLayer, $0) })
        let count = moeLayers.count
        let total = min(max(total, minimum * count), experts * count)
        let extra = total - minimum * count  // slots above the minimum to hand out
        let span = experts - minimum
        // best[i][s]: least cost of layers i..<count given s extra slots; choice[i][s]: extra slots for layer i.
        var best = [[Double]](repeating: [Double](repeating: .infinity, count: extra + 1), count: count + 1)
        var choice = [[Int]](repeating: [Int](repeating: 0, count: extra + 1), count: count)
        best[count][0] = 0
        let uniform = Double(extra) / Double(count)
        for i in stride(from: count - 1, through: 0, by: -1) {
            let layer = byLayer[moeLayers[i]]!
            for s in 0...extra {
                for x in 0...min(span, s) where best[i + 1][s - x].isFinite {
                    let c = layer.cost(keeping: minimum + x, of: experts) + best[i + 1][s - x]
                    let better = c < best[i][s] - 1e-12
                    let tie = abs(c - best[i][s]) <= 1e-12 && abs(Double(x) - uniform) < abs(Double(choice[i][s]) - uniform)
                    if better || tie { best[i][s] = c; choice[i][s] = x }
                }
            }
        }
        guard best[0][extra].isFinite else { return nil }
        var out: [Int] = []
        var s = extra
        for i in 0..<count {
            out.append(minimum + choice[i][s])
            s -= choice[i][s]
        }
        return out
    }

    /// Spearman's rank correlation of `a` and `b` (average ranks for ties); nil for fewer than 2 values or a
    /// constant one.
    public static func spearman(_ a: [Double], _ b: [Double]) -> Double? {
        guard a.count == b.count, a.count >= 2 else { return nil }
        func ranks(_ v: [Double]) -> [Double] {
            let order = v.indices.sorted { v[$0] < v[$1] }
            var r = [Double](repeating: 0, count: v.count)
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
                for k in i...j { r[order[k]] = Double(i + j) / 2 }
                i = j + 1
            }
            return r
        }
        let (x, y) = (ranks(a), ranks(b))
        let mx = x.reduce(0, +) / Double(x.count), my = y.reduce(0, +) / Double(y.count)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (p, q) in zip(x, y) { sxy += (p - mx) * (q - my); sxx += (p - mx) * (p - mx); syy += (q - my) * (q - my) }
        guard sxx > 0, syy > 0 else { return nil }
        return sxy / (sxx * syy).squareRoot()
    }
}
