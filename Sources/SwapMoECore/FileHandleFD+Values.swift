#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes of typed values (bytes, floats, a little-endian integer) at an offset, so that code above
/// Core never handles a raw pointer to do file I/O.
extension FileHandleFD {
    /// Writes `bytes` at `offset`.
    public func pwrite(bytes: [UInt8], offset: Int) throws(SystemError) {
        try bytes.withUnsafeBytes { b in write(b, offset: offset) }.get()
    }

    /// Writes the floats' bytes (native, little-endian on every platform swapmoe runs on) at `offset`.
    public func pwrite(floats: ArraySlice<Float>, offset: Int) throws(SystemError) {
        try floats.withUnsafeBytes { b in write(b, offset: offset) }.get()
    }

    /// Up to `count` bytes at `offset` (fewer only at the end of the file).
    public func pread(count: Int, offset: Int) throws(SystemError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try out.withUnsafeMutableBytes { b in read(b, offset: offset) }.get()
        out.removeLast(count - n)
        return out
    }

    /// Fills `floats` from the bytes at `offset`; returns how many bytes were read (fewer than the floats'
    /// size only at the end of the file).
    public func pread(floats: inout [Float], offset: Int) throws(SystemError) -> Int {
        try floats.withUnsafeMutableBytes { b in read(b, offset: offset) }.get()
    }

    private func write(_ b: UnsafeRawBufferPointer, offset: Int) -> Result<Void, SystemError> {
        guard let base = b.baseAddress else { return .success(()) }
        return Result { () throws(SystemError) in try pwrite(base, count: b.count, offset: offset) }
    }

    private func read(_ b: UnsafeMutableRawBufferPointer, offset: Int) -> Result<Int, SystemError> {
        guard let base = b.baseAddress else { return .success(0) }
        return Result { () throws(SystemError) -> Int in try pread(into: base, count: b.count, offset: offset) }
    }
}

/// The standard streams, through Core like every other system call.
public enum StandardStream {
    /// Writes all of `bytes` to file descriptor `fd` (1: stdout, 2: stderr), retrying interrupted and short
    /// writes; a failing write (a closed pipe) drops the rest silently, as `print` does.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { b in
            var off = 0
            while off < b.count {
                let (n, _) = retryingEINTR { write(fd, b.baseAddress! + off, b.count - off) }
                if n < 0 { return }
                off += n
            }
        }
    }

    /// Whether `fd` is a terminal.
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}

extension UInt64 {
    /// The 8 little-endian bytes of this value.
    public var littleEndianBytes: [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: self >> (8 * $0)) } }

    /// The value of 8 little-endian bytes.
    public init(littleEndianBytes b: ArraySlice<UInt8>) {
        self = b.prefix(8).enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * $1.offset) }
    }
}
