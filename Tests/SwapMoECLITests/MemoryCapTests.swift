import Foundation
import Testing
import SwapMoECore
import SwapMoETestSupport
@testable import SwapMoECLI

/// cgroup v1 memory control, writable (root): the cap can be enforced from outside.
let cgroupRoot = "/sys/fs/cgroup/memory"
let cgroupsAvailable = geteuid() == 0 && FileManager.default.isWritableFile(atPath: cgroupRoot + "/cgroup.procs")

/// Runs `args` in a fresh cgroup v1 memory group limited to `limit` bytes; returns the result and whether the
/// kernel OOM-killed anything in the group.
func runInCgroup(limit: Int, _ args: [String]) throws -> (CommandResult, oomKills: Int) {
    let name = "\(cgroupRoot)/swapmoe-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: name, withIntermediateDirectories: false)
    defer { rmdir(name) }
    try "\(limit)".write(toFile: name + "/memory.limit_in_bytes", atomically: false, encoding: .utf8)
    let r = try runCommand("/bin/sh", ["-c", "echo $$ > \(name)/cgroup.procs && exec \"$@\"", "sh", TestPaths.swapmoeBinary] + args)
    let oom = (try? String(contentsOfFile: name + "/memory.oom_control", encoding: .utf8)) ?? ""
    let kills = oom.split(separator: "\n").first { $0.hasPrefix("oom_kill ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    return (r, kills)
}

/// A generated Mixtral large enough for caps to matter: 4 layers x 8 experts of 3 x 256 x 128 bf16 (192 KiB each).
/// `quant`: a `--quant` spec to pack with.
func cappedModel(compress: Bool = true, quant: String? = nil) throws -> (dir: String, archive: String, text: String) {
    let dir = TestPaths.tempDir()
    var maker = CheckpointMaker.mixtral(hidden: 128, intermediate: 256, layers: 4, experts: 8, vocab: 1536)
    maker.tokenizerFixture = "sentencepiece-small"
    try maker.write(to: dir + "/ckpt")
    let p = try runCommand(TestPaths.swapmoeBinary, ["pack", dir + "/ckpt", "-o", dir + "/m.swm"] + (compress ? ["--compress", "lz4", "--shuffle"] : [])
                                                        + (quant.map { ["--quant", $0] } ?? []))
    #expect(p.status == 0, "\(p.stderr)")
    let text = dir + "/text.txt"
    try String(repeating: "Anne Elliot walked along the Cobb at Lyme, thinking of Captain Wentworth. ", count: 12)
        .write(toFile: text, atomically: true, encoding: .utf8)
    return (dir, dir + "/m.swm", text)
}

func jsonObject(_ r: CommandResult) throws -> [String: Any] {
    #expect(r.status == 0, "\(r.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\(r.stderr)")
}

/// The smallest cap `plan` accepts for a policy, read from its error message, plus 3 MiB: the baseline RSS
/// measured at start differs from one process to the next, and a command that has run more of its own code
/// before opening the session (`run`, `bench`) measures 1-2 MiB more of code pages than `plan` does.
func minimumCap(_ archive: String, policy: String, ctx: Int) throws -> Int {
    let r = try runCommand(TestPaths.swapmoeBinary, ["plan", archive, "--max-rss", "1M", "--policy", policy, "--ctx", "\(ctx)"])
    let m = try #require(r.stderr.range(of: " bytes), or lower --ctx"), "\(r.stderr)").lowerBound
    let digits = r.stderr[..<m].reversed().prefix { $0.isNumber }
    return try #require(Int(String(digits.reversed()))) + (3 << 20)
}

@Suite("Memory caps and policies", .serialized)
struct MemoryCapTests {
    let bin = TestPaths.swapmoeBinary

    @Test("exact gives resident's greedy ids and perplexity at every cap from the minimum to the full model")
    func exactEqualsResident() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let run = ["run", m.archive, "-p", "Captain Wentworth", "-n", "16", "--temp", "0", "--ignore-eos", "--ctx", "128", "--json"]
        let eval = ["eval", m.archive, "--text", m.text, "--ctx", "64", "--json"]
        let residentIds = try jsonObject(try runCommand(bin, run))["generated_ids"] as? [Int]
        let residentPPL = try jsonObject(try runCommand(bin, eval))["ppl"] as? Double
        #expect(residentIds?.count == 16)
        let minimum = try minimumCap(m.archive, policy: "exact", ctx: 128)
        let slot = 3 * 256 * 128 * 2
        for extra in [0, 1, 3, 6, 64] {
            let cap = "\(minimum + extra * slot)"
            for evict in ["lru", "lfu"] {
                let r = try jsonObject(try runCommand(bin, run + ["--policy", "exact", "--max-rss", cap, "--evict", evict]))
                #expect(r["generated_ids"] as? [Int] == residentIds, "cap \(cap) \(evict)")
                #expect((r["peak_rss_bytes"] as! Int) <= Int(cap)!, "peak RSS over the cap at \(cap)")
            }
            let e = try jsonObject(try runCommand(bin, eval + ["--policy", "exact", "--max-rss", cap]))
            #expect(e["ppl"] as? Double == residentPPL, "perplexity at cap \(cap)")
        }
    }

    @Test("swap serves from resident experts only: no stall, peak RSS under the cap, and it swaps")
    func swap() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let minimum = try minimumCap(m.archive, policy: "swap", ctx: 128)
        let cap = "\(minimum + 4 * 3 * 256 * 128 * 2)"
        let r = try jsonObject(try runCommand(bin, ["run", m.archive, "-p", "Lyme", "-n", "48", "--temp", "0", "--ignore-eos", "--ctx", "128",
                                                    "--policy", "swap", "--max-rss", cap, "--swap-interval", "1", "--json"]))
        #expect(r["stall_seconds"] as? Double == 0)
        #expect(r["allocated_slots"] as? Int == r["arena_slots"] as? Int, "the provider allocates exactly the planned slots")
        #expect((r["swaps"] as? Int ?? 0) > 0, "the importance window should have moved some Virtual Experts")
        #expect((r["peak_rss_bytes"] as! Int) <= Int(cap)!)
        #expect((r["generated_ids"] as? [Int])?.count == 48)
        #expect(r["policy"] as? String == "swap")

        // A cap that holds every expert: all are Virtual Experts, no spare slots are allocated, nothing swaps.
        let big = try jsonObject(try runCommand(bin, ["run", m.archive, "-p", "Lyme", "-n", "8", "--temp", "0", "--ignore-eos", "--ctx", "128",
                                                      "--policy", "swap", "--max-rss", "1G", "--json"]))
        #expect(big["arena_slots"] as? Int == 4 * 8 && big["allocated_slots"] as? Int == 4 * 8 && big["swaps"] as? Int == 0)
        #expect((big["peak_rss_bytes"] as! Int) <= big["planned_bytes"] as! Int)
    }

    @Test("shadow: Virtual Experts at full precision and every other expert's low-bit copy under the cap; no stall, nothing masked; --shadow misuse is a one-line error")
    func shadow() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let run = ["run", m.archive, "-p", "Lyme", "-n", "24", "--temp", "0", "--ignore-eos", "--ctx", "128", "--json"]
        let minimum = try minimumCap(m.archive, policy: "shadow", ctx: 128)
        for (cap, type) in [(minimum, "q2_K"), (minimum + 12 * 3 * 256 * 128 * 2, "q4_K")] {
            let r = try jsonObject(try runCommand(bin, run + ["--policy", "shadow", "--shadow", type, "--max-rss", "\(cap)", "--swap-interval", "1"]))
            #expect(r["policy"] as? String == "shadow" && r["shadow_type"] as? String == type.uppercased())
            #expect((r["peak_rss_bytes"] as! Int) <= cap && (r["shadow_bytes"] as! Int) > 0)
            #expect(r["stall_seconds"] as? Double ?? 0 == 0)
            #expect((r["generated_ids"] as? [Int])?.count == 24)
        }
        // auto under a cap that holds q8_0 shadows beside swap's minimum
        let auto = try jsonObject(try runCommand(bin, run + ["--policy", "shadow", "--max-rss", "1G"]))
        #expect(auto["shadow_type"] as? String == "Q8_0" && (auto["arena_slots"] as? Int) == 4 * 8)
        let noPolicy = try runCommand(bin, run + ["--shadow", "q4_K", "--max-rss", "1G"])
        #expect(noPolicy.status != 0 && noPolicy.stderr.contains("add --policy shadow"), "\(noPolicy.stderr)")
        let float = try runCommand(bin, run + ["--policy", "shadow", "--shadow", "f16", "--max-rss", "1G"])
        #expect(float.status != 0 && float.stderr.contains("--shadow must be auto or a quantized type"), "\(float.stderr)")
        let tooSmall = try runCommand(bin, run + ["--policy", "shadow", "--shadow", "q8_0", "--max-rss", "\(minimum / 2)"])
        #expect(tooSmall.status != 0 && tooSmall.stderr.contains("every expert's shadow"), "\(tooSmall.stderr)")
    }

    @Test("--io mmap serves raw archives from the mapping (and --io buffered reads without O_DIRECT): exact still equals resident, swap still never stalls")
    func mmapBackend() throws {
        let m = try cappedModel(compress: false)
        defer { TestPaths.remove(m.dir) }
        let run = ["run", m.archive, "-p", "Captain Wentworth", "-n", "16", "--temp", "0", "--ignore-eos", "--ctx", "128", "--json"]
        let residentIds = try jsonObject(try runCommand(bin, run))["generated_ids"] as? [Int]
        let cap = try minimumCap(m.archive, policy: "exact", ctx: 128) + 2 * 3 * 256 * 128 * 2
        let e = try jsonObject(try runCommand(bin, run + ["--policy", "exact", "--max-rss", "\(cap)", "--io", "mmap"]))
        #expect(e["generated_ids"] as? [Int] == residentIds)
        #expect((e["peak_rss_bytes"] as! Int) <= cap)
        let b = try jsonObject(try runCommand(bin, run + ["--policy", "exact", "--max-rss", "\(cap)", "--io", "buffered"]))
        #expect(b["generated_ids"] as? [Int] == residentIds, "--io buffered: plain pread, same output")
        let swapCap = try minimumCap(m.archive, policy: "swap", ctx: 128)
        let s = try jsonObject(try runCommand(bin, run + ["--policy", "swap", "--max-rss", "\(swapCap)", "--io", "mmap"]))
        #expect(s["stall_seconds"] as? Double == 0)
        let lz4 = try cappedModel()
        defer { TestPaths.remove(lz4.dir) }
        let r = try runCommand(bin, ["run", lz4.archive, "-p", "x", "--policy", "exact", "--max-rss", "\(cap)", "--io", "mmap"])
        #expect(r.status == 1 && r.stderr.contains("re-pack without --compress"), "\(r.stderr)")
    }

    @Test("bench at the minimum cap stays under it (no room for the DRAM probe there: no roofline) and reports the disk and hardware limits")
    func benchUnderCap() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let cap = try minimumCap(m.archive, policy: "exact", ctx: 64)
        let r = try jsonObject(try runCommand(bin, ["bench", m.archive, "--prompt-tokens", "8", "--gen-tokens", "8", "--reps", "1",
                                                    "--policy", "exact", "--max-rss", "\(cap)", "--json"]))
        #expect((r["peak_rss_bytes"] as! Int) <= cap)
        // The DRAM probe needs 64 MiB beside the process under the cap; this model's minimum leaves less.
        #expect(r["dram_read_gb_s"] == nil && r["roofline_tok_s"] == nil)
        // How exact's loads were read: streamed loads are O_DIRECT reads, which are loads.
        let loads = r["loads"] as! Int, direct = r["direct_reads"] as! Int, streamed = r["streamed_loads"] as! Int
        #expect(streamed <= direct && direct <= loads && (r["helped_chunks"] as! Int) >= 0)
        let perToken = r["decode_bytes_read_per_token"] as! Double
        // The disk limit (cold O_DIRECT bandwidth measured in the same process, over bytes read per token) is
        // reported whenever decode read experts and the filesystem allows O_DIRECT.
        if perToken > 0, let disk = r["disk_read_gb_s"] as? Double {
            let limit = r["disk_limit_tok_s"] as! Double
            #expect(disk > 0 && abs(limit - disk * 1e9 / perToken) < 1e-6 * limit)
            #expect(abs((r["disk_limit_fraction"] as! Double) - (r["decode_tok_s"] as! Double) / limit) < 1e-9)
            // The hardware limit is the lower of that and the DRAM roofline (the disk limit alone without a roofline).
            let bound = r["hardware_limit_tok_s"] as! Double
            #expect(bound == min(limit, r["roofline_tok_s"] as? Double ?? .infinity))
            #expect(abs((r["hardware_limit_fraction"] as! Double) - (r["decode_tok_s"] as! Double) / bound) < 1e-9)
        }
    }

    @Test("bench with room for its DRAM probe under the cap measures the roofline, and stays under the cap")
    func benchProbeUnderCap() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let cap = 256 << 20
        let args = ["bench", m.archive, "--prompt-tokens", "8", "--gen-tokens", "4", "--reps", "1", "--policy", "exact", "--max-rss", "\(cap)", "--json"]
        let (out, kills) = cgroupsAvailable ? try runInCgroup(limit: cap, args) : (try runCommand(bin, args), 0)
        #expect(kills == 0, "OOM kill inside a cgroup limit of \(cap) bytes")
        let r = try jsonObject(out)
        #expect((r["peak_rss_bytes"] as! Int) <= cap)
        #expect((r["dram_read_gb_s"] as! Double) > 0 && (r["roofline_tok_s"] as! Double) > 0)
    }

    @Test("static keeps each layer's calibrated experts: under the cap, no stall, never swaps")
    func staticPolicy() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let cap = try minimumCap(m.archive, policy: "static", ctx: 128)
        let r = try jsonObject(try runCommand(bin, ["run", m.archive, "-p", "Lyme", "-n", "24", "--temp", "0", "--ignore-eos", "--ctx", "128",
                                                    "--policy", "static", "--max-rss", "\(cap)", "--calibration", m.text, "--json"]))
        #expect(r["policy"] as? String == "static")
        #expect(r["swaps"] as? Int == 0 && r["stall_seconds"] as? Double == 0)
        #expect((r["peak_rss_bytes"] as! Int) <= cap)
        let u = try runCommand(bin, ["run", m.archive, "-p", "x", "--policy", "static", "--max-rss", "\(cap)"])
        #expect(u.status == 64 && u.stderr.contains("needs --calibration"))
    }

    @Test("a cap below the minimum fails before any work, naming the minimum")
    func tooSmall() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let r = try runCommand(bin, ["run", m.archive, "-p", "x", "--policy", "exact", "--max-rss", "20M"])
        #expect(r.status == 1 && r.stderr.contains("below the minimum") && r.stdout.isEmpty, "\(r.stderr)")
        let resident = try runCommand(bin, ["run", m.archive, "-p", "x", "--policy", "resident", "--max-rss", "30M"])
        #expect(resident.status == 1 && resident.stderr.contains("use --policy exact or swap"), "\(resident.stderr)")
    }

    @Test("inside a cgroup v1 memory limit equal to --max-rss: no OOM kill, VmHWM under the cap",
          .enabled(if: cgroupsAvailable, "needs root and a writable cgroup v1 memory controller at /sys/fs/cgroup/memory"),
          arguments: [nil, "experts=q4_K,dense=q8_0"])
    func cgroup(quant: String?) throws {
        let m = try cappedModel(quant: quant)
        defer { TestPaths.remove(m.dir) }
        for policy in ["exact", "swap", "shadow"] {
            let minimum = try minimumCap(m.archive, policy: policy, ctx: 128)
            for cap in [minimum, minimum + 8 * 3 * 256 * 128 * 2] {
                let (r, kills) = try runInCgroup(limit: cap, ["run", m.archive, "-p", "Anne", "-n", "24", "--temp", "0", "--ignore-eos",
                                                              "--ctx", "128", "--policy", policy, "--max-rss", "\(cap)", "--json"])
                #expect(kills == 0, "\(policy) at \(cap) (\(quant ?? "float")): OOM kill")
                let o = try jsonObject(r)
                #expect((o["peak_rss_bytes"] as! Int) <= cap, "\(policy) at \(cap) (\(quant ?? "float"))")
            }
        }
    }
}

@Suite("Memory caps: encoder-decoder (Switch)", .serialized)
struct Seq2SeqMemoryCapTests {
    @Test("run --input at the minimum cap and above: exact equals resident, peak RSS under the cap (inside a cgroup v1 limit where available)")
    func switchCaps() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let archive = dir + "/switch.swm"
        _ = try runCommand(TestPaths.swapmoeBinary, ["pack", TestPaths.fixtures + "/models/switch", "-o", archive, "--compress", "lz4", "--shuffle"])
        let args = ["run", archive, "--input", "summarize: It is a truth universally acknowledged", "-n", "8", "--temp", "0", "--ignore-eos", "--ctx", "64", "--json"]
        let reference = try jsonObject(try runCommand(TestPaths.swapmoeBinary, args))
        for policy in ["exact", "swap"] {
            let minimum = try minimumCap(archive, policy: policy, ctx: 64)
            for cap in [minimum, minimum + (4 << 20)] {
                let capped = args + ["--policy", policy, "--max-rss", "\(cap)"]
                let (r, kills) = cgroupsAvailable ? try runInCgroup(limit: cap, capped) : (try runCommand(TestPaths.swapmoeBinary, capped), 0)
                #expect(kills == 0, "\(policy) at \(cap): OOM kill")
                let o = try jsonObject(r)
                #expect((o["peak_rss_bytes"] as? Int ?? .max) <= cap, "\(policy) at \(cap)")
                if policy == "exact" { #expect(o["generated_ids"] as? [Int] == reference["generated_ids"] as? [Int]) }
                else { #expect(o["stall_seconds"] as? Double == 0) }
            }
        }
    }
}

@Suite("sweep", .serialized)
struct SweepTests {
    @Test("sweep compares every policy and cap with resident: exact has KL 0 and full top-1 agreement")
    func sweep() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let svg = m.dir + "/sweep.svg"
        let r = try jsonObject(try runCommand(TestPaths.swapmoeBinary, ["sweep", m.archive, "--text", m.text, "--ctx", "64",
                                                                        "--caps", "60%,100%", "--json", "--svg", svg]))
        let rows = try #require(r["rows"] as? [[String: Any]])
        #expect(rows.count == 1 + 2 * 3)
        #expect(rows.first?["policy"] as? String == "resident")
        let residentPPL = try #require(rows.first?["ppl"] as? Double)
        for row in rows where row["policy"] as? String == "exact" {
            #expect(row["ppl"] as? Double == residentPPL)
            #expect(row["kl"] as? Double == 0 && row["top1_agreement"] as? Double == 1)
        }
        for row in rows where row["error"] == nil {
            #expect((row["peak_rss_bytes"] as! Int) <= (row["cap_bytes"] as? Int ?? Int.max))
        }
        let swapAt60 = try #require(rows.first { $0["policy"] as? String == "swap" && $0["cap"] as? String == "60%" })
        #expect(swapAt60["error"] != nil || (swapAt60["kl"] as! Double) >= 0)
        #expect(try String(contentsOfFile: svg, encoding: .utf8).hasPrefix("<svg"))
        #expect((r["expert_bits_per_weight"] as? Double ?? 0) > 0)
        for row in rows.dropFirst() { #expect((row["arena_bytes"] as? Int ?? 0) > 0, "\(row)") }
    }

    @Test("a cap below a policy's minimum is raised to it and marked, never a row of error text; rows hold the arena's bytes")
    func raisedCaps() throws {
        let m = try cappedModel()
        defer { TestPaths.remove(m.dir) }
        let r = try jsonObject(try runCommand(TestPaths.swapmoeBinary, ["sweep", m.archive, "--text", m.text, "--ctx", "64",
                                                                        "--caps", "1%", "--policies", "exact,swap", "--json"]))
        let rows = try #require(r["rows"] as? [[String: Any]])
        #expect(rows.count == 3)
        for row in rows.dropFirst() {
            #expect(row["error"] == nil && row["raised_to"] is String && row["cap"] as? String == "1%", "\(row)")
            #expect((row["peak_rss_bytes"] as? Int ?? .max) <= (row["cap_bytes"] as? Int ?? 0), "\(row)")
        }
        let text = try runCommand(TestPaths.swapmoeBinary, ["sweep", m.archive, "--text", m.text, "--ctx", "64", "--caps", "1%",
                                                             "--policies", "swap"])
        #expect(text.status == 0 && text.stdout.contains("1% raised to") && text.stdout.contains("swap's minimum")
                && text.stdout.contains("bits per weight"), "\(text.stdout)")
    }
}
