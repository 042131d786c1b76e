/// How an `HTTPServer` listens and what it accepts. The defaults suit one local user of `swapmoe serve`.
public struct HTTPServerOptions: Sendable {
    /// An IPv4 literal, "localhost" (127.0.0.1), "0.0.0.0" (every IPv4 address), or an IPv6 literal ("::1";
    /// "::" listens on every address, IPv4 included); brackets around an IPv6 literal are accepted.
    public var host: String
    /// 0 binds any free port (read `HTTPServer.port` after start).
    public var port: Int
    /// Larger request bodies get a 413 without the handler being called: a larger `Content-Length` at once,
    /// a chunked upload once it has grown past the limit (what follows is read and dropped, up to as much
    /// again, so the client gets its 413 rather than a reset; past that the connection is closed).
    public var maxBodyBytes: Int
    /// Connections beyond this many are accepted and closed at once (libmicrohttpd's
    /// `MHD_OPTION_CONNECTION_LIMIT`). Each connection has a thread of its own.
    public var maxConnections: Int
    /// A connection with nothing sent or received for this long is closed: an idle keep-alive connection, a
    /// stalled upload, a stream whose producer wrote nothing for that long. 0: never.
    public var connectionTimeoutSeconds: Int
    /// The body of the server's own error responses (413 for a body over the limit, 500 for a response the
    /// handler got wrong), so the caller can give them its JSON shape. libmicrohttpd answers a malformed request
    /// line or header itself (400, 431, ...), with a short HTML body.
    public var errorBody: @Sendable (_ status: Int, _ message: String) -> (contentType: String, body: [UInt8])

    /// Every option at its default: 127.0.0.1:8080, bodies up to 8 MiB, 64 connections, 600 s idle timeout,
    /// plain-text error bodies.
    public init(host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 8 << 20, maxConnections: Int = 64,
                connectionTimeoutSeconds: Int = 600,
                errorBody: @escaping @Sendable (_ status: Int, _ message: String) -> (contentType: String, body: [UInt8])
                    = HTTPServerOptions.plainTextError) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxConnections = maxConnections
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.errorBody = errorBody
    }

    /// The default error body: the message as a line of plain text.
    public static let plainTextError: @Sendable (Int, String) -> (contentType: String, body: [UInt8]) = { _, message in
        ("text/plain; charset=utf-8", Array((message + "\n").utf8))
    }

    /// Refuses values libmicrohttpd cannot take (its options are `unsigned int`) or that make no sense.
    func validate() throws(HTTPError) {
        guard (0...65535).contains(port) else { throw .invalidPort(port) }
        guard maxBodyBytes >= 0 else { throw .invalidOption(name: "maxBodyBytes", value: maxBodyBytes, range: "0 or more") }
        guard (1...Self.connectionLimitMax).contains(maxConnections) else {
            throw .invalidOption(name: "maxConnections", value: maxConnections, range: "1...\(Self.connectionLimitMax)")
        }
        guard (0...Self.timeoutMax).contains(connectionTimeoutSeconds) else {
            throw .invalidOption(name: "connectionTimeoutSeconds", value: connectionTimeoutSeconds, range: "0...\(Self.timeoutMax)")
        }
    }

    /// A thread and a socket per connection: far fewer than this fit in a process anyway.
    static let connectionLimitMax = 65_536
    /// One year; libmicrohttpd counts the timeout in milliseconds in a 64-bit integer.
    static let timeoutMax = 366 * 24 * 3600
}
