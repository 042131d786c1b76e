import Foundation
import Testing
import SwapMoETestSupport
@testable import SwapMoECLI

/// A packed generated Mixtral with a real tokenizer (sentencepiece-small, 1536 tokens), made once per test.
/// The caller removes `dir` when done.
func packedModel() throws -> (dir: String, archive: String) {
    let dir = TestPaths.tempDir()
    var maker = CheckpointMaker.mixtral(hidden: 64, intermediate: 48, layers: 2, experts: 4, vocab: 1536)
    maker.tokenizerFixture = "sentencepiece-small"
    try maker.write(to: dir + "/ckpt")
    let r = try runCommand(TestPaths.swapmoeBinary, ["pack", dir + "/ckpt", "-o", dir + "/m.swm", "--compress", "lz4", "--shuffle"])
    #expect(r.status == 0, "\(r.stderr)")
    return (dir, dir + "/m.swm")
}

func json(_ s: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
}

@Suite("run, eval, bench, plan", .serialized)
struct InferenceCommandTests {
    let bin = TestPaths.swapmoeBinary

    @Test("run --json: greedy, reproducible, the documented keys, and the same text when streamed")
    func run() throws {
        let m = try packedModel()
        defer { TestPaths.remove(m.dir) }
        let args = ["run", m.archive, "-p", "Once upon a time", "-n", "12", "--temp", "0", "--ignore-eos"]
        let a = try runCommand(bin, args + ["--json"])
        #expect(a.status == 0, "\(a.stderr)")
        let o = try json(a.stdout)
        for k in ["prompt_ids", "generated_ids", "text", "prompt_tok_s", "gen_tok_s", "peak_rss_bytes"] { #expect(o[k] != nil, "missing \(k)") }
        let ids = try #require(o["generated_ids"] as? [Int])
        #expect(ids.count == 12)
        #expect((o["prompt_ids"] as? [Int])?.first == 1, "the SentencePiece template adds <s> (id 1)")
        let b = try runCommand(bin, args + ["--json"])
        #expect(try json(b.stdout)["generated_ids"] as? [Int] == ids)
        let streamed = try runCommand(bin, args)
        #expect(streamed.status == 0)
        #expect(streamed.stdout == (o["text"] as! String) + "\n")
        #expect(streamed.stderr.contains("tok/s") && streamed.stderr.contains("peak RSS"))
    }

    @Test("eval --json reports perplexity over windows (and the same with --decode); bench --json reports speeds and the roofline")
    func evalAndBench() throws {
        let m = try packedModel()
        defer { TestPaths.remove(m.dir) }
        let text = m.dir + "/text.txt"
        try String(repeating: "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. ", count: 20)
            .write(toFile: text, atomically: true, encoding: .utf8)
        let e = try runCommand(bin, ["eval", m.archive, "--text", text, "--ctx", "64", "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        let o = try json(e.stdout)
        let tokens = try #require(o["tokens"] as? Int), windows = try #require(o["windows"] as? Int)
        #expect(windows == (tokens + 63) / 64)
        #expect((o["ppl"] as? Double).map { $0.isFinite && $0 > 1 } == true)
        #expect(abs(log(o["ppl"] as! Double) - (o["mean_nll"] as! Double)) < 1e-9)
        #expect(o["mode"] as? String == "prefill")
        // One token per pass (the decode kernels): float weights give the same perplexity up to f32 rounding.
        let dec = try runCommand(bin, ["eval", m.archive, "--text", text, "--ctx", "64", "--decode", "--json"])
        #expect(dec.status == 0, "\(dec.stderr)")
        let od = try json(dec.stdout)
        #expect(od["mode"] as? String == "decode" && od["predicted_tokens"] as? Int == o["predicted_tokens"] as? Int)
        #expect(abs((od["mean_nll"] as! Double) - (o["mean_nll"] as! Double)) < 1e-4)
        let b = try runCommand(bin, ["bench", m.archive, "--prompt-tokens", "8", "--gen-tokens", "4", "--reps", "1", "--json"])
        #expect(b.status == 0, "\(b.stderr)")
        let bo = try json(b.stdout)
        for k in ["prefill_tok_s", "decode_tok_s", "dram_read_gb_s", "active_bytes_per_token", "roofline_tok_s", "roofline_fraction",
                  "decode_parallel_fraction", "decode_wait_fraction", "decode_parallel_jobs_per_token"] {
            #expect(bo[k] != nil, "missing \(k)")
        }
        // Without a cap the DRAM probe runs before and after each repetition, and the fraction is that repetition's.
        #expect((bo["dram_read_gb_s_probes"] as? [Double])?.count == 2 && (bo["decode_tok_s_reps"] as? [Double])?.count == 1)
        #expect(bo["roofline_fraction_min"] as? Double == bo["roofline_fraction"] as? Double)
        // Each probe's median pass is at most its best: so are their medians, and the fraction against them at least.
        let typical = bo["dram_read_gb_s_median_pass"] as! Double, best = bo["dram_read_gb_s"] as! Double
        #expect(typical > 0 && typical <= best && (bo["roofline_fraction_median_pass"] as! Double) >= (bo["roofline_fraction"] as! Double))
        // The pool's share of decode is a fraction (0 on one thread: no job runs in parallel).
        let inside = bo["decode_parallel_fraction"] as! Double, wait = bo["decode_wait_fraction"] as! Double
        #expect(inside >= 0 && inside <= 1 && wait >= 0 && wait <= inside)
    }

    @Test("plan: the breakdown fits the cap; a cap below the minimum names the minimum")
    func plan() throws {
        let m = try packedModel()
        defer { TestPaths.remove(m.dir) }
        let p = try runCommand(bin, ["plan", m.archive, "--max-rss", "512M", "--policy", "swap", "--ctx", "256", "--json"])
        #expect(p.status == 0, "\(p.stderr)")
        let o = try json(p.stdout)
        #expect((o["total_bytes"] as! Int) <= 512 << 20)
        let small = try runCommand(bin, ["plan", m.archive, "--max-rss", "1M"])
        #expect(small.status == 1 && small.stderr.contains("below the minimum") && small.stderr.contains("raise --max-rss to at least"))
        let bad = try runCommand(bin, ["plan", m.archive, "--max-rss", "lots"])
        #expect(bad.status == 64)
        // --experts N%: the cap whose arena holds that share of the expert bytes.
        let half = try runCommand(bin, ["plan", m.archive, "--experts", "50%", "--policy", "exact", "--ctx", "256", "--json"])
        #expect(half.status == 0, "\(half.stderr)")
        let h = try json(half.stdout)
        #expect(h["total_bytes"] as? Int == h["cap_bytes"] as? Int)
        let arena = h["arena_bytes"] as? Int ?? -1, slot = h["slot_bytes"] as? Int ?? 0
        let halfOfExperts = (h["experts_total"] as? Int ?? 0) * slot / 2
        #expect(arena <= halfOfExperts && arena > halfOfExperts - slot)
        for args in [["--experts", "0%"], ["--experts", "half"], ["--experts", "50%", "--max-rss", "1G"]] {
            #expect(try runCommand(bin, ["plan", m.archive] + args).status == 64, "\(args)")
        }
    }

    @Test("runtime errors: missing prompt is a usage error; an archive without a tokenizer says so")
    func errors() throws {
        let r = try runCommand(bin, ["run", "/nonexistent.swm"])
        #expect(r.status == 64 && r.stderr.contains("missing -p"))
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(layers: 1, experts: 2).write(to: dir + "/ckpt", tokenizer: false)
        _ = try runCommand(bin, ["pack", dir + "/ckpt", "-o", dir + "/m.swm"])
        let t = try runCommand(bin, ["run", dir + "/m.swm", "-p", "hi"])
        #expect(t.status == 1 && t.stderr.contains("has no tokenizer.json"), "\(t.stderr)")
    }
}
