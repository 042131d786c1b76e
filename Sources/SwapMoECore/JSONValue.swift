/// Any JSON value. Two readers make it: `Codable` (`JSONDecoder`), so an archive can carry `config.json`
/// verbatim (unknown keys included) and the engine can decode the family's typed config from it later; and
/// `JSONParser`, the strict parser of tokenizer files, which keeps objects in file order and integers exact.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(JSONObject(try c.decode([String: JSONValue].self))) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o.dictionary)
        }
    }

    /// Member lookup on objects; nil for other values or a missing key.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    /// An integer, or a double with an integral value small enough to be exact (below 9e15 in magnitude); nil
    /// for anything else, so a huge or fractional number is an error for the caller to report, never a trap.
    public var intValue: Int? {
        switch self {
        case .int(let i): Int(i)
        case .double(let d) where d.rounded() == d && abs(d) < 9e15: Int(d)
        default: nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a }; return nil }
    public var objectValue: JSONObject? { if case .object(let o) = self { return o }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
}

/// A `DecodingError` as one line naming the key path (Foundation's own description is a nested dump).
public func describeDecodingError(_ error: any Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ ctx: DecodingError.Context) -> String { ctx.codingPath.map(\.stringValue).joined(separator: ".") }
    switch e {
    case .keyNotFound(let key, _): return "missing key \"\(key.stringValue)\""
    case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "key \"\(path(ctx))\" has the wrong type"
    case .dataCorrupted(let ctx): return "invalid JSON at \"\(path(ctx))\": \(ctx.debugDescription)"
    @unknown default: return "\(error)"
    }
}
