#if canImport(Glibc)
import Glibc
#endif
import CLinuxAIO
import SwapMoECore
import SwapMoEArchive

/// Reads one stored block with `O_DIRECT` as several pieces submitted together through Linux native AIO, so the
/// disk works on all of them at once while the I/O thread decodes the pieces that have already landed. One
/// reader belongs to one I/O thread (it is not shared, and not `Sendable`).
///
/// Used for LZ4 blocks: decoding chunk 0 can start when the first piece and the trailer are in, instead of after
/// the whole block, so a load costs about its read time rather than read time plus decode time. (Reading the
/// pieces one after another was tried and is slower: a single small request at a time leaves the disk idle.)
///
/// `wait` waits for every piece in flight before it throws, and callers `drain` before they reuse the buffer, so
/// no piece lands in it afterwards.
final class PieceReader {
    /// Pieces are at least this long (multiples of 4096); a block with more than `maxPieces` of them uses
    /// longer ones.
    static let piece = 2 << 20
    static let maxPieces = 128
    /// Pieces in flight at once: enough queued work to keep the disk at full speed (2-4 requests of 2 MiB
    /// measured as fast as one of 14 MiB here), few enough that they land close to in order.
    static let window = 4

    private var context: aio_context_t = 0
    private let iocbs: UnsafeMutablePointer<iocb>
    private let pointers: UnsafeMutablePointer<UnsafeMutablePointer<iocb>?>
    private let events: UnsafeMutablePointer<io_event>

    /// The current read: block-relative range of each piece, the bytes of it that must arrive (the rest is
    /// alignment padding past the block), and whether it has.
    private var ranges: [Range<Int>] = []
    private var needed: [Int] = []
    private var done: [Bool] = []
    private var outstanding = 0
    private var failure: ArchiveError?
    private var path = ""
    private var fileOffset = 0
    private var fd: Int32 = -1
    private var buffer = UnsafeMutableRawPointer(bitPattern: 4096)!
    /// Submission order (piece indices), how far along it submission is, and how many pieces the kernel took.
    private var order: [Int] = []
    private var submitted = 0
    private var accepted = 0

    /// A reader, or nil if the kernel refuses an AIO context (no AIO support, `aio-max-nr` reached, or a
    /// seccomp policy); callers then read whole blocks with `pread`.
    init?() {
        var ctx: aio_context_t = 0
        guard swapmoe_io_setup(UInt32(Self.window), &ctx) == 0 else { return nil }
        context = ctx
        iocbs = .allocate(capacity: Self.maxPieces)
        pointers = .allocate(capacity: 1)
        events = .allocate(capacity: Self.window)
    }

    deinit {
        _ = swapmoe_io_destroy(context)
        iocbs.deallocate(); pointers.deallocate(); events.deallocate()
    }

    /// Starts reading `length` stored bytes at `offset` of `fd` (opened with `O_DIRECT`) into `buffer`
    /// (4096-aligned, at least `length` rounded up to 4096 bytes). At most `window` pieces are in flight, in
    /// order, each submitted as an earlier one lands (with `tailFirst` the piece holding the block's end goes
    /// first, for a reader that needs the trailer before any chunk), so pieces arrive roughly in the order they are
    /// decoded while the disk always has work queued. Returns false, having read nothing, if the kernel refuses
    /// the submission with EINVAL (no `O_DIRECT` here); throws other errors.
    func start(fd: Int32, offset: Int, length: Int, into buffer: UnsafeMutableRawPointer, tailFirst: Bool, path: String) throws(ArchiveError) -> Bool {
        precondition(outstanding == 0, "a PieceReader runs one read at a time")
        self.path = path
        self.fd = fd
        self.buffer = buffer
        fileOffset = offset
        failure = nil
        let aligned = ArchiveFormat.align(length, ArchiveFormat.blockAlignment)
        let size = max(Self.piece, ArchiveFormat.align((aligned + Self.maxPieces - 1) / Self.maxPieces, ArchiveFormat.blockAlignment))
        ranges = stride(from: 0, to: aligned, by: size).map { $0..<min($0 + size, aligned) }
        needed = ranges.map { max(0, min($0.upperBound, length) - $0.lowerBound) }
        done = ranges.map { _ in false }
        order = tailFirst ? [ranges.count - 1] + ranges.indices.dropLast() : Array(ranges.indices)
        submitted = 0
        accepted = 0
        do { try submitMore() } catch {
            if accepted == 0, case .io(let e) = error, e.errno == EINVAL { return false }
            throw error
        }
        return true
    }

    /// Submits pieces in `order` until `window` are in flight.
    private func submitMore() throws(ArchiveError) {
        while submitted < order.count && outstanding < Self.window {
            let piece = order[submitted]
            let r = ranges[piece]
            let cb = iocbs + submitted
            swapmoe_iocb_pread(cb, fd, buffer + r.lowerBound, UInt64(r.count), Int64(fileOffset + r.lowerBound), UInt64(piece))
            pointers[0] = cb
            let n = swapmoe_io_submit(context, 1, pointers)
            if n == 1 { submitted += 1; accepted += 1; outstanding += 1; continue }
            let err = n < 0 ? errno : EIO
            if err == EINTR { continue }
            if err == EAGAIN && outstanding > 0 { reap(minimum: 1); continue }
            drain()
            throw .io(SystemError("io_submit", path: path, errno: err))
        }
    }

    /// Blocks until every piece overlapping `range` (block-relative) has landed. Throws the first failure
    /// (after waiting for every outstanding piece).
    func wait(for range: Range<Int>) throws(ArchiveError) {
        while true {
            if let failure { drain(); throw failure }
            if landed(range) { return }
            precondition(outstanding > 0, "waiting for pieces that were never submitted")
            reap(minimum: 1)
            if failure == nil { try submitMore() }
        }
    }

    /// Whether every piece overlapping `range` has landed, without blocking: collects the completions there are
    /// and submits more pieces first. Throws the first failure, as `wait` does.
    func hasLanded(_ range: Range<Int>) throws(ArchiveError) -> Bool {
        if outstanding > 0 { reap(minimum: 0) }
        if let failure { drain(); throw failure }
        try submitMore()
        return landed(range)
    }

    private func landed(_ range: Range<Int>) -> Bool { ranges.indices.allSatisfy { done[$0] || !ranges[$0].overlaps(range) } }

    /// Waits for every piece in flight and submits no more; leaves any failure to be thrown by the next `wait`.
    func drain() {
        submitted = order.count
        while outstanding > 0 { reap(minimum: outstanding) }
    }

    private func reap(minimum: Int) {
        let n = swapmoe_io_getevents(context, minimum, Self.window, events)
        if n < 0 {
            let err = errno
            if err == EINTR { return }
            // Cannot happen with a valid context; never leave pieces landing in a buffer we hand back.
            fatalError("io_getevents failed: \(String(cString: strerror(err)))")
        }
        for i in 0..<n {
            let ev = events[i]
            let piece = Int(ev.data)
            outstanding -= 1
            if ev.res < 0 {
                failure = failure ?? .io(SystemError("read", path: path, errno: Int32(-ev.res)))
            } else if Int(ev.res) < needed[piece] {
                let start = fileOffset + ranges[piece].lowerBound
                failure = failure ?? .truncated(path: path, expected: start + needed[piece], actual: start + Int(ev.res))
            }
            done[piece] = true
        }
    }
}
