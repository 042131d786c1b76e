// Pre-tokenizers: split normalized text into words before the model sees them (tokenizer.json "pre_tokenizer").

import SwapMoECore

/// A piece of normalized text on its way to the model.
struct PreToken: Sendable {
    var text: [Unicode.Scalar]
    /// Whether the piece starts at offset 0 of the original input (Metaspace `prepend_scheme: first`).
    var isFirst: Bool
}

/// The `"type"` strings of pre-tokenizers in tokenizer.json.
enum PreTokenizerType: String, CaseIterable {
    case sequence = "Sequence"
    case byteLevel = "ByteLevel"
    case split = "Split"
    case metaspace = "Metaspace"
    case whitespace = "Whitespace"
    case whitespaceSplit = "WhitespaceSplit"
    case digits = "Digits"
    case punctuation = "Punctuation"
    case bertPreTokenizer = "BertPreTokenizer"
    case charDelimiterSplit = "CharDelimiterSplit"
}

/// How a Split keeps the matched delimiters (tokenizers' SplitDelimiterBehavior).
enum SplitBehavior: String, CaseIterable, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"

    static func from(_ f: JSONFields, key: String, default def: SplitBehavior) throws -> SplitBehavior {
        guard let name = try f.optionalString(key) else { return def }
        guard let b = SplitBehavior(rawValue: name) else {
            throw TokenizerError.unsupportedOption(component: f.path, option: "\(key): \(name)",
                                                   reason: "expected one of \(SplitBehavior.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return b
    }
}

/// Metaspace's rule for adding the replacement character in front of a piece.
enum PrependScheme: String, Sendable {
    case always, first, never

    /// A Metaspace component's scheme: `prepend_scheme`, or the older `add_prefix_space` (true = always).
    static func from(_ f: JSONFields, path: String) throws -> PrependScheme {
        guard let s = try f.optionalString("prepend_scheme") else {
            return try f.bool("add_prefix_space", default: true) ? .always : .never
        }
        guard let p = PrependScheme(rawValue: s) else {
            throw TokenizerError.unsupportedOption(component: path, option: "prepend_scheme: \(s)", reason: "expected always, first or never")
        }
        return p
    }
}

/// The GPT-2 splitting pattern used by ByteLevel with `use_regex: true`.
let gpt2SplitPattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

indirect enum PreTokenizer: Sendable {
    case sequence([PreTokenizer])
    case byteLevel(addPrefixSpace: Bool, regex: (any ScalarPattern)?)
    case split(pattern: any ScalarPattern, behavior: SplitBehavior, invert: Bool)
    case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
    case whitespace(any ScalarPattern)
    case whitespaceSplit
    case digits(individual: Bool)
    case punctuation(SplitBehavior)
    case bert
    case charDelimiter(Unicode.Scalar)

    static func byteLevel(addPrefixSpace: Bool, useRegex: Bool) -> PreTokenizer {
        .byteLevel(addPrefixSpace: addPrefixSpace, regex: useRegex ? (try! BacktrackingRegex(gpt2SplitPattern)) : nil)
    }

    static func from(json: JSONValue, path: String = "pre_tokenizer") throws -> PreTokenizer? {
        if json.isNull { return nil }
        let f = try JSONFields(json, path: path)
        let type = try f.type(PreTokenizerType.self, kind: "pre_tokenizer")
        switch type {
        case .sequence:
            let items = try f.array("pretokenizers")
            return .sequence(try items.enumerated().compactMap { try from(json: $1, path: "\(path).pretokenizers[\($0)]") })
        case .byteLevel:
            return .byteLevel(addPrefixSpace: try f.bool("add_prefix_space", default: true),
                              useRegex: try f.bool("use_regex", default: true))
        case .split:
            return .split(pattern: try patternFrom(try f.value("pattern"), path: f.sub("pattern")),
                          behavior: try SplitBehavior.from(f, key: "behavior", default: .isolated),
                          invert: try f.bool("invert", default: false))
        case .metaspace:
            return .metaspace(replacement: try f.character("replacement"), prependScheme: try PrependScheme.from(f, path: path),
                              split: try f.bool("split", default: true))
        case .whitespace:
            return .whitespace(try BacktrackingRegex(#"\w+|[^\w\s]+"#))
        case .whitespaceSplit:
            return .whitespaceSplit
        case .digits:
            return .digits(individual: try f.bool("individual_digits", default: false))
        case .punctuation:
            return .punctuation(try SplitBehavior.from(f, key: "behavior", default: .isolated))
        case .bertPreTokenizer:
            return .bert
        case .charDelimiterSplit:
            return .charDelimiter(try f.character("delimiter"))
        }
    }

    /// Applies this pre-tokenizer to every piece.
    func preTokenize(_ pieces: [PreToken]) -> [PreToken] {
        switch self {
        case let .sequence(items):
            var p = pieces
            for item in items { p = item.preTokenize(p) }
            return p
        case let .byteLevel(addPrefixSpace, regex):
            var out: [PreToken] = []
            out.reserveCapacity(pieces.count)
            for piece in pieces {
                var text = piece.text
                if addPrefixSpace && text.first != " " { text.insert(" ", at: 0) }
                let sub: [PreToken]
                if let regex {
                    sub = splitPiece(PreToken(text: text, isFirst: piece.isFirst), matches: regex.findMatches(in: text), behavior: .isolated, invert: false)
                } else {
                    sub = text.isEmpty ? [] : [PreToken(text: text, isFirst: piece.isFirst)]
                }
                for s in sub {
                    out.append(PreToken(text: ByteLevelAlphabet.encode(s.text[...]), isFirst: s.isFirst))
                }
            }
            return out
        case let .split(pattern, behavior, invert):
            return pieces.flatMap { splitPiece($0, matches: pattern.findMatches(in: $0.text), behavior: behavior, invert: invert) }
        case let .metaspace(replacement, scheme, split):
            var out: [PreToken] = []
            for piece in pieces {
                var text = piece.text.map { $0 == " " ? replacement : $0 }
                switch scheme {
                case .always:
                    if text.first != replacement { text.insert(replacement, at: 0) }
                case .first:
                    if text.first != replacement && piece.isFirst { text.insert(replacement, at: 0) }
                case .never:
                    break
                }
                let p = PreToken(text: text, isFirst: piece.isFirst)
                if split {
                    out += splitPiece(p, matches: charMatches(text) { $0 == replacement }, behavior: .mergedWithNext, invert: false)
                } else if !text.isEmpty {
                    out.append(p)
                }
            }
            return out
        case let .whitespace(regex):
            return pieces.flatMap { splitPiece($0, matches: regex.findMatches(in: $0.text), behavior: .removed, invert: true) }
        case .whitespaceSplit:
            return pieces.flatMap { splitPiece($0, matches: charMatches($0.text, UnicodeClasses.isWhitespace), behavior: .removed, invert: false) }
        case let .digits(individual):
            return pieces.flatMap {
                splitPiece($0, matches: charMatches($0.text, UnicodeClasses.isNumeric), behavior: individual ? .isolated : .contiguous, invert: false)
            }
        case let .punctuation(behavior):
            return pieces.flatMap { splitPiece($0, matches: charMatches($0.text, UnicodeClasses.isPunctuation), behavior: behavior, invert: false) }
        case .bert:
            let words = pieces.flatMap { splitPiece($0, matches: charMatches($0.text, UnicodeClasses.isWhitespace), behavior: .removed, invert: false) }
            return words.flatMap { splitPiece($0, matches: charMatches($0.text, UnicodeClasses.isPunctuation), behavior: .isolated, invert: false) }
        case let .charDelimiter(d):
            return pieces.flatMap { splitPiece($0, matches: charMatches($0.text) { $0 == d }, behavior: .removed, invert: false) }
        }
    }

    /// Whether this pre-tokenizer (or one in its sequence) maps text to the byte-level alphabet.
    var containsByteLevel: Bool {
        switch self {
        case .byteLevel: return true
        case let .sequence(items): return items.contains { $0.containsByteLevel }
        default: return false
        }
    }
}

/// Every scalar satisfying `predicate` is its own match (tokenizers' `Fn(char) -> bool` pattern).
func charMatches(_ text: [Unicode.Scalar], _ predicate: (Unicode.Scalar) -> Bool) -> [Range<Int>] {
    var out: [Range<Int>] = []
    for (i, c) in text.enumerated() where predicate(c) { out.append(i..<(i + 1)) }
    return out
}

/// Splits a piece at `matches` with the given delimiter behavior (tokenizers' `NormalizedString::split`),
/// dropping empty results.
func splitPiece(_ piece: PreToken, matches: [Range<Int>], behavior: SplitBehavior, invert: Bool) -> [PreToken] {
    let text = piece.text
    if text.isEmpty { return [] }
    // Full cover of the text as (range, isMatch).
    var spans: [(Range<Int>, Bool)] = []
    spans.reserveCapacity(matches.count * 2 + 1)
    var prev = 0
    for m in matches {
        if prev != m.lowerBound { spans.append((prev..<m.lowerBound, invert)) }
        spans.append((m, !invert))
        prev = m.upperBound
    }
    if prev != text.count { spans.append((prev..<text.count, invert)) }

    var kept: [Range<Int>] = []
    kept.reserveCapacity(spans.count)
    switch behavior {
    case .isolated:
        kept = spans.map(\.0)
    case .removed:
        kept = spans.filter { !$0.1 }.map(\.0)
    case .contiguous:
        var previousMatch = false
        for (r, isMatch) in spans {
            if isMatch == previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<r.upperBound
            } else {
                kept.append(r)
            }
            previousMatch = isMatch
        }
    case .mergedWithPrevious:
        var previousMatch = false
        for (r, isMatch) in spans {
            if isMatch && !previousMatch, let last = kept.last {
                kept[kept.count - 1] = last.lowerBound..<r.upperBound
            } else {
                kept.append(r)
            }
            previousMatch = isMatch
        }
    case .mergedWithNext:
        var previousMatch = false
        var reversed: [Range<Int>] = []
        for (r, isMatch) in spans.reversed() {
            if isMatch && !previousMatch, let last = reversed.last {
                reversed[reversed.count - 1] = r.lowerBound..<last.upperBound
            } else {
                reversed.append(r)
            }
            previousMatch = isMatch
        }
        kept = reversed.reversed()
    }
    if kept.count == 1 && kept[0].count == text.count { return [piece] }
    var out: [PreToken] = []
    out.reserveCapacity(kept.count)
    for r in kept where !r.isEmpty {
        out.append(PreToken(text: Array(text[r]), isFirst: piece.isFirst && r.lowerBound == 0))
    }
    return out
}
