// ExpertStorage: where expert weights live while they are served (an arena or the archive's mapping), and
// what that costs. `ExpertCache` builds the matching arena and `ExpertLoader`.

import SwapMoEArchive

/// Where expert weights live while they are served.
public enum ExpertStorage: Sendable {
    /// A fixed `Arena` of anonymous memory (RssAnon): works for every codec; loads `pread` into the slot (raw,
    /// optionally `O_DIRECT`) or into a per-thread staging buffer and decode (LZ4, shuffle).
    case arena(prefault: Bool = true, lockMemory: Bool = false)
    /// The archive's read-only mapping, raw archives only: "loading" is `madvise(MADV_WILLNEED)` plus touching
    /// the block's pages, weights are used in place, eviction is `madvise(MADV_DONTNEED)`. The memory counted is
    /// file-backed RSS (RssFile) of the mapped blocks plus the page cache behind them (shared, reclaimable, but
    /// charged to the process's cgroup); no anonymous memory is used for weights. The slot count caps how many
    /// blocks are mapped in at once.
    case mapped
}

extension ExpertStorage {
    /// What an `ExpertCache` with this storage will allocate (arena and loader buffers), without allocating it.
    func plannedBytes(archive: Archive, slots: Int, options: ExpertLoader.Options) -> Int {
        switch self {
        case .arena: slots * Arena.slotSize(for: archive) + ExpertLoader.memoryOverhead(for: archive, options: options)
        case .mapped: 0
        }
    }
}
