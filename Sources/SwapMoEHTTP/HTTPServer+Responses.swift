import CMicroHTTPD
import SwapMoECore

/// Turning a handler's `HTTPResponse` into a libmicrohttpd response on the connection's thread.
extension ServerContext {
    /// Queues `response`; a status or header libmicrohttpd would refuse becomes a 500 (`errorBody`) naming it,
    /// so a handler's mistake reaches its author instead of a dropped connection.
    func send(_ response: HTTPResponse, on connection: OpaquePointer, for request: RequestState) -> MHD_Result {
        switch response {
        case .full(let status, let headers, let body):
            if let problem = Self.problem(status: status, headers: headers) {
                return respondError(connection, status: 500, message: problem)
            }
            return queueFull(connection, status: status, headers: headers, body: body)
        case .stream(let status, let headers, let produce):
            let stream = HTTPStream(connection: request.connection)
            if let problem = Self.problem(status: status, headers: headers) {
                stream.close()
                runProducer(produce, on: stream)
                return respondError(connection, status: 500, message: problem)
            }
            return queueStream(connection, status: status, headers: headers, stream: stream, produce: produce)
        }
    }

    /// An error response of the server's own (413, 500), its body from `options.errorBody`.
    func respondError(_ connection: OpaquePointer, status: Int, message: String) -> MHD_Result {
        let (contentType, body) = options.errorBody(status, message)
        let headers: HTTPHeaders = ["Content-Type": contentType]
        guard Self.problem(status: status, headers: headers) == nil else {
            return queueFull(connection, status: status, headers: [], body: body)
        }
        return queueFull(connection, status: status, headers: headers, body: body)
    }

    /// A complete response; libmicrohttpd copies the body (`.RESPMEM_MUST_COPY`) and adds Content-Length,
    /// Date and, as the request asks, keep-alive.
    private func queueFull(_ connection: OpaquePointer, status: Int, headers: HTTPHeaders, body: [UInt8]) -> MHD_Result {
        let made = body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
        }
        guard let response = made else { return .NO }  // out of memory
        defer { MHD_destroy_response(response) }  // the queue holds its own reference
        guard Self.add(headers, to: response) else { return .NO }
        return MHD_queue_response(connection, UInt32(status), response)
    }

    /// A streamed response of unknown length (`MHD_SIZE_UNKNOWN`: libmicrohttpd sends it chunked to HTTP/1.1
    /// clients, and to HTTP/1.0 ones as a body ended by closing the connection). The producer starts once the
    /// response is queued, so its first bytes never wait for a thread that is not there yet; it runs even if
    /// queueing failed, on a closed stream.
    private func queueStream(_ connection: OpaquePointer, status: Int, headers: HTTPHeaders, stream: HTTPStream,
                             produce: @escaping @Sendable (HTTPStream) -> Void) -> MHD_Result {
        let argument = Unmanaged.passRetained(StreamResponse(stream: stream, context: self)).toOpaque()
        let made = MHD_create_response_from_callback(UInt64.max, Self.streamBlockSize, { cls, _, buffer, max in
            ServerContext.readStream(cls, buffer, max)
        }, argument, { cls in
            ServerContext.freeStream(cls)
        })
        guard let response = made else {
            Unmanaged<StreamResponse>.fromOpaque(argument).release()  // the free callback will not run
            stream.close()
            runProducer(produce, on: stream)
            return .NO
        }
        register(stream)
        var result = MHD_Result.NO
        if Self.add(headers, to: response) {
            result = MHD_queue_response(connection, UInt32(status), response)
        }
        // Drops this reference: if the response was not queued, it is freed here and the stream closed.
        MHD_destroy_response(response)
        runProducer(produce, on: stream)
        return result
    }

    /// Runs `produce` on a thread of its own, then finishes the stream. With no thread to be had, the stream is
    /// closed and `produce` runs here (it sees `write` return false at once).
    private func runProducer(_ produce: @escaping @Sendable (HTTPStream) -> Void, on stream: HTTPStream) {
        let started = startDetachedThread {
            produce(stream)
            stream.finish()
        }
        if !started {
            stream.close()
            produce(stream)
        }
    }

    /// How many bytes libmicrohttpd asks the content reader for at most (its buffer for callback responses).
    static let streamBlockSize = 32 << 10

    /// Adds the headers, leaving out what libmicrohttpd sets itself (Content-Length) or refuses while being
    /// valid HTTP (an empty value). False if libmicrohttpd refused one (out of memory, after `problem`).
    private static func add(_ headers: HTTPHeaders, to response: OpaquePointer) -> Bool {
        for header in headers where !header.value.isEmpty && header.name.lowercased() != "content-length" {
            guard MHD_add_response_header(response, header.name, header.value) == .YES else { return false }
        }
        return true
    }

    /// Why libmicrohttpd would refuse this status or these headers, in one line; nil if it will take them.
    static func problem(status: Int, headers: HTTPHeaders) -> String? {
        guard (100...999).contains(status) else { return "the handler answered with status \(status), not a three-digit HTTP status" }
        for header in headers {
            let name = header.name.unicodeScalars
            if name.isEmpty || name.contains(where: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\0" || $0 == ":" }) {
                return "the handler's response header name '\(header.name.escapingControlCharacters)' is not a valid HTTP header name"
            }
            if header.value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
                return "the handler's response header '\(header.name)' has a line break or NUL in its value"
            }
            if header.name.lowercased() == "transfer-encoding", header.value.lowercased() != "chunked" {
                return "the handler's response header 'Transfer-Encoding: \(header.value)' is not supported (only chunked)"
            }
        }
        return nil
    }
}
