import Foundation
import Testing
import SwapMoETestSupport
@testable import SwapMoECLI

/// The commands on the encoder-decoder fixtures with a tokenizer (`switch`, `switch_step`), against their
/// transformers goldens.
@Suite("commands on encoder-decoder archives", .serialized)
struct Seq2SeqCommandTests {
    let bin = TestPaths.swapmoeBinary

    struct Golden: Decodable {
        struct Case: Decodable {
            let inputText: String
            let targetText: String
            let labels: [Int]
            let logits: [Float]
            let greedyIds: [Int]
            let greedyText: String
            enum CodingKeys: String, CodingKey {
                case inputText = "input_text", targetText = "target_text", labels, logits, greedyIds = "greedy_ids", greedyText = "greedy_text"
            }
        }
        let cases: [Case]
    }

    /// A fixture (`switch` unless named) packed through the CLI, and its golden cases.
    func packed(_ name: String = "switch", experts: Int = 8) throws -> (dir: String, archive: String, cases: [Golden.Case]) {
        let folder = try #require(TestPaths.seq2seqFixtures.first { $0.hasSuffix("/" + name) })
        let dir = TestPaths.tempDir()
        let p = try runCommand(bin, ["pack", folder, "-o", dir + "/m.swm", "--compress", "lz4", "--shuffle"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stderr.contains("packed switch_transformers: ") && p.stderr.contains("\(experts) experts"), "\(p.stderr)")
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/golden.json")))
        return (dir, dir + "/m.swm", golden.cases)
    }

    @Test("inspect and plan show both stacks")
    func inspectAndPlan() throws {
        let m = try packed()
        defer { TestPaths.remove(m.dir) }
        let i = try runCommand(bin, ["inspect", m.archive, "--json", "--verify"])
        #expect(i.status == 0, "\(i.stderr)")
        let o = try json(i.stdout)
        #expect(o["family"] as? String == "switch_transformers" && o["experts_per_token"] as? Int == 1)
        let stacks = try #require(o["stacks"] as? [[String: Any]])
        #expect(stacks.map { $0["name"] as? String } == ["encoder", "decoder"])
        let text = try runCommand(bin, ["inspect", m.archive])
        #expect(text.stdout.contains("encoder      2 layers (1 MoE)") && text.stdout.contains("decoder      2 layers (1 MoE)"))

        let p = try runCommand(bin, ["plan", m.archive, "--max-rss", "1G", "--policy", "swap", "--ctx", "64", "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let plan = try json(p.stdout)
        let ps = try #require(plan["stacks"] as? [[String: Any]])
        #expect(ps.map { $0["name"] as? String } == ["encoder", "decoder"] && ps.map { $0["moe_layers"] as? [Int] } == [[1], [1]])
        let ptext = try runCommand(bin, ["plan", m.archive, "--max-rss", "1G", "--policy", "swap", "--ctx", "64"])
        #expect(ptext.stdout.contains("Virtual Experts per encoder MoE layer") && ptext.stdout.contains("Virtual Experts per decoder MoE layer"))
    }

    @Test("run --input: greedy ids and text equal transformers' generate, resident and under an exact cap")
    func run() throws {
        let m = try packed()
        defer { TestPaths.remove(m.dir) }
        for cs in m.cases {
            let args = ["run", m.archive, "--input", cs.inputText, "-n", "\(cs.greedyIds.count)", "--temp", "0", "--json"]
            let r = try runCommand(bin, args)
            #expect(r.status == 0, "\(r.stderr)")
            let o = try json(r.stdout)
            #expect(o["generated_ids"] as? [Int] == cs.greedyIds)
            #expect(o["text"] as? String == cs.greedyText)
            let exact = try runCommand(bin, args + ["--policy", "exact", "--max-rss", "1G"])
            #expect(exact.status == 0, "\(exact.stderr)")
            #expect(try json(exact.stdout)["generated_ids"] as? [Int] == cs.greedyIds)
        }
        let streamed = try runCommand(bin, ["run", m.archive, "--input", m.cases[0].inputText, "-n", "10", "--temp", "0"])
        #expect(streamed.status == 0 && streamed.stdout == m.cases[0].greedyText + "\n")
        #expect(streamed.stderr.contains("tokens encoded") && streamed.stderr.contains("resident: all 8 experts"))
    }

    @Test("sparse steps stored in config.json (switch_step, issue 15): packs blocks 1 and 3 of each stack, run gives transformers' ids")
    func storedSparseStep() throws {
        let m = try packed("switch_step", experts: 16)
        defer { TestPaths.remove(m.dir) }
        let text = try runCommand(bin, ["inspect", m.archive])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("encoder      4 layers (2 MoE)") && text.stdout.contains("decoder      4 layers (2 MoE)"), "\(text.stdout)")
        let p = try runCommand(bin, ["plan", m.archive, "--max-rss", "1G", "--policy", "swap", "--ctx", "64", "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let ps = try #require(try json(p.stdout)["stacks"] as? [[String: Any]])
        #expect(ps.map { $0["moe_layers"] as? [Int] } == [[1, 3], [1, 3]])
        for cs in m.cases {
            let args = ["run", m.archive, "--input", cs.inputText, "-n", "\(cs.greedyIds.count)", "--temp", "0", "--json"]
            let r = try runCommand(bin, args)
            #expect(r.status == 0, "\(r.stderr)")
            let o = try json(r.stdout)
            #expect(o["generated_ids"] as? [Int] == cs.greedyIds, "\(cs.inputText)")
            #expect(o["text"] as? String == cs.greedyText)
            let exact = try runCommand(bin, args + ["--policy", "exact", "--max-rss", "1G"])
            #expect(exact.status == 0, "\(exact.stderr)")
            #expect(try json(exact.stdout)["generated_ids"] as? [Int] == cs.greedyIds)
        }
    }

    @Test("eval --text --target: teacher-forced target NLL equals the one from transformers' logits")
    func eval() throws {
        let m = try packed()
        defer { TestPaths.remove(m.dir) }
        let inputs = m.dir + "/in.txt", targets = m.dir + "/target.txt"
        try m.cases.map(\.inputText).joined(separator: "\n").write(toFile: inputs, atomically: true, encoding: .utf8)
        try m.cases.map(\.targetText).joined(separator: "\n").write(toFile: targets, atomically: true, encoding: .utf8)
        // Mean NLL of the labels under the golden logits.
        var total = 0.0, count = 0
        for cs in m.cases {
            let vocab = cs.logits.count / cs.labels.count
            for (j, label) in cs.labels.enumerated() {
                let row = cs.logits[(j * vocab)..<((j + 1) * vocab)].map(Double.init)
                let mx = row.max()!
                total += mx + log(row.reduce(0) { $0 + exp($1 - mx) }) - row[label]
                count += 1
            }
        }
        let e = try runCommand(bin, ["eval", m.archive, "--text", inputs, "--target", targets, "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        let o = try json(e.stdout)
        #expect(o["tokens"] as? Int == count && o["examples"] as? Int == m.cases.count)
        let nll = try #require(o["mean_nll"] as? Double)
        #expect(abs(nll - total / Double(count)) < 1e-4, "\(nll) vs \(total / Double(count))")

        let missing = try runCommand(bin, ["eval", m.archive, "--text", inputs])
        #expect(missing.status == 64 && missing.stderr.contains("--target FILE"))
        let bench = try runCommand(bin, ["bench", m.archive])
        #expect(bench.status == 1 && bench.stderr.contains("encoder-decoder") && bench.stderr.contains("run --input"))
    }
}
