/// transformers' `tojson` filter: `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
/// sort_keys=sort_keys)`, byte for byte (Python's separators, float repr, escapes and indentation).
extension Evaluator {
    struct JSONStyle {
        var ensureASCII = false
        var indent: String?
        var itemSeparator = ", "
        var keySeparator = ": "
        var sortKeys = false
    }

    /// The filter's arguments in the override's order: `(ensure_ascii, indent, separators, sort_keys)`.
    func toJSON(_ value: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> String {
        var style = JSONStyle()
        style.ensureASCII = args.value(0, "ensure_ascii")?.truthy ?? false
        switch args.value(1, "indent") {
        case nil, .none?: break
        case .string(let s)?: style.indent = s
        case let v?:
            guard let n = v.integer else { throw .runtime("indent must be an int or a string", p) }
            if n > 1000 { throw .limit("tojson indent wider than 1000", p) }
            style.indent = String(repeating: " ", count: max(n, 0))
        }
        if style.indent != nil { style.itemSeparator = "," }
        if let separators = args.value(2, "separators"), !separators.isNone {
            let pair = try iterate(separators, p)
            guard pair.count == 2, case .string(let item) = pair[0], case .string(let key) = pair[1] else {
                throw .runtime("separators must be a pair of strings", p)
            }
            style.itemSeparator = item; style.keySeparator = key
        }
        style.sortKeys = args.value(3, "sort_keys")?.truthy ?? false
        var out = ""
        try encodeJSON(value, style, level: 0, into: &out, p)
        try charge(out.utf8.count, p)
        return out
    }

    private func encodeJSON(_ value: Value, _ style: JSONStyle, level: Int, into out: inout String, _ p: SourcePosition) throws(TemplateError) {
        if level > 200 { throw .limit("tojson nesting deeper than 200", p) }
        if out.utf8.count > limits.outputScalars { throw .limit("tojson output too long", p) }
        func newline(_ depth: Int) -> String {
            guard let indent = style.indent else { return "" }
            return "\n" + String(repeating: indent, count: depth)
        }
        switch value.plain {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += Evaluator.jsonFloat(d)
        case .string(let s): out += Evaluator.jsonString(s, ensureASCII: style.ensureASCII)
        case .list(let items), .tuple(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[" + newline(level + 1)
            for (i, item) in items.enumerated() {
                if i > 0 { out += style.itemSeparator + newline(level + 1) }
                try encodeJSON(item, style, level: level + 1, into: &out, p)
            }
            out += newline(level) + "]"
        case .dict(let d):
            if d.count == 0 { out += "{}"; return }
            var items = d.items
            if style.sortKeys {
                var failure = false
                items.sort { a, b in
                    guard let c = a.key.pyCompare(b.key) else { failure = true; return false }
                    return c < 0
                }
                if failure { throw .runtime("'<' not supported between dict keys of different types", p) }
            }
            out += "{" + newline(level + 1)
            for (i, item) in items.enumerated() {
                if i > 0 { out += style.itemSeparator + newline(level + 1) }
                let key: String
                switch item.key {
                case .string(let s): key = s
                case .int(let n): key = String(n)
                case .double(let x): key = Evaluator.jsonFloat(x)
                case .bool(let b): key = b ? "true" : "false"
                case .none: key = "null"
                default: throw .runtime("keys must be str, int, float, bool or None, not \(item.key.typeName)", p)
                }
                out += Evaluator.jsonString(key, ensureASCII: style.ensureASCII) + style.keySeparator
                try encodeJSON(item.value, style, level: level + 1, into: &out, p)
            }
            out += newline(level) + "}"
        default:
            throw .runtime("Object of type \(value.typeName) is not JSON serializable", p)
        }
    }

    static func jsonFloat(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return Value.pyFloat(d)
    }

    /// A JSON string as Python's encoder writes it: `\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other control
    /// characters as `\u00XX`; with `ensure_ascii`, everything outside ASCII as `\uXXXX` (surrogate pairs).
    static func jsonString(_ s: String, ensureASCII: Bool) -> String {
        var out = "\""
        func hex4(_ v: UInt32) -> String {
            let h = String(v, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - h.count) + h
        }
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 || (ensureASCII && c.value > 0x7E) {
                    if c.value >= 0x10000 {
                        let v = c.value - 0x10000
                        out += hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF))
                    } else {
                        out += hex4(c.value)
                    }
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}
