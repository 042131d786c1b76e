#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SwapMoECore
import Synchronization

/// The client side of one request: lets a long-running handler (a whole generation) or a stream's producer
/// notice that the client went away, and stop computing for nobody.
///
/// `isClosed` asks the kernel, without blocking (`poll` with a zero timeout), whether the peer hung up
/// (POLLRDHUP: it closed or shut down its sending side; POLLHUP, POLLERR: the connection is gone); cheap enough
/// to call once per generated token. It is also true once the request is over (its response sent or the
/// connection dropped) and while the server stops. A client that half-closes its socket after sending the
/// request (`shutdown(SHUT_WR)`; curl and the OpenAI clients do not) looks closed.
public final class HTTPConnection: @unchecked Sendable {
    // @unchecked Sendable: `fd` and `serverStopping` are immutable; `ended` is read and written only with
    // `sync` held. Holding the lock across `poll` is what keeps the descriptor valid: libmicrohttpd reports the
    // request completed (`markEnded`, same lock) on the connection's thread before it closes the socket, so a
    // poll never sees a descriptor that was closed and reused by another open.
    private let fd: Int32
    private let serverStopping: StopFlag?
    private let sync = PthreadCondition()
    private var ended = false

    /// A connection with no socket behind it, for calling a handler directly (tests): never closed.
    public convenience init() { self.init(fd: -1, serverStopping: nil) }

    init(fd: Int32, serverStopping: StopFlag?) {
        self.fd = fd
        self.serverStopping = serverStopping
    }

    /// Whether the client went away (or the request is over, or the server is stopping). Never blocks.
    public var isClosed: Bool {
        if serverStopping?.isSet == true { return true }
        sync.lock()
        defer { sync.unlock() }
        if ended { return true }
        guard fd >= 0 else { return false }
        var entry = pollfd(fd: fd, events: Int16(Self.pollReadHangUp) | Int16(POLLHUP) | Int16(POLLERR), revents: 0)
        let ready = poll(&entry, 1, 0)
        guard ready > 0 else { return false }  // nothing to report (or EINTR: ask again next time)
        let hungUp = Int16(Self.pollReadHangUp) | Int16(POLLHUP) | Int16(POLLERR) | Int16(POLLNVAL)
        if entry.revents & hungUp != 0 {
            ended = true  // a hang-up does not come back: later calls skip the poll
            return true
        }
        return false
    }

    /// The request is over: libmicrohttpd may close the socket from now on.
    func markEnded() {
        sync.lock()
        ended = true
        sync.unlock()
    }

    /// POLLRDHUP (Linux 2.6.17; the same value on every architecture Swift runs on). Glibc declares it only under
    /// _GNU_SOURCE, which Swift's Glibc module does not define.
    private static let pollReadHangUp: Int32 = 0x2000
}

/// Set once when the server begins to stop; read by every connection and stream.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
