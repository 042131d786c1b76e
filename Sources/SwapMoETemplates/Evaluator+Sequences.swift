/// The filters that sort, pick and transform sequences: `dictsort`, `sort`, `unique`, `min`, `max`, `map`,
/// `select`, `reject`, `selectattr`, `rejectattr`.
extension Evaluator {
    /// The sort key jinja2 uses: the item (or its `attribute`), lower-cased if a string and not case-sensitive.
    private func sortKey(_ item: Value, _ attribute: Value?, caseSensitive: Bool, _ p: SourcePosition) throws(TemplateError) -> Value {
        let v = try attribute.map { (a: Value) throws(TemplateError) in try path(item, a, p) } ?? item
        if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
        return v
    }

    /// A stable sort by Python ordering, raising jinja2's TypeError on values Python cannot order.
    private func sorted(_ items: [(key: Value, item: Value)], reverse: Bool, _ p: SourcePosition) throws(TemplateError) -> [Value] {
        var failure: TemplateError?
        let result = items.enumerated().sorted { a, b in
            guard let c = a.element.key.pyCompare(b.element.key) else {
                failure = .runtime("'<' not supported between instances of '\(a.element.key.typeName)' and '\(b.element.key.typeName)'", p)
                return false
            }
            if c == 0 { return a.offset < b.offset }
            return reverse ? c > 0 : c < 0
        }
        if let failure { throw failure }
        return result.map(\.element.item)
    }

    func dictsort(_ value: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        guard case .dict(let d) = value else { throw .runtime("You can only sort by either 'key' or 'value'", p) }
        let caseSensitive = args.value(0, "case_sensitive")?.truthy ?? false
        let by = args.value(1, "by")?.stringValue ?? "key"
        guard by == "key" || by == "value" else { throw .runtime("You can only sort by either 'key' or 'value'", p) }
        let reverse = args.value(2, "reverse")?.truthy ?? false
        var keyed: [(key: Value, item: Value)] = []
        for (k, v) in d.items {
            keyed.append((try sortKey(by == "key" ? k : v, nil, caseSensitive: caseSensitive, p), .tuple([k, v])))
        }
        return .list(try sorted(keyed, reverse: reverse, p))
    }

    func sortFilter(_ name: String, _ value: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        let items = try iterate(value, p)
        let reverse = name == "sort" ? (args.value(0, "reverse")?.truthy ?? false) : false
        let caseSensitive = args.value(name == "sort" ? 1 : 0, "case_sensitive")?.truthy ?? false
        let attribute = args.value(name == "sort" ? 2 : 1, "attribute")
        var keyed: [(key: Value, item: Value)] = []
        for item in items { keyed.append((try sortKey(item, attribute, caseSensitive: caseSensitive, p), item)) }
        switch name {
        case "unique":
            // Hashable keys in a set; only unhashable ones (lists, dicts) are compared one by one.
            var seen = Set<DictKey>(), seenOther: [Value] = [], out: [Value] = []
            for (key, item) in keyed {
                if let k = DictKey(key) {
                    if seen.insert(k).inserted { out.append(item) }
                } else if !seenOther.contains(where: { $0.pyEquals(key) }) {
                    try charge(seenOther.count, p)
                    seenOther.append(key); out.append(item)
                }
            }
            return makeGenerator(out)
        case "min", "max":
            let ordered = try sorted(keyed, reverse: name == "max", p)
            return ordered.first ?? .undefined(hint: "No aggregated item, sequence was empty.")
        default:
            return .list(try sorted(keyed, reverse: reverse, p))
        }
    }

    func mapFilter(_ value: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        let items = value.truthy ? try iterate(value, p) : []  // jinja2: `if value:` before iterating
        if let attribute = args.keyword.first(where: { $0.name == "attribute" })?.value {
            let fallback = args.keyword.first(where: { $0.name == "default" })?.value
            var out: [Value] = []
            for item in items {
                let v = try path(item, attribute, p)
                out.append(v.isUndefined ? (fallback ?? v) : v)
            }
            return makeGenerator(out)
        }
        guard case .string(let filterName)? = args.positional.first else {
            throw .runtime("map() needs a filter name or attribute=", p)
        }
        let rest = CallArguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        var out: [Value] = []
        for item in items { out.append(try filter(filterName, item, rest, p)) }
        return makeGenerator(out)
    }

    func selectFilter(_ name: String, _ value: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        let byAttribute = name.hasSuffix("attr")
        let keep = name.hasPrefix("select")
        var positional = args.positional
        var attribute: Value?
        if byAttribute {
            guard !positional.isEmpty else { throw .runtime("\(name)() needs an attribute name", p) }
            attribute = positional.removeFirst()
        }
        var testName: String?
        if !positional.isEmpty {
            guard case .string(let t) = positional.removeFirst() else { throw .runtime("\(name)() needs a test name", p) }
            testName = t
        }
        let testArgs = CallArguments(positional: positional, keyword: args.keyword)
        var out: [Value] = []
        for item in value.truthy ? try iterate(value, p) : [] {  // jinja2: `if value:` before iterating
            let v = try attribute.map { (a: Value) throws(TemplateError) in try path(item, a, p) } ?? item
            let passed = try testName.map { (t: String) throws(TemplateError) in try applyTest(t, v, testArgs, p) } ?? v.truthy
            if passed == keep { out.append(item) }
        }
        return makeGenerator(out)
    }
}
