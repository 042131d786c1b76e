import SwapMoECore
import SwapMoEArchive
import SwapMoEModels

/// The mechanism under every provider that loads experts (exact, swap, static): the slots' memory (an `Arena`,
/// or the archive's mapping), the `ExpertLoader` that fills them, typed weight views of ready slots, and the one
/// lock over the provider's slot bookkeeping `Book` (which slot holds which expert, the pins, the policy's data).
/// A provider keeps its decisions in a policy type (`ExactPolicy`, `SwapPolicy`), decided from its `Book` under
/// this lock, and carries them out through the loader here.
///
/// Lock order: this lock, then the loader's (the loader never calls out while holding its own), so they cannot
/// deadlock.
///
/// Ownership: the cache is the arena's one owner (`Arena` is `~Copyable`). The loader's I/O threads write into
/// it through a view (`ArenaSlots`), so `deinit` stops and joins them first; only then, as the stored
/// properties go, is the arena unmapped. Weight views come from the cache (never from the loader, which may be
/// referenced longer), so none is made after the arena is gone.
///
/// Memory: the arena (`slots * Arena.slotSize(for: archive)` bytes, none for `.mapped`) and the loader's
/// `memoryOverhead`: `memoryBytes`, or `ExpertStorage.plannedBytes` before construction.
final class ExpertCache<Book: Sendable>: Sendable {
    let archive: Archive
    /// The arena's memory, or nil for the mapped backend. Never read after init: `slots` is its view.
    private let arena: Arena?
    /// Where the arena's slots are (nil for the mapped backend).
    private let slots: ArenaSlots?
    let loader: ExpertLoader
    let slotCount: Int
    /// Bytes of the arena (0 for the mapped backend).
    let arenaBytes: Int
    /// The provider's bookkeeping, behind the one lock.
    let lock: ConditionLock<Book>

    /// Allocates (and by default pre-faults) the slots and starts the I/O threads; nothing is loaded yet.
    init(archive: Archive, slots: Int, storage: ExpertStorage, loader options: ExpertLoader.Options, book: Book) throws(EngineError) {
        self.archive = archive
        slotCount = slots
        lock = ConditionLock(book)
        switch storage {
        case let .arena(prefault, lockMemory):
            let arena = try Arena(archive: archive, slotCount: slots, prefault: prefault, lockMemory: lockMemory)
            // If the loader cannot start, it has joined any thread it started, and `arena` is unmapped here.
            loader = try ExpertLoader(archive: archive, arena: arena.slots, options: options)
            self.slots = arena.slots
            arenaBytes = arena.byteCount
            self.arena = consume arena
        case .mapped:
            loader = try ExpertLoader(mappedArchive: archive, slots: slots, options: options)
            self.slots = nil
            arenaBytes = 0
            arena = nil
        }
    }

    /// The I/O threads write into the arena: stop and join them before it is unmapped (see the type).
    deinit { loader.shutdown() }

    /// Bytes allocated for weights and I/O: the arena plus the loader's staging and scratch buffers.
    var memoryBytes: Int { arenaBytes + loader.memoryOverhead }

    /// Where the weights of `key` are when `slot` is ready with it: the arena slot, or its block in the mapping.
    func baseAddress(slot: Int, key: ExpertKey) -> UnsafeRawPointer {
        if let slots { return slots.slot(slot).baseAddress! }
        return loader.mappedBlock(key).baseAddress!
    }

    /// The weights of `key`, ready in `slot`, viewed through `layout`: valid while the provider keeps the slot
    /// pinned (and so the cache alive).
    func weights(slot: Int, key: ExpertKey, layout: ExpertLayout) throws -> ExpertWeights {
        try ExpertWeights(block: BorrowedBytes(start: baseAddress(slot: slot, key: key), count: layout.rawLength), layout: layout)
    }

    /// Stops the I/O threads; pending loads fail with `.shutDown`. The slots live until the cache is freed.
    func shutdown() { loader.shutdown() }
}

extension ExpertCache where Book == Void {
    /// A cache with no provider bookkeeping: the loader and its slots alone (tests).
    convenience init(archive: Archive, slots: Int, storage: ExpertStorage = .arena(), loader options: ExpertLoader.Options = .init()) throws(EngineError) {
        try self.init(archive: archive, slots: slots, storage: storage, loader: options, book: ())
    }

    /// The bytes of arena slot `i` (arena storage only), read-only; valid while the cache lives.
    func slotBytes(_ i: Int) -> UnsafeRawBufferPointer { slots!.slot(i) }
}
