#if canImport(Glibc)
import Glibc
#endif

/// A reading thread paired with one I/O worker, so that an LZ4 block is decoded while it is still being read.
///
/// Without it a worker reads a whole stored block (an expert of a 1B model is ~14 MiB: ~8 ms from disk) and
/// only then decodes it (~3.5 ms more), and a token waiting for that expert waits for both. With it the worker
/// hands the block's payload to its reader, which `pread`s it (`O_DIRECT`) in pieces, in order, into the
/// worker's staging buffer and publishes how many bytes have landed; the worker decodes chunk i as soon as its
/// bytes are in, while the reader fetches the next piece. A miss then costs the read plus the last piece's decode.
///
/// Race-freedom: the reader writes only bytes at or beyond `landed` of the current job and publishes them by
/// raising `landed` under the lock; the worker reads only bytes below `landed`, observed under the same lock
/// (the mutex gives the happens-before edge), and never starts another job, nor returns from the load that owns
/// the staging buffer, before the reader reports the job `finished`. One reader serves one worker.
final class PieceReader: Sendable {
    /// One block's payload to read: `length` bytes from `fileOffset` of `fd` into `base`, `piece` bytes per
    /// `pread`. All four are multiples of the O_DIRECT alignment.
    struct Job: @unchecked Sendable {
        // @unchecked Sendable: `base` points into the worker's staging buffer, which the worker does not touch
        // beyond `landed` until the job is finished (see the type's comment).
        let fd: Int32
        let base: UnsafeMutableRawPointer
        let fileOffset: Int
        let length: Int
        let piece: Int
    }

    struct State: Sendable {
        var job: Job?
        var taken = false
        var landed = 0
        var finished = true
        /// errno of a failed read (0: none); `EIO` stands for an unexpected end of file.
        var error: Int32 = 0
        var stopping = false
    }

    let state = ConditionLock(State())

    /// Queues `job`. Returns false (and queues nothing) if the reader is stopping, so the caller reads itself.
    func post(_ job: Job) -> Bool {
        state.withLockNotifying { s in
            guard !s.stopping else { return false }
            precondition(s.finished, "a reader serves one job at a time")
            s = State(job: job, finished: false)
            return true
        }
    }

    /// Blocks until at least `bytes` of the current job have landed (returns nil) or the read failed (returns
    /// its errno; the caller must still `waitFinished`).
    func waitLanded(_ bytes: Int) -> Int32? {
        state.wait { s -> Int32?? in
            if s.landed >= bytes { return .some(nil) }
            if s.finished { return .some(s.error != 0 ? s.error : EIO) }
            return nil
        }
    }

    /// Blocks until the current job (if any) is finished; returns its errno, 0 if it read everything.
    @discardableResult
    func waitFinished() -> Int32 {
        state.wait { s in s.finished ? s.error : nil }
    }

    /// Lets the thread exit once it has no job (a job already posted is still read).
    func stop() { state.withLockNotifying { $0.stopping = true } }

    /// The thread's loop.
    func run() {
        while true {
            let next: Job? = state.wait { s -> Job?? in
                if let j = s.job, !s.taken { s.taken = true; return .some(j) }
                if s.stopping { return .some(nil) }
                return nil
            }
            guard let job = next else { return }
            var done = 0
            var error: Int32 = 0
            while done < job.length {
                let n = Glibc.pread(job.fd, job.base + done, min(job.piece, job.length - done), off_t(job.fileOffset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    error = errno; break
                }
                if n == 0 { error = EIO; break }
                done += n
                state.withLockNotifying { $0.landed = done }
            }
            state.withLockNotifying { s in s.finished = true; s.error = error; s.job = nil }
        }
    }
}
