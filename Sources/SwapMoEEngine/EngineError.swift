import SwapMoECore
import SwapMoEArchive

/// Everything the swap engine can refuse or fail at, each with what to do about it.
public enum EngineError: Error, CustomStringConvertible, Sendable {
    /// The archive has no block for this expert.
    case unknownExpert(ExpertKey)
    /// A size, count or option is out of range (the message names it and the valid range).
    case invalidConfiguration(String)
    /// The arena (or a staging buffer) could not be reserved.
    case allocationFailed(what: String, bytes: Int, errno: Int32)
    /// `mlock` of the arena was refused (RLIMIT_MEMLOCK or missing CAP_IPC_LOCK).
    case lockFailed(bytes: Int, errno: Int32)
    /// The mmap backend serves weights in place, which only works for raw (uncompressed) blocks.
    case mappedNeedsRawArchive(path: String, expert: ExpertKey)
    /// Reading, verifying or decoding an expert block failed; the archive error says which and why.
    case loadFailed(ExpertKey, ArchiveError)
    /// The archive file could not be opened for expert reads.
    case archiveUnreadable(path: String, SystemError)
    /// A load was issued into a slot that is already loading (a bug in the caller's slot bookkeeping).
    case slotBusy(slot: Int)
    /// The engine was shut down while the request was queued or issued after shutdown.
    case shutDown
    /// SwapExperts only serves the resident (virtual) experts of a layer.
    case notResident(ExpertKey)
    /// An I/O or swap thread could not be started.
    case threadStartFailed(errno: Int32)

    public var description: String {
        switch self {
        case .unknownExpert(let k):
            "the archive has no block for \(k); check the layer/expert indices against 'swapmoe inspect'"
        case .invalidConfiguration(let why):
            "invalid swap engine configuration: \(why)"
        case let .allocationFailed(what, bytes, errno):
            "could not allocate \(what) (\(bytes) bytes): \(errnoText(errno)); lower the memory budget or free memory"
        case let .lockFailed(bytes, errno):
            "could not mlock the expert arena (\(bytes) bytes): \(errnoText(errno)); raise 'ulimit -l' or run without memory locking"
        case let .mappedNeedsRawArchive(path, expert):
            "the mmap backend needs raw expert blocks but '\(path)' stores \(expert) compressed; re-pack with '--compress none' or use the arena backend"
        case let .loadFailed(key, e):
            "loading \(key) failed: \(e)"
        case let .archiveUnreadable(path, e):
            "cannot open '\(path)' for expert reads: \(e); check that the archive still exists and is readable"
        case .slotBusy(let s):
            "arena slot \(s) is already loading; this is a bug in the expert provider (one load per slot at a time)"
        case .shutDown:
            "the swap engine was shut down; create a new provider to continue"
        case .notResident(let k):
            "\(k) is not resident; SwapExperts serves only the experts serving the layer; route through withLayer, which masks the router to them"
        case .threadStartFailed(let errno):
            "could not start an engine thread: \(errnoText(errno)); lower the I/O thread count"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }
