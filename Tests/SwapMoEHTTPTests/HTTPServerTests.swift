import Foundation
import SwapMoEHTTP
import XCTest

/// Requests in, full responses out, and the errors of starting a server.
final class HTTPServerTests: XCTestCase {
    /// The echo handler: method, path, query, one header and the body, one per line.
    static let echo: @Sendable (HTTPRequest) -> HTTPResponse = { request in
        let query = request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let lines = [request.method, request.path, query, request.headers["x-test-header"] ?? "-",
                     String(decoding: request.body, as: UTF8.self)]
        return .full(status: 200, headers: ["Content-Type": "text/plain", "X-Echo": "yes"], body: Array(lines.joined(separator: "\n").utf8))
    }

    func testGetDecodesQueryAndLowercasesHeaderNames() throws {
        let server = try startServer(handler: Self.echo)
        defer { server.stop() }
        XCTAssertGreaterThan(server.port, 0, "port 0 binds a real port")
        XCTAssertEqual(server.host, "127.0.0.1")
        let result = try curl(["-H", "X-Test-Header: Hello", "http://127.0.0.1:\(server.port)/v1/models?b=two%20words&a=1&flag"])
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertEqual(result.body, "GET\n/v1/models\na=1&b=two words&flag=\nHello\n")
    }

    func testPostBodyReachesTheHandler() throws {
        let server = try startServer(handler: Self.echo)
        defer { server.stop() }
        let body = String(repeating: "0123456789", count: 5000)  // 50 kB: arrives in several pieces
        let result = try curl(["--data-binary", "@-", "http://127.0.0.1:\(server.port)/v1/chat/completions"], stdin: Data(body.utf8))
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertEqual(result.body, "POST\n/v1/chat/completions\n\n-\n" + body)
    }

    func testResponseHeadersAndKeepAlive() throws {
        let server = try startServer(handler: Self.echo)
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        for i in 0..<3 {
            client.clear()
            client.send("POST /x HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\n\r\n\(i)")
            let response = try XCTUnwrap(client.receiveResponse(), "response \(i) on one connection")
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.headers["x-echo"], "yes")
            XCTAssertEqual(response.headers["content-type"], "text/plain")
            XCTAssertEqual(response.text, "POST\n/x\n\n-\n\(i)")
        }
    }

    func testInvalidResponseHeaderBecomes500WithTheErrorBody() throws {
        let server = try startServer({ options in
            options.errorBody = { status, message in ("application/json", Array("{\"status\":\(status),\"message\":\"\(message)\"}".utf8)) }
        }) { _ in
            .full(status: 200, headers: ["X-Bad": "line\r\nInjected: yes"], body: [])
        }
        defer { server.stop() }
        let result = try curl(["-i", "http://127.0.0.1:\(server.port)/"])
        XCTAssertEqual(result.status, 500)
        XCTAssertFalse(result.body.contains("Injected"))
        XCTAssertTrue(result.body.contains("{\"status\":500,\"message\":\"the handler's response header 'X-Bad' has a line break"), result.body)
    }

    func testMalformedRequestsAreAnsweredByLibmicrohttpd() throws {
        let probe = Probe()
        let server = try startServer { _ in
            probe.increment()
            return .text("ok")
        }
        defer { server.stop() }
        let answered = [
            ("GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
            ("GET /\r\n\r\n", 400),
            ("GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "b", count: 40_000))\r\n\r\n", 431),
            ("GET /\(String(repeating: "u", count: 40_000)) HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ]
        for (request, status) in answered {
            let client = try RawClient(port: server.port)
            client.send(request)
            XCTAssertEqual(client.receiveResponse()?.status, status, request.debugDescription)
        }
        // A request line without spaces: libmicrohttpd just closes the connection.
        let client = try RawClient(port: server.port)
        client.send("NONSENSE\r\n\r\n")
        XCTAssertNil(client.receiveResponse())
        XCTAssertTrue(client.sawEOF)
        XCTAssertEqual(probe.value, 0)
        // The server keeps serving.
        XCTAssertEqual(try curl(["http://127.0.0.1:\(server.port)/"]).body, "ok")
    }

    func testPortInUseIsAOneLineError() throws {
        let first = try startServer { _ in .text("first") }
        defer { first.stop() }
        var options = HTTPServerOptions()
        options.port = first.port
        XCTAssertThrowsError(try HTTPServer(options: options) { _ in .text("second") }) { error in
            XCTAssertEqual(error as? HTTPError, .cannotListen(address: "127.0.0.1:\(first.port)", errno: EADDRINUSE))
            XCTAssertEqual("\(error)", "cannot listen on 127.0.0.1:\(first.port): Address already in use; choose another --port (or stop the program that uses it)")
        }
    }

    func testBadHostAndPortAreOneLineErrors() {
        var options = HTTPServerOptions()
        options.host = "foo"
        XCTAssertThrowsError(try HTTPServer(options: options) { _ in .text("") }) { error in
            XCTAssertEqual(error as? HTTPError, .invalidHost("foo"))
            XCTAssertEqual("\(error)", "--host 'foo' is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or localhost)")
        }
        options.host = "127.0.0.1\n"
        XCTAssertThrowsError(try HTTPServer(options: options) { _ in .text("") }) { error in
            XCTAssertEqual("\(error)", "--host '127.0.0.1\\n' is not an IP address (use 127.0.0.1, 0.0.0.0, ::1 or localhost)")
        }
        options.host = "localhost"
        options.port = 70000
        XCTAssertThrowsError(try HTTPServer(options: options) { _ in .text("") }) { error in
            XCTAssertEqual("\(error)", "--port 70000 is out of range (0...65535; 0 picks a free port)")
        }
        options.port = 0
        options.maxConnections = 0
        XCTAssertThrowsError(try HTTPServer(options: options) { _ in .text("") }) { error in
            XCTAssertEqual(error as? HTTPError, .invalidOption(name: "maxConnections", value: 0, range: "1...65536"))
        }
    }

    func testIPv6Loopback() throws {
        var options = HTTPServerOptions()
        options.host = "::1"
        options.port = 0
        let server: HTTPServer
        do {
            server = try HTTPServer(options: options, handler: Self.echo)
        } catch {
            throw XCTSkip("no IPv6 loopback here: \(error)")
        }
        defer { server.stop() }
        let result = try curl(["http://[::1]:\(server.port)/six"])
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertTrue(result.body.hasPrefix("GET\n/six\n"))
    }

    func testStopIsIdempotentAndFreesThePort() throws {
        let server = try startServer { _ in .text("ok") }
        let port = server.port
        server.stop()
        server.stop()
        var options = HTTPServerOptions()
        options.port = port
        let again = try HTTPServer(options: options) { _ in .text("again") }
        defer { again.stop() }
        XCTAssertEqual(try curl(["http://127.0.0.1:\(port)/"]).body, "again")
    }
}
