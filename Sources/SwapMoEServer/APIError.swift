import Foundation
import SwapMoECore

/// An error answered in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with its HTTP status.
/// The message is one line that names the cause and what to do.
public struct APIError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let message: String
    /// OpenAI's error types: `invalid_request_error`, `authentication_error`, `not_found_error`,
    /// `rate_limit_error`, `server_error`, `unavailable_error`.
    public let type: String
    /// The request field at fault, when one is.
    public let param: String?

    public init(status: Int, _ message: String, type: String? = nil, param: String? = nil) {
        self.status = status
        self.message = message
        self.param = param
        self.type = type ?? APIError.defaultType(status)
    }

    public var description: String { message }

    static func defaultType(_ status: Int) -> String {
        switch status {
        case 401: "authentication_error"
        case 404: "not_found_error"
        case 429: "rate_limit_error"
        case 503: "unavailable_error"
        case 400..<500: "invalid_request_error"
        default: "server_error"
        }
    }

    /// A request field with a wrong value (400).
    static func field(_ name: String, _ why: String) -> APIError {
        APIError(status: 400, "'\(name)' \(why)", param: name)
    }

    /// The JSON body.
    public var body: [UInt8] {
        APIError.encode(status: status, message: message, type: type, param: param)
    }

    static func encode(status: Int, message: String, type: String, param: String?) -> [UInt8] {
        jsonBytes(JSONValue.object(["error": .object(["message": .string(message), "type": .string(type),
                                                      "param": param.map(JSONValue.string) ?? .null, "code": .int(Int64(status))])]))
    }
}

/// JSON of an `Encodable` value, slashes unescaped (as OpenAI's and llama.cpp's servers write it).
func jsonBytes<T: Encodable>(_ value: T) -> [UInt8] {
    let e = JSONEncoder()
    e.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
    // Encoding plain structs of strings and numbers cannot fail.
    return [UInt8]((try? e.encode(value)) ?? Data("{}".utf8))
}
