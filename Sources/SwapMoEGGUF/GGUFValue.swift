/// The value types of GGUF metadata, by the id GGUF stores (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7, string = 8
    case array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// gguf-py's spelling (`UINT32`, `ARRAY`, ...).
    public var description: String {
        switch self {
        case .uint8: "UINT8"
        case .int8: "INT8"
        case .uint16: "UINT16"
        case .int16: "INT16"
        case .uint32: "UINT32"
        case .int32: "INT32"
        case .float32: "FLOAT32"
        case .bool: "BOOL"
        case .string: "STRING"
        case .array: "ARRAY"
        case .uint64: "UINT64"
        case .int64: "INT64"
        case .float64: "FLOAT64"
        }
    }

    /// Bytes of a fixed-size value; nil for strings and arrays.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// The fewest bytes one value of this type takes in a file (a string's length, an array's type and count):
    /// what bounds an element count by the bytes left before anything is allocated.
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }
}

/// A GGUF metadata value. Arrays keep their element type and store numbers compactly (a hostile count can make
/// an array no larger in memory than a small multiple of its bytes in the file).
public enum GGUFValue: Sendable, Hashable {
    case uint(UInt64, GGUFValueType)
    case int(Int64, GGUFValueType)
    case float(Double, GGUFValueType)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)

    public var type: GGUFValueType {
        switch self {
        case .uint(_, let t), .int(_, let t), .float(_, let t): t
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// The type as gguf-py lists it: `["UINT32"]`, `["ARRAY", "STRING"]`, ...
    public var typePath: [String] {
        if case .array(let a) = self { return ["ARRAY"] + (a.elementTypePath) }
        return [type.description]
    }

    /// An integer value that fits `Int` (any integer type), else nil.
    public var intValue: Int? {
        switch self {
        case .uint(let v, _): v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v, _): Int(exactly: v)
        default: nil
        }
    }

    /// A number (integer or float) as a Double.
    public var doubleValue: Double? {
        switch self {
        case .uint(let v, _): Double(v)
        case .int(let v, _): Double(v)
        case .float(let v, _): v
        default: nil
        }
    }

    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var arrayValue: GGUFArray? { if case .array(let a) = self { return a }; return nil }
}

/// A GGUF array: one element type, values stored by kind.
public enum GGUFArray: Sendable, Hashable {
    case uints([UInt64], GGUFValueType)
    case ints([Int64], GGUFValueType)
    case floats([Double], GGUFValueType)
    case bools([Bool])
    case strings([String])
    case arrays([GGUFArray])

    public var elementType: GGUFValueType {
        switch self {
        case .uints(_, let t), .ints(_, let t), .floats(_, let t): t
        case .bools: .bool
        case .strings: .string
        case .arrays: .array
        }
    }

    var elementTypePath: [String] {
        if case .arrays(let a) = self, let first = a.first { return ["ARRAY"] + first.elementTypePath }
        return [elementType.description]
    }

    public var count: Int {
        switch self {
        case .uints(let v, _): v.count
        case .ints(let v, _): v.count
        case .floats(let v, _): v.count
        case .bools(let v): v.count
        case .strings(let v): v.count
        case .arrays(let v): v.count
        }
    }

    public var strings: [String]? { if case .strings(let s) = self { return s }; return nil }
    /// Numbers of any numeric element type as Doubles.
    public var doubles: [Double]? {
        switch self {
        case .uints(let v, _): v.map(Double.init)
        case .ints(let v, _): v.map(Double.init)
        case .floats(let v, _): v
        default: nil
        }
    }
    /// Integers of any integer element type (nil when one does not fit `Int`).
    public var ints: [Int]? {
        switch self {
        case .uints(let v, _): v.allSatisfy { $0 <= UInt64(Int.max) } ? v.map { Int($0) } : nil
        case .ints(let v, _): v.map { Int($0) }
        default: nil
        }
    }
}
