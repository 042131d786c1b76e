import Foundation
import SwapMoECore

/// An open archive: header and manifest validated, dense tensors reachable through a read-only mapping,
/// expert blocks read with `pread` into caller-owned memory.
///
/// Every offset and length in the manifest is checked against the file and its region when the archive is
/// opened, with overflow-checked arithmetic, so later reads cannot run out of bounds.
public final class Archive: Sendable {
    public let path: String
    public let header: ArchiveHeader
    public let manifest: Manifest
    public let fileSize: Int
    let mapping: MappedFile
    let file: FileHandleFD
    private let expertIndex: [ExpertKey: Int]
    private let denseIndex: [String: Int]

    public init(path: String) throws(ArchiveError) {
        self.path = path
        guard FileSystem.exists(path) else { throw .notFound(path) }
        guard !FileSystem.isDirectory(path) else { throw .isDirectory(path) }
        do {
            file = try FileHandleFD.openForReading(path)
            fileSize = try file.size()
            mapping = try MappedFile(path: path)
        } catch { throw .io(error) }

        guard fileSize >= ArchiveFormat.headerSize else {
            if fileSize > 0, mapping.withBytes(0..<min(8, fileSize), { Array($0) }) == Array(ArchiveFormat.magic.prefix(min(8, fileSize))) {
                throw .truncated(path: path, expected: ArchiveFormat.headerReserved, actual: fileSize)
            }
            throw .notAnArchive(path)
        }
        do { header = try mapping.withBytes(0..<ArchiveFormat.headerSize) { (b) throws(ArchiveHeader.DecodeFailure) in try ArchiveHeader(decoding: b) } }
        catch ArchiveHeader.DecodeFailure.badMagic { throw .notAnArchive(path) }
        catch { throw .corruptHeader(path) }
        guard (ArchiveFormat.oldestMajor...ArchiveFormat.major).contains(header.major) else {
            throw .unsupportedVersion(path: path, major: Int(header.major), minor: Int(header.minor))
        }
        guard header.fileLength <= UInt64(Int.max), Int(header.fileLength) <= fileSize else {
            throw .truncated(path: path, expected: Int(clamping: header.fileLength), actual: fileSize)
        }
        let mOff = Int(clamping: header.manifestOffset), mLen = Int(clamping: header.manifestLength)
        let (mEnd, ovf) = mOff.addingReportingOverflow(mLen)
        guard !ovf, mOff >= ArchiveFormat.headerSize, mEnd <= fileSize else {
            throw .outOfBounds(path: path, what: "the manifest", end: mEnd, limit: fileSize)
        }
        let manifestData = mapping.withBytes(mOff..<mEnd) { Data($0) }
        guard manifestData.withUnsafeBytes({ Checksum.xxh3($0) }) == header.manifestChecksum else {
            throw .corruptManifest(path: path, reason: "checksum mismatch")
        }
        do { manifest = try JSONDecoder().decode(Manifest.self, from: manifestData) }
        catch { throw .corruptManifest(path: path, reason: "not a valid v\(header.major) manifest: \(describeDecodingError(error))") }
        mapping.release(mOff..<mEnd)

        try Archive.validateLayout(manifest, path: path, limit: mOff)
        guard ArchiveFormat.major(for: manifest) <= header.major else {
            throw .corruptManifest(path: path, reason: "a version \(header.major) archive lists tensor types of version \(ArchiveFormat.major(for: manifest))")
        }
        var ei: [ExpertKey: Int] = [:]
        for (i, e) in manifest.experts.enumerated() {
            guard ei.updateValue(i, forKey: ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert)) == nil else {
                throw .corruptManifest(path: path, reason: "\(e.label) is listed twice")
            }
        }
        expertIndex = ei
        var di: [String: Int] = [:]
        for (i, d) in manifest.dense.enumerated() {
            guard di.updateValue(i, forKey: d.name) == nil else { throw .corruptManifest(path: path, reason: "tensor '\(d.name)' is listed twice") }
        }
        denseIndex = di
        guard Set(manifest.files.map(\.name)).count == manifest.files.count else {
            throw .corruptManifest(path: path, reason: "an embedded file is listed twice")
        }
    }

    /// The largest raw (decoded) expert block accepted, 1 TiB, and the most all of them may add up to, 1 PiB:
    /// far past any real model, and low enough that no sum or alignment of these lengths can overflow later.
    public static let maxExpertBytes = 1 << 40
    public static let maxTotalExpertBytes = 1 << 50

    /// Checks every range of the manifest against the data area `[headerReserved, limit)`, every tensor's
    /// length against its shape and every expert block against its layout, with overflow-checked arithmetic:
    /// after this, no size, offset or shape taken from the manifest can wrap or reach outside the file.
    static func validateLayout(_ manifest: Manifest, path: String, limit: Int) throws(ArchiveError) {
        func check(_ what: @autoclosure () -> String, _ offset: Int, _ length: Int) throws(ArchiveError) {
            let end = Checked.sum(offset, length)
            guard let end, offset >= ArchiveFormat.headerReserved, length >= 0, end <= limit else {
                throw .outOfBounds(path: path, what: what(), end: end ?? Int.max, limit: limit)
            }
        }
        func corrupt(_ reason: String) -> ArchiveError { .corruptManifest(path: path, reason: reason) }
        for r in manifest.regions { try check("region '\(r.name)'", r.offset, r.length) }
        for f in manifest.files { try check("file '\(f.name)'", f.offset, f.length) }
        for d in manifest.dense {
            try check("tensor '\(d.name)'", d.offset, d.length)
            guard d.dtype.byteCount(shape: d.shape) == d.length else {
                throw corrupt("tensor '\(d.name)' of shape \(d.shape) does not hold its \(d.length) bytes")
            }
        }
        for l in manifest.expertLayouts {
            guard l.rawLength >= 0, l.rawLength <= maxExpertBytes else { throw corrupt("an expert layout has a raw length of \(l.rawLength) bytes") }
            for t in l.tensors {
                guard t.offset >= 0, let end = Checked.sum(t.offset, t.length), t.length >= 0, end <= l.rawLength else {
                    throw corrupt("expert layout tensor '\(t.role)' lies outside its block")
                }
                guard t.dtype.byteCount(shape: t.shape) == t.length else {
                    throw corrupt("expert layout tensor '\(t.role)' of shape \(t.shape) does not hold its \(t.length) bytes")
                }
            }
        }
        var total = 0
        for e in manifest.experts {
            try check(e.label, e.offset, e.storedLength)
            guard e.layer >= 0, e.expert >= 0 else { throw corrupt("\(e.label) has a negative index") }
            guard manifest.expertLayouts.indices.contains(e.layout), manifest.expertLayouts[e.layout].rawLength == e.rawLength else {
                throw corrupt("\(e.label) names a missing or mismatched layout")
            }
            guard e.codec == .lz4 || e.storedLength == e.rawLength else {
                throw corrupt("\(e.label) is stored raw in \(e.storedLength) bytes but decodes to \(e.rawLength)")
            }
            guard (0...8).contains(e.shuffle) else { throw corrupt("\(e.label) has a byte-shuffle width of \(e.shuffle)") }
            guard e.norm.isFinite, e.norm >= 0 else { throw corrupt("\(e.label) has a norm of \(e.norm)") }
            guard UInt64(e.xxh3, radix: 16) != nil else { throw corrupt("\(e.label) has a checksum that is not 16 hex digits") }
            guard let t = Checked.sum(total, e.rawLength), t <= maxTotalExpertBytes else {
                throw corrupt("the expert blocks decode to more than \(ByteSize.format(maxTotalExpertBytes))")
            }
            total = t
        }
        for d in manifest.dense where UInt64(d.xxh3, radix: 16) == nil { throw corrupt("tensor '\(d.name)' has a checksum that is not 16 hex digits") }
    }

    // MARK: Lookup

    public var experts: [ExpertEntry] { manifest.experts }

    public func expert(_ key: ExpertKey) -> ExpertEntry? { expertIndex[key].map { manifest.experts[$0] } }

    public func layout(of e: ExpertEntry) -> ExpertLayout { manifest.expertLayouts[e.layout] }

    public func dense(_ name: String) -> DenseTensor? { denseIndex[name].map { manifest.dense[$0] } }

    /// Calls `body` with a dense tensor's bytes, straight from the read-only mapping (no copy).
    public func withDenseBytes<R, E: Error>(_ t: DenseTensor, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try mapping.withBytes(t.offset..<(t.offset + t.length), body)
    }

    /// A dense tensor's bytes in the read-only mapping (no copy), valid while this archive is open: what a model
    /// builds its weight views from.
    public func denseBytes(_ t: DenseTensor) -> BorrowedBytes { withDenseBytes(t) { BorrowedBytes($0) } }

    /// Reads a dense tensor's bytes with `pread` (through the page cache, never faulting the mapping in) into
    /// `dst` (at least `t.length` bytes) and checks its checksum.
    public func readDense(_ t: DenseTensor, into dst: UnsafeMutableRawBufferPointer) throws(ArchiveError) {
        precondition(dst.count >= t.length, "dense buffer too small")
        try readExactly(into: dst.baseAddress!, count: t.length, offset: t.offset)
        let stored = UnsafeRawBufferPointer(start: dst.baseAddress, count: t.length)
        if Checksum.xxh3(stored) != UInt64(t.xxh3, radix: 16) { throw .checksumMismatch(path: path, block: "dense tensor '\(t.name)'") }
    }

    /// `readDense` into a fresh anonymous region (at least `t.length` bytes), for a copy kept apart from the mapping.
    public func readDense(_ t: DenseTensor, into memory: AnonymousMemory) throws(ArchiveError) {
        try readDense(t, into: memory.bytes)
    }

    /// Drops this process's mapped pages of a dense tensor (the page cache keeps them).
    public func releaseDense(_ t: DenseTensor) { mapping.release(t.offset..<(t.offset + t.length)) }

    /// An embedded file (tokenizer.json, ...), checksum-verified.
    public func fileData(_ name: String) throws(ArchiveError) -> Data? {
        guard let f = manifest.files.first(where: { $0.name == name }) else { return nil }
        let d = mapping.withBytes(f.offset..<(f.offset + f.length)) { Data($0) }
        guard d.withUnsafeBytes({ Checksum.hex(Checksum.xxh3($0)) }) == f.xxh3 else {
            throw .checksumMismatch(path: path, block: "embedded file '\(name)'")
        }
        return d
    }

    // MARK: Expert blocks

    /// Reads an expert's stored block with `pread` into `staging` (at least `storedLength` bytes; unused for a raw
    /// block, which is read straight into `dst`) and decodes it into `dst` (at least `rawLength` bytes). With
    /// `verify`, the stored bytes' checksum is checked first. `scratch` (one chunk) is needed for shuffled LZ4 blocks.
    public func readExpert(_ e: ExpertEntry, into dst: UnsafeMutableRawBufferPointer, staging: UnsafeMutableRawBufferPointer,
                           scratch: UnsafeMutableRawBufferPointer?, verify: Bool = true) throws(ArchiveError) {
        precondition(dst.count >= e.rawLength && (e.codec == .raw || staging.count >= e.storedLength), "expert buffers too small")
        let target = e.codec == .raw ? dst : staging
        try readExactly(into: target.baseAddress!, count: e.storedLength, offset: e.offset)
        try verifyAndDecode(e, stored: UnsafeRawBufferPointer(start: target.baseAddress, count: e.storedLength), into: dst,
                            scratch: scratch, verify: verify)
    }

    /// `pread`s `count` bytes at `offset`; a file that ends first is `.truncated`.
    private func readExactly(into dst: UnsafeMutableRawPointer, count: Int, offset: Int) throws(ArchiveError) {
        let n: Int
        do { n = try file.pread(into: dst, count: count, offset: offset) } catch { throw .io(error) }
        guard n == count else { throw .truncated(path: path, expected: offset + count, actual: offset + n) }
    }

    /// Checks an expert block's stored bytes against its checksum (when `verify`) and decodes them into `dst`
    /// (a no-op for raw blocks, whose stored bytes already are `dst`). `checksum` may pass the manifest's value
    /// pre-parsed, saving the hex parse on hot paths.
    public func verifyAndDecode(_ e: ExpertEntry, stored: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                                scratch: UnsafeMutableRawBufferPointer?, verify: Bool, checksum: UInt64? = nil) throws(ArchiveError) {
        if verify, Checksum.xxh3(stored) != (checksum ?? UInt64(e.xxh3, radix: 16)) { throw .checksumMismatch(path: path, block: e.label) }
        if e.codec == .raw { return }
        do {
            try BlockCodec.decode(codec: e.codec, stored: stored, into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<e.rawLength]),
                                  scratch: scratch, label: e.label)
        } catch { throw .corruptBlock(path: path, block: e.label, reason: error.reason) }
    }

    /// The stored bytes of an expert block inside the read-only mapping (valid while the archive is open).
    /// For raw blocks these are the weights themselves: the resident and mmap paths use them in place.
    public func mappedBlock(_ e: ExpertEntry) -> UnsafeRawBufferPointer {
        mapping.withBytes(e.offset..<(e.offset + e.storedLength)) { $0 }
    }

    /// Advises the kernel about an expert block's pages in the mapping (MADV_WILLNEED / MADV_DONTNEED).
    public func adviseBlock(_ e: ExpertEntry, willNeed: Bool) {
        let r = e.offset..<(e.offset + e.storedLength)
        if willNeed { mapping.willNeed(r) } else { mapping.release(r) }
    }

    /// Convenience for tests and tools: the decoded raw bytes of one expert block.
    public func expertBytes(_ e: ExpertEntry) throws(ArchiveError) -> [UInt8] {
        let dst = UnsafeMutableRawBufferPointer.allocate(byteCount: max(e.rawLength, 1), alignment: ArchiveFormat.blockAlignment)
        let staging = UnsafeMutableRawBufferPointer.allocate(byteCount: max(e.storedLength, 1), alignment: ArchiveFormat.blockAlignment)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ArchiveFormat.chunkSize, alignment: 64)
        defer { dst.deallocate(); staging.deallocate(); scratch.deallocate() }
        try readExpert(e, into: dst, staging: staging, scratch: scratch)
        return Array(UnsafeRawBufferPointer(rebasing: dst[0..<e.rawLength]))
    }

    // MARK: Verification

    /// One block whose stored bytes are damaged, and how: a checksum mismatch or an inconsistent LZ4 trailer.
    public struct VerifyFailure: Sendable, CustomStringConvertible {
        public let block: String
        public let expert: ExpertKey?
        public let reason: String
        public var description: String { "\(block): \(reason)" }
    }

    /// Checks the checksum of every embedded file, dense tensor and expert block, reading with `pread` in
    /// bounded pieces (RSS stays flat on archives of any size). Returns every failure, in file order.
    public func verify(progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws(ArchiveError) -> [VerifyFailure] {
        var items: [(label: String, key: ExpertKey?, offset: Int, length: Int, sum: String, lz4Raw: Int?)] = []
        for f in manifest.files { items.append(("embedded file '\(f.name)'", nil, f.offset, f.length, f.xxh3, nil)) }
        for d in manifest.dense { items.append(("dense tensor '\(d.name)'", nil, d.offset, d.length, d.xxh3, nil)) }
        for e in manifest.experts {
            items.append((e.label, ExpertKey(stack: e.stack, layer: e.layer, expert: e.expert), e.offset, e.storedLength, e.xxh3,
                          e.codec == .lz4 ? e.rawLength : nil))
        }
        items.sort { $0.offset < $1.offset }
        let total = items.reduce(0) { $0 + $1.length }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 4096)
        defer { buf.deallocate() }
        var failures: [VerifyFailure] = []
        var done = 0
        for item in items {
            let (digest, tail) = try streamChecksum(offset: item.offset, length: item.length, buffer: buf,
                                                    keepTail: item.lz4Raw == nil ? 0 : 1 << 16) {
                done += $0
                progress?(done, total)
            }
            if Checksum.hex(digest) != item.sum {
                failures.append(VerifyFailure(block: item.label, expert: item.key, reason: "checksum mismatch"))
            } else if let raw = item.lz4Raw, !LZ4BlockLayout.trailerIsConsistent(tail: tail, storedLength: item.length, rawLength: raw) {
                // An LZ4 block's trailer must also be self-consistent (catches a block cut short at pack time).
                failures.append(VerifyFailure(block: item.label, expert: item.key, reason: "inconsistent LZ4 trailer"))
            }
        }
        return failures
    }

    /// Checks a dense tensor's checksum by reading it with `pread` in bounded pieces (through the page cache,
    /// never faulting in the mapping): for tensors served in place from the mapping, such as an embedding table
    /// only looked up by row, so a damaged one is an error at load rather than wrong output.
    public func verifyDense(_ t: DenseTensor) throws(ArchiveError) {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: min(4 << 20, max(t.length, 1)), alignment: 4096)
        defer { buf.deallocate() }
        let (digest, _) = try streamChecksum(offset: t.offset, length: t.length, buffer: buf, keepTail: 0) { _ in }
        guard UInt64(t.xxh3, radix: 16) == digest else { throw .checksumMismatch(path: path, block: "dense tensor '\(t.name)'") }
    }

    /// The XXH3 of `length` bytes at `offset`, read with `pread`s of `buffer`'s size, and the last `keepTail`
    /// bytes read.
    private func streamChecksum(offset: Int, length: Int, buffer buf: UnsafeMutableRawBufferPointer, keepTail: Int,
                                read: (Int) -> Void) throws(ArchiveError) -> (UInt64, [UInt8]) {
        let bufSize = buf.count
        let h = StreamingChecksum()
        var pos = 0
        var tail: [UInt8] = []
        while pos < length {
            let n = min(bufSize, length - pos)
            let got: Int
            do { got = try file.pread(into: buf.baseAddress!, count: n, offset: offset + pos) } catch { throw .io(error) }
            guard got == n else { throw .truncated(path: path, expected: offset + length, actual: offset + pos + got) }
            let piece = UnsafeRawBufferPointer(start: buf.baseAddress, count: n)
            h.update(piece)
            if keepTail > 0 && pos + n == length { tail = Array(piece.suffix(min(n, keepTail))) }
            pos += n
            read(n)
        }
        return (h.digest, tail)
    }
}
