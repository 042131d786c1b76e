import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Removes registered partial files when the process is interrupted (SIGINT, SIGTERM, SIGHUP), then exits
/// with 128 + signal, so Ctrl-C during `pack` never leaves a file behind.
public enum InterruptCleanup {
    private static let paths = Mutex<Set<String>>([])
    private static let sources = Mutex<[DispatchSourceSignal]>([])

    /// Installs the handlers once; later calls do nothing.
    public static func install() {
        sources.withLock { s in
            guard s.isEmpty else { return }
            for sig in [SIGINT, SIGTERM, SIGHUP] {
                signal(sig, SIG_IGN)
                let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                src.setEventHandler {
                    for p in paths.withLock({ $0 }) { unlink(p) }
                    let msg = "\nswapmoe: interrupted; removed partial output\n"
                    _ = msg.withCString { write(2, $0, strlen($0)) }
                    _exit(128 + sig)
                }
                src.resume()
                s.append(src)
            }
        }
    }

    public static func register(_ path: String) { _ = paths.withLock { $0.insert(path) } }
    public static func unregister(_ path: String) { _ = paths.withLock { $0.remove(path) } }
}
