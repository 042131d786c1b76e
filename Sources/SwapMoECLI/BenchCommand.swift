import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoEKernels
import SwapMoERuntime

/// `swapmoe bench <archive> [--prompt-tokens 64] [--gen-tokens 32] [--threads N] [--reps 3] [--json]`
enum BenchCommand {
    static let usage = """
    usage: swapmoe bench <archive> [--prompt-tokens 64] [--gen-tokens 32] [--threads N] [--reps 3] [--json]

    Measures prefill and decode speed on fixed pseudo-random tokens after a warm-up run, and compares decode
    with the memory-bandwidth roofline: bytes of weights read per token / measured DRAM read bandwidth. The DRAM
    probe runs in a child process before and after every repetition, and each repetition's decode is compared
    with the probes either side of it (a shared host's bandwidth drifts within minutes). With --max-rss, when
    decode reads experts from the disk, also with the disk limit: the archive's cold read bandwidth (O_DIRECT,
    measured first in the same process) / bytes read per decoded token, and with the lower of the two limits (no
    engine can decode faster than either its memory or its disk allows); under --max-rss the DRAM probe runs
    once, before the model loads, with a buffer that fits under the cap beside this process (so bench holds the
    cap inside a container's memory limit too); below ~100 MiB it is skipped. With more than one thread, also
    how much of decode ran in parallel jobs, how much of that the calling thread spent waiting for the others'
    last chunks, and how much ran on one thread alone.

      --prompt-tokens N   prompt length for prefill (default 64)
      --gen-tokens N      tokens decoded one at a time (default 32)
      --reps N            measured repetitions; medians are reported (default 3)
      -t, --threads N     compute threads (default: all cores)
      --json              print one JSON object
    \(EngineOptions.help)
    """

    struct Options: Equatable { var engine: SessionOptions; var prompt = 64; var gen = 32; var reps = 3; var json = false }

    static let spec = Arguments.Spec(
        options: EngineOptions.optionNames.merging(["--prompt-tokens": [], "--gen-tokens": [], "--reps": []]) { a, _ in a },
        flags: ["--json": []])

    static func parse(_ args: [String]) throws(UsageError) -> Options {
        let a = try Arguments(args, spec: spec)
        guard a.positionals.count == 1 else { throw UsageError(a.positionals.isEmpty ? "missing the archive to benchmark" : "expected one archive path") }
        var o = Options(engine: try EngineOptions.parse(archive: a.positionals[0], a))
        if let v = a.value("--prompt-tokens") { o.prompt = try parsePositive(v, "--prompt-tokens") }
        if let v = a.value("--gen-tokens") { o.gen = try parsePositive(v, "--gen-tokens") }
        if let v = a.value("--reps") { o.reps = try parsePositive(v, "--reps") }
        if a.value("--ctx") == nil { o.engine.context = o.prompt + o.gen + 1 }
        o.json = a.has("--json")
        return o
    }

    /// Bytes of weights one decode step reads: every dense matrix except the embedding table (one row),
    /// plus `experts_per_token` experts of every MoE layer.
    static func activeBytesPerToken(_ m: Manifest) -> Int {
        let tied = m.dense.first { $0.name == "lm_head.weight" } == nil
        var bytes = 0
        for d in m.dense where d.name != "model.embed_tokens.weight" || tied { bytes += d.length }
        var perLayer: [String: (bytes: Int, count: Int)] = [:]
        for e in m.experts { perLayer["\(e.stack)/\(e.layer)", default: (0, 0)].bytes += e.rawLength; perLayer["\(e.stack)/\(e.layer)", default: (0, 0)].count += 1 }
        for l in perLayer.values { bytes += l.bytes / max(l.count, 1) * min(m.model.expertsPerToken, l.count) }
        return bytes
    }

    static func run(_ args: [String]) throws -> Int32 {
        let o = try parse(args)
        // Under a cap experts may be read from the disk during decode; their bound is the disk's cold read
        // bandwidth over the bytes read per token. Measured first, in this process (the same disk's speed differs
        // between processes on some VMs), over the expert blocks, before anything of the archive is read.
        let disk = o.engine.maxRSS == nil ? nil : (try? Archive(path: o.engine.archive)).flatMap { a in
            measureDirectReadBandwidth(path: a.path, offset: a.experts.map(\.offset).min() ?? 0)
        }
        // The DRAM probe, in a child process. Under --max-rss it runs once, before the model loads: under a
        // container's memory limit equal to the cap the child's buffer counts too, so it must fit beside this
        // process's start-up memory. Without a cap it runs before and after every measured repetition instead
        // (`interleaved`): on a shared host the read bandwidth swings by a third within minutes, and a decode
        // compared with a probe taken minutes earlier says more about the host than about the engine.
        let probe = dramProbeBytes(cap: o.engine.maxRSS, startup: Int(ProcessMemory.currentRSS()))
        let interleaved = o.engine.maxRSS == nil && probe != nil
        func measureDRAM() throws -> ReadBandwidth? { try probe.map { try measureDRAMInChildProcess(threads: o.engine.threads, bytes: $0) } }
        var passes = try interleaved ? [] : [measureDRAM()].compactMap { $0 }
        let session = try Session(o.engine, accept: .decoderOnly(command: "bench"))
        let model = session.decoder!
        var rng = Sampler(seed: 1234)
        let vocab = model.spec.vocab
        let prompt = (0..<o.prompt).map { _ in Int(rng.nextUnit() * Double(vocab)) % vocab }

        func bytesRead() -> Int { session.expertStats["bytes_read"] as? Int ?? 0 }
        func once() throws -> (prefill: Double, decode: Double, decodeBytes: Int, pool: ThreadPoolStatistics, seconds: Double) {
            model.reset()
            let t0 = monotonicSeconds()
            var logits = try model.forward(prompt)
            let t1 = monotonicSeconds()
            let before = bytesRead(), pool0 = model.pool.statistics
            for _ in 0..<o.gen { logits = try model.forward([Sampler.argmax(logits)]) }
            let t2 = monotonicSeconds()
            return (tokPerSec(o.prompt, t1 - t0), tokPerSec(o.gen, t2 - t1), bytesRead() - before, model.pool.statistics - pool0, t2 - t1)
        }
        _ = try once() // warm-up: page in weights, spin up threads, fill the arena
        var prefill: [Double] = [], decode: [Double] = [], decodeBytes = 0
        var pool = ThreadPoolStatistics(), decodeSeconds = 0.0
        if interleaved, let b = try measureDRAM() { passes.append(b) }
        for _ in 0..<o.reps {
            let r = try once()
            prefill.append(r.prefill); decode.append(r.decode); decodeBytes += r.decodeBytes
            pool = pool + r.pool; decodeSeconds += r.seconds
            if interleaved, let b = try measureDRAM() { passes.append(b) }
        }
        // Where two or more threads decode: the share of decode time inside parallel jobs, and of that the caller's
        // wait for the other threads' last chunks (imbalance); the rest ran on one thread while the others waited.
        let inside = decodeSeconds > 0 ? pool.seconds / decodeSeconds : 0, waiting = decodeSeconds > 0 ? pool.waitSeconds / decodeSeconds : 0
        let jobsPerToken = Double(pool.jobs) / Double(max(1, o.reps * o.gen))
        let ioPerToken = Double(decodeBytes) / Double(o.reps * o.gen)
        let diskLimit = disk.flatMap { ioPerToken > 0 ? $0 * 1e9 / ioPerToken : nil }
        let active = activeBytesPerToken(session.archive.manifest)
        // Each probe's best pass makes the roofline (no access pattern reads faster); its median pass is what the
        // host gave over a probe's time, reported beside it.
        let probes = passes.map(\.best), typical = passes.map(\.median)
        let bandwidth = probes.isEmpty ? nil : median(probes)
        let roofline = bandwidth.map { $0 * 1e9 / Double(active) }
        // No engine decodes faster than either its memory or its disk allows.
        let bound = diskLimit.map { d in roofline.map { min(d, $0) } ?? d }
        let dec = median(decode), pre = median(prefill)
        let fractions = rooflineFractions(decode: decode, probes: probes, activeBytes: active)
        /// The decode against the probes `gbs`: the median of the repetitions' own fractions, or with one probe the
        /// median decode against it.
        func fraction(_ gbs: [Double], _ each: [Double]?) -> Double {
            each.map(median) ?? (gbs.isEmpty || median(gbs) <= 0 ? 0 : dec * Double(active) / (median(gbs) * 1e9))
        }
        let typicalFraction = fraction(typical, rooflineFractions(decode: decode, probes: typical, activeBytes: active))
        let obj: [String: Any] = [
            "prefill_tok_s": pre, "prefill_tok_s_min": prefill.min() ?? 0, "prefill_tok_s_max": prefill.max() ?? 0,
            "decode_tok_s": dec, "decode_tok_s_min": decode.min() ?? 0, "decode_tok_s_max": decode.max() ?? 0, "decode_tok_s_reps": decode,
            "prompt_tokens": o.prompt, "gen_tokens": o.gen, "reps": o.reps, "threads": o.engine.threads,
            "active_bytes_per_token": active, "prefill_speedup_per_token": dec > 0 ? pre / dec : 0,
            "peak_rss_bytes": ProcessMemory.peakRSS(), "decode_bytes_read_per_token": ioPerToken,
            "decode_parallel_fraction": inside, "decode_wait_fraction": waiting, "decode_parallel_jobs_per_token": jobsPerToken,
        ].merging(session.expertStats) { a, _ in a }.merging(roofline.map { r in
            ["dram_read_gb_s": bandwidth!, "dram_read_gb_s_min": probes.min()!, "dram_read_gb_s_max": probes.max()!, "dram_read_gb_s_probes": probes,
             "dram_read_gb_s_median_pass": median(typical), "roofline_fraction_median_pass": typicalFraction,
             "roofline_tok_s": r, "roofline_fraction": fraction(probes, fractions),
             "roofline_fraction_min": fractions?.min() ?? fraction(probes, nil), "roofline_fraction_max": fractions?.max() ?? fraction(probes, nil)] as [String: Any]
        } ?? [:]) { a, _ in a }.merging(diskLimit.map { limit in
            ["disk_read_gb_s": disk!, "disk_limit_tok_s": limit, "disk_limit_fraction": dec / limit,
             "hardware_limit_tok_s": bound!, "hardware_limit_fraction": dec / bound!] as [String: Any]
        } ?? [:]) { a, _ in a }
        if o.json {
            Terminal.out(try jsonLine(obj))
        } else {
            Terminal.out("""
            prefill  \(formatFixed(pre, digits: 1)) tok/s (\(o.prompt) tokens; min \(formatFixed(prefill.min() ?? 0, digits: 1)), max \(formatFixed(prefill.max() ?? 0, digits: 1)))
            decode   \(formatFixed(dec, digits: 2)) tok/s (\(o.gen) tokens; min \(formatFixed(decode.min() ?? 0, digits: 2)), max \(formatFixed(decode.max() ?? 0, digits: 2)))
            \(roofline.map { r in rooflineLine(r, bandwidth: bandwidth!, probes: probes, active: active, decode: dec, fractions: fractions, typical: typicalFraction) } ?? "roofline not measured: --max-rss leaves no room for the DRAM probe (64 MiB) beside the process")
            prefill is \(formatFixed(pre / max(dec, 1e-9), digits: 1))x faster per token than decode; \(o.engine.threads) threads, median of \(o.reps) after warm-up
            \(session.expertStatsLine) | decode reads \(ByteSize.format(Int(ioPerToken))) per token | peak RSS \(ByteSize.format(ProcessMemory.peakRSS()))
            """)
            if model.pool.threadCount > 1 {
                Terminal.out("threads  decode \(formatFixed(100 * inside, digits: 1))% in parallel jobs (\(formatFixed(jobsPerToken, digits: 0)) per token; the caller waited \(formatFixed(100 * waiting, digits: 1))% for others' last chunks), \(formatFixed(100 * (1 - inside), digits: 1))% on one thread")
            }
            if let disk, let diskLimit, let bound {
                Terminal.out("disk     \(formatFixed(diskLimit, digits: 2)) tok/s limit = \(formatFixed(disk, digits: 2)) GB/s cold read (O_DIRECT, this process) / \(ByteSize.format(Int(ioPerToken))) per token; reached \(formatFixed(100 * dec / diskLimit, digits: 1))%")
                Terminal.out("limit    \(formatFixed(bound, digits: 2)) tok/s = the lower of the DRAM roofline and the disk limit (\(bound == diskLimit ? "disk" : "DRAM")-bound); reached \(formatFixed(100 * dec / bound, digits: 1))%")
            }
        }
        return 0
    }
}


/// Each repetition's decode over the roofline of the DRAM probes taken just before and after it (their mean), or nil
/// unless there is a probe on either side of every repetition (`probes.count == decode.count + 1`).
func rooflineFractions(decode: [Double], probes: [Double], activeBytes: Int) -> [Double]? {
    guard probes.count == decode.count + 1, !decode.isEmpty, activeBytes > 0 else { return nil }
    return decode.indices.map { i in
        let gbs = (probes[i] + probes[i + 1]) / 2
        return gbs > 0 ? decode[i] * Double(activeBytes) / (gbs * 1e9) : 0
    }
}

/// The text output's roofline line: the roofline of the probes' median, and how much of it the decode reached (with
/// interleaved probes, the median of the repetitions' own fractions, and their range), and against the probes' median
/// passes (`typical`).
func rooflineLine(_ r: Double, bandwidth: Double, probes: [Double], active: Int, decode: Double, fractions: [Double]?, typical: Double) -> String {
    let read = probes.count > 1
        ? "\(formatFixed(bandwidth, digits: 1)) GB/s DRAM read (median of \(probes.count) probes, \(formatFixed(probes.min()!, digits: 1))-\(formatFixed(probes.max()!, digits: 1)), one before and after each repetition)"
        : "\(formatFixed(bandwidth, digits: 1)) GB/s DRAM read"
    let reached = fractions.map { f in
        "reached \(formatFixed(100 * median(f), digits: 1))% (median over repetitions, each against the probes either side of it; \(formatFixed(100 * f.min()!, digits: 1))-\(formatFixed(100 * f.max()!, digits: 1))%)"
    } ?? "reached \(formatFixed(100 * decode / max(r, 1e-9), digits: 1))%"
    return "roofline \(formatFixed(r, digits: 2)) tok/s = \(read) / \(ByteSize.format(active)) per token; \(reached); against the probes' median passes \(formatFixed(100 * typical, digits: 1))%"
}

/// The DRAM probe's buffer: 512 MiB, or what fits under `cap` beside this process and the probe's own start-up
/// memory (`startup` each: this process's RSS before the model loads) with 16 MiB to spare; nil if that is under
/// 64 MiB, since a smaller buffer would measure caches, not DRAM.
func dramProbeBytes(cap: Int?, startup: Int) -> Int? {
    guard let cap else { return 512 << 20 }
    let room = cap - 2 * startup - (16 << 20)
    return room >= 64 << 20 ? min(512 << 20, room) : nil
}

/// DRAM read bandwidth in GB/s, the probe's best and median pass, measured by a child process (`swapmoe
/// __measure-dram THREADS BYTES`): the probe sums a buffer of `bytes`, which in this process would count against
/// --max-rss (VmHWM).
func measureDRAMInChildProcess(threads: Int, bytes: Int = 512 << 20) throws -> ReadBandwidth {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    p.arguments = ["__measure-dram", "\(threads)", "\(bytes)"]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
    guard p.terminationStatus == 0, fields.count == 2 else { throw BenchError.dramProbeFailed }
    return ReadBandwidth(best: fields[0], median: fields[1])
}

enum BenchError: Error, CustomStringConvertible {
    case dramProbeFailed
    var description: String { "the DRAM bandwidth probe (a child swapmoe process) failed; is /proc mounted?" }
}

/// The hidden child command behind `measureDRAMInChildProcess`.
enum MeasureDRAMCommand {
    static func run(_ args: [String]) throws -> Int32 {
        let threads = args.first.flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
        let bytes = args.dropFirst().first.flatMap(Int.init) ?? 512 << 20
        let r = measureReadBandwidthPasses(bytes: bytes, threads: threads)
        Terminal.out("\(r.best) \(r.median)")
        return 0
    }
}
