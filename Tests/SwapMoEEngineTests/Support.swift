import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEPacker
import SwapMoETestSupport
@testable import SwapMoEEngine

let packLock = NSLock()

/// Test archives packed from a synthetic Mixtral checkpoint, and the expected decoded bytes of every expert.
/// The temporary directory goes with the fixture: providers open their file descriptors when constructed,
/// so nothing needs the path afterwards.
final class Fixture: Sendable {
    let dir: String
    let archive: Archive
    /// `Archive.expertBytes` of every expert: the ground truth the engine must serve bit for bit.
    let expected: [ExpertKey: [UInt8]]
    let keys: [ExpertKey]

    enum Codec: String, CaseIterable, CustomStringConvertible, Sendable {
        /// `lz4Plain`: LZ4 without the byte shuffle (on these weights most chunks end up stored as they are).
        case raw, lz4, lz4Plain
        var description: String { ["raw": "raw", "lz4": "LZ4+shuffle", "lz4Plain": "LZ4 without shuffle"][rawValue]! }
    }

    init(_ codec: Codec, layers: Int = 2, experts: Int = 8, hidden: Int = 80, intermediate: Int = 48, tag: String = #function) throws {
        dir = TestPaths.tempDir(tag)
        try CheckpointMaker.mixtral(hidden: hidden, intermediate: intermediate, layers: layers, experts: experts).write(to: dir + "/ckpt")
        let out = dir + "/model.swm"
        // Packs one at a time: Packer registers its temp file in SwapMoECore's InterruptCleanup, whose
        // Synchronization.Mutex ThreadSanitizer cannot see through on Linux (a false report that would make
        // the engine's TSan runs noisy). Serialising here gives TSan a pthread edge; packing is not under test.
        packLock.lock()
        defer { packLock.unlock() }
        _ = try Packer.pack(PackOptions(input: dir + "/ckpt", output: out, compress: codec == .raw ? .none : .lz4, shuffle: codec == .lz4))
        archive = try Archive(path: out)
        var exp: [ExpertKey: [UInt8]] = [:]
        for e in archive.experts { exp[ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert)] = try archive.expertBytes(e) }
        expected = exp
        keys = archive.experts.map { ExpertKey(stack: $0.stack, layer: $0.layer, expert: $0.expert) }
        if codec == .lz4 { precondition(archive.experts.contains { $0.codec == .lz4 && $0.shuffle > 1 }, "fixture did not compress") }
    }

    deinit { TestPaths.remove(dir) }

    /// A copy of the archive (in the fixture's folder) with one byte of `key`'s stored block corrupted, at
    /// `position` from the block's start.
    func corruptedCopy(_ key: ExpertKey, at position: Int) throws -> Archive {
        let bad = dir + "/bad.swm"
        try? FileManager.default.removeItem(atPath: bad)
        try FileManager.default.copyItem(atPath: archive.path, toPath: bad)
        try flipByte(bad, at: entry(key).offset + position)
        return try Archive(path: bad)
    }

    /// The decoded block an `ExpertWeights` views (its up matrix starts at the layout's up offset).
    func served(_ w: ExpertWeights, _ key: ExpertKey) -> UnsafeRawBufferPointer {
        let e = archive.expert(key)!
        let layout = archive.layout(of: e)
        let upOffset = (layout.tensor("up") ?? layout.tensor("wi")!).offset
        return UnsafeRawBufferPointer(start: w.up.base - upOffset, count: e.rawLength)
    }

    /// Whether the served bytes equal the archive's decoded bytes.
    func matches(_ w: ExpertWeights, _ key: ExpertKey) -> Bool {
        let b = served(w, key)
        return expected[key]!.withUnsafeBytes { memcmp($0.baseAddress!, b.baseAddress!, b.count) == 0 }
    }

    func entry(_ key: ExpertKey) -> ExpertEntry { archive.expert(key)! }
}

/// Runs `body(i)` on `count` dedicated threads at once and waits for all of them (real threads, not the
/// cooperative pool: the engine's calls block).
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchSemaphore(value: 0)
    for i in 0..<count {
        let t = Thread { body(i); done.signal() }
        t.stackSize = 1 << 20
        t.start()
    }
    for _ in 0..<count { done.wait() }
}

/// Starts `body` on a thread; the returned semaphore is signalled when it finishes.
func background(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    Thread { body(); done.signal() }.start()
    return done
}

/// Polls `condition` (sleeping 1 ms between checks) for up to `seconds`; returns whether it became true.
/// Used only to wait for a state the engine will reach, never to assert how fast it gets there.
func eventually(_ seconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let end = monotonicSeconds() + seconds
    while monotonicSeconds() < end {
        if condition() { return true }
        usleep(1000)
    }
    return condition()
}

/// A small deterministic generator (xorshift64*), so random tests replay.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(_ seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12; state ^= state << 25; state ^= state >> 27
        return state &* 2685821657736338717
    }
}

/// A thread-safe list of failures collected on background threads and checked on the test's thread.
final class Failures: @unchecked Sendable {
    // @unchecked Sendable: `items` is only touched under `lock`.
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); if items.count < 20 { items.append(s) }; lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
