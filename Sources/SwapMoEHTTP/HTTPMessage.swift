/// One request, as the handler sees it: complete, body included (the server reads the whole body, up to
/// `HTTPServerOptions.maxBodyBytes`, before calling the handler).
public struct HTTPRequest: Sendable {
    /// "GET", "POST", ... as the client sent it.
    public let method: String
    /// The URL's path without the query, percent-decoded by libmicrohttpd, e.g. "/v1/chat/completions".
    public let path: String
    /// The query arguments, percent-decoded; an argument without "=" has the value ""; of a repeated argument the
    /// last one counts.
    public let query: [String: String]
    /// The request headers, names lowercased; a repeated header's values joined with ", " (RFC 9110 5.3).
    public let headers: [String: String]
    public let body: [UInt8]
    /// The client's connection, to notice that it went away while the handler works.
    public let connection: HTTPConnection

    /// A request made by hand, to call a handler without a server (tests). `connection` defaults to one with
    /// no socket behind it, which never reports itself closed.
    public init(method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:],
                body: [UInt8] = [], connection: HTTPConnection = HTTPConnection()) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.connection = connection
    }
}

/// A response header. A name libmicrohttpd sets itself is handled as follows: `Content-Length` is ignored (the
/// server computes it), `Connection: close` closes the connection after the response, `Transfer-Encoding` may
/// only be `chunked`. An empty value leaves the header out (libmicrohttpd refuses empty values); a name or value
/// with a line break, or a name with a space or tab, makes the response a 500.
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// Response headers in order. Written as a dictionary literal (`["Content-Type": "application/json"]`) or an
/// array of pairs (`[("Content-Type", "application/json")]`); repeated names are kept.
public struct HTTPHeaders: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral,
                           ExpressibleByArrayLiteral {
    public var fields: [HTTPHeader]

    public init(_ fields: [HTTPHeader] = []) { self.fields = fields }
    public init(_ pairs: [(String, String)]) { fields = pairs.map { HTTPHeader($0.0, $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }
    public init(arrayLiteral elements: (String, String)...) { self.init(elements) }

    public var startIndex: Int { fields.startIndex }
    public var endIndex: Int { fields.endIndex }
    public subscript(position: Int) -> HTTPHeader { fields[position] }

    /// The value of the first header named `name` (compared without case), if any.
    public subscript(name: String) -> String? {
        let lowered = name.lowercased()
        return fields.first { $0.name.lowercased() == lowered }?.value
    }

    public mutating func append(_ name: String, _ value: String) { fields.append(HTTPHeader(name, value)) }
}

/// What a handler answers.
public enum HTTPResponse: Sendable {
    /// A complete response, sent with a Content-Length.
    case full(status: Int, headers: HTTPHeaders, body: [UInt8])
    /// The server sends the status and headers, then runs `produce` on a thread of its own; what it writes to the
    /// stream is sent as it is written (chunked transfer encoding). `produce` is always called once: if the
    /// response could not be sent at all (the server stopping, an invalid status), with a stream that is
    /// already closed, so whatever the handler set up for it is still released by it.
    case stream(status: Int, headers: HTTPHeaders, produce: @Sendable (HTTPStream) -> Void)

    /// A complete response with a `Content-Type`.
    public static func full(status: Int, contentType: String, body: [UInt8]) -> HTTPResponse {
        .full(status: status, headers: ["Content-Type": contentType], body: body)
    }

    /// A complete plain-text (UTF-8) response.
    public static func text(status: Int = 200, _ text: String) -> HTTPResponse {
        .full(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }
}
