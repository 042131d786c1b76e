// Regular expressions for Split / Replace, matching as the Rust tokenizers library does with Oniguruma.
//
// `BacktrackingRegex` is a small backtracking matcher over Unicode scalars that covers the syntax used by
// tokenizer.json files in practice (GPT-2, Qwen2, Llama-3, DeepSeek-style splitting patterns): alternation,
// groups, (?i:...), classes with \p{..}/\s/\d/\w, greedy and lazy quantifiers, lookahead. It follows Oniguruma's
// semantics (leftmost match, first alternative wins, \s = Unicode White_Space) and is fast because runs of a single
// class are matched in one step. Anything outside that subset falls back to NSRegularExpression (ICU), whose
// matches are converted from UTF-16 offsets back to scalar offsets.

import Foundation

/// Finds non-overlapping matches in a scalar array, as (start, end) scalar offsets.
protocol ScalarPattern: Sendable {
    func findMatches(in text: [Unicode.Scalar]) -> [Range<Int>]
}

/// Compiles a pattern from tokenizer.json: the built-in matcher when it supports the syntax, else ICU.
func compileRegex(_ pattern: String) throws -> any ScalarPattern {
    if let r = try? BacktrackingRegex(pattern) { return r }
    return try ICURegex(pattern)
}

// MARK: - Character classes

struct CharClass: Sendable {
    var negated = false
    var ranges: [ClosedRange<UInt32>] = []
    var categories: UInt32 = 0
    var whitespace = false
    var notWhitespace = false
    var word = false
    var notWord = false
    /// `\w` / `\W` written outside brackets (see `UnicodeClasses.isWord`).
    var wordLatin1Quirk = false
    var notCategories: UInt32 = 0  // \P{..}: members are scalars NOT in these categories
    var anyButNewline = false
    var children: [CharClass] = []
    var caseInsensitive = false
    // Final membership (including negation and case folding) for ASCII, computed by `finalize()`.
    var asciiLow: UInt64 = 0
    var asciiHigh: UInt64 = 0

    static func single(_ v: UInt32) -> CharClass {
        var c = CharClass()
        c.ranges = [v...v]
        return c
    }

    mutating func finalize() {
        for i in children.indices { children[i].finalize() }
        asciiLow = 0
        asciiHigh = 0
        for v in UInt32(0)..<128 where slowContains(v) {
            if v < 64 { asciiLow |= 1 << UInt64(v) } else { asciiHigh |= 1 << UInt64(v - 64) }
        }
    }

    @inline(__always)
    func contains(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 64 { return asciiLow & (1 << UInt64(v)) != 0 }
        if v < 128 { return asciiHigh & (1 << UInt64(v - 64)) != 0 }
        return slowContains(v)
    }

    private func rawContains(_ v: UInt32) -> Bool {
        guard let s = Unicode.Scalar(v) else { return false }
        for r in ranges where r.contains(v) { return true }
        if anyButNewline && v != 0x0A { return true }
        if categories != 0 || notCategories != 0 {
            let b = UnicodeClasses.categoryBit(s)
            if b & categories != 0 { return true }
            if notCategories != 0 && b & notCategories == 0 { return true }
        }
        if whitespace && UnicodeClasses.isWhitespace(s) { return true }
        if notWhitespace && !UnicodeClasses.isWhitespace(s) { return true }
        if word && UnicodeClasses.isWord(s, latin1Quirk: wordLatin1Quirk) { return true }
        if notWord && !UnicodeClasses.isWord(s, latin1Quirk: wordLatin1Quirk) { return true }
        for c in children where c.contains(s) { return true }
        return false
    }

    func slowContains(_ v: UInt32) -> Bool {
        var hit = rawContains(v)
        if !hit && caseInsensitive {
            for f in CharClass.caseVariants(v) where rawContains(f) {
                hit = true
                break
            }
        }
        return hit != negated
    }

    /// Scalars equal to `v` under simple case folding (what (?i) compares).
    static func caseVariants(_ v: UInt32) -> [UInt32] {
        guard let s = Unicode.Scalar(v) else { return [] }
        var out: [UInt32] = []
        let p = s.properties
        for m in [p.lowercaseMapping, p.uppercaseMapping, p.titlecaseMapping] {
            let u = m.unicodeScalars
            if u.count == 1, let f = u.first, f.value != v { out.append(f.value) }
        }
        // Folds that the simple mappings above miss.
        switch v {
        case 0x73, 0x53: out.append(0x17F)  // s, S ~ long s
        case 0x17F: out += [0x73, 0x53]
        case 0x6B, 0x4B: out.append(0x212A)  // k, K ~ Kelvin sign
        case 0x212A: out += [0x6B, 0x4B]
        case 0xE5, 0xC5: out.append(0x212B)  // å ~ Angstrom sign
        case 0x212B: out += [0xE5, 0xC5]
        default: break
        }
        return out
    }
}

// MARK: - ICU fallback

/// NSRegularExpression-backed pattern for syntax the built-in matcher does not cover.
final class ICURegex: ScalarPattern, @unchecked Sendable {
    // NSRegularExpression is immutable and documented as thread-safe.
    private let regex: NSRegularExpression

    init(_ pattern: String) throws {
        do {
            regex = try NSRegularExpression(pattern: ICURegex.translate(pattern), options: [])
        } catch {
            throw TokenizerError.invalidRegex(pattern: pattern, reason: "\(error)")
        }
    }

    /// ICU's `\s` is `[\t\n\f\r\p{Z}]`; Oniguruma's is Unicode White_Space, which adds U+000B and U+0085.
    static func translate(_ pattern: String) -> String {
        let space = #"\t\n\x{0B}\f\r\x{85}\p{Z}"#
        var out = ""
        var inClass = 0
        var it = pattern.unicodeScalars.makeIterator()
        while let c = it.next() {
            if c == "\\" {
                guard let e = it.next() else { out.unicodeScalars.append(c); break }
                switch e {
                case "s": out += inClass > 0 ? space : "[\(space)]"
                case "S": out += "[^\(space)]"
                default:
                    out.unicodeScalars.append(c)
                    out.unicodeScalars.append(e)
                }
                continue
            }
            if c == "[" { inClass += 1 }
            if c == "]" && inClass > 0 { inClass -= 1 }
            out.unicodeScalars.append(c)
        }
        return out
    }

    func findMatches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        var s = String()
        s.unicodeScalars.append(contentsOf: text)
        // Map UTF-16 offsets to scalar offsets.
        var utf16ToScalar = [Int](repeating: 0, count: s.utf16.count + 1)
        var u = 0
        for (i, sc) in text.enumerated() {
            utf16ToScalar[u] = i
            if sc.value > 0xFFFF {
                utf16ToScalar[u + 1] = i
                u += 2
            } else {
                u += 1
            }
        }
        utf16ToScalar[u] = text.count
        let ns = s as NSString
        var out: [Range<Int>] = []
        for m in regex.matches(in: s, options: [], range: NSRange(location: 0, length: ns.length)) {
            let a = utf16ToScalar[m.range.location]
            let b = utf16ToScalar[m.range.location + m.range.length]
            out.append(a..<b)
        }
        return out
    }
}

/// A literal string pattern (Split / Replace with `{"String": ...}`): non-overlapping occurrences.
struct LiteralPattern: ScalarPattern {
    let needle: [Unicode.Scalar]

    func findMatches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        guard !needle.isEmpty, text.count >= needle.count else { return [] }
        var out: [Range<Int>] = []
        var i = 0
        let first = needle[0]
        let m = needle.count
        while i + m <= text.count {
            if text[i] == first {
                var j = 1
                while j < m && text[i + j] == needle[j] { j += 1 }
                if j == m {
                    out.append(i..<(i + m))
                    i += m
                    continue
                }
            }
            i += 1
        }
        return out
    }
}
