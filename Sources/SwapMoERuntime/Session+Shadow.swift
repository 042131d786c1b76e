import SwapMoECore
import SwapMoEArchive
import SwapMoEEngine

extension Session {
    /// The types `--shadow auto` chooses from, most bits first.
    public static let shadowLadder: [DType] = [.q8_0, .q6_K, .q5_K, .q4_K, .q3_K, .q2_K]

    /// Sizes `planner`'s shadows as `shadowType` chooses them, built on `threads` threads.
    public static func useShadows(_ spelling: String?, planner: inout Planner, archive: Archive, cap: Int, ioThreads: Int, threads: Int) throws {
        let type = try shadowType(spelling, archive: archive, planner: planner, cap: cap, ioThreads: ioThreads, threads: threads)
        planner.useShadows(type, archive: archive, threads: threads)
    }

    /// The shadow policy's type: the one named (a quantized type the kernels compute with, fewer bits than the
    /// stored experts), or for nil / `auto` the most bits of `shadowLadder` whose shadows fit under `cap`; the rest
    /// of the cap goes to full-precision slots, or to none when it cannot hold swap's minimum (the shadows then
    /// serve every expert). If none fits, the smallest, whose plan then names the minimum cap.
    ///
    /// More bits in every expert against more experts at full precision: the rule keeps the shadows as good as the
    /// cap allows and gives the Virtual Experts what is left (Docs/Quality.md compares it with fixed types).
    static func shadowType(_ spelling: String?, archive: Archive, planner: Planner, cap: Int, ioThreads: Int, threads: Int) throws -> DType {
        // The stored experts' matrices (not their biases): shadows must be smaller than them.
        let stored = archive.manifest.expertLayouts.flatMap(\.tensors).filter { $0.shape.count == 2 }.map(\.dtype.bitsPerWeight).max() ?? 16
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
