import SwapMoECore
import SwapMoEModels
import SwapMoEEngine

extension Session {
    /// Expert-serving counters, as the commands' `--json` output holds them (every value is JSON-serialisable:
    /// Int, Double, String or [Int]): `policy`; with a cap `max_rss_bytes`, `arena_slots`, `arena_bytes`, `expert_fraction`,
    /// `planned_bytes`; exact: `hits`, `misses`, `loads`, `bytes_read`, `stall_seconds`, `evictions`, ...;
    /// swap and static: `swaps`, `hit_rate`, `loads`, `bytes_read`, `virtual_experts`, ... (summed over stacks).
    public var expertStats: [String: Any] {
        var d: [String: Any] = ["policy": policy.rawValue]
        if let p = plan {
            d["max_rss_bytes"] = p.cap
            d["arena_slots"] = p.slots
            d["arena_bytes"] = p.arena
            d["expert_fraction"] = p.expertFraction
            d["planned_bytes"] = p.total
        }
        // Swap providers of every stack, summed (one for decoder-only models); the shadow policy's are inside its
        // providers.
        let providers: [ExpertProvider] = (experts as? StackedExperts).map { st in st.providers.keys.sorted().compactMap { st.providers[$0] } } ?? [experts]
        let swaps = providers.compactMap { ($0 as? SwapExperts) ?? ($0 as? ShadowExperts)?.swap }
        let shadows = providers.compactMap { ($0 as? ShadowExperts)?.shadows }
        if let t = shadows.first?.type {
            d["shadow_type"] = t.rawValue
            d["shadow_bytes"] = shadows.reduce(0) { $0 + $1.bytes }
        }
        switch experts {
        case let e as ExactExperts:
            let s = e.stats
            d.merge(["hits": s.hits, "misses": s.misses, "prefetch_hits": s.prefetchHits, "loads": s.loads, "bytes_read": s.bytesRead,
                     "stall_seconds": s.stallSeconds, "evictions": s.evictions, "allocated_slots": e.slotCount]) { a, _ in a }
            // How the loads were read: O_DIRECT, streamed as AIO pieces (LZ4), chunks decoded by an idle I/O thread.
            let l = e.loader.stats
            d.merge(["direct_reads": l.directReads, "streamed_loads": l.streamedReads, "helped_chunks": l.helpedChunks]) { a, _ in a }
        default:
            guard !swaps.isEmpty else { break }
            let st = swaps.map(\.stats)
            func sum(_ f: (SwapStats) -> Int) -> Int { st.reduce(0) { $0 + f($1) } }
            let choices = sum(\.routedChoices), resident = sum(\.routedResident)
            d.merge(["swaps": sum(\.swaps), "reclaimed": sum(\.reclaimed), "loads": sum(\.loads), "bytes_read": sum(\.bytesRead),
                     "stall_seconds": st.reduce(0) { $0 + $1.stallSeconds }, "warmup_seconds": st.reduce(0) { $0 + $1.warmupSeconds },
                     "virtual_experts_per_layer": plan?.perLayer.first ?? 0, "virtual_experts": plan?.perLayer ?? [],
                     "hit_rate": choices > 0 ? Double(resident) / Double(choices) : 1, "routed_choices": choices, "routed_resident": resident,
                     "allocated_slots": swaps.reduce(0) { $0 + $1.slotCount }]) { a, _ in a }
        }
        return d
    }

    /// One line for stderr, e.g. `exact: 812 hits, 44 misses (95% hit rate), 61 loads, 1.0 GiB read, stall 2.1 s`.
    public var expertStatsLine: String {
        let d = expertStats
        func i(_ k: String) -> Int { d[k] as? Int ?? 0 }
        let cap = plan.map { " | cap \(ByteSize.format($0.cap)), \($0.slots) slots (\(formatFixed(100 * $0.expertFraction, digits: 0))% of experts)" } ?? ""
        switch policy {
        case .resident:
            return "resident: all \(archive.experts.count) experts in memory" + cap
        case .exact:
            let rate = i("hits") + i("misses") > 0 ? 100 * Double(i("hits")) / Double(i("hits") + i("misses")) : 0
            return "exact: \(i("hits")) hits, \(i("misses")) misses (\(formatFixed(rate, digits: 1))% hit rate), \(i("loads")) loads, "
                + "\(ByteSize.format(i("bytes_read"))) read, stall \(formatFixed(d["stall_seconds"] as? Double ?? 0, digits: 2)) s" + cap
        case .shadow where d["routed_choices"] == nil:
            return "shadow: every expert served at \(d["shadow_type"] as? String ?? "?") (no room for full-precision Virtual Experts)" + cap
        case .swap, .static, .shadow:
            let per = plan?.perLayer ?? []
            let range = per.isEmpty ? "0" : per.min()! == per.max()! ? "\(per.min()!)" : "\(per.min()!)-\(per.max()!)"
            let spareCount = plan?.totalSpareSlots ?? 0
            let spares = spareCount > 0 ? " + \(spareCount) spare slots serving" : ""
            return "\(policy.rawValue): \(range) of \(archive.manifest.model.stacks.first?.expertsPerLayer ?? 0) Virtual Experts per layer\(spares), "
                + "\(formatFixed(100 * (d["hit_rate"] as? Double ?? 1), digits: 1))% of routed choices served"
                + (policy == .shadow ? " at full precision, the rest by \(d["shadow_type"] as? String ?? "?") shadows, " : ", ")
                + "\(i("swaps")) swaps, \(ByteSize.format(i("bytes_read"))) read, stall \(formatFixed(d["stall_seconds"] as? Double ?? 0, digits: 2)) s" + cap
        }
    }
}
