// Normalizers: text -> text transformations applied before pre-tokenization (tokenizer.json "normalizer").

import Foundation
import SwapMoECore

/// The `"type"` strings of normalizers in tokenizer.json.
enum NormalizerType: String, CaseIterable {
    case sequence = "Sequence"
    case nfc = "NFC"
    case nfd = "NFD"
    case nfkc = "NFKC"
    case nfkd = "NFKD"
    case lowercase = "Lowercase"
    case prepend = "Prepend"
    case replace = "Replace"
    case strip = "Strip"
    case stripAccents = "StripAccents"
    case bertNormalizer = "BertNormalizer"
    case nmt = "Nmt"
    case byteLevel = "ByteLevel"
    case precompiled = "Precompiled"
}

indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    case nfc, nfd, nfkc, nfkd
    case lowercase
    case prepend([Unicode.Scalar])
    case replace(pattern: any ScalarPattern, content: [Unicode.Scalar])
    case strip(left: Bool, right: Bool)
    case stripAccents
    case bert(cleanText: Bool, handleChineseChars: Bool, stripAccents: Bool, lowercase: Bool)
    case nmt
    case byteLevel
    case precompiled(PrecompiledCharsmap)

    /// Builds a normalizer from its tokenizer.json object; nil for JSON `null`.
    static func from(json: JSONValue, path: String = "normalizer") throws -> Normalizer? {
        if json.isNull { return nil }
        let f = try JSONFields(json, path: path)
        let type = try f.type(NormalizerType.self, kind: "normalizer")
        switch type {
        case .sequence:
            let items = try f.array("normalizers")
            return .sequence(try items.enumerated().compactMap { try from(json: $1, path: "\(path).normalizers[\($0)]") })
        case .nfc: return .nfc
        case .nfd: return .nfd
        case .nfkc: return .nfkc
        case .nfkd: return .nfkd
        case .lowercase: return .lowercase
        case .prepend: return .prepend(Array(try f.string("prepend").unicodeScalars))
        case .replace:
            return .replace(pattern: try patternFrom(try f.value("pattern"), path: f.sub("pattern")),
                            content: Array(try f.string("content").unicodeScalars))
        case .strip:
            return .strip(left: try f.bool("strip_left", default: true), right: try f.bool("strip_right", default: true))
        case .stripAccents: return .stripAccents
        case .bertNormalizer:
            let lowercase = try f.bool("lowercase", default: true)
            let strip: Bool
            if let v = f.object["strip_accents"], let b = v.boolValue { strip = b } else { strip = lowercase }
            return .bert(cleanText: try f.bool("clean_text", default: true),
                         handleChineseChars: try f.bool("handle_chinese_chars", default: true),
                         stripAccents: strip, lowercase: lowercase)
        case .nmt: return .nmt
        case .byteLevel: return .byteLevel
        case .precompiled:
            return .precompiled(try PrecompiledCharsmap(base64: try f.string("precompiled_charsmap"), path: f.sub("precompiled_charsmap")))
        }
    }

    func normalize(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        switch self {
        case let .sequence(items):
            var t = text
            for n in items { t = n.normalize(t) }
            return t
        case .nfc: return Normalizer.unicodeForm(text) { $0.precomposedStringWithCanonicalMapping }
        case .nfd: return Normalizer.unicodeForm(text) { $0.decomposedStringWithCanonicalMapping }
        case .nfkc: return Normalizer.unicodeForm(text) { $0.precomposedStringWithCompatibilityMapping }
        case .nfkd: return Normalizer.unicodeForm(text) { $0.decomposedStringWithCompatibilityMapping }
        case .lowercase: return Normalizer.lowercased(text)
        case let .prepend(p):
            return text.isEmpty ? text : p + text
        case let .replace(pattern, content):
            return Normalizer.replaceAll(text, pattern: pattern, with: content)
        case let .strip(left, right):
            var lo = 0
            var hi = text.count
            if left { while lo < hi && UnicodeClasses.isWhitespace(text[lo]) { lo += 1 } }
            if right { while hi > lo && UnicodeClasses.isWhitespace(text[hi - 1]) { hi -= 1 } }
            return Array(text[lo..<hi])
        case .stripAccents:
            return text.filter { !UnicodeClasses.isCombiningMark($0) }
        case let .bert(cleanText, handleChinese, stripAccents, lowercase):
            var t = text
            if cleanText {
                t = t.compactMap { c in
                    let v = c.value
                    if v == 0 || v == 0xFFFD { return nil }
                    if v == 0x09 || v == 0x0A || v == 0x0D { return " " }
                    // Control-like categories Cc, Cf, Co are removed, then whitespace becomes ' '.
                    let b = UnicodeClasses.categoryBit(c)
                    if b & ((1 << 25) | (1 << 26) | (1 << 28)) != 0 { return nil }
                    if UnicodeClasses.isWhitespace(c) { return " " }
                    return c
                }
            }
            if handleChinese {
                var out: [Unicode.Scalar] = []
                out.reserveCapacity(t.count)
                for c in t {
                    if Normalizer.isChineseChar(c) {
                        out.append(" ")
                        out.append(c)
                        out.append(" ")
                    } else {
                        out.append(c)
                    }
                }
                t = out
            }
            if stripAccents {
                // BertNormalizer strips only nonspacing marks (Mn), unlike StripAccents.
                t = Normalizer.nfd.normalize(t).filter { UnicodeClasses.categoryBit($0) & (1 << 5) == 0 }
            }
            if lowercase { t = Normalizer.lowercased(t) }
            return t
        case .nmt:
            return text.compactMap { c in
                switch c.value {
                case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x8F, 0x9F: return nil
                case 0x09, 0x0A, 0x0C, 0x0D, 0x1680, 0x200B...0x200F, 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD: return " "
                default: return c
                }
            }
        case .byteLevel:
            return ByteLevelAlphabet.encode(text[...])
        case let .precompiled(charsmap):
            return charsmap.normalize(text)
        }
    }

    private static func unicodeForm(_ text: [Unicode.Scalar], _ f: (String) -> String) -> [Unicode.Scalar] {
        // ASCII is invariant under every normalization form.
        if text.allSatisfy({ $0.value < 0x80 }) { return text }
        var s = String()
        s.unicodeScalars.append(contentsOf: text)
        return Array(f(s).unicodeScalars)
    }

    /// Per-character full lowercase mapping (Rust `char::to_lowercase`, no final-sigma context).
    static func lowercased(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        for c in text {
            let v = c.value
            if v < 0x80 {
                out.append(v >= 0x41 && v <= 0x5A ? Unicode.Scalar(v + 32)! : c)
            } else {
                out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return out
    }

    static func replaceAll(_ text: [Unicode.Scalar], pattern: any ScalarPattern, with content: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let matches = pattern.findMatches(in: text)
        if matches.isEmpty { return text }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.count)
        var last = 0
        for m in matches {
            out.append(contentsOf: text[last..<m.lowerBound])
            out.append(contentsOf: content)
            last = m.upperBound
        }
        out.append(contentsOf: text[last...])
        return out
    }

    static func isChineseChar(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}

/// A `pattern` object of Replace/Split: `{"String": "..."}` or `{"Regex": "..."}`.
func patternFrom(_ json: JSONValue, path: String) throws -> any ScalarPattern {
    let f = try JSONFields(json, path: path)
    if let s = try f.optionalString("String") {
        return LiteralPattern(needle: Array(s.unicodeScalars))
    }
    if let r = try f.optionalString("Regex") {
        return try compileRegex(r)
    }
    throw TokenizerError.invalidField(file: "tokenizer.json", path: path, expected: "must be {\"String\": ...} or {\"Regex\": ...}")
}
