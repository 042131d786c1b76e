// The `Precompiled` normalizer: SentencePiece's compiled normalization rules (`precompiled_charsmap`, for example
// nmt_nfkc in T5 and ALBERT), applied the way the Rust `tokenizers` library applies them.

import Foundation
import SwapMoECore

/// A SentencePiece `precompiled_charsmap`: a little-endian u32 byte size of a Darts-clone double-array trie, the
/// trie's u32 units, then a pool of NUL-terminated UTF-8 replacement strings. A trie key is a UTF-8 sequence; its
/// value is the offset of the replacement in the pool.
struct PrecompiledCharsmap: Sendable {
    private let units: [UInt32]
    private let pool: [UInt8]
    /// The replacement of each ASCII character (nil: none), looked up once.
    private let asciiReplacements: [[Unicode.Scalar]?]

    init(base64: String, path: String) throws {
        func invalid(_ why: String) -> TokenizerError {
            .invalidField(file: "tokenizer.json", path: path,
                          expected: "must be the base64 of a SentencePiece precompiled_charsmap (\(why)); re-export it from the model's .model file")
        }
        guard let data = Data(base64Encoded: base64) else { throw invalid("not valid base64") }
        let blob = [UInt8](data)
        guard blob.count >= 4 else { throw invalid("shorter than its 4-byte header") }
        let trieBytes = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        let unitCount = trieBytes / 4
        guard unitCount > 0 else { throw invalid("its trie is empty") }
        guard 4 + unitCount * 4 <= blob.count else { throw invalid("its trie size \(trieBytes) exceeds the data") }
        var units = [UInt32](repeating: 0, count: unitCount)
        for i in 0..<unitCount {
            let o = 4 + 4 * i
            units[i] = UInt32(blob[o]) | UInt32(blob[o + 1]) << 8 | UInt32(blob[o + 2]) << 16 | UInt32(blob[o + 3]) << 24
        }
        let pool = Array(blob[(4 + unitCount * 4)...])
        guard String(validatingUTF8Bytes: pool) != nil else { throw invalid("its replacement strings are not UTF-8") }
        self.units = units
        self.pool = pool
        var ascii: [[Unicode.Scalar]?] = []
        for c in 0..<128 {
            let bytes = [UInt8(c)]
            ascii.append(bytes.withUnsafeBufferPointer { PrecompiledCharsmap.transform($0, units: units, pool: pool) })
        }
        asciiReplacements = ascii
    }

    // Darts-clone unit fields.
    @inline(__always) private static func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }
    @inline(__always) private static func value(_ u: UInt32) -> Int { Int(u & 0x7FFF_FFFF) }
    @inline(__always) private static func label(_ u: UInt32) -> UInt32 { u & 0x8000_00FF }
    @inline(__always) private static func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }

    /// The value of the *shortest* key that is a prefix of `key` (the first result of Darts' common prefix search,
    /// which is what tokenizers uses), or nil. A NUL byte ends the key.
    private static func firstPrefixValue(_ key: UnsafeBufferPointer<UInt8>, units: [UInt32]) -> Int? {
        var node = offset(units[0])
        for c in key {
            if c == 0 { return nil }
            node ^= Int(c)
            guard node < units.count else { return nil }
            let unit = units[node]
            if label(unit) != UInt32(c) { return nil }
            node ^= offset(unit)
            if hasLeaf(unit) {
                guard node < units.count else { return nil }
                return value(units[node])
            }
        }
        return nil
    }

    /// The replacement for a chunk whose start matches a key (the whole chunk is replaced, whatever the key's length).
    private static func transform(_ chunk: UnsafeBufferPointer<UInt8>, units: [UInt32], pool: [UInt8]) -> [Unicode.Scalar]? {
        guard let start = firstPrefixValue(chunk, units: units), start <= pool.count else { return nil }
        var end = start
        while end < pool.count && pool[end] != 0 { end += 1 }
        return Array(String(decoding: pool[start..<end], as: UTF8.self).unicodeScalars)
    }

    func transform(_ chunk: [UInt8]) -> [Unicode.Scalar]? {
        chunk.withUnsafeBufferPointer { PrecompiledCharsmap.transform($0, units: units, pool: pool) }
    }

    /// tokenizers' `Precompiled::normalize`: for each extended grapheme cluster shorter than 6 UTF-8 bytes, a key
    /// matching its start replaces the *whole* cluster (so "Ａ\u{301}" becomes "A": the mark goes with it); otherwise
    /// each character is replaced on its own when it is a key.
    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        if text.allSatisfy({ $0.value < 0x80 }) {
            // ASCII: every character is its own cluster except CR LF.
            var i = 0
            while i < text.count {
                let c = text[i]
                if c == "\r" && i + 1 < text.count && text[i + 1] == "\n" {
                    appendCluster(text[i...(i + 1)], to: &out)
                    i += 2
                    continue
                }
                if let r = asciiReplacements[Int(c.value)] { out += r } else { out.append(c) }
                i += 1
            }
            return out
        }
        var s = String()
        s.unicodeScalars.append(contentsOf: text)
        for cluster in s {
            appendCluster(cluster.unicodeScalars[...], to: &out)
        }
        return out
    }

    private func appendCluster<C: Collection>(_ cluster: C, to out: inout [Unicode.Scalar]) where C.Element == Unicode.Scalar {
        var bytes: [UInt8] = []
        for c in cluster { appendUTF8(c, to: &bytes) }
        if bytes.count < 6, let r = transform(bytes) {
            out += r
            return
        }
        if cluster.count == 1 && bytes.count < 6 {
            out += cluster
            return
        }
        for c in cluster {
            var one: [UInt8] = []
            appendUTF8(c, to: &one)
            if let r = transform(one) { out += r } else { out.append(c) }
        }
    }
}
