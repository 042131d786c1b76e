/// Methods templates call on values (`s.startswith(...)`, `d.get(...)`) and the global functions. The sandbox
/// refuses methods that mutate lists and dicts, as jinja2's ImmutableSandboxedEnvironment does.
extension Evaluator {
    static let stringMethods: Set<String> = [
        "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "replace", "upper",
        "lower", "title", "capitalize", "find", "rfind", "index", "count", "join", "format", "isdigit", "isalpha",
        "isalnum", "isspace", "islower", "isupper", "removeprefix", "removesuffix", "casefold", "center", "ljust",
        "rjust", "zfill", "partition", "rpartition",
    ]
    /// Python `str` methods this engine does not implement: calling one is `unsupported`, not a type error.
    static let otherStringMethods: Set<String> = [
        "expandtabs", "encode", "isnumeric",
        "isdecimal", "istitle", "isidentifier", "isprintable", "isascii", "swapcase", "translate", "maketrans",
        "rindex", "format_map",
    ]
    static let dictMethods: Set<String> = ["items", "keys", "values", "get", "copy", "pop", "popitem", "update",
                                           "setdefault", "clear"]
    static let listMethods: Set<String> = ["index", "count", "copy", "append", "extend", "insert", "pop", "remove",
                                           "reverse", "sort", "clear"]
    private static let unsafeMethods: Set<String> = ["pop", "popitem", "update", "setdefault", "clear", "append",
                                                     "extend", "insert", "remove", "reverse", "sort"]

    func callMethod(_ receiver: Value, _ name: String, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        if case .string = receiver.plain { try charge(Evaluator.size(receiver), p) }
        if Evaluator.unsafeMethods.contains(name), receiver.typeName == "list" || receiver.typeName == "dict" {
            throw .runtime("access to attribute '\(name)' of '\(receiver.typeName)' object is unsafe.", p)
        }
        func arg(_ i: Int, _ n: String) throws(TemplateError) -> Value {
            guard let v = args.value(i, n) else { throw .runtime("\(name)() missing required argument '\(n)'", p) }
            return v
        }
        switch receiver.plain {
        case .string(let s): return try stringMethod(s, name, args, p)
        case .dict(let d):
            switch name {
            case "items": try charge(d.count, p); return .list(d.items.map { .tuple([$0.key, $0.value]) })
            case "keys": return .list(d.keys)
            case "values": return .list(d.values)
            case "get": return d.lookup(try arg(0, "key")) ?? args.value(1, "default") ?? .none
            case "copy": return receiver
            default: break
            }
        case .list(let a), .tuple(let a):
            if name == "copy" { return receiver }
            let target = try arg(0, "value")
            try charge(a.count, p)
            if name == "count" { return .int(a.filter { $0.pyEquals(target) }.count) }
            if name == "index", let i = a.firstIndex(where: { $0.pyEquals(target) }) { return .int(i) }
            throw .runtime("\(try text(target, repr: true, p)) is not in list", p)
        case .loop(let state) where name == "cycle":
            guard !args.positional.isEmpty else { throw .runtime("no items for cycling given", p) }
            return args.positional[state.index0 % args.positional.count]
        default: break
        }
        throw .runtime("'\(receiver.typeName)' object has no attribute '\(name)'", p)
    }

    private func stringMethod(_ s: String, _ name: String, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        func str(_ i: Int, _ n: String) throws(TemplateError) -> String {
            guard let v = args.value(i, n)?.stringValue else { throw .runtime("\(name)() argument '\(n)' must be str", p) }
            return v
        }
        func optionalStr(_ i: Int, _ n: String) throws(TemplateError) -> String? {
            guard let v = args.value(i, n), !v.isNone else { return nil }
            guard let t = v.stringValue else { throw .runtime("\(name)() argument must be str or None, not \(v.typeName)", p) }
            return t
        }
        let maxsplit = args.value(1, "maxsplit")?.integer ?? -1
        switch name {
        case "startswith", "endswith":
            let candidates: [Value]
            switch args.value(0, "prefix")?.plain {
            case .string(let t)?: candidates = [.string(t)]
            case .tuple(let items)?: candidates = items
            default: throw .runtime("\(name) first arg must be str or a tuple of str", p)
            }
            return .bool(candidates.contains { c in
                guard let t = c.stringValue else { return false }
                return name == "startswith" ? PyString.hasPrefix(s, t) : PyString.hasSuffix(s, t)
            })
        case "strip": return .string(PyString.strip(s, chars: try optionalStr(0, "chars")))
        case "lstrip": return .string(PyString.strip(s, chars: try optionalStr(0, "chars"), right: false))
        case "rstrip": return .string(PyString.strip(s, chars: try optionalStr(0, "chars"), left: false))
        case "split", "rsplit":
            let sep = try optionalStr(0, "sep")
            if sep?.isEmpty == true { throw .runtime("empty separator", p) }
            let parts = name == "split" ? PyString.split(s, sep: sep, maxsplit: maxsplit)
                : PyString.rsplit(s, sep: sep, maxsplit: maxsplit)
            return .list(parts.map(Value.string))
        case "splitlines": return .list(PyString.splitlines(s, keepends: args.value(0, "keepends")?.truthy ?? false).map(Value.string))
        case "replace":
            return .string(try replace(s, try str(0, "old"), try str(1, "new"), count: args.value(2, "count")?.integer ?? -1, p))
        case "upper": return .string(s.uppercased())
        case "lower", "casefold": return .string(s.lowercased())
        case "title": return .string(PyString.title(s))
        case "capitalize": return .string(PyString.capitalize(s))
        case "find", "index":
            let found = PyString.find(PyString.scalars(s), PyString.scalars(try str(0, "sub")))
            if name == "index" && found == nil { throw .runtime("substring not found", p) }
            return .int(found ?? -1)
        case "rfind": return .int(PyString.rfind(PyString.scalars(s), PyString.scalars(try str(0, "sub"))) ?? -1)
        case "count": return .int(PyString.count(s, try str(0, "sub")))
        case "join":
            let items = try iterate(args.value(0, "iterable") ?? .list([]), p)
            if let (i, bad) = items.enumerated().first(where: { $0.element.stringValue == nil }) {
                throw .runtime("sequence item \(i): expected str instance, \(bad.typeName) found", p)
            }
            return .string(try join(items, separator: s, p))
        case "format": return .string(try format(s, args, p))
        case "center", "ljust", "rjust", "zfill":
            let width = args.value(0, "width")?.integer ?? 0
            let fill = name == "zfill" ? "0" : (args.value(1, "fillchar")?.stringValue ?? " ")
            guard PyString.length(fill) == 1 else { throw .runtime("The fill character must be exactly one character long", p) }
            return .string(try pad(s, name, width: width, fill: fill, p))
        case "partition", "rpartition":
            let sep = try str(0, "sep")
            if sep.isEmpty { throw .runtime("empty separator", p) }
            let a = PyString.scalars(s), b = PyString.scalars(sep)
            guard let i = name == "partition" ? PyString.find(a, b) : PyString.rfind(a, b) else {
                return .tuple(name == "partition" ? [.string(s), .string(""), .string("")] : [.string(""), .string(""), .string(s)])
            }
            return .tuple([.string(PyString.string(a[..<i])), .string(sep), .string(PyString.string(a[(i + b.count)...]))])
        case "removeprefix":
            let t = try str(0, "prefix")
            return .string(PyString.hasPrefix(s, t) ? PyString.string(s.unicodeScalars.dropFirst(t.unicodeScalars.count)) : s)
        case "removesuffix":
            let t = try str(0, "suffix")
            return .string(PyString.hasSuffix(s, t) && !t.isEmpty ? PyString.string(s.unicodeScalars.dropLast(t.unicodeScalars.count)) : s)
        case "isdigit": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(PyString.isSpace))
        case "islower": return .bool(s == s.lowercased() && s != s.uppercased())
        case "isupper": return .bool(s == s.uppercased() && s != s.lowercased())
        default:
            if Evaluator.otherStringMethods.contains(name) { throw .unsupported("unsupported method str.\(name)()", p) }
            throw .runtime("'str' object has no attribute '\(name)'", p)
        }
    }

    /// `center`, `ljust`, `rjust` and `zfill` (the sign stays in front of the zeros), as CPython pads.
    func pad(_ s: String, _ how: String, width: Int, fill: String, _ p: SourcePosition) throws(TemplateError) -> String {
        let margin = width - PyString.length(s)
        guard margin > 0 else { return s }
        if width > limits.outputScalars { throw .limit("padding wider than \(limits.outputScalars)", p) }
        func fills(_ n: Int) -> String { String(repeating: fill, count: n) }
        switch how {
        case "ljust": return s + fills(margin)
        case "rjust": return fills(margin) + s
        case "zfill":
            guard let first = s.unicodeScalars.first, first == "+" || first == "-" else { return fills(margin) + s }
            return String(first) + fills(margin) + PyString.string(s.unicodeScalars.dropFirst())
        default:
            let left = margin / 2 + (margin & width & 1)
            return fills(left) + s + fills(margin - left)
        }
    }

    func callBuiltin(_ b: Builtin, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        switch b {
        case .range:
            let ints = args.positional.compactMap(\.integer)
            guard ints.count == args.positional.count, (1...3).contains(ints.count) else {
                throw .runtime("range() takes 1 to 3 integer arguments", p)
            }
            let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw .runtime("range() arg 3 must not be zero", p) }
            // The length in floating point first, so extreme bounds cannot overflow.
            let span = ((Double(stop) - Double(start)) / Double(step)).rounded(.up)
            if span > Double(limits.collectionSize) { throw .limit("range() of more than \(limits.collectionSize) items", p) }
            let count = max(0, Int(max(span, 0)))
            return .list((0..<count).map { .int(start + $0 * step) })
        case .dict, .namespace:
            var d = PyDict()
            if let first = args.positional.first {
                if case .dict(let initial) = first { d = initial }
                else {
                    for pair in try iterate(first, p) {
                        let kv = try iterate(pair, p)
                        guard kv.count == 2, d.set(kv[0], kv[1]) else { throw .runtime("dictionary update sequence element has wrong length", p) }
                    }
                }
            }
            for (k, v) in args.keyword { d.set(.string(k), v) }
            if b == .dict { return .dict(d) }
            if let bad = d.keys.compactMap(\.stringValue).first(where: { $0.hasPrefix("_") }) {
                throw .runtime("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(bad)'. Please rename the attribute.", p)
            }
            namespaces.append(d)
            return .namespace(namespaces.count - 1)
        case .raiseException:
            throw .raised(try text(args.value(0, "message") ?? .string(""), p), p)
        case .strftimeNow:
            guard case .string(let format)? = args.value(0, "format") else { throw .runtime("strftime_now() needs a format string", p) }
            return .string(try now.format(format, p))
        }
    }
}
