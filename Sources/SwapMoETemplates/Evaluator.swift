/// One render of a parsed template: the scopes, the namespaces, macros and one-pass iterators created while
/// rendering, and the limits. Made per `render` call and dropped after, so it needs no locking.
final class Evaluator {
    enum Flow { case normal, breakLoop, continueLoop }

    struct Limits {
        var outputScalars = 32 << 20
        var loopIterations = 1_000_000
        var macroDepth = 100
        var collectionSize = 1_000_000
        var valueNesting = 200
        var work = 1_000_000_000
    }

    /// Innermost last; `frames[0]` holds the render's variables and top-level assignments.
    var frames: [[String: Value]]
    var namespaces: [PyDict] = []
    var macros: [MacroDefinition] = []
    var generators: [[Value]] = []
    let limits: Limits
    let now: TemplateDate
    var iterations = 0
    var macroDepth = 0
    var work = 0

    init(variables: [String: Value], now: TemplateDate, limits: Limits = Limits()) {
        frames = [variables]
        self.now = now
        self.limits = limits
    }

    func render(_ nodes: [Node]) throws(TemplateError) -> String {
        var out = ""
        _ = try exec(nodes, &out)
        return out
    }

    // MARK: variables

    func lookup(_ name: String) -> Value {
        for frame in frames.reversed() { if let v = frame[name] { return v } }
        switch name {
        case "range": return .builtin(.range)
        case "dict": return .builtin(.dict)
        case "namespace": return .builtin(.namespace)
        case "raise_exception": return .builtin(.raiseException)
        case "strftime_now": return .builtin(.strftimeNow)
        default: return .undefinedName(name)
        }
    }

    func assign(_ target: Target, _ value: Value, _ position: SourcePosition) throws(TemplateError) {
        if value.nests(deeperThan: limits.valueNesting) {
            throw .limit("a value nested deeper than \(limits.valueNesting) levels", position)
        }
        switch target {
        case .name(let n):
            frames[frames.count - 1][n] = value
        case .attribute(let object, let attribute):
            guard case .namespace(let id) = lookup(object) else {
                throw .runtime("cannot assign attribute on non-namespace object", position)
            }
            if attribute.hasPrefix("_") {
                throw .runtime("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(attribute)'. Please rename the attribute.", position)
            }
            namespaces[id].set(.string(attribute), value)
        case .tuple(let targets, let p):
            let items = try iterate(value, p)
            guard items.count == targets.count else {
                throw .runtime(items.count > targets.count
                    ? "too many values to unpack (expected \(targets.count))"
                    : "not enough values to unpack (expected \(targets.count), got \(items.count))", p)
            }
            for (t, v) in zip(targets, items) { try assign(t, v, p) }
        }
    }

    // MARK: statements

    func append(_ text: String, to out: inout String, _ position: SourcePosition) throws(TemplateError) {
        out += text
        if out.utf8.count > limits.outputScalars {
            throw .limit("output longer than \(limits.outputScalars) bytes", position)
        }
    }

    func exec(_ nodes: [Node], _ out: inout String) throws(TemplateError) -> Flow {
        for node in nodes {
            switch node {
            case .text(let s, let p):
                try append(s, to: &out, p)
            case .output(let e):
                try append(try text(try eval(e), e.position), to: &out, e.position)
            case .branch(let branches, let otherwise):
                var body = otherwise
                for b in branches where try eval(b.condition).truthy { body = b.body; break }
                let flow = try exec(body, &out)
                if flow != .normal { return flow }
            case .forLoop(let loop):
                try execFor(loop, &out)
            case .assign(let target, let e, let p):
                try assign(target, try eval(e), p)
            case .assignBlock(let target, let filters, let body, let p):
                try assign(target, try capture(body, filters), p)
            case .macro(let m):
                macros.append(m)
                frames[frames.count - 1][m.name] = .macro(macros.count - 1)
            case .filterBlock(let filters, let body):
                let p = filters.first?.position ?? SourcePosition(line: 1, column: 1)
                try append(try text(try capture(body, filters), p), to: &out, filters.first?.position ?? SourcePosition(line: 1, column: 1))
            case .scope(let assignments, let body, let p):
                var values: [(Target, Value)] = []
                for (t, e) in assignments { values.append((t, try eval(e))) }
                frames.append([:])
                defer { frames.removeLast() }
                for (t, v) in values { try assign(t, v, p) }
                let flow = try exec(body, &out)
                if flow != .normal { return flow }
            case .loopBreak: return .breakLoop
            case .loopContinue: return .continueLoop
            }
        }
        return .normal
    }

    /// The output of `body` in its own scope (a `set` inside stays inside), through `filters`.
    func capture(_ body: [Node], _ filters: [FilterCall]) throws(TemplateError) -> Value {
        var captured = ""
        frames.append([:])
        defer { frames.removeLast() }
        _ = try exec(body, &captured)
        var value = Value.string(captured)
        for f in filters { value = try applyFilter(f, to: value) }
        return value
    }

    func execFor(_ loop: ForLoop, _ out: inout String) throws(TemplateError) {
        var items = try iterate(try eval(loop.iterable), loop.position)
        // Each iteration gets a fresh scope: a `set` in the body lasts until the end of its iteration.
        frames.append([:])
        defer { frames.removeLast() }
        if let filter = loop.filter {
            var kept: [Value] = []
            for item in items {
                frames[frames.count - 1] = [:]
                try assign(loop.target, item, loop.position)
                if try eval(filter).truthy { kept.append(item) }
            }
            items = kept
        }
        for (i, item) in items.enumerated() {
            iterations += 1
            if iterations > limits.loopIterations {
                throw .limit("more than \(limits.loopIterations) loop iterations", loop.position)
            }
            frames[frames.count - 1] = [:]
            try assign(loop.target, item, loop.position)
            frames[frames.count - 1]["loop"] = .loop(LoopState(
                index0: i, length: items.count, previous: i > 0 ? items[i - 1] : nil,
                next: i + 1 < items.count ? items[i + 1] : nil, depth0: 0))
            if try exec(loop.body, &out) == .breakLoop { break }
        }
        if items.isEmpty { _ = try exec(loop.otherwise, &out) }
    }

    // MARK: macros

    func callMacro(_ id: Int, _ args: CallArguments, _ position: SourcePosition) throws(TemplateError) -> Value {
        let m = macros[id]
        macroDepth += 1
        defer { macroDepth -= 1 }
        if macroDepth > limits.macroDepth {
            throw .limit("macro calls nested deeper than \(limits.macroDepth)", position)
        }
        if args.positional.count > m.parameters.count {
            throw .runtime("macro '\(m.name)' takes not more than \(m.parameters.count) argument(s)", position)
        }
        for (name, _) in args.keyword where !m.parameters.contains(where: { $0.name == name }) {
            throw .runtime("macro '\(m.name)' takes no keyword argument '\(name)'", position)
        }
        let saved = frames
        frames = [frames[0], [:]]
        defer { frames = saved }
        for (i, p) in m.parameters.enumerated() {
            let value: Value
            if i < args.positional.count { value = args.positional[i] }
            else if let kw = args.keyword.first(where: { $0.name == p.name }) { value = kw.value }
            else if let d = p.defaultValue { value = try eval(d) }
            else { value = .undefined(hint: "parameter '\(p.name)' was not provided") }
            frames[1][p.name] = value
        }
        var out = ""
        _ = try exec(m.body, &out)
        return .string(out)
    }

    // MARK: iteration

    /// Python's `iter(value)` as a `for` loop sees it; `Undefined` iterates as empty.
    func iterate(_ value: Value, _ position: SourcePosition) throws(TemplateError) -> [Value] {
        try charge(Evaluator.size(value), position)
        switch value.plain {
        case .undefined: return []
        case .list(let a), .tuple(let a): return a
        case .dict(let d): return d.keys
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .namespace(let id): return namespaces[id].keys
        case .generator(let id):
            let items = generators[id]
            generators[id] = []
            return items
        default: throw .runtime("'\(value.typeName)' object is not iterable", position)
        }
    }

    func makeGenerator(_ items: [Value]) -> Value {
        generators.append(items)
        return .generator(generators.count - 1)
    }
}
