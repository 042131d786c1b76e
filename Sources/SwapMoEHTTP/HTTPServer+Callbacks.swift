import CMicroHTTPD

/// libmicrohttpd's callbacks. Each C callback (a closure literal where the daemon is started or a response is
/// made) only unwraps its arguments and calls one of these; every pointer from C is checked, never
/// force-unwrapped, and a missing one ends the connection (`MHD_NO`) rather than the process.
extension ServerContext {
    /// The access handler (`MHD_AccessHandlerCallback`), called on the connection's thread several times per
    /// request: first when the headers are in (`*requestContext` still nil), then once per piece of the body
    /// (`*uploadDataSize` > 0, which must be consumed by setting it to 0), then once more with 0 when the body is
    /// complete. A response may be queued only on the first call or the last.
    static func access(_ cls: UnsafeMutableRawPointer?, _ connection: OpaquePointer?, _ url: UnsafePointer<CChar>?,
                       _ method: UnsafePointer<CChar>?, _ uploadData: UnsafePointer<CChar>?,
                       _ uploadDataSize: UnsafeMutablePointer<Int>?,
                       _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> MHD_Result {
        guard let cls, let connection, let uploadDataSize, let requestContext else { return .NO }
        let context = Unmanaged<ServerContext>.fromOpaque(cls).takeUnretainedValue()
        guard let existing = requestContext.pointee else {
            return context.begin(connection, url: url, method: method, requestContext: requestContext)
        }
        let state = Unmanaged<RequestState>.fromOpaque(existing).takeUnretainedValue()
        let size = uploadDataSize.pointee
        if size > 0 {
            uploadDataSize.pointee = 0
            return context.receive(UnsafeRawBufferPointer(start: uploadData, count: uploadData == nil ? 0 : size), declaredSize: size,
                                   into: state)
        }
        if state.answered { return .YES }
        state.answered = true
        if state.tooLarge { return context.respondBodyTooLarge(connection) }
        let request = HTTPRequest(method: state.method, path: state.path, query: state.query, headers: state.headers,
                                  body: state.body, connection: state.connection)
        state.body = []
        return context.send(context.handler(request), on: connection, for: state)
    }

    /// The first call of a request: records method, path, query and headers, and answers 413 at once when the
    /// declared length is over the limit (libmicrohttpd then reads no body and closes the connection after).
    private func begin(_ connection: OpaquePointer, url: UnsafePointer<CChar>?, method: UnsafePointer<CChar>?,
                       requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> MHD_Result {
        ConnectionThreadMark.set(pointer)
        guard let url, let method else { return .NO }
        let fd = swapmoe_mhd_connection_fd(connection)
        let state = RequestState(method: String(cString: method), path: String(cString: url),
                                 query: Self.query(of: connection), headers: Self.headers(of: connection),
                                 connection: HTTPConnection(fd: fd, serverStopping: stopping))
        // Retained until `requestCompleted`, which libmicrohttpd calls for every request it gave us.
        requestContext.pointee = Unmanaged.passRetained(state).toOpaque()
        if let length = state.declaredLength, length > UInt64(options.maxBodyBytes) {
            state.answered = true
            return respondBodyTooLarge(connection)
        }
        return .YES
    }

    /// One piece of the body: kept while the total is within the limit; past it dropped, and past twice the
    /// limit the connection is closed (a client that keeps sending gets no further hearing).
    private func receive(_ piece: UnsafeRawBufferPointer, declaredSize: Int, into state: RequestState) -> MHD_Result {
        guard piece.count == declaredSize else { return .NO }  // a size without data: not libmicrohttpd's habit
        let (total, overflow) = state.received.addingReportingOverflow(piece.count)
        state.received = overflow ? .max : total
        if state.answered { return .YES }
        if !state.tooLarge && state.received > options.maxBodyBytes {
            state.tooLarge = true
            state.body = []
        }
        if state.tooLarge {
            return state.received - options.maxBodyBytes > options.maxBodyBytes ? .NO : .YES
        }
        state.body.append(contentsOf: piece)
        return .YES
    }

    private func respondBodyTooLarge(_ connection: OpaquePointer) -> MHD_Result {
        respondError(connection, status: 413, message: "request body larger than \(options.maxBodyBytes) bytes")
    }

    /// `MHD_OPTION_NOTIFY_COMPLETED`: the request is over (response sent, client gone, or server stopping).
    /// Called on the connection's thread before libmicrohttpd closes the socket; releases the request's state.
    static func requestCompleted(_ cls: UnsafeMutableRawPointer?, _ requestContext: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) {
        guard let requestContext, let pointer = requestContext.pointee else { return }
        requestContext.pointee = nil
        let state = Unmanaged<RequestState>.fromOpaque(pointer).takeRetainedValue()
        state.connection.markEnded()
    }

    /// The content reader of a streamed response (`MHD_ContentReaderCallback`), on the connection's thread:
    /// the bytes written so far, or after a short wait 0 ("nothing yet", and libmicrohttpd asks again after its
    /// own checks), -1 at the end (`MHD_CONTENT_READER_END_OF_STREAM`: the chunked terminator goes out), -2
    /// when the stream was closed (`MHD_CONTENT_READER_END_WITH_ERROR`: the connection is dropped).
    static func readStream(_ cls: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ max: Int) -> Int {
        guard let cls, let buffer else { return -2 }
        let response = Unmanaged<StreamResponse>.fromOpaque(cls).takeUnretainedValue()
        switch response.stream.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: max)) {
        case .bytes(let count): return count
        case .idle: return 0
        case .end: return -1
        case .closed: return -2
        }
    }

    /// The free callback of a streamed response (`MHD_ContentReaderFreeCallback`): libmicrohttpd is done with
    /// it (sent, failed, or never queued), so the producer's next `write` returns false.
    static func freeStream(_ cls: UnsafeMutableRawPointer?) {
        guard let cls else { return }
        let response = Unmanaged<StreamResponse>.fromOpaque(cls).takeRetainedValue()
        response.stream.close()
        response.context.unregister(response.stream)
    }

    /// The request's headers, names lowercased, repeated ones joined with ", ".
    static func headers(of connection: OpaquePointer) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in values(of: connection, kind: .HEADER_KIND) {
            let key = name.lowercased()
            if let earlier = headers[key] { headers[key] = earlier + ", " + value } else { headers[key] = value }
        }
        return headers
    }

    /// The query arguments (libmicrohttpd has percent-decoded them); the last of repeated ones wins.
    static func query(of connection: OpaquePointer) -> [String: String] {
        var query: [String: String] = [:]
        for (name, value) in values(of: connection, kind: .GET_ARGUMENT_KIND) { query[name] = value }
        return query
    }

    /// The key-value pairs of `kind`, in order, through `MHD_get_connection_values_n` (which gives lengths, so a
    /// decoded "%00" does not cut a value short). A value may be absent ("?flag"): then "".
    private static func values(of connection: OpaquePointer, kind: MHD_ValueKind) -> [(String, String)] {
        var pairs: [(String, String)] = []
        withUnsafeMutablePointer(to: &pairs) { collector in
            _ = MHD_get_connection_values_n(connection, kind, { cls, _, key, keySize, value, valueSize in
                guard let cls, let key else { return .YES }
                let name = String(decoding: UnsafeRawBufferPointer(start: key, count: keySize), as: UTF8.self)
                let text = value.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: valueSize), as: UTF8.self) } ?? ""
                cls.assumingMemoryBound(to: [(String, String)].self).pointee.append((name, text))
                return .YES
            }, collector)
        }
        return pairs
    }
}
