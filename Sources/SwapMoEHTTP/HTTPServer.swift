#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CMicroHTTPD
import SwapMoECore

/// An HTTP/1.1 server over GNU libmicrohttpd, the transport of `swapmoe serve`.
///
/// libmicrohttpd runs in thread-per-connection mode (`MHD_USE_THREAD_PER_CONNECTION`, with its internal
/// accepting thread): the handler runs on the connection's own thread and may block for as long as it needs (a
/// whole generation) without holding up other clients; a streamed response's producer gets a thread of its own.
/// Keep-alive, chunked encoding, `Expect: 100-continue`, malformed requests (answered 400 by the library) and
/// idle timeouts are libmicrohttpd's; this module adds the body limit, the streaming buffer and the notice of a
/// client that went away.
public final class HTTPServer: Sendable {
    /// The bound port (the kernel's choice when `options.port` was 0).
    public let port: Int
    /// The host as given in the options.
    public let host: String
    private let daemon: Daemon

    /// Binds and starts serving. `handler` is called once per request whose body is within the limit, on the
    /// connection's thread, and may block.
    public init(options: HTTPServerOptions, handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws(HTTPError) {
        try options.validate()
        let socket = try ListenSocket.open(host: options.host, port: options.port)
        let context = ServerContext(options: options, handler: handler)
        guard let pointer = Self.startDaemon(socket: socket, options: options, context: context) else {
            socket.closeIfStillOpen()
            throw .cannotStart(address: ListenSocket.display(host: options.host, port: socket.port))
        }
        daemon = Daemon(pointer, context: context)
        port = socket.port
        host = options.host
    }

    deinit { stop() }

    /// Stops accepting, closes every connection (open streams see `write` return false, handlers see
    /// `connection.isClosed`), and joins libmicrohttpd's threads: returns once no handler runs any more (a handler
    /// that never returns keeps it waiting). Producers of streams may still be finishing on their own threads.
    /// Idempotent; also done on deinit. Called from a handler, it stops from another thread and returns at once
    /// (libmicrohttpd cannot join the thread it is called on).
    public func stop() {
        daemon.context.beginStop()
        guard ConnectionThreadMark.isSet(daemon.context.pointer) else {
            daemon.stop()
            return
        }
        let daemon = self.daemon
        if !startDetachedThread({ daemon.stop() }) {
            // No thread to stop from, and this one cannot: the daemon keeps serving (its connections already see
            // the stop), and is kept alive for good so its callbacks never meet a freed context.
            _ = Unmanaged.passRetained(daemon)
        }
    }

    /// Starts libmicrohttpd on `socket`; nil if it refuses. The options go through `MHD_start_daemon_va`, whose
    /// `va_list` Swift builds (`withVaList`), so the variadic `MHD_start_daemon` needs no C wrapper.
    private static func startDaemon(socket: ListenSocket, options: HTTPServerOptions, context: ServerContext) -> OpaquePointer? {
        var flags = MHD_USE_THREAD_PER_CONNECTION.rawValue | MHD_USE_INTERNAL_POLLING_THREAD.rawValue
        // poll() rather than select(): no FD_SETSIZE (1024) ceiling on descriptor numbers, which a process with
        // many mapped files and sockets can pass.
        flags |= MHD_USE_POLL.rawValue
        if socket.isIPv6 { flags |= MHD_USE_IPv6.rawValue }
        let completed: MHD_RequestCompletedCallback = { cls, _, requestContext, _ in
            ServerContext.requestCompleted(cls, requestContext)
        }
        // Each value as the C type libmicrohttpd takes it with va_arg: the option an `enum MHD_OPTION` (int), the
        // socket an int, the limit and timeout unsigned ints, the callback and its argument pointers (as
        // OpaquePointer, since Swift's raw pointer types are not CVarArg).
        let arguments: [CVarArg] = [
            MHD_OPTION.LISTEN_SOCKET.rawValue, socket.fd,
            MHD_OPTION.CONNECTION_LIMIT.rawValue, UInt32(options.maxConnections),
            MHD_OPTION.CONNECTION_TIMEOUT.rawValue, UInt32(options.connectionTimeoutSeconds),
            MHD_OPTION.NOTIFY_COMPLETED.rawValue, OpaquePointer(unsafeBitCast(completed, to: UnsafeRawPointer.self)),
            OpaquePointer(context.pointer),
            MHD_OPTION.END.rawValue,
        ]
        return withVaList(arguments) { list in
            MHD_start_daemon_va(flags, 0, nil, nil, { cls, connection, url, method, _, uploadData, uploadDataSize, requestContext in
                ServerContext.access(cls, connection, url, method, uploadData, uploadDataSize, requestContext)
            }, context.pointer, list)
        }
    }
}

/// The running libmicrohttpd daemon; stopped once.
private final class Daemon: @unchecked Sendable {
    // @unchecked Sendable: `pointer` is read and cleared only with `sync` held (which also makes a second
    // `stop()` wait until the first is done); `context` is immutable and Sendable.
    private let sync = PthreadCondition()
    private var pointer: OpaquePointer?
    /// Kept alive here until the daemon is stopped: libmicrohttpd's callbacks receive it unretained.
    let context: ServerContext

    init(_ pointer: OpaquePointer, context: ServerContext) {
        self.pointer = pointer
        self.context = context
    }

    func stop() {
        context.beginStop()
        sync.lock()
        defer { sync.unlock() }
        guard let daemon = pointer else { return }
        pointer = nil
        // Shuts every connection's socket down, joins the connection threads and the accepting thread, and
        // closes the listening socket (libmicrohttpd owns it from MHD_start_daemon_va on).
        MHD_stop_daemon(daemon)
    }
}
