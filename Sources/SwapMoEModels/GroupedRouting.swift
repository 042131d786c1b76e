import Foundation
import SwapMoEKernels

/// DeepSeek's routers (and GLM-4.5's, which is DeepSeek-V3's), as transformers computes them:
///
///     DeepSeek-V3 (`noaux_tc`):  s = σ(W_g · y);  b = s + e_score_correction_bias   (b for selection only)
///                                group score = sum of the group's two largest b;  keep the `topk_group` best groups
///                                K = top-k of b in the kept groups;  w_i = s_i  (/ Σ_K s_j if norm_topk_prob)
///     DeepSeek-V2 (`greedy`, `group_limited_greedy`):  s = softmax(W_g · y);  group score = the group's max s
///                                K = top-k of s (in the kept groups);  w_i = s_i  (/ Σ_K s_j if norm_topk_prob)
///     then  w_i *= routed_scaling_factor
///
/// The router output handed to an expert provider (`RouterOutput.probabilities`, SwapMoE's importance) holds
/// `s`: the softmax probabilities, or for sigmoid routers the per-expert sigmoid scores, without the selection
/// bias (a load-balancing offset learnt during training, not how much the token wants the expert) and before
/// normalisation and scaling (so each lies in (0, 1) and a row does not sum to one). They rank experts as the
/// weights of the chosen ones do, which is what importance and the exact policy's keep/load-ahead choices use.
///
/// Masked routing (SwapMoE's Virtual Experts: `allowed`) selects among the allowed experts only: a group's score
/// comes from its allowed experts (a group with none is never kept), and each token gets at most k of the
/// allowed experts of its kept groups.
public struct GroupedRouter: Sendable, Equatable {
    public enum Scoring: String, Sendable { case softmax, sigmoid }
    /// How a group of experts is scored: its largest score (V2) or its two largest biased scores added (V3).
    public enum GroupScore: Sendable { case max, topTwoSum }

    public var scoring: Scoring
    /// Expert groups (`n_group`); 1 disables the group limit.
    public var groups: Int
    /// Groups each token may use (`topk_group`).
    public var groupsPerToken: Int
    public var groupScore: GroupScore
    /// Adds the layer's `e_score_correction_bias` to the scores for selection (V3).
    public var selectionBias: Bool
    public var renormalize: Bool
    public var scalingFactor: Float
    /// DeepSeek-V2's reference code scales only weights it does not renormalise; V3 always scales.
    public var scaleRenormalized: Bool

    public init(scoring: Scoring, groups: Int, groupsPerToken: Int, groupScore: GroupScore, selectionBias: Bool,
                renormalize: Bool, scalingFactor: Float, scaleRenormalized: Bool) {
        self.scoring = scoring; self.groups = groups; self.groupsPerToken = groupsPerToken; self.groupScore = groupScore
        self.selectionBias = selectionBias; self.renormalize = renormalize; self.scalingFactor = scalingFactor
        self.scaleRenormalized = scaleRenormalized
    }

    /// DeepSeek-V3's router (GLM-4.5's too): sigmoid scores, the selection bias, groups scored by their two best.
    static func sigmoidGrouped(groups: Int, groupsPerToken: Int, renormalize: Bool, scalingFactor: Double) -> GroupedRouter {
        GroupedRouter(scoring: .sigmoid, groups: groups, groupsPerToken: groupsPerToken, groupScore: .topTwoSum, selectionBias: true,
                      renormalize: renormalize, scalingFactor: Float(scalingFactor), scaleRenormalized: true)
    }

    /// `n_group`, `topk_group` and `routed_scaling_factor` checked against the expert count and top-k; `minGroupSize`
    /// 2 for routers that score a group by its two best experts.
    static func validate(groups: Int, groupsPerToken: Int, experts: Int, k: Int, scalingFactor: Double, minGroupSize: Int,
                         family: ModelFamily) throws(ModelError) {
        func bad(_ reason: String) -> ModelError { .badConfig(family: family.rawValue, reason: reason) }
        try ConfigLimits.check(family, "n_group", groups, 1...experts)
        try ConfigLimits.check(family, "topk_group", groupsPerToken, 1...groups)
        guard experts % groups == 0 else { throw bad("n_routed_experts (\(experts)) must be a multiple of n_group (\(groups))") }
        let size = experts / groups
        guard size >= minGroupSize else { throw bad("n_routed_experts / n_group must be at least \(minGroupSize) (a group scores its two best experts)") }
        guard k <= groupsPerToken * size else {
            throw bad("num_experts_per_tok \(k) exceeds the \(groupsPerToken * size) experts of topk_group (\(groupsPerToken)) groups of \(size)")
        }
        guard scalingFactor.isFinite && scalingFactor > 0 else { throw bad("routed_scaling_factor \(scalingFactor) must be a finite number > 0") }
    }

    /// The scores `s` from router logits, in place, one row per token.
    public func score(_ logits: Rows) {
        switch scoring {
        case .softmax: softmax(logits)
        case .sigmoid:
            for i in 0..<logits.elementCount { logits[i] = 1 / (1 + expf(-logits[i])) }
        }
    }

    /// Each token's experts and weights from the scores in `router`, among `allowed` (nil: all); `bias` is the
    /// layer's `e_score_correction_bias` when `selectionBias`.
    public func route(_ router: RouterOutput, k: Int, bias: [Float]?, allowed: [Bool]?) -> Routing {
        let e = router.experts, size = e / groups
        var routing = Routing(experts: e)
        for t in 0..<router.tokens {
            let s = router.row(t)
            var choice = [Float](repeating: -.infinity, count: e)
            for i in 0..<e where allowed?[i] ?? true { choice[i] = s[s.startIndex + i] + (selectionBias ? bias?[i] ?? 0 : 0) }
            if groups > 1 {
                let groupScores = (0..<groups).map { g in groupValue(choice[(g * size)..<((g + 1) * size)]) }
                let usable = groupScores.filter { $0 > -.infinity }.count
                let kept = Set(topK(groupScores[...], k: min(groupsPerToken, usable)).map(\.index))
                for i in 0..<e where !kept.contains(i / size) { choice[i] = -.infinity }
            }
            let candidates = choice.filter { $0 > -.infinity }.count
            let picks = topK(choice[...], k: min(k, candidates))
            var weights = picks.map { s[s.startIndex + $0.index] }
            let sum = weights.reduce(0, +) + 1e-20
            if renormalize { weights = weights.map { $0 / sum } }
            if !renormalize || scaleRenormalized { weights = weights.map { $0 * scalingFactor } }
            for (p, w) in zip(picks, weights) { routing.assign(token: t, to: p.index, weight: w) }
        }
        return routing
    }

    /// A group's score from its (biased, masked) scores; -inf when none of its experts may be chosen.
    private func groupValue(_ group: ArraySlice<Float>) -> Float {
        switch groupScore {
        case .max: return group.max() ?? -.infinity
        case .topTwoSum:
            let top = topK(group, k: min(2, group.count)).map(\.value).filter { $0 > -.infinity }
            return top.isEmpty ? -.infinity : top.reduce(0, +)
        }
    }
}
