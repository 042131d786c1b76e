// Added tokens ("added_tokens" in tokenizer.json): found in the input before anything else, never merged.

import SwapMoECore

/// One entry of `added_tokens`.
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    public let special: Bool
    public let singleWord: Bool
    public let lstrip: Bool
    public let rstrip: Bool
    /// Whether the token is matched in normalized text (true) or in the raw input (false).
    public let normalized: Bool

    public init(id: Int, content: String, special: Bool, singleWord: Bool = false, lstrip: Bool = false,
                rstrip: Bool = false, normalized: Bool? = nil) {
        self.id = id
        self.content = content
        self.special = special
        self.singleWord = singleWord
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized ?? !special
    }

    init(json: JSONValue, path: String) throws {
        let f = try JSONFields(json, path: path)
        let special = try f.bool("special", default: false)
        self.init(id: try f.int("id"), content: try f.string("content"), special: special,
                  singleWord: try f.bool("single_word", default: false), lstrip: try f.bool("lstrip", default: false),
                  rstrip: try f.bool("rstrip", default: false), normalized: try f.bool("normalized", default: !special))
    }
}

/// A piece of input after added-token extraction.
enum InputSegment {
    case token(Int)
    case text([Unicode.Scalar], isFirst: Bool)
}

/// Leftmost-longest matcher over a set of token strings (the Aho-Corasick `LeftmostLongest` semantics).
struct TokenMatcher: Sendable {
    private struct Pattern: Sendable {
        let scalars: [Unicode.Scalar]
        let token: Int  // index into AddedVocabulary.tokens
    }
    /// First scalar -> candidate patterns, longest first.
    private let byFirst: [UInt32: [Pattern]]

    var isEmpty: Bool { byFirst.isEmpty }

    init(_ patterns: [(scalars: [Unicode.Scalar], token: Int)]) {
        var map: [UInt32: [Pattern]] = [:]
        for p in patterns where !p.scalars.isEmpty {
            map[p.scalars[0].value, default: []].append(Pattern(scalars: p.scalars, token: p.token))
        }
        for k in map.keys {
            // Stable: among equal lengths the earlier pattern wins.
            map[k] = map[k]!.enumerated().sorted { a, b in
                a.element.scalars.count != b.element.scalars.count ? a.element.scalars.count > b.element.scalars.count : a.offset < b.offset
            }.map(\.element)
        }
        byFirst = map
    }

    /// The leftmost-longest match starting at or after `from`: (range, token index).
    func nextMatch(in text: [Unicode.Scalar], from: Int) -> (Range<Int>, Int)? {
        var i = from
        let n = text.count
        while i < n {
            if let candidates = byFirst[text[i].value] {
                for p in candidates where i + p.scalars.count <= n {
                    var j = 1
                    let m = p.scalars.count
                    while j < m && text[i + j] == p.scalars[j] { j += 1 }
                    if j == m { return (i..<(i + m), p.token) }
                }
            }
            i += 1
        }
        return nil
    }
}

/// The added vocabulary: token <-> id for added tokens and the two matchers the Rust library uses
/// (raw-text matching for `normalized: false`, normalized-text matching for `normalized: true`).
struct AddedVocabulary: Sendable {
    let tokens: [AddedToken]
    private let rawMatcher: TokenMatcher
    private let normalizedMatcher: TokenMatcher
    private let idToIndex: [Int: Int]
    /// What `id_to_token` returns: the normalized content for `normalized: true` tokens, else the content.
    private let decodedContents: [String]
    private let contentToIndex: [WordKey: Int]
    let specialIds: Set<Int>

    init(tokens: [AddedToken], normalizer: Normalizer?) {
        // Later duplicates of a content replace earlier ones.
        var unique: [AddedToken] = []
        var seen: [WordKey: Int] = [:]
        for t in tokens where !t.content.isEmpty {
            let key = WordKey(bytes: Array(t.content.utf8))
            if let i = seen[key] { unique[i] = t } else { seen[key] = unique.count; unique.append(t) }
        }
        self.tokens = unique
        contentToIndex = seen
        var byId: [Int: Int] = [:]
        for (i, t) in unique.enumerated() { byId[t.id] = i }
        idToIndex = byId
        specialIds = Set(unique.filter(\.special).map(\.id))
        // Special tokens first, then the others, as the Rust library orders its patterns.
        let order = unique.indices.filter { unique[$0].special } + unique.indices.filter { !unique[$0].special }
        rawMatcher = TokenMatcher(order.filter { !unique[$0].normalized }.map { (Array(unique[$0].content.unicodeScalars), $0) })
        var decoded = unique.map(\.content)
        normalizedMatcher = TokenMatcher(order.filter { unique[$0].normalized }.map { i in
            let raw = Array(unique[i].content.unicodeScalars)
            let normalized = normalizer?.normalize(raw) ?? raw
            var s = String()
            s.unicodeScalars.append(contentsOf: normalized)
            decoded[i] = s
            return (normalized, i)
        })
        decodedContents = decoded
    }

    func token(forId id: Int) -> AddedToken? { idToIndex[id].map { tokens[$0] } }

    /// The token string of an added id as the Rust library reports it (normalized for `normalized: true` tokens).
    func tokenString(forId id: Int) -> String? { idToIndex[id].map { decodedContents[$0] } }

    func id(forContent content: String) -> Int? {
        contentToIndex[WordKey(bytes: Array(content.utf8))].map { tokens[$0].id }
    }

    /// Splits the input on added tokens, normalizing the text in between, exactly as the Rust library's
    /// `extract_and_normalize`: raw-text tokens first, then normalized-text tokens inside the normalized rest.
    func extractAndNormalize(_ input: [Unicode.Scalar], normalizer: Normalizer?) -> [InputSegment] {
        var out: [InputSegment] = []
        for seg in split(input, matcher: rawMatcher, isFirst: true) {
            switch seg {
            case .token:
                out.append(seg)
            case let .text(text, isFirst):
                let normalized = normalizer?.normalize(text) ?? text
                if normalizedMatcher.isEmpty {
                    if !normalized.isEmpty { out.append(.text(normalized, isFirst: isFirst)) }
                } else {
                    out += split(normalized, matcher: normalizedMatcher, isFirst: isFirst)
                }
            }
        }
        return out
    }

    private func split(_ text: [Unicode.Scalar], matcher: TokenMatcher, isFirst: Bool) -> [InputSegment] {
        if matcher.isEmpty || text.isEmpty {
            return text.isEmpty ? [] : [.text(text, isFirst: isFirst)]
        }
        var out: [InputSegment] = []
        var startOffset = 0
        var searchFrom = 0
        while let (range, index) = matcher.nextMatch(in: text, from: searchFrom) {
            searchFrom = range.upperBound
            let token = tokens[index]
            var start = range.lowerBound
            var stop = range.upperBound
            if token.singleWord {
                let startSpace = start == 0 || !AddedVocabulary.isWordCharacter(text[start - 1])
                let stopSpace = stop == text.count || !AddedVocabulary.isWordCharacter(text[stop])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var s = start
                while s > 0 && UnicodeClasses.isWhitespace(text[s - 1]) { s -= 1 }
                start = max(s, startOffset)
            }
            if token.rstrip {
                while stop < text.count && UnicodeClasses.isWhitespace(text[stop]) { stop += 1 }
            }
            if startOffset < start {
                out.append(.text(Array(text[startOffset..<start]), isFirst: isFirst && startOffset == 0))
            }
            out.append(.token(token.id))
            startOffset = stop
        }
        if startOffset < text.count {
            out.append(.text(Array(text[startOffset...]), isFirst: isFirst && startOffset == 0))
        }
        return out
    }

    /// `single_word` boundaries use regex `\w` (alphabetic, marks, decimal digits, connector punctuation).
    static func isWordCharacter(_ c: Unicode.Scalar) -> Bool {
        UnicodeClasses.isWord(c)
    }
}
