/// A value while a template renders: Python's types as jinja2 sees them. Mutable state (namespaces) lives in
/// the renderer and is named here by index, so `Value` stays a plain `Sendable` value.
indirect enum Value: Sendable {
    /// jinja2's default `Undefined`; `hint` is the message an operation that refuses it raises.
    case undefined(hint: String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// markupsafe's `Markup`, what `safe` and `escape` return: a string that escapes the plain string it is
    /// added to (`'<b>'|safe + '<i>'` is `<b>&lt;i&gt;`). Everywhere else it is a string (`plain`).
    case markup(String)
    case list([Value])
    case tuple([Value])
    case dict(PyDict)
    /// A `namespace(...)` object: an index into the renderer's namespace table.
    case namespace(Int)
    /// A `{% macro %}`: an index into the renderer's macro table.
    case macro(Int)
    /// The `loop` variable of a `for` block.
    case loop(LoopState)
    /// A global function (`range`, `dict`, `namespace`, `raise_exception`, `strftime_now`).
    case builtin(Builtin)
    /// `receiver.name`, a method looked up but not yet called (`'x'.startswith`, `d.items`).
    case method(receiver: Value, name: String)
    /// A one-pass iterator (what `map`, `select`, `items`, `reverse`... return in jinja2): an index into the
    /// renderer's table of remaining items; iterating it empties it.
    case generator(Int)

    static func undefinedName(_ name: String) -> Value { .undefined(hint: "'\(name)' is undefined") }

    var isUndefined: Bool { if case .undefined = self { return true }; return false }
    var isNone: Bool { if case .none = self { return true }; return false }
    var stringValue: String? {
        switch self {
        case .string(let s), .markup(let s): s
        default: nil
        }
    }
    /// A `Markup` as the `str` it is a subclass of; other values unchanged.
    var plain: Value { if case .markup(let s) = self { return .string(s) }; return self }

    /// Whether lists, tuples and dicts nest deeper than `limit` (stops looking at `limit`). Printing, comparing
    /// and `tojson` recurse over nesting, so the renderer refuses to store a value nested deeper than it can
    /// walk (a loop can wrap a list in itself once per iteration).
    func nests(deeperThan limit: Int) -> Bool {
        if limit < 0 { return true }
        switch self {
        case .list(let a), .tuple(let a): return a.contains { $0.nests(deeperThan: limit - 1) }
        case .dict(let d): return d.values.contains { $0.nests(deeperThan: limit - 1) }
        default: return false
        }
    }

    /// Python's truthiness (`Undefined` is false).
    var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s), .markup(let s): !s.isEmpty
        case .list(let a), .tuple(let a): !a.isEmpty
        case .dict(let d): d.count > 0
        case .namespace, .macro, .loop, .builtin, .method, .generator: true
        }
    }

    /// The Python type name jinja2's messages use (`'dict object' has no attribute 'x'`).
    var typeName: String {
        switch self {
        case .undefined: "Undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .markup: "Markup"
        case .list: "list"
        case .tuple: "tuple"
        case .dict: "dict"
        case .namespace: "Namespace"
        case .macro: "Macro"
        case .loop: "LoopContext"
        case .builtin, .method: "function"
        case .generator: "generator"
        }
    }
}

enum Builtin: String, Sendable {
    case range, dict, namespace, raiseException = "raise_exception", strftimeNow = "strftime_now"
}

/// The state of one `for` loop that `loop.*` reads.
struct LoopState: Sendable {
    var index0: Int
    var length: Int
    var previous: Value?
    var next: Value?
    /// Always 0: only recursive loops (not supported) have depth; nested loops each have their own `loop`.
    var depth0: Int
}

/// A hashable view of a dict key, as Python hashes them (`1`, `1.0` and `True` are one key).
enum DictKey: Hashable, Sendable {
    case none, int(Int), double(Double), string(String), tuple([DictKey])

    init?(_ value: Value) {
        switch value {
        case .none: self = .none
        case .bool(let b): self = .int(b ? 1 : 0)
        case .int(let i): self = .int(i)
        case .double(let d): self = (d.rounded() == d && abs(d) < 9e18) ? .int(Int(d)) : .double(d)
        case .string(let s), .markup(let s): self = .string(s)
        case .tuple(let items):
            var keys: [DictKey] = []
            for item in items { guard let k = DictKey(item) else { return nil }; keys.append(k) }
            self = .tuple(keys)
        default: return nil
        }
    }
}

/// A Python dict: insertion-ordered, keyed by Python equality.
struct PyDict: Sendable {
    private(set) var keys: [Value] = []
    private(set) var values: [Value] = []
    private var index: [DictKey: Int] = [:]

    init() {}

    var count: Int { keys.count }
    var items: [(key: Value, value: Value)] { Array(zip(keys, values)).map { (key: $0.0, value: $0.1) } }

    func lookup(_ key: Value) -> Value? {
        guard let k = DictKey(key), let i = index[k] else { return nil }
        return values[i]
    }

    subscript(key: String) -> Value? { index[.string(key)].map { values[$0] } }

    /// Sets `key` (keeping its first position); false when the key is unhashable.
    @discardableResult
    mutating func set(_ key: Value, _ value: Value) -> Bool {
        guard let k = DictKey(key) else { return false }
        if let i = index[k] { values[i] = value; return true }
        index[k] = keys.count
        keys.append(key)
        values.append(value)
        return true
    }
}
