/// Evaluated call arguments.
struct CallArguments {
    var positional: [Value] = []
    var keyword: [(name: String, value: Value)] = []

    /// The argument at `index`, or the one passed as `name`.
    func value(_ index: Int, _ name: String) -> Value? {
        if index >= 0 && index < positional.count { return positional[index] }
        return keyword.first(where: { $0.name == name })?.value
    }
}

extension Expr {
    /// Where the expression starts, as well as the tree records it (for error messages).
    var position: SourcePosition {
        switch self {
        case .name(_, let p), .dict(_, let p), .attribute(_, _, let p), .index(_, _, let p), .call(_, _, let p),
             .test(_, _, _, _, let p), .negate(_, let p), .plus(_, let p), .binary(_, _, _, let p), .compare(_, _, let p),
             .slice(_, _, _, _, let p), .literal(_, let p):
            p
        case .filter(let e, _), .not(let e), .and(let e, _), .or(let e, _), .conditional(_, let e, _): e.position
        case .list(let a), .tuple(let a): a.first?.position ?? SourcePosition(line: 0, column: 0)
        }
    }
}

extension Evaluator {
    func eval(_ expr: Expr) throws(TemplateError) -> Value {
        switch expr {
        case .literal(let v, _): return v
        case .name(let n, _): return lookup(n)
        case .list(let items):
            var out: [Value] = []
            for e in items { out.append(try eval(e)) }
            return .list(out)
        case .tuple(let items):
            var out: [Value] = []
            for e in items { out.append(try eval(e)) }
            return .tuple(out)
        case .dict(let items, let p):
            var d = PyDict()
            for (k, v) in items {
                let key = try eval(k)
                guard d.set(key, try eval(v)) else { throw .runtime("unhashable type: '\(key.typeName)'", p) }
            }
            return .dict(d)
        case .attribute(let e, let name, let p):
            return try attribute(try eval(e), name, p)
        case .index(let e, let key, let p):
            return try item(try eval(e), try eval(key), p)
        case .slice(let e, let start, let stop, let step, let p):
            return try slice(try eval(e), start: try start.map(eval), stop: try stop.map(eval), step: try step.map(eval), p)
        case .call(let callee, let args, let p):
            return try call(try eval(callee), try evalArguments(args), p)
        case .filter(let e, let f):
            return try applyFilter(f, to: try eval(e))
        case .test(let e, let name, let args, let negated, let p):
            let result = try applyTest(name, try eval(e), try evalArguments(args), p)
            return .bool(result != negated)
        case .negate(let e, let p):
            switch try eval(e) {
            case .int(let i) where i != Int.min: return .int(-i)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let d): return .double(-d)
            case .undefined(let hint): throw .runtime(hint, p)
            case let v: throw .runtime("bad operand type for unary -: '\(v.typeName)'", p)
            }
        case .plus(let e, let p):
            let v = try eval(e)
            if case .undefined(let hint) = v { throw .runtime(hint, p) }
            guard v.number != nil else { throw .runtime("bad operand type for unary +: '\(v.typeName)'", p) }
            if case .bool(let b) = v { return .int(b ? 1 : 0) }
            return v
        case .not(let e): return .bool(!(try eval(e).truthy))
        case .and(let a, let b):
            let left = try eval(a)
            return left.truthy ? try eval(b) : left
        case .or(let a, let b):
            let left = try eval(a)
            return left.truthy ? left : try eval(b)
        case .binary(let op, let a, let b, let p):
            return try binary(op, try eval(a), try eval(b), p)
        case .compare(let first, let rest, let p):
            var left = try eval(first)
            for (op, e) in rest {
                let right = try eval(e)
                if !(try compare(op, left, right, p)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let condition, let then, let otherwise):
            if try eval(condition).truthy { return try eval(then) }
            return try otherwise.map(eval) ?? .undefined(hint: "the inline if-expression on line \(expr.position.line) evaluated to false and no else section was defined.")
        }
    }

    func evalArguments(_ args: Arguments) throws(TemplateError) -> CallArguments {
        var out = CallArguments()
        for e in args.positional { out.positional.append(try eval(e)) }
        for (n, e) in args.keyword { out.keyword.append((n, try eval(e))) }
        return out
    }

    // MARK: attribute and item access (jinja2's sandboxed getattr / getitem)

    static func typeRepr(_ v: Value) -> String { v.isNone ? "None" : "\(v.typeName) object" }

    /// `x.name`: a method of the type first (as Python's getattr), then a key.
    func attribute(_ object: Value, _ name: String, _ p: SourcePosition) throws(TemplateError) -> Value {
        let object = object.plain
        switch object {
        case .undefined(let hint): throw .runtime(hint, p)
        case .dict(let d):
            if Evaluator.dictMethods.contains(name) { return .method(receiver: object, name: name) }
            if let v = d[name] { return v }
        case .string:
            if Evaluator.stringMethods.contains(name) || Evaluator.otherStringMethods.contains(name) {
                return .method(receiver: object, name: name)
            }
        case .list, .tuple:
            if Evaluator.listMethods.contains(name) { return .method(receiver: object, name: name) }
        case .namespace(let id):
            if let v = namespaces[id][name] { return v }
        case .loop(let state):
            if let v = loopAttribute(state, name) { return v }
        default: break
        }
        return .undefined(hint: "'\(Evaluator.typeRepr(object))' has no attribute '\(name)'")
    }

    /// `x[key]`: the item first, then (for a string key) the attribute.
    func item(_ object: Value, _ key: Value, _ p: SourcePosition) throws(TemplateError) -> Value {
        let object = object.plain, key = key.plain
        if case .string(let s) = object { try charge(s.utf8.count, p) }
        switch object {
        case .undefined(let hint): throw .runtime(hint, p)
        case .dict(let d):
            if let v = d.lookup(key) { return v }
        case .list(let a), .tuple(let a):
            if let i = key.integer {
                let j = i < 0 ? i + a.count : i
                if j >= 0 && j < a.count { return a[j] }
            }
        case .string(let s):
            if let i = key.integer {
                let scalars = PyString.scalars(s)
                let j = i < 0 ? i + scalars.count : i
                if j >= 0 && j < scalars.count { return .string(String(scalars[j])) }
            }
        default: break
        }
        if case .string(let name) = key { return try attribute(object, name, p) }
        let shown = key.printedSize(limit: 200) > 200 ? "<\(key.typeName)>" : key.pyRepr
        return .undefined(hint: "'\(Evaluator.typeRepr(object))' has no element \(shown)")
    }

    func loopAttribute(_ s: LoopState, _ name: String) -> Value? {
        switch name {
        case "index": .int(s.index0 + 1)
        case "index0": .int(s.index0)
        case "revindex": .int(s.length - s.index0)
        case "revindex0": .int(s.length - s.index0 - 1)
        case "first": .bool(s.index0 == 0)
        case "last": .bool(s.index0 == s.length - 1)
        case "length": .int(s.length)
        case "depth": .int(s.depth0 + 1)
        case "depth0": .int(s.depth0)
        case "previtem": s.previous ?? .undefined(hint: "there is no previous item")
        case "nextitem": s.next ?? .undefined(hint: "there is no next item")
        case "cycle": .method(receiver: .loop(s), name: "cycle")
        default: nil
        }
    }

    /// Python slicing `[start:stop:step]` of lists, tuples and strings.
    func slice(_ object: Value, start: Value?, stop: Value?, step: Value?, _ p: SourcePosition) throws(TemplateError) -> Value {
        let object = object.plain
        func bound(_ v: Value?) throws(TemplateError) -> Int? {
            guard let v, !v.isNone else { return nil }
            guard let i = v.integer else { throw .runtime("slice indices must be integers or None", p) }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw .runtime("slice step cannot be zero", p) }
        func indices(_ count: Int) throws(TemplateError) -> [Int] {
            func clamp(_ i: Int?, _ fallback: Int) -> Int {
                guard var i else { return fallback }
                if i < 0 { i += count }
                return stepValue > 0 ? min(max(i, 0), count) : min(max(i, -1), count - 1)
            }
            let lo = clamp(try bound(start), stepValue > 0 ? 0 : count - 1)
            let hi = clamp(try bound(stop), stepValue > 0 ? count : -1)
            return Array(stride(from: lo, to: hi, by: stepValue))
        }
        switch object {
        case .undefined(let hint): throw .runtime(hint, p)
        case .list(let a): return .list(try indices(a.count).map { a[$0] })
        case .tuple(let a): return .tuple(try indices(a.count).map { a[$0] })
        case .string(let s):
            let scalars = PyString.scalars(s)
            return .string(PyString.string(try indices(scalars.count).map { scalars[$0] }))
        default: throw .runtime("'\(object.typeName)' object is not subscriptable", p)
        }
    }

    // MARK: calls

    func call(_ callee: Value, _ args: CallArguments, _ p: SourcePosition) throws(TemplateError) -> Value {
        switch callee {
        case .macro(let id): return try callMacro(id, args, p)
        case .builtin(let b): return try callBuiltin(b, args, p)
        case .method(let receiver, let name): return try callMethod(receiver, name, args, p)
        case .undefined(let hint): throw .runtime(hint, p)
        default: throw .runtime("'\(callee.typeName)' object is not callable", p)
        }
    }
}
