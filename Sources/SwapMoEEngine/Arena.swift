#if canImport(Glibc)
import Glibc
#endif
import SwapMoECore
import SwapMoEArchive

/// The expert arena: ONE anonymous mapping (`AnonymousMapping`) of `slotCount` slots of `slotSize` bytes, made
/// once, never grown, unmapped when its one owner (the `ExpertCache`) goes. Every non-mmap expert the engine
/// serves lives in one of these slots.
///
/// Memory: exactly `byteCount = slotCount * slotSize` bytes of anonymous memory (RssAnon), plus nothing else.
///
/// Why it is touched at allocation time (`prefault: true`, the default): a fresh anonymous mapping costs no RSS
/// until written, so an untouched arena would let RSS creep up as slots are first used, and an over-budget
/// configuration would only fail (OOM-kill) minutes into serving. Writing every page up front makes RSS reach
/// its final value at start-up, where a memory cap is checked, and keeps page faults off the decode path.
/// `prefault: false` is for tests and for measuring how much of the arena a workload actually uses.
///
/// Huge pages: the arena asks for transparent huge pages. Prefaulted whole, they change no RSS figure, only the
/// TLB cost of streaming weights.
///
/// Why 4096-aligned slots of a 4096 multiple: expert blocks are 4096-aligned in the archive, so a raw block can
/// be read with `O_DIRECT` straight into a slot (no bounce buffer, no second copy in the page cache).
///
/// Why `~Copyable`: the mapping has exactly one owner, so it is unmapped exactly once, and only when that owner
/// goes; a copy that outlived it (and a second `munmap`) cannot be written. The loader's I/O threads write
/// through `ArenaSlots`, a view of the same memory, which is why the owner must stop them before it lets the
/// arena go (`ExpertCache.deinit`).
public struct Arena: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init. Who may write or read a slot's bytes
    // when is the loader's slot protocol (see `ArenaSlots`).
    public let slotCount: Int
    public let slotSize: Int
    /// Total bytes reserved: `slotCount * slotSize`. This is all the arena allocates.
    public let byteCount: Int
    /// Whether every page was written at allocation (RSS is then `byteCount` from the start).
    public let isPrefaulted: Bool
    /// Whether the arena is `mlock`ed (never swapped out).
    public let isLocked: Bool
    private let memory: AnonymousMapping

    /// The slot size that fits every expert of `archive`, loaded in place: the largest
    /// `ArchiveFormat.inPlaceLength` (a raw block rounded up to 4096; an LZ4 block's raw length plus room to read
    /// the stored block into the slot's end and decode it to the front), so loads need no staging buffer.
    public static func slotSize(for archive: Archive) -> Int {
        let longest = archive.experts.map { ArchiveFormat.inPlaceLength(rawLength: $0.rawLength, storedLength: $0.storedLength, codec: $0.codec) }.max()
        return max(ArchiveFormat.blockAlignment, longest ?? 0)
    }

    /// `rawLength` rounded up to the 4096-byte block alignment (at least one block).
    public static func slotSize(forRawLength rawLength: Int) -> Int {
        max(ArchiveFormat.blockAlignment, ArchiveFormat.align(rawLength, ArchiveFormat.blockAlignment))
    }

    /// Reserves `slotCount * slotSize` bytes. `slotSize` must be a positive multiple of 4096.
    /// - Parameters:
    ///   - prefault: write every page now so RSS is final from the start (see the type's documentation).
    ///   - lockMemory: `mlock` the arena so it is never swapped; fails with `.lockFailed` when not permitted.
    public init(slotCount: Int, slotSize: Int, prefault: Bool = true, lockMemory: Bool = false) throws(EngineError) {
        guard slotCount > 0 else { throw .invalidConfiguration("the arena needs at least one slot (got \(slotCount))") }
        guard slotSize > 0, slotSize % ArchiveFormat.blockAlignment == 0 else {
            throw .invalidConfiguration("arena slot size \(slotSize) is not a positive multiple of \(ArchiveFormat.blockAlignment)")
        }
        let (total, overflow) = slotCount.multipliedReportingOverflow(by: slotSize)
        guard !overflow else { throw .invalidConfiguration("arena of \(slotCount) slots of \(slotSize) bytes overflows") }
        // Huge pages (see the type's documentation): measured 7-14% faster decode than 4 KiB pages here.
        let memory: AnonymousMapping
        do { memory = try AnonymousMapping(byteCount: total, prefault: prefault) } catch {
            throw .allocationFailed(what: "the expert arena", bytes: total, errno: error.errno)
        }
        // On this throw `memory` is dropped, so the mapping is unmapped.
        if lockMemory, mlock(memory.base, total) != 0 { throw .lockFailed(bytes: total, errno: errno) }
        self.slotCount = slotCount
        self.slotSize = slotSize
        self.byteCount = total
        self.isPrefaulted = prefault
        self.isLocked = lockMemory
        self.memory = memory
    }

    /// An arena whose slots fit every expert of `archive`.
    public init(archive: Archive, slotCount: Int, prefault: Bool = true, lockMemory: Bool = false) throws(EngineError) {
        try self.init(slotCount: slotCount, slotSize: Arena.slotSize(for: archive), prefault: prefault, lockMemory: lockMemory)
    }

    /// Unlocks; `memory`'s own deinit then unmaps.
    deinit { if isLocked { munlock(memory.base, byteCount) } }

    /// Calls `body` with the bytes of slot `i`, read-only (meaningful while the slot is ready).
    public func withSlot<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(slots.slot(i))
    }

    /// A view of the slots for the loader and the cache: valid while this arena lives.
    var slots: ArenaSlots { ArenaSlots(base: memory.base, slotCount: slotCount, slotSize: slotSize) }
}

/// Where an `Arena`'s slots are, without owning them: what the loader's I/O threads write through and the cache
/// hands out weight views from. Valid only while the arena lives; `ExpertCache`, which owns both the arena and
/// the loader, stops and joins the I/O threads in its deinit before the arena is unmapped, and makes weight views
/// only while it is alive.
///
/// Who may write or read a slot at a given moment is decided by the slot state machine in `ExpertLoader`: a
/// slot is written only while it is `loading`, by the one I/O thread that took the request, and read only while
/// it is `ready` and pinned by its provider.
struct ArenaSlots: @unchecked Sendable {
    // @unchecked Sendable: immutable; the memory it points to is shared on purpose, its race-freedom is the
    // loader's slot protocol above, whose hand-offs all pass through the loader's mutex (so each write
    // happens-before the reads that follow it).
    let base: UnsafeMutableRawPointer
    let slotCount: Int
    let slotSize: Int

    /// The bytes of slot `i`, read-only.
    func slot(_ i: Int) -> UnsafeRawBufferPointer {
        precondition(i >= 0 && i < slotCount, "arena slot \(i) out of range 0..<\(slotCount)")
        return UnsafeRawBufferPointer(start: base + i * slotSize, count: slotSize)
    }

    /// The bytes of slot `i` for the loader to fill. Only the I/O thread that owns the slot's in-flight load
    /// may write through it.
    func mutableSlot(_ i: Int) -> UnsafeMutableRawBufferPointer {
        precondition(i >= 0 && i < slotCount, "arena slot \(i) out of range 0..<\(slotCount)")
        return UnsafeMutableRawBufferPointer(start: base + i * slotSize, count: slotSize)
    }
}
