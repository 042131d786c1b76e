// JSONObject: the object payload of `JSONValue`, in the order its keys were written.

/// A JSON object as written: keys in file order, duplicates kept (the tokenizer iterates vocabularies and
/// `added_tokens_decoder` in file order). Lookups are linear, which is right for the small component objects;
/// large objects (vocabularies) are iterated, not searched. The last occurrence of a key wins, as with
/// serde_json or `JSONDecoder` into a map; equality and hashing are those of that map (key order and overwritten
/// duplicates do not count).
public struct JSONObject: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public var keys: [String] = []
    public var values: [JSONValue] = []

    public init() {}

    public init(keys: [String], values: [JSONValue]) {
        self.keys = keys
        self.values = values
    }

    /// The members of a map (in its iteration order).
    public init(_ dictionary: [String: JSONValue]) {
        keys = Array(dictionary.keys)
        values = Array(dictionary.values)
    }

    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        keys = elements.map(\.0)
        values = elements.map(\.1)
    }

    public subscript(key: String) -> JSONValue? {
        // Last occurrence wins, as with serde_json into a map.
        var i = keys.count - 1
        while i >= 0 {
            if keys[i] == key { return values[i] }
            i -= 1
        }
        return nil
    }

    /// Members as written, duplicates included.
    public var count: Int { keys.count }

    /// The object as a map: the last occurrence of each key.
    public var dictionary: [String: JSONValue] {
        Dictionary(zip(keys, values), uniquingKeysWith: { _, last in last })
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool { a.dictionary == b.dictionary }
    public func hash(into hasher: inout Hasher) { hasher.combine(dictionary) }
}
