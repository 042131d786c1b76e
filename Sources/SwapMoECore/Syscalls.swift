#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: which call, on which path, and errno's text.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let path: String
    public let errno: Int32
    public init(_ call: String, path: String, errno: Int32) { self.call = call; self.path = path; self.errno = errno }
    public var description: String {
        "\(call) '\(path)' failed: \(String(cString: strerror(errno)))"
    }
    /// The path does not exist.
    public var isNotFound: Bool { errno == ENOENT }
}

@inline(__always) func currentErrno() -> Int32 {
    #if canImport(Glibc)
    return Glibc.errno
    #else
    return Darwin.errno
    #endif
}

/// Retries a syscall interrupted by a signal (EINTR), as swift-system's `valueOrErrno(retryOnInterrupt:)`.
@inline(__always) func retryingEINTR<T: BinaryInteger>(_ body: () -> T) -> (T, Int32) {
    while true {
        let r = body()
        if r == -1 {
            let e = currentErrno()
            if e == EINTR { continue }
            return (r, e)
        }
        return (r, 0)
    }
}

/// An owned file descriptor, closed on deinit. All I/O goes through full-length loops (short reads/writes
/// are retried) so callers see either the whole range or an error.
public final class FileHandleFD: @unchecked Sendable {
    // @unchecked Sendable: `fd` is immutable after init; pread/pwrite on one descriptor are thread-safe in POSIX.
    public let fd: Int32
    public let path: String

    public init(path: String, flags: Int32, mode: mode_t = 0o644) throws(SystemError) {
        let (fd, e) = retryingEINTR { open(path, flags | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw SystemError("open", path: path, errno: e) }
        self.fd = fd
        self.path = path
    }

    /// `O_DIRECT`: a GNU extension the Swift Glibc module does not export; its value is per architecture.
    #if arch(x86_64) || arch(i386)
    public static let directIOFlag: Int32 = 0o40000
    #elseif arch(arm64) || arch(arm)
    public static let directIOFlag: Int32 = 0o200000
    #else
    public static let directIOFlag: Int32 = 0
    #endif

    public static func openForReading(_ path: String) throws(SystemError) -> FileHandleFD {
        try FileHandleFD(path: path, flags: O_RDONLY)
    }

    deinit { close(fd) }

    /// Size of the file in bytes.
    public func size() throws(SystemError) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat", path: path, errno: currentErrno()) }
        return Int(st.st_size)
    }

    /// Reads exactly `count` bytes at `offset`; a short file is reported as `EIO`-like truncation via `readCount`.
    /// Returns the number of bytes read (less than `count` only at end of file).
    @discardableResult
    public func pread(into buffer: UnsafeMutableRawPointer, count: Int, offset: Int) throws(SystemError) -> Int {
        var done = 0
        while done < count {
            let (n, e) = retryingEINTR { Glibc.pread(fd, buffer + done, count - done, off_t(offset + done)) }
            if n < 0 { throw SystemError("read", path: path, errno: e) }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all `count` bytes at `offset`.
    public func pwrite(_ buffer: UnsafeRawPointer, count: Int, offset: Int) throws(SystemError) {
        var done = 0
        while done < count {
            let (n, e) = retryingEINTR { Glibc.pwrite(fd, buffer + done, count - done, off_t(offset + done)) }
            if n < 0 { throw SystemError("write", path: path, errno: e) }
            done += n
        }
    }

    public func sync() throws(SystemError) {
        let (r, e) = retryingEINTR { fsync(fd) }
        if r != 0 { throw SystemError("fsync", path: path, errno: e) }
    }

    public func truncate(to length: Int) throws(SystemError) {
        let (r, e) = retryingEINTR { ftruncate(fd, off_t(length)) }
        if r != 0 { throw SystemError("ftruncate", path: path, errno: e) }
    }

    /// Best-effort page-cache advice (POSIX_FADV_*); failures are ignored by design.
    public func adviseSequential() { _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) }
    public func dropCache(offset: Int, length: Int) { _ = posix_fadvise(fd, off_t(offset), off_t(length), POSIX_FADV_DONTNEED) }
}

/// A read-only memory mapping of a whole file, unmapped on deinit.
///
/// Mapped pages count as resident (RssFile) once touched, so long streaming passes call `release(_:)` on ranges
/// they are done with; that drops the pages from this process without touching the page cache.
public final class MappedFile: @unchecked Sendable {
    // @unchecked Sendable: the mapping is PROT_READ and never remapped; `base` and `count` are immutable.
    public let path: String
    public let count: Int
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws(SystemError) {
        let file = try FileHandleFD.openForReading(path)
        let size = try file.size()
        self.path = path
        self.count = size
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, file.fd, 0)
        guard let p, p != MAP_FAILED else { throw SystemError("mmap", path: path, errno: currentErrno()) }
        base = p
    }

    deinit { if let base { munmap(base, count) } }

    /// Calls `body` with the bytes `range` of the file. The range must lie inside the file (checked).
    public func withBytes<R, E: Error>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "mapped range out of bounds")
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }

    /// Drops this process's pages for `range` (MADV_DONTNEED on a private read-only mapping re-reads from the
    /// page cache if touched again). Best effort.
    public func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(count, (range.upperBound + page - 1) / page * page)
        _ = madvise(base + start, end - start, MADV_DONTNEED)
    }

    /// Hints that `range` will be read soon (MADV_WILLNEED). Best effort.
    public func willNeed(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(count, (range.upperBound + page - 1) / page * page)
        _ = madvise(base + start, end - start, MADV_WILLNEED)
    }
}

/// Private anonymous memory from `mmap`, unmapped on deinit: the expert arena, resident experts, the DRAM probe.
///
/// It asks for transparent huge pages (`MADV_HUGEPAGE`, honoured when THP is `always` or `madvise`; a no-op
/// otherwise): the kernels stream weights once per token, and 2 MiB pages read measurably faster than 4 KiB
/// ones here (fewer TLB misses). Memory that is written whole right after allocation (`prefault`) is resident
/// either way, so huge pages change no RSS figure; memory touched sparsely could grow RSS in 2 MiB steps,
/// which is why `hugePages` can be turned off.
///
/// `AnonymousMapping` is the owner itself, a `~Copyable` value whose deinit unmaps (for an owner that is one
/// value, such as the expert arena); `AnonymousMemory` is a shared reference to one (for memory kept in
/// collections, such as dense weights).
public struct AnonymousMapping: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: `base` and `byteCount` are immutable and the value has one owner at a time; who
    // writes the bytes when is the owner's protocol.
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int

    /// Maps `byteCount` (> 0) bytes, zero-filled on first touch; with `prefault`, writes every page now.
    public init(byteCount: Int, hugePages: Bool = true, prefault: Bool = false) throws(SystemError) {
        precondition(byteCount > 0, "AnonymousMemory needs a positive size")
        // Huge pages only back the 2 MiB-aligned stretches of a mapping, and the kernel aligns an anonymous mapping
        // only when its size is a multiple of 2 MiB (6.13 and later; not at all before 6.7): map 2 MiB more, keep
        // the aligned part. The size is not rounded up, so a last partial 2 MiB stays on small pages (no RSS added).
        let huge = 2 << 20, page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let align = hugePages && byteCount >= huge
        let span = align ? byteCount + huge : byteCount
        guard let raw = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
            throw SystemError("mmap", path: "anonymous memory", errno: currentErrno())
        }
        var p = raw
        if align {
            let start = UInt(bitPattern: raw)
            let head = Int((start + UInt(huge - 1)) & ~UInt(huge - 1) - start)
            let kept = (byteCount + page - 1) / page * page
            if head > 0 { munmap(raw, head) }
            if span - head - kept > 0 { munmap(raw + head + kept, span - head - kept) }
            p = raw + head
        }
        if hugePages { _ = madvise(p, byteCount, MADV_HUGEPAGE) }
        if prefault { memset(p, 0, byteCount) }
        base = p
        self.byteCount = byteCount
    }

    deinit { munmap(base, byteCount) }
}

/// A shared reference to an `AnonymousMapping` (see there), unmapped when the last reference goes.
public final class AnonymousMemory: Sendable {
    private let mapping: AnonymousMapping
    public var base: UnsafeMutableRawPointer { mapping.base }
    public var byteCount: Int { mapping.byteCount }

    /// Maps `byteCount` (> 0) bytes, zero-filled on first touch; with `prefault`, writes every page now.
    public init(byteCount: Int, hugePages: Bool = true, prefault: Bool = false) throws(SystemError) {
        mapping = try AnonymousMapping(byteCount: byteCount, hugePages: hugePages, prefault: prefault)
    }

    public var bytes: UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(start: base, count: byteCount) }
}

/// Filesystem helpers used by the packer and CLI.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether `path` exists and is something other than a regular file (a device, directory, FIFO or socket),
    /// following symbolic links.
    public static func existsAsNonRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG
    }

    public static func rename(_ from: String, _ to: String) throws(SystemError) {
        guard Glibc.rename(from, to) == 0 else { throw SystemError("rename", path: "\(from) -> \(to)", errno: currentErrno()) }
    }

    public static func remove(_ path: String) { unlink(path) }

    /// fsyncs the directory holding `path`, so a rename into it survives a crash. Best effort.
    public static func syncParentDirectory(of path: String) {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(dir.isEmpty ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { _ = fsync(fd); close(fd) }
    }
}

/// Peak and current resident memory of this process from /proc/self/status (VmHWM, VmRSS), in bytes.
public enum ProcessMemory {
    public static func peakRSS() -> UInt64 { field("VmHWM:") }
    public static func currentRSS() -> UInt64 { field("VmRSS:") }

    static func field(_ name: String) -> UInt64 {
        guard let f = fopen("/proc/self/status", "r") else { return 0 }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let s = line.withUnsafeBufferPointer { b in
                String(decoding: UnsafeRawBufferPointer(b).prefix { $0 != 0 }, as: UTF8.self)
            }
            if s.hasPrefix(name) {
                let digits = s.dropFirst(name.count).filter { $0.isNumber }
                return (UInt64(String(digits)) ?? 0) * 1024
            }
        }
        return 0
    }
}

/// Sequential read bandwidth of the disk behind `path` in GB/s (1e9 bytes/s), bypassing the page cache: `O_DIRECT`
/// reads of `request` bytes, one at a time (what `dd iflag=direct bs=4M` does), over `bytes` of the file from
/// `offset`. Meant to be compared with I/O measured in the same process: on this project's VM the same disk
/// reads at about 1.3 or 2.3 GB/s depending on the process. Uses one `request`-sized buffer, freed on return.
/// Nil if the file cannot be opened with `O_DIRECT` or is too short.
public func measureDirectReadBandwidth(path: String, offset: Int = 0, bytes: Int = 512 << 20, request: Int = 4 << 20) -> Double? {
    guard FileHandleFD.directIOFlag != 0, let file = try? FileHandleFD(path: path, flags: O_RDONLY | FileHandleFD.directIOFlag),
          let size = try? file.size() else { return nil }
    let start = offset & ~4095
    let total = min(bytes, size - start) & ~4095
    guard total >= request else { return nil }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: request, alignment: 4096)
    defer { buffer.deallocate() }
    let t0 = monotonicSeconds()
    var done = 0
    while done < total {
        guard let n = try? file.pread(into: buffer, count: min(request, total - done), offset: start + done), n > 0 else { return nil }
        done += n
    }
    return Double(total) / (monotonicSeconds() - t0) / 1e9
}

/// Monotonic wall clock in seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Monotonic wall clock in nanoseconds (exact integers, for counters summed over many short intervals).
public func monotonicNanoseconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int(ts.tv_sec) &* 1_000_000_000 &+ Int(ts.tv_nsec)
}
