import Foundation
import SwapMoECLI

/// Runs a fuzz case through the CLI's commands in this process and reports what is wrong with how they failed:
/// an error that is not one of the domain errors (a raw `DecodingError`, an `NSError`), a message of more than
/// one line, an exit status other than 0, 1 or 64, or a damaged archive that `inspect --verify` accepts. A crash
/// ends the process, which the test run reports as such (the case's number is printed first).
public enum FuzzRunner {
    /// The command lines run on an archive (pack comes first for a checkpoint folder). Decoder-only and
    /// encoder-decoder models each refuse the other's `run` form with a usage error, cheaply.
    public static func commands(archive: String, text: String) -> [[String]] {
        [["inspect", archive, "--verify", "--experts", "--tensors"],
         ["inspect", archive, "--json"],
         ["plan", archive, "--experts", "60%", "--policy", "swap"],
         ["run", archive, "-p", "Hello world", "-n", "2", "--threads", "1"],
         ["run", archive, "--input", "Hello world", "-n", "2", "--threads", "1"],
         ["run", archive, "-p", "Hello", "-n", "2", "--threads", "1", "--policy", "exact", "--max-rss", "16G", "--io", "buffered"],
         ["eval", archive, "--text", text, "--threads", "1"]]
    }

    /// The problems case `c` shows (empty when every command succeeded or failed cleanly).
    public static func check(_ c: FuzzCase, scratch: String, text: String) -> [String] {
        var problems: [String] = []
        func step(_ args: [String]) -> Int32 {
            let (status, error) = SwapMoECLI.execute(args)
            let line = args.map { $0.hasPrefix("/") ? URL(fileURLWithPath: $0).lastPathComponent : $0 }.joined(separator: " ")
            if ![0, 1, 64].contains(status) { problems.append("\(line): exit \(status)") }
            if let e = error, let p = problem(with: e) { problems.append("\(line): \(p)") }
            return status
        }
        var archive = c.path
        if !c.kind.isArchive {
            archive = "\(scratch)/case-\(c.index)-packed.swapmoe"
            defer { try? FileManager.default.removeItem(atPath: archive) }
            guard step(["pack", c.path, "-o", archive]) == 0 else { return problems }
            return problems + runAll(archive, text: text, step: step)
        }
        return problems + runAll(archive, text: text, step: step, mustFailVerify: c.kind == .archiveBytes)
    }

    private static func runAll(_ archive: String, text: String, step: ([String]) -> Int32, mustFailVerify: Bool = false) -> [String] {
        var problems: [String] = []
        for (i, args) in commands(archive: archive, text: text).enumerated() {
            let status = step(args)
            if i == 0 && mustFailVerify && status == 0 { problems.append("inspect --verify accepted a damaged archive (exit 0)") }
            // An archive that cannot even be opened fails every command the same way.
            if i == 0 && status != 0 && !mustFailVerify { break }
        }
        return problems
    }

    /// What is wrong with `error` as a user-facing failure, or nil when it is a clean one.
    public static func problem(with error: any Error) -> String? {
        let text = "\(error)"
        if error is DecodingError || error is CocoaError || String(describing: type(of: error)).contains("NSError") {
            return "untyped \(type(of: error)): \(text.prefix(200))"
        }
        if text.contains("\n") { return "message of several lines: \(text.prefix(200))" }
        if text.isEmpty { return "empty message" }
        return nil
    }
}
