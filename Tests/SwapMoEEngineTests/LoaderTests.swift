import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoETestSupport
@testable import SwapMoEEngine

@Suite("Arena")
struct ArenaTests {
    @Test("slots are 4096-aligned, fixed size, and sized for the largest expert")
    func layout() throws {
        let a = try Arena(slotCount: 3, slotSize: 8192)
        #expect(a.byteCount == 3 * 8192)
        for i in 0..<3 {
            a.withSlot(i) { slot in
                #expect(Int(bitPattern: slot.baseAddress!) % 4096 == 0)
                #expect(slot.count == 8192)
            }
        }
        #expect(a.withSlot(1) { $0.baseAddress! } - a.withSlot(0) { $0.baseAddress! } == 8192)
        #expect(Arena.slotSize(forRawLength: 1) == 4096)
        #expect(Arena.slotSize(forRawLength: 4096) == 4096)
        #expect(Arena.slotSize(forRawLength: 4097) == 8192)
        let f = try Fixture(.raw)
        #expect(Arena.slotSize(for: f.archive) == ArchiveFormat.align(f.archive.experts.map(\.rawLength).max()!, 4096))
        // An LZ4 slot also holds the stored block at its end while it is decoded to the front: the raw length, its
        // chunk table and two blocks of alignment slack.
        let z = try Fixture(.lz4)
        let raw = z.archive.experts.map(\.rawLength).max()!
        let table = ArchiveFormat.lz4TrailerFixed + 4 * ((raw + ArchiveFormat.chunkSize - 1) / ArchiveFormat.chunkSize)
        #expect(Arena.slotSize(for: z.archive) == ArchiveFormat.align(raw + table, 4096) + 8192)
    }

    /// Resident pages of an arena, from `mincore` (independent of whatever else the process allocates).
    func residentPages(_ a: borrowing Arena) -> Int {
        let pages = a.byteCount / 4096
        var vec = [UInt8](repeating: 0, count: pages)
        let rc = a.withSlot(0) { mincore(UnsafeMutableRawPointer(mutating: $0.baseAddress!), a.byteCount, &vec) }
        precondition(rc == 0)
        return vec.reduce(0) { $0 + Int($1 & 1) }
    }

    @Test("a prefaulted arena is resident from the start; an untouched one is not")
    func prefault() throws {
        let eager = try Arena(slotCount: 16, slotSize: 1 << 20, prefault: true)
        let lazy = try Arena(slotCount: 16, slotSize: 1 << 20, prefault: false)
        #expect(residentPages(eager) == eager.byteCount / 4096)
        #expect(residentPages(lazy) == 0)
    }

    @Test("bad sizes are refused with a message")
    func invalid() {
        #expect(throws: EngineError.self) { _ = try Arena(slotCount: 0, slotSize: 4096) }
        #expect(throws: EngineError.self) { _ = try Arena(slotCount: 1, slotSize: 1000) }
        #expect(throws: EngineError.self) { _ = try Arena(slotCount: Int.max / 2, slotSize: 8192) }
    }
}

@Suite("ExpertLoader")
struct LoaderTests {
    func loadAll(_ f: Fixture, options: ExpertLoader.Options) throws {
        let cache = try ExpertCache(archive: f.archive, slots: 3, loader: options)
        let loader = cache.loader
        for (i, key) in f.keys.enumerated() {
            let slot = i % 3
            try loader.load(key, into: slot, priority: .demand)
            let st = loader.waitUntilSettled(slot: slot)
            #expect(st.isReady(key), "\(st)")
            let got = UnsafeRawBufferPointer(rebasing: cache.slotBytes(slot)[0..<f.entry(key).rawLength])
            #expect(Array(got) == f.expected[key]!, "\(key)")
        }
        #expect(loader.stats.loads == f.keys.count)
        #expect(loader.stats.bytesRead == f.archive.experts.reduce(0) { $0 + $1.storedLength })
        #expect(loader.stats.failures == 0)
    }

    @Test("loads every expert bit-identically", arguments: Fixture.Codec.allCases, [true, false])
    func bitIdentical(codec: Fixture.Codec, direct: Bool) throws {
        let f = try Fixture(codec)
        try loadAll(f, options: .init(ioThreads: 2, directIO: direct))
    }

    @Test("LZ4 blocks of several 1 MiB chunks decode bit-identically")
    func multiChunk() throws {
        let f = try Fixture(.lz4, layers: 1, experts: 3, hidden: 256, intermediate: 1536)
        #expect(f.archive.experts.allSatisfy { $0.rawLength > 2 * ArchiveFormat.chunkSize })
        try loadAll(f, options: .init(ioThreads: 1))
    }

    @Test("LZ4 blocks longer than the AIO read window decode bit-identically while streaming, again from the cached chunk table",
          arguments: [true, false])
    func streamedLZ4(stream: Bool) throws {
        // 18 MiB raw per expert: about 8 pieces of 2 MiB, twice the window of pieces in flight.
        let f = try Fixture(.lz4, layers: 1, experts: 2, hidden: 512, intermediate: 6144)
        #expect(f.archive.experts.allSatisfy { $0.storedLength > 2 * PieceReader.window * PieceReader.piece / 2 })
        let cache = try ExpertCache(archive: f.archive, slots: 2, loader: .init(ioThreads: 2, streamLZ4: stream))
        let loader = cache.loader
        for round in 0..<2 {
            for (slot, key) in f.keys.enumerated() {
                try loader.load(key, into: slot, priority: .demand)
                #expect(loader.waitUntilSettled(slot: slot).isReady(key), "round \(round)")
                #expect(Array(UnsafeRawBufferPointer(rebasing: cache.slotBytes(slot)[0..<f.entry(key).rawLength])) == f.expected[key]!)
            }
        }
        let streamed = stream && loader.usesDirectIO
        #expect(loader.stats.streamedReads == (streamed ? 4 : 0))
        // One load at a time: the other I/O thread is idle and helps decode the streamed block's chunks.
        if streamed { #expect(loader.stats.helpedChunks > 0) } else { #expect(loader.stats.helpedChunks == 0) }
        print("LZ4 loads streamed with AIO: \(loader.stats.streamedReads) of 4, chunks decoded by the helping thread: \(loader.stats.helpedChunks)")
    }

    @Test("stress: multi-chunk LZ4 loads in flight together while idle I/O threads help decode them stay bit-identical")
    func helpingStress() throws {
        let f = try Fixture(.lz4, layers: 1, experts: 4, hidden: 256, intermediate: 1536)
        let cache = try ExpertCache(archive: f.archive, slots: 4, loader: .init(ioThreads: 3))
        let loader = cache.loader
        var rng = SystemRandomNumberGenerator()
        for round in 0..<30 {
            // A varying number of loads at once: alone (two idle threads help), or overlapping (fewer helpers,
            // and the second streamed block decodes by itself while the first is shared).
            let keys = f.keys.shuffled(using: &rng).prefix(1 + round % f.keys.count)
            for (slot, key) in keys.enumerated() { try loader.load(key, into: slot, priority: LoadPriority.allCases.randomElement(using: &rng)!) }
            for (slot, key) in keys.enumerated() {
                #expect(loader.waitUntilSettled(slot: slot).isReady(key), "round \(round)")
                #expect(Array(UnsafeRawBufferPointer(rebasing: cache.slotBytes(slot)[0..<f.entry(key).rawLength])) == f.expected[key]!, "round \(round)")
            }
        }
        #expect(loader.stats.failures == 0)
        print("helping stress: \(loader.stats.streamedReads) streamed loads, \(loader.stats.helpedChunks) chunks helped")
    }

    @Test("a block damaged on disk after its chunk table was cached still fails its checksum, with or without streaming",
          arguments: [true, false])
    func corruptAfterCaching(stream: Bool) throws {
        let f = try Fixture(.lz4, layers: 1, experts: 2, hidden: 512, intermediate: 6144)
        let copy = try f.corruptedCopy(f.keys[0], at: 0)  // a private copy; byte 0 of expert 0 is restored below
        try flipByte(copy.path, at: f.entry(f.keys[0]).offset)
        let archive = try Archive(path: copy.path)
        let cache = try ExpertCache(archive: archive, slots: 1, loader: .init(ioThreads: 1, streamLZ4: stream))
        let loader = cache.loader
        let victim = f.entry(f.keys[1])
        try loader.load(f.keys[1], into: 0, priority: .demand)
        #expect(loader.waitUntilSettled(slot: 0).isReady(f.keys[1]))
        try flipByte(copy.path, at: victim.offset + victim.storedLength / 2)
        try loader.load(f.keys[1], into: 0, priority: .demand)
        guard case .failed(_, let error) = loader.waitUntilSettled(slot: 0) else { Issue.record("damaged block loaded"); return }
        #expect(error.description.contains("checksum mismatch"), "\(error)")
    }

    @Test("a corrupt multi-chunk LZ4 block fails with a checksum error wherever the damage is; the workers go on",
          arguments: ["payload start", "payload middle", "chunk table"], [1, 2])
    func corruptLZ4(place: String, ioThreads: Int) throws {
        let f = try Fixture(.lz4, layers: 1, experts: 3, hidden: 256, intermediate: 1536)
        let victim = f.entry(f.keys[1])
        let position = switch place {
        case "payload start": 10
        case "payload middle": victim.storedLength / 2
        default: victim.storedLength - ArchiveFormat.lz4TrailerFixed - 2  // inside the chunk size table
        }
        let archive = try f.corruptedCopy(f.keys[1], at: position)
        let cache = try ExpertCache(archive: archive, slots: 2, loader: .init(ioThreads: ioThreads))
        let loader = cache.loader
        try loader.load(f.keys[1], into: 1, priority: .demand)
        // With two I/O threads the second is idle while the first streams the corrupt block: it helps decode it.
        if ioThreads == 2 { _ = loader.waitUntilSettled(slot: 1) }
        try loader.load(f.keys[0], into: 0, priority: .demand)
        guard case .failed(let key, let error) = loader.waitUntilSettled(slot: 1) else {
            Issue.record("corrupt block loaded"); return
        }
        #expect(key == f.keys[1])
        #expect(error.description.contains("checksum mismatch"), "\(error)")
        #expect(loader.waitUntilSettled(slot: 0).isReady(f.keys[0]))
        let got = UnsafeRawBufferPointer(rebasing: cache.slotBytes(0)[0..<f.entry(f.keys[0]).rawLength])
        #expect(Array(got) == f.expected[f.keys[0]]!)
    }

    @Test("O_DIRECT is used for raw blocks when the filesystem allows it, and reported either way")
    func directIO() throws {
        let f = try Fixture(.raw)
        let cache = try ExpertCache(archive: f.archive, slots: 1, loader: .init(directIO: true))
        let loader = cache.loader
        try loader.load(f.keys[0], into: 0, priority: .demand)
        #expect(loader.waitUntilSettled(slot: 0).isReady(f.keys[0]))
        // Whichever path was taken, the bytes are right (checked above in bitIdentical); here: the report agrees.
        #expect(loader.stats.directReads == (loader.usesDirectIO ? 1 : 0))
        print("O_DIRECT on \(f.dir): \(loader.usesDirectIO ? "used" : "refused, buffered fallback")")
    }

    @Test("workers take demand before prefetch before background, FIFO within a priority")
    func priorityOrder() throws {
        let f = try Fixture(.raw)
        let cache = try ExpertCache(archive: f.archive, slots: 6, loader: .init(ioThreads: 1))
        let loader = cache.loader
        loader.pause()
        let plan: [LoadPriority] = [.background, .prefetch, .demand, .background, .demand, .prefetch]
        for (slot, p) in plan.enumerated() { try loader.load(f.keys[slot], into: slot, priority: p) }
        #expect(loader.queuedCount == 6)
        loader.resume()
        for slot in 0..<6 { #expect(loader.waitUntilSettled(slot: slot).isReady(f.keys[slot])) }
        let order = (0..<6).sorted { loader.completionOrder(slot: $0) < loader.completionOrder(slot: $1) }
        #expect(order == [2, 4, 1, 5, 0, 3])
    }

    @Test("a queued request can be cancelled or promoted; an in-flight or finished one cannot be cancelled")
    func cancelAndPromote() throws {
        let f = try Fixture(.lz4)
        let cache = try ExpertCache(archive: f.archive, slots: 4, loader: .init(ioThreads: 1))
        let loader = cache.loader
        loader.pause()
        for slot in 0..<4 { try loader.load(f.keys[slot], into: slot, priority: .prefetch) }
        #expect(loader.cancel(slot: 1))
        #expect(!loader.cancel(slot: 1), "nothing left to cancel")
        if case .empty = loader.state(of: 1) {} else { Issue.record("cancelled slot is \(loader.state(of: 1))") }
        loader.promote(slot: 3, to: .demand)
        #expect(throws: EngineError.self) { try loader.load(f.keys[5], into: 0, priority: .demand) }  // slot 0 busy
        loader.resume()
        for slot in [0, 2, 3] { #expect(loader.waitUntilSettled(slot: slot).isReady(f.keys[slot])) }
        #expect(loader.completionOrder(slot: 3) < loader.completionOrder(slot: 0))
        #expect(loader.completionOrder(slot: 0) < loader.completionOrder(slot: 2))
        #expect(loader.completionOrder(slot: 1) == 0)
        #expect(!loader.cancel(slot: 0), "finished loads are not cancellable")
        #expect(loader.stats.cancelled == 1)
        #expect(loader.stats.loads == 3)
    }

    @Test("a corrupt block fails its slot with a checksum error naming the block; other slots are unaffected")
    func corruptBlock() throws {
        let f = try Fixture(.raw)
        let archive = try f.corruptedCopy(f.keys[1], at: 100)
        let cache = try ExpertCache(archive: archive, slots: 2)
        let loader = cache.loader
        try loader.load(f.keys[0], into: 0, priority: .demand)
        try loader.load(f.keys[1], into: 1, priority: .demand)
        #expect(loader.waitUntilSettled(slot: 0).isReady(f.keys[0]))
        guard case .failed(let key, let error) = loader.waitUntilSettled(slot: 1) else {
            Issue.record("corrupt block loaded"); return
        }
        #expect(key == f.keys[1])
        #expect(error.description.contains("checksum mismatch") && error.description.contains("layer 0, expert 1"), "\(error)")
        #expect(loader.stats.failures == 1)

        // Without verification the same block loads (the caller asked not to check).
        let uncheckedCache = try ExpertCache(archive: archive, slots: 2, loader: .init(verifyChecksums: false))
        let unchecked = uncheckedCache.loader
        try unchecked.load(f.keys[1], into: 1, priority: .demand)
        #expect(unchecked.waitUntilSettled(slot: 1).isReady(f.keys[1]))
    }

    @Test("shutdown fails queued requests, wakes their waiters, and refuses new ones")
    func shutdown() throws {
        let f = try Fixture(.raw)
        let cache = try ExpertCache(archive: f.archive, slots: 2)
        let loader = cache.loader
        loader.pause()
        try loader.load(f.keys[0], into: 0, priority: .demand)
        let waiter = background { if case .failed(_, .shutDown) = loader.waitUntilSettled(slot: 0) {} else { Issue.record("waiter not failed") } }
        loader.shutdown()
        waiter.wait()
        #expect(throws: EngineError.self) { try loader.load(f.keys[1], into: 1, priority: .demand) }
        loader.shutdown()  // idempotent
    }

    @Test("the mapped backend serves raw blocks in place and refuses compressed archives")
    func mapped() throws {
        let f = try Fixture(.raw)
        let loader = try ExpertLoader(mappedArchive: f.archive, slots: 2)
        #expect(loader.memoryOverhead == 0)
        for (i, key) in f.keys.enumerated() {
            let slot = i % 2
            #expect(loader.clear(slot: slot))
            try loader.load(key, into: slot, priority: .demand)
            #expect(loader.waitUntilSettled(slot: slot).isReady(key))
            #expect(Array(loader.mappedBlock(key).prefix(f.entry(key).rawLength)) == f.expected[key]!)
        }
        let z = try Fixture(.lz4)
        #expect(throws: EngineError.self) { try ExpertLoader(mappedArchive: z.archive, slots: 2) }
    }

    @Test("memoryOverhead is exactly one decode chunk per I/O thread for LZ4 (no staging), known before construction")
    func overhead() throws {
        for codec in Fixture.Codec.allCases {
            let f = try Fixture(codec)
            let opts = ExpertLoader.Options(ioThreads: 3)
            let cache = try ExpertCache(archive: f.archive, slots: 1, loader: opts)
            let loader = cache.loader
            let scratch = ExpertLoader.perThreadScratch(for: f.archive)
            #expect(loader.memoryOverhead == 3 * scratch)
            #expect(loader.memoryOverhead == ExpertLoader.memoryOverhead(for: f.archive, options: opts))
            if codec == .raw { #expect(scratch == 0) } else { #expect(scratch == min(ArchiveFormat.chunkSize, f.archive.experts.map(\.rawLength).max()!)) }
        }
    }
}
