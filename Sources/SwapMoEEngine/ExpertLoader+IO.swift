// ExpertLoader: the I/O back ends of one load. Arena: O_DIRECT `pread` into the slot, or buffered `pread` once
// O_DIRECT is refused (LZ4 blocks with O_DIRECT stream in through `ExpertLoader+LZ4Stream.swift`); mapped:
// read-ahead and page touching on load, MADV_DONTNEED on eviction.

#if canImport(Glibc)
import Glibc
#endif
import SwapMoECore
import SwapMoEArchive

extension LoaderCore {
    /// Arena backend: stored bytes go straight into the slot. A raw block is its own weights; an LZ4 block is read
    /// into the slot's end and decoded in place to its front (`ArchiveFormat.inPlaceLength`), chunk by chunk as
    /// its AIO pieces land when reading with O_DIRECT (`loadStreaming`), else after reading it whole.
    func loadIntoArena(_ e: ExpertEntry, entry: Int, dst: UnsafeMutableRawBufferPointer, _ b: WorkerBuffers) throws(ArchiveError) {
        let target = e.codec == .raw ? dst : UnsafeMutableRawBufferPointer(rebasing: dst[(dst.count - ArchiveFormat.align(e.storedLength, ArchiveFormat.blockAlignment))...])
        if e.codec == .lz4, let reader = b.pieces, let direct, directEnabled.load(ordering: .relaxed) {
            do {
                if try loadStreaming(e, entry: entry, dst: dst, tail: target, b, reader: reader, fd: direct.fd) { return }
            } catch .io(let err) where err.errno == EINVAL {
                // The filesystem takes O_DIRECT opens but not these reads: fall through to `read`, which retries
                // with O_DIRECT once and switches to buffered reads for good.
            }
        }
        try read(e, into: target)
        try archive.verifyAndDecode(e, stored: UnsafeRawBufferPointer(start: target.baseAddress, count: e.storedLength), into: dst,
                                    scratch: b.scratch, verify: verify, checksum: checksums[entry])
    }

    /// Reads a block's stored bytes into `target` (4096-aligned, at least the stored length rounded up to 4096
    /// when O_DIRECT is on). O_DIRECT reads whole 4096-byte blocks, so it may read a little past the block (the
    /// alignment padding or the next block); those bytes are never used. If the filesystem refuses O_DIRECT
    /// (EINVAL), every later read is buffered.
    private func read(_ e: ExpertEntry, into target: UnsafeMutableRawBufferPointer) throws(ArchiveError) {
        let alignedLength = ArchiveFormat.align(e.storedLength, ArchiveFormat.blockAlignment)
        if let direct, directEnabled.load(ordering: .relaxed), target.count >= alignedLength {
            var done = 0
            var refused = false
            while done < e.storedLength {
                let n = Glibc.pread(direct.fd, target.baseAddress! + done, alignedLength - done, off_t(e.offset + done))
                if n < 0 {
                    let err = errno
                    if err == EINTR { continue }
                    if err == EINVAL && done == 0 { refused = true; break }
                    throw .io(SystemError("read", path: archive.path, errno: err))
                }
                if n == 0 { break }
                done += n
                if n % 512 != 0 { break }  // end of file inside a block: nothing more to read aligned
            }
            if !refused {
                guard done >= e.storedLength else { throw .truncated(path: archive.path, expected: e.offset + e.storedLength, actual: e.offset + done) }
                counters.add(LoaderCore.directCounter)
                return
            }
            directEnabled.store(false, ordering: .relaxed)
        }
        let n: Int
        do { n = try buffered.pread(into: target.baseAddress!, count: e.storedLength, offset: e.offset) } catch { throw .io(error) }
        guard n == e.storedLength else { throw .truncated(path: archive.path, expected: e.offset + e.storedLength, actual: e.offset + n) }
    }

    /// Mapped backend: ask for read-ahead, then fault every page in (the checksum pass reads every byte; without
    /// verification one byte per page is enough), so a ready block is served with no page faults to disk.
    func touchMapped(_ e: ExpertEntry, entry: Int) throws(ArchiveError) {
        archive.adviseBlock(e, willNeed: true)
        let block = archive.mappedBlock(e)
        if verify {
            if Checksum.xxh3(block) != checksums[entry] { throw .checksumMismatch(path: archive.path, block: e.label) }
        } else {
            var sum: UInt8 = 0
            var i = 0
            while i < block.count { sum &+= block[i]; i += 4096 }
            if block.count > 0 { sum &+= block[block.count - 1] }
            touchSink.store(sum, ordering: .relaxed)  // keeps the reads from being optimised away
        }
    }

    /// Mapped backend: a slot that stops holding a ready block gives its pages back (MADV_DONTNEED). Called
    /// with the lock held, so a concurrent re-load of the same block into another slot cannot be undone by it.
    func unmapIfMapped(_ old: SlotState) {
        guard arena == nil, case .ready(let k) = old, let i = index[k] else { return }
        archive.adviseBlock(entries[i], willNeed: false)
    }
}
