import Foundation
import Testing
import SwapMoETestSupport
@testable import SwapMoECLI

@Suite("swapmoe rouge")
struct RougeCommandTests {
    let bin = TestPaths.swapmoeBinary

    /// Single-line golden pairs (a file line is one example) with rouge-score's per-pair scores.
    struct GoldenPair { var reference: String; var prediction: String; var scores: [String: [Double]]; var stemmed: [String: [Double]] }

    static func goldenPairs() throws -> [GoldenPair] {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixtures + "/rouge/golden.json"))
        let obj = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let pairs = try #require(obj["pairs"] as? [[String: Any]])
        return pairs.compactMap { p in
            guard let r = p["reference"] as? String, let q = p["prediction"] as? String,
                  let s = p["scores"] as? [String: [Double]], let t = p["scores_stem"] as? [String: [Double]] else { return nil }
            let multiLine = (r + q).unicodeScalars.contains { $0 == "\n" || $0 == "\r" }
            return multiLine ? nil : GoldenPair(reference: r, prediction: q, scores: s, stemmed: t)
        }
    }

    @Test("options: --pred and --ref required, --stem and --json flags, no positionals")
    func parse() throws {
        #expect(try RougeCommand.parse(["--pred", "p.txt", "--ref=r.txt", "--stem", "--json"]) == .init(pred: "p.txt", ref: "r.txt", stem: true, json: true))
        #expect(try RougeCommand.parse(["--ref", "r", "--pred", "p"]) == .init(pred: "p", ref: "r"))
        #expect(throws: UsageError.self) { try RougeCommand.parse(["--pred", "p"]) }
        #expect(throws: UsageError.self) { try RougeCommand.parse(["--ref", "r"]) }
        #expect(throws: UsageError.self) { try RougeCommand.parse(["--pred", "p", "--ref", "r", "extra"]) }
        #expect(throws: UsageError.self) { try RougeCommand.parse(["--pred", "p", "--ref", "r", "--rouge3"]) }
    }

    @Test("one example per line: CRLF and a final newline are not examples of their own; blank lines are")
    func lines() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        for (text, want) in [("a\nb\n", ["a", "b"]), ("a\r\nb", ["a", "b"]), ("a\n\nb\n", ["a", "", "b"]), ("", []), ("\n", [""]),
                             ("x\u{2028}y\n", ["x\u{2028}y"])] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/f.txt"))
            #expect(try RougeCommand.readLines(dir + "/f.txt") == want, "\(text.debugDescription)")
        }
    }

    @Test("--json means equal the mean of rouge-score's per-pair goldens, with and without --stem")
    func jsonMatchesGoldens() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let pairs = try Self.goldenPairs()
        #expect(pairs.count >= 150)
        try Data(pairs.map(\.prediction).joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/pred.txt"))
        try Data((pairs.map(\.reference).joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/ref.txt"))
        for stem in [false, true] {
            let r = try runCommand(bin, ["rouge", "--pred", dir + "/pred.txt", "--ref", dir + "/ref.txt", "--json"] + (stem ? ["--stem"] : []))
            #expect(r.status == 0, "\(r.stderr)")
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            #expect(obj["examples"] as? Int == pairs.count && obj["stemmed"] as? Bool == stem)
            for type in ["rouge1", "rouge2", "rougeL", "rougeLsum"] {
                let got = try #require(obj[type] as? [String: Double], "missing \(type)")
                for (k, key) in ["precision", "recall", "fmeasure"].enumerated() {
                    let want = pairs.map { (stem ? $0.stemmed : $0.scores)[type]![k] }.reduce(0, +) / Double(pairs.count)
                    #expect(abs(got[key]! - want) <= 1e-9, "\(type) \(key) stem=\(stem): \(got[key]!) vs \(want)")
                }
            }
        }
        let table = try runCommand(bin, ["rouge", "--pred", dir + "/pred.txt", "--ref", dir + "/ref.txt", "--stem"])
        #expect(table.status == 0 && table.stdout.contains("ROUGE over \(pairs.count) examples, Porter-stemmed"), "\(table.stdout)")
        for type in ["rouge1", "rouge2", "rougeL", "rougeLsum"] { #expect(table.stdout.contains("\n" + type + " ")) }
    }

    @Test("a small case by hand: identical, disjoint, empty")
    func byHand() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try Data("the cat sat\nred blue\n\n".utf8).write(to: URL(fileURLWithPath: dir + "/p"))
        try Data("The cat sat.\ngreen\nanything\n".utf8).write(to: URL(fileURLWithPath: dir + "/r"))
        let r = try runCommand(bin, ["rouge", "--pred", dir + "/p", "--ref", dir + "/r"])
        #expect(r.status == 0, "\(r.stderr)")
        // rouge1 F per line: 1, 0, 0 -> mean 33.33.
        #expect(r.stdout.contains("rouge1        33.33    33.33    33.33"), "\(r.stdout)")
    }

    @Test("different line counts, a missing file, no lines: one line on stderr naming cause and fix, exit 1")
    func failures() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try Data("a\nb\nc\n".utf8).write(to: URL(fileURLWithPath: dir + "/three.txt"))
        try Data("a\nb\n".utf8).write(to: URL(fileURLWithPath: dir + "/two.txt"))
        try Data().write(to: URL(fileURLWithPath: dir + "/empty.txt"))
        let cases: [([String], [String])] = [
            (["--pred", dir + "/three.txt", "--ref", dir + "/two.txt"], ["has 3 lines", "has 2", "one prediction per reference"]),
            (["--pred", dir + "/two.txt", "--ref", dir + "/none.txt"], ["none.txt", "does not exist"]),
            (["--pred", dir + "/empty.txt", "--ref", dir + "/empty.txt", "--json"], ["hold no lines"]),
        ]
        for (args, needles) in cases {
            let r = try runCommand(bin, ["rouge"] + args)
            #expect(r.status == 1 && r.stdout.isEmpty, "\(args): \(r.status) \(r.stdout)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            for n in needles { #expect(r.stderr.contains(n), "\(r.stderr)") }
        }
        let u = try runCommand(bin, ["rouge", "--pred", dir + "/two.txt"])
        #expect(u.status == 64 && u.stderr.contains("missing --ref"))
        let h = try runCommand(bin, ["--help"])
        #expect(h.stdout.contains("rouge "))
        let rh = try runCommand(bin, ["rouge", "--help"])
        #expect(rh.status == 0 && rh.stdout.contains("--stem"))
    }
}
