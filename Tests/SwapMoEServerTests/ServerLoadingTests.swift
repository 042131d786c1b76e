import Foundation
import Testing
import SwapMoECore
import SwapMoERuntime
import SwapMoETestSupport
@testable import SwapMoEServer

/// The server in this process: it answers before the model is loaded (503 on /health and on completions), then
/// 200 once `load` has run; a bad archive fails `load` with the session's one-line error.
@Suite("OpenAI server: loading", .serialized)
struct ServerLoadingTests {
    @Test("503 while loading, 200 after; stop is prompt and idempotent",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl"), "needs /usr/bin/curl"))
    func loading() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        let pack = try runCommand(TestPaths.swapmoeBinary, ["pack", TestPaths.fixtures + "/models/qwen3_moe", "-o", archive])
        try #require(pack.status == 0, "\(pack.stderr)")
        var o = ServerOptions(session: SessionOptions(archive: archive))
        o.port = 0
        o.session.threads = 1
        let server = try OpenAIServer(options: o) { _ in }
        let base = "http://127.0.0.1:\(server.port)"
        #expect(try get(base + "/health") == (503, #"{"status":"loading"}"#))
        #expect(try get(base + "/v1/completions", body: #"{"prompt":"Hi"}"#).status == 503)
        try server.load { _ in }
        #expect(try get(base + "/health") == (200, #"{"status":"ok"}"#))
        #expect(try get(base + "/v1/completions", body: #"{"prompt":"Hi","max_tokens":2}"#).status == 200)
        server.stop()
        server.stop()

        var missing = o
        missing.session.archive = dir + "/nope.swm"
        let s2 = try OpenAIServer(options: missing) { _ in }
        defer { s2.stop() }
        #expect(throws: (any Error).self) { try s2.load { _ in } }
    }

    func get(_ url: String, body: String? = nil) throws -> (status: Int, body: String) {
        var args = ["-s", "--max-time", "60", "-o", "-", "-w", "\n%{http_code}"]
        if let body { args += ["--data-binary", body] }
        let r = try runCommand("/usr/bin/curl", args + [url])
        let cut = r.stdout.lastIndex(of: "\n") ?? r.stdout.startIndex
        return (Int(r.stdout[r.stdout.index(after: cut)...]) ?? 0, String(r.stdout[..<cut]))
    }
}
