import Foundation
import Synchronization
import SwapMoECore
import SwapMoERuntime

/// The server's counters, and `GET /metrics` in Prometheus' text format: requests, tokens, speed, and the expert
/// engine's figures under the cap (hit rate, bytes read, stall seconds, swaps, peak RSS).
final class ServerMetrics: Sendable {
    struct Counts {
        var requests: [Int: Int] = [:]
        var promptTokens = 0
        var generatedTokens = 0
        var reusedTokens = 0
        var promptSeconds = 0.0
        var decodeSeconds = 0.0
        var lastDecodeRate = 0.0
    }
    private let counts = Mutex(Counts())

    /// A request answered with `status`.
    func answered(_ status: Int) { counts.withLock { $0.requests[status, default: 0] += 1 } }

    /// A generation's figures.
    func generated(_ r: GenerationResult) {
        counts.withLock { c in
            c.promptTokens += r.promptTokens.count
            c.reusedTokens += r.reusedTokens
            c.generatedTokens += r.tokens.count
            c.promptSeconds += r.promptSeconds
            c.decodeSeconds += r.decodeSeconds
            if r.tokens.count > 1, r.decodeSeconds > 0 { c.lastDecodeRate = Double(r.tokens.count - 1) / r.decodeSeconds }
        }
    }

    /// The Prometheus text; `session` is nil while loading.
    func render(session: Session?, slots: (busy: Int, waiting: Int), totalSlots: Int) -> String {
        let c = counts.withLock { $0 }
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP swapmoe_\(name) \(help)\n# TYPE swapmoe_\(name) \(type)\n"
            for (labels, v) in samples {
                let value = v.rounded() == v && abs(v) < 1e15 ? String(Int(v)) : String(v)
                out += "swapmoe_\(name)\(labels) \(value)\n"
            }
        }
        metric("requests_total", "counter", "HTTP requests answered, by status.",
               c.requests.keys.sorted().map { ("{status=\"\($0)\"}", Double(c.requests[$0]!)) })
        metric("prompt_tokens_total", "counter", "Prompt tokens of completed generations.", [("", Double(c.promptTokens))])
        metric("prompt_tokens_reused_total", "counter", "Prompt tokens whose KV cache a slot already held.", [("", Double(c.reusedTokens))])
        metric("generated_tokens_total", "counter", "Tokens generated.", [("", Double(c.generatedTokens))])
        metric("prompt_seconds_total", "counter", "Seconds spent on prompts.", [("", c.promptSeconds)])
        metric("decode_seconds_total", "counter", "Seconds spent generating after the first token.", [("", c.decodeSeconds)])
        metric("decode_tokens_per_second", "gauge", "Decode speed of the last generation.", [("", c.lastDecodeRate)])
        metric("slots", "gauge", "Conversation slots (--parallel).", [("", Double(totalSlots))])
        metric("requests_processing", "gauge", "Requests generating now.", [("", Double(slots.busy))])
        metric("requests_waiting", "gauge", "Requests waiting for a slot.", [("", Double(slots.waiting))])
        metric("rss_bytes", "gauge", "Resident memory now.", [("", Double(ProcessMemory.currentRSS()))])
        metric("peak_rss_bytes", "gauge", "Peak resident memory (VmHWM).", [("", Double(ProcessMemory.peakRSS()))])
        guard let session else {
            metric("loaded", "gauge", "1 once the model is loaded.", [("", 0)])
            return out
        }
        metric("loaded", "gauge", "1 once the model is loaded.", [("", 1)])
        let e = session.expertStats
        func num(_ k: String) -> Double? { (e[k] as? Int).map(Double.init) ?? e[k] as? Double }
        if let cap = num("max_rss_bytes") { metric("max_rss_bytes", "gauge", "The memory cap (--max-rss).", [("", cap)]) }
        let policy = "{policy=\"\(session.policy.rawValue)\"}"
        if let h = num("hits"), let m = num("misses") {
            metric("expert_hit_rate", "gauge", "Routed experts found in memory.", [(policy, h + m > 0 ? h / (h + m) : 1)])
        } else {
            // Swap's share of routed choices served; resident serves every one.
            metric("expert_hit_rate", "gauge", "Routed experts found in memory.", [(policy, num("hit_rate") ?? 1)])
        }
        metric("expert_loads_total", "counter", "Experts read from the archive.", [(policy, num("loads") ?? 0)])
        metric("expert_bytes_read_total", "counter", "Expert bytes read from the archive.", [(policy, num("bytes_read") ?? 0)])
        metric("expert_stall_seconds_total", "counter", "Seconds compute waited for expert loads.", [(policy, num("stall_seconds") ?? 0)])
        metric("expert_swaps_total", "counter", "Virtual Expert swaps (swap policy).", [(policy, num("swaps") ?? 0)])
        return out
    }
}
