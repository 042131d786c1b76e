import Foundation
import Synchronization
import SwapMoECore
import SwapMoEHTTP
import SwapMoERuntime

/// How `swapmoe serve` runs: the session (archive, cap, policy, `slots` = --parallel, context) and the HTTP side.
public struct ServerOptions: Sendable {
    public var session: SessionOptions
    public var host = "127.0.0.1"
    public var port = 8080
    /// When set, every endpoint but /health needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// The model id clients name (default: the archive's file name without `.swm`).
    public var alias: String?
    /// A chat template file instead of the archive's.
    public var chatTemplate: String?
    /// Requests that may wait for a slot; beyond them 429.
    public var maxWaiting = 16
    /// Request bodies larger than this get 413.
    public var maxBodyBytes = 8 << 20

    public init(session: SessionOptions) { self.session = session }

    /// The id `GET /v1/models` lists and requests may name.
    public var modelID: String {
        if let alias { return alias }
        let name = (session.archive as NSString).lastPathComponent
        return name.hasSuffix(".swm") ? String(name.dropLast(4)) : name
    }
}

/// An OpenAI-compatible server over one `Session`: `POST /v1/chat/completions`, `POST /v1/completions` (streamed
/// as server-sent events or not), `GET /v1/models`, `GET /health`, `GET /metrics`. HTTP is libmicrohttpd's
/// (SwapMoEHTTP); each request runs on its connection's thread, generates in a conversation slot of the session
/// (`SlotPool`), and the slots take turns on the model token by token.
public final class OpenAIServer: Sendable {
    /// What exists once the model is loaded.
    struct Loaded: Sendable {
        let session: Session
        let format: ChatFormat
        let pool: SlotPool
    }

    public let options: ServerOptions
    let metrics = ServerMetrics()
    let loaded = Mutex<Loaded?>(nil)
    let started = Int(Date().timeIntervalSince1970)
    let log: @Sendable (String) -> Void
    private let http = Mutex<HTTPServer?>(nil)

    /// Binds the port and starts answering (503 until `load` finishes); `log` sees one line per request.
    public init(options: ServerOptions, log: @escaping @Sendable (String) -> Void) throws {
        self.options = options
        self.log = log
        var h = HTTPServerOptions()
        h.host = options.host
        h.port = options.port
        h.maxBodyBytes = options.maxBodyBytes
        h.errorBody = { status, message in ("application/json", APIError(status: status, message).body) }
        let server = try HTTPServer(options: h) { [weak self] request in
            guard let self else { return OpenAIServer.reply(APIError(status: 503, "the server is shutting down")) }
            return self.handle(request)
        }
        http.withLock { $0 = server }
    }

    /// The bound port (the chosen one when `port` was 0).
    public var port: Int { http.withLock { $0?.port ?? 0 } }

    /// Opens the session and the chat format; requests are served from then on. `warn` sees the session's
    /// warnings and the chat template's.
    public func load(warn: @escaping (String) -> Void) throws {
        let session = try Session(options: options.session, accept: .decoderOnly(command: "serve"), warn: warn)
        let (format, warning) = try session.chatFormat(templateFile: options.chatTemplate)
        if let warning { warn(warning) }
        let pool = SlotPool(slots: session.slots, maxWaiting: options.maxWaiting)
        loaded.withLock { $0 = Loaded(session: session, format: format, pool: pool) }
    }

    /// Stops answering and closes connections (streams in progress end).
    public func stop() {
        let server = http.withLock { s -> HTTPServer? in defer { s = nil }; return s }
        server?.stop()
    }

    /// Routes one request.
    func handle(_ r: HTTPRequest) -> HTTPResponse {
        let response = route(r)
        metrics.answered(response.status)
        return response
    }

    private func route(_ r: HTTPRequest) -> HTTPResponse {
        var path = r.path
        if path.count > 1, path.hasSuffix("/") { path.removeLast() }
        if r.method == "OPTIONS" { return .full(status: 204, headers: HTTPHeaders(OpenAIServer.cors), body: []) }
        if path != "/health", let key = options.apiKey, r.headers["authorization"] != "Bearer \(key)" {
            return OpenAIServer.reply(APIError(status: 401, "missing or wrong API key; send the header 'Authorization: Bearer <key>' with the key the server was started with"))
        }
        let routes: [String: (method: String, run: (HTTPRequest) -> HTTPResponse)] = [
            "/health": ("GET", { _ in self.health() }),
            "/metrics": ("GET", { _ in self.metricsText() }),
            "/v1/models": ("GET", { _ in self.models() }), "/models": ("GET", { _ in self.models() }),
            "/v1/chat/completions": ("POST", { self.completion($0, chat: true) }), "/chat/completions": ("POST", { self.completion($0, chat: true) }),
            "/v1/completions": ("POST", { self.completion($0, chat: false) }), "/completions": ("POST", { self.completion($0, chat: false) }),
        ]
        guard let route = routes[path] else {
            return OpenAIServer.reply(APIError(status: 404, "no endpoint \(path); swapmoe serves /v1/chat/completions, /v1/completions, /v1/models, /health and /metrics"))
        }
        guard r.method == route.method || (r.method == "HEAD" && route.method == "GET") else {
            return OpenAIServer.reply(APIError(status: 405, "\(path) takes \(route.method), not \(r.method)"))
        }
        return route.run(r)
    }

    private func health() -> HTTPResponse {
        loaded.withLock { $0 } == nil
            ? OpenAIServer.json(503, Array(#"{"status":"loading"}"#.utf8))
            : OpenAIServer.json(200, Array(#"{"status":"ok"}"#.utf8))
    }

    private func models() -> HTTPResponse {
        OpenAIServer.json(200, CompletionResponse.models([options.modelID], created: started))
    }

    private func metricsText() -> HTTPResponse {
        let l = loaded.withLock { $0 }
        let text = metrics.render(session: l?.session, slots: l?.pool.counts ?? (0, 0), totalSlots: l?.pool.total ?? options.session.slots)
        return .full(status: 200, headers: OpenAIServer.headers("text/plain; version=0.0.4"), body: Array(text.utf8))
    }

    // MARK: Responses

    static let cors: [HTTPHeader] = [
        HTTPHeader("Access-Control-Allow-Origin", "*"), HTTPHeader("Access-Control-Allow-Headers", "Authorization, Content-Type"),
        HTTPHeader("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ]

    static func headers(_ contentType: String, _ more: [HTTPHeader] = []) -> HTTPHeaders {
        HTTPHeaders([HTTPHeader("Content-Type", contentType)] + more + cors)
    }

    static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        .full(status: status, headers: headers("application/json"), body: body)
    }

    static func reply(_ e: APIError) -> HTTPResponse { json(e.status, e.body) }
}

extension HTTPResponse {
    var status: Int {
        switch self {
        case .full(let s, _, _), .stream(let s, _, _): s
        }
    }
}

extension OpenAIServer {
    /// The session, once loaded.
    public var session: Session? { loaded.withLock { $0?.session } }
    /// Where the chat template came from, once loaded.
    public var chatFormatSource: String { loaded.withLock { $0.map { "\($0.format.source)" } ?? "(not loaded)" } }
}
