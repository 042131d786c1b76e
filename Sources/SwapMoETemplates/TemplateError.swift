/// Where a construct sits in the template source: 1-based line and column (in Unicode scalars).
public struct SourcePosition: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public var description: String { "\(line):\(column)" }
}

/// Everything that can go wrong parsing or rendering a chat template. Each case names the line:column of the
/// construct; `description` is the one line the CLI prints.
public enum TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The source is not valid Jinja (unclosed block, bad expression, stray tag).
    case syntax(String, SourcePosition)
    /// Valid Jinja that this engine does not implement (a filter, test, tag or method it lacks).
    case unsupported(String, SourcePosition)
    /// The template called `raise_exception(message)`; the message is the template's own.
    case raised(String, SourcePosition)
    /// An operation jinja2 raises on too: a type error, an undefined value used, a sandbox refusal.
    case runtime(String, SourcePosition)
    /// A safety limit was hit (nesting depth, loop iterations, recursion, output size).
    case limit(String, SourcePosition)

    public var position: SourcePosition {
        switch self {
        case .syntax(_, let p), .unsupported(_, let p), .raised(_, let p), .runtime(_, let p), .limit(_, let p): p
        }
    }

    /// The bare message: for `raised`, exactly what the template passed to `raise_exception`.
    public var message: String {
        switch self {
        case .syntax(let m, _), .unsupported(let m, _), .raised(let m, _), .runtime(let m, _), .limit(let m, _): m
        }
    }

    public var description: String {
        switch self {
        case .syntax(let m, let p): "chat template line \(p): syntax error: \(m)"
        case .unsupported(let m, let p):
            "chat template line \(p): \(m); pass --chat-template FILE with a template swapmoe can render"
        case .raised(let m, let p): "chat template line \(p): the template raised: \(m)"
        case .runtime(let m, let p): "chat template line \(p): \(m)"
        case .limit(let m, let p): "chat template line \(p): limit exceeded: \(m)"
        }
    }
}
