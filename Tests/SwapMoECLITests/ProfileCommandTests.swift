import Foundation
import Testing
import SwapMoECore
import SwapMoEPacker
import SwapMoETestSupport

@Suite("swapmoe profile: per-layer sensitivities, and the swap split they give", .serialized)
struct ProfileCommandTests {
    let bin = TestPaths.swapmoeBinary

    @Test("profile writes ARCHIVE.profile.json (one cost per layer and budget, falling to 0 with every expert); plan and run use it for swap, --profile none does not; a bad profile is one line naming it")
    func profile() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/m.swm"
        _ = try Packer.pack(PackOptions(input: TestPaths.fixtures + "/models/olmoe", output: archive))
        let text = TestPaths.fixtures + "/texts/eval.txt"
        let p = try runCommand(bin, ["profile", archive, "--text", text, "--tokens", "96", "--ctx", "48", "--threads", "2", "--experts"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.contains("profiled") && p.stderr.contains("layer "), "\(p.stdout)")
        let data = try Data(contentsOf: URL(fileURLWithPath: archive + ".profile.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let layers = try #require(json["layers"] as? [[String: Any]])
        #expect(!layers.isEmpty && json["tokens"] as? Int == 96)
        for l in layers {
            let cost = try #require(l["cost"] as? [Double]), budgets = try #require(l["budgets"] as? [Int])
            #expect(cost.count == budgets.count && cost.allSatisfy { $0 >= 0 && $0.isFinite })
            // --experts: each expert's own masking outcome beside its importance, 8 experts a layer.
            #expect((l["masked_kl"] as? [Double])?.count == 8 && (l["masked_loss_change"] as? [Double])?.count == 8)
            #expect((l["importance"] as? [Double])?.allSatisfy { $0 > 0 } == true && (l["routed"] as? [Int])?.count == 8)
        }
        #expect(p.stderr.contains("rank correlation with masking one expert"), "\(p.stderr)")
        let plan = try runCommand(bin, ["plan", archive, "--experts", "60%", "--policy", "swap", "--ctx", "48", "--json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("\"profiled\":true"), "\(plan.stdout)")
        let uniform = try runCommand(bin, ["plan", archive, "--experts", "60%", "--policy", "swap", "--ctx", "48", "--json", "--profile", "none"])
        #expect(uniform.stdout.contains("\"profiled\":false"), "\(uniform.stdout)")
        // A session plans with it too: eval under a swap cap runs.
        // Plus 16 MiB: the eval process starts with more RSS than plan's (the arena only grows with the slack).
        let cap = try #require((try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])?["cap_bytes"] as? Int) + (16 << 20)
        let e = try runCommand(bin, ["eval", archive, "--text", text, "--ctx", "48", "--policy", "swap", "--max-rss", "\(cap)", "--json"])
        #expect(e.status == 0, "\(e.stderr)")
        // sweep: swap with the profile, and swap-uniform beside it when asked.
        let sw = try runCommand(bin, ["sweep", archive, "--text", text, "--ctx", "48", "--caps", "60%", "--policies", "swap,swap-uniform", "--json"])
        #expect(sw.status == 0, "\(sw.stderr)")
        let rows = try #require((try JSONSerialization.jsonObject(with: Data(sw.stdout.utf8)) as? [String: Any])?["rows"] as? [[String: Any]])
        #expect(rows.compactMap { $0["policy"] as? String } == ["resident", "swap-profiled", "swap-uniform"], "\(rows)")
        #expect(rows.allSatisfy { $0["error"] == nil }, "\(rows)")
        // Broken or foreign profiles: one line, exit 1, naming the file and the remedy.
        try Data("{\"layers\": 3}".utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
        for bad in [dir + "/bad.json", dir + "/missing.json"] {
            let r = try runCommand(bin, ["eval", archive, "--text", text, "--ctx", "48", "--policy", "swap", "--max-rss", "\(cap)", "--profile", bad])
            #expect(r.status == 1 && r.stderr.contains(bad) && r.stderr.contains("swapmoe profile"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
        var foreign = json
        foreign["experts_per_layer"] = 99
        try JSONSerialization.data(withJSONObject: foreign).write(to: URL(fileURLWithPath: dir + "/foreign.json"))
        let f = try runCommand(bin, ["plan", archive, "--experts", "60%", "--policy", "swap", "--profile", dir + "/foreign.json"])
        #expect(f.status == 1 && f.stderr.contains("99 experts per layer"), "\(f.stderr)")
        // Usage errors.
        #expect(try runCommand(bin, ["profile", archive]).status == 64)
        #expect(try runCommand(bin, ["profile", archive, "--text", text, "--budgets", "3,2"]).status == 64)
        #expect(try runCommand(bin, ["profile", archive, "--text", text, "--budgets", "2,400"]).status == 64)
    }
}
