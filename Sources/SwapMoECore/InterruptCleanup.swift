import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Removes registered partial files when the process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits
/// with 128 + signal, so Ctrl-C during `pack` never leaves a file behind, and says what it did: which partial
/// file it removed, or that the output had already been completed (and is kept).
///
/// A partial file becomes the finished one through `commit`, which renames it under the same lock the handler
/// takes, so the handler sees either the partial file (and removes it) or the finished one, never a moment
/// between.
public enum InterruptCleanup {
    private struct State {
        var partial: Set<String> = []
        var finished: [String] = []
    }
    private static let state = Mutex(State())
    private static let sources = Mutex<[DispatchSourceSignal]>([])

    /// Installs the handlers once; later calls do nothing.
    public static func install() {
        sources.withLock { s in
            guard s.isEmpty else { return }
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                signal(sig, SIG_IGN)
                let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                src.setEventHandler {
                    // Holds the lock until exit: no commit can start after the partial files are removed.
                    state.withLock { st in
                        var lines: [String] = []
                        for p in st.partial.sorted() where unlink(p) == 0 { lines.append("removed the partial output '\(p)'") }
                        for f in st.finished { lines.append("'\(f)' had already been written completely and is kept") }
                        let msg = "\nswapmoe: interrupted" + (lines.isEmpty ? "" : "; " + lines.joined(separator: "; ")) + "\n"
                        _ = msg.withCString { write(2, $0, strlen($0)) }
                        _exit(128 + sig)
                    }
                }
                src.resume()
                s.append(src)
            }
        }
    }

    public static func register(_ path: String) { state.withLock { _ = $0.partial.insert(path) } }
    public static func unregister(_ path: String) { state.withLock { _ = $0.partial.remove(path) } }

    /// Renames the registered partial file `partial` to `final`, atomically with respect to the interrupt handler.
    public static func commit(_ partial: String, to final: String) throws(SystemError) {
        try state.withLock { (st: inout State) throws(SystemError) in
            try FileSystem.rename(partial, final)
            st.partial.remove(partial)
            st.finished.append(final)
        }
    }
}
