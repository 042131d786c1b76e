import Foundation
import Synchronization
import SwapMoEHTTP
import XCTest

/// A server on 127.0.0.1 and a free port, for one test.
func startServer(_ configure: (inout HTTPServerOptions) -> Void = { _ in },
                 handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws -> HTTPServer {
    var options = HTTPServerOptions()
    options.port = 0
    configure(&options)
    return try HTTPServer(options: options, handler: handler)
}

/// What curl saw: the status (0 if none) and the body.
struct CurlResult {
    var status: Int
    var body: String
    var stderr: String
}

/// Runs /usr/bin/curl with `arguments` (the URL among them); skips the test if curl is not installed.
func curl(_ arguments: [String], stdin: Data? = nil) throws -> CurlResult {
    let path = "/usr/bin/curl"
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw XCTSkip("/usr/bin/curl is not installed: these HTTP tests use it as the client (apt-get install curl)")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = ["--silent", "--show-error", "--max-time", "20", "--noproxy", "*",
                         "--write-out", "\n%{http_code}"] + arguments
    let output = Pipe(), errors = Pipe(), input = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var text = String(decoding: out, as: UTF8.self)
    var status = 0
    if let newline = text.lastIndex(of: "\n") {
        status = Int(text[text.index(after: newline)...]) ?? 0
        text = String(text[..<newline])
    }
    return CurlResult(status: status, body: text, stderr: String(decoding: err, as: UTF8.self))
}

/// A raw TCP client on 127.0.0.1, for what curl cannot show: bytes as they arrive, a client that hangs up
/// mid-response, an idle keep-alive connection.
final class RawClient {
    let fd: Int32
    private(set) var received: [UInt8] = []
    private(set) var sawEOF = false

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .ECONNREFUSED)
        }
    }

    deinit { Glibc.close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads until `done(received)` holds, the peer closes, or `timeout` seconds pass; returns whether `done` held.
    @discardableResult
    func receive(timeout: Double = 10, until done: ([UInt8]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while !done(received) {
            if sawEOF { return false }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return false }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, Int32(min(left, 1) * 1000)) <= 0 { continue }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { sawEOF = true } else { received += chunk[0..<n] }
        }
        return true
    }

    /// Reads until one whole response is in (`HTTPResponseParts` parses it), or the timeout.
    func receiveResponse(timeout: Double = 10) -> HTTPResponseParts? {
        var parts: HTTPResponseParts?
        receive(timeout: timeout) { bytes in
            parts = HTTPResponseParts(bytes)
            return parts != nil
        }
        if parts == nil, sawEOF { parts = HTTPResponseParts(received, eof: true) }
        return parts
    }

    /// Forgets what was received so far (before the next response on the same connection).
    func clear() { received = [] }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }
}

/// A response as bytes: status line, headers (names lowercased) and body (chunked encoding undone).
struct HTTPResponseParts {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    /// Nil while `bytes` do not hold a complete response yet.
    init?(_ bytes: [UInt8], eof: Bool = false) {
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        guard let statusLine = head.first, statusLine.hasPrefix("HTTP/1."),
              let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else { return nil }
        self.status = status
        headers = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let rest = Array(bytes[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased() == "chunked" {
            guard let decoded = Self.dechunk(rest) else { return nil }
            body = decoded
        } else if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard rest.count >= length else { return nil }
            body = Array(rest[0..<length])
        } else {
            guard eof else { return nil }
            body = rest
        }
    }

    /// The body of a complete chunked encoding, nil if the terminating chunk has not arrived.
    static func dechunk(_ bytes: [UInt8]) -> [UInt8]? {
        var body: [UInt8] = []
        var index = 0
        while true {
            guard let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) else { return nil }
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { return nil }
            let start = lineEnd.upperBound
            if size == 0 { return bytes.count >= start + 2 ? body : nil }
            guard bytes.count >= start + size + 2 else { return nil }
            body += bytes[start..<(start + size)]
            index = start + size + 2
        }
    }

    /// The data of the chunks complete so far (for a response still streaming).
    static func chunksSoFar(_ bytes: [UInt8]) -> String {
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return "" }
        var body: [UInt8] = []
        var index = end.upperBound
        while let lineEnd = bytes[index...].firstRange(of: Array("\r\n".utf8)) {
            let sizeText = String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText, radix: 16), size > 0, bytes.count >= lineEnd.upperBound + size + 2 else { break }
            body += bytes[lineEnd.upperBound..<(lineEnd.upperBound + size)]
            index = lineEnd.upperBound + size + 2
        }
        return String(decoding: body, as: UTF8.self)
    }
}

/// A counter and a latch shared by a handler and the test.
final class Probe: Sendable {
    private let count = Atomic<Int>(0)
    private let flag = Atomic<Bool>(false)
    let signal = DispatchSemaphore(value: 0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// Runs `body` on a thread and waits up to `seconds` for it; false if it did not return in time.
func returnsWithin(_ seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread {
        body()
        done.signal()
    }.start()
    return done.wait(timeout: .now() + seconds) == .success
}
