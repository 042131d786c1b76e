// Decoders: turn token strings back into text (tokenizer.json "decoder").

import SwapMoECore

/// The `"type"` strings of decoders in tokenizer.json.
enum DecoderType: String, CaseIterable {
    case byteLevel = "ByteLevel"
    case replace = "Replace"
    case byteFallback = "ByteFallback"
    case fuse = "Fuse"
    case strip = "Strip"
    case metaspace = "Metaspace"
    case sequence = "Sequence"
    case wordPiece = "WordPiece"
    case bpeDecoder = "BPEDecoder"
}

indirect enum TokenDecoder: Sendable {
    case byteLevel
    case replace(pattern: any ScalarPattern, content: [Unicode.Scalar])
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme)
    case wordPiece(prefix: String, cleanup: Bool)
    case bpe(suffix: String)
    case sequence([TokenDecoder])

    static func from(json: JSONValue, path: String = "decoder") throws -> TokenDecoder? {
        if json.isNull { return nil }
        let f = try JSONFields(json, path: path)
        let type = try f.type(DecoderType.self, kind: "decoder")
        switch type {
        case .byteLevel: return .byteLevel
        case .replace:
            return .replace(pattern: try patternFrom(try f.value("pattern"), path: f.sub("pattern")),
                            content: Array(try f.string("content").unicodeScalars))
        case .byteFallback: return .byteFallback
        case .fuse: return .fuse
        case .strip:
            return .strip(content: try f.character("content"), start: try f.int("start", default: 0), stop: try f.int("stop", default: 0))
        case .metaspace:
            return .metaspace(replacement: try f.character("replacement"), prependScheme: try PrependScheme.from(f, path: path))
        case .sequence:
            let items = try f.array("decoders")
            return .sequence(try items.enumerated().compactMap { try from(json: $1, path: "\(path).decoders[\($0)]") })
        case .wordPiece:
            return .wordPiece(prefix: try f.optionalString("prefix") ?? "##", cleanup: try f.bool("cleanup", default: true))
        case .bpeDecoder:
            return .bpe(suffix: try f.optionalString("suffix") ?? "</w>")
        }
    }

    /// Whether `<0xNN>` tokens are turned back into bytes (the streaming decoder must then wait for a byte run to end).
    var containsByteFallback: Bool {
        switch self {
        case .byteFallback: return true
        case let .sequence(items): return items.contains { $0.containsByteFallback }
        default: return false
        }
    }

    func decode(_ tokens: [String]) -> String {
        decodeChain(tokens.map { Array($0.unicodeScalars) }).reduce(into: String()) { s, t in s.unicodeScalars.append(contentsOf: t) }
    }

    func decodeChain(_ tokens: [[Unicode.Scalar]]) -> [[Unicode.Scalar]] {
        switch self {
        case let .sequence(items):
            var t = tokens
            for d in items { t = d.decodeChain(t) }
            return t
        case .byteLevel:
            var bytes: [UInt8] = []
            for token in tokens {
                let start = bytes.count
                var allMapped = true
                for c in token {
                    if let b = ByteLevelAlphabet.byte(for: c) { bytes.append(b) } else { allMapped = false; break }
                }
                if !allMapped {
                    bytes.removeSubrange(start...)
                    for c in token { appendUTF8(c, to: &bytes) }
                }
            }
            return [Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)]
        case let .replace(pattern, content):
            return tokens.map { Normalizer.replaceAll($0, pattern: pattern, with: content) }
        case .byteFallback:
            var out: [[Unicode.Scalar]] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = String(validatingUTF8Bytes: pending) {
                    out.append(Array(s.unicodeScalars))
                } else {
                    for _ in pending { out.append(["\u{FFFD}"]) }
                }
                pending.removeAll()
            }
            for token in tokens {
                if let b = TokenDecoder.byteFallbackValue(token) {
                    pending.append(b)
                } else {
                    flush()
                    out.append(token)
                }
            }
            flush()
            return out
        case .fuse:
            return [tokens.flatMap { $0 }]
        case let .strip(content, start, stop):
            return tokens.map { token in
                var lo = 0
                while lo < min(start, token.count) && token[lo] == content { lo += 1 }
                var hi = token.count
                var k = 0
                while k < stop && hi > lo && token[hi - 1] == content {
                    hi -= 1
                    k += 1
                }
                return Array(token[lo..<hi])
            }
        case let .metaspace(replacement, scheme):
            return tokens.enumerated().map { i, token in
                var out: [Unicode.Scalar] = []
                out.reserveCapacity(token.count)
                for c in token {
                    if c == replacement {
                        if !(i == 0 && scheme != .never) { out.append(" ") }
                    } else {
                        out.append(c)
                    }
                }
                return out
            }
        case let .wordPiece(prefix, cleanup):
            let p = Array(prefix.unicodeScalars)
            return tokens.enumerated().map { i, token in
                var t = token
                if i != 0 {
                    if t.starts(with: p) { t.removeFirst(p.count) } else { t.insert(" ", at: 0) }
                }
                if cleanup { t = TokenDecoder.wordPieceCleanup(t) }
                return t
            }
        case let .bpe(suffix):
            let s = LiteralPattern(needle: Array(suffix.unicodeScalars))
            return tokens.enumerated().map { i, token in
                Normalizer.replaceAll(token, pattern: s, with: i == tokens.count - 1 ? [] : [" "])
            }
        }
    }

    /// The byte of a `<0xNN>` token (Rust: 6 bytes, "<0x" prefix, ">" suffix, two hex digits).
    static func byteFallbackValue(_ token: [Unicode.Scalar]) -> UInt8? {
        guard token.count == 6, token[0] == "<", token[1] == "0", token[2] == "x", token[5] == ">" else { return nil }
        func hex(_ c: Unicode.Scalar) -> UInt8? {
            switch c.value {
            case 0x30...0x39: return UInt8(c.value - 0x30)
            case 0x41...0x46: return UInt8(c.value - 0x41 + 10)
            case 0x61...0x66: return UInt8(c.value - 0x61 + 10)
            default: return nil
            }
        }
        guard let h = hex(token[3]), let l = hex(token[4]) else { return nil }
        return h << 4 | l
    }

    static func wordPieceCleanup(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let rules: [(String, String)] = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                                         (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
        var s = t
        for (a, b) in rules {
            s = Normalizer.replaceAll(s, pattern: LiteralPattern(needle: Array(a.unicodeScalars)), with: Array(b.unicodeScalars))
        }
        return s
    }
}

extension String {
    /// Strict UTF-8 decoding; nil when the bytes are not valid UTF-8.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        var scalars = String.UnicodeScalarView()
        var it = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&it) {
            case let .scalarValue(s): scalars.append(s)
            case .emptyInput: break loop
            case .error: return nil
            }
        }
        self.init(scalars)
    }
}
