import Foundation
import SwapMoEHTTP
import XCTest

/// The body limit and many clients at once.
final class HTTPLimitTests: XCTestCase {
    static let jsonError: @Sendable (Int, String) -> (contentType: String, body: [UInt8]) = { status, message in
        ("application/json", Array("{\"error\":{\"code\":\(status),\"message\":\"\(message)\"}}".utf8))
    }

    /// A server taking bodies of up to 1000 bytes, with JSON errors, whose handler counts its calls in `calls` and
    /// answers with the body's size after `prefix`.
    func limitedServer(_ calls: Probe, prefix: String = "") throws -> HTTPServer {
        try startServer({ options in
            options.maxBodyBytes = 1000
            options.errorBody = Self.jsonError
        }) { request in
            calls.increment()
            return .text(prefix + "\(request.body.count)")
        }
    }

    func testBodyOverTheLimitWithContentLengthGets413WithoutTheHandler() throws {
        let calls = Probe()
        let server = try limitedServer(calls)
        defer { server.stop() }
        let url = "http://127.0.0.1:\(server.port)/v1/chat/completions"
        let over = try curl(["-H", "Content-Type: application/json", "--data-binary", "@-", url], stdin: Data(repeating: 65, count: 1001))
        XCTAssertEqual(over.status, 413, over.stderr)
        XCTAssertEqual(over.body, "{\"error\":{\"code\":413,\"message\":\"request body larger than 1000 bytes\"}}")
        XCTAssertEqual(calls.value, 0)
        let atLimit = try curl(["--data-binary", "@-", url], stdin: Data(repeating: 65, count: 1000))
        XCTAssertEqual(atLimit.status, 200)
        XCTAssertEqual(atLimit.body, "1000")
        XCTAssertEqual(calls.value, 1)
    }

    func testExpectContinueUploadOverTheLimitGets413() throws {
        // curl sends `Expect: 100-continue` for large bodies and waits: the 413 comes instead of the 100.
        let calls = Probe()
        let server = try startServer({ $0.maxBodyBytes = 1 << 20 }) { _ in
            calls.increment()
            return .text("called")
        }
        defer { server.stop() }
        let result = try curl(["-H", "Expect: 100-continue", "--data-binary", "@-", "http://127.0.0.1:\(server.port)/"],
                              stdin: Data(repeating: 0, count: 3 << 20))
        XCTAssertEqual(result.status, 413, result.stderr)
        XCTAssertEqual(result.body, "request body larger than 1048576 bytes\n")
        XCTAssertEqual(calls.value, 0)
    }

    func testChunkedUploadOverTheLimitGets413WithoutTheHandler() throws {
        let calls = Probe()
        let server = try limitedServer(calls, prefix: "got ")
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        let chunk = String(repeating: "x", count: 256)
        var request = "POST /v1/completions HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
        for _ in 0..<5 { request += "100\r\n\(chunk)\r\n" }  // 5 x 256 = 1280 bytes
        request += "0\r\n\r\n"
        client.send(request)
        let response = try XCTUnwrap(client.receiveResponse())
        XCTAssertEqual(response.status, 413)
        XCTAssertEqual(response.headers["content-type"], "application/json")
        XCTAssertEqual(response.text, "{\"error\":{\"code\":413,\"message\":\"request body larger than 1000 bytes\"}}")
        XCTAssertEqual(calls.value, 0)

        // The upload was read to its end, so the connection serves the next request.
        client.clear()
        client.send("POST /v1/completions HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n\(chunk)\r\n0\r\n\r\n")
        XCTAssertEqual(client.receiveResponse()?.text, "got 256")
        XCTAssertEqual(calls.value, 1)
    }

    func testLargeUploadWithinTheLimitAfterExpectContinue() throws {
        let server = try startServer { request in .text("\(request.body.count) \(request.body.last ?? 0)") }
        defer { server.stop() }
        var body = Data(repeating: 7, count: 2 << 20)
        body[body.count - 1] = 9
        let result = try curl(["--data-binary", "@-", "http://127.0.0.1:\(server.port)/"], stdin: body)
        XCTAssertEqual(result.status, 200, result.stderr)
        XCTAssertEqual(result.body, "\(2 << 20) 9")
    }

    func testConnectionsBeyondTheLimitAreClosed() throws {
        let server = try startServer({ $0.maxConnections = 2 }) { _ in .text("ok") }
        defer { server.stop() }
        let first = try RawClient(port: server.port), second = try RawClient(port: server.port)
        for client in [first, second] {
            client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            XCTAssertEqual(client.receiveResponse()?.text, "ok")  // both stay open (keep-alive)
        }
        let third = try RawClient(port: server.port)  // the kernel accepts; libmicrohttpd closes it
        third.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertNil(third.receiveResponse(timeout: 5))
        XCTAssertTrue(third.sawEOF)
    }

    func testIdleConnectionsAreClosedAfterTheTimeout() throws {
        let server = try startServer({ $0.connectionTimeoutSeconds = 1 }) { _ in .text("ok") }
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertEqual(client.receiveResponse()?.text, "ok")
        client.clear()
        client.receive(timeout: 10) { _ in false }
        XCTAssertTrue(client.sawEOF, "the idle keep-alive connection was closed")
    }

    func testSixteenClientsFiveRequestsEach() throws {
        let calls = Probe()
        let server = try startServer { request in
            calls.increment()
            usleep(2_000)  // overlap the requests
            return .full(status: 200, headers: ["Content-Type": "text/plain"], body: request.body)
        }
        defer { server.stop() }
        let port = server.port
        let failures = Probe()
        let group = DispatchGroup()
        for client in 0..<16 {
            group.enter()
            Thread {
                defer { group.leave() }
                for i in 0..<5 {
                    let body = "client \(client) request \(i)"
                    guard let connection = try? RawClient(port: port) else { failures.increment(); continue }
                    connection.send("POST / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                    let response = connection.receiveResponse(timeout: 20)
                    if response?.status != 200 || response?.text != body { failures.increment() }
                }
            }.start()
        }
        XCTAssertEqual(group.wait(timeout: .now() + 60), .success)
        XCTAssertEqual(failures.value, 0)
        XCTAssertEqual(calls.value, 80)
    }
}
