import Foundation
import Testing
import SwapMoECore
import SwapMoETestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `swapmoe serve` as users meet it: the binary on a free loopback port, talked to with the real `openai` Python
/// client (Tools/check_server.py, in .venv-serve) and with curl; greedy answers equal `swapmoe run` on the same
/// prompt; bad requests get their status codes; clients that go away or crowd in leave it serving, under its cap.
@Suite("serve: the OpenAI-compatible server", .serialized)
struct ServeCommandTests {
    static let repo = URL(fileURLWithPath: TestPaths.fixtures).deletingLastPathComponent().deletingLastPathComponent().path
    static let python = repo + "/.venv-serve/bin/python"
    static var hasPython: Bool { FileManager.default.isExecutableFile(atPath: python) }
    static var hasCurl: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") }

    /// The Qwen3-MoE fixture with Qwen3's own chat template (chat_template.jinja), packed. Remove `dir` when done.
    static func packed() throws -> (dir: String, checkpoint: String, archive: String) {
        let dir = TestPaths.tempDir()
        let ckpt = dir + "/qwen3"
        try FileManager.default.copyItem(atPath: TestPaths.fixtures + "/models/qwen3_moe", toPath: ckpt)
        try FileManager.default.copyItem(atPath: TestPaths.fixtures + "/templates/Qwen-Qwen3-0.6B.jinja", toPath: ckpt + "/chat_template.jinja")
        let r = try runCommand(TestPaths.swapmoeBinary, ["pack", ckpt, "-o", dir + "/qwen3.swm"])
        guard r.status == 0 else { throw ServerError("pack failed: \(r.stderr)") }
        return (dir, ckpt, dir + "/qwen3.swm")
    }

    @Test("the openai client: chat and completions, streamed and not, usage counts as transformers counts them, errors",
          .enabled(if: hasPython, "needs .venv-serve (bash Tools/setup_venv.sh serve): the real openai client"))
    func openaiClient() throws {
        let m = try Self.packed()
        defer { TestPaths.remove(m.dir) }
        let server = try ServerProcess([m.archive, "--threads", "1", "--parallel", "2", "--ctx", "256", "--api-key", "sk-test", "--max-rss", "512M"])
        defer { server.stop() }
        let r = try runCommand(Self.python, [Self.repo + "/Tools/check_server.py", server.base + "/v1", m.checkpoint, "qwen3", "sk-test"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        let checks = out["checks"] as? [String: [String: Any]] ?? [:]
        #expect(checks.count >= 14, "\(r.stdout) \(r.stderr)")
        for (name, c) in checks { #expect(c["ok"] as? Bool == true, "\(name): \(c["detail"] ?? "")") }
        // Greedy answers equal `swapmoe run` on the same prompt (the chat through the same template).
        let chat = try ServerProcess.jsonRun([m.archive, "--chat", "-p", "Name a colour.", "--system", "You are terse.", "--temp", "0", "-n", "12", "--ctx", "256"])
        #expect(chat["text"] as? String == out["chat_text"] as? String)
        let plain = try ServerProcess.jsonRun([m.archive, "-p", "The capital of France is", "--temp", "0", "-n", "12", "--ctx", "256"])
        #expect(plain["text"] as? String == out["completion_text"] as? String)
    }

    @Test("curl: health, models, metrics, a stream, and every bad request's status",
          .enabled(if: hasCurl, "needs /usr/bin/curl"))
    func curlAndErrors() throws {
        let m = try Self.packed()
        defer { TestPaths.remove(m.dir) }
        let server = try ServerProcess([m.archive, "--threads", "1", "--ctx", "128"])
        defer { server.stop() }
        let b = server.base
        #expect(try curl(b + "/health") == (200, #"{"status":"ok"}"#))
        #expect(try curl(b + "/v1/models").body.contains(#""id":"qwen3""#))
        let chat = #"{"model":"qwen3","messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"temperature":0}"#
        let ok = try curl(b + "/v1/chat/completions", body: chat)
        #expect(ok.status == 200 && ok.body.contains(#""object":"chat.completion""#) && ok.body.contains(#""prompt_tokens":"#), "\(ok)")
        let stream = try curl(b + "/v1/chat/completions", body: #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":5,"stream":true}"#)
        #expect(stream.status == 200 && stream.body.hasPrefix("data: {") && stream.body.hasSuffix("data: [DONE]\n\n"), "\(stream)")
        #expect(stream.body.components(separatedBy: "data: ").count >= 4)

        let bad: [(String, String, Int, String)] = [
            ("/v1/chat/completions", "{not json", 400, "not valid JSON"),
            ("/v1/chat/completions", #"{"messages":"hi"}"#, 400, "messages"),
            ("/v1/chat/completions", #"{"model":"gpt-4","messages":[{"role":"user","content":"Hi"}]}"#, 404, "gpt-4"),
            ("/v1/completions", #"{"prompt":"Hi","n":2}"#, 400, "'n'"),
            ("/v1/completions", #"{"prompt":"Hi","temperature":"hot"}"#, 400, "temperature"),
            ("/v1/completions", #"{"prompt":[1,2,99999999]}"#, 400, "vocabulary"),
            ("/v1/completions", "{\"prompt\":\"\(String(repeating: "word ", count: 400))\"}", 400, "context holds 128"),
            ("/v1/nothing", "{}", 404, "no endpoint"),
        ]
        for (path, body, status, needle) in bad {
            let r = try curl(b + path, body: body)
            #expect(r.status == status && r.body.contains(needle) && r.body.hasPrefix(#"{"error":{"#), "\(path) \(body.prefix(60)): \(r)")
        }
        #expect(try curl(b + "/v1/chat/completions").status == 405)
        // A body over the limit (8 MiB) is refused before it is read.
        let big = m.dir + "/big.json"
        try Data(repeating: 0x20, count: 9 << 20).write(to: URL(fileURLWithPath: big))
        let tooBig = try curl(b + "/v1/completions", bodyFile: big)
        #expect(tooBig.status == 413 && tooBig.body.contains("error"), "\(tooBig.status)")
        let metrics = try curl(b + "/metrics").body
        for name in ["swapmoe_requests_total{status=\"400\"}", "swapmoe_generated_tokens_total", "swapmoe_expert_hit_rate", "swapmoe_peak_rss_bytes"] {
            #expect(metrics.contains(name), "\(name)")
        }
    }

    @Test("a client cut mid-stream leaves the server serving; 8 clients x 10 requests all answer or get 429; RSS under the cap",
          .enabled(if: hasCurl, "needs /usr/bin/curl"))
    func crowdsAndDisconnects() throws {
        let m = try Self.packed()
        defer { TestPaths.remove(m.dir) }
        let cap = 384 << 20
        let server = try ServerProcess([m.archive, "--threads", "1", "--ctx", "256", "--parallel", "2", "--queue", "2", "--max-rss", "\(cap)"])
        defer { server.stop() }
        let b = server.base
        // Cut after half a second of a long stream, twice; then a normal request.
        for _ in 0..<2 {
            _ = try? runCommand("/usr/bin/curl", ["-s", "-N", "--max-time", "0.5", "-H", "Content-Type: application/json", "-d",
                                                   #"{"prompt":"Once","max_tokens":250,"stream":true,"temperature":1,"seed":1}"#, b + "/v1/completions"])
        }
        #expect(try curl(b + "/v1/completions", body: #"{"prompt":"Hi","max_tokens":3}"#).status == 200)
        let tally = Tally()
        let threads = (0..<8).map { i in
            Thread {
                for j in 0..<10 {
                    let body = #"{"prompt":"Client \#(i) request \#(j)","max_tokens":8,"temperature":0.7,"seed":\#(j)}"#
                    let r = (try? curl(b + "/v1/completions", body: body)) ?? (status: 0, body: "")
                    tally.add(r.status == 200 && r.body.contains(#""finish_reason":"#) ? 200 : r.status)
                }
            }
        }
        threads.forEach { $0.start() }
        #expect(tally.wait(80, seconds: 300))
        let counts = tally.counts
        #expect(Set(counts.keys).isSubset(of: [200, 429]), "\(counts)")
        #expect(counts[200, default: 0] >= 20, "\(counts)")
        #expect(try curl(b + "/health").status == 200)
        let peak = server.peakRSS
        #expect(peak > 0 && peak <= cap, "peak RSS \(peak) over the cap \(cap)")
    }

    @Test("swapmoe chat: answers stream, each turn reuses the last one's cache, /reset and /stats")
    func chatCommand() throws {
        let m = try Self.packed()
        defer { TestPaths.remove(m.dir) }
        let input = m.dir + "/input.txt"
        try Data("Name a colour.\n/stats\nAnd another one?\n/reset\nName a colour.\n".utf8).write(to: URL(fileURLWithPath: input))
        let r = try runCommand("/bin/sh", ["-c", "exec \"$0\" chat \"$1\" --system 'You are terse.' --temp 0 -n 12 --ctx 256 < \"$2\"",
                                           TestPaths.swapmoeBinary, m.archive, input])
        #expect(r.status == 0, "\(r.stderr)")
        let run = try ServerProcess.jsonRun([m.archive, "--chat", "-p", "Name a colour.", "--system", "You are terse.", "--temp", "0", "-n", "12", "--ctx", "256"])
        #expect(r.stdout.hasPrefix((run["text"] as? String ?? "?") + "\n"), "\(r.stdout)")
        let footers = r.stderr.split(separator: "\n").filter { $0.hasPrefix("[") }
        #expect(footers.count == 3, "\(r.stderr)")
        // Turn 2 extends turn 1; after /reset turn 3 still shares the system prompt and message with what the slot holds.
        #expect(footers.count == 3 && !footers[1].contains("(0 reused)") && !footers[2].contains("(0 reused)"), "\(footers)")
        #expect(r.stderr.contains("resident: all") && r.stderr.contains("(conversation reset)"))
    }
}

/// `curl` a URL: status and body. `body` POSTs JSON.
func curl(_ url: String, body: String? = nil, bodyFile: String? = nil) throws -> (status: Int, body: String) {
    var args = ["-s", "-S", "--max-time", "120", "-o", "-", "-w", "\n%{http_code}"]
    if let body { args += ["-H", "Content-Type: application/json", "--data-binary", body] }
    if let bodyFile { args += ["-H", "Content-Type: application/json", "--data-binary", "@" + bodyFile] }
    let r = try runCommand("/usr/bin/curl", args + [url])
    guard let cut = r.stdout.lastIndex(of: "\n"), let status = Int(r.stdout[r.stdout.index(after: cut)...]) else {
        throw ServerError("curl \(url): \(r.stderr)")
    }
    return (status, String(r.stdout[..<cut]))
}

struct ServerError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// `swapmoe serve ARGS --port 0` in a child process: the port it printed, its peak RSS, SIGTERM to stop.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private(set) var port = 0
    var base: String { "http://127.0.0.1:\(port)" }

    init(_ args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: TestPaths.swapmoeBinary)
        process.arguments = ["serve"] + args + ["--port", "0"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // "swapmoe serve: listening on http://127.0.0.1:PORT/v1 ...", then "ready" once loaded.
        var text = ""
        let deadline = Date().addingTimeInterval(60)
        while !text.contains("swapmoe serve: ready"), Date() < deadline, process.isRunning || !err.fileHandleForReading.availableData.isEmpty {
            let d = err.fileHandleForReading.availableData
            if d.isEmpty { usleep(20_000); continue }
            text += String(decoding: d, as: UTF8.self)
        }
        guard let r = text.range(of: "http://127.0.0.1:"), let p = Int(text[r.upperBound...].prefix { $0.isNumber }), text.contains("ready") else {
            process.terminate()
            throw ServerError("serve did not start: \(text)")
        }
        port = p
        // Keep draining stderr (one line per request) so the server never blocks on a full pipe.
        Thread { while !err.fileHandleForReading.availableData.isEmpty {} }.start()
    }

    /// VmHWM of the server, in bytes.
    var peakRSS: Int {
        guard let s = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb * 1024
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// `swapmoe run ARGS --json`: its JSON object.
    static func jsonRun(_ args: [String]) throws -> [String: Any] {
        let r = try runCommand(TestPaths.swapmoeBinary, ["run"] + args + ["--json"])
        guard r.status == 0, let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            throw ServerError("run failed: \(r.stderr)")
        }
        return o
    }
}

/// Statuses counted from client threads.
private final class Tally: @unchecked Sendable {
    private let condition = PthreadCondition()
    private var statuses: [Int: Int] = [:]
    private var total = 0
    func add(_ s: Int) { condition.lock(); statuses[s, default: 0] += 1; total += 1; condition.broadcast(); condition.unlock() }
    func wait(_ n: Int, seconds: Double) -> Bool {
        let deadline = monotonicSeconds() + seconds
        condition.lock()
        defer { condition.unlock() }
        while total < n {
            if monotonicSeconds() > deadline { return false }
            condition.wait(seconds: 0.5)
        }
        return true
    }
    var counts: [Int: Int] { condition.lock(); defer { condition.unlock() }; return statuses }
}
