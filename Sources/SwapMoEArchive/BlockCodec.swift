import CLZ4
import SwapMoECore

/// The stored form of an LZ4 expert block (the raw codec stores the raw bytes as they are):
///
///     chunk payload 0 | chunk payload 1 | ... | u32 stored_size[n] | u32 n | u32 chunk_size | u32 shuffle | u32 "LZ4C"
///
/// Every `chunk_size` bytes of the raw block (the last chunk may be shorter) are shuffled (if `shuffle` > 1)
/// and compressed independently with LZ4 block compression, so chunks can be decoded in parallel and the
/// packer never holds more than one chunk. A chunk whose compressed size would not be smaller than its raw
/// size is stored raw: `stored_size == raw chunk size` means "copy".
public enum BlockCodec {
    /// Decodes a stored block into `dst` (exactly `rawLength` bytes). `scratch` must hold `chunkSize` bytes
    /// when the block is shuffled.
    public static func decode(codec: ExpertCodec, stored: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                              scratch: UnsafeMutableRawBufferPointer?, label: @autoclosure () -> String) throws(BlockDecodeError) {
        switch codec {
        case .raw:
            guard stored.count == dst.count else { throw .init("\(label()) stores \(stored.count) bytes but decodes to \(dst.count)") }
            dst.copyMemory(from: stored)
        case .lz4:
            try decodeLZ4(stored, into: dst, scratch: scratch, label: label())
        }
    }

    static func decodeLZ4(_ stored: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                          scratch: UnsafeMutableRawBufferPointer?, label: String) throws(BlockDecodeError) {
        let t: LZ4BlockLayout
        do { t = try LZ4BlockLayout(stored, rawLength: dst.count) } catch { throw .init("\(label) \(error.reason)") }
        for i in 0..<t.chunkCount { try t.decodeChunk(i, stored: stored, into: dst, scratch: scratch, label: label) }
    }
}

/// Where the chunks of one stored LZ4 block are, read from its trailer (see `BlockCodec`). Lets a reader decode
/// chunk by chunk, in order, as the block's stored bytes arrive: chunk `i` needs only `storedRange(i)` and the
/// trailer.
public struct LZ4BlockLayout: Sendable {
    public let storedSizes: [Int]
    /// Stored offset of each chunk's payload within the block.
    public let storedStarts: [Int]
    public let chunkSize: Int
    public let shuffle: Int
    public let rawLength: Int
    /// Bytes of trailer (chunk table and fixed fields) at the block's end.
    public let trailerLength: Int

    public var chunkCount: Int { storedSizes.count }
    public func storedRange(_ i: Int) -> Range<Int> { storedStarts[i]..<(storedStarts[i] + storedSizes[i]) }

    /// The trailer's length from the block's last `ArchiveFormat.lz4TrailerFixed` bytes (`tail` ends where the
    /// block ends), or nil if they are not an LZ4 trailer. A reader that has only the block's end can learn
    /// from this how many more bytes the chunk table needs.
    public static func trailerLength(tail: UnsafeRawBufferPointer) -> Int? {
        let fixed = ArchiveFormat.lz4TrailerFixed
        guard tail.count >= fixed else { return nil }
        func u32(_ o: Int) -> Int { Int(UInt32(littleEndian: tail.loadUnaligned(fromByteOffset: tail.count - o, as: UInt32.self))) }
        guard UInt32(u32(4)) == ArchiveFormat.lz4TrailerMagic else { return nil }
        return fixed + 4 * u32(16)
    }

    /// Whether an LZ4 block's trailer is self-consistent, from the block's last bytes alone (`tail`, at most
    /// 64 KiB of them): its magic, a positive chunk size, a chunk table inside the block and as many chunks as
    /// `rawLength` needs. `inspect --verify` uses it to catch a block cut short at pack time.
    public static func trailerIsConsistent(tail: [UInt8], storedLength: Int, rawLength: Int) -> Bool {
        guard storedLength >= ArchiveFormat.lz4TrailerFixed, tail.count >= ArchiveFormat.lz4TrailerFixed else { return false }
        return tail.withUnsafeBytes { t in
            let c = Int(UInt32(littleEndian: t.loadUnaligned(fromByteOffset: t.count - 12, as: UInt32.self)))
            guard let length = trailerLength(tail: t), c > 0, length <= storedLength else { return false }
            return (length - ArchiveFormat.lz4TrailerFixed) / 4 == (rawLength + c - 1) / c
        }
    }

    /// Parses and validates the trailer at the end of `stored` (a whole stored block; only the trailer's bytes
    /// are read).
    public init(_ stored: UnsafeRawBufferPointer, rawLength: Int) throws(BlockDecodeError) {
        let fixed = ArchiveFormat.lz4TrailerFixed
        guard stored.count >= fixed else { throw .init("is too short for its LZ4 trailer") }
        guard let length = Self.trailerLength(tail: stored) else { throw .init("has no LZ4 trailer") }
        func u32(_ o: Int) -> Int { Int(UInt32(littleEndian: stored.loadUnaligned(fromByteOffset: o, as: UInt32.self))) }
        let end = stored.count
        let shuffle = u32(end - 8), chunk = u32(end - 12), n = u32(end - 16)
        guard chunk > 0, n == (rawLength + chunk - 1) / chunk, shuffle <= 8 else { throw .init("has an inconsistent LZ4 trailer") }
        let tableStart = end - length
        guard tableStart >= 0 else { throw .init("has an LZ4 chunk table larger than the block") }
        var sizes: [Int] = [], starts: [Int] = []
        sizes.reserveCapacity(n); starts.reserveCapacity(n)
        var total = 0
        for i in 0..<n {
            let s = u32(tableStart + 4 * i)
            starts.append(total); sizes.append(s); total += s
        }
        guard total == tableStart else { throw .init("has LZ4 chunk sizes that do not add up to its payload") }
        storedSizes = sizes; storedStarts = starts
        chunkSize = chunk; self.shuffle = shuffle; self.rawLength = rawLength; trailerLength = length
    }

    /// Decodes chunk `i` from `stored` (the whole stored block; only `storedRange(i)` is read) into its place in
    /// `dst` (the block's `rawLength` raw bytes). `scratch` must hold one chunk when the block is shuffled or
    /// when `stored` lies inside `dst`: the chunk is then decoded into `scratch` first, as LZ4 cannot decode onto
    /// its own input.
    ///
    /// In place (`stored` at the end of `dst`, see `ArchiveFormat.inPlaceLength`), chunks must be decoded in
    /// order, and chunk `i`'s raw bytes may only cover stored bytes of chunks up to `i`, already decoded: that
    /// holds whenever no chunk is stored larger than it decodes (the packer's rule); a chunk that would
    /// overwrite stored bytes not yet decoded is refused before anything is written.
    public func decodeChunk(_ i: Int, stored: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                            scratch: UnsafeMutableRawBufferPointer?, label: @autoclosure () -> String) throws(BlockDecodeError) {
        let inPlace = try checkPlace(i, stored: stored, into: dst, label: label())
        if shuffle > 1 || inPlace {
            guard let scratch else { throw .init("\(label()): decode scratch buffer too small") }
            try decompressChunk(i, stored: stored, into: scratch, label: label())
            placeChunk(i, from: UnsafeRawBufferPointer(scratch), into: dst)
        } else {
            try decompress(i, stored: stored, to: dst.baseAddress! + i * chunkSize, label: label())
        }
    }

    /// Decoding split in two, so several threads can decode chunks of one block at once: `decompressChunk`
    /// decodes chunk `i` into a thread's own `scratch` (one chunk), reading only `storedRange(i)` of `stored` and
    /// writing nothing else, so it may run for any landed chunk while other chunks are being placed. Its bytes
    /// are still shuffled, if the block is.
    public func decompressChunk(_ i: Int, stored: UnsafeRawBufferPointer, into scratch: UnsafeMutableRawBufferPointer,
                                label: @autoclosure () -> String) throws(BlockDecodeError) {
        guard scratch.count >= min(chunkSize, rawLength) else { throw .init("\(label()): decode scratch buffer too small") }
        try decompress(i, stored: stored, to: scratch.baseAddress!, label: label())
    }

    /// The second half: un-shuffles (or copies) chunk `i`'s bytes from `scratch`, where `decompressChunk` left
    /// them, to their place in `dst`. In place, chunks must be placed in order, each after the chunks before it
    /// (`decodeChunk`'s rule), and the same check refuses a chunk that would overwrite stored bytes of a later
    /// chunk, before anything is written.
    public func placeChunk(_ i: Int, from scratch: UnsafeRawBufferPointer, stored: UnsafeRawBufferPointer,
                           into dst: UnsafeMutableRawBufferPointer, label: @autoclosure () -> String) throws(BlockDecodeError) {
        _ = try checkPlace(i, stored: stored, into: dst, label: label())
        placeChunk(i, from: scratch, into: dst)
    }

    private func placeChunk(_ i: Int, from scratch: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) {
        let rawStart = i * chunkSize, rawCount = min(chunkSize, rawLength - rawStart)
        if shuffle > 1 {
            ByteShuffle.unshuffle(scratch.baseAddress!, dst.baseAddress! + rawStart, count: rawCount, width: shuffle)
        } else {
            (dst.baseAddress! + rawStart).copyMemory(from: scratch.baseAddress!, byteCount: rawCount)
        }
    }

    /// Checks that chunk `i` fits `dst` and, when `stored` lies inside `dst` (in place), that its raw bytes end
    /// before its own stored bytes do; returns whether it is in place.
    private func checkPlace(_ i: Int, stored: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                            label: @autoclosure () -> String) throws(BlockDecodeError) -> Bool {
        guard dst.count >= rawLength else { throw .init("\(label()): decode buffer smaller than the block") }
        let inPlace = UnsafeRawPointer(dst.baseAddress!) < stored.baseAddress! + stored.count
            && stored.baseAddress! < UnsafeRawPointer(dst.baseAddress! + dst.count)
        if inPlace {
            let rawStart = i * chunkSize, rawCount = min(chunkSize, rawLength - rawStart)
            let storedAt = stored.baseAddress! - UnsafeRawPointer(dst.baseAddress!)
            guard storedAt >= 0, rawStart + rawCount <= storedAt + storedStarts[i] + storedSizes[i] else {
                throw .init("\(label()): LZ4 chunk \(i) is stored larger than it decodes (cannot be decoded in place)")
            }
        }
        return inPlace
    }

    /// LZ4-decodes (or copies, for a chunk stored uncompressed) chunk `i` to `out` (room for its raw bytes).
    private func decompress(_ i: Int, stored: UnsafeRawBufferPointer, to out: UnsafeMutableRawPointer,
                            label: @autoclosure () -> String) throws(BlockDecodeError) {
        let rawCount = min(chunkSize, rawLength - i * chunkSize)
        let src = stored.baseAddress! + storedStarts[i], size = storedSizes[i]
        if size == rawCount {
            out.copyMemory(from: src, byteCount: rawCount)
        } else {
            let n = LZ4_decompress_safe(src.assumingMemoryBound(to: CChar.self), out.assumingMemoryBound(to: CChar.self),
                                        Int32(size), Int32(rawCount))
            guard n == Int32(rawCount) else { throw .init("\(label()): LZ4 chunk \(i) does not decode") }
        }
    }
}

public struct BlockDecodeError: Error, CustomStringConvertible {
    public let reason: String
    init(_ r: String) { reason = r }
    public var description: String { reason }
}

/// Streams the raw bytes of one block into the archive file, encoding and checksumming as it goes. Memory is
/// bounded by one chunk whatever the block size.
final class BlockEncoder {
    let codec: ExpertCodec
    let shuffle: Int
    private let sink: (UnsafeRawBufferPointer) throws -> Void
    private let hash = StreamingChecksum()
    private var chunk: UnsafeMutableRawBufferPointer
    private var shuffled: UnsafeMutableRawBufferPointer
    private var compressed: UnsafeMutableRawBufferPointer
    private var fill = 0
    private var sizes: [UInt32] = []
    private(set) var rawLength = 0
    private(set) var storedLength = 0

    init(codec: ExpertCodec, shuffle: Int, sink: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.codec = codec
        self.shuffle = shuffle
        self.sink = sink
        let c = ArchiveFormat.chunkSize
        chunk = codec == .lz4 ? .allocate(byteCount: c, alignment: 64) : .init(start: nil, count: 0)
        shuffled = codec == .lz4 && shuffle > 1 ? .allocate(byteCount: c, alignment: 64) : .init(start: nil, count: 0)
        compressed = codec == .lz4 ? .allocate(byteCount: Int(LZ4_compressBound(Int32(c))), alignment: 64) : .init(start: nil, count: 0)
    }

    deinit { chunk.deallocate(); shuffled.deallocate(); compressed.deallocate() }

    private func emit(_ b: UnsafeRawBufferPointer) throws {
        hash.update(b)
        try sink(b)
        storedLength += b.count
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        rawLength += bytes.count
        guard codec == .lz4 else { try emit(bytes); return }
        var i = 0
        while i < bytes.count {
            let n = min(bytes.count - i, chunk.count - fill)
            (chunk.baseAddress! + fill).copyMemory(from: bytes.baseAddress! + i, byteCount: n)
            fill += n; i += n
            if fill == chunk.count { try flushChunk() }
        }
    }

    func appendZeros(_ count: Int) throws {
        guard count > 0 else { return }
        let zeros = [UInt8](repeating: 0, count: count)
        try zeros.withUnsafeBytes { try append($0) }
    }

    private func flushChunk() throws {
        guard fill > 0 else { return }
        var src = UnsafeRawPointer(chunk.baseAddress!)
        if shuffle > 1 {
            ByteShuffle.shuffle(src, shuffled.baseAddress!, count: fill, width: shuffle)
            src = UnsafeRawPointer(shuffled.baseAddress!)
        }
        let n = Int(LZ4_compress_default(src.assumingMemoryBound(to: CChar.self), compressed.baseAddress!.assumingMemoryBound(to: CChar.self),
                                         Int32(fill), Int32(compressed.count)))
        if n > 0 && n < fill {
            try emit(UnsafeRawBufferPointer(start: compressed.baseAddress, count: n))
            sizes.append(UInt32(n))
        } else {
            try emit(UnsafeRawBufferPointer(start: src, count: fill))
            sizes.append(UInt32(fill))
        }
        fill = 0
    }

    /// Flushes the last chunk and the trailer; returns the stored length and checksum.
    func finish() throws -> (storedLength: Int, checksum: UInt64) {
        if codec == .lz4 {
            try flushChunk()
            var t: [UInt8] = []
            func put(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { t.append(contentsOf: $0) } }
            sizes.forEach(put)
            put(UInt32(sizes.count)); put(UInt32(ArchiveFormat.chunkSize)); put(UInt32(shuffle)); put(ArchiveFormat.lz4TrailerMagic)
            try t.withUnsafeBytes { try emit($0) }
        }
        return (storedLength, hash.digest)
    }
}
