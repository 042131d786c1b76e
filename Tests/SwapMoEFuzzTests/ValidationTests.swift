import Foundation
import Testing
import SwapMoEFuzz
import SwapMoECLI
import SwapMoEArchive
import SwapMoETestSupport

/// The crashes fuzzing found (issue 15), each as the one-line error it now is. Archives are edited the way a
/// user or an attacker could: the manifest changed and its checksum recomputed.
@Suite("Validation of malformed inputs") struct ValidationTests {
    /// A packed copy of a fixture model in a fresh folder.
    struct Packed {
        let dir: String
        let archive: String
        init(_ fixture: String = "mixtral", _ extra: [String] = []) throws {
            dir = TestPaths.tempDir(fixture)
            archive = dir + "/model.swapmoe"
            let (status, error) = Terminal.withMutedOutput { SwapMoECLI.execute(["pack", TestPaths.fixtures + "/models/" + fixture, "-o", archive] + extra) }
            guard status == 0 else { throw FuzzSeeds.SeedError(message: "pack failed: \(String(describing: error))") }
        }
        /// Writes the archive with its manifest edited; returns its path.
        func edited(as name: String = "edited.swapmoe", _ edit: (inout [String: Any]) -> Void) throws -> String {
            let bytes = try FuzzGenerator.rewriteManifest(of: archive) { m in
                var d = m as! [String: Any]
                edit(&d)
                m = d
            }
            let path = dir + "/" + name
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    /// Runs a command in process; its status and one-line message.
    func cli(_ args: [String]) -> (status: Int32, message: String) {
        let (status, error) = Terminal.withMutedOutput { SwapMoECLI.execute(args) }
        let message = error.map { "\($0)" } ?? ""
        #expect(!message.contains("\n"), "message of several lines: \(message)")
        return (status, message)
    }

    /// Edits one key of the archive's config.json.
    func withConfig(_ key: String, _ value: Any) -> (inout [String: Any]) -> Void {
        { m in
            var c = m["config"] as! [String: Any]
            c[key] = value
            m["config"] = c
        }
    }

    @Test("config sizes out of range are named with their value, not an allocation failure or a trap")
    func configRanges() throws {
        let p = try Packed()
        defer { TestPaths.remove(p.dir) }
        for (key, value) in [("intermediate_size", 1 << 62), ("intermediate_size", 0), ("intermediate_size", -1), ("head_dim", 1 << 62),
                             ("vocab_size", 0), ("num_attention_heads", -4), ("num_hidden_layers", 1_000_000_000),
                             ("max_position_embeddings", 0), ("num_local_experts", 1 << 40)] {
            let a = try p.edited(withConfig(key, value))
            let r = cli(["run", a, "-p", "Hello", "-n", "1"])
            #expect(r.status == 1)
            // The expert count has two spellings (num_experts / num_local_experts); the message names both.
            let expected = key == "num_local_experts" ? "num_local_experts) \(value) is out of range" : "\(key) \(value) is out of range"
            #expect(r.message.contains(expected), "\(r.message)")
        }
        let odd = try p.edited(withConfig("head_dim", 7))
        #expect(cli(["run", odd, "-p", "Hello", "-n", "1"]).message.contains("head_dim 7 must be even"))
        let eval = try p.edited(withConfig("max_position_embeddings", 0))
        let text = p.dir + "/t.txt"
        try "Hello world, hello again.".write(toFile: text, atomically: true, encoding: .utf8)
        #expect(cli(["eval", eval, "--text", text]).message.contains("max_position_embeddings 0 is out of range"))
    }

    @Test("pack refuses a config.json with an absurd size at once, before reading any tensor")
    func packConfigRanges() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        for (fixture, key, value) in [("switch", "num_layers", 1 << 40), ("switch", "d_ff", -1), ("mixtral", "num_hidden_layers", 1_000_000_000),
                                      ("qwen2_moe", "moe_intermediate_size", 1 << 62), ("olmoe", "clip_qkv", -1)] {
            let folder = "\(dir)/\(fixture)-\(key)"
            try FileManager.default.copyItem(atPath: TestPaths.fixtures + "/models/" + fixture, toPath: folder)
            var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as! [String: Any]
            config[key] = value
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: folder + "/config.json"))
            let r = cli(["pack", folder, "-o", folder + ".swapmoe"])
            #expect(r.status == 1 && r.message.contains("\(key) \(value)"), "\(r.message)")
            #expect(!FileManager.default.fileExists(atPath: folder + ".swapmoe"))
        }
    }

    @Test("an expert layout reshaped to the same byte length is refused before any kernel runs")
    func reshapedLayout() throws {
        let p = try Packed()
        defer { TestPaths.remove(p.dir) }
        let a = try p.edited { m in
            var layouts = m["expert_layouts"] as! [[String: Any]]
            var ts = layouts[0]["tensors"] as! [[String: Any]]
            let s = ts[0]["shape"] as! [Int]
            ts[0]["shape"] = [s[0] * s[1] / 2, 2]
            layouts[0]["tensors"] = ts
            m["expert_layouts"] = layouts
        }
        #expect(cli(["inspect", a, "--verify"]).status == 0)  // consistent in itself
        for args in [["run", a, "-p", "Hello", "-n", "1"], ["run", a, "-p", "Hello", "-n", "1", "--policy", "exact", "--max-rss", "8G"]] {
            let r = cli(args)
            #expect(r.status == 1)
            #expect(r.message.contains("does not match its config.json") && r.message.contains("matrix 'gate'"), "\(r.message)")
        }
    }

    @Test("a tensor shape whose byte count overflows, duplicate entries and absurd lengths fail at open")
    func manifestArithmetic() throws {
        let p = try Packed()
        defer { TestPaths.remove(p.dir) }
        let overflow = try p.edited { m in
            var dense = m["dense"] as! [[String: Any]]
            dense[0]["shape"] = [1 << 32, 1 << 32]
            dense[0]["length"] = 0
            m["dense"] = dense
        }
        let r = cli(["inspect", overflow, "--verify"])
        #expect(r.status == 1 && r.message.contains("does not hold its 0 bytes"), "\(r.message)")

        let twice = try p.edited { m in m["experts"] = (m["experts"] as! [[String: Any]]) + [(m["experts"] as! [[String: Any]])[3]] }
        #expect(cli(["inspect", twice, "--verify"]).message.contains("is listed twice"))
        let twiceDense = try p.edited { m in m["dense"] = (m["dense"] as! [[String: Any]]) + [(m["dense"] as! [[String: Any]])[0]] }
        #expect(cli(["inspect", twiceDense, "--verify"]).message.contains("is listed twice"))

        let huge = try p.edited { m in
            var experts = m["experts"] as! [[String: Any]], layouts = m["expert_layouts"] as! [[String: Any]]
            experts[0]["raw_length"] = Int.max
            layouts[experts[0]["layout"] as! Int]["raw_length"] = Int.max
            m["experts"] = experts; m["expert_layouts"] = layouts
        }
        #expect(cli(["inspect", huge]).status == 1)
    }

    @Test("inspect prints an absurd expert norm as a number, and --verify names a bad LZ4 trailer as such")
    func inspectOutput() throws {
        let p = try Packed("mixtral", ["--compress", "lz4"])
        defer { TestPaths.remove(p.dir) }
        let a = try p.edited { m in
            var experts = m["experts"] as! [[String: Any]]
            experts[0]["norm"] = 1e300
            m["experts"] = experts
        }
        #expect(cli(["inspect", a, "--experts"]).status == 0)
        let r = try runCommand(TestPaths.swapmoeBinary, ["inspect", a, "--experts"])
        #expect(r.stdout.contains("norm 1e+300"), "\(r.stdout.suffix(300))")

        // An LZ4 block whose trailer magic is wrong but whose checksum was recomputed to match.
        let archive = try Archive(path: p.archive)
        let e = try #require(archive.experts.first { $0.codec == .lz4 })
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p.archive)))
        bytes[e.offset + e.storedLength - 1] ^= 0xFF
        let sum = bytes[e.offset..<(e.offset + e.storedLength)].withUnsafeBytes { Checksum.hex(Checksum.xxh3($0)) }
        try Data(bytes).write(to: URL(fileURLWithPath: p.archive))
        let bad = try p.edited { m in
            var experts = m["experts"] as! [[String: Any]]
            let i = experts.firstIndex { ($0["offset"] as! Int) == e.offset }!
            experts[i]["xxh3"] = sum
            m["experts"] = experts
        }
        let v = cli(["inspect", bad, "--verify"])
        #expect(v.status == 1)
        let out = try runCommand(TestPaths.swapmoeBinary, ["inspect", bad, "--verify"])
        #expect(out.stderr.contains("inconsistent LZ4 trailer in \(e.label)"), "\(out.stderr)")
    }

    @Test("the embedding table, served in place, is checksummed at load")
    func embeddingChecksum() throws {
        let p = try Packed()
        defer { TestPaths.remove(p.dir) }
        // The fixture has a separate LM head, so the embedding is the table served in place from the mapping.
        let archive = try ArchiveProbe.denseOffset(p.archive, name: "model.embed_tokens.weight")
        try flipByte(p.archive, at: archive + 5)
        let r = cli(["run", p.archive, "-p", "Hello", "-n", "1"])
        #expect(r.status == 1 && r.message.contains("checksum mismatch in dense tensor 'model.embed_tokens.weight'"), "\(r.message)")
    }

    @Test("plan --experts below the swap policy's minimum names the minimum")
    func planMinimum() throws {
        let p = try Packed()
        defer { TestPaths.remove(p.dir) }
        // One Virtual Expert a layer plus the spare slot: 37.5% of this fixture's experts.
        let r = cli(["plan", p.archive, "--experts", "30%", "--policy", "swap"])
        #expect(r.status == 64 && r.message.contains("below the 37.5% of the experts the swap policy needs"), "\(r.message)")
        #expect(cli(["plan", p.archive, "--experts", "37.5%", "--policy", "swap"]).status == 0)
    }

    @Test("sweep runs a cap below a policy's minimum at that minimum and marks the row, never an error row")
    func sweepMinimum() throws {
        let p = try Packed()
        defer { TestPaths.remove(p.dir) }
        let text = p.dir + "/t.txt"
        try String(repeating: "Hello world, hello again. ", count: 8).write(toFile: text, atomically: true, encoding: .utf8)
        let r = try runCommand(TestPaths.swapmoeBinary, ["sweep", p.archive, "--text", text, "--caps", "30%", "--policies", "swap,static", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let out = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let rows = try #require(out["rows"] as? [[String: Any]])
        #expect(rows.map { $0["policy"] as? String } == ["resident", "swap", "static"])
        #expect(rows.allSatisfy { $0["error"] == nil })
        // swap needs 37.5% of this fixture's experts (one a layer plus the spare slot), static 25% (one a layer).
        #expect(rows[1]["raised_to"] as? String == "37.5%" && rows[1]["cap"] as? String == "30%" && rows[2]["raised_to"] == nil)
    }

    @Test("pack refuses an output path that exists and is not a regular file")
    func packTarget() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let r = cli(["pack", TestPaths.fixtures + "/models/mixtral", "-o", dir])
        #expect(r.status == 1 && r.message.contains("is not a regular file"), "\(r.message)")
        #expect(cli(["pack", TestPaths.fixtures + "/models/mixtral", "-o", "/dev/null"]).message.contains("is not a regular file"))
        #expect(FileManager.default.fileExists(atPath: "/dev/null"))
    }

    @Test("numeric options are bounded")
    func optionBounds() throws {
        let p = try Packed()
        defer { TestPaths.remove(p.dir) }
        #expect(cli(["run", p.archive, "-p", "x", "--ctx", "\(1 << 62)"]).status == 64)
        #expect(cli(["run", p.archive, "-p", "x", "--threads", "1000000"]).status == 64)
        #expect(cli(["bench", p.archive, "--prompt-tokens", "\(Int.max)", "--gen-tokens", "\(Int.max)"]).status == 64)
    }
}

/// Reads an archive's manifest through the archive reader (for tests that damage one tensor on purpose).
enum ArchiveProbe {
    static func denseOffset(_ path: String, name: String) throws -> Int {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let off = Int(bytes[16..<24].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let len = Int(bytes[24..<32].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let m = try JSONSerialization.jsonObject(with: Data(bytes[off..<(off + len)])) as! [String: Any]
        let t = (m["dense"] as! [[String: Any]]).first { $0["name"] as? String == name }!
        return t["offset"] as! Int
    }
}
