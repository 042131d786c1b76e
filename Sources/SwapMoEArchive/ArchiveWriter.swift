import Foundation
import SwapMoECore

/// Writes an archive to `<path>.partial`, and only on `finish()` fsyncs and renames it to `<path>`, so an
/// interrupted or failed pack never leaves a file at the target path. `abort()` removes the partial file.
///
/// Order: header page (zeros until the end), `files` region, `dense` region, `experts` region, manifest,
/// then the real header is written over the first 64 bytes.
public final class ArchiveWriter {
    public let path: String
    public let partialPath: String
    private let file: FileHandleFD
    private(set) public var cursor = ArchiveFormat.headerReserved
    private var regionStart: [String: Int] = [:]
    private var regions: [Region] = []
    private var flags: UInt32 = 0
    private var finished = false

    public init(path: String) throws(ArchiveError) {
        self.path = path
        partialPath = path + ".partial"
        // Renaming over a device node or a directory would replace it (as root, /dev/full) or fail at the end.
        for p in [path, partialPath] where FileSystem.existsAsNonRegularFile(p) { throw .notRegularFile(p) }
        FileSystem.remove(partialPath)
        do { file = try FileHandleFD(path: partialPath, flags: O_WRONLY | O_CREAT | O_TRUNC) }
        catch { throw .io(error) }
        InterruptCleanup.register(partialPath)
    }

    deinit { discard() }

    private func discard() {
        guard !finished else { return }
        FileSystem.remove(partialPath)
        InterruptCleanup.unregister(partialPath)
    }

    /// Starts a named region at the next block boundary.
    public func beginRegion(_ name: String) {
        cursor = ArchiveFormat.align(cursor, ArchiveFormat.blockAlignment)
        regionStart[name] = cursor
    }

    public func endRegion(_ name: String) {
        let start = regionStart[name] ?? cursor
        regions.append(Region(name: name, offset: start, length: cursor - start))
    }

    private func write(_ b: UnsafeRawBufferPointer) throws(SystemError) {
        guard b.count > 0 else { return }
        try file.pwrite(b.baseAddress!, count: b.count, offset: cursor)
        cursor += b.count
    }

    /// Writes one block at the next `alignment` boundary. `produce` appends the block's raw bytes to the
    /// encoder it is given; the encoder compresses (if asked) and checksums on the way to the file.
    public func writeBlock(alignment: Int, codec: ExpertCodec, shuffle: Int,
                           _ produce: (BlockSink) throws -> Void) throws -> (offset: Int, storedLength: Int, rawLength: Int, checksum: UInt64) {
        cursor = ArchiveFormat.align(cursor, alignment)
        let offset = cursor
        let encoder = BlockEncoder(codec: codec, shuffle: shuffle) { try self.write($0) }
        try produce(BlockSink(encoder: encoder))
        let (stored, sum) = try encoder.finish()
        if codec == .lz4 { flags |= ArchiveFormat.flagLZ4 }
        if codec == .lz4 && shuffle > 1 { flags |= ArchiveFormat.flagShuffle }
        return (offset, stored, encoder.rawLength, sum)
    }

    /// Writes the manifest and header, fsyncs, and renames the partial file into place.
    public func finish(manifest: Manifest) throws {
        var m = manifest
        m.regions = regions
        m.version = Int(ArchiveFormat.major(for: m))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = try enc.encode(m)
        cursor = ArchiveFormat.align(cursor, ArchiveFormat.tensorAlignment)
        let manifestOffset = cursor
        try json.withUnsafeBytes { try write($0) }
        var h = ArchiveHeader()
        h.major = UInt16(m.version)
        h.flags = flags
        h.manifestOffset = UInt64(manifestOffset)
        h.manifestLength = UInt64(json.count)
        h.manifestChecksum = json.withUnsafeBytes { Checksum.xxh3($0) }
        h.fileLength = UInt64(cursor)
        let header = h.encoded()
        try header.withUnsafeBytes { try file.pwrite($0.baseAddress!, count: $0.count, offset: 0) }
        try file.truncate(to: cursor)
        try file.sync()
        try InterruptCleanup.commit(partialPath, to: path)
        finished = true
        FileSystem.syncParentDirectory(of: path)
    }

    /// Removes the partial file (also done on deinit when `finish` was not reached).
    public func abort() {
        discard()
        finished = true
    }
}

/// What a block producer writes into: raw bytes, in order.
public struct BlockSink {
    let encoder: BlockEncoder
    public func append(_ bytes: UnsafeRawBufferPointer) throws { try encoder.append(bytes) }
    public func appendZeros(_ count: Int) throws { try encoder.appendZeros(count) }
    /// Raw bytes appended so far.
    public var rawLength: Int { encoder.rawLength }
    /// Pads with zeros up to the next multiple of `alignment` of the raw length.
    public func pad(to alignment: Int) throws { try appendZeros(ArchiveFormat.align(rawLength, alignment) - rawLength) }
}
