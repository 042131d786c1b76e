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

// MARK: - Syntax tree and parser

private indirect enum RegexNode {
    case cls(CharClass)
    case seq([RegexNode])
    case alt([RegexNode])
    case rep(RegexNode, min: Int, max: Int?, greedy: Bool)
    case look(RegexNode, negative: Bool)

    var canMatchEmpty: Bool {
        switch self {
        case .cls: return false
        case let .seq(nodes): return nodes.allSatisfy { $0.canMatchEmpty }
        case let .alt(nodes): return nodes.contains { $0.canMatchEmpty }
        case let .rep(node, min, _, _): return min == 0 || node.canMatchEmpty
        case .look: return true
        }
    }
}

struct RegexSyntaxError: Error {
    let message: String
}

private struct RegexParser {
    let chars: [Unicode.Scalar]
    var pos = 0

    init(_ pattern: String) { chars = Array(pattern.unicodeScalars) }

    func fail(_ m: String) -> RegexSyntaxError { RegexSyntaxError(message: "\(m) at offset \(pos)") }

    mutating func parse() throws -> RegexNode {
        let node = try parseAlternation(caseInsensitive: false)
        if pos != chars.count { throw fail("unbalanced ')'") }
        return node
    }

    var atEnd: Bool { pos >= chars.count }
    func peek(_ k: Int = 0) -> Unicode.Scalar? { pos + k < chars.count ? chars[pos + k] : nil }

    mutating func parseAlternation(caseInsensitive: Bool) throws -> RegexNode {
        var ci = caseInsensitive
        var branches: [RegexNode] = [try parseSequence(caseInsensitive: &ci)]
        while peek() == "|" {
            pos += 1
            branches.append(try parseSequence(caseInsensitive: &ci))
        }
        return branches.count == 1 ? branches[0] : .alt(branches)
    }

    mutating func parseSequence(caseInsensitive ci: inout Bool) throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek(), c != "|", c != ")" {
            if c == "(" && peek(1) == "?" && (peek(2) == "i" || peek(2) == "-") {
                // Inline flag group: (?i) applies to the rest of the enclosing group, (?i:...) to its body.
                var j = pos + 2
                var on = true
                var newCI = ci
                while j < chars.count, chars[j] != ")", chars[j] != ":" {
                    switch chars[j] {
                    case "-": on = false
                    case "i": newCI = on
                    default: throw fail("unsupported inline flag '\(chars[j])'")
                    }
                    j += 1
                }
                guard j < chars.count else { throw fail("unterminated group") }
                if chars[j] == ")" {
                    pos = j + 1
                    ci = newCI
                    continue
                }
                pos = j + 1
                let body = try parseAlternation(caseInsensitive: newCI)
                guard peek() == ")" else { throw fail("missing ')'") }
                pos += 1
                items.append(try parseQuantifier(body))
                continue
            }
            let atom = try parseAtom(caseInsensitive: ci)
            items.append(try parseQuantifier(atom))
        }
        return items.count == 1 ? items[0] : .seq(items)
    }

    mutating func parseQuantifier(_ atom: RegexNode) throws -> RegexNode {
        var node = atom
        while let c = peek() {
            var min = 0
            var max: Int?
            switch c {
            case "*": min = 0; max = nil; pos += 1
            case "+": min = 1; max = nil; pos += 1
            case "?": min = 0; max = 1; pos += 1
            case "{":
                guard let (lo, hi, len) = parseBraces() else { return node }
                min = lo
                max = hi
                pos += len
            default:
                return node
            }
            var greedy = true
            if peek() == "?" {
                greedy = false
                pos += 1
            } else if peek() == "+" {
                throw fail("possessive quantifiers are not supported")
            }
            if case .look = node { throw fail("quantified lookaround") }
            if max == nil && atom.canMatchEmpty { throw fail("unbounded repetition of an expression that can match empty") }
            node = .rep(node, min: min, max: max, greedy: greedy)
        }
        return node
    }

    /// Parses `{n}`, `{n,}`, `{n,m}`, `{,m}` at pos; nil if it is not a quantifier (then '{' is a literal).
    func parseBraces() -> (Int, Int?, Int)? {
        var j = pos + 1
        var lo = ""
        var hi = ""
        var comma = false
        while j < chars.count, chars[j] != "}" {
            let ch = chars[j]
            if ch == "," {
                if comma { return nil }
                comma = true
            } else if ch.value >= 0x30 && ch.value <= 0x39 {
                if comma { hi.unicodeScalars.append(ch) } else { lo.unicodeScalars.append(ch) }
            } else {
                return nil
            }
            j += 1
        }
        guard j < chars.count else { return nil }
        if lo.isEmpty && hi.isEmpty { return nil }
        let l = Int(lo) ?? 0
        if !comma { return (l, l, j - pos + 1) }
        if hi.isEmpty { return (l, nil, j - pos + 1) }
        guard let h = Int(hi), h >= l else { return nil }
        return (l, h, j - pos + 1)
    }

    mutating func parseAtom(caseInsensitive ci: Bool) throws -> RegexNode {
        let c = chars[pos]
        switch c {
        case "(":
            pos += 1
            var negative = false
            var isLook = false
            if peek() == "?" {
                switch peek(1) {
                case ":": pos += 2
                case "=": pos += 2; isLook = true
                case "!": pos += 2; isLook = true; negative = true
                default: throw fail("unsupported group syntax (?\(peek(1).map { String($0) } ?? "")")
                }
            }
            let body = try parseAlternation(caseInsensitive: ci)
            guard peek() == ")" else { throw fail("missing ')'") }
            pos += 1
            return isLook ? .look(body, negative: negative) : body
        case "[":
            var cls = try parseClass(caseInsensitive: ci)
            cls.finalize()
            return .cls(cls)
        case ".":
            pos += 1
            var cls = CharClass()
            cls.anyButNewline = true
            cls.finalize()
            return .cls(cls)
        case "\\":
            var cls = try parseEscape(inClass: false)
            cls.caseInsensitive = ci
            cls.finalize()
            return .cls(cls)
        case "^", "$":
            throw fail("anchors are not supported")
        case "*", "+", "?":
            throw fail("quantifier without an operand")
        default:
            pos += 1
            var cls = CharClass.single(c.value)
            cls.caseInsensitive = ci
            cls.finalize()
            return .cls(cls)
        }
    }

    mutating func parseHex(maxDigits: Int) throws -> UInt32 {
        var v: UInt32 = 0
        var n = 0
        while n < maxDigits, let c = peek(), let d = hexValue(c) {
            v = v * 16 + d
            pos += 1
            n += 1
        }
        if n == 0 { throw fail("expected hex digits") }
        return v
    }

    func hexValue(_ c: Unicode.Scalar) -> UInt32? {
        switch c.value {
        case 0x30...0x39: return c.value - 0x30
        case 0x41...0x46: return c.value - 0x41 + 10
        case 0x61...0x66: return c.value - 0x61 + 10
        default: return nil
        }
    }

    /// Parses an escape starting at '\\' and returns it as a class.
    mutating func parseEscape(inClass: Bool) throws -> CharClass {
        pos += 1
        guard let e = peek() else { throw fail("trailing backslash") }
        pos += 1
        var cls = CharClass()
        switch e {
        case "s": cls.whitespace = true
        case "S": cls.notWhitespace = true
        case "d": cls.categories = 1 << 8
        case "D": cls.notCategories = 1 << 8
        case "w": cls.word = true; cls.wordLatin1Quirk = !inClass
        case "W": cls.notWord = true; cls.wordLatin1Quirk = !inClass
        case "p", "P":
            var negated = e == "P"
            guard peek() == "{" else { throw fail("expected '{' after \\p") }
            pos += 1
            if peek() == "^" {
                negated.toggle()
                pos += 1
            }
            var name = ""
            while let c = peek(), c != "}" {
                name.unicodeScalars.append(c)
                pos += 1
            }
            guard peek() == "}" else { throw fail("unterminated \\p{") }
            pos += 1
            if let mask = UnicodeClasses.categoryMask(named: name) {
                if negated { cls.notCategories = mask } else { cls.categories = mask }
            } else {
                switch name.lowercased() {
                case "space", "whitespace", "white_space":
                    if negated { cls.notWhitespace = true } else { cls.whitespace = true }
                case "word":
                    if negated { cls.notWord = true } else { cls.word = true }
                default:
                    throw fail("unsupported property \\p{\(name)}")
                }
            }
        case "r": cls.ranges = [0x0D...0x0D]
        case "n": cls.ranges = [0x0A...0x0A]
        case "t": cls.ranges = [0x09...0x09]
        case "f": cls.ranges = [0x0C...0x0C]
        case "v": cls.ranges = [0x0B...0x0B]
        case "a": cls.ranges = [0x07...0x07]
        case "e": cls.ranges = [0x1B...0x1B]
        case "x":
            let v: UInt32
            if peek() == "{" {
                pos += 1
                v = try parseHex(maxDigits: 8)
                guard peek() == "}" else { throw fail("unterminated \\x{") }
                pos += 1
            } else {
                v = try parseHex(maxDigits: 2)
            }
            cls.ranges = [v...v]
        case "u":
            let v = try parseHex(maxDigits: 4)
            cls.ranges = [v...v]
        default:
            let v = e.value
            let isAlnum = (v >= 0x30 && v <= 0x39) || ((v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A)
            if isAlnum { throw fail("unsupported escape \\\(e)") }
            cls.ranges = [v...v]
        }
        return cls
    }

    /// Parses a bracket class starting at '['.
    mutating func parseClass(caseInsensitive ci: Bool) throws -> CharClass {
        pos += 1
        var cls = CharClass()
        cls.caseInsensitive = ci
        if peek() == "^" {
            cls.negated = true
            pos += 1
        }
        var first = true
        while true {
            guard let c = peek() else { throw fail("unterminated character class") }
            if c == "]" && !first { pos += 1; break }
            first = false
            if c == "[" {
                if peek(1) == ":" { throw fail("POSIX bracket classes are not supported") }
                var child = try parseClass(caseInsensitive: ci)
                child.finalize()
                cls.children.append(child)
                continue
            }
            if c == "&" && peek(1) == "&" { throw fail("class intersection is not supported") }
            // A single scalar, possibly starting a range.
            let lo: UInt32
            if c == "\\" {
                let esc = try parseEscape(inClass: true)
                if esc.ranges.count == 1, esc.ranges[0].count == 1, esc.categories == 0, esc.notCategories == 0,
                   !esc.whitespace, !esc.notWhitespace, !esc.word, !esc.notWord {
                    lo = esc.ranges[0].lowerBound
                } else {
                    var child = esc
                    child.caseInsensitive = ci
                    child.finalize()
                    cls.children.append(child)
                    continue
                }
            } else {
                lo = c.value
                pos += 1
            }
            if peek() == "-", let next = peek(1), next != "]" {
                pos += 1
                var hi: UInt32
                if next == "\\" {
                    let esc = try parseEscape(inClass: true)
                    guard esc.ranges.count == 1, esc.ranges[0].count == 1 else { throw fail("invalid range end") }
                    hi = esc.ranges[0].lowerBound
                } else if next == "[" {
                    throw fail("invalid range end")
                } else {
                    hi = next.value
                    pos += 1
                }
                guard hi >= lo else { throw fail("empty range in class") }
                cls.ranges.append(lo...hi)
            } else {
                cls.ranges.append(lo...lo)
            }
        }
        return cls
    }
}

// MARK: - Compiled program and backtracking matcher

private enum Inst: Sendable {
    case cls(Int)
    /// Greedy run of one class, between min and max (-1 = unbounded) scalars.
    case run(cls: Int, min: Int, max: Int)
    case split(Int, Int)
    case jump(Int)
    /// Lookahead on a single class: (?=c) or (?!c).
    case lookClass(cls: Int, negative: Bool)
    /// General lookahead: runs the program starting at `entry` (which ends in `.match`).
    case look(entry: Int, negative: Bool)
    case match
}

struct BacktrackingRegex: ScalarPattern {
    private let program: [Inst]
    private let classes: [CharClass]
    let pattern: String

    init(_ pattern: String) throws {
        var parser = RegexParser(pattern)
        let tree = try parser.parse()
        var compiler = Compiler()
        compiler.compileMain(tree)
        program = compiler.program
        classes = compiler.classes
        self.pattern = pattern
    }

    private struct Compiler {
        var program: [Inst] = []
        var classes: [CharClass] = []
        var pendingLooks: [(instIndex: Int, node: RegexNode, negative: Bool)] = []

        mutating func addClass(_ c: CharClass) -> Int {
            classes.append(c)
            return classes.count - 1
        }

        mutating func compileMain(_ node: RegexNode) {
            emit(node)
            program.append(.match)
            // Lookahead bodies are appended after the main program, each ending in .match.
            var i = 0
            while i < pendingLooks.count {
                let (index, body, negative) = pendingLooks[i]
                let entry = program.count
                emit(body)
                program.append(.match)
                program[index] = .look(entry: entry, negative: negative)
                i += 1
            }
        }

        mutating func emit(_ node: RegexNode) {
            switch node {
            case let .cls(c):
                program.append(.cls(addClass(c)))
            case let .seq(nodes):
                for n in nodes { emit(n) }
            case let .alt(nodes):
                var jumps: [Int] = []
                for (k, n) in nodes.enumerated() {
                    if k < nodes.count - 1 {
                        let split = program.count
                        program.append(.split(0, 0))
                        emit(n)
                        jumps.append(program.count)
                        program.append(.jump(0))
                        program[split] = .split(split + 1, program.count)
                    } else {
                        emit(n)
                    }
                }
                for j in jumps { program[j] = .jump(program.count) }
            case let .rep(body, min, max, greedy):
                if greedy, case let .cls(c) = body {
                    program.append(.run(cls: addClass(c), min: min, max: max ?? -1))
                    return
                }
                for _ in 0..<min { emit(body) }
                if let max {
                    var exits: [Int] = []
                    for _ in min..<max {
                        exits.append(program.count)
                        program.append(.split(0, 0))
                        emit(body)
                    }
                    let end = program.count
                    for e in exits {
                        program[e] = greedy ? .split(e + 1, end) : .split(end, e + 1)
                    }
                } else {
                    let loop = program.count
                    program.append(.split(0, 0))
                    emit(body)
                    program.append(.jump(loop))
                    let end = program.count
                    program[loop] = greedy ? .split(loop + 1, end) : .split(end, loop + 1)
                }
            case let .look(body, negative):
                if case let .cls(c) = body {
                    program.append(.lookClass(cls: addClass(c), negative: negative))
                } else {
                    pendingLooks.append((program.count, body, negative))
                    program.append(.jump(0))  // patched to .look
                }
            }
        }
    }

    /// Runs the program from `entry` at `start`; returns the end of the first match in priority order.
    private func run(_ text: UnsafeBufferPointer<Unicode.Scalar>, entry: Int, start: Int, stack: inout [Int]) -> Int? {
        let base = stack.count
        defer { stack.removeSubrange(base...) }
        var pc = entry
        var pos = start
        let n = text.count
        while true {
            var failed = false
            switch program[pc] {
            case let .cls(c):
                if pos < n && classes[c].contains(text[pos]) {
                    pos += 1
                    pc += 1
                } else {
                    failed = true
                }
            case let .run(c, min, max):
                let cls = classes[c]
                var k = 0
                let limit = max < 0 ? n - pos : Swift.min(max, n - pos)
                while k < limit && cls.contains(text[pos + k]) { k += 1 }
                if k < min {
                    failed = true
                } else {
                    if k > min {
                        // Backtrack point: the continuation may retry with fewer scalars, down to min.
                        stack.append(pc + 1)
                        stack.append(pos + k)
                        stack.append(pos + min)
                    }
                    pos += k
                    pc += 1
                }
            case let .split(a, b):
                stack.append(b)
                stack.append(pos)
                stack.append(-1)
                pc = a
            case let .jump(a):
                pc = a
            case let .lookClass(c, negative):
                let hit = pos < n && classes[c].contains(text[pos])
                if hit != negative { pc += 1 } else { failed = true }
            case let .look(sub, negative):
                let hit = run(text, entry: sub, start: pos, stack: &stack) != nil
                if hit != negative { pc += 1 } else { failed = true }
            case .match:
                return pos
            }
            if failed {
                // Pop a backtrack point.
                while true {
                    if stack.count == base { return nil }
                    let low = stack.removeLast()
                    let p = stack.removeLast()
                    let target = stack.removeLast()
                    if low < 0 {
                        pc = target
                        pos = p
                        break
                    }
                    let retry = p - 1
                    if retry < low { continue }
                    if retry > low {
                        stack.append(target)
                        stack.append(retry)
                        stack.append(low)
                    }
                    pc = target
                    pos = retry
                    break
                }
            }
        }
    }

    func findMatches(in text: [Unicode.Scalar]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var stack: [Int] = []
        stack.reserveCapacity(64)
        text.withUnsafeBufferPointer { buf in
            let n = buf.count
            var searchFrom = 0
            var lastMatchEnd = -1
            while searchFrom <= n {
                var start = searchFrom
                var found: Range<Int>?
                while start <= n {
                    if let end = run(buf, entry: 0, start: start, stack: &stack) {
                        found = start..<end
                        break
                    }
                    start += 1
                }
                guard let m = found else { break }
                if m.isEmpty && m.upperBound == lastMatchEnd {
                    // No empty match right after the previous match (as onig's find_iter).
                    searchFrom += 1
                    continue
                }
                out.append(m)
                lastMatchEnd = m.upperBound
                searchFrom = m.upperBound
            }
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
