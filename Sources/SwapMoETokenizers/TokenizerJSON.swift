// Decoding of tokenizer.json / tokenizer_config.json.
//
// The files are parsed by Core's strict `JSONParser` into Core's `JSONValue` (objects in file order, integers
// exact, line and column in syntax errors); `JSONFields` gives typed access with errors naming the JSON path.

import SwapMoECore

/// Parses a tokenizer file, reporting a syntax error as `TokenizerError.invalidJSON`.
func parseTokenizerFile(_ data: [UInt8], file: String) throws -> JSONValue {
    do { return try JSONParser.parse(data, file: file) } catch {
        throw TokenizerError.invalidJSON(file: error.file, location: error.location, reason: error.reason)
    }
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

/// The sections of a tokenizer.json file.
struct TokenizerJSON {
    let root: JSONFields

    init(data: [UInt8]) throws {
        let value = try parseTokenizerFile(data, file: "tokenizer.json")
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
