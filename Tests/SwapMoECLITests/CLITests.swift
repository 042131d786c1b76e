import Foundation
import Testing
import SwapMoEArchive
import SwapMoEKernels
import SwapMoETestSupport
@testable import SwapMoECLI

@Suite("Command line parsing")
struct ParsingTests {
    @Test("pack options: --k v, --k=v, short aliases, validation")
    func pack() throws {
        let o = try PackCommand.parse(["model", "-o", "out.swm", "--compress=lz4", "--shuffle", "--dtype", "bf16"])
        #expect(o.input == "model" && o.output == "out.swm" && o.compress == .lz4 && o.shuffle && o.dtype == .bf16)
        #expect(try PackCommand.parse(["m", "--output=x"]).dtype == nil)
        #expect(try PackCommand.parse(["m", "-o", "x", "--dtype", "keep"]).dtype == nil)
        #expect(throws: UsageError.self) { try PackCommand.parse(["m"]) }
        #expect(throws: UsageError.self) { try PackCommand.parse(["-o", "x"]) }
        #expect(throws: UsageError.self) { try PackCommand.parse(["m", "-o", "x", "--compress", "zstd"]) }
        #expect(throws: UsageError.self) { try PackCommand.parse(["m", "-o", "x", "--shuffle"]) }
        #expect(throws: UsageError.self) { try PackCommand.parse(["m", "-o", "x", "--dtype", "int8"]) }
        #expect(throws: UsageError.self) { try PackCommand.parse(["m", "-o", "x", "--bogus"]) }
        #expect(try PackCommand.parse(["-o", "x", "--", "-weird-folder"]).input == "-weird-folder")
    }

    @Test("inspect options")
    func inspect() throws {
        #expect(try InspectCommand.parse(["a.swm", "--json", "--verify"]) == .init(path: "a.swm", verify: true, json: true))
        #expect(throws: UsageError.self) { try InspectCommand.parse([]) }
        #expect(throws: UsageError.self) { try InspectCommand.parse(["a", "b"]) }
    }

    @Test("bench: medians, and each repetition against the DRAM probes either side of it")
    func benchRoofline() {
        #expect(median([3, 1, 2]) == 2 && median([4, 1, 3, 2]) == 2.5 && median([]) == 0)
        // 1e9 bytes a token: 10 tok/s reads 10 GB/s; against probes of 20 and 30 GB/s (mean 25) that is 40%.
        let f = rooflineFractions(decode: [10, 20], probes: [20, 30, 40], activeBytes: 1_000_000_000) ?? []
        #expect(f.count == 2 && abs(f[0] - 0.4) < 1e-12 && abs(f[1] - 20.0 / 35) < 1e-12)
        // One probe for several repetitions (under --max-rss): no per-repetition fractions.
        #expect(rooflineFractions(decode: [10, 20], probes: [20], activeBytes: 1_000_000_000) == nil)
        #expect(rooflineFractions(decode: [], probes: [20], activeBytes: 1) == nil)
    }
}

@Suite("swapmoe end to end", .serialized)
struct EndToEndTests {
    let bin = TestPaths.swapmoeBinary

    @Test("help goes to stdout with exit 0; usage errors to stderr with exit 64")
    func help() throws {
        let h = try runCommand(bin, ["--help"])
        #expect(h.status == 0 && h.stdout.contains("pack") && h.stdout.contains("inspect"))
        let ph = try runCommand(bin, ["pack", "--help"])
        #expect(ph.status == 0 && ph.stdout.contains("--compress"))
        let u = try runCommand(bin, ["pack", "folder"])
        #expect(u.status == 64 && u.stderr.contains("missing -o") && u.stdout.isEmpty)
        let c = try runCommand(bin, ["frobnicate"])
        #expect(c.status == 64 && c.stderr.contains("unknown command 'frobnicate'"))
    }

    @Test("pack then inspect --json --verify reports the model; a flipped byte fails naming the block")
    func packInspect() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(layers: 2, experts: 4).write(to: dir + "/ckpt")
        let p = try runCommand(bin, ["pack", dir + "/ckpt", "-o", dir + "/m.swm", "--compress", "lz4", "--shuffle"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stderr.contains("packed mixtral: ") && p.stderr.contains("8 experts") && p.stderr.contains("MB/s"))
        let i = try runCommand(bin, ["inspect", dir + "/m.swm", "--json", "--verify"])
        #expect(i.status == 0, "\(i.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(i.stdout.utf8)) as? [String: Any])
        for key in ["family", "layers", "experts_per_layer", "experts_per_token", "params_total", "params_active",
                    "expert_bytes", "dense_bytes", "codec", "compression_ratio"] {
            #expect(obj[key] != nil, "missing \(key)")
        }
        #expect(obj["family"] as? String == "mixtral" && obj["layers"] as? Int == 2 && obj["experts_per_layer"] as? Int == 4)
        #expect(obj["experts_per_token"] as? Int == 2 && obj["codec"] as? String == "lz4")
        // 2 layers x 4 experts x 3 x 48 x 80 expert params; dense: embeddings, lm_head, norms, attention, routers.
        let expertParams = 2 * 4 * 3 * 48 * 80
        #expect(obj["params_experts"] as? Int == expertParams)
        #expect((obj["params_total"] as! Int) - (obj["params_active"] as! Int) == expertParams / 2)

        let text = try runCommand(bin, ["inspect", dir + "/m.swm", "--experts", "--tensors"])
        #expect(text.status == 0 && text.stdout.contains("top-2") && text.stdout.contains("layer 1 expert 3"))

        let archive = try Archive(path: dir + "/m.swm")
        let e = try #require(archive.expert(ExpertKey(layer: 1, expert: 2)))
        try flipByte(dir + "/m.swm", at: e.offset + 100)
        let v = try runCommand(bin, ["inspect", dir + "/m.swm", "--verify"])
        #expect(v.status == 1)
        #expect(v.stderr.contains("layer 1, expert 2"), "\(v.stderr)")
    }

    @Test("pack --quant: inspect shows the types, bits per weight and the bytes saved; a bad spec is a usage error")
    func packQuant() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        try CheckpointMaker.mixtral(hidden: 64, intermediate: 96, layers: 2, experts: 4).write(to: dir + "/ckpt")
        let p = try runCommand(bin, ["pack", dir + "/ckpt", "-o", dir + "/m.swm", "--quant", "experts=q8_0,dense=q8_0"])
        #expect(p.status == 0 && p.stderr.contains("quantized matrices: 32 as Q8_0"), "\(p.stderr)")
        let i = try runCommand(bin, ["inspect", dir + "/m.swm"])
        #expect(i.status == 0 && i.stdout.contains("format 3.0") && i.stdout.contains("--quant experts=Q8_0,dense=Q8_0"), "\(i.stdout)")
        #expect(i.stdout.contains("Q8_0_X8") && i.stdout.contains("8.50 bits per weight") && i.stdout.contains("in bf16 (46.9% smaller)"), "\(i.stdout)")
        let j = try jsonObject(try runCommand(bin, ["inspect", dir + "/m.swm", "--json"]))
        let types = try #require(j["types"] as? [String: Any])
        #expect((types["Q8_0_X8"] as? [String: Any])?["bits_per_weight"] as? Double == 8.5 && j["pack_quant"] as? String == "experts=Q8_0,dense=Q8_0")
        for (spec, needle) in [("iq3_xxs", "'iq3_xxs' is not a quantized type; use one of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, MXFP4, IQ4_NL, IQ4_XS"),
                               ("experts=q4_K,foo=q8_0", "unknown part 'foo'"), ("experts", "not a quantized type"),
                               ("experts=q4_K,dense", "'dense' is not part=type")] {
            let r = try runCommand(bin, ["pack", dir + "/ckpt", "-o", dir + "/x.swm", "--quant", spec])
            #expect(r.status == 64 && r.stderr.contains(needle), "\(spec): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/x.swm"))
        }
    }

    @Test("pack of an FP8 hub checkpoint says the weights were dequantized, inspect shows it; a broken one fails in one line with exit 1")
    func packFP8() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        let p = try runCommand(bin, ["pack", TestPaths.fixtures + "/models/deepseek_v3_fp8", "-o", dir + "/m.swm"])
        #expect(p.status == 0 && p.stderr.contains("78 FP8 e4m3 matrices (16x8 blocks) dequantized"), "\(p.stderr)")
        let i = try runCommand(bin, ["inspect", dir + "/m.swm"])
        #expect(i.status == 0 && i.stdout.contains("(fp8 e4m3, 16x8 blocks, dequantized on packing)"), "\(i.stdout)")
        #expect(try jsonObject(try runCommand(bin, ["inspect", dir + "/m.swm", "--json"]))["dequantized"] as? String == "fp8 e4m3, 16x8 blocks")
        let scale = "model.layers.1.mlp.experts.0.up_proj.weight_scale_inv"
        try CheckpointMaker.copyFixture("deepseek_v3_fp8", to: dir + "/broken", tensors: { $0.removeAll { $0.name == scale } })
        let r = try runCommand(bin, ["pack", dir + "/broken", "-o", dir + "/x.swm"])
        #expect(r.status == 1 && r.stderr.contains("'\(scale)' are missing; download every file of the checkpoint"), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1 && !FileManager.default.fileExists(atPath: dir + "/x.swm"))
        // compressed-tensors FP8, and its int4 scheme refused by name.
        let ct = try runCommand(bin, ["pack", TestPaths.fixtures + "/models/glm4_moe_ct", "-o", dir + "/ct.swm"])
        #expect(ct.status == 0 && ct.stderr.contains("FP8 e4m3 matrices (per-channel scales) dequantized"), "\(ct.stderr)")
        try CheckpointMaker.copyFixture("glm4_moe_ct", to: dir + "/int4", config: { c in
            var q = c["quantization_config"] as? [String: Any] ?? [:]
            q["format"] = "pack-quantized"
            c["quantization_config"] = q
        })
        let int4 = try runCommand(bin, ["pack", dir + "/int4", "-o", dir + "/y.swm"])
        #expect(int4.status == 1 && int4.stderr.contains("format 'pack-quantized'") && int4.stderr.split(separator: "\n").count == 1, "\(int4.stderr)")
    }

    @Test("runtime failures are one line on stderr with exit 1")
    func failures() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        for (args, needle) in [(["inspect", dir + "/none.swm"], "does not exist"),
                               (["pack", dir + "/nothing", "-o", dir + "/x.swm"], "is not a directory"),
                               (["inspect", #filePath], "not a swapmoe archive"),
                               (["run", dir, "-p", "x"], "is a directory, not an archive; if it is a checkpoint folder, pack it first")] {
            let r = try runCommand(bin, args)
            #expect(r.status == 1 && r.stderr.contains(needle), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1)
        }
    }

    @Test("interrupting pack (SIGINT, SIGTERM, SIGKILL) never leaves a file at the -o path")
    func interrupted() throws {
        let dir = TestPaths.tempDir()
        defer { TestPaths.remove(dir) }
        var maker = CheckpointMaker.mixtral(hidden: 1024, intermediate: 2048, layers: 1, experts: 2, dtype: .f32)
        for i in 0..<6 { maker.addLarge("extra.\(i).weight", [2048, 2048], .f32) }
        try maker.write(to: dir + "/ckpt")
        for sig in [SIGINT, SIGTERM, SIGKILL] {
            let out = dir + "/big\(sig).swm"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = ["pack", dir + "/ckpt", "-o", out, "--compress", "lz4", "--shuffle", "--dtype", "bf16"]
            let err = Pipe()
            p.standardError = err
            try p.run()
            let deadline = Date().addingTimeInterval(20)
            while !FileManager.default.fileExists(atPath: out + ".partial") && Date() < deadline && p.isRunning { usleep(2000) }
            usleep(20_000)
            #expect(p.isRunning, "pack finished before it could be interrupted; make the test checkpoint larger")
            kill(p.processIdentifier, sig)
            p.waitUntilExit()
            #expect(!FileManager.default.fileExists(atPath: out), "signal \(sig) left \(out)")
            let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            if sig != SIGKILL {
                #expect(p.terminationStatus == 128 + sig)
                #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
                // It says what it did (and never claims a removal that did not happen).
                #expect(message.contains("swapmoe: interrupted; removed the partial output '\(out).partial'"), "\(message)")
            }
        }
    }
}
