/// How Python prints, compares and orders values: `str()` (what `{{ x }}` writes), `repr()` (inside lists and
/// dicts), `==`, and `<` for sorting.
extension Value {
    /// Python's `str(value)`; `Undefined` prints as "".
    var pyStr: String {
        switch self {
        case .undefined: ""
        case .string(let s), .markup(let s): s
        default: pyRepr
        }
    }

    /// Python's `repr(value)`.
    var pyRepr: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): Value.pyFloat(d)
        case .string(let s): Value.pyStringRepr(s)
        case .markup(let s): "Markup(\(Value.pyStringRepr(s)))"
        case .list(let a): "[" + a.map(\.pyRepr).joined(separator: ", ") + "]"
        case .tuple(let a): a.count == 1 ? "(\(a[0].pyRepr),)" : "(" + a.map(\.pyRepr).joined(separator: ", ") + ")"
        case .dict(let d): "{" + d.items.map { "\($0.key.pyRepr): \($0.value.pyRepr)" }.joined(separator: ", ") + "}"
        case .namespace: "<Namespace>"
        case .macro: "<Macro>"
        case .loop: "<LoopContext>"
        case .builtin(let b): "<function \(b.rawValue)>"
        case .method(_, let name): "<built-in method \(name)>"
        case .generator: "<generator object>"
        }
    }

    /// `repr(float)`: the shortest digits that round-trip, fixed notation for exponents -4..<16.
    static func pyFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description is also shortest-round-trip; take its digits and decimal exponent.
        var text = "\(abs(d))"
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0]), fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = intPart + fracPart
        var point = intPart.count + exponent  // value = 0.DIGITS x 10^point
        while digits.hasPrefix("0") { digits.removeFirst(); point -= 1 }
        while digits.hasSuffix("0") { digits.removeLast() }
        if digits.isEmpty { digits = "0"; point = 1 }
        let sign = d < 0 ? "-" : ""
        if point > 16 || point < -3 {
            let e = point - 1
            let mantissa = digits.count == 1 ? digits : digits.prefix(1) + "." + digits.dropFirst()
            let exp = abs(e) < 10 ? "0\(abs(e))" : "\(abs(e))"
            return sign + mantissa + "e" + (e < 0 ? "-" : "+") + exp
        }
        if point <= 0 { return sign + "0." + String(repeating: "0", count: -point) + digits }
        if point >= digits.count { return sign + digits + String(repeating: "0", count: point - digits.count) + ".0" }
        let cut = digits.index(digits.startIndex, offsetBy: point)
        return sign + digits[..<cut] + "." + digits[cut...]
    }

    /// `repr(str)`: single quotes unless the text has one and no double quote; escapes as Python does.
    static func pyStringRepr(_ s: String) -> String {
        let quote: Unicode.Scalar = (s.unicodeScalars.contains("'") && !s.unicodeScalars.contains("\"")) ? "\"" : "'"
        var out = String(quote)
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case quote: out += "\\" + String(quote)
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if isPrintable(c) { out.unicodeScalars.append(c); continue }
                let hex = String(c.value, radix: 16)
                if c.value < 0x100 { out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex }
                else if c.value < 0x10000 { out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex }
                else { out += "\\U" + String(repeating: "0", count: 8 - hex.count) + hex }
            }
        }
        out.unicodeScalars.append(quote)
        return out
    }

    /// `str.isprintable()` for one code point.
    private static func isPrintable(_ c: Unicode.Scalar) -> Bool {
        if c == " " { return true }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default: return true
        }
    }

    /// A number as a double for mixed arithmetic and comparison (bools are ints in Python).
    var number: Double? {
        switch self {
        case .bool(let b): b ? 1 : 0
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    var integer: Int? {
        switch self {
        case .bool(let b): b ? 1 : 0
        case .int(let i): i
        default: nil
        }
    }

    /// Python's `==`.
    func pyEquals(_ other: Value) -> Bool {
        switch (plain, other.plain) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return PyString.equal(a, b)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pyEquals($1) }
        case (.dict(let a), .dict(let b)):
            return a.count == b.count && a.items.allSatisfy { item in b.lookup(item.key).map { $0.pyEquals(item.value) } ?? false }
        case (.namespace(let a), .namespace(let b)), (.macro(let a), .macro(let b)), (.generator(let a), .generator(let b)):
            return a == b
        case (.builtin(let a), .builtin(let b)): return a == b
        default:
            if let x = integer, let y = other.integer { return x == y }
            if let x = number, let y = other.number { return x == y }
            return false
        }
    }

    /// Python's ordering: -1, 0 or 1, or nil when Python raises `TypeError` ('<' not supported).
    func pyCompare(_ other: Value) -> Int? {
        switch (plain, other.plain) {
        case (.string(let a), .string(let b)):
            return PyString.equal(a, b) ? 0 : (PyString.less(a, b) ? -1 : 1)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)):
            for (x, y) in zip(a, b) where !x.pyEquals(y) { return x.pyCompare(y) }
            return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
        default:
            if let x = integer, let y = other.integer { return x == y ? 0 : (x < y ? -1 : 1) }
            guard let x = number, let y = other.number, !x.isNaN, !y.isNaN else { return nil }
            return x == y ? 0 : (x < y ? -1 : 1)
        }
    }
}
