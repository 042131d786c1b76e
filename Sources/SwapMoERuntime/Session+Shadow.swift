import SwapMoECore
import SwapMoEArchive
import SwapMoEEngine

extension Session {
    /// The types `--shadow auto` chooses from, most bits first.
    public static let shadowLadder: [DType] = [.q8_0, .q6_K, .q5_K, .q4_K, .q3_K, .q2_K]

    /// The shadow policy's type: the one named (a quantized type the kernels compute with, fewer bits than the
    /// stored experts), or for nil / `auto` the most bits of `shadowLadder` that fit under `cap` beside swap's
    /// fewest full-precision slots, else beside none (the shadows then serve every expert). If none fits,
    /// the smallest, whose plan then names the minimum cap.
    ///
    /// More bits in every expert against more experts at full precision: the rule keeps the shadows as good as the
    /// cap allows and gives the Virtual Experts what is left (Docs/Quality.md compares it with fixed types).
    public static func shadowType(_ spelling: String?, archive: Archive, planner: Planner, cap: Int, ioThreads: Int, threads: Int) throws -> DType {
        // The stored experts' matrices (not their biases): shadows must be smaller than them.
        let stored = archive.experts.map { e in
            archive.layout(of: e).tensors.filter { $0.shape.count == 2 }.map(\.dtype.bitsPerWeight).max() ?? 16
        }.max() ?? 16
        if let s = spelling, s != "auto" {
            guard let t = DType(userSpelling: s), ShadowStore.canShadow(t), t.bitsPerWeight < stored else {
                throw SessionError.badShadowType(s)
            }
            return t
        }
        let ladder = shadowLadder.filter { $0.bitsPerWeight < stored }
        guard let smallest = ladder.last else { throw SessionError.shadowsNotSmaller(formatFixed(stored, digits: 2)) }
        for t in ladder {
            var p = planner
            p.useShadows(t, archive: archive, threads: threads)
            if (try? p.plan(cap: cap, policy: .shadow, ioThreads: ioThreads)) != nil { return t }
        }
        return smallest
    }
}
