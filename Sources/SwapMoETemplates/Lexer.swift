/// One token of a template: text between tags, tag delimiters, and the expression tokens inside tags.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String), string(String), integer(Int), float(Double), op(String)
        case eof
    }
    var kind: Kind
    var position: SourcePosition
}

/// Splits a template into tokens the way jinja2's lexer does in transformers' environment: newlines
/// normalised to "\n", one trailing newline dropped, `trim_blocks` (the newline after a block or comment tag
/// goes), `lstrip_blocks` (spaces and tabs before a block or comment tag at the start of a line go), `-` and
/// `+` whitespace control, `{% raw %}`, and brackets balanced inside tags (a `}}` inside `{...}` is not an end).
struct Lexer {
    private let src: [Unicode.Scalar]
    private var lineStarts: [Int] = [0]
    private var pos = 0
    private var tokens: [Token] = []
    /// Whether the last thing consumed ended with a newline (jinja2's `line_starting`).
    private var lineStarting = true

    init(_ source: String) {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pending = it.next()
        while let c = pending {
            pending = it.next()
            if c == "\r" {
                if pending == "\n" { pending = it.next() }
                scalars.append("\n")
            } else {
                scalars.append(c)
            }
        }
        if scalars.last == "\n" { scalars.removeLast() }
        src = scalars
        for (i, c) in src.enumerated() where c == "\n" { lineStarts.append(i + 1) }
    }

    static func tokenize(_ source: String) throws(TemplateError) -> [Token] {
        var lexer = Lexer(source)
        try lexer.run()
        return lexer.tokens
    }

    func position(_ offset: Int) -> SourcePosition {
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return SourcePosition(line: lo + 1, column: offset - lineStarts[lo] + 1)
    }

    private func at(_ i: Int) -> Unicode.Scalar? { i < src.count ? src[i] : nil }
    private func matches(_ s: String, at i: Int) -> Bool {
        var j = i
        for c in s.unicodeScalars { guard at(j) == c else { return false }; j += 1 }
        return true
    }
    private func skipSpace(from i: Int) -> Int {
        var j = i
        while let c = at(j), PyString.isSpace(c) { j += 1 }
        return j
    }

    private mutating func run() throws(TemplateError) {
        while pos < src.count {
            guard let start = nextTagStart(from: pos) else {
                emitText(src[pos...], at: pos)
                break
            }
            let kind = src[start + 1]
            var after = start + 2
            let sign = whitespaceSign(&after)
            var text = Array(src[pos..<start])
            let rawEnd = kind == "%" ? rawBegin(at: after) : nil
            applyLeftStrip(&text, sign: sign, isBlockOrComment: kind != "{")
            emitText(text[...], at: pos)
            lineStarting = false
            if let rawEnd {
                try lexRaw(bodyStart: rawEnd, tagStart: start)
            } else if kind == "#" {
                try lexComment(from: after, tagStart: start)
            } else {
                let isBlock = kind == "%"
                tokens.append(Token(kind: isBlock ? .blockBegin : .variableBegin, position: position(start)))
                pos = after
                try lexTag(block: isBlock, tagStart: start)
            }
        }
        tokens.append(Token(kind: .eof, position: position(src.count)))
    }

    /// The `-` or `+` right after a tag opens, if any (consumed).
    private func whitespaceSign(_ i: inout Int) -> Unicode.Scalar? {
        guard let c = at(i), c == "-" || c == "+" else { return nil }
        i += 1
        return c
    }

    private func nextTagStart(from i: Int) -> Int? {
        var j = i
        while j + 1 < src.count {
            if src[j] == "{", src[j + 1] == "{" || src[j + 1] == "%" || src[j + 1] == "#" { return j }
            j += 1
        }
        return nil
    }

    private mutating func emitText(_ text: ArraySlice<Unicode.Scalar>, at offset: Int) {
        guard !text.isEmpty else { return }
        tokens.append(Token(kind: .text(PyString.string(text)), position: position(offset)))
    }

    /// `-` strips all whitespace before the tag; otherwise lstrip_blocks strips a line's leading blanks.
    private func applyLeftStrip(_ text: inout [Unicode.Scalar], sign: Unicode.Scalar?, isBlockOrComment: Bool) {
        if sign == "-" {
            while let c = text.last, PyString.isSpace(c) { text.removeLast() }
        } else if sign != "+" && isBlockOrComment {
            let lineStart = (text.lastIndex(of: "\n") ?? -1) + 1
            guard lineStart > 0 || lineStarting, lineStart < text.count else { return }
            if text[lineStart...].allSatisfy(PyString.isSpace) { text.removeSubrange(lineStart...) }
        }
    }

    /// After `{%` and its sign: `\s*raw\s*(-%}\s*|%})`, returning where the raw body starts.
    private func rawBegin(at i: Int) -> Int? {
        var j = skipSpace(from: i)
        guard matches("raw", at: j) else { return nil }
        j = skipSpace(from: j + 3)
        if matches("-%}", at: j) { return skipSpace(from: j + 3) }
        if matches("%}", at: j) { return j + 2 }
        return nil
    }

    private mutating func lexRaw(bodyStart: Int, tagStart: Int) throws(TemplateError) {
        var j = bodyStart
        while j + 1 < src.count {
            if src[j] == "{" && src[j + 1] == "%" {
                var k = j + 2
                let sign = whitespaceSign(&k)
                k = skipSpace(from: k)
                if matches("endraw", at: k), let end = blockEnd(at: skipSpace(from: k + 6)) {
                    var text = Array(src[bodyStart..<j])
                    applyLeftStrip(&text, sign: sign, isBlockOrComment: true)
                    emitText(text[...], at: bodyStart)
                    pos = end
                    lineStarting = at(end - 1) == "\n"
                    return
                }
            }
            j += 1
        }
        throw .syntax("missing end of raw directive", position(tagStart))
    }

    /// `+%}`, `-%}` with the whitespace after it, or `%}` with one newline (trim_blocks): the offset after it.
    private func blockEnd(at i: Int) -> Int? {
        if matches("+%}", at: i) { return i + 3 }
        if matches("-%}", at: i) { return skipSpace(from: i + 3) }
        if matches("%}", at: i) { return at(i + 2) == "\n" ? i + 3 : i + 2 }
        return nil
    }

    private mutating func lexComment(from i: Int, tagStart: Int) throws(TemplateError) {
        var j = i
        while j < src.count {
            if matches("+#}", at: j) { pos = j + 3; break }
            if matches("-#}", at: j) { pos = skipSpace(from: j + 3); break }
            if matches("#}", at: j) { pos = at(j + 2) == "\n" ? j + 3 : j + 2; break }
            j += 1
        }
        guard j < src.count else { throw .syntax("missing end of comment tag", position(tagStart)) }
        lineStarting = at(pos - 1) == "\n"
    }

    private static let operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]",
                                    "(", ")", "{", "}", "<", ">", "=", ".", ":", "|", ",", ";"]

    private mutating func lexTag(block: Bool, tagStart: Int) throws(TemplateError) {
        var brackets: [String] = []  // the closing brackets expected, innermost last
        while true {
            pos = skipSpace(from: pos)
            guard pos < src.count else {
                throw .syntax("unexpected end of template, expected '\(block ? "%}" : "}}")'", position(tagStart))
            }
            if brackets.isEmpty {
                let end: Int? = block ? blockEnd(at: pos)
                    : matches("-}}", at: pos) ? skipSpace(from: pos + 3) : matches("}}", at: pos) ? pos + 2 : nil
                if let end {
                    tokens.append(Token(kind: block ? .blockEnd : .variableEnd, position: position(pos)))
                    pos = end
                    lineStarting = at(end - 1) == "\n"
                    return
                }
            }
            let here = position(pos)
            let c = src[pos]
            if c.properties.isXIDStart || c == "_" {
                var j = pos + 1
                while let d = at(j), d.properties.isXIDContinue { j += 1 }
                tokens.append(Token(kind: .name(PyString.string(src[pos..<j])), position: here))
                pos = j
            } else if ("0"..."9").contains(c) {
                try lexNumber(here)
            } else if c == "'" || c == "\"" {
                try lexString(quote: c, here)
            } else if let op = Lexer.operators.first(where: { matches($0, at: pos) }) {
                if let close = ["(": ")", "[": "]", "{": "}"][op] {
                    brackets.append(close)
                } else if op == ")" || op == "]" || op == "}" {
                    guard let expected = brackets.popLast() else { throw .syntax("unexpected '\(op)'", here) }
                    guard expected == op else { throw .syntax("unexpected '\(op)', expected '\(expected)'", here) }
                }
                tokens.append(Token(kind: .op(op), position: here))
                pos += op.unicodeScalars.count
            } else {
                throw .syntax("unexpected character \(Value.pyStringRepr(String(c)))", here)
            }
        }
    }

    private mutating func lexNumber(_ here: SourcePosition) throws(TemplateError) {
        func digits(_ j: inout Int) -> String {
            var s = ""
            while let d = at(j), ("0"..."9").contains(d) || (d == "_" && at(j + 1).map { ("0"..."9").contains($0) } == true) {
                if d != "_" { s.unicodeScalars.append(d) }
                j += 1
            }
            return s
        }
        var j = pos
        var text = digits(&j)
        var isFloat = false
        if at(j) == ".", let d = at(j + 1), ("0"..."9").contains(d) {
            j += 1; text += "." + digits(&j); isFloat = true
        }
        if at(j) == "e" || at(j) == "E" {
            var k = j + 1
            var exp = "e"
            if at(k) == "+" || at(k) == "-" { exp.unicodeScalars.append(src[k]); k += 1 }
            if let d = at(k), ("0"..."9").contains(d) { exp += digits(&k); text += exp; j = k; isFloat = true }
        }
        pos = j
        if isFloat {
            guard let d = Double(text) else { throw .syntax("invalid number \(text)", here) }
            tokens.append(Token(kind: .float(d), position: here))
        } else {
            guard let i = Int(text) else { throw .limit("integer literal \(text) is too large", here) }
            tokens.append(Token(kind: .integer(i), position: here))
        }
    }

    /// A string literal, its escapes decoded as Python's `unicode-escape` codec does (unknown ones kept).
    private mutating func lexString(quote: Unicode.Scalar, _ here: SourcePosition) throws(TemplateError) {
        var out = String.UnicodeScalarView()
        var j = pos + 1
        while true {
            guard let c = at(j) else { throw .syntax("unterminated string", here) }
            if c == quote { break }
            j += 1
            guard c == "\\", let e = at(j) else { out.append(c); continue }
            j += 1
            let simple: [Unicode.Scalar: Unicode.Scalar] = ["n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'",
                                                          "\"": "\"", "a": "\u{07}", "b": "\u{08}", "f": "\u{0C}",
                                                          "v": "\u{0B}", "\n": "\n"]
            if e == "\n" { continue }  // a backslash-newline continues the line
            if let s = simple[e] { out.append(s); continue }
            let hexLength = e == "x" ? 2 : e == "u" ? 4 : e == "U" ? 8 : 0
            if hexLength > 0 {
                let hex = j + hexLength <= src.count ? PyString.string(src[j..<(j + hexLength)]) : ""
                guard hex.unicodeScalars.count == hexLength, let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else {
                    throw .syntax("invalid \\\(e) escape in string", here)
                }
                out.append(u); j += hexLength; continue
            }
            if ("0"..."7").contains(e) {
                var v = e.value - 48, n = 1
                while n < 3, let d = at(j), ("0"..."7").contains(d) { v = v * 8 + d.value - 48; j += 1; n += 1 }
                if let u = Unicode.Scalar(v) { out.append(u) }
                continue
            }
            out.append("\\"); out.append(e)
        }
        tokens.append(Token(kind: .string(String(out)), position: here))
        pos = j + 1
    }
}
