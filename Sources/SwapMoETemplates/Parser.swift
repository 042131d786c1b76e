/// Turns tokens into statements, as jinja2's parser does, for the tags chat templates use: `if`/`elif`/`else`,
/// `for` (with `if` filter and `else`), `set` (plain, tuple, `ns.attr`, block), `macro`, `filter`, `with`,
/// `break`/`continue` (loopcontrols) and transformers' `generation`. Expressions: Parser+Expressions.swift.
struct Parser {
    var tokens: [Token]
    var index = 0
    /// Current nesting (blocks and expressions), capped so that a hostile template cannot exhaust the stack.
    var depth = 0
    var loopDepth = 0
    /// Inside an `if` (its tests and bodies) or an inline if, where jinja2 defers an unknown filter or test to
    /// the render that reaches it; a `for`, `macro` or block body starts a frame that is not soft again.
    var soft = false
    static let maxDepth = 128

    init(tokens: [Token]) { self.tokens = tokens }

    static func parse(_ source: String) throws(TemplateError) -> [Node] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let (nodes, _) = try parser.parseBody(until: [], opener: nil)
        return nodes
    }

    // MARK: token helpers

    var current: Token { tokens[min(index, tokens.count - 1)] }
    var next: Token { tokens[min(index + 1, tokens.count - 1)] }
    mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    func isOp(_ op: String) -> Bool { if case .op(op) = current.kind { return true }; return false }
    func isName(_ name: String) -> Bool { if case .name(name) = current.kind { return true }; return false }

    mutating func skipOp(_ op: String) -> Bool {
        guard isOp(op) else { return false }
        advance(); return true
    }
    mutating func skipName(_ name: String) -> Bool {
        guard isName(name) else { return false }
        advance(); return true
    }

    mutating func expectOp(_ op: String) throws(TemplateError) {
        guard skipOp(op) else { throw unexpected(expected: "'\(op)'") }
    }
    mutating func expectName() throws(TemplateError) -> String {
        guard case .name(let n) = current.kind else { throw unexpected(expected: "a name") }
        advance(); return n
    }
    mutating func expectBlockEnd() throws(TemplateError) {
        guard case .blockEnd = current.kind else { throw unexpected(expected: "end of statement block") }
        advance()
    }

    func describe(_ kind: Token.Kind) -> String {
        switch kind {
        case .text: "text"
        case .variableBegin: "'{{'"
        case .variableEnd: "'}}'"
        case .blockBegin: "'{%'"
        case .blockEnd: "'%}'"
        case .name(let n): "'\(n)'"
        case .string(let s): "string \(Value.pyStringRepr(s))"
        case .integer(let i): "integer \(i)"
        case .float(let d): "float \(Value.pyFloat(d))"
        case .op(let o): "'\(o)'"
        case .eof: "end of template"
        }
    }

    func unexpected(expected: String) -> TemplateError {
        .syntax("expected \(expected), got \(describe(current.kind))", current.position)
    }

    mutating func enter() throws(TemplateError) {
        depth += 1
        if depth > Parser.maxDepth { throw .limit("nesting deeper than \(Parser.maxDepth)", current.position) }
    }

    // MARK: statements

    /// Nodes up to a block tag named in `enders` (returned, the stream after its name) or the end of the template.
    mutating func parseBody(until enders: Set<String>, opener: (name: String, position: SourcePosition)?)
        throws(TemplateError) -> ([Node], String?) {
        try enter()
        defer { depth -= 1 }
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .text(let s):
                nodes.append(.text(s, token.position)); advance()
            case .variableBegin:
                advance()
                let e = try parseTuple()
                guard case .variableEnd = current.kind else { throw unexpected(expected: "'}}'") }
                advance()
                nodes.append(.output(e))
            case .blockBegin:
                advance()
                let namePosition = current.position
                let name = try expectName()
                if enders.contains(name) { return (nodes, name) }
                if let node = try parseStatement(name, namePosition) { nodes.append(node) }
            case .eof:
                guard let opener else { return (nodes, nil) }
                let wanted = enders.sorted().map { "'\($0)'" }.joined(separator: " or ")
                throw .syntax("unclosed '\(opener.name)' block: reached the end of the template looking for \(wanted)",
                              opener.position)
            default:
                throw unexpected(expected: "text or a tag")
            }
        }
    }

    mutating func parseStatement(_ name: String, _ position: SourcePosition) throws(TemplateError) -> Node? {
        switch name {
        case "if": return try parseIf(position)
        case "for": return try parseFor(position)
        case "set": return try parseSet(position)
        case "macro": return try parseMacro(position)
        case "filter":
            let filters = try parseFilterChain(required: true)
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endfilter"], opener: ("filter", position))
            try expectBlockEnd()
            return .filterBlock(filters, body: body)
        case "with": return try parseWith(position)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"], opener: ("generation", position))
            try expectBlockEnd()
            return .scope(assignments: [], body: body, position)
        case "break", "continue":
            guard loopDepth > 0 else { throw .syntax("'\(name)' outside of a loop", position) }
            try expectBlockEnd()
            return name == "break" ? .loopBreak(position) : .loopContinue(position)
        case "call", "include", "import", "from", "extends", "block", "autoescape":
            throw .unsupported("unsupported tag '\(name)'", position)
        default:
            throw .syntax("unknown tag '\(name)'", position)
        }
    }

    /// Parses `body` with `soft` set to `value`, restoring it after.
    mutating func withSoft<T>(_ value: Bool, _ body: (inout Parser) throws(TemplateError) -> T) throws(TemplateError) -> T {
        let saved = soft
        soft = value
        defer { soft = saved }
        return try body(&self)
    }

    mutating func parseIf(_ position: SourcePosition) throws(TemplateError) -> Node {
        try withSoft(true) { (p: inout Parser) throws(TemplateError) in try p.parseIfChain(position) }
    }

    private mutating func parseIfChain(_ position: SourcePosition) throws(TemplateError) -> Node {
        var branches: [(condition: Expr, body: [Node])] = []
        var condition = try parseTuple(withCondexpr: false)
        while true {
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["elif", "else", "endif"], opener: ("if", position))
            branches.append((condition, body))
            if end == "elif" { condition = try parseTuple(withCondexpr: false); continue }
            var otherwise: [Node] = []
            if end == "else" {
                try expectBlockEnd()
                (otherwise, _) = try parseBody(until: ["endif"], opener: ("if", position))
            }
            try expectBlockEnd()
            return .branch(branches, otherwise: otherwise)
        }
    }

    mutating func parseFor(_ position: SourcePosition) throws(TemplateError) -> Node {
        let target = try parseAssignTarget(extraEnd: ["in"], namespace: false)
        guard skipName("in") else { throw unexpected(expected: "'in'") }
        let iterable = try parseTuple(withCondexpr: false, extraEnd: ["recursive"])
        var filter: Expr?
        if skipName("if") { filter = try parseExpression() }
        if isName("recursive") { throw .unsupported("recursive for loops are not supported", current.position) }
        try expectBlockEnd()
        loopDepth += 1
        let (body, end) = try withSoft(false) { (p: inout Parser) throws(TemplateError) in
            try p.parseBody(until: ["endfor", "else"], opener: ("for", position))
        }
        loopDepth -= 1
        var otherwise: [Node] = []
        if end == "else" {
            try expectBlockEnd()
            (otherwise, _) = try parseBody(until: ["endfor"], opener: ("for", position))
        }
        try expectBlockEnd()
        return .forLoop(ForLoop(target: target, iterable: iterable, filter: filter, body: body,
                                otherwise: otherwise, position: position))
    }

    mutating func parseSet(_ position: SourcePosition) throws(TemplateError) -> Node {
        let target = try parseAssignTarget(extraEnd: [], namespace: true)
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .assign(target, value, position)
        }
        let filters = try parseFilterChain(required: false)
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endset"], opener: ("set", position))
        try expectBlockEnd()
        return .assignBlock(target, filters: filters, body: body, position)
    }

    mutating func parseWith(_ position: SourcePosition) throws(TemplateError) -> Node {
        var assignments: [(Target, Expr)] = []
        while !(current.kind == .blockEnd) {
            if !assignments.isEmpty { try expectOp(",") }
            let target = try parseAssignTarget(extraEnd: [], namespace: false)
            try expectOp("=")
            assignments.append((target, try parseExpression()))
        }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endwith"], opener: ("with", position))
        try expectBlockEnd()
        return .scope(assignments: assignments, body: body, position)
    }

    mutating func parseMacro(_ position: SourcePosition) throws(TemplateError) -> Node {
        let name = try expectName()
        try expectOp("(")
        var parameters: [(name: String, defaultValue: Expr?)] = []
        while !skipOp(")") {
            if !parameters.isEmpty { try expectOp(",") }
            if skipOp(")") { break }
            let parameter = try expectName()
            let defaultValue: Expr? = skipOp("=") ? try parseExpression() : nil
            if defaultValue == nil, parameters.last?.defaultValue != nil {
                throw .syntax("non-default argument follows default argument", current.position)
            }
            parameters.append((parameter, defaultValue))
        }
        try expectBlockEnd()
        let savedLoopDepth = loopDepth
        loopDepth = 0
        let (body, _) = try withSoft(false) { (p: inout Parser) throws(TemplateError) in
            try p.parseBody(until: ["endmacro"], opener: ("macro", position))
        }
        loopDepth = savedLoopDepth
        try expectBlockEnd()
        return .macro(MacroDefinition(name: name, parameters: parameters, body: body, position: position))
    }

    /// `name`, `ns.attr` (with `namespace`), or names separated by commas (a tuple to unpack into).
    mutating func parseAssignTarget(extraEnd: Set<String>, namespace: Bool) throws(TemplateError) -> Target {
        let position = current.position
        if namespace, case .name(let n) = current.kind, case .op(".") = next.kind {
            advance(); advance()
            return .attribute(n, try expectName())
        }
        let expr = try parseTuple(simplified: true, extraEnd: extraEnd)
        return try target(from: expr, position)
    }

    private func target(from expr: Expr, _ position: SourcePosition) throws(TemplateError) -> Target {
        switch expr {
        case .name(let n, _):
            if ["true", "false", "none", "True", "False", "None"].contains(n) {
                throw .syntax("cannot assign to '\(n)'", position)
            }
            return .name(n)
        case .tuple(let items):
            var targets: [Target] = []
            for item in items { targets.append(try target(from: item, position)) }
            return .tuple(targets, position)
        default:
            throw .syntax("cannot assign to this expression", position)
        }
    }
}
