import SwapMoECore
import Foundation

/// Measures memory read bandwidth: sums a `bytes`-sized Float buffer with SIMD on `threads` threads
/// (rows split like a GEMV) and returns the best of several passes in GB/s (1e9 bytes/s), the passes going through
/// 256-bit and 512-bit loads, each over one stream per thread and over two (the two halves of a thread's range side
/// by side, as the bf16 GEMV and the q8_0 / q4_0-like interleaved ones read their rows). On Zen 4 a pass of 256-bit
/// loads reads ~8% more than one of 512-bit loads (one thread: 32.9 against 30.3 GB/s, medians of 6, 2026-12-05),
/// and before 2026-12-05 the probe used only the latter, so every roofline fraction of an AVX-512 build measured
/// before then was ~8% high; on Zen 3 two streams read ~10% more than one on one thread (25-27 against 22-24 GB/s,
/// 2026-12-06), and before then the probe read one. Where the GEMVs take prefetch hints (`Prefetch.swift`), half
/// the passes take them too.
///
/// Pick `bytes` well above the last-level cache (e.g. 512 MiB) to measure DRAM. The buffer is `AnonymousMemory`
/// (huge pages, as the expert arena and resident experts use), touched once, then unmapped: the figure is what
/// the kernels can read at best (4 KiB pages read a few percent slower here), so a roofline built on it is not low.
public func measureReadBandwidth(bytes: Int, threads: Int, passes: Int = 6) -> Double {
    measureReadBandwidthPasses(bytes: bytes, threads: threads, passes: passes).best
}

/// A read-bandwidth probe's passes in GB/s: the best (what `measureReadBandwidth` returns) and the median. On a
/// host that shares its memory with other machines the passes of one probe spread widely (two threads on Zen 3,
/// 2026-12-06: 7.5-24.2 GB/s in one probe, the best 15-40% above the median in six), and a decode, which runs for
/// many passes' time, meets the typical bandwidth more than the best.
public struct ReadBandwidth: Sendable, Equatable {
    public var best: Double, median: Double
    public init(best: Double, median: Double) { self.best = best; self.median = median }
}

/// `measureReadBandwidth`'s probe, returning its best and median pass.
public func measureReadBandwidthPasses(bytes: Int, threads: Int, passes: Int = 6) -> ReadBandwidth {
    let count = max(64, bytes / 4) & ~63
    guard let memory = try? AnonymousMemory(byteCount: count * 4) else { return ReadBandwidth(best: 0, median: 0) }
    defer { withExtendedLifetime(memory) {} }
    let buf = memory.base.bindMemory(to: Float.self, capacity: count)
    buf.initialize(repeating: 1, count: count)
    let blocks = count / 64
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: blocks)
    defer { sink.deallocate() }
    let seconds = passSeconds(blocks: blocks, threads: threads, passes: max(passes, 4)) { r, pass, hinted in
        let streams = pass % 4 < 2 ? 1 : 2
        sink[r.lowerBound] = pass % 2 == 0 ? sumBlocks(buf, r, SIMD8<Float>.self, streams: streams, hinted: hinted)
            : sumBlocks(buf, r, SIMD16<Float>.self, streams: streams, hinted: hinted)
    }
    return ReadBandwidth(best: Double(count * 4) / seconds.min()! / 1e9, median: Double(count * 4) / median(seconds) / 1e9)
}

/// The middle value of `values` (of an even count, the mean of the two middle ones; 0 for none).
public func median(_ values: [Double]) -> Double {
    let s = values.sorted(), m = s.count / 2
    return s.isEmpty ? 0 : s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/// The time of each of `passes` passes of `body` over `blocks` blocks split across `threads` threads as a GEMV's
/// rows are. With prefetch hints (`Prefetch.swift`) twice as many passes, every other four hinted (`body`'s last
/// argument) as the kernels are.
func passSeconds(blocks: Int, threads: Int, passes: Int, _ body: (Range<Int>, _ pass: Int, _ hinted: Bool) -> Void) -> [Double] {
    let pool = ThreadPool(threads: threads)
    let hints = prefetchDistance.any, total = hints ? 2 * max(4, passes) : max(2, passes)
    return (0 ..< total).map { pass in
        let t0 = monotonicSeconds(), hinted = hints && pass % 8 >= 4
        pool.forEachRange(blocks, alignment: 64, minimum: 1024) { r in body(r, pass, hinted) }
        return monotonicSeconds() - t0
    }
}

/// Σ of the 64-float blocks `r` of `buf`, in loads of `V` into four independent sums (`hinted`: each block's lines
/// hinted ahead as the GEMVs hint theirs); `streams` 2: block i of `r`'s first half beside block i of its second.
@inline(never)
func sumBlocks<V: SIMD>(_ buf: UnsafeMutablePointer<Float>, _ r: Range<Int>, _: V.Type, streams: Int = 1, hinted: Bool) -> Float where V.Scalar == Float {
    var a0 = V(), a1 = V(), a2 = V(), a3 = V()
    let step = MemoryLayout<V>.size, pf = prefetchDistance
    @inline(__always) func add(_ b: Int) {
        let p = UnsafeRawPointer(buf + b &* 64)
        if hinted { prefetchAhead(p, bytes: 256, distance: pf) }
        for k in stride(from: 0, to: 256, by: 4 &* step) {
            a0 += p.loadUnaligned(fromByteOffset: k, as: V.self); a1 += p.loadUnaligned(fromByteOffset: k &+ step, as: V.self)
            a2 += p.loadUnaligned(fromByteOffset: k &+ 2 &* step, as: V.self); a3 += p.loadUnaligned(fromByteOffset: k &+ 3 &* step, as: V.self)
        }
    }
    forEachBlock(r, streams: streams, add)
    return ((a0 + a1) + (a2 + a3)).sum()
}

/// Calls `body` on each block of `r` in the order of `streams` streams: 1, in order; 2, block i of `r`'s first half
/// beside block i of its second (an odd last block alone at the end).
@inline(__always)
func forEachBlock(_ r: Range<Int>, streams: Int, _ body: (Int) -> Void) {
    if streams == 2 {
        let half = r.count / 2
        for i in 0..<half { body(r.lowerBound &+ i); body(r.lowerBound &+ half &+ i) }
        if r.count % 2 == 1 { body(r.upperBound &- 1) }
    } else {
        for b in r { body(b) }
    }
}
