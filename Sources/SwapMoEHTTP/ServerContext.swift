import SwapMoECore

/// What libmicrohttpd's callbacks share for one server: the options, the handler, the stop flag and the open
/// streams. Passed to libmicrohttpd unretained (`pointer`); `HTTPServer` keeps it alive until the daemon is
/// stopped, after which no callback runs.
final class ServerContext: @unchecked Sendable {
    // @unchecked Sendable: `streams` is read and written only with `sync` held; everything else is immutable
    // and Sendable.
    let options: HTTPServerOptions
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    let stopping = StopFlag()
    private let sync = PthreadCondition()
    private var streams: [ObjectIdentifier: HTTPStream] = [:]

    init(options: HTTPServerOptions, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.options = options
        self.handler = handler
    }

    /// This object as libmicrohttpd's callback argument.
    var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Marks the server stopping (every `HTTPConnection.isClosed` turns true) and closes the open streams, so
    /// their content readers return and their connection threads can be joined.
    func beginStop() {
        stopping.set()
        sync.lock()
        let open = Array(streams.values)
        streams.removeAll()
        sync.unlock()
        for stream in open { stream.close() }
    }

    /// Tracks an open stream until its response is freed; closes it at once if the server is already stopping
    /// (checked under the same lock as `beginStop` takes, so no stream escapes the stop).
    func register(_ stream: HTTPStream) {
        sync.lock()
        let accepted = !stopping.isSet
        if accepted { streams[ObjectIdentifier(stream)] = stream }
        sync.unlock()
        if !accepted { stream.close() }
    }

    func unregister(_ stream: HTTPStream) {
        sync.lock()
        streams[ObjectIdentifier(stream)] = nil
        sync.unlock()
    }
}

/// One request in progress, from its headers to its completion: libmicrohttpd keeps it in the connection's
/// `con_cls` slot (retained) and hands it back on every call for that request. Used only on the connection's
/// thread.
final class RequestState {
    let method: String
    let path: String
    let query: [String: String]
    let headers: [String: String]
    let connection: HTTPConnection
    var body: [UInt8] = []
    /// Body bytes received so far, kept or dropped.
    var received = 0
    /// The body passed the limit: the rest is read and dropped, then a 413 goes out.
    var tooLarge = false
    /// A response was queued (early for a declared length over the limit, or the final one).
    var answered = false

    init(method: String, path: String, query: [String: String], headers: [String: String], connection: HTTPConnection) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.connection = connection
    }

    /// The Content-Length the client declared, if it is a plain decimal number (libmicrohttpd refuses a
    /// malformed one with a 400 before the handler sees the request).
    var declaredLength: UInt64? {
        guard let text = headers["content-length"] else { return nil }
        return UInt64(text.trimmingSpaces)
    }
}

/// Keeps a streamed response's stream and the server context together for libmicrohttpd's content reader and
/// free callbacks (their one argument, retained until the free callback).
final class StreamResponse {
    let stream: HTTPStream
    let context: ServerContext
    init(stream: HTTPStream, context: ServerContext) {
        self.stream = stream
        self.context = context
    }
}

extension String {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    var trimmingSpaces: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}
