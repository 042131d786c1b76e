import SwapMoECore

/// Constants of archive format v1 to v3 (Docs/ArchiveFormat.md is the specification; keep the two in step).
public enum ArchiveFormat {
    /// `SWAPMOE\0`
    public static let magic: [UInt8] = [0x53, 0x57, 0x41, 0x50, 0x4D, 0x4F, 0x45, 0x00]
    /// The newest major version this build reads and writes. Version 2 adds quantized tensor types (`Q8_0`,
    /// `Q4_K`, ...), version 3 the interleaved layouts `Q4_K_X8`, `Q5_K_X8`, `Q6_K_X8`, `Q4_0_X8`, `Q8_0_X8`, `MXFP4_X8`,
    /// `Q5_0_X8`, `Q4_1_X8`, `Q5_1_X8`, `Q3_K_X8`, `Q2_K_X8`, `IQ4_NL_X8` and `IQ4_XS_X8` (rows interleaved eight at a time); an archive is written with the lowest
    /// version its tensors need, so older readers keep opening what they can read.
    public static let major: UInt16 = 3
    /// The oldest major version this build reads.
    public static let oldestMajor: UInt16 = 1
    public static let minor: UInt16 = 0

    /// The major version an archive needs: 3 with an interleaved tensor (`Q4_K_X8`, ...), 2 when any other is
    /// quantized, else 1.
    public static func major(for manifest: Manifest) -> UInt16 {
        let types = Set(manifest.dense.map(\.dtype) + manifest.expertLayouts.flatMap { $0.tensors.map(\.dtype) })
        return types.contains { $0.rowGroup > 1 } ? 3 : types.contains { $0.isQuantized } ? 2 : 1
    }
    public static let headerSize = 64
    /// The header lives alone in the first page so data regions start page-aligned.
    public static let headerReserved = 4096
    /// Expert blocks and region starts: readable with O_DIRECT and mappable on their own.
    public static let blockAlignment = 4096
    /// Dense tensors and the matrices inside an expert block: cache-line and SIMD aligned.
    public static let tensorAlignment = 64
    /// Raw bytes per independently compressed LZ4 chunk.
    public static let chunkSize = 1 << 20
    /// Marks the trailer of an LZ4 block: `LZ4C`.
    public static let lz4TrailerMagic: UInt32 = 0x4334_5A4C
    public static let lz4TrailerFixed = 16

    public static let flagLZ4: UInt32 = 1 << 0
    public static let flagShuffle: UInt32 = 1 << 1

    @inline(__always) public static func align(_ v: Int, _ a: Int) -> Int { (v + a - 1) / a * a }

    /// Bytes of a buffer in which an expert block of `rawLength` bytes, stored as `codec` in `storedLength`
    /// bytes, can be read and decoded in place: a raw block needs its length (rounded up to 4096); an LZ4 block
    /// is read into the buffer's last `align(storedLength, 4096)` bytes and decoded to its front chunk by chunk,
    /// which needs the raw length plus its chunk table and two 4096-byte blocks of alignment slack when no chunk
    /// is stored larger than it decodes (see `LZ4BlockLayout.decodeChunk`), or the aligned stored length if that
    /// is larger.
    public static func inPlaceLength(rawLength: Int, storedLength: Int, codec: ExpertCodec) -> Int {
        switch codec {
        case .raw: return align(rawLength, blockAlignment)
        case .lz4:
            let table = lz4TrailerFixed + 4 * ((rawLength + chunkSize - 1) / chunkSize)
            return max(align(rawLength + table, blockAlignment) + 2 * blockAlignment, align(storedLength, blockAlignment))
        }
    }
}

/// The fixed 64-byte header at offset 0. All integers little-endian.
///
///     0  magic "SWAPMOE\0"     8  u16 major   10 u16 minor   12 u32 flags
///     16 u64 manifest offset   24 u64 manifest length        32 u64 manifest xxh3
///     40 u64 file length       48 u64 reserved (0)           56 u64 xxh3 of bytes 0..<56
public struct ArchiveHeader: Sendable, Equatable {
    public var major: UInt16 = ArchiveFormat.major
    public var minor: UInt16 = ArchiveFormat.minor
    public var flags: UInt32 = 0
    public var manifestOffset: UInt64 = 0
    public var manifestLength: UInt64 = 0
    public var manifestChecksum: UInt64 = 0
    public var fileLength: UInt64 = 0

    public init() {}

    public func encoded() -> [UInt8] {
        var b = ArchiveFormat.magic
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        put(major); put(minor); put(flags)
        put(manifestOffset); put(manifestLength); put(manifestChecksum); put(fileLength); put(UInt64(0))
        put(Checksum.xxh3(b))
        return b
    }

    public enum DecodeFailure: Error { case badMagic, badChecksum }

    public init(decoding b: UnsafeRawBufferPointer) throws(DecodeFailure) {
        guard b.count >= ArchiveFormat.headerSize, Array(b[0..<8]) == ArchiveFormat.magic else { throw .badMagic }
        func get<T: FixedWidthInteger>(_ o: Int, _: T.Type) -> T { T(littleEndian: b.loadUnaligned(fromByteOffset: o, as: T.self)) }
        guard get(56, UInt64.self) == Checksum.xxh3(UnsafeRawBufferPointer(rebasing: b[0..<56])) else { throw .badChecksum }
        major = get(8, UInt16.self); minor = get(10, UInt16.self); flags = get(12, UInt32.self)
        manifestOffset = get(16, UInt64.self); manifestLength = get(24, UInt64.self)
        manifestChecksum = get(32, UInt64.self); fileLength = get(40, UInt64.self)
    }
}
