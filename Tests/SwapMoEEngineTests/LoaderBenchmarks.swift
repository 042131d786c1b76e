import Foundation
import Testing
import SwapMoECore
import SwapMoEArchive
@testable import SwapMoEEngine

/// Load latency of one expert at a time, with one I/O thread and with two (the second idle, so it helps decode
/// a streamed LZ4 block). Prints figures, asserts nothing about speed (Docs/Benchmarks.md). Run in release:
///
///     SWAPMOE_LOAD_BENCH_ARCHIVE=/path/to/archive.swm swift test -c release --filter LoaderBenchmarks
@Suite("LoaderBenchmarks", .serialized, .enabled(if: ProcessInfo.processInfo.environment["SWAPMOE_LOAD_BENCH_ARCHIVE"] != nil))
struct LoaderBenchmarks {
    @Test("demand load latency, one load at a time, 1 and 2 I/O threads")
    func loadLatency() throws {
        let archive = try Archive(path: ProcessInfo.processInfo.environment["SWAPMOE_LOAD_BENCH_ARCHIVE"]!)
        let keys = archive.experts.map { ExpertKey(stack: $0.stack, layer: $0.layer, expert: $0.expert) }
        var rng = SystemRandomNumberGenerator()
        for round in 0..<2 {
            for threads in [1, 2] {
                let cache = try ExpertCache(archive: archive, slots: 1, loader: .init(ioThreads: threads))
                let loader = cache.loader
                var times: [Double] = []
                for k in keys.shuffled(using: &rng).prefix(40) {
                    let t0 = monotonicSeconds()
                    try loader.load(k, into: 0, priority: .demand)
                    #expect(loader.waitUntilSettled(slot: 0).isReady(k))
                    times.append(monotonicSeconds() - t0)
                }
                times.sort()
                let s = loader.stats
                print(String(format: "round %d, %d I/O thread(s): median %.2f ms, mean %.2f ms per load; %d streamed, %d chunks decoded by the helping thread",
                             round, threads, times[times.count / 2] * 1e3, times.reduce(0, +) / Double(times.count) * 1e3, s.streamedReads, s.helpedChunks))
            }
        }
    }
}

extension LoaderBenchmarks {
    /// Throughput of each CPU stage of loading an LZ4 block, one thread, blocks already in memory: the checksum
    /// over the stored bytes, LZ4 decoding of each chunk, un-shuffling each chunk to its place.
    @Test("LZ4 load stages, one thread")
    func lz4Stages() throws {
        let archive = try Archive(path: ProcessInfo.processInfo.environment["SWAPMOE_LOAD_BENCH_ARCHIVE"]!)
        let blocks = archive.experts.filter { $0.codec == .lz4 }.prefix(24)
        guard !blocks.isEmpty else { print("no LZ4 blocks"); return }
        let stored = blocks.map { Array(archive.mappedBlock($0)) }
        let rawMax = blocks.map(\.rawLength).max()!
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: rawMax, alignment: 4096)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ArchiveFormat.chunkSize, alignment: 64)
        defer { dst.deallocate(); scratch.deallocate() }
        let raw = Double(blocks.map(\.rawLength).reduce(0, +)), st = Double(stored.map(\.count).reduce(0, +))
        for round in 0..<3 {
            var tHash = 0.0, tLZ4 = 0.0, tPlace = 0.0
            for (e, s) in zip(blocks, stored) {
                try s.withUnsafeBytes { sb in
                    var t0 = monotonicSeconds()
                    _ = Checksum.xxh3(sb)
                    tHash += monotonicSeconds() - t0
                    let layout = try LZ4BlockLayout(sb, rawLength: e.rawLength)
                    let out = UnsafeMutableRawBufferPointer(rebasing: dst[0..<e.rawLength])
                    for i in 0..<layout.chunkCount {
                        t0 = monotonicSeconds()
                        try layout.decompressChunk(i, stored: sb, into: scratch, label: e.label)
                        let t1 = monotonicSeconds()
                        try layout.placeChunk(i, from: UnsafeRawBufferPointer(scratch), stored: sb, into: out, label: e.label)
                        tLZ4 += t1 - t0; tPlace += monotonicSeconds() - t1
                    }
                }
            }
            print(String(format: "round %d: %d blocks, %.0f MiB raw, %.0f MiB stored: xxh3 %.2f GB/s stored, LZ4 %.2f GB/s raw, place %.2f GB/s raw; all %.2f GB/s stored",
                         round, blocks.count, raw / 1048576, st / 1048576, st / tHash / 1e9, raw / tLZ4 / 1e9, raw / tPlace / 1e9, st / (tHash + tLZ4 + tPlace) / 1e9))
        }
    }
}
