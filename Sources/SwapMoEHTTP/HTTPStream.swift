#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The body of a streamed response, written by the producer on its own thread and read by libmicrohttpd's
/// content reader on the connection's thread; the two meet in a bounded buffer.
///
/// Lifecycle: open -> finished (the producer is done; the reader drains what is left, then ends the chunked
/// body) and/or closed (the client went away, the response was freed, or the server stops; nothing more is
/// sent and `write` returns false). A producer should stop at the first `false`.
public final class HTTPStream: @unchecked Sendable {
    // @unchecked Sendable: every mutable property below is read and written only with `sync` held.
    let connection: HTTPConnection
    /// Bytes unsent beyond which `write` blocks; nil for a stream with no client (`collect`).
    private let bufferLimit: Int?
    private let sync = TimedCondition()
    private var buffer: [UInt8] = []
    /// How much of `buffer` the reader has taken (the rest is unsent).
    private var taken = 0
    private var finished = false
    private var closed = false

    /// Bytes unsent beyond which `write` blocks: a producer far ahead of a slow client waits for it instead of
    /// buffering a whole generation.
    public static let defaultBufferLimit = 1 << 20

    init(connection: HTTPConnection, bufferLimit: Int? = HTTPStream.defaultBufferLimit) {
        self.connection = connection
        self.bufferLimit = bufferLimit
    }

    /// How often a blocked reader or writer wakes to see whether the client went away.
    static let pollInterval = 0.25

    /// Queues `bytes` for the client; blocks while more than `defaultBufferLimit` bytes are unsent. Returns false
    /// (and sends nothing) once the client has gone, the server is stopping, or the stream was finished.
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        sync.lock()
        defer { sync.unlock() }
        while true {
            if closed || finished { return false }
            if connection.isClosed {
                closeLocked()
                return false
            }
            guard let bufferLimit, buffer.count - taken > bufferLimit else { break }
            sync.wait(seconds: Self.pollInterval)
        }
        if bytes.isEmpty { return true }  // an empty chunk would end a chunked body
        compactLocked()
        buffer.append(contentsOf: bytes)
        sync.broadcast()
        return true
    }

    /// `write` of the text's UTF-8 bytes.
    @discardableResult
    public func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Ends the response: what was written is still sent, then the chunked terminator. Idempotent; also done
    /// when `produce` returns.
    public func finish() {
        sync.lock()
        finished = true
        sync.broadcast()
        sync.unlock()
    }

    /// Whether nothing more can reach the client (it went away, the server is stopping, the response ended).
    public var isClosed: Bool {
        sync.lock()
        defer { sync.unlock() }
        if closed { return true }
        if connection.isClosed { closeLocked() }
        return closed
    }

    /// Runs `produce` on this thread against a stream with no client and no buffer limit, and returns everything
    /// it wrote: a handler's producer can be tested without a server.
    public static func collect(_ produce: (HTTPStream) -> Void) -> [UInt8] {
        let stream = HTTPStream(connection: HTTPConnection(), bufferLimit: nil)
        produce(stream)
        return stream.sync.withLock { Array(stream.buffer[stream.taken...]) }
    }

    /// Marks the stream closed (client gone, response freed, server stopping) and wakes both sides.
    func close() {
        sync.lock()
        closeLocked()
        sync.unlock()
    }

    private func closeLocked() {
        closed = true
        buffer = []
        taken = 0
        sync.broadcast()
    }

    /// Drops the bytes already taken once they are most of the buffer, so it does not grow with the response.
    private func compactLocked() {
        if taken == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            taken = 0
        } else if taken >= 64 << 10 && taken * 2 >= buffer.count {
            buffer.removeFirst(taken)
            taken = 0
        }
    }

    /// What the content reader hands libmicrohttpd.
    enum ReadResult: Equatable {
        /// This many bytes were copied.
        case bytes(Int)
        /// Nothing yet; the reader returns 0 and libmicrohttpd calls again at once, after its own checks (its
        /// idle timeout, its shutdown flag).
        case idle
        /// The producer finished and everything was sent: end the chunked body.
        case end
        /// The stream was closed: drop the connection.
        case closed
    }

    /// The content reader's side: copies up to `destination.count` unsent bytes, waiting up to `pollInterval`
    /// for some. Runs on the connection's thread, which it may block (thread-per-connection mode).
    func read(into destination: UnsafeMutableRawBufferPointer) -> ReadResult {
        sync.lock()
        defer { sync.unlock() }
        var waited = false
        while true {
            if closed { return .closed }
            let unsent = buffer.count - taken
            if unsent > 0 {
                let n = min(unsent, destination.count)
                guard n > 0 else { return .idle }
                buffer.withUnsafeBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: destination[0..<n])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[taken..<(taken + n)]))
                }
                taken += n
                sync.broadcast()  // a writer may be waiting for room
                return .bytes(n)
            }
            if finished { return .end }
            if waited {
                if connection.isClosed {
                    closeLocked()
                    return .closed
                }
                return .idle
            }
            waited = !sync.wait(seconds: Self.pollInterval)
        }
    }
}
