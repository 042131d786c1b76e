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
                let arena = try Arena(archive: archive, slotCount: 1)
                let loader = try ExpertLoader(archive: archive, arena: arena, options: .init(ioThreads: threads))
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
