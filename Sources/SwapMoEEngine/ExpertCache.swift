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
/// Memory: the arena (`slots * Arena.slotSize(for: archive)` bytes, none for `.mapped`) and the loader's
/// `memoryOverhead`: `memoryBytes`, or `ExpertStorage.plannedBytes` before construction.
final class ExpertCache<Book: Sendable>: Sendable {
    let archive: Archive
    /// The arena, or nil for the mapped backend.
    let arena: Arena?
    let loader: ExpertLoader
    let slotCount: Int
    /// The provider's bookkeeping, behind the one lock.
    let lock: ConditionLock<Book>

    /// Allocates (and by default pre-faults) the slots and starts the I/O threads; nothing is loaded yet.
    init(archive: Archive, slots: Int, storage: ExpertStorage, loader options: ExpertLoader.Options, book: Book) throws(EngineError) {
        self.archive = archive
        slotCount = slots
        (arena, loader) = try storage.makeLoader(archive: archive, slots: slots, options: options)
        lock = ConditionLock(book)
    }

    /// Bytes allocated for weights and I/O: the arena plus the loader's staging and scratch buffers.
    var memoryBytes: Int { (arena?.byteCount ?? 0) + loader.memoryOverhead }

    /// The weights of `key`, ready in `slot`, viewed through `layout`: valid while the provider keeps the slot
    /// pinned.
    func weights(slot: Int, key: ExpertKey, layout: ExpertLayout) throws -> ExpertWeights {
        try ExpertWeights(block: BorrowedBytes(start: loader.baseAddress(slot: slot, key: key), count: layout.rawLength), layout: layout)
    }

    /// Stops the I/O threads; pending loads fail with `.shutDown`. The slots live until the cache is freed.
    func shutdown() { loader.shutdown() }
}
