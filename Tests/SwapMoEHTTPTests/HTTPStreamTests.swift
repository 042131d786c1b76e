import Foundation
import SwapMoEHTTP
import XCTest

/// Streamed responses, clients that go away, and stopping with connections open.
final class HTTPStreamTests: XCTestCase {
    func testChunksArriveBeforeTheProducerFinishes() throws {
        let readA = DispatchSemaphore(value: 0)
        let server = try startServer { _ in
            .stream(status: 200, headers: ["Content-Type": "text/event-stream"]) { stream in
                stream.write("a")
                // Waits until the client has read "a": it was sent while this producer still runs.
                guard readA.wait(timeout: .now() + 10) == .success else { return }
                stream.write("b")
            }
        }
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        client.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertTrue(client.receive { HTTPResponseParts.chunksSoFar($0) == "a" }, "the first chunk arrives alone")
        readA.signal()
        let response = try XCTUnwrap(client.receiveResponse())
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers["content-type"], "text/event-stream")
        XCTAssertEqual(response.headers["transfer-encoding"], "chunked")
        XCTAssertEqual(response.text, "ab")
    }

    func testCurlReadsAWholeStream() throws {
        let writeAfterFinish = Probe()
        let server = try startServer { _ in
            .stream(status: 201, headers: [("X-Kind", "numbers")]) { stream in
                for i in 0..<100 { guard stream.write("\(i)\n") else { return } }
                stream.finish()
                if stream.write("after finish") { writeAfterFinish.set() }
            }
        }
        defer { server.stop() }
        let result = try curl(["http://127.0.0.1:\(server.port)/"])
        XCTAssertEqual(result.status, 201, result.stderr)
        XCTAssertEqual(result.body, (0..<100).map { "\($0)\n" }.joined())
        XCTAssertFalse(writeAfterFinish.isSet, "write after finish() returns false")
    }

    func testAProducerSeesTheClientGoAwayAndTheServerServesOn() throws {
        let stopped = Probe()
        let server = try startServer { request in
            if request.path == "/after" { return .text("still serving") }
            return .stream(status: 200, headers: [:]) { stream in
                let deadline = Date().addingTimeInterval(20)
                while Date() < deadline {
                    guard stream.write("token ") else {
                        stopped.set()
                        stopped.signal.signal()
                        return
                    }
                    usleep(10_000)
                }
            }
        }
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertTrue(client.receive { HTTPResponseParts.chunksSoFar($0).hasPrefix("token") })
        client.close()
        XCTAssertEqual(stopped.signal.wait(timeout: .now() + 5), .success, "write returns false soon after the client left")
        XCTAssertTrue(stopped.isSet)
        XCTAssertEqual(try curl(["http://127.0.0.1:\(server.port)/after"]).body, "still serving")
    }

    func testAQuietProducerSeesTheClientGoAway() throws {
        // The producer writes once, then only checks `isClosed`: the disconnect is noticed without a failed send.
        let noticed = Probe()
        let server = try startServer { _ in
            .stream(status: 200, headers: [:]) { stream in
                stream.write("first")
                let deadline = Date().addingTimeInterval(20)
                while Date() < deadline, !stream.isClosed { usleep(10_000) }
                if stream.isClosed { noticed.signal.signal() }
            }
        }
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertTrue(client.receive { HTTPResponseParts.chunksSoFar($0) == "first" })
        client.close()
        XCTAssertEqual(noticed.signal.wait(timeout: .now() + 5), .success)
    }

    func testSlowFullHandlerSeesTheConnectionClose() throws {
        let started = DispatchSemaphore(value: 0)
        let noticed = Probe()
        let server = try startServer { request in
            started.signal()
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                if request.connection.isClosed {
                    noticed.set()
                    noticed.signal.signal()
                    break
                }
                usleep(10_000)
            }
            return .text("too late")
        }
        defer { server.stop() }
        let client = try RawClient(port: server.port)
        client.send("POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\n{}")
        XCTAssertEqual(started.wait(timeout: .now() + 10), .success)
        client.close()
        XCTAssertEqual(noticed.signal.wait(timeout: .now() + 5), .success, "isClosed turns true once the client hangs up")
        XCTAssertTrue(noticed.isSet)
    }

    func testStopReturnsPromptlyWithAnOpenStreamAndAnIdleKeepAliveConnection() throws {
        let streaming = DispatchSemaphore(value: 0)
        let producerEnded = DispatchSemaphore(value: 0)
        let server = try startServer { request in
            if request.path == "/idle" { return .text("ok") }
            return .stream(status: 200, headers: [:]) { stream in
                streaming.signal()
                while stream.write(".") { usleep(20_000) }
                producerEnded.signal()
            }
        }
        let idle = try RawClient(port: server.port)
        idle.send("GET /idle HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertEqual(idle.receiveResponse()?.text, "ok")  // the connection stays open (keep-alive)
        let streamClient = try RawClient(port: server.port)
        streamClient.send("GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        XCTAssertEqual(streaming.wait(timeout: .now() + 10), .success)
        XCTAssertTrue(streamClient.receive { HTTPResponseParts.chunksSoFar($0).hasPrefix(".") })

        XCTAssertTrue(returnsWithin(5) { server.stop() }, "stop() returns with a stream and a keep-alive connection open")
        XCTAssertEqual(producerEnded.wait(timeout: .now() + 5), .success, "the producer's write returned false")
        idle.clear()
        idle.receive(timeout: 5) { _ in false }
        XCTAssertTrue(idle.sawEOF, "the idle connection was closed")
    }

    func testHeadAndHTTP10StreamRequests() throws {
        let headProducer = Probe()
        let server = try startServer { request in
            .stream(status: 200, headers: ["Content-Type": "text/plain"]) { stream in
                for word in ["one ", "two ", "three"] {
                    guard stream.write(word) else {
                        if request.method == "HEAD" { headProducer.signal.signal() }
                        return
                    }
                }
                if request.method == "HEAD" {
                    // Nothing is sent for HEAD: the stream closes once the response is done with.
                    while !stream.isClosed { usleep(5_000) }
                    headProducer.signal.signal()
                }
            }
        }
        defer { server.stop() }
        let old = try curl(["--http1.0", "http://127.0.0.1:\(server.port)/"])
        XCTAssertEqual(old.status, 200, old.stderr)
        XCTAssertEqual(old.body, "one two three", "HTTP/1.0: a body ended by closing the connection")
        let head = try curl(["--head", "http://127.0.0.1:\(server.port)/"])
        XCTAssertEqual(head.status, 200, head.stderr)
        XCTAssertEqual(headProducer.signal.wait(timeout: .now() + 5), .success)
    }

    func testStopFromAHandlerStopsTheServer() throws {
        final class ServerBox: @unchecked Sendable {
            // @unchecked Sendable: set once before the first request, read by the handler after.
            var server: HTTPServer?
        }
        let box = ServerBox()
        let server = try startServer { request in
            if request.path == "/shutdown" { box.server?.stop() }
            return .text("bye")
        }
        box.server = server
        let port = server.port
        _ = try curl(["http://127.0.0.1:\(port)/shutdown"])
        let deadline = Date().addingTimeInterval(5)
        var refused = false
        while Date() < deadline, !refused {
            refused = (try? RawClient(port: port)) == nil
            if !refused { usleep(20_000) }
        }
        XCTAssertTrue(refused, "the port is closed once the stop, made from another thread, is done")
        box.server = nil
    }

    func testConnectionsAndStreamsAreReleasedAfterTheirRequests() throws {
        final class WeakReferences: @unchecked Sendable {
            // @unchecked Sendable: written by the handler and producer before the response completes, read by
            // the test after; the lock orders the two.
            private let lock = NSLock()
            private var connections: [() -> AnyObject?] = []
            func add(_ object: AnyObject) {
                weak var weakObject = object
                lock.withLock { connections.append { weakObject } }
            }
            var alive: Int { lock.withLock { connections.filter { $0() != nil }.count } }
            var count: Int { lock.withLock { connections.count } }
        }
        let references = WeakReferences()
        let server = try startServer { request in
            references.add(request.connection)
            if request.path == "/full" { return .text("full") }
            return .stream(status: 200, headers: [:]) { stream in
                references.add(stream)
                stream.write("streamed")
            }
        }
        defer { server.stop() }
        XCTAssertEqual(try curl(["http://127.0.0.1:\(server.port)/full"]).body, "full")
        XCTAssertEqual(try curl(["http://127.0.0.1:\(server.port)/stream"]).body, "streamed")
        let deadline = Date().addingTimeInterval(5)
        while references.alive > 0, Date() < deadline { usleep(10_000) }
        XCTAssertEqual(references.count, 3)
        XCTAssertEqual(references.alive, 0, "request state and stream freed once libmicrohttpd is done with them")
    }

    func testStreamCollectRunsAProducerWithoutAServer() {
        let bytes = HTTPStream.collect { stream in
            stream.write("data: 1\n\n")
            stream.write(Array("data: [DONE]\n\n".utf8))
            stream.finish()
            stream.write("ignored")
        }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "data: 1\n\ndata: [DONE]\n\n")
    }
}
