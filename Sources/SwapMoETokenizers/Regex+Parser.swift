// The pattern syntax tree and its parser (see Regex.swift for what is supported and why).

// MARK: - Syntax tree and parser

indirect enum RegexNode {
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

struct RegexParser {
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
