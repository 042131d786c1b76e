import Foundation

/// String formatting: `str.format` and printf-style `'...' % value`, for the conversions templates use.
extension Evaluator {
    /// `str.format` with `{}`, `{0}`, `{name}`, `!r`/`!s` and `{{ }}`; format specs are not supported.
    func format(_ s: String, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> String {
        var out = "", auto = 0
        var it = s.unicodeScalars.makeIterator()
        while let c = it.next() {
            if c == "}" {
                guard it.next() == "}" else { throw .runtime("Single '}' encountered in format string", p) }
                out += "}"; continue
            }
            guard c == "{" else { out.unicodeScalars.append(c); continue }
            var field = ""
            var closed = false
            while let d = it.next() {
                if d == "{" && field.isEmpty { out += "{"; closed = true; field = "{"; break }
                if d == "}" { closed = true; break }
                field.unicodeScalars.append(d)
            }
            guard closed else { throw .runtime("expected '}' before end of string", p) }
            if field == "{" { continue }
            var conversion: Character?
            if let bang = field.firstIndex(of: "!") {
                conversion = field[field.index(after: bang)...].first
                field = String(field[..<bang])
            }
            if field.contains(":") || field.contains(".") || field.contains("[") {
                throw .unsupported("str.format field '{\(field)}' is not supported", p)
            }
            let value: Value?
            if field.isEmpty { value = args.positional.indices.contains(auto) ? args.positional[auto] : nil; auto += 1 }
            else if let i = Int(field) { value = args.positional.indices.contains(i) ? args.positional[i] : nil }
            else { value = args.keyword.first(where: { $0.name == field })?.value }
            guard let value else { throw .runtime("Replacement index \(field) out of range for positional args tuple", p) }
            out += try text(value, repr: conversion == "r", p)
            if out.utf8.count > limits.outputScalars { throw .limit("format() result longer than \(limits.outputScalars) bytes", p) }
        }
        return out
    }

    /// `format % args`: `%s`, `%r`, `%d`/`%i`, `%f`, `%x`, `%%`, with flags `-`/`0`, a width and a precision;
    /// `args` is a tuple (one value per conversion), a dict (for `%(name)s`) or one value.
    func percentFormat(_ format: String, _ args: Value, _ p: SourcePosition) throws(TemplateError) -> String {
        var positional: [Value]
        if case .tuple(let items) = args { positional = items } else { positional = [args] }
        var out = ""
        var chars = Array(format.unicodeScalars)[...]
        func nextValue(_ key: String?) throws(TemplateError) -> Value {
            if let key {
                guard case .dict(let d) = args, let v = d[key] else { throw .runtime("format requires a mapping with key '\(key)'", p) }
                return v
            }
            guard !positional.isEmpty else { throw .runtime("not enough arguments for format string", p) }
            return positional.removeFirst()
        }
        while let c = chars.popFirst() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            var key: String?
            if chars.first == "(" {
                chars.removeFirst()
                var k = ""
                while let d = chars.popFirst(), d != ")" { k.unicodeScalars.append(d) }
                key = k
            }
            var flags = "", width = "", precision: String?
            while let d = chars.first, "-0+ #".unicodeScalars.contains(d) { flags.unicodeScalars.append(d); chars.removeFirst() }
            while let d = chars.first, ("0"..."9").contains(d) { width.unicodeScalars.append(d); chars.removeFirst() }
            if chars.first == "." {
                chars.removeFirst()
                var digits = ""
                while let d = chars.first, ("0"..."9").contains(d) { digits.unicodeScalars.append(d); chars.removeFirst() }
                precision = digits
            }
            guard let conversion = chars.popFirst() else { throw .runtime("incomplete format", p) }
            if (Int(width) ?? 0) > limits.outputScalars || (Int(precision ?? "0") ?? 0) > 1000 || width.count > 12 {
                throw .limit("format width or precision too large", p)
            }
            var text: String
            switch conversion {
            case "%": out += "%"; continue
            case "s": text = try self.text(try nextValue(key), p)
            case "r": text = try self.text(try nextValue(key), repr: true, p)
            case "d", "i", "x", "f", "F":
                let v = try nextValue(key)
                guard let number = v.number else { throw .runtime("%\(conversion) format: a real number is required, not \(v.typeName)", p) }
                if conversion == "f" || conversion == "F" {
                    text = String(format: "%.\(Int(precision ?? "6") ?? 6)f", number)
                } else {
                    guard number.isFinite, abs(number) < 9.2e18 else { throw .runtime("cannot convert float to integer", p) }
                    let i = v.integer ?? Int(number)
                    text = conversion == "x" ? String(i, radix: 16) : String(i)
                }
                if flags.contains("+") && number >= 0 { text = "+" + text }
            default:
                throw .unsupported("printf-style conversion '%\(conversion)' is not supported", p)
            }
            if let precision, conversion == "s" || conversion == "r", let n = Int(precision) {
                text = PyString.string(text.unicodeScalars.prefix(n))
            }
            let pad = max(0, (Int(width) ?? 0) - PyString.length(text))
            if flags.contains("-") { text += String(repeating: " ", count: pad) }
            else if flags.contains("0") && conversion != "s" && conversion != "r" {
                let sign = text.hasPrefix("-") || text.hasPrefix("+") ? String(text.removeFirst()) : ""
                text = sign + String(repeating: "0", count: pad) + text
            } else { text = String(repeating: " ", count: pad) + text }
            out += text
            if out.utf8.count > limits.outputScalars { throw .limit("% format result longer than \(limits.outputScalars) bytes", p) }
        }
        if case .tuple = args, !positional.isEmpty { throw .runtime("not all arguments converted during string formatting", p) }
        return out
    }
}
