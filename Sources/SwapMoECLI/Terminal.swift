import SwapMoECore
import Synchronization

/// Output helpers: stdout/stderr writes without Foundation, and a progress bar drawn only on a terminal.
public enum Terminal {
    public static func out(_ s: String) { writeAll(1, s + "\n") }
    public static func err(_ s: String) { writeAll(2, s + "\n") }
    /// Drops all output while any caller is inside `withMutedOutput` (in-process tests that run hundreds of
    /// commands, such as the fuzz test).
    private static let muters = Atomic<Int>(0)
    public static func withMutedOutput<R>(_ body: () throws -> R) rethrows -> R {
        muters.add(1, ordering: .relaxed)
        defer { muters.subtract(1, ordering: .relaxed) }
        return try body()
    }
    public static func writeAll(_ fd: Int32, _ s: String) {
        if muters.load(ordering: .relaxed) > 0 { return }
        StandardStream.writeAll(fd, Array(s.utf8))
    }
    public static var stderrIsTerminal: Bool { StandardStream.isTerminal(2) }
}

/// `[#####.....]  43%  1.2 GiB / 2.8 GiB  512 MB/s` on stderr, redrawn at most 10 times a second.
final class ProgressBar {
    private let label: String
    private let start = monotonicSeconds()
    private var last = 0.0
    private let enabled: Bool

    init(_ label: String, enabled: Bool = Terminal.stderrIsTerminal) { self.label = label; self.enabled = enabled }

    func update(_ done: Int, _ total: Int) {
        guard enabled else { return }
        let now = monotonicSeconds()
        guard now - last > 0.1 || done == total else { return }
        last = now
        let frac = total > 0 ? min(1, Double(done) / Double(total)) : 1
        let width = 30
        let filled = Int(frac * Double(width))
        let rate = Double(done) / 1e6 / max(now - start, 1e-6)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        Terminal.writeAll(2, "\r\(label) [\(bar)] \(Int(frac * 100))%  \(ByteSize.format(done)) / \(ByteSize.format(total))  \(formatFixed(rate, digits: 0)) MB/s ")
    }

    func finish() { if enabled { Terminal.writeAll(2, "\r\u{1B}[K") } }
}
