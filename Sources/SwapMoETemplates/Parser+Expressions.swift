/// Expressions, with jinja2's precedence: conditional < or < and < not < comparisons < `+ -` < `~` <
/// `* / // %` < `**` < unary `- +` < postfix (`.x`, `[i]`, `[a:b]`, calls) and filters/tests.
extension Parser {
    /// A tuple if there are commas (`a, b`), else one expression.
    mutating func parseTuple(simplified: Bool = false, withCondexpr: Bool = true, extraEnd: Set<String> = [],
                             explicitParentheses: Bool = false) throws(TemplateError) -> Expr {
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd, explicitParentheses) { break }
            if simplified { items.append(try parsePostfix(try parsePrimary())) }
            else if withCondexpr { items.append(try parseExpression()) }
            else { items.append(try parseOr()) }
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw unexpected(expected: "an expression") }
        }
        return .tuple(items)
    }

    private func isTupleEnd(_ extraEnd: Set<String>, _ explicitParentheses: Bool) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .eof: return true
        case .op(")"): return explicitParentheses
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    mutating func parseExpression() throws(TemplateError) -> Expr {
        try enter()
        defer { depth -= 1 }
        var expr = try parseOr()
        while skipName("if") {
            let (condition, otherwise) = try withSoft(true) { (p: inout Parser) throws(TemplateError) -> (Expr, Expr?) in
                (try p.parseOr(), p.skipName("else") ? try p.parseExpression() : nil)
            }
            expr = .conditional(condition: condition, then: expr, otherwise: otherwise)
        }
        return expr
    }

    mutating func parseOr() throws(TemplateError) -> Expr {
        var left = try parseAnd()
        while skipName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws(TemplateError) -> Expr {
        var left = try parseNot()
        while skipName("and") { left = .and(left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws(TemplateError) -> Expr {
        guard isName("not") else { return try parseCompare() }
        advance()
        try enter()
        defer { depth -= 1 }
        return .not(try parseNot())
    }

    mutating func parseCompare() throws(TemplateError) -> Expr {
        let position = current.position
        let first = try parseMath1()
        var rest: [(CompareOperator, Expr)] = []
        while true {
            if case .op(let o) = current.kind, let op = CompareOperator(rawValue: o), op != .contains {
                advance(); rest.append((op, try parseMath1()))
            } else if skipName("in") {
                rest.append((.contains, try parseMath1()))
            } else if isName("not"), case .name("in") = next.kind {
                advance(); advance(); rest.append((.notContains, try parseMath1()))
            } else {
                break
            }
        }
        return rest.isEmpty ? first : .compare(first, rest, position)
    }

    private mutating func parseBinary(_ ops: [BinaryOperator],
                                      _ operand: (inout Parser) throws(TemplateError) -> Expr) throws(TemplateError) -> Expr {
        var left = try operand(&self)
        while case .op(let o) = current.kind, let op = BinaryOperator(rawValue: o), ops.contains(op) {
            let position = current.position
            advance()
            left = .binary(op, left, try operand(&self), position)
        }
        return left
    }

    mutating func parseMath1() throws(TemplateError) -> Expr {
        try parseBinary([.add, .subtract]) { (p: inout Parser) throws(TemplateError) in try p.parseConcat() }
    }
    mutating func parseConcat() throws(TemplateError) -> Expr {
        try parseBinary([.concat]) { (p: inout Parser) throws(TemplateError) in try p.parseMath2() }
    }
    mutating func parseMath2() throws(TemplateError) -> Expr {
        try parseBinary([.multiply, .divide, .floorDivide, .modulo]) { (p: inout Parser) throws(TemplateError) in try p.parsePow() }
    }
    mutating func parsePow() throws(TemplateError) -> Expr {
        try parseBinary([.power]) { (p: inout Parser) throws(TemplateError) in try p.parseUnary() }
    }

    mutating func parseUnary(withFilter: Bool = true) throws(TemplateError) -> Expr {
        try enter()
        defer { depth -= 1 }
        let position = current.position
        var node: Expr
        if skipOp("-") { node = .negate(try parseUnary(withFilter: false), position) }
        else if skipOp("+") { node = .plus(try parseUnary(withFilter: false), position) }
        else { node = try parsePrimary() }
        node = try parsePostfix(node)
        return withFilter ? try parseFilterExpr(node) : node
    }

    mutating func parsePrimary() throws(TemplateError) -> Expr {
        let token = current
        switch token.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return .literal(.bool(true), token.position)
            case "false", "False": return .literal(.bool(false), token.position)
            case "none", "None": return .literal(.none, token.position)
            default: return .name(n, token.position)
            }
        case .string(var s):
            advance()
            while case .string(let more) = current.kind { s += more; advance() }
            return .literal(.string(s), token.position)
        case .integer(let i): advance(); return .literal(.int(i), token.position)
        case .float(let d): advance(); return .literal(.double(d), token.position)
        case .op("("):
            advance()
            let e = try parseTuple(explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            advance()
            var items: [Expr] = []
            while !skipOp("]") {
                if !items.isEmpty { try expectOp(","); if skipOp("]") { break } }
                items.append(try parseExpression())
            }
            return .list(items)
        case .op("{"):
            advance()
            var items: [(key: Expr, value: Expr)] = []
            while !skipOp("}") {
                if !items.isEmpty { try expectOp(","); if skipOp("}") { break } }
                let key = try parseExpression()
                try expectOp(":")
                items.append((key, try parseExpression()))
            }
            return .dict(items, token.position)
        default:
            throw unexpected(expected: "an expression")
        }
    }

    mutating func parsePostfix(_ start: Expr) throws(TemplateError) -> Expr {
        var node = start
        while true {
            let position = current.position
            if skipOp(".") {
                switch current.kind {
                case .name(let n): advance(); node = .attribute(node, n, position)
                case .integer(let i): advance(); node = .index(node, .literal(.int(i), position), position)
                default: throw unexpected(expected: "an attribute name")
                }
            } else if skipOp("[") {
                node = try parseSubscript(node, position)
            } else if isOp("(") {
                let start = node.position
                node = .call(node, try parseCallArguments(), start.line > 0 ? start : position)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ node: Expr, _ position: SourcePosition) throws(TemplateError) -> Expr {
        var start: Expr?
        if !isOp(":") {
            let key = try parseExpression()
            if skipOp("]") { return .index(node, key, position) }
            start = key
        }
        try expectOp(":")
        let stop: Expr? = isOp("]") || isOp(":") ? nil : try parseExpression()
        var step: Expr?
        if skipOp(":") && !isOp("]") { step = try parseExpression() }
        try expectOp("]")
        return .slice(node, start: start, stop: stop, step: step, position)
    }

    mutating func parseCallArguments() throws(TemplateError) -> Arguments {
        try expectOp("(")
        var args = Arguments()
        while !skipOp(")") {
            if !(args.positional.isEmpty && args.keyword.isEmpty) { try expectOp(","); if skipOp(")") { break } }
            if isOp("*") || isOp("**") { throw .unsupported("*args and **kwargs in calls are not supported", current.position) }
            if case .name(let n) = current.kind, case .op("=") = next.kind {
                advance(); advance()
                args.keyword.append((n, try parseExpression()))
            } else {
                if !args.keyword.isEmpty { throw .syntax("positional argument after keyword argument", current.position) }
                args.positional.append(try parseExpression())
            }
        }
        return args
    }

    mutating func parseFilterExpr(_ start: Expr) throws(TemplateError) -> Expr {
        var node = start
        while true {
            if isOp("|") {
                node = .filter(node, try parseFilter())
            } else if isName("is") {
                node = try parseTest(node)
            } else if isOp("(") {
                let position = current.position
                node = .call(node, try parseCallArguments(), position)
            } else {
                return node
            }
        }
    }

    /// `name` or `name(args)` of a filter (after its `|`).
    private mutating func parseFilterCall() throws(TemplateError) -> FilterCall {
        let position = current.position
        let name = try parseDottedName()
        if !soft && !Evaluator.jinjaFilters.contains(name) { throw .syntax("no filter named '\(name)'", position) }
        let arguments = isOp("(") ? try parseCallArguments() : Arguments()
        return FilterCall(name: name, arguments: arguments, position: position)
    }

    private mutating func parseDottedName() throws(TemplateError) -> String {
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        return name
    }

    private mutating func parseFilter() throws(TemplateError) -> FilterCall {
        try expectOp("|")
        return try parseFilterCall()
    }

    /// `f | g(x)` after `{% filter %}` (`required`), or `| f | g(x)` after `{% set x %}`.
    mutating func parseFilterChain(required: Bool) throws(TemplateError) -> [FilterCall] {
        var filters: [FilterCall] = required ? [try parseFilterCall()] : []
        while isOp("|") { filters.append(try parseFilter()) }
        return filters
    }

    private mutating func parseTest(_ node: Expr) throws(TemplateError) -> Expr {
        advance()  // `is`
        let negated = skipName("not")
        let position = current.position
        let name = try parseDottedName()
        // jinja2 refuses an unknown filter or test when it compiles, unless inside an `if` (`soft`).
        if !soft && !Evaluator.jinjaTests.contains(name) { throw .syntax("no test named '\(name)'", position) }
        var args = Arguments()
        if isOp("(") {
            args = try parseCallArguments()
        } else {
            switch current.kind {
            case .name("else"), .name("or"), .name("and"): break
            case .name("is"): throw .syntax("you cannot chain multiple tests with 'is'", current.position)
            case .name, .string, .integer, .float, .op("("), .op("["), .op("{"):
                args.positional = [try parsePostfix(try parsePrimary())]
            default: break
            }
        }
        return .test(node, name: name, args, negated: negated, position)
    }
}
