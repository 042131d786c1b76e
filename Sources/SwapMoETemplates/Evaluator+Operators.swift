import Foundation

/// Arithmetic, `~`, comparisons and `in`, with Python's semantics: int and float arithmetic kept apart, `/`
/// always a float, `//` and `%` flooring, `str * int` repeating, `Undefined` refusing every operator but `~`.
extension Evaluator {
    func binary(_ op: BinaryOperator, _ a: Value, _ b: Value, _ p: SourcePosition) throws(TemplateError) -> Value {
        if op == .concat {
            let s = try text(a, p) + text(b, p)
            if s.utf8.count > limits.outputScalars { throw .limit("string longer than \(limits.outputScalars) bytes", p) }
            return .string(s)
        }
        if case .undefined(let hint) = a { throw .runtime(hint, p) }
        if case .undefined(let hint) = b { throw .runtime(hint, p) }
        try charge(Evaluator.size(a) + Evaluator.size(b), p)
        if op == .add, let sum = Evaluator.markupSum(a, b) { return sum }
        let a = a.plain, b = b.plain
        if let x = a.integer, let y = b.integer { return try integerArithmetic(op, x, y, p) }
        if let x = a.number, let y = b.number { return try floatArithmetic(op, x, y, p) }
        switch (op, a, b) {
        case (.add, .string(let x), .string(let y)):
            if x.utf8.count + y.utf8.count > limits.outputScalars { throw .limit("string too long", p) }
            return .string(x + y)
        case (.add, .list(let x), .list(let y)):
            return .list(x + y)
        case (.add, .tuple(let x), .tuple(let y)):
            return .tuple(x + y)
        case (.multiply, .string(let s), _), (.multiply, _, .string(let s)):
            guard let n = (a.integer ?? b.integer) else { break }
            if n > 0 && n > limits.outputScalars / max(s.utf8.count, 1) { throw .limit("string longer than \(limits.outputScalars) bytes", p) }
            return .string(n > 0 ? String(repeating: s, count: n) : "")
        case (.multiply, .list(let items), _), (.multiply, _, .list(let items)):
            guard let n = (a.integer ?? b.integer) else { break }
            if n > 0 && n > limits.collectionSize / max(items.count, 1) { throw .limit("list of more than \(limits.collectionSize) items", p) }
            return .list(n > 0 ? Array([[Value]](repeating: items, count: n).joined()) : [])
        case (.modulo, .string(let format), _):
            return .string(try percentFormat(format, b, p))
        default: break
        }
        if op == .add, case .string = a {
            throw .runtime("can only concatenate str (not \"\(b.typeName)\") to str", p)
        }
        throw .runtime("unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'", p)
    }

    private func integerArithmetic(_ op: BinaryOperator, _ x: Int, _ y: Int, _ p: SourcePosition) throws(TemplateError) -> Value {
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws(TemplateError) -> Value {
            if r.overflow { throw .limit("integer overflow", p) }
            return .int(r.partialValue)
        }
        switch op {
        case .add: return try checked(x.addingReportingOverflow(y))
        case .subtract: return try checked(x.subtractingReportingOverflow(y))
        case .multiply: return try checked(x.multipliedReportingOverflow(by: y))
        case .divide:
            guard y != 0 else { throw .runtime("division by zero", p) }
            return .double(Double(x) / Double(y))
        case .floorDivide, .modulo:
            guard y != 0 else { throw .runtime("integer division or modulo by zero", p) }
            if x == Int.min && y == -1 { throw .limit("integer overflow", p) }
            var q = x / y, r = x % y
            if r != 0 && ((r < 0) != (y < 0)) { q -= 1; r += y }
            return .int(op == .floorDivide ? q : r)
        case .power:
            if y < 0 { return .double(pow(Double(x), Double(y))) }
            var result = 1, base = x, e = y
            while e > 0 {
                if e & 1 == 1 { guard case .int(let r) = try checked(result.multipliedReportingOverflow(by: base)) else { break }; result = r }
                e >>= 1
                if e > 0 { guard case .int(let b) = try checked(base.multipliedReportingOverflow(by: base)) else { break }; base = b }
            }
            return .int(result)
        case .concat: return .string(String(x) + String(y))
        }
    }

    private func floatArithmetic(_ op: BinaryOperator, _ x: Double, _ y: Double, _ p: SourcePosition) throws(TemplateError) -> Value {
        switch op {
        case .add: return .double(x + y)
        case .subtract: return .double(x - y)
        case .multiply: return .double(x * y)
        case .divide:
            guard y != 0 else { throw .runtime("float division by zero", p) }
            return .double(x / y)
        case .floorDivide:
            guard y != 0 else { throw .runtime("float floor division by zero", p) }
            return .double((x / y).rounded(.down))
        case .modulo:
            guard y != 0 else { throw .runtime("float modulo", p) }
            var r = x.truncatingRemainder(dividingBy: y)
            if r != 0 && ((r < 0) != (y < 0)) { r += y }
            return .double(r)
        case .power: return .double(pow(x, y))
        case .concat: return .string(Value.pyFloat(x) + Value.pyFloat(y))
        }
    }

    func compare(_ op: CompareOperator, _ a: Value, _ b: Value, _ p: SourcePosition) throws(TemplateError) -> Bool {
        if op != .contains && op != .notContains { try charge(Evaluator.size(a) + Evaluator.size(b), p) }
        switch op {
        case .equal: return a.pyEquals(b)
        case .notEqual: return !a.pyEquals(b)
        case .contains: return try contains(b, a, p)
        case .notContains: return !(try contains(b, a, p))
        default:
            if case .undefined(let hint) = a { throw .runtime(hint, p) }
            if case .undefined(let hint) = b { throw .runtime(hint, p) }
            guard let c = a.pyCompare(b) else {
                throw .runtime("'\(op.rawValue)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'", p)
            }
            switch op {
            case .less: return c < 0
            case .lessEqual: return c <= 0
            case .greater: return c > 0
            default: return c >= 0
            }
        }
    }

    /// Python's `item in container`.
    /// `Markup + str` and `str + Markup`: the plain side is HTML-escaped, the result is `Markup`.
    static func markupSum(_ a: Value, _ b: Value) -> Value? {
        switch (a, b) {
        case (.markup(let x), .markup(let y)): .markup(x + y)
        case (.markup(let x), .string(let y)): .markup(x + htmlEscape(y))
        case (.string(let x), .markup(let y)): .markup(htmlEscape(x) + y)
        default: nil
        }
    }

    func contains(_ container: Value, _ item: Value, _ p: SourcePosition) throws(TemplateError) -> Bool {
        let container = container.plain, item = item.plain
        switch container {
        case .string(let s):
            guard case .string(let sub) = item else {
                throw .runtime("'in <string>' requires string as left operand, not \(item.typeName)", p)
            }
            try charge(s.utf8.count, p)
            return PyString.find(PyString.scalars(s), PyString.scalars(sub)) != nil
        case .dict(let d):
            guard DictKey(item) != nil else { throw .runtime("unhashable type: '\(item.typeName)'", p) }
            return d.lookup(item) != nil
        case .namespace(let id): return namespaces[id].lookup(item) != nil
        case .list, .tuple, .generator, .undefined:
            return try iterate(container, p).contains { $0.pyEquals(item) }
        default:
            throw .runtime("argument of type '\(container.typeName)' is not iterable", p)
        }
    }
}
