import SwapMoECore

// Typed views over the memory the kernels work on, so that a model's forward pass is written over shapes rather
// than pointers: `Matrix` (a weight matrix someone else keeps alive), `FloatBuffer` (float memory a model owns)
// and `Rows` (a `[count, width]` window of a `FloatBuffer`). Every view checks its bounds when it is made and
// every view kernel (ViewKernels.swift) checks shapes once per call; the per-element loops stay in the pointer
// kernels of this module. The view kernels are `@inlinable`, so these checks compile into the caller, which
// keeps them in release builds (this module is built with -Ounchecked, which would drop them here).

/// A weight matrix `W[rows, cols]`, row-major as `nn.Linear.weight`, in f32/f16/bf16, living in memory the
/// caller keeps alive (an archive's mapping, a huge-page copy of it, or an expert slot).
public struct Matrix: @unchecked Sendable {
    // @unchecked Sendable: points at read-only weight memory owned by an Archive or an expert store that
    // outlives every use; nothing writes through it.
    @usableFromInline package let base: UnsafeRawPointer
    public let type: WeightType
    public let rows: Int
    public let cols: Int

    package init(base: UnsafeRawPointer, type: WeightType, rows: Int, cols: Int) {
        self.base = base; self.type = type; self.rows = rows; self.cols = cols
    }

    /// The matrix stored at byte `offset` of `bytes`; nil unless all of it lies inside them (and, quantized,
    /// unless a row is a whole number of blocks, and for the interleaved types the rows whole groups of 8).
    public init?(bytes: BorrowedBytes, offset: Int = 0, type: WeightType, rows: Int, cols: Int) {
        guard rows >= 0, cols >= 0, offset >= 0, cols % type.blockSize == 0, rows % type.rowGroup == 0,
              let start = bytes.buffer.baseAddress else { return nil }
        let (blocks, o1) = rows.multipliedReportingOverflow(by: cols / type.blockSize)
        let (length, o2) = blocks.multipliedReportingOverflow(by: type.blockBytes)
        let (end, o3) = offset.addingReportingOverflow(length)
        guard !o1, !o2, !o3, end <= bytes.count else { return nil }
        self.init(base: start + offset, type: type, rows: rows, cols: cols)
    }

    public var byteCount: Int { rows * type.rowBytes(cols) }

    /// Row `r` widened to f32 into `out`, one row of `cols` floats (an embedding lookup).
    @inlinable
    public func row(_ r: Int, into out: Rows) {
        precondition(r >= 0 && r < rows, "matrix row \(r) out of 0..<\(rows)")
        precondition(out.count == 1 && out.width == cols, "a matrix row goes into one row of \(cols) floats")
        dequantizeRows(out.base, base, type, rows: r..<(r + 1), cols: cols)
    }

    /// Row `r` widened to f32.
    public func row(_ r: Int) -> [Float] {
        precondition(r >= 0 && r < rows, "matrix row \(r) out of 0..<\(rows)")
        var out = [Float](repeating: 0, count: cols)
        out.withUnsafeMutableBufferPointer { o in
            if let p = o.baseAddress { dequantizeRows(p, base, type, rows: r..<(r + 1), cols: cols) }
        }
        return out
    }
}

/// Float32 memory a model allocates once and keeps (scratch rows, KV caches, an encoder's output): `count`
/// floats, zero-filled, freed with the object. It is read and written through `Rows` views, which keep it alive.
public final class FloatBuffer {
    @usableFromInline let base: UnsafeMutablePointer<Float>
    public let count: Int
    /// The mapping that holds the floats when they were asked for on huge pages, else nil (heap).
    private let mapping: AnonymousMemory?

    /// `count` zeroed floats; with `hugePages`, in an anonymous mapping advised onto 2 MiB pages (`AnonymousMemory`,
    /// zero-filled as first touched), else on the heap. A KV cache wants huge pages: decode reads every layer's
    /// cache once per token after the weights streamed since have evicted it, and on 4 KiB pages each 4 KiB of it
    /// (four positions of a 1 KiB row) costs a page walk and a restart of the hardware prefetcher.
    public init(count: Int, hugePages: Bool = false) {
        precondition(count >= 0, "negative float count")
        self.count = count
        if hugePages, let m = try? AnonymousMemory(byteCount: max(count, 1) * MemoryLayout<Float>.stride) {
            mapping = m
            base = m.base.bindMemory(to: Float.self, capacity: max(count, 1))
        } else {
            mapping = nil
            base = .allocate(capacity: max(count, 1))
            base.initialize(repeating: 0, count: max(count, 1))
        }
    }

    public convenience init(rows: Int, width: Int, hugePages: Bool = false) {
        self.init(count: rows * width, hugePages: hugePages)
    }

    deinit { if mapping == nil { base.deallocate() } }

    /// Rows `range` of this buffer seen as rows of `width` floats.
    @inlinable
    public func rows(_ range: Range<Int>, width: Int) -> Rows {
        precondition(width >= 0 && range.lowerBound >= 0 && range.upperBound * width <= count,
                     "rows \(range) of width \(width) exceed a buffer of \(count) floats")
        return Rows(buffer: self, offset: range.lowerBound * width, count: range.count, width: width)
    }

    /// The first `count` rows of `width` floats.
    @inlinable
    public func rows(_ count: Int, width: Int) -> Rows { rows(0..<count, width: width) }
}

/// `count` rows of `width` contiguous floats (row-major `[count, width]`) inside a `FloatBuffer`, which the view
/// keeps alive. A view is a window: writing through it writes the buffer.
public struct Rows {
    @usableFromInline let buffer: FloatBuffer
    @usableFromInline let offset: Int
    public let count: Int
    public let width: Int

    @usableFromInline
    init(buffer: FloatBuffer, offset: Int, count: Int, width: Int) {
        self.buffer = buffer; self.offset = offset; self.count = count; self.width = width
    }

    @inlinable var base: UnsafeMutablePointer<Float> { buffer.base + offset }

    /// Floats in the view (`count * width`).
    @inlinable public var elementCount: Int { count * width }

    /// Row `i` alone.
    @inlinable
    public func row(_ i: Int) -> Rows {
        precondition(i >= 0 && i < count, "row \(i) out of 0..<\(count)")
        return Rows(buffer: buffer, offset: offset + i * width, count: 1, width: width)
    }

    /// Rows `range` of this view.
    @inlinable
    public func rows(_ range: Range<Int>) -> Rows {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "rows \(range) out of 0..<\(count)")
        return Rows(buffer: buffer, offset: offset + range.lowerBound * width, count: range.count, width: width)
    }

    /// The same floats seen as rows of `width` (e.g. `[tokens, heads * headDim]` as `[tokens * heads, headDim]`).
    @inlinable
    public func reshaped(width w: Int) -> Rows {
        precondition(w > 0 && elementCount % w == 0, "\(count) x \(width) floats are not rows of \(w)")
        return Rows(buffer: buffer, offset: offset, count: elementCount / w, width: w)
    }

    /// Float `i` of the view, counting row by row.
    @inlinable
    public subscript(i: Int) -> Float {
        get {
            precondition(i >= 0 && i < elementCount, "index \(i) out of 0..<\(elementCount)")
            return base[i]
        }
        nonmutating set {
            precondition(i >= 0 && i < elementCount, "index \(i) out of 0..<\(elementCount)")
            base[i] = newValue
        }
    }

    /// A copy of the view's floats, row by row.
    public func array() -> [Float] { Array(UnsafeBufferPointer(start: base, count: elementCount)) }

    /// Sets every float of the view to 0.
    public func zero() { base.update(repeating: 0, count: elementCount) }
}


