import CXXHash

/// XXH3-64 (Debian's libxxhash): fast enough (tens of GB/s) to check every expert block as it is loaded.
public enum Checksum {
    public static func xxh3(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        XXH3_64bits(bytes.baseAddress, bytes.count)
    }

    public static func xxh3(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { xxh3($0) } }

    /// The manifest spelling: 16 lowercase hex digits.
    public static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// Incremental XXH3-64 over a stream of pieces; equal to the one-shot hash of their concatenation.
public final class StreamingChecksum {
    private let state: OpaquePointer

    public init() {
        state = XXH3_createState()!
        XXH3_64bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    /// Starts over, as if just created (lets one state serve many blocks without allocating).
    public func reset() { XXH3_64bits_reset(state) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        XXH3_64bits_update(state, bytes.baseAddress, bytes.count)
    }

    public var digest: UInt64 { XXH3_64bits_digest(state) }
}
