import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoETokenizers

/// Options every model-running command shares.
struct EngineOptions: Equatable {
    var archive: String
    var threads = ProcessInfo.processInfo.activeProcessorCount
    var context = 2048

    static let optionNames: [String: [String]] = ["--threads": ["-t"], "--ctx": ["-c"]]

    init(archive: String, _ a: Arguments) throws(UsageError) {
        self.archive = archive
        if let t = a.value("--threads") { threads = try parsePositive(t, "--threads") }
        if let c = a.value("--ctx") { context = try parsePositive(c, "--ctx") }
    }
}

func parsePositive(_ s: String, _ name: String) throws(UsageError) -> Int {
    guard let v = Int(s), v > 0 else { throw UsageError("\(name) must be a positive whole number, not '\(s)'") }
    return v
}

func parseNonNegative(_ s: String, _ name: String) throws(UsageError) -> Int {
    guard let v = Int(s), v >= 0 else { throw UsageError("\(name) must be a whole number >= 0, not '\(s)'") }
    return v
}

func parseFloat(_ s: String, _ name: String, range: ClosedRange<Float>) throws(UsageError) -> Float {
    guard let v = Float(s), range.contains(v) else { throw UsageError("\(name) must be a number in \(range.lowerBound)...\(range.upperBound), not '\(s)'") }
    return v
}

/// An archive opened for inference: the model with its experts and the embedded tokenizer.
final class ModelSession {
    let archive: Archive
    let model: DecoderModel
    let tokenizer: Tokenizer
    let loadSeconds: Double

    init(_ o: EngineOptions) throws {
        let start = monotonicSeconds()
        archive = try Archive(path: o.archive)
        tokenizer = try ModelSession.loadTokenizer(archive)
        let experts = try ResidentExperts(archive: archive)
        model = try DecoderModel(archive: archive, experts: experts, context: o.context, threads: o.threads)
        loadSeconds = monotonicSeconds() - start
    }

    static func loadTokenizer(_ archive: Archive) throws -> Tokenizer {
        guard let json = try archive.fileData("tokenizer.json") else { throw SessionError.noTokenizer(archive.path) }
        return try Tokenizer(tokenizerJSON: json, tokenizerConfigJSON: try archive.fileData("tokenizer_config.json"))
    }

    /// End-of-sequence ids: generation_config.json's `eos_token_id` (int or list), else config.json's, else
    /// the tokenizer's, as transformers' `generate` resolves them.
    var eosTokenIds: Set<Int> {
        func ids(_ v: JSONValue?) -> Set<Int>? {
            guard let v else { return nil }
            if let i = v.intValue { return [i] }
            if let a = v.arrayValue { return Set(a.compactMap(\.intValue)) }
            return nil
        }
        if let data = try? archive.fileData("generation_config.json"),
           let g = try? JSONDecoder().decode(JSONValue.self, from: data), let e = ids(g["eos_token_id"]) { return e }
        if let e = ids(archive.manifest.config["eos_token_id"]) { return e }
        return Set(tokenizer.eosTokenIds)
    }
}

enum SessionError: Error, CustomStringConvertible {
    case noTokenizer(String)
    case emptyPrompt
    case unreadable(String)

    var description: String {
        switch self {
        case .noTokenizer(let p): "archive '\(p)' has no tokenizer.json; re-pack from a checkpoint folder that includes it"
        case .emptyPrompt: "the prompt encodes to no tokens; give a non-empty -p TEXT"
        case .unreadable(let p): "cannot read text file '\(p)'; check the path"
        }
    }
}

/// Reads a text file for --text / --prompt-file.
func readText(_ path: String) throws -> String {
    guard let d = FileManager.default.contents(atPath: path) else { throw SessionError.unreadable(path) }
    return String(decoding: d, as: UTF8.self)
}

func jsonLine(_ obj: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self)
}

func tokPerSec(_ n: Int, _ s: Double) -> Double { s > 0 ? Double(n) / s : 0 }
