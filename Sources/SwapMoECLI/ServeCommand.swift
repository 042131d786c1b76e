import Foundation
import SwapMoECore
import SwapMoERuntime
import SwapMoEServer
#if canImport(Glibc)
import Glibc
#endif

/// `swapmoe serve <archive> [--host 127.0.0.1] [--port 8080] [--parallel N] [--api-key KEY] ...`
enum ServeCommand {
    static let usage = """
    usage: swapmoe serve <archive> [--host 127.0.0.1] [--port 8080] [--parallel N] [--api-key KEY]
                         [--alias NAME] [--chat-template FILE] [--queue N] [--ctx N] [--max-rss SIZE] [...]

    Serves the model over an OpenAI-compatible HTTP API until Ctrl-C (or SIGTERM):
      POST /v1/chat/completions, POST /v1/completions (streamed with "stream": true), GET /v1/models,
      GET /health (200 once loaded, 503 while loading), GET /metrics (Prometheus text).
    Every slot keeps its own KV cache of --ctx tokens inside the cap; a prompt that extends a slot's last
    conversation reuses it (usage.prompt_tokens_details.cached_tokens).

      --host ADDR          address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
      --port N             port (default 8080; 0: any free port, printed at start)
      -np, --parallel N    conversation slots served together, each with its own KV cache (default 1)
      --queue N            requests that may wait for a slot; more get 429 (default 16)
      --no-batch           run each slot's decode step alone in turn instead of batching the steps that
                           wait together (for comparing; batching reads shared weights once per step)
      --api-key KEY        require 'Authorization: Bearer KEY' (all endpoints but /health)
      --alias NAME         the model id clients use (default: the archive's file name without .swm)
      --chat-template FILE a Jinja chat template instead of the archive's
      -t, --threads N      compute threads (default: all cores)
      -c, --ctx N          context per slot in tokens (default 2048, at most the model's trained length)
    \(EngineOptions.help)
    """

    static let spec = Arguments.Spec(
        options: EngineOptions.optionNames.merging(["--host": [], "--port": [], "--parallel": ["-np"], "--queue": [], "--api-key": [],
                                                    "--alias": [], "--chat-template": []]) { a, _ in a },
        flags: ["--no-batch": []])

    static func parse(_ args: [String]) throws -> ServerOptions {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to serve" : "expected one archive path") }
        var session = try EngineOptions.parse(archive: a.positionals[0], a)
        if let n = a.value("--parallel") { session.slots = try parsePositive(n, "--parallel", max: SessionOptions.maxSlots) }
        session.batchSteps = !a.has("--no-batch")
        var o = ServerOptions(session: session)
        if let h = a.value("--host") { o.host = h }
        if let p = a.value("--port") { o.port = try parseNonNegative(p, "--port", max: 65535) }
        if let q = a.value("--queue") { o.maxWaiting = try parseNonNegative(q, "--queue") }
        if let k = a.value("--api-key") {
            guard !k.isEmpty else { throw UsageError("--api-key must not be empty") }
            o.apiKey = k
        }
        if let n = a.value("--alias") { o.alias = n }
        o.chatTemplate = a.value("--chat-template")
        do { try o.session.validate() } catch { throw UsageError(error.description) }
        return o
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        // SIGINT and SIGTERM are taken by `sigwait` below: blocked before any thread starts, so every thread
        // inherits the mask and none is interrupted.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        defer { pthread_sigmask(SIG_UNBLOCK, &signals, nil) }

        let server = try OpenAIServer(options: o) { Terminal.err($0) }
        defer { server.stop() }
        Terminal.err("swapmoe serve: listening on http://\(o.host.contains(":") ? "[\(o.host)]" : o.host):\(server.port)/v1 (loading \(o.session.archive))")
        try server.load { Terminal.err($0) }
        if let s = server.session {
            let slots = s.slots.count
            Terminal.err("swapmoe serve: ready: model '\(o.modelID)', \(slots) slot\(slots == 1 ? "" : "s") of \(s.context) tokens, "
                         + "chat template \(server.chatFormatSource), loaded in \(formatFixed(s.loadSeconds, digits: 2)) s")
            Terminal.err(s.expertStatsLine)
        }
        var sig: Int32 = 0
        sigwait(&signals, &sig)
        Terminal.err("swapmoe serve: stopping (signal \(sig))")
        return 0
    }
}
