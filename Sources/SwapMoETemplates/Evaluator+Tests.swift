/// jinja2's built-in tests (`x is name(args)`).
extension Evaluator {
    static let jinjaTests: Set<String> = [
        "!=", "<", "<=", "==", ">", ">=", "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped",
        "even", "false", "filter", "float", "ge", "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan",
        "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true",
        "undefined", "upper",
    ]

    func applyTest(_ name: String, _ original: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Bool {
        let v = original.plain
        func other() throws(TemplateError) -> Value {
            guard let o = args.positional.first else { throw .runtime("test '\(name)' needs an argument", p) }
            return o
        }
        func ordered(_ op: CompareOperator) throws(TemplateError) -> Bool { try compare(op, v, try other(), p) }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": return v.isNone
        case "string": if case .string = v { return true }; return false
        case "number": return v.number != nil
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "mapping": if case .dict = v { return true }; return false
        case "sequence":
            switch v { case .string, .list, .tuple, .dict, .undefined: return true; default: return false }
        case "iterable":
            switch v { case .string, .list, .tuple, .dict, .generator, .undefined: return true; default: return false }
        case "callable":
            switch v { case .macro, .builtin, .method: return true; default: return false }
        case "escaped": if case .markup = original { return true }; return false
        case "lower": return v.stringValue.map { $0 == $0.lowercased() && $0 != $0.uppercased() } ?? false
        case "upper": return v.stringValue.map { $0 == $0.uppercased() && $0 != $0.lowercased() } ?? false
        case "eq", "equalto", "==": return v.pyEquals(try other())
        case "ne", "!=": return !v.pyEquals(try other())
        case "lt", "lessthan", "<": return try ordered(.less)
        case "le", "<=": return try ordered(.lessEqual)
        case "gt", "greaterthan", ">": return try ordered(.greater)
        case "ge", ">=": return try ordered(.greaterEqual)
        case "in": return try contains(try other(), v, p)
        case "even", "odd", "divisibleby":
            guard let i = v.integer else {
                if case .undefined(let hint) = v { throw .runtime(hint, p) }
                throw .runtime("test '\(name)' needs an integer, got '\(v.typeName)'", p)
            }
            if name == "even" { return i % 2 == 0 }
            if name == "odd" { return i % 2 != 0 }
            guard let d = try other().integer, d != 0 else { throw .runtime("integer division or modulo by zero", p) }
            return i % d == 0
        case "sameas":
            let o = try other()
            switch (v, o) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            // CPython caches small ints and interns short strings, so `is` holds for equal ones.
            case (.int(let a), .int(let b)): return a == b && (-5...256).contains(a)
            case (.string(let a), .string(let b)): return PyString.equal(a, b)
            case (.namespace(let a), .namespace(let b)), (.macro(let a), .macro(let b)): return a == b
            default: return false
            }
        case "filter": return v.stringValue.map(Evaluator.jinjaFilters.contains) ?? false
        case "test": return v.stringValue.map(Evaluator.jinjaTests.contains) ?? false
        default:
            throw .syntax("no test named '\(name)'", p)
        }
    }
}
