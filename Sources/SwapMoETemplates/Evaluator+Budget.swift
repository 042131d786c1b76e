/// The work budget and printing guard. Each render counts the elements it walks and the bytes it copies, so
/// a template that loops a million times over a large value stops with `TemplateError.limit` instead of
/// running for hours; and a value is printed only if its text fits the output limit (a list can hold the
/// same large string a million times).
extension Evaluator {
    /// Counts `units` of work (elements walked, bytes copied); throws past the budget.
    func charge(_ units: Int, _ p: SourcePosition) throws(TemplateError) {
        work = work &+ max(units, 0)
        if work > limits.work { throw .limit("the template did more than \(limits.work) units of work", p) }
    }

    /// What walking `value` costs: a collection's elements, a string's bytes.
    static func size(_ value: Value) -> Int {
        switch value {
        case .string(let s), .markup(let s): s.utf8.count
        case .list(let a), .tuple(let a): a.count
        case .dict(let d): d.count
        default: 1
        }
    }

    /// `str(value)` (or `repr`), refusing a collection whose text would exceed the output limit.
    func text(_ value: Value, repr: Bool = false, _ p: SourcePosition) throws(TemplateError) -> String {
        switch value {
        case .list, .tuple, .dict:
            let size = value.printedSize(limit: limits.outputScalars)
            if size > limits.outputScalars { throw .limit("a value prints longer than \(limits.outputScalars) bytes", p) }
            try charge(size, p)
        default: break
        }
        return repr ? value.pyRepr : value.pyStr
    }
}

extension Value {
    /// About how many bytes `repr` writes (an overestimate for numbers), counting no further than `limit`.
    func printedSize(limit: Int) -> Int {
        switch self {
        case .string(let s), .markup(let s): return s.utf8.count + 2
        case .list(let a), .tuple(let a): return Value.sum(a, limit: limit)
        case .dict(let d): return Value.sum(d.keys, limit: limit) + Value.sum(d.values, limit: limit)
        default: return 32
        }
    }

    private static func sum(_ items: [Value], limit: Int) -> Int {
        var total = 2
        for item in items {
            total += item.printedSize(limit: limit - total) + 2
            if total > limit { return total }
        }
        return total
    }
}
