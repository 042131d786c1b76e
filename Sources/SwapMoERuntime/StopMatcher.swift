/// Finds stop strings in streamed text: `push` returns the text that can be sent now, holding back the tail
/// that could still become a stop string, and whether a stop string was completed (the text before it is
/// returned; the stop string itself and anything after it are not, as OpenAI's API does).
public struct StopMatcher: Sendable {
    public let stops: [String]
    private var pending = ""

    public init(stops: [String]) { self.stops = stops.filter { !$0.isEmpty } }

    /// Adds generated text; returns what may be sent and whether generation should stop.
    public mutating func push(_ text: String) -> (emit: String, stopped: Bool) {
        guard !stops.isEmpty else { return (text, false) }
        pending += text
        // The earliest stop string in the pending text ends the answer.
        var first: String.Index?
        for s in stops {
            if let r = pending.range(of: s), first.map({ r.lowerBound < $0 }) ?? true { first = r.lowerBound }
        }
        if let first {
            let emit = String(pending[..<first])
            pending = ""
            return (emit, true)
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        var keep = 0
        for s in stops {
            for n in stride(from: min(s.count - 1, pending.count), to: keep, by: -1) where pending.hasSuffix(s.prefix(n)) {
                keep = n
                break
            }
        }
        let cut = pending.index(pending.endIndex, offsetBy: -keep)
        let emit = String(pending[..<cut])
        pending = String(pending[cut...])
        return (emit, false)
    }

    /// The text held back when generation ends without a stop string.
    public mutating func finish() -> String {
        defer { pending = "" }
        return pending
    }
}
