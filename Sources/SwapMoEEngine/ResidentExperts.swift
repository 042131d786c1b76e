import Foundation
import Synchronization
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels

/// Every expert resident, in one of two places:
/// - copied (the default): every block is read once (`pread`, through the page cache, checksum checked) and,
///   if compressed, decoded into one `AnonymousMemory` allocation on transparent huge pages, like the arena's;
/// - `mapped` (raw blocks only): used in place from the archive's read-only mapping, no copy, the page cache
///   backing them (4 KiB pages; processes share them); compressed blocks are still decoded into anonymous memory.
///
/// Copying costs a read of the experts at start (from the page cache when warm; `copyThreads` threads read, check
/// and decode disjoint sets of blocks), and measured faster decode here: weights streamed every token from 2 MiB
/// pages take fewer TLB misses than from the page cache's 4 KiB ones.
public final class ResidentExperts: ExpertProvider, @unchecked Sendable {
    // @unchecked Sendable: `weights` and `storage` are written only in init and read-only afterwards.
    private let weights: [ExpertKey: ExpertWeights]
    private let storage: AnonymousMemory?
    public let residentBytes: Int

    public init(archive: Archive, mapped: Bool = false, copyThreads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        // A raw block is used in place when `mapped`; every other block is copied (and decoded) into `storage`.
        func isCopied(_ e: ExpertEntry) -> Bool { !mapped || e.codec != .raw }
        let copied = archive.experts.filter(isCopied)
        let total = copied.reduce(0) { $0 + ArchiveFormat.align($1.rawLength, ArchiveFormat.blockAlignment) }
        do { storage = total > 0 ? try AnonymousMemory(byteCount: total) : nil } catch {
            throw ModelError.residentMemory(bytes: total, reason: error.description)
        }
        // One pass places every block (a copied one at the next offset of `storage`, whose pointer the weights
        // take now), then the copies run on `copyThreads` threads, each with its own buffers, writing disjoint
        // ranges: reading, checking and decoding 2 GiB takes a core about a second.
        var map: [ExpertKey: ExpertWeights] = [:]
        var copies: [(entry: ExpertEntry, offset: Int)] = []
        var offset = 0
        for e in archive.experts {
            let key = ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert)
            let layout = archive.layout(of: e)
            if !isCopied(e) {
                // Resident means resident: ask the kernel to read the block now rather than fault it in the
                // first time a token routes to it.
                archive.adviseBlock(e, willNeed: true)
                map[key] = try ExpertWeights(block: BorrowedBytes(archive.mappedBlock(e)), layout: layout)
            } else {
                map[key] = try ExpertWeights(block: BorrowedBytes(start: storage!.base + offset, count: e.rawLength), layout: layout)
                copies.append((e, offset))
                offset += ArchiveFormat.align(e.rawLength, ArchiveFormat.blockAlignment)
            }
        }
        let stagingBytes = copied.filter { $0.codec != .raw }.map(\.storedLength).max() ?? 1
        let threads = max(1, min(copyThreads, copies.count))
        let failure = Mutex<(any Error)?>(nil)
        let store = storage, jobs = copies
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: stagingBytes, alignment: ArchiveFormat.blockAlignment)
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ArchiveFormat.chunkSize, alignment: 64)
            defer { staging.deallocate(); scratch.deallocate() }
            for i in stride(from: t, to: jobs.count, by: threads) {
                let (e, at) = jobs[i]
                if failure.withLock({ $0 != nil }) { return }
                let dst = UnsafeMutableRawBufferPointer(rebasing: store!.bytes[at..<(at + e.rawLength)])
                do { try archive.readExpert(e, into: dst, staging: staging, scratch: scratch) } catch {
                    failure.withLock { $0 = $0 ?? error }
                    return
                }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        weights = map
        residentBytes = archive.experts.reduce(0) { $0 + $1.rawLength }
    }

    /// Every expert is allowed and every one is at hand: route, then serve.
    public func withLayer(_ layer: MoELayer, router: RouterOutput, route: (_ allowed: [Bool]?) throws -> Routing,
                          predict: () -> [MoELayerPrediction],
                          serve: (_ experts: [ServedExpert]) throws -> Void) throws -> Routing {
        let routing = try route(nil)
        try routing.serveEach(layer, acquire: acquire, release: { _ in }, serve: serve)
        return routing
    }

    public func acquire(_ key: ExpertKey) throws -> ExpertWeights {
        guard let w = weights[key] else { throw ModelError.missingTensor("expert \(key)") }
        return w
    }
}
