import SwapMoECore

/// Everything that can be wrong with an archive, naming the part (header, manifest, block) and what to do.
public enum ArchiveError: Error, CustomStringConvertible, Sendable {
    case notFound(String)
    case notAnArchive(String)
    case unsupportedVersion(path: String, major: Int, minor: Int)
    case truncated(path: String, expected: Int, actual: Int)
    case corruptHeader(String)
    case corruptManifest(path: String, reason: String)
    case outOfBounds(path: String, what: String, end: Int, limit: Int)
    case checksumMismatch(path: String, block: String)
    case corruptBlock(path: String, block: String, reason: String)
    case notRegularFile(String)
    case isDirectory(String)
    case io(SystemError)

    public var description: String {
        switch self {
        case .notFound(let p): "archive '\(p)' does not exist; create one with 'swapmoe pack <hf-folder> -o \(p)'"
        case .notAnArchive(let p): "'\(p)' is not a swapmoe archive (bad magic); create one with 'swapmoe pack'"
        case let .unsupportedVersion(p, major, minor):
            "archive '\(p)' has format version \(major).\(minor); this swapmoe reads versions \(ArchiveFormat.oldestMajor).x to \(ArchiveFormat.major).x, re-pack the model with this swapmoe"
        case let .truncated(p, expected, actual):
            "archive '\(p)' is truncated: \(actual) of \(expected) bytes present; the copy or the pack was interrupted, re-copy or re-pack it"
        case .corruptHeader(let p): "archive '\(p)' has a corrupt header (checksum mismatch); re-pack or re-copy it"
        case let .corruptManifest(p, reason): "archive '\(p)' has a corrupt manifest (\(reason)); re-pack or re-copy it"
        case let .outOfBounds(p, what, end, limit):
            "archive '\(p)' is corrupt: \(what) ends at byte \(end), beyond \(limit); re-pack or re-copy it"
        case let .checksumMismatch(p, block): "archive '\(p)' is corrupt: checksum mismatch in \(block); re-pack or re-copy it"
        case let .corruptBlock(p, block, reason): "archive '\(p)' is corrupt: \(block) \(reason); re-pack or re-copy it"
        case .notRegularFile(let p): "'\(p)' exists and is not a regular file (a device, directory or pipe); choose another output path"
        case .isDirectory(let p):
            "'\(p)' is a directory, not an archive; if it is a checkpoint folder, pack it first: swapmoe pack \(p) -o model.swm"
        case .io(let e): e.description
        }
    }
}
