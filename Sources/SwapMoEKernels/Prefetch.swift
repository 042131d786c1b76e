import SwapMoECore
import Foundation
// Software prefetch for the decode GEMVs, which stream their weights from DRAM once per token. On the Intel Xeon
// (Sapphire Rapids class, AVX-512, 2 vCPU; 2026-12-05) one thread's GEMV kernels read 9-11.6 GB/s from DRAM while
// `bench`'s probe (a bare sum over the same kind of memory) read 17-18: the hardware prefetchers ran too few lines
// ahead of a loop that spends 20-40 instructions per 64 bytes. A hint for the line 4 KiB ahead of each one read
// (`prefetcht0`) brought the q3_K_x8 / q4_K_x8 kernels from 9.3-9.4 to 12.5-13.3 GB/s streamed and
// q3_K decode from 52% to 80-86% of the one-thread probe (69% to 83-91% on two threads). AMD's Zen 4 kept up without
// it (the same kernels at 80-96% of its probe), so there are no hints there nor on any CPU not known to need them.
// AMD's Zen 3 (EPYC, AVX2 only; 2026-12-06) needs them too: one thread's q4_K_x8 / q4_0_x8 / q5_K_x8 GEMVs streamed
// 13-15.5 GB/s from DRAM without hints, 17-21 with `prefetcht0` 2-8 KiB ahead, against a probe of ~23; a hint into L2
// as well made them slower (q4_K_x8 12-14 GB/s with 2 KiB / 8 KiB). Decode with 4-6 KiB into L1 alone: q4_0
// 1.33-1.4x, q4_K 1.18x, q5_K 1.2x on one thread, 1.17-1.25x on two; q6_K and bf16 within the noise. 2 KiB streamed
// q8_0_x8 at 21-22 GB/s where 6 KiB gave 18 (q4_K_x8, q6_K_x8 alike or better), and decoded q8_0 and q5_K faster
// (three interleaved rounds, one thread: 47.6-53.5 against 40.0-47.4 tok/s, 63.5-65.7 against 51.5-62.6).
// A second hint 8 KiB ahead into L2 (`prefetcht1`), with the L1 one at 2 KiB, took q4_K / q3_K decode a further
// 1.2-1.3x (one thread 56-61 -> 76-77 tok/s, q3_K 79-85 -> 99-119). `bench`'s DRAM probe takes the same hints
// (Bandwidth.swift): a roofline over a probe the kernels can outrun would flatter them.

/// How far ahead of each weight line read the decode GEMVs hint: into L1 (`prefetcht0`) and into L2
/// (`prefetcht1`), in bytes; 0 turns a hint off.
struct PrefetchDistances: Sendable {
    let l1: Int, l2: Int

    var any: Bool { l1 > 0 || l2 > 0 }

    /// No hints.
    static let none = PrefetchDistances(l1: 0, l2: 0)
}

/// The distances this process's GEMVs hint at: Intel's 2 KiB into L1 and 8 KiB into L2 (q4_K decode 1.3x over 4 KiB
/// into L1 alone; 4 KiB alone was 1.3-1.6x over none), 2 KiB into L1 on AMD cores without AVX-512 (Zen 3 and
/// earlier), none elsewhere; SWAPMOE_PREFETCH_BYTES and SWAPMOE_PREFETCH_L2_BYTES override either.
let prefetchDistance: PrefetchDistances = {
    let env = ProcessInfo.processInfo.environment
    #if SWAPMOE_X86_INTRINSICS
    let fallback = defaultPrefetchDistances(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    #else
    let fallback = PrefetchDistances.none
    #endif
    func bytes(_ key: String, _ fallback: Int) -> Int {
        guard let v = env[key], let n = Int(v), n >= 0 else { return fallback }
        return n & ~63
    }
    return PrefetchDistances(l1: bytes("SWAPMOE_PREFETCH_BYTES", fallback.l1), l2: bytes("SWAPMOE_PREFETCH_L2_BYTES", fallback.l2))
}()

/// The hints a CPU gets by default, from the first processor of /proc/cpuinfo's text: its vendor, and for AMD
/// whether it has AVX-512 (Zen 4 streams without hints, Zen 3 needs them; above).
func defaultPrefetchDistances(cpuinfo: String) -> PrefetchDistances {
    let lines = cpuinfo.split(separator: "\n")
    let vendor = lines.first(where: { $0.hasPrefix("vendor_id") }) ?? ""
    if vendor.contains("GenuineIntel") { return PrefetchDistances(l1: 2048, l2: 8192) }
    let flags = lines.first(where: { $0.hasPrefix("flags") })?.split(separator: " ") ?? []
    if vendor.contains("AuthenticAMD") && !flags.contains("avx512f") { return PrefetchDistances(l1: 2048, l2: 0) }
    return .none
}

/// Hints the lines of `bytes` bytes at `p + distance.l1` into L1 and at `p + distance.l2` into L2 (one per 64 bytes
/// each), nothing for a distance of 0.
@inline(__always)
func prefetchAhead(_ p: UnsafeRawPointer, bytes: Int, distance: PrefetchDistances) {
    #if SWAPMOE_X86_INTRINSICS
    var l = 0
    if distance.l1 > 0 { while l < bytes { prefetchLine(p + (distance.l1 &+ l)); l &+= 64 } }
    l = 0
    if distance.l2 > 0 { while l < bytes { prefetchLineL2(p + (distance.l2 &+ l)); l &+= 64 } }
    #endif
}
