import SwapMoECore
// The least arithmetic any decode kernel must do per byte of a quantized type, streamed from DRAM like the probe
// (`measureReadBandwidth`): what the DRAM roofline can be for that type on this CPU, whatever the engine. Per 64
// bytes of codes, only the operations no kernel of that type can skip - each code moved into a byte lane of its
// own (a mask, and a shift for all but the lowest field) and one `vpdpbusd` per byte vector against activation
// bytes kept in registers (fewer operations than any real kernel: no scales, no activation loads, no per-block
// float work, no row hand-offs). For the E2M1 / IQ4 types one `vpshufb` lookup per byte vector as well. A
// benchmark (`Benchmarks/floor`), not used by the engine.

/// The work a floor pass does per 64 bytes.
enum FloorWork: String, CaseIterable, Sendable {
    /// Add the loaded words: the probe's work.
    case read
    /// One `vpdpbusd`: 8-bit codes (q8_0).
    case bits8
    /// Two nibbles masked out, the high one shifted down first, two `vpdpbusd` (q4_0's and q4_K's codes as most
    /// kernels unpack them).
    case bits4
    /// Two nibbles, each looked up (`vpshufb`), two `vpdpbusd` (mxfp4, iq4_nl, iq4_xs).
    case lookup4
    /// Four 2-bit fields shifted down and masked, four `vpdpbusd` (q2_K's codes as most kernels unpack them; q3_K adds
    /// its high bits to these).
    case bits2
    /// `bits2` on 256-bit vectors (Intel runs 512-bit integer work on two ports, 256-bit on three).
    case bits2Narrow
    /// `bits4` with each nibble masked where it sits (16 q for the high one, its sum shifted once per sub-block by a
    /// real kernel, as q4_K_x8's): two masks, two `vpdpbusd`.
    case bits4InPlace
    /// `bits2` the same way (q, 4q, 16q, 64q; the factors folded into the scales, as q2_K_x8 does for two of them):
    /// four masks, four `vpdpbusd`.
    case bits2InPlace
}

/// A `bytes`-sized buffer (huge pages, as the probe's), written once, that `measure` streams.
final class FloorProbe {
    let memory: AnonymousMemory
    let count: Int

    /// nil without AVX512_VNNI or memory.
    init?(bytes: Int) {
        #if SWAPMOE_VNNI
        count = max(256, bytes) & ~255
        guard let m = try? AnonymousMemory(byteCount: count) else { return nil }
        memory = m
        let buf = UnsafeMutableRawPointer(memory.base)
        for i in stride(from: 0, to: count, by: 8) { buf.storeBytes(of: UInt64(truncatingIfNeeded: i) &* 0x9E37_79B9_7F4A_7C15, toByteOffset: i, as: UInt64.self) }
        #else
        return nil
        #endif
    }

    /// GB/s (1e9 bytes/s) reading the buffer on `threads` threads while doing `work` on it, the best of `passes`
    /// passes (half with the GEMVs' prefetch hints where they take them, as the probe).
    func measure(_ work: FloorWork, threads: Int, passes: Int = 6) -> Double {
        #if SWAPMOE_VNNI
        let buf = UnsafeRawPointer(memory.base), blocks = count / 256
        let sink = UnsafeMutablePointer<Int32>.allocate(capacity: blocks)
        defer { sink.deallocate() }
        let best = bestPassSeconds(blocks: blocks, threads: threads, passes: passes) { r, _, hinted in
            sink[r.lowerBound] = floorBlocks(buf, r, work, hinted: hinted)
        }
        return Double(count) / best / 1e9
        #else
        return 0
        #endif
    }
}

#if SWAPMOE_VNNI

/// The constants of the floor passes, in locals of each pass (a global's every use would call `swift_once`).
private struct FloorConstants {
    let x0 = SIMD64<Int8>(repeating: 3), x1 = SIMD64<Int8>(repeating: -5), x2 = SIMD64<Int8>(repeating: 7), x3 = SIMD64<Int8>(repeating: -9)
    // Masks and shifts on 32-bit lanes: on `SIMD64<UInt8>` LLVM compiles them to loops over the lanes.
    let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD16<UInt32>(repeating: 0x0303_0303)
    let levels: SIMD64<UInt8>

    init() {
        var t = SIMD64<UInt8>()
        for i in 0..<64 { t[i] = UInt8(truncatingIfNeeded: (i & 15) &* 3 &+ 1) }
        levels = t
    }

    /// What `work` does to one 64-byte vector `v`, into `a`.
    @inline(__always)
    func apply(_ work: FloorWork, _ v: SIMD16<UInt32>, _ a: inout FloorSums) {
        switch work {
        case .read: a.0 &+= unsafeBitCast(v, to: SIMD16<Int32>.self)
        case .bits8: a.0 = dotBytes(a.0, bytes64(v), x0)
        case .bits4: a.0 = dotBytes(a.0, bytes64(v & m4), x0); a.1 = dotBytes(a.1, bytes64((v &>> 4) & m4), x1)
        case .lookup4:
            a.0 = dotBytes(a.0, shuffleBytes(levels, bytes64(v & m4)), x0); a.1 = dotBytes(a.1, shuffleBytes(levels, bytes64((v &>> 4) & m4)), x1)
        case .bits2:
            a.0 = dotBytes(a.0, bytes64(v & m2), x0); a.1 = dotBytes(a.1, bytes64((v &>> 2) & m2), x1)
            a.2 = dotBytes(a.2, bytes64((v &>> 4) & m2), x2); a.3 = dotBytes(a.3, bytes64((v &>> 6) & m2), x3)
        case .bits4InPlace: a.0 = dotBytes(a.0, bytes64(v & m4), x0); a.1 = dotBytes(a.1, bytes64(v & ~m4), x1)
        case .bits2InPlace:
            a.0 = dotBytes(a.0, bytes64(v & m2), x0); a.1 = dotBytes(a.1, bytes64(v & (m2 &<< 2)), x1)
            a.2 = dotBytes(a.2, bytes64(v & (m2 &<< 4)), x2); a.3 = dotBytes(a.3, bytes64(v & (m2 &<< 6)), x3)
        case .bits2Narrow: preconditionFailure("bits2Narrow has a loop of its own")
        }
    }
}

/// `work` over the 256-byte blocks `r` of `buf`: four 64-byte vectors a block, each into sums of its own. One
/// loop per work, never inlined, the work a constant in it (written as closures in one function, LLVM left some
/// bodies a call per vector).
func floorBlocks(_ buf: UnsafeRawPointer, _ r: Range<Int>, _ work: FloorWork, hinted: Bool) -> Int32 {
    switch work {
    case .read: floorRead(buf, r, hinted)
    case .bits8: floorBits8(buf, r, hinted)
    case .bits4: floorBits4(buf, r, hinted)
    case .lookup4: floorLookup4(buf, r, hinted)
    case .bits2: floorBits2(buf, r, hinted)
    case .bits4InPlace: floorBits4InPlace(buf, r, hinted)
    case .bits2InPlace: floorBits2InPlace(buf, r, hinted)
    case .bits2Narrow: floorBits2Narrow(buf, r, hinted)
    }
}

@inline(never) private func floorRead(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool) -> Int32 { floorPass(b, r, h, .read) }
@inline(never) private func floorBits8(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool) -> Int32 { floorPass(b, r, h, .bits8) }
@inline(never) private func floorBits4(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool) -> Int32 { floorPass(b, r, h, .bits4) }
@inline(never) private func floorLookup4(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool) -> Int32 { floorPass(b, r, h, .lookup4) }
@inline(never) private func floorBits2(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool) -> Int32 { floorPass(b, r, h, .bits2) }
@inline(never) private func floorBits4InPlace(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool) -> Int32 { floorPass(b, r, h, .bits4InPlace) }
@inline(never) private func floorBits2InPlace(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool) -> Int32 { floorPass(b, r, h, .bits2InPlace) }

typealias FloorSums = (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>)

@inline(__always)
private func floorPass(_ buf: UnsafeRawPointer, _ r: Range<Int>, _ hinted: Bool, _ work: FloorWork) -> Int32 {
    let k = FloorConstants(), z = SIMD16<Int32>()
    var s0: FloorSums = (z, z, z, z), s1 = s0, s2 = s0, s3 = s0
    let pf = prefetchDistance
    for b in r {
        let p = buf + b &* 256
        if hinted { prefetchAhead(p, bytes: 256, distance: pf) }
        k.apply(work, p.loadUnaligned(as: SIMD16<UInt32>.self), &s0); k.apply(work, p.loadUnaligned(fromByteOffset: 64, as: SIMD16<UInt32>.self), &s1)
        k.apply(work, p.loadUnaligned(fromByteOffset: 128, as: SIMD16<UInt32>.self), &s2); k.apply(work, p.loadUnaligned(fromByteOffset: 192, as: SIMD16<UInt32>.self), &s3)
    }
    @inline(__always) func total(_ s: FloorSums) -> SIMD16<Int32> { (s.0 &+ s.1) &+ (s.2 &+ s.3) }
    return ((total(s0) &+ total(s1)) &+ (total(s2) &+ total(s3))).wrappedSum()
}

/// bits2 on 256-bit vectors, a loop of its own (as an `apply` case on the two halves of a 512-bit load, LLVM left
/// it a call per vector).
@inline(never)
private func floorBits2Narrow(_ buf: UnsafeRawPointer, _ r: Range<Int>, _ hinted: Bool) -> Int32 {
    let k = FloorConstants(), (x0, x1, x2, x3) = (k.x0, k.x1, k.x2, k.x3)
    let n2 = SIMD8<UInt32>(repeating: 0x0303_0303), y = (x0.lowHalf, x1.lowHalf, x2.lowHalf, x3.lowHalf)
    let z = SIMD8<Int32>()
    var a = (z, z, z, z, z, z, z, z), c = a
    let pf = prefetchDistance
    @inline(__always) func four(_ v: SIMD8<UInt32>, _ s: inout (SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>, SIMD8<Int32>), _ h: Int) {
        if h == 0 {
            s.0 = dotBytes(s.0, bytes32(v & n2), y.0); s.1 = dotBytes(s.1, bytes32((v &>> 2) & n2), y.1)
            s.2 = dotBytes(s.2, bytes32((v &>> 4) & n2), y.2); s.3 = dotBytes(s.3, bytes32((v &>> 6) & n2), y.3)
        } else {
            s.4 = dotBytes(s.4, bytes32(v & n2), y.0); s.5 = dotBytes(s.5, bytes32((v &>> 2) & n2), y.1)
            s.6 = dotBytes(s.6, bytes32((v &>> 4) & n2), y.2); s.7 = dotBytes(s.7, bytes32((v &>> 6) & n2), y.3)
        }
    }
    for b in r {
        let p = buf + b &* 256
        if hinted { prefetchAhead(p, bytes: 256, distance: pf) }
        @inline(__always) func at(_ o: Int) -> SIMD8<UInt32> { p.loadUnaligned(fromByteOffset: o, as: SIMD8<UInt32>.self) }
        four(at(0), &a, 0); four(at(32), &a, 1); four(at(64), &c, 0); four(at(96), &c, 1)
        four(at(128), &a, 0); four(at(160), &a, 1); four(at(192), &c, 0); four(at(224), &c, 1)
    }
    let t = ((a.0 &+ a.1) &+ (a.2 &+ a.3)) &+ ((a.4 &+ a.5) &+ (a.6 &+ a.7)) &+ ((c.0 &+ c.1) &+ (c.2 &+ c.3)) &+ ((c.4 &+ c.5) &+ (c.6 &+ c.7))
    return t.wrappedSum()
}
#endif
