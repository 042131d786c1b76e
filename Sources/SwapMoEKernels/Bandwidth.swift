import SwapMoECore
import Foundation

/// Measures memory read bandwidth: sums a `bytes`-sized Float buffer with SIMD on `threads` threads
/// (rows split like a GEMV) and returns the best of several passes in GB/s (1e9 bytes/s).
///
/// Pick `bytes` well above the last-level cache (e.g. 512 MiB) to measure DRAM. The buffer is `AnonymousMemory`
/// (huge pages, as the expert arena and resident experts use), touched once, then unmapped: the figure is what
/// the kernels can read at best (4 KiB pages read a few percent slower here), so a roofline built on it is not low.
public func measureReadBandwidth(bytes: Int, threads: Int, passes: Int = 5) -> Double {
    let count = max(64, bytes / 4) & ~63
    guard let memory = try? AnonymousMemory(byteCount: count * 4) else { return 0 }
    defer { withExtendedLifetime(memory) {} }
    let buf = memory.base.bindMemory(to: Float.self, capacity: count)
    buf.initialize(repeating: 1, count: count)
    let pool = ThreadPool(threads: threads)
    let blocks = count / 64
    let sink = UnsafeMutablePointer<Float>.allocate(capacity: blocks)
    defer { sink.deallocate() }
    var best = Double.infinity
    for _ in 0 ..< max(1, passes) {
        let t0 = monotonicSeconds()
        pool.forEachRange(blocks, alignment: 64, minimum: 1024) { r in
            // 4 independent SIMD16 sums per 64-float block.
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            for b in r {
                let p = UnsafePointer(buf) + b &* 64
                a0 += loadF32x16(p, 0); a1 += loadF32x16(p, 16); a2 += loadF32x16(p, 32); a3 += loadF32x16(p, 48)
            }
            sink[r.lowerBound] = hsum((a0 + a1) + (a2 + a3))
        }
        best = min(best, monotonicSeconds() - t0)
    }
    return Double(count * 4) / best / 1e9
}

