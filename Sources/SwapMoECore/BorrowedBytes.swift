/// Read-only bytes that someone else keeps alive and unchanged while they are read: an archive's mapping (for as
/// long as the archive is open), an `AnonymousMemory` region, an expert slot the engine has pinned.
///
/// This is how weight memory reaches a model without a raw pointer: the model builds kernel views from it
/// (`Matrix(bytes:offset:type:rows:cols:)` in SwapMoEKernels, which checks the view fits), and only the kernels
/// read through `buffer`. It owns nothing: the producer (archive, engine, model) states how long it lives.
public struct BorrowedBytes: @unchecked Sendable {
    // @unchecked Sendable: read-only memory owned by someone that outlives every use; nothing writes through it.
    @usableFromInline package let buffer: UnsafeRawBufferPointer

    /// Borrows `buffer`; its owner keeps it alive and unchanged while any view of it is used.
    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    /// Borrows `count` bytes at `start`.
    public init(start: UnsafeRawPointer, count: Int) {
        precondition(count >= 0, "negative byte count")
        buffer = UnsafeRawBufferPointer(start: start, count: count)
    }

    public var count: Int { buffer.count }

    /// The bytes `range` of these (nil when the range does not lie inside them).
    public func slice(_ range: Range<Int>) -> BorrowedBytes? {
        guard range.lowerBound >= 0, range.upperBound <= count else { return nil }
        return BorrowedBytes(UnsafeRawBufferPointer(rebasing: buffer[range]))
    }
}

extension AnonymousMemory {
    /// The whole region, read-only (valid while this object lives).
    public var borrowedBytes: BorrowedBytes { BorrowedBytes(start: base, count: byteCount) }
}
