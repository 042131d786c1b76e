import SwapMoECore
// The least arithmetic any decode kernel must do per byte of a quantized type, streamed from DRAM like the probe
// (`measureReadBandwidth`): what the DRAM roofline can be for that type on this CPU, whatever the engine. Per 64
// bytes of codes, only the operations no kernel of that type can skip - each code moved into a byte lane of its
// own (a mask, and a shift for all but the lowest field) and one `vpdpbusd` per byte vector against activation
// bytes kept in registers (fewer operations than any real kernel: no scales, no activation loads, no per-block
// float work, no row hand-offs). For the E2M1 / IQ4 types one `vpshufb` lookup per byte vector as well. Builds
// without AVX512_VNNI (AVX2) do the same on 256-bit vectors with `vpmaddubsw` and an Int16 add per byte vector in
// place of each `vpdpbusd` (the least that instruction set has: a real kernel also widens to Int32). Each pass reads
// one stream per thread or two, as the probe. A benchmark (`Benchmarks/floor`), not used by the engine.

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
    /// four masks, four `vpdpbusd`. On AVX2 as q2_K_x8 takes them there (4q, q, 16q, 16q: four masks, two shifts):
    /// 64q would saturate `vpmaddubsw`.
    case bits2InPlace

    /// The works this build measures: on AVX2 not `bits4InPlace` (16 q times 127, twice, saturates `vpmaddubsw`, so
    /// no kernel can take a high nibble that way) nor `bits2Narrow` (every work is 256-bit there).
    static var measured: [FloorWork] {
        #if SWAPMOE_VNNI
        allCases
        #else
        [.read, .bits8, .bits4, .lookup4, .bits2, .bits2InPlace]
        #endif
    }
}

/// A `bytes`-sized buffer (huge pages, as the probe's), written once, that `measure` streams.
final class FloorProbe {
    let memory: AnonymousMemory
    let count: Int

    /// nil without the x86 integer path (AVX2 or AVX512_VNNI) or memory.
    init?(bytes: Int) {
        #if SWAPMOE_X86_INTRINSICS
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
    /// passes (half with the GEMVs' prefetch hints where they take them, and half over two streams, as the probe).
    func measure(_ work: FloorWork, threads: Int, passes: Int = 6) -> Double {
        #if SWAPMOE_X86_INTRINSICS
        let buf = UnsafeRawPointer(memory.base), blocks = count / 256
        let sink = UnsafeMutablePointer<Int32>.allocate(capacity: blocks)
        defer { sink.deallocate() }
        let best = passSeconds(blocks: blocks, threads: threads, passes: max(passes, 4)) { r, pass, hinted in
            sink[r.lowerBound] = floorBlocks(buf, r, work, hinted: hinted, streams: pass % 4 < 2 ? 1 : 2)
        }.min()!
        return Double(count) / best / 1e9
        #else
        return 0
        #endif
    }
}

#if SWAPMOE_X86_INTRINSICS

/// `work` over the 256-byte blocks `r` of `buf` (`floorPass`: four 64-byte vectors a block with AVX512_VNNI, each
/// into sums of its own; eight 32-byte ones on AVX2, even and odd into two). One loop per work, never inlined, the
/// work a constant in it (written as closures in one function, LLVM left some bodies a call per vector).
func floorBlocks(_ buf: UnsafeRawPointer, _ r: Range<Int>, _ work: FloorWork, hinted: Bool, streams: Int) -> Int32 {
    switch work {
    case .read: floorRead(buf, r, hinted, streams)
    case .bits8: floorBits8(buf, r, hinted, streams)
    case .bits4: floorBits4(buf, r, hinted, streams)
    case .lookup4: floorLookup4(buf, r, hinted, streams)
    case .bits2: floorBits2(buf, r, hinted, streams)
    case .bits4InPlace: floorBits4InPlace(buf, r, hinted, streams)
    case .bits2InPlace: floorBits2InPlace(buf, r, hinted, streams)
    case .bits2Narrow: floorBits2Narrow(buf, r, hinted, streams)
    }
}

@inline(never) private func floorRead(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 { floorPass(b, r, h, s, .read) }
@inline(never) private func floorBits8(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 { floorPass(b, r, h, s, .bits8) }
@inline(never) private func floorBits4(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 { floorPass(b, r, h, s, .bits4) }
@inline(never) private func floorLookup4(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 { floorPass(b, r, h, s, .lookup4) }
@inline(never) private func floorBits2(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 { floorPass(b, r, h, s, .bits2) }
@inline(never) private func floorBits4InPlace(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 { floorPass(b, r, h, s, .bits4InPlace) }
@inline(never) private func floorBits2InPlace(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 { floorPass(b, r, h, s, .bits2InPlace) }

/// A stand-in for a 16-entry lookup table (E2M1, IQ4 levels) in every 16 bytes: entry i is 3i + 1.
@inline(__always)
private func floorLevels<V: SIMD>() -> V where V.Scalar == UInt8 {
    var t = V()
    for i in 0..<V.scalarCount { t[i] = UInt8(truncatingIfNeeded: (i & 15) &* 3 &+ 1) }
    return t
}
#endif

#if SWAPMOE_VNNI

/// The constants of the floor passes, in locals of each pass (a global's every use would call `swift_once`).
private struct FloorConstants {
    let x0 = SIMD64<Int8>(repeating: 3), x1 = SIMD64<Int8>(repeating: -5), x2 = SIMD64<Int8>(repeating: 7), x3 = SIMD64<Int8>(repeating: -9)
    // Masks and shifts on 32-bit lanes: on `SIMD64<UInt8>` LLVM compiles them to loops over the lanes.
    let m4 = SIMD16<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD16<UInt32>(repeating: 0x0303_0303)
    let levels: SIMD64<UInt8>

    init() { levels = floorLevels() }

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

typealias FloorSums = (SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>, SIMD16<Int32>)

@inline(__always)
private func floorPass(_ buf: UnsafeRawPointer, _ r: Range<Int>, _ hinted: Bool, _ streams: Int, _ work: FloorWork) -> Int32 {
    let k = FloorConstants(), z = SIMD16<Int32>()
    var s0: FloorSums = (z, z, z, z), s1 = s0, s2 = s0, s3 = s0
    let pf = prefetchDistance
    forEachBlock(r, streams: streams) { b in
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
private func floorBits2Narrow(_ buf: UnsafeRawPointer, _ r: Range<Int>, _ hinted: Bool, _ streams: Int) -> Int32 {
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
    forEachBlock(r, streams: streams) { b in
        let p = buf + b &* 256
        if hinted { prefetchAhead(p, bytes: 256, distance: pf) }
        @inline(__always) func at(_ o: Int) -> SIMD8<UInt32> { p.loadUnaligned(fromByteOffset: o, as: SIMD8<UInt32>.self) }
        four(at(0), &a, 0); four(at(32), &a, 1); four(at(64), &c, 0); four(at(96), &c, 1)
        four(at(128), &a, 0); four(at(160), &a, 1); four(at(192), &c, 0); four(at(224), &c, 1)
    }
    let t = ((a.0 &+ a.1) &+ (a.2 &+ a.3)) &+ ((a.4 &+ a.5) &+ (a.6 &+ a.7)) &+ ((c.0 &+ c.1) &+ (c.2 &+ c.3)) &+ ((c.4 &+ c.5) &+ (c.6 &+ c.7))
    return t.wrappedSum()
}
#elseif SWAPMOE_X86_INTRINSICS

/// The constants of the AVX2 floor passes (`FloorConstants` on 256-bit vectors).
private struct FloorConstants256 {
    let x0 = SIMD32<Int8>(repeating: 3), x1 = SIMD32<Int8>(repeating: -5), x2 = SIMD32<Int8>(repeating: 7), x3 = SIMD32<Int8>(repeating: -9)
    let m4 = SIMD8<UInt32>(repeating: 0x0F0F_0F0F), m2 = SIMD8<UInt32>(repeating: 0x0303_0303)
    let low2 = SIMD8<UInt32>(repeating: 0x0C0C_0C0C), high2 = SIMD8<UInt32>(repeating: 0x3030_3030)
    let levels: SIMD32<UInt8>

    init() { levels = floorLevels() }

    /// What `work` does to the 32-byte vector `v`, k-th of its block (k < 8), into `a`: each product added to an
    /// Int16 sum (wrapping: only the work counts), the 8-bit work spread over the four sums by k.
    @inline(__always)
    func apply(_ work: FloorWork, _ v: SIMD8<UInt32>, _ k: Int, _ a: inout FloorSums256) {
        @inline(__always) func dot(_ q: SIMD8<UInt32>, _ x: SIMD32<Int8>) -> SIMD16<Int16> { maddUbsSw(bytes32(q), x) }
        switch work {
        case .read: a.0 &+= unsafeBitCast(v, to: SIMD16<Int16>.self)
        case .bits8:
            switch k % 4 {
            case 0: a.0 &+= dot(v, x0)
            case 1: a.1 &+= dot(v, x1)
            case 2: a.2 &+= dot(v, x2)
            default: a.3 &+= dot(v, x3)
            }
        case .bits4: a.0 &+= dot(v & m4, x0); a.1 &+= dot((v &>> 4) & m4, x1)
        case .lookup4:
            a.0 &+= maddUbsSw(shuffleBytes(levels, bytes32(v & m4)), x0); a.1 &+= maddUbsSw(shuffleBytes(levels, bytes32((v &>> 4) & m4)), x1)
        case .bits2:
            a.0 &+= dot(v & m2, x0); a.1 &+= dot((v &>> 2) & m2, x1); a.2 &+= dot((v &>> 4) & m2, x2); a.3 &+= dot((v &>> 6) & m2, x3)
        case .bits2InPlace:
            a.0 &+= dot((v &<< 2) & low2, x0); a.1 &+= dot(v & low2, x1); a.2 &+= dot(v & high2, x2); a.3 &+= dot((v &>> 2) & high2, x3)
        case .bits4InPlace, .bits2Narrow: preconditionFailure("\(work) is not measured on AVX2 (FloorWork.measured)")
        }
    }
}

typealias FloorSums256 = (SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>, SIMD16<Int16>)

private func floorBits2Narrow(_ b: UnsafeRawPointer, _ r: Range<Int>, _ h: Bool, _ s: Int) -> Int32 {
    preconditionFailure("bits2Narrow is not measured on AVX2 (FloorWork.measured)")
}

@inline(__always)
private func floorPass(_ buf: UnsafeRawPointer, _ r: Range<Int>, _ hinted: Bool, _ streams: Int, _ work: FloorWork) -> Int32 {
    let k = FloorConstants256(), z = SIMD16<Int16>()
    var even: FloorSums256 = (z, z, z, z), odd = even
    let pf = prefetchDistance
    forEachBlock(r, streams: streams) { b in
        let p = buf + b &* 256
        if hinted { prefetchAhead(p, bytes: 256, distance: pf) }
        @inline(__always) func at(_ o: Int) -> SIMD8<UInt32> { p.loadUnaligned(fromByteOffset: o, as: SIMD8<UInt32>.self) }
        k.apply(work, at(0), 0, &even); k.apply(work, at(32), 1, &odd); k.apply(work, at(64), 2, &even); k.apply(work, at(96), 3, &odd)
        k.apply(work, at(128), 4, &even); k.apply(work, at(160), 5, &odd); k.apply(work, at(192), 6, &even); k.apply(work, at(224), 7, &odd)
    }
    @inline(__always) func total(_ s: FloorSums256) -> SIMD16<Int16> { (s.0 &+ s.1) &+ (s.2 &+ s.3) }
    return Int32(truncatingIfNeeded: (total(even) &+ total(odd)).wrappedSum())
}
#endif
