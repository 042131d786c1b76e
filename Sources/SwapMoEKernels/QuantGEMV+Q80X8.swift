import SwapMoECore
// GEMV over q8_0_x8 matrices (layout: Q80Interleave.swift), eight rows at a time as for q4_0_x8
// (QuantGEMV+Q40X8.swift): per block of 32 weights, each row's Σ q q_x with the signed codes of a 64-byte column
// multiplied by the 8 activation bytes they share, broadcast; one float multiply-add per eight rows and block, where
// the q8_0 row kernel (QuantGEMV+Integer.swift) spends a scale conversion, a multiply-add and, per row, a horizontal
// sum. With AVX512_VNNI the codes are made unsigned (q + 128, one `vpxor`) and `vpdpbusd` adds four products into
// each Int32 lane without saturating; 128 Σ q_x comes off per row after. Elsewhere (AVX2, AVX-512 without VNNI) the
// q8_0 kernel's sign trick (`vpsignb`, which has no 512-bit form) on 256-bit halves of four rows, one `vpmaddwd` per
// column (two `vpmaddubsw` sums of 2 * 128 * 127 would overflow Int16). Each row's result equals the q8_0 kernel's
// on the same row up to float rounding. Prefill dequantizes (`interleavedGEMMUsesIntegerDots`).

#if SWAPMOE_X86_INTRINSICS

@inline(never)
func q80X8Rows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
               rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    q80X8KindRows(y, w, xq, rowBytes: rowBytes, blocks: nb, rows: rows, bias: bias, accumulate: accumulate, iq4: false)
}

/// `interleavedRows` over a q8_0_x8 (`iq4`: iq4_nl_x8) matrix (`q80X8Rows`, `iq4NLX8Rows`).
@inline(__always)
func q80X8KindRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
                   rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool, iq4: Bool, twoStreams: Bool = x8TwoStreams) {
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: iq4 ? q40X8GroupBlockBytes : q80X8GroupBlockBytes,
                    blocks: nb, twoStreams: twoStreams, Q40X8Sums(), total: { $0.total }) { addQ80X8Block(&$0, $1, $2, xq, iq4: iq4) }
}

/// Block b of a q8_0_x8 (`iq4`: iq4_nl_x8, QuantGEMV+IQ4X8.swift) group at `blk` into `s` (`Q40X8Sums`).
@inline(__always)
func addQ80X8Block(_ s: inout Q40X8Sums, _ blk: UnsafeRawPointer, _ b: Int, _ xq: QuantizedActivations, iq4: Bool) {
    let codes = iq4 ? Q80X8Codes(iq4: blk, codesAt: 16) : Q80X8Codes(blk)
    s.add(b, codes.sums(UnsafeRawPointer(xq.q + 32 &* b)), xq, f16ToFloat8(blk.loadUnaligned(as: SIMD8<Float16>.self)), offset: Q80X8Codes.offset)
}

/// The eight rows of the q8_0_x8 (`iq4`: iq4_nl_x8) group at `w` . x̂, one float lane per row (`addQ80X8Block`).
@inline(__always)
func dotQ80X8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, iq4: Bool) -> SIMD8<Float> {
    groupSums(w, blockBytes: iq4 ? q40X8GroupBlockBytes : q80X8GroupBlockBytes, blocks: nb, Q40X8Sums()) { addQ80X8Block(&$0, $1, $2, xq, iq4: iq4) }.total
}

#if SWAPMOE_AVX512 && SWAPMOE_VNNI
/// The four code columns of a q8_0_x8 group block as unsigned bytes q + 128.
struct Q80X8Codes {
    /// What `sums` adds per activation: 128 Σ q_x, for `Q40X8Sums` to take off.
    static let offset: Int32 = 128
    let c0: SIMD64<UInt8>, c1: SIMD64<UInt8>, c2: SIMD64<UInt8>, c3: SIMD64<UInt8>

    @inline(__always)
    init(_ blk: UnsafeRawPointer) {
        let flip = SIMD16<UInt32>(repeating: 0x8080_8080)
        @inline(__always) func column(_ u: Int) -> SIMD64<UInt8> {
            bytes64(blk.loadUnaligned(fromByteOffset: 16 &+ 64 &* u, as: SIMD16<UInt32>.self) ^ flip)
        }
        c0 = column(0); c1 = column(1); c2 = column(2); c3 = column(3)
    }

    /// Against the activation block at `qx`: Int32 lanes 2r, 2r + 1 hold row r's Σ (q + 128) q_x, split in two
    /// (exact: `vpdpbusd` does not saturate).
    @inline(__always)
    func sums(_ qx: UnsafeRawPointer) -> SIMD16<Int32> {
        @inline(__always) func x8(_ offset: Int) -> SIMD64<Int8> {
            unsafeBitCast(SIMD8<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD64<Int8>.self)
        }
        let z = SIMD16<Int32>()
        return dotBytes(dotBytes(z, c0, x8(0)), c1, x8(8)) &+ dotBytes(dotBytes(z, c2, x8(16)), c3, x8(24))
    }
}
#else
/// The four code columns of a q8_0_x8 group block in 256-bit halves (rows 0..<4, then 4..<8), signed; `sums`
/// multiplies their magnitudes by the activations carrying their signs (`vpsignb`), as the q8_0 kernel does.
struct Q80X8Codes {
    /// Nothing to take off: the codes are multiplied signed.
    static let offset: Int32 = 0
    let w: (SIMD32<Int8>, SIMD32<Int8>, SIMD32<Int8>, SIMD32<Int8>, SIMD32<Int8>, SIMD32<Int8>, SIMD32<Int8>, SIMD32<Int8>)

    @inline(__always)
    init(_ blk: UnsafeRawPointer) {
        @inline(__always) func load(_ u: Int, _ h: Int) -> SIMD32<Int8> { blk.loadUnaligned(fromByteOffset: 16 &+ 64 &* u &+ 32 &* h, as: SIMD32<Int8>.self) }
        w = (load(0, 0), load(1, 0), load(2, 0), load(3, 0), load(0, 1), load(1, 1), load(2, 1), load(3, 1))
    }

    /// Against the activation block at `qx`: Int32 lanes 2r, 2r + 1 hold row r's Σ q q_x, split in two.
    @inline(__always)
    func sums(_ qx: UnsafeRawPointer) -> SIMD16<Int32> {
        @inline(__always) func x8(_ offset: Int) -> SIMD32<Int8> {
            unsafeBitCast(SIMD4<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
        }
        let ones = SIMD16<Int16>(repeating: 1), x0 = x8(0), x1 = x8(8), x2 = x8(16), x3 = x8(24)
        @inline(__always) func product(_ q: SIMD32<Int8>, _ x: SIMD32<Int8>) -> SIMD8<Int32> {
            maddWd(maddUbsSw(bytes32(signBytes(q, q)), signBytes(x, q)), ones)
        }
        @inline(__always) func half(_ a: SIMD32<Int8>, _ b: SIMD32<Int8>, _ c: SIMD32<Int8>, _ d: SIMD32<Int8>) -> SIMD8<Int32> {
            (product(a, x0) &+ product(b, x1)) &+ (product(c, x2) &+ product(d, x3))
        }
        return SIMD16(lowHalf: half(w.0, w.1, w.2, w.3), highHalf: half(w.4, w.5, w.6, w.7))
    }

    /// `sums` with each row's products times its scale, rows 0..<4 from `s0`, 4..<8 from `s1` (row 4h + r's in Int16
    /// lanes 4r ..< 4r + 4): the `vpmaddwd` that pairs the products multiplies them too (iq4_xs_x8's sub-block scales;
    /// exact: 2 * 2 * 127 * 127 * 32 per lane and column).
    @inline(__always)
    func scaledSums(_ qx: UnsafeRawPointer, _ s0: SIMD16<Int16>, _ s1: SIMD16<Int16>) -> (SIMD8<Int32>, SIMD8<Int32>) {
        @inline(__always) func x8(_ offset: Int) -> SIMD32<Int8> {
            unsafeBitCast(SIMD4<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: offset, as: UInt64.self)), to: SIMD32<Int8>.self)
        }
        let x0 = x8(0), x1 = x8(8), x2 = x8(16), x3 = x8(24)
        @inline(__always) func product(_ q: SIMD32<Int8>, _ x: SIMD32<Int8>, _ s: SIMD16<Int16>) -> SIMD8<Int32> {
            maddWd(maddUbsSw(bytes32(signBytes(q, q)), signBytes(x, q)), s)
        }
        @inline(__always) func half(_ a: SIMD32<Int8>, _ b: SIMD32<Int8>, _ c: SIMD32<Int8>, _ d: SIMD32<Int8>, _ s: SIMD16<Int16>) -> SIMD8<Int32> {
            (product(a, x0, s) &+ product(b, x1, s)) &+ (product(c, x2, s) &+ product(d, x3, s))
        }
        return (half(w.0, w.1, w.2, w.3, s0), half(w.4, w.5, w.6, w.7, s1))
    }
}
#endif

#endif
