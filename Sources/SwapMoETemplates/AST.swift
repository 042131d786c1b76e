/// The parsed template: statements (`Node`) over expressions (`Expr`), each carrying its source position for
/// error messages.
indirect enum Node: Sendable {
    case text(String, SourcePosition)
    case output(Expr)
    /// `if`/`elif` branches in order, then the `else` body.
    case branch([(condition: Expr, body: [Node])], otherwise: [Node])
    case forLoop(ForLoop)
    case assign(Target, Expr, SourcePosition)
    /// `{% set name %}...{% endset %}`, with optional filters applied to the captured text.
    case assignBlock(Target, filters: [FilterCall], body: [Node], SourcePosition)
    case macro(MacroDefinition)
    /// `{% filter f %}...{% endfilter %}`.
    case filterBlock([FilterCall], body: [Node])
    /// `{% with a = 1 %}...{% endwith %}`: a scope with its own assignments.
    case scope(assignments: [(Target, Expr)], body: [Node], SourcePosition)
    case loopBreak(SourcePosition)
    case loopContinue(SourcePosition)
}

/// Where `set` and `for` store: a name, `ns.attr`, or a tuple of targets to unpack into.
indirect enum Target: Sendable {
    case name(String)
    case attribute(String, String)
    case tuple([Target], SourcePosition)
}

struct ForLoop: Sendable {
    var target: Target
    var iterable: Expr
    var filter: Expr?
    var body: [Node]
    var otherwise: [Node]
    var position: SourcePosition
}

struct MacroDefinition: Sendable {
    var name: String
    var parameters: [(name: String, defaultValue: Expr?)]
    var body: [Node]
    var position: SourcePosition
}

struct FilterCall: Sendable {
    var name: String
    var arguments: Arguments
    var position: SourcePosition
}

/// Call arguments: positional, then keyword.
struct Arguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(name: String, value: Expr)] = []
}

enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", floorDivide = "//", modulo = "%", power = "**"
    case concat = "~"
}

enum CompareOperator: String, Sendable {
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case contains = "in", notContains = "not in"
}

indirect enum Expr: Sendable {
    case literal(Value, SourcePosition)
    case name(String, SourcePosition)
    case list([Expr])
    case tuple([Expr])
    case dict([(key: Expr, value: Expr)], SourcePosition)
    /// `x.name` (also `x.0`: an integer attribute is a subscript).
    case attribute(Expr, String, SourcePosition)
    case index(Expr, Expr, SourcePosition)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?, SourcePosition)
    case call(Expr, Arguments, SourcePosition)
    case filter(Expr, FilterCall)
    case test(Expr, name: String, Arguments, negated: Bool, SourcePosition)
    case negate(Expr, SourcePosition)
    case plus(Expr, SourcePosition)
    case not(Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case binary(BinaryOperator, Expr, Expr, SourcePosition)
    /// `a < b <= c`: each comparison against the previous operand.
    case compare(Expr, [(CompareOperator, Expr)], SourcePosition)
    /// `a if condition else b` (`b` nil: undefined).
    case conditional(condition: Expr, then: Expr, otherwise: Expr?)
}
