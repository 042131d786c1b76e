/// Python's `str` methods over Unicode scalars (code points), which is how Python indexes, compares and
/// splits strings. Swift's `String` compares by canonical equivalence and counts grapheme clusters, so the
/// engine never uses `==`, `count` or `hasPrefix` of `String` on template data.
enum PyString {
    typealias Scalars = [Unicode.Scalar]

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }
    static func string<C: Sequence>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    static func equal(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }
    static func length(_ s: String) -> Int { s.unicodeScalars.count }

    /// Code point order, as Python compares strings.
    static func less(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// `str.isspace()` for one code point (Unicode White_Space plus the separators \x1c-\x1f).
    static func isSpace(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            true
        default: false
        }
    }

    static func isLineBreak(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }

    /// `strip`, `lstrip`, `rstrip`: whitespace, or any of `chars`.
    static func strip(_ s: String, chars: String?, left: Bool = true, right: Bool = true) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        let drop: (Unicode.Scalar) -> Bool = { c in set.map { $0.contains(c) } ?? isSpace(c) }
        let a = scalars(s)
        var lo = 0, hi = a.count
        if left { while lo < hi && drop(a[lo]) { lo += 1 } }
        if right { while hi > lo && drop(a[hi - 1]) { hi -= 1 } }
        return string(a[lo..<hi])
    }

    /// The first index of `sub` in `a` at or after `from`, or nil.
    static func find(_ a: Scalars, _ sub: Scalars, from: Int = 0) -> Int? {
        guard sub.count <= a.count else { return nil }
        if sub.isEmpty { return from <= a.count ? from : nil }
        var i = max(from, 0)
        while i + sub.count <= a.count {
            if a[i] == sub[0] && a[i..<(i + sub.count)].elementsEqual(sub) { return i }
            i += 1
        }
        return nil
    }

    static func rfind(_ a: Scalars, _ sub: Scalars) -> Int? {
        guard sub.count <= a.count else { return nil }
        var i = a.count - sub.count
        while i >= 0 {
            if a[i..<(i + sub.count)].elementsEqual(sub) { return i }
            i -= 1
        }
        return nil
    }

    static func count(_ s: String, _ sub: String) -> Int {
        let a = scalars(s), b = scalars(sub)
        if b.isEmpty { return a.count + 1 }
        var n = 0, i = 0
        while let j = find(a, b, from: i) { n += 1; i = j + b.count }
        return n
    }

    static func replace(_ s: String, _ old: String, _ new: String, count limit: Int = -1) -> String {
        let a = scalars(s), o = scalars(old), n = scalars(new)
        var out: Scalars = []
        var done = 0
        if o.isEmpty {
            for c in a {
                if limit < 0 || done < limit { out += n; done += 1 }
                out.append(c)
            }
            if limit < 0 || done < limit { out += n }
            return string(out)
        }
        var i = 0
        while limit < 0 || done < limit, let j = find(a, o, from: i) {
            out += a[i..<j]; out += n; i = j + o.count; done += 1
        }
        out += a[i...]
        return string(out)
    }

    static func hasPrefix(_ s: String, _ p: String) -> Bool { s.unicodeScalars.starts(with: p.unicodeScalars) }
    static func hasSuffix(_ s: String, _ p: String) -> Bool {
        s.unicodeScalars.reversed().starts(with: p.unicodeScalars.reversed())
    }

    /// `str.split(sep, maxsplit)`; nil `sep` splits on runs of whitespace and drops empty pieces.
    static func split(_ s: String, sep: String?, maxsplit: Int = -1) -> [String] {
        let a = scalars(s)
        guard let sep else {
            var out: [String] = [], i = 0
            while true {
                while i < a.count && isSpace(a[i]) { i += 1 }
                if i == a.count { break }
                if maxsplit >= 0 && out.count == maxsplit {
                    out.append(string(a[i...])); break  // the rest as is, trailing whitespace included
                }
                var j = i
                while j < a.count && !isSpace(a[j]) { j += 1 }
                out.append(string(a[i..<j])); i = j
            }
            return out
        }
        let b = scalars(sep)
        var out: [String] = [], i = 0
        while maxsplit < 0 || out.count < maxsplit, let j = find(a, b, from: i) {
            out.append(string(a[i..<j])); i = j + b.count
        }
        out.append(string(a[i...]))
        return out
    }

    /// `str.rsplit(sep, maxsplit)`.
    static func rsplit(_ s: String, sep: String?, maxsplit: Int = -1) -> [String] {
        if maxsplit < 0 { return split(s, sep: sep) }
        let rev = string(scalars(s).reversed())
        let revSep = sep.map { string(scalars($0).reversed()) }
        return split(rev, sep: revSep, maxsplit: maxsplit).reversed().map { string(scalars($0).reversed()) }
    }

    /// `str.splitlines(keepends)`.
    static func splitlines(_ s: String, keepends: Bool = false) -> [String] {
        let a = scalars(s)
        var out: [String] = [], start = 0, i = 0
        while i < a.count {
            if isLineBreak(a[i]) {
                var end = i + 1
                if a[i] == "\r" && end < a.count && a[end] == "\n" { end += 1 }
                out.append(string(a[start..<(keepends ? end : i)]))
                start = end; i = end
            } else {
                i += 1
            }
        }
        if start < a.count { out.append(string(a[start...])) }
        return out
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return String(first).uppercased() + string(s.unicodeScalars.dropFirst()).lowercased()
    }

    /// `str.title()`: a cased letter after an uncased one starts a word.
    static func title(_ s: String) -> String {
        var out = "", previousCased = false
        for c in s.unicodeScalars {
            let cased = c.properties.isCased
            out += previousCased ? String(c).lowercased() : String(c).uppercased()
            previousCased = cased
        }
        return out
    }
}
