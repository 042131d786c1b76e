import SwapMoECore
// mxfp4_x8 (layout: Q40Interleave.swift) on AVX512_VNNI and AVX512_VBMI (Intel's Ice Lake and later, AMD's Zen 4).
// The q4_0_x8 kernel's form (QuantGEMV+Q40X8.swift), which other builds keep, spends ~30 vector operations on a
// block of eight rows' 32 weights. Here ~18:
// - each code's level looked up by `vpermb` straight from its byte, no mask: the table fills all four 16-byte
//   quarters, so a byte's bits 4 and 5 (the next nibble) pick one of four equal tables, and bits 6 and 7 are
//   ignored; the high nibbles shifted down first (`vpsrlq`): 6 operations for 128 codes where masks, shifts and
//   `vpshufb` took 10;
// - the levels (0...24, `mxfp4X8Levels`) times the activation bytes added into Int32 by four `vpdpbusd`, starting
//   from -6 Σ q_x, so that each row's two lanes together take off the levels' offset 12 Σ q_x: no Int16 adds, no
//   `vpmaddwd`, no subtraction;
// - the float work on all 16 lanes, row r in lanes 2r and 2r + 1 until the group's end: the rows' E8M0 bytes spread
//   to their lanes by one `vpermb` and made e - 128 by a sign flip and an arithmetic shift, `vscalefps` of the
//   activations' scale d_x by them (exact: one rounding of d_x 2^(e - 128), as the other form), one multiply-add.
// From cache 1.4x the other form on one thread (`Benchmarks/quantShapes`, 2816 x 1024 and 1024 x 2816, 23.6 against
// 33.6 GB/s); a decode of the 48-layer mxfp4 model 1.03-1.05x on two threads and 1.01-1.02x on one (token by token
// against the other form in one process, 2026-12-06: Docs/Benchmarks.md). Each row's result equals the plain
// reference's up to float rounding; the prefill's four-token form computes exactly this for each token.

#if SWAPMOE_X86_INTRINSICS && SWAPMOE_AVX512 && SWAPMOE_VNNI && SWAPMOE_VBMI

/// Per-call constants of the kernel (built in the caller, outside the loops: a global's lazy initializer read in
/// a loop left a `swift_once` call on its path).
struct MXFP4X8Tables {
    /// `mxfp4X8Levels` in all four quarters.
    let levels: SIMD64<UInt8>
    /// `vpermb` indices that fill Int32 lanes 2r and 2r + 1 with row r's E8M0 byte (in all four bytes).
    let spread: SIMD64<UInt8>

    @inline(__always)
    init() {
        levels = SIMD64(lowHalf: mxfp4X8Levels, highHalf: mxfp4X8Levels)
        spread = bytes64(SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7) &* SIMD8(repeating: 0x0101_0101_0101_0101))
    }

    /// The block's eight rows' exponents e - 128 as floats, row r in lanes 2r and 2r + 1.
    @inline(__always)
    func exponents(_ blk: UnsafeRawPointer) -> SIMD16<Float> {
        let e = bytes64(SIMD8<UInt64>(repeating: blk.loadUnaligned(as: UInt64.self)))
        let v = unsafeBitCast(permuteBytes(e, spread), to: SIMD16<Int32>.self)
        return int32sToFloat16((v ^ SIMD16(repeating: Int32.min)) &>> 24)
    }
}

/// A block's 64 codes of each column as levels (0...24).
struct MXFP4X8Codes {
    let lo0: SIMD64<UInt8>, hi0: SIMD64<UInt8>, lo1: SIMD64<UInt8>, hi1: SIMD64<UInt8>

    @inline(__always)
    init(_ blk: UnsafeRawPointer, _ t: MXFP4X8Tables) {
        let c0 = blk.loadUnaligned(fromByteOffset: 8, as: SIMD8<UInt64>.self), c1 = blk.loadUnaligned(fromByteOffset: 72, as: SIMD8<UInt64>.self)
        lo0 = permuteBytes(t.levels, bytes64(c0)); hi0 = permuteBytes(t.levels, bytes64(c0 &>> 4))
        lo1 = permuteBytes(t.levels, bytes64(c1)); hi1 = permuteBytes(t.levels, bytes64(c1 &>> 4))
    }

    /// `offset` + Σ level q_x over the block at `qx`, row r's in Int32 lanes 2r and 2r + 1.
    @inline(__always)
    func sums(_ qx: UnsafeRawPointer, _ offset: Int32) -> SIMD16<Int32> {
        @inline(__always) func x8(_ o: Int) -> SIMD64<Int8> {
            unsafeBitCast(SIMD8<UInt64>(repeating: qx.loadUnaligned(fromByteOffset: o, as: UInt64.self)), to: SIMD64<Int8>.self)
        }
        var a = SIMD16<Int32>(repeating: offset)
        a = dotBytes(a, lo0, x8(0)); a = dotBytes(a, hi0, x8(16))
        a = dotBytes(a, lo1, x8(8)); a = dotBytes(a, hi1, x8(24))
        return a
    }
}

/// Block b's -6 Σ q_x (half the offset of the levels' +12: it starts both of a row's lanes).
@inline(__always)
func mxfp4X8Offset(_ xq: QuantizedActivations, _ b: Int) -> Int32 {
    -6 &* xq.sum32(b)
}

/// Block b of one token into its running sums `s`: the block's codes against its activations, times d_x 2^(e - 128)
/// (`e`: the rows' exponents). One function for the GEMV and each token of the four-token GEMM, so both compute it alike.
@inline(__always)
func addMXFP4X8Block(_ s: inout SIMD16<Float>, _ codes: MXFP4X8Codes, _ e: SIMD16<Float>, _ xq: QuantizedActivations, _ b: Int) {
    let d = scaleByPowersOfTwo(SIMD16(repeating: xq.scale[b]), e)
    s.madd(d, int32sToFloat16(codes.sums(UnsafeRawPointer(xq.q + 32 &* b), mxfp4X8Offset(xq, b))))
}

/// Row r's lanes 2r and 2r + 1 added.
@inline(__always)
func laneTotals(_ s: SIMD16<Float>) -> SIMD8<Float> { s.evenHalf + s.oddHalf }

/// The eight rows of the mxfp4_x8 group at `w` . x̂ (`addMXFP4X8Block` per block).
@inline(__always)
func dotMXFP4X8Group(_ w: UnsafeRawPointer, _ xq: QuantizedActivations, blocks nb: Int, _ t: MXFP4X8Tables) -> SIMD8<Float> {
    laneTotals(groupSums(w, blockBytes: mxfp4X8GroupBlockBytes, blocks: nb, SIMD16<Float>()) { addMXFP4X8Block(&$0, MXFP4X8Codes($1, t), t.exponents($1), xq, $2) })
}

/// Four tokens' `dotMXFP4X8Group`, each exactly as it computes it; the codes looked up once a block.
@inline(__always)
func dotMXFP4X8Group4(_ w: UnsafeRawPointer, _ x: (QuantizedActivations, QuantizedActivations, QuantizedActivations, QuantizedActivations),
                      blocks nb: Int, _ t: MXFP4X8Tables) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), s2 = SIMD16<Float>(), s3 = SIMD16<Float>()
    for b in 0..<nb {
        let blk = w + b &* mxfp4X8GroupBlockBytes, e = t.exponents(blk), codes = MXFP4X8Codes(blk, t)
        addMXFP4X8Block(&s0, codes, e, x.0, b); addMXFP4X8Block(&s1, codes, e, x.1, b)
        addMXFP4X8Block(&s2, codes, e, x.2, b); addMXFP4X8Block(&s3, codes, e, x.3, b)
    }
    return (laneTotals(s0), laneTotals(s1), laneTotals(s2), laneTotals(s3))
}

/// Rows of an mxfp4_x8 matrix (see `q4KX8TokenRows` for why out of line).
@inline(never)
func mxfp4X8VNNIRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: QuantizedActivations, rowBytes: Int, blocks nb: Int,
                     rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let t = MXFP4X8Tables()
    interleavedRows(y, w, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate, blockBytes: mxfp4X8GroupBlockBytes, blocks: nb,
                    twoStreams: false, SIMD16<Float>(), total: laneTotals) { addMXFP4X8Block(&$0, MXFP4X8Codes($1, t), t.exponents($1), xq, $2) }
}

@inline(never)
func mxfp4X8VNNITokenRows(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, _ xq: UnsafeBufferPointer<QuantizedActivations>, d: Int,
                          rowBytes: Int, blocks nb: Int, rows: Range<Int>, bias: UnsafePointer<Float>?, accumulate: Bool) {
    let t = MXFP4X8Tables()
    interleavedTokenRows(y, w, xq, d: d, rowBytes: rowBytes, rows: rows, bias: bias, accumulate: accumulate,
                         dot4: { dotMXFP4X8Group4($0, ($1, $2, $3, $4), blocks: nb, t) }, dot1: { dotMXFP4X8Group($0, $1, blocks: nb, t) })
}

#endif

/// The mxfp4_x8 row kernels of this build, by name: the one `gemv` takes first. Tests hold each to the others, so the
/// form a build without AVX512_VNNI and AVX512_VBMI takes is checked on a host with them too.
func mxfp4X8RowKernels() -> [(name: String, rows: X8RowKernel)] {
    #if SWAPMOE_X86_INTRINSICS
    var kernels: [(name: String, rows: X8RowKernel)] = []
    #if SWAPMOE_AVX512 && SWAPMOE_VNNI && SWAPMOE_VBMI
    kernels.append(("vnni", { mxfp4X8VNNIRows($0, $1, $2, rowBytes: $3, blocks: $4, rows: $5, bias: nil, accumulate: false) }))
    #endif
    kernels.append(("q4_0 form", { mxfp4X8Rows($0, $1, $2, rowBytes: $3, blocks: $4, rows: $5, bias: nil, accumulate: false) }))
    return kernels
    #else
    return []
    #endif
}
