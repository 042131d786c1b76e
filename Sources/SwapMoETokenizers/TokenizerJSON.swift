// Decoding of tokenizer.json / tokenizer_config.json.
//
// A small strict JSON parser of our own (rather than JSONSerialization) so that numbers keep their integer/bool
// identity, error messages can name the line and column, and a 10 MB vocabulary parses quickly.

/// A parsed JSON value. Objects keep their key order (as written in the file).
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    var boolValue: Bool? { if case let .bool(b) = self { return b }; return nil }
    var intValue: Int? {
        switch self {
        case let .int(i): return i
        case let .double(d) where d.rounded() == d && abs(d) < 9e15: return Int(d)
        default: return nil
        }
    }
    var doubleValue: Double? {
        switch self {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }
    var arrayValue: [JSONValue]? { if case let .array(a) = self { return a }; return nil }
    var objectValue: JSONObject? { if case let .object(o) = self { return o }; return nil }
    var isNull: Bool { if case .null = self { return true }; return false }

    /// Member lookup on objects; nil for other values or a missing key.
    subscript(key: String) -> JSONValue? { objectValue?[key] }
}

/// An ordered JSON object. Lookups are linear, which is right for the small component objects; large objects
/// (vocabularies) are iterated, not searched.
struct JSONObject: Sendable {
    var keys: [String] = []
    var values: [JSONValue] = []

    subscript(key: String) -> JSONValue? {
        // Last occurrence wins, as with serde_json into a map.
        var i = keys.count - 1
        while i >= 0 {
            if keys[i] == key { return values[i] }
            i -= 1
        }
        return nil
    }

    var count: Int { keys.count }
}

/// Typed access to a component object with error messages naming the JSON path.
struct JSONFields {
    let object: JSONObject
    let path: String
    let file: String

    init(_ value: JSONValue, path: String, file: String = "tokenizer.json") throws {
        guard let object = value.objectValue else {
            throw TokenizerError.invalidField(file: file, path: path, expected: "must be a JSON object")
        }
        self.object = object
        self.path = path
        self.file = file
    }

    func sub(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool {
        if let v = object[key], !v.isNull { return true }
        return false
    }

    func string(_ key: String) throws -> String {
        guard let s = object[key]?.stringValue else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "must be a string")
        }
        return s
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = object[key], !v.isNull else { return nil }
        guard let s = v.stringValue else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "must be a string or null")
        }
        return s
    }

    func bool(_ key: String, default def: Bool) throws -> Bool {
        guard let v = object[key], !v.isNull else { return def }
        guard let b = v.boolValue else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "must be true or false")
        }
        return b
    }

    func int(_ key: String) throws -> Int {
        guard let i = object[key]?.intValue else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "must be an integer")
        }
        return i
    }

    func int(_ key: String, default def: Int) throws -> Int {
        guard let v = object[key], !v.isNull else { return def }
        guard let i = v.intValue else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "must be an integer")
        }
        return i
    }

    func array(_ key: String) throws -> [JSONValue] {
        guard let a = object[key]?.arrayValue else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "must be an array")
        }
        return a
    }

    func value(_ key: String) throws -> JSONValue {
        guard let v = object[key] else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "is missing")
        }
        return v
    }

    /// The `"type"` string of a component.
    func type() throws -> String {
        guard let t = object["type"]?.stringValue else {
            throw TokenizerError.invalidField(file: file, path: sub("type"), expected: "must be a string naming the component")
        }
        return t
    }

    /// The component's `"type"` as one of the supported kinds `T`, or an error listing the supported ones.
    func type<T: RawRepresentable & CaseIterable>(_: T.Type, kind: String) throws -> T where T.RawValue == String {
        let name = try type()
        guard let t = T(rawValue: name) else {
            throw TokenizerError.unsupportedComponent(kind: kind, type: name, supported: T.allCases.map(\.rawValue))
        }
        return t
    }

    /// A single character option (Metaspace `replacement`, Strip `content`).
    func character(_ key: String) throws -> Unicode.Scalar {
        let s = try string(key)
        guard s.unicodeScalars.count == 1, let c = s.unicodeScalars.first else {
            throw TokenizerError.invalidField(file: file, path: sub(key), expected: "must be a single character")
        }
        return c
    }
}

/// Strict RFC 8259 parser over UTF-8 bytes.
struct JSONParser {
    private let bytes: [UInt8]
    private var pos = 0
    private let file: String

    static func parse(_ data: [UInt8], file: String) throws -> JSONValue {
        var parser = JSONParser(bytes: data, file: file)
        // Skip a UTF-8 byte order mark.
        if data.count >= 3, data[0] == 0xEF, data[1] == 0xBB, data[2] == 0xBF { parser.pos = 3 }
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.pos != data.count {
            throw parser.error("unexpected data after the top-level value")
        }
        return value
    }

    private init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    private func error(_ reason: String) -> TokenizerError {
        var line = 1
        var column = 1
        var i = 0
        let end = min(pos, bytes.count)
        while i < end {
            if bytes[i] == 0x0A {
                line += 1
                column = 1
            } else if bytes[i] & 0xC0 != 0x80 {
                column += 1
            }
            i += 1
        }
        return .invalidJSON(file: file, location: "line \(line), column \(column) (byte \(pos))", reason: reason)
    }

    private mutating func skipWhitespace() {
        while pos < bytes.count {
            switch bytes[pos] {
            case 0x20, 0x09, 0x0A, 0x0D: pos += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw error("nesting deeper than 512 levels") }
        guard pos < bytes.count else { throw error("unexpected end of file") }
        switch bytes[pos] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default:
            throw error("unexpected character '\(Unicode.Scalar(bytes[pos]))'")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let n = literal.utf8CodeUnitCount
        guard pos + n <= bytes.count else { throw error("unexpected end of file") }
        let p = literal.utf8Start
        for i in 0..<n where bytes[pos + i] != p[i] {
            throw error("invalid literal (expected \(literal))")
        }
        pos += n
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        pos += 1
        var object = JSONObject()
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") {
            pos += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of file inside an object") }
            guard bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            object.keys.append(key)
            object.values.append(value)
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of file inside an object") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                continue
            }
            if bytes[pos] == UInt8(ascii: "}") {
                pos += 1
                return .object(object)
            }
            throw error("expected ',' or '}' in an object")
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        pos += 1
        var array: [JSONValue] = []
        skipWhitespace()
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") {
            pos += 1
            return .array(array)
        }
        while true {
            skipWhitespace()
            array.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard pos < bytes.count else { throw error("unexpected end of file inside an array") }
            if bytes[pos] == UInt8(ascii: ",") {
                pos += 1
                continue
            }
            if bytes[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(array)
            }
            throw error("expected ',' or ']' in an array")
        }
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var isInteger = true
        if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        func digits(_ p: inout Int, _ b: [UInt8]) -> Int {
            let s = p
            while p < b.count, b[p] >= 0x30, b[p] <= 0x39 { p += 1 }
            return p - s
        }
        guard digits(&pos, bytes) > 0 else { throw error("invalid number") }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard digits(&pos, bytes) > 0 else { throw error("invalid number (no digits after '.')") }
        }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard digits(&pos, bytes) > 0 else { throw error("invalid number (no digits in the exponent)") }
        }
        let text = String(decoding: bytes[start..<pos], as: UTF8.self)
        if isInteger, let i = Int(text) { return .int(i) }
        guard let d = Double(text) else { throw error("invalid number") }
        return .double(d)
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard pos + 4 <= bytes.count else { throw error("unexpected end of file in a \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[pos]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: throw error("invalid hex digit in a \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    private mutating func parseString() throws -> String {
        pos += 1  // opening quote
        let start = pos
        // Fast path: no escapes.
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: bytes[start..<pos], as: UTF8.self)
                pos += 1
                return s
            }
            if b == UInt8(ascii: "\\") { break }
            if b < 0x20 { throw error("unescaped control character in a string") }
            pos += 1
        }
        guard pos < bytes.count else { throw error("unterminated string") }
        var out: [UInt8] = Array(bytes[start..<pos])
        while pos < bytes.count {
            let b = bytes[pos]
            if b == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { throw error("unescaped control character in a string") }
            if b != UInt8(ascii: "\\") {
                out.append(b)
                pos += 1
                continue
            }
            pos += 1
            guard pos < bytes.count else { throw error("unterminated escape") }
            let e = bytes[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if code >= 0xD800, code < 0xDC00 {
                    // High surrogate: a low surrogate escape must follow.
                    if pos + 6 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") {
                        pos += 2
                        let low = try parseHex4()
                        if low >= 0xDC00, low < 0xE000 {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            throw error("invalid surrogate pair in a \\u escape")
                        }
                    } else {
                        throw error("lone surrogate in a \\u escape")
                    }
                } else if code >= 0xDC00, code < 0xE000 {
                    throw error("lone surrogate in a \\u escape")
                }
                appendUTF8(Unicode.Scalar(code)!, to: &out)
            default:
                throw error("invalid escape '\\\(Unicode.Scalar(e))'")
            }
        }
        throw error("unterminated string")
    }
}

@inline(__always)
func appendUTF8(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
    let v = scalar.value
    if v < 0x80 {
        out.append(UInt8(v))
    } else if v < 0x800 {
        out.append(UInt8(0xC0 | (v >> 6)))
        out.append(UInt8(0x80 | (v & 0x3F)))
    } else if v < 0x10000 {
        out.append(UInt8(0xE0 | (v >> 12)))
        out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (v & 0x3F)))
    } else {
        out.append(UInt8(0xF0 | (v >> 18)))
        out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
        out.append(UInt8(0x80 | (v & 0x3F)))
    }
}

/// The sections of a tokenizer.json file.
struct TokenizerJSON {
    let root: JSONFields

    init(data: [UInt8]) throws {
        let value = try JSONParser.parse(data, file: "tokenizer.json")
        root = try JSONFields(value, path: "", file: "tokenizer.json")
        guard root.object["model"] != nil else {
            throw TokenizerError.invalidField(file: "tokenizer.json", path: "model", expected: "is missing (is this really a tokenizers tokenizer.json?)")
        }
    }

    var normalizer: JSONValue { root.object["normalizer"] ?? .null }
    var preTokenizer: JSONValue { root.object["pre_tokenizer"] ?? .null }
    var model: JSONValue { root.object["model"] ?? .null }
    var postProcessor: JSONValue { root.object["post_processor"] ?? .null }
    var decoder: JSONValue { root.object["decoder"] ?? .null }
    var addedTokens: JSONValue { root.object["added_tokens"] ?? .array([]) }
}
