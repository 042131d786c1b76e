import Foundation

/// jinja2's built-in filters (`x | name(args)`), with transformers' `tojson`. Sequence filters that return
/// iterators in jinja2 (`map`, `select`, `items`, `reverse`, `unique`...) return one-pass generators here too.
extension Evaluator {
    /// Every filter jinja2 3.1.6 defines; a name outside this list fails at parse time, as jinja2's does.
    static let jinjaFilters: Set<String> = [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
        "filesizeformat", "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join",
        "last", "length", "list", "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr", "replace",
        "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title",
        "tojson", "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
    ]

    func applyFilter(_ f: FilterCall, to value: Value) throws(TemplateError) -> Value {
        try filter(f.name, value, try evalArguments(f.arguments), f.position)
    }

    func filter(_ name: String, _ value: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        func string() throws(TemplateError) -> String {
            let s = try text(value, p)
            try charge(s.utf8.count, p)
            return s
        }
        switch name {
        case "default", "d":
            let fallback = args.value(0, "default_value") ?? .string("")
            let boolean = args.value(1, "boolean")?.truthy ?? false
            return value.isUndefined || (boolean && !value.truthy) ? fallback : value
        case "length", "count": return .int(try length(value, p))
        case "string": return .string(try string())
        case "safe": return .markup(try string())
        case "e", "escape", "forceescape":
            if case .markup = value, name != "forceescape" { return value }
            return .markup(Evaluator.htmlEscape(try string()))
        case "trim": return .string(PyString.strip(try string(), chars: args.value(0, "chars")?.stringValue))
        case "upper": return .string(try string().uppercased())
        case "lower": return .string(try string().lowercased())
        case "capitalize": return .string(PyString.capitalize(try string()))
        case "title": return .string(Evaluator.jinjaTitle(try string()))
        case "replace":
            guard let old = args.value(0, "old"), let new = args.value(1, "new") else {
                throw .runtime("replace() missing required arguments", p)
            }
            let count = args.value(2, "count")?.integer ?? -1
            return .string(try replace(try string(), try text(old, p), try text(new, p), count: count, p))
        case "tojson": return .string(try toJSON(value, args, p))
        case "indent": return .string(try indent(try string(), args, p))
        case "center": return .string(try pad(try string(), "center", width: args.value(0, "width")?.integer ?? 80, fill: " ", p))
        case "wordcount":  // re.findall(r"\w+")
            var words = 0, inWord = false
            for c in try string().unicodeScalars {
                let word = c.properties.isAlphabetic || c.properties.numericType != nil || c == "_"
                if word && !inWord { words += 1 }
                inWord = word
            }
            return .int(words)
        case "int": return Evaluator.toInt(value, args)
        case "float": return Evaluator.toFloat(value) ?? args.value(0, "default") ?? .double(0)
        case "abs":
            switch value {
            case .int(let i) where i != Int.min: return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: throw .runtime("bad operand type for abs(): '\(value.typeName)'", p)
            }
        case "round": return try round(value, args, p)
        case "list": return .list(try iterate(value, p))
        case "first":
            if case .generator(let id) = value {
                guard !generators[id].isEmpty else { return .undefined(hint: "No first item, sequence was empty.") }
                return generators[id].removeFirst()
            }
            return try iterate(value, p).first ?? .undefined(hint: "No first item, sequence was empty.")
        case "last":
            return try iterate(value, p).last ?? .undefined(hint: "No last item, sequence was empty.")
        case "join":
            var items = try iterate(value, p)
            if let attribute = args.value(1, "attribute") { items = try items.map { (v: Value) throws(TemplateError) in try path(v, attribute, p) } }
            return .string(try join(items, separator: try text(args.value(0, "d") ?? .string(""), p), p))
        case "items":
            if value.isUndefined { return makeGenerator([]) }
            guard case .dict(let d) = value else { throw .runtime("Can only get item pairs from a mapping.", p) }
            return makeGenerator(d.items.map { .tuple([$0.key, $0.value]) })
        case "dictsort": return try dictsort(value, args, p)
        case "reverse":
            if case .string(let s) = value { return .string(PyString.string(s.unicodeScalars.reversed())) }
            return makeGenerator(try iterate(value, p).reversed())
        case "sort", "unique", "min", "max": return try sortFilter(name, value, args, p)
        case "sum":
            var total = args.value(1, "start") ?? .int(0)
            for item in try iterate(value, p) {
                let v = try args.value(0, "attribute").map { (a: Value) throws(TemplateError) in try path(item, a, p) } ?? item
                total = try binary(.add, total, v, p)
            }
            return total
        case "map": return try mapFilter(value, args, p)
        case "select", "reject", "selectattr", "rejectattr": return try selectFilter(name, value, args, p)
        case "batch":
            guard let size = args.value(0, "linecount")?.integer, size > 0 else { throw .runtime("batch() needs a positive size", p) }
            if size > limits.collectionSize { throw .limit("batch() of more than \(limits.collectionSize) items", p) }
            let items = try iterate(value, p)
            var batches: [Value] = []
            var i = 0
            while i < items.count {
                var chunk = Array(items[i..<min(i + size, items.count)])
                if chunk.count < size, let fill = args.value(1, "fill_with"), !fill.isNone {
                    chunk += Array(repeating: fill, count: size - chunk.count)
                }
                batches.append(.list(chunk)); i += size
            }
            return makeGenerator(batches)
        default:
            if Evaluator.jinjaFilters.contains(name) { throw .unsupported("unsupported filter '\(name)'", p) }
            throw .syntax("no filter named '\(name)'", p)
        }
    }

    /// `str.replace`, refusing a result longer than the output limit before building it.
    func replace(_ s: String, _ old: String, _ new: String, count: Int, _ p: SourcePosition) throws(TemplateError) -> String {
        if !new.isEmpty {
            let matches = old.isEmpty ? PyString.length(s) + 1 : PyString.count(s, old)
            let n = count < 0 ? matches : min(count, matches)
            if n > 0 && (new.utf8.count > limits.outputScalars / n || s.utf8.count + n * new.utf8.count > limits.outputScalars) {
                throw .limit("replace() result longer than \(limits.outputScalars) bytes", p)
            }
        }
        return PyString.replace(s, old, new, count: count)
    }

    /// `separator.join(str(item) for item in items)`, refusing a result longer than the output limit.
    func join(_ items: [Value], separator: String, _ p: SourcePosition) throws(TemplateError) -> String {
        var parts: [String] = []
        var total = 0
        for item in items {
            let part = try text(item, p)
            total += part.utf8.count + (parts.isEmpty ? 0 : separator.utf8.count)
            if total > limits.outputScalars { throw .limit("join() result longer than \(limits.outputScalars) bytes", p) }
            parts.append(part)
        }
        try charge(total, p)
        return parts.joined(separator: separator)
    }

    func length(_ value: Value, _ p: SourcePosition) throws(TemplateError) -> Int {
        switch value.plain {
        case .undefined: return 0
        case .string(let s): try charge(s.utf8.count, p); return PyString.length(s)
        case .list(let a), .tuple(let a): return a.count
        case .dict(let d): return d.count
        case .namespace(let id): return namespaces[id].count
        default: throw .runtime("object of type '\(value.typeName)' has no len()", p)
        }
    }

    /// `item.a.b` or `item.0` for `attribute=` arguments (jinja2's `make_attrgetter`).
    func path(_ item: Value, _ attribute: Value, _ p: SourcePosition) throws(TemplateError) -> Value {
        guard case .string(let dotted) = attribute else { return try self.item(item, attribute, p) }
        var v = item
        for part in dotted.split(separator: ".", omittingEmptySubsequences: false) {
            v = try self.item(v, Int(part).map(Value.int) ?? .string(String(part)), p)
        }
        return v
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// jinja2's `title`: each piece between runs of `-`, whitespace and opening brackets gets its first character
    /// upper-cased and the rest lower-cased.
    static func jinjaTitle(_ s: String) -> String {
        var out = "", piece = "", inDelimiters = false
        func flush() { if !piece.isEmpty { out += PyString.capitalize(piece) }; piece = "" }
        for c in s.unicodeScalars {
            let delimiter = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || PyString.isSpace(c)
            if delimiter != inDelimiters { flush(); inDelimiters = delimiter }
            piece.unicodeScalars.append(c)
        }
        flush()
        return out
    }

    func indent(_ text: String, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> String {
        let width = args.value(0, "width") ?? .int(4)
        let indention = width.stringValue ?? String(repeating: " ", count: min(max(width.integer ?? 4, 0), limits.outputScalars))
        let first = args.value(1, "first")?.truthy ?? false
        let blank = args.value(2, "blank")?.truthy ?? false
        var lines = PyString.splitlines(text + "\n")
        if indention.utf8.count * (lines.count + 1) + text.utf8.count > limits.outputScalars {
            throw .limit("indent output longer than \(limits.outputScalars) bytes", p)
        }
        var rv: String
        if blank {
            rv = lines.joined(separator: "\n" + indention)
        } else {
            rv = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty { rv += "\n" + lines.map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n") }
        }
        return first ? indention + rv : rv
    }

    static func toInt(_ value: Value, _ args: CallArguments) -> Value {
        let fallback = args.value(0, "default") ?? .int(0)
        switch value {
        case .int, .bool: return .int(value.integer ?? 0)
        case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : fallback
        case .string(let s):
            var base = args.value(1, "base")?.integer ?? 10
            var t = PyString.strip(s, chars: nil).replacingOccurrences(of: "_", with: "").lowercased()
            let negative = t.hasPrefix("-")
            if negative || t.hasPrefix("+") { t.removeFirst() }
            for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where t.hasPrefix(prefix) && (base == radix || base == 0) {
                t.removeFirst(2); base = radix
            }
            if base == 0 { base = 10 }
            if (2...36).contains(base), !t.hasPrefix("-"), !t.hasPrefix("+"), let i = Int(t, radix: base) { return .int(negative ? -i : i) }
            if case .double(let d)? = toFloat(value), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            return fallback
        default: return fallback
        }
    }

    static func toFloat(_ value: Value) -> Value? {
        switch value {
        case .int, .bool, .double: return value.number.map(Value.double)
        case .string(let s):
            let t = PyString.strip(s, chars: nil).lowercased()
            switch t {
            case "inf", "+inf", "infinity", "+infinity": return .double(.infinity)
            case "-inf", "-infinity": return .double(-.infinity)
            case "nan", "+nan", "-nan": return .double(.nan)
            default:
                guard !t.isEmpty, t.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.e_".contains($0)) }) else { return nil }
                return Double(t.replacingOccurrences(of: "_", with: "")).map(Value.double)
            }
        default: return nil
        }
    }

    func round(_ value: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        let precision = args.value(0, "precision")?.integer ?? 0
        let method = args.value(1, "method")?.stringValue ?? "common"
        if case .int = value, method == "common" { return value }
        guard let x = value.number else { throw .runtime("type \(value.typeName) doesn't define __round__ method", p) }
        if method == "common" && (0...20).contains(precision) && x.isFinite {
            // Python rounds the exact binary value (2.675 is 2.67499999...); printf does the same.
            return .double(Double(String(format: "%.\(precision)f", x)) ?? x)
        }
        let scale = pow(10.0, Double(precision))
        let rule: FloatingPointRoundingRule = switch method {
        case "ceil": .up
        case "floor": .down
        case "common": .toNearestOrEven
        default: .toNearestOrEven
        }
        guard ["common", "ceil", "floor"].contains(method) else {
            throw .runtime("method must be 'common', 'ceil' or 'floor'", p)
        }
        return .double((x * scale).rounded(rule) / scale)
    }
}
