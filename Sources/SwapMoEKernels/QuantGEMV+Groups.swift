import SwapMoECore
// The row loop every interleaved GEMV shares (q4_K_x8, q8_0_x8, ...: eight rows per group, a group's super-blocks
// one after another in memory). A type gives the state its eight rows carry through a group (float sums, one lane
// per row) and the step that adds one super-block to it; the loop walks the groups, hints the lines ahead
// (`Prefetch.swift`) and stores each group's rows.
//
// Two streams (`twoStreams`): a thread's groups are read two at a time, group i of the first half of its rows
// beside group i of the second, a block of one after the same block of the other, so that two sequential streams
// are in flight instead of one. Each group's own steps run in the same order as alone: every row's result is the
// same bits. On Zen 3 (AVX2 only, 2026-12-06; 20 interleaved A/B passes in one process, streamed from DRAM, one
// thread) q8_0_x8 read 18.4-20.1 -> 21.3-23.1 GB/s, q4_0_x8 18.4-19.2 -> 20.9-22.2, mxfp4_x8 15.4-15.5 -> 17.6-17.9,
// iq4_nl_x8 13.4-13.7 -> 14.6-15.0, and decode went 1.10-1.20x on one thread and 1.04-1.24x on two (medians of 6
// interleaved pairs). The K-types and iq4_xs_x8 keep one stream: their 256-bit block sums have no registers to
// spare for a second group (q4_K_x8 from cache 29 -> 25 GB/s, q5_K_x8 streamed 17 -> 12.5), and with q4_K_x8's
// block step out of line, to keep it whole, the second stream gained nothing (19.5 -> 19.5 GB/s streamed). Builds
// for AVX-512 keep one stream for every type: not measured there.

#if SWAPMOE_X86_INTRINSICS

/// Rows `rows` (whole groups of eight) of an interleaved matrix of `blockBytes`-byte group super-blocks . x̂: each
/// group's state from `state`, `step` adding super-block b (at the pointer) to it, `total` its eight rows. Groups
/// two at a time (`twoStreams`), an odd one at the end alone; each block's lines hinted ahead at its start, unless
/// `step` hints them itself (`hintsInStep`, `prefetchPart`).
@inline(__always)
func interleavedRows<S>(_ y: UnsafeMutablePointer<Float>, _ w: UnsafeRawPointer, rowBytes: Int, rows: Range<Int>,
                        bias: UnsafePointer<Float>?, accumulate: Bool, blockBytes bb: Int, blocks nb: Int, twoStreams: Bool,
                        hintsInStep: Bool = false, _ state: S, total: (S) -> SIMD8<Float>,
                        _ step: (inout S, UnsafeRawPointer, Int) -> Void) {
    precondition(rows.lowerBound % 8 == 0 && rows.count % 8 == 0, "interleaved rows \(rows) are not whole groups of 8")
    @inline(__always) func store(_ g: Int, _ r: SIMD8<Float>) { for e in 0..<8 { storeRow(y, g &+ e, r[e], bias, accumulate) } }
    let pairs = twoStreams ? rows.count / 16 : 0, pf = hintsInStep ? PrefetchDistances.none : prefetchDistance
    for i in 0..<pairs {
        let ga = rows.lowerBound &+ 8 &* i, gb = ga &+ 8 &* pairs
        let wa = w + ga &* rowBytes, wb = w + gb &* rowBytes
        var sa = state, sb = state
        for b in 0..<nb {
            let a = wa + b &* bb, c = wb + b &* bb
            prefetchAhead(a, bytes: bb, distance: pf); prefetchAhead(c, bytes: bb, distance: pf)
            step(&sa, a, b)
            step(&sb, c, b)
        }
        store(ga, total(sa)); store(gb, total(sb))
    }
    var g = rows.lowerBound &+ 16 &* pairs
    while g < rows.upperBound {
        store(g, total(groupSums(w + g &* rowBytes, blockBytes: bb, blocks: nb, hintsInStep: hintsInStep, state, step)))
        g &+= 8
    }
}

/// One group at `w` through its `nb` super-blocks (`interleavedRows`'s form for a group alone; `hintsInStep`: `step`
/// hints the block's lines itself, `prefetchPart`).
@inline(__always)
func groupSums<S>(_ w: UnsafeRawPointer, blockBytes bb: Int, blocks nb: Int, hintsInStep: Bool = false, _ state: S,
                  _ step: (inout S, UnsafeRawPointer, Int) -> Void) -> S {
    var s = state
    let pf = hintsInStep ? PrefetchDistances.none : prefetchDistance
    for b in 0..<nb {
        let blk = w + b &* bb
        prefetchAhead(blk, bytes: bb, distance: pf)
        step(&s, blk, b)
    }
    return s
}

/// Hints part `part` of `parts` of the lines of the `bb`-byte block at `blk` ahead (`prefetchAhead`'s hints, the
/// same lines): for a step that spreads its block's hints over its chunks rather than issue them all at its start
/// (`hintsInStep`). Written as a fixed number of hints, each skipped past the part's own count, not as a loop over
/// the part's lines: where the part is known when compiling (q4_K_x8, q5_K_x8: the chunks unrolled) this folds to
/// the same straight-line hints; where it is not (q6_K_x8's rolled chunk loop) the loop's counters had been ~8% of
/// the kernel's instructions (callgrind, 2026-12-06).
@inline(__always)
func prefetchPart(_ blk: UnsafeRawPointer, blockBytes bb: Int, _ part: Int, of parts: Int, distance: PrefetchDistances) {
    #if SWAPMOE_X86_INTRINSICS
    let lines = (bb &+ 63) / 64, from = part &* lines / parts, count = (part &+ 1) &* lines / parts &- from
    let most = (lines &+ parts &- 1) / parts, p = blk + from &* 64
    if distance.l1 > 0 { for k in 0..<most where k < count { prefetchLine(p + (distance.l1 &+ 64 &* k)) } }
    if distance.l2 > 0 { for k in 0..<most where k < count { prefetchLineL2(p + (distance.l2 &+ 64 &* k)) } }
    #endif
}

/// Whether the interleaved GEMVs whose state is one `Q40X8Sums` (q8_0_x8, q4_0_x8 and its kin, iq4_nl_x8) read
/// two groups at once (above).
#if SWAPMOE_AVX512
let x8TwoStreams = false
#else
let x8TwoStreams = true
#endif

#endif

/// An interleaved row kernel for tests: (y, w, x̂, row bytes, blocks, rows).
typealias X8RowKernel = (UnsafeMutablePointer<Float>, UnsafeRawPointer, QuantizedActivations, Int, Int, Range<Int>) -> Void

/// The rows of a `type` matrix whose groups carry one `Q40X8Sums` (q8_0_x8, iq4_nl_x8, q4_0_x8 and its kin) . x̂,
/// read two groups at a time and one at a time, for the tests (the two must give the same bits); empty where the
/// build has no integer path or `type` another state.
func x8StreamForms(_ type: WeightType) -> [X8RowKernel] {
    #if SWAPMOE_X86_INTRINSICS
    let kind: X8Codes32
    switch type {
    case .q8_0x8, .iq4_nlx8:
        return [true, false].map { two in
            { q80X8KindRows($0, $1, $2, rowBytes: $3, blocks: $4, rows: $5, bias: nil, accumulate: false, iq4: type == .iq4_nlx8, twoStreams: two) }
        }
    case .q4_0x8: kind = .q4_0
    case .q5_0x8: kind = .q5_0
    case .q4_1x8: kind = .q4_1
    case .q5_1x8: kind = .q5_1
    case .mxfp4x8: kind = .mxfp4
    default: return []
    }
    return [true, false].map { two in
        { q40X8KindRows($0, $1, $2, rowBytes: $3, blocks: $4, rows: $5, bias: nil, accumulate: false, kind, twoStreams: two) }
    }
    #else
    return []
    #endif
}
