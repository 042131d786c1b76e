import Foundation
import Synchronization
import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels
import SwapMoEModels

/// Low-bit copies ("shadows") of every expert of one stack's MoE layers, all resident: what serves a routed
/// expert that is not among the full-precision Virtual Experts (`ShadowExperts`).
///
/// Built once when the session opens: each expert block is read (checksum checked, decoded), every matrix is
/// widened to f32 row by row and quantized to `type` with the packer's own quantizers, under the packer's rule
/// for rows that are not whole K-blocks (`DType.stored(asking:cols:)`), so a shadow's bytes equal what
/// `pack --quant experts=TYPE` writes from the same weights; vectors (biases), and matrices stored with no more
/// bits per weight than that type or with rows of no whole block, keep their stored bytes. `threads` threads convert
/// disjoint sets of experts, each with its own buffers (`scratchBytes` each, counted by the planner).
///
/// Memory: `plannedBytes` (the copies, each block 64-byte aligned, in one `AnonymousMemory` of whole pages),
/// allocated in init and never grown; the build's buffers are freed before init returns.
public final class ShadowStore: @unchecked Sendable {
    // @unchecked Sendable: `weights` and `memory` are written only in init and read-only afterwards.
    public let type: DType
    public let stack: ExpertStack
    /// Bytes of the copies.
    public let bytes: Int
    private let weights: [ExpertKey: ExpertWeights]
    private let memory: AnonymousMemory?

    /// Whether shadows can be of type `t`: a quantized type the kernels compute with.
    public static func canShadow(_ t: DType) -> Bool { t.isQuantized && WeightType(t) != nil }

    /// The shadow layout of an expert layout: its matrices as `type` where their rows are whole blocks.
    public static func layout(_ layout: ExpertLayout, type: DType) -> ExpertLayout {
        ExpertLayout(parts: layout.tensors.map { t in (t.role, shadowType(t, type: type) ?? t.dtype, t.shape) })
    }

    /// The type `t` is quantized to in the shadow, nil if it keeps its stored bytes: a matrix the kernels compute
    /// with, whose rows are whole blocks of `type` (or of its 32-weight fallback), stored with more bits per weight;
    /// Q4_K, Q5_K, Q6_K and Q4_0 with their rows interleaved (Q4_K_X8, ...) where they are whole groups of 8, as the packer
    /// stores them.
    static func shadowType(_ t: ExpertLayout.Tensor, type: DType) -> DType? {
        guard t.shape.count == 2, WeightType(t.dtype) != nil, let d = DType.stored(asking: type, cols: t.shape[1]),
              d.bitsPerWeight < t.dtype.bitsPerWeight else { return nil }
        guard let x8 = d.interleaved, interleavedFits(rows: t.shape[0], cols: t.shape[1], blockSize: x8.blockSize) else { return d }
        return x8
    }

    /// Where each expert of `stack` goes in the copies: its shadow layout (one per archive layout, made once) and
    /// its offset, each block 64-byte aligned; and the copies' bytes, in whole pages.
    static func placement(_ archive: Archive, stack: ExpertStack, type: DType) -> (experts: [(entry: ExpertEntry, offset: Int, layout: ExpertLayout)], bytes: Int) {
        let layouts = archive.manifest.expertLayouts.map { layout($0, type: type) }
        var out: [(entry: ExpertEntry, offset: Int, layout: ExpertLayout)] = []
        var offset = 0
        for e in archive.experts where e.stack == stack {
            out.append((e, offset, layouts[e.layout]))
            offset += ArchiveFormat.align(layouts[e.layout].rawLength, ArchiveFormat.tensorAlignment)
        }
        return (out, offset > 0 ? ArchiveFormat.align(offset, ArchiveFormat.blockAlignment) : 0)
    }

    /// Bytes the shadows of `stack` take as `type`, without building them.
    public static func plannedBytes(archive: Archive, stack: ExpertStack, type: DType) -> Int {
        placement(archive, stack: stack, type: type).bytes
    }

    /// Buffers one building thread holds (`ShadowScratch`): the expert's decoded block, its stored block (LZ4
    /// archives), a chunk of decode scratch (shuffled LZ4 blocks) and one row of floats.
    public static func scratchBytes(archive: Archive) -> Int {
        let s = ShadowScratch.sizes(archive)
        return s.raw + s.stored + s.chunk + 4 * s.cols
    }

    public init(archive: Archive, stack: ExpertStack, type: DType, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        guard ShadowStore.canShadow(type) else {
            throw EngineError.invalidConfiguration("shadow experts must be a quantized type the kernels compute with (got \(type.rawValue))")
        }
        self.type = type
        self.stack = stack
        let (jobs, total) = ShadowStore.placement(archive, stack: stack, type: type)
        do { memory = total > 0 ? try AnonymousMemory(byteCount: total) : nil } catch {
            throw ModelError.residentMemory(bytes: total, reason: error.description)
        }
        bytes = total
        var map: [ExpertKey: ExpertWeights] = [:]
        for (e, offset, l) in jobs {
            map[ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert)] =
                try ExpertWeights(block: BorrowedBytes(start: memory!.base + offset, count: l.rawLength), layout: l)
        }
        let n = max(1, min(threads, jobs.count))
        let failure = Mutex<(any Error)?>(nil)
        let store = memory, work = jobs
        DispatchQueue.concurrentPerform(iterations: n) { t in
            do {
                let scratch = ShadowScratch(archive: archive)
                for i in stride(from: t, to: work.count, by: n) {
                    if failure.withLock({ $0 != nil }) { return }
                    let (e, at, l) = work[i]
                    try scratch.convert(e, archive: archive, into: store!.base + at, layout: l, type: type)
                }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        weights = map
    }

    /// The shadow of `key` (nil for an expert of another stack).
    public func weights(_ key: ExpertKey) -> ExpertWeights? { weights[key] }
}

/// One building thread's buffers.
private final class ShadowScratch {
    let block: UnsafeMutableRawBufferPointer, staging: UnsafeMutableRawBufferPointer
    let lz4: UnsafeMutableRawBufferPointer?, row: UnsafeMutablePointer<Float>

    /// Bytes of each buffer for `archive` (0: not needed).
    static func sizes(_ archive: Archive) -> (raw: Int, stored: Int, chunk: Int, cols: Int) {
        (archive.experts.map(\.rawLength).max() ?? 0,
         archive.experts.filter { $0.codec != .raw }.map(\.storedLength).max() ?? 0,
         archive.experts.contains { $0.codec != .raw && $0.shuffle > 1 } ? ArchiveFormat.chunkSize : 0,
         archive.manifest.expertLayouts.flatMap(\.tensors).map { $0.shape.last ?? 0 }.max() ?? 0)
    }

    init(archive: Archive) {
        let s = ShadowScratch.sizes(archive)
        block = .allocate(byteCount: max(1, s.raw), alignment: ArchiveFormat.blockAlignment)
        staging = .allocate(byteCount: max(1, s.stored), alignment: ArchiveFormat.blockAlignment)
        lz4 = s.chunk > 0 ? .allocate(byteCount: s.chunk, alignment: 64) : nil
        row = .allocate(capacity: max(1, s.cols))
    }

    deinit { block.deallocate(); staging.deallocate(); lz4?.deallocate(); row.deallocate() }

    /// Reads `e` and writes its shadow (`layout`) at `dst`.
    func convert(_ e: ExpertEntry, archive: Archive, into dst: UnsafeMutableRawPointer, layout: ExpertLayout, type d: DType) throws {
        try archive.readExpert(e, into: block, staging: staging, scratch: lz4)
        let stored = archive.layout(of: e)
        for (s, t) in zip(stored.tensors, layout.tensors) {
            let src = UnsafeRawPointer(block.baseAddress! + s.offset)
            guard let to = ShadowStore.shadowType(s, type: d).flatMap(WeightType.init), let from = WeightType(s.dtype) else {
                (dst + t.offset).copyMemory(from: src, byteCount: s.length)
                continue
            }
            let rows = s.shape[0], cols = s.shape[1]
            // Interleaved types: the rows quantized to the plain type into `plain`, then interleaved into place.
            let plain = to.rowGroup > 1 ? UnsafeMutableRawPointer.allocate(byteCount: t.length, alignment: 64) : nil
            defer { plain?.deallocate() }
            let out = plain ?? dst + t.offset, rowType = to.plain
            for r in 0..<rows {
                dequantizeRows(row, src, from, rows: r..<(r + 1), cols: cols)
                quantizeRow(row, out + r * rowType.rowBytes(cols), rowType, count: cols)
            }
            if let plain { interleave(dst + t.offset, plain, as: to, rows: rows, cols: cols) }
        }
    }
}
