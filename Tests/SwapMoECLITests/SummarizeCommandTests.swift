import Foundation
import Testing
import SwapMoETestSupport
import SwapMoEMetrics
@testable import SwapMoECLI

@Suite("swapmoe summarize", .serialized)
struct SummarizeCommandTests {
    let bin = TestPaths.swapmoeBinary

    func json(_ s: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
    }

    @Test("summaries equal run --input's greedy output; ROUGE equals the metric on them; exact under a cap is identical")
    func endToEnd() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/switch.swm"
        let p = try runCommand(bin, ["pack", TestPaths.fixtures + "/models/switch", "-o", archive])
        #expect(p.status == 0, "\(p.stderr)")
        let docs = [("It is a truth universally acknowledged, that a single man", "a single man in want of a wife"),
                    ("Emma Woodhouse, handsome, clever, and rich", "Emma is rich")]
        let lines = docs.map { d, s in String(data: try! JSONSerialization.data(withJSONObject: ["document": d, "summary": s]), encoding: .utf8)! }
        try (lines[0] + "\n\n" + lines[1] + "\n").write(toFile: dir + "/d.jsonl", atomically: true, encoding: .utf8)

        let r = try runCommand(bin, ["summarize", archive, "--data", dir + "/d.jsonl", "-n", "6", "--out", dir + "/pred.txt", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try json(r.stdout)
        #expect(o["examples"] as? Int == 2)
        let predictions = try String(contentsOfFile: dir + "/pred.txt", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(predictions.count == 2)
        var agg = RougeAggregator()
        let scorer = RougeScorer(types: RougeType.standard, useStemmer: false)
        for ((d, s), pred) in zip(docs, predictions) {
            let run = try runCommand(bin, ["run", archive, "--input", "summarize: " + d, "-n", "6", "--temp", "0", "--json"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect((try json(run.stdout)["text"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines) == pred)
            agg.add(scorer.score(reference: s, prediction: pred))
        }
        for t in RougeType.standard {
            let f = (o[t.description] as? [String: Any])?["fmeasure"] as? Double
            #expect(f == agg.mean(t)?.fmeasure, "\(t)")
        }
        let capped = try runCommand(bin, ["summarize", archive, "--data", dir + "/d.jsonl", "-n", "6", "--out", dir + "/pred-exact.txt",
                                          "--policy", "exact", "--max-rss", "200M", "--json"])
        #expect(capped.status == 0, "\(capped.stderr)")
        #expect(try String(contentsOfFile: dir + "/pred-exact.txt", encoding: .utf8) == String(contentsOfFile: dir + "/pred.txt", encoding: .utf8))
    }

    @Test("errors name the cause: a bad line, a missing file, a decoder-only archive")
    func errors() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try "{\"document\": \"a\", \"summary\": \"b\"}\n{\"doc\": 1}\n".write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
        let bad = try runCommand(bin, ["summarize", "/nonexistent.swm", "--data", dir + "/bad.jsonl"])
        #expect(bad.status == 1 && bad.stderr.contains("line 2 of"))
        let missing = try runCommand(bin, ["summarize", "/nonexistent.swm", "--data", dir + "/none.jsonl"])
        #expect(missing.status == 1 && missing.stderr.contains("no data file"))
        try CheckpointMaker.mixtral(layers: 1, experts: 2).write(to: dir + "/ckpt")
        _ = try runCommand(bin, ["pack", dir + "/ckpt", "-o", dir + "/m.swm"])
        let dec = try runCommand(bin, ["summarize", dir + "/m.swm", "--data", dir + "/bad.jsonl", "--limit", "1"])
        #expect(dec.status == 1 && dec.stderr.contains("needs an encoder-decoder archive"), "\(dec.stderr)")
        #expect(try runCommand(bin, ["summarize", "x.swm"]).status == 64)
    }
}
