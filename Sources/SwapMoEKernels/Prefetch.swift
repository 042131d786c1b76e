import SwapMoECore
import Foundation
// Software prefetch for the decode GEMVs, which stream their weights from DRAM once per token. On the Intel Xeon
// (Sapphire Rapids class, AVX-512, 2 vCPU; 2026-12-05) one thread's GEMV kernels read 9-11.6 GB/s from DRAM while
// `bench`'s probe (a bare sum over the same kind of memory) read 17-18: the hardware prefetchers ran too few lines
// ahead of a loop that spends 20-40 instructions per 64 bytes. A hint for the line `prefetchDistance` bytes ahead of
// each one read (`prefetcht0`) brought the q3_K_x8 / q4_K_x8 kernels from 9.3-9.4 to 12.5-13.3 GB/s streamed and
// q3_K decode from 52% to 80-86% of the one-thread probe (69% to 83-91% on two threads). AMD's Zen 4 kept up without
// it (the same kernels at 80-96% of its probe), so the distance is 0 (no hints) there and on any CPU not known to
// need it; SWAPMOE_PREFETCH_BYTES sets it (0 turns the hints off) for measurements.

/// Bytes ahead of each weight line read that the decode GEMVs hint (0: none).
let prefetchDistance: Int = {
    if let v = ProcessInfo.processInfo.environment["SWAPMOE_PREFETCH_BYTES"], let n = Int(v), n >= 0 { return n & ~63 }
    #if SWAPMOE_X86_INTRINSICS
    // /proc/cpuinfo's vendor: Intel's server cores need the hints (above).
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       info.split(separator: "\n").first(where: { $0.hasPrefix("vendor_id") })?.contains("GenuineIntel") == true {
        return 4096
    }
    #endif
    return 0
}()

/// Hints the lines of `bytes` bytes at `p + distance` (one per 64 bytes), nothing when distance is 0.
@inline(__always)
func prefetchAhead(_ p: UnsafeRawPointer, bytes: Int, distance: Int) {
    #if SWAPMOE_X86_INTRINSICS
    guard distance > 0 else { return }
    var l = 0
    while l < bytes { prefetchLine(p + (distance &+ l)); l &+= 64 }
    #endif
}
