// swift-tools-version:6.0
// swapmoe: serve Mixture-of-Experts models under a hard memory budget (SwapMoE, arXiv 2308.15030).
//
// Arrows point one way: swapmoe (CLI) -> SwapMoECLI -> Packer / Models -> Kernels, Archive, Checkpoint -> Core.
// The archive never imports the engine or a model family.
import Foundation
import PackageDescription

/// Every module that computes is built for an explicit CPU target; only the kernels drop bounds and overflow
/// checks (`-Ounchecked`). Modules that parse files (Core, Archive, Checkpoint, Tokenizers, Models, Packer,
/// Engine) keep every check in release builds, so a crafted file meets a trap at worst, never a silent overrun;
/// measured without a decode or pack slowdown (Docs/Reliability.md).
///
/// Default: `native`, the CPU of the machine that builds (as llama.cpp builds by default): a from-source build
/// gets AVX-512 kernels where the CPU has them (measured here: the 512-bit GEMM makes prefill ~1.45x faster,
/// decode unchanged) and AVX2 ones elsewhere. For a binary to copy to other machines, build with a portable
/// target: `SWAPMOE_TARGET_CPU=haswell swift build -c release` (AVX2 + FMA + F16C, any x86-64 CPU of the last
/// decade). See Docs/Architecture.md and Docs/Benchmarks.md.
let targetCPU = ProcessInfo.processInfo.environment["SWAPMOE_TARGET_CPU"] ?? "native"
let avx512CPUs: Set<String> = ["znver4", "znver5", "skylake-avx512", "cascadelake", "icelake-server", "sapphirerapids", "graniterapids"]
/// x86-64 CPU targets with FMA3 and F16C (every x86 CPU with FMA3 also has F16C).
let fmaCPUs: Set<String> = avx512CPUs.union([
    "haswell", "broadwell", "skylake", "cooperlake", "cannonlake", "icelake-client", "tigerlake", "rocketlake",
    "alderlake", "raptorlake", "meteorlake", "znver1", "znver2", "znver3", "bdver2", "bdver3", "bdver4",
    "x86-64-v3", "x86-64-v4",
])
/// The build machine's CPU flags (/proc/cpuinfo; empty elsewhere).
let hostFlags: Set<String> = {
    guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    return Set(flags.split(separator: " ").map(String.init))
}()
/// Whether the build machine has the AVX-512 subsets the 512-bit GEMM uses.
let hostHasAVX512 = ["avx512f", "avx512bw", "avx512vl"].allSatisfy(hostFlags.contains)
let useAVX512 = avx512CPUs.contains(targetCPU) || (targetCPU == "native" && hostHasAVX512)
/// Whether the 512-bit kernels may use AVX512_VNNI's `vpdpbusd` (four byte products added into each Int32 lane,
/// unsaturated: q8_0_x8's GEMV).
let vnniCPUs: Set<String> = ["znver4", "znver5", "cascadelake", "icelake-server", "sapphirerapids", "graniterapids"]
let useVNNI = useAVX512 && (targetCPU == "native" ? hostFlags.contains("avx512_vnni") : vnniCPUs.contains(targetCPU))
/// Whether the 512-bit kernels may use AVX512_VBMI's byte permutes (`vpmultishiftqb`: iq4_xs_x8's 6-bit scales
/// unpacked for a whole super-block at once).
let vbmiCPUs: Set<String> = ["znver4", "znver5", "icelake-server", "sapphirerapids", "graniterapids"]
let useVBMI = useAVX512 && (targetCPU == "native" ? hostFlags.contains("avx512vbmi") : vbmiCPUs.contains(targetCPU))
/// SwiftPM refuses targets with unsafe flags in a package another package depends on by version. Building with
/// `SWAPMOE_UNSAFE_FLAGS=0` leaves every unsafe flag below out (no `-target-cpu`, no `-Ounchecked`): the
/// libraries then build as any dependency does, for the compiler's default CPU (on x86-64: SSE2, no FMA, no
/// F16C). The kernels' multiply-adds and f16 widening then take SSE2 code (`madd`, `f16ToFloat8` in
/// SwapMoECore/TargetArithmetic.swift) instead of a libm `fmaf` / `__extendhfsf2` call per lane, which
/// made that build decode at ~5% of native speed; it now decodes at ~70% of it (SSE2's 4 lanes against the
/// native build's 8 or 16; Docs/Benchmarks.md). The swapmoe command line and its benchmarks keep the flags by
/// default.
let unsafeFlagsAllowed = ProcessInfo.processInfo.environment["SWAPMOE_UNSAFE_FLAGS"] != "0"
/// Whether the CPU the kernels are compiled for has FMA3 and F16C: `-D SWAPMOE_FMA -D SWAPMOE_F16C` (plain
/// defines, safe settings) select the fused multiply-add and `vcvtph2ps`; without them the kernels use
/// separate multiply and add, and integer f16 widening, rather than library calls.
let targetHasFMA = unsafeFlagsAllowed
    && (targetCPU == "native" ? ["fma", "f16c"].allSatisfy(hostFlags.contains) : fmaCPUs.contains(targetCPU))
/// `madd` and `f16ToFloat8` (SwapMoECore/TargetArithmetic.swift) pick their code with these; they are
/// `@inlinable` in Core, so Core and the kernels must agree.
let fmaDefines: [SwiftSetting] = targetHasFMA ? [.define("SWAPMOE_FMA"), .define("SWAPMOE_F16C")] : []
/// Whether the kernels may call x86 integer dot-product instructions (AVX2 `vpmaddubsw` / `vpmaddwd`) through
/// Swift's `Builtin` module (`-enable-builtin-module`: LLVM's own intrinsics, no C). No SIMD type of the
/// standard library lowers to them (tried: LLVM pattern-matches `vpmaddwd` only from a plain widening load, and
/// never `vpmaddubsw`), and they make the quantized GEMV ~2x faster, as fast as llama.cpp's (Docs/Benchmarks.md).
/// Without them (the library build, non-x86 CPUs) the quantized GEMV takes its float path.
let avx2CPUs = fmaCPUs.subtracting(["bdver2", "bdver3"])
let useX86Intrinsics = unsafeFlagsAllowed && hostFlags.contains("sse2")
    && (targetCPU == "native" ? hostFlags.contains("avx2") : avx2CPUs.contains(targetCPU))
let cpuTarget: [SwiftSetting] = !unsafeFlagsAllowed ? [] : [
    .unsafeFlags(["-target-cpu", targetCPU], .when(platforms: [.linux])),
] + (useAVX512 ? [.define("SWAPMOE_AVX512")] : []) + (useVNNI ? [.define("SWAPMOE_VNNI")] : []) + (useVBMI ? [.define("SWAPMOE_VBMI")] : [])
/// The kernels: pure arithmetic over buffers whose sizes were validated when the archive was opened.
/// Debug builds optimise the kernels too (`-O`, checks kept): unoptimised SIMD code runs 50-100x slower, which
/// made a debug `eval` of the demo model with quantized weights take minutes in the tests.
let kernelCode: [SwiftSetting] = (unsafeFlagsAllowed ? [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
                                                        .unsafeFlags(["-O"], .when(configuration: .debug))] : []) + cpuTarget
    + fmaDefines
    + (useX86Intrinsics ? [.define("SWAPMOE_X86_INTRINSICS"), .unsafeFlags(["-enable-builtin-module"])] : [])

let package = Package(
    name: "swapmoe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "swapmoe", targets: ["swapmoe"]),
        .library(name: "SwapMoERuntime", targets: ["SwapMoERuntime"]),
    ],
    targets: [
        // Debian's liblz4-dev and libxxhash-dev, through module maps (never a hand-written codec).
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        // Linux native AIO system calls (kernel headers only, nothing linked): the loader's O_DIRECT piece reads.
        .systemLibrary(name: "CLinuxAIO"),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),

        // Shared vocabulary: dtypes, half-precision conversion, sizes, syscall wrappers.
        .target(name: "SwapMoECore", swiftSettings: cpuTarget + fmaDefines),
        // Hugging Face checkpoint folders: safetensors (single and sharded), config.json, tokenizer files.
        .target(name: "SwapMoECheckpoint", dependencies: ["SwapMoECore"]),
        // The expert archive format: header, manifest, dense and expert regions, codecs, checksums.
        .target(name: "SwapMoEArchive", dependencies: ["SwapMoECore", "CLZ4", "CXXHash"], swiftSettings: cpuTarget),
        // Pure-Swift SIMD kernels: GEMV/GEMM over f32/f16/bf16, norms, RoPE, attention, routing.
        .target(name: "SwapMoEKernels", dependencies: ["SwapMoECore"], swiftSettings: kernelCode),
        // tokenizer.json: BPE (byte-level and SentencePiece-style), normalizers, pre-tokenizers, decoders.
        .target(name: "SwapMoETokenizers", dependencies: ["SwapMoECore"]),
        // GGUF (llama.cpp's format): validated reading, split sets, metadata -> config.json / tokenizer.json, tensor names.
        .target(name: "SwapMoEGGUF", dependencies: ["SwapMoECore"]),
        // Chat templates: the Jinja subset Hugging Face chat templates use, rendered as transformers renders them.
        .target(name: "SwapMoETemplates", dependencies: ["SwapMoECore"]),
        // Model families: one file each (config, tensor names, forward pass).
        .target(name: "SwapMoEModels", dependencies: ["SwapMoECore", "SwapMoECheckpoint", "SwapMoEArchive", "SwapMoEKernels"]),
        // Swap engine: fixed-size arena, I/O threads, exact (on-demand) and SwapMoE (virtual experts) providers.
        .target(name: "SwapMoEEngine", dependencies: ["SwapMoECore", "SwapMoEArchive", "SwapMoEKernels", "SwapMoEModels", "CLinuxAIO"], swiftSettings: cpuTarget),
        // Offline packer: HF folder -> expert archive, streaming tensor by tensor.
        .target(name: "SwapMoEPacker", dependencies: ["SwapMoECore", "SwapMoECheckpoint", "SwapMoEArchive", "SwapMoEModels", "SwapMoEKernels", "SwapMoEGGUF"], swiftSettings: cpuTarget),
        // Evaluation metrics: ROUGE-1/2/L/Lsum as Google's rouge-score computes them, nltk's Porter stemmer.
        .target(name: "SwapMoEMetrics"),
        // The library API: a Session opens an archive under a cap and generates, streams and scores text.
        .target(name: "SwapMoERuntime", dependencies: ["SwapMoECore", "SwapMoEArchive", "SwapMoEModels", "SwapMoEEngine", "SwapMoETokenizers", "SwapMoETemplates"]),
        // HTTP layer of `swapmoe serve`: requests in, full or streamed (chunked) responses out, over libmicrohttpd.
        .target(name: "SwapMoEHTTP", dependencies: ["SwapMoECore", "CMicroHTTPD"]),
        // The OpenAI-compatible server: endpoints, request validation, slots, metrics, over SwapMoEHTTP.
        .target(name: "SwapMoEServer", dependencies: ["SwapMoECore", "SwapMoEHTTP", "SwapMoERuntime", "SwapMoEModels", "SwapMoETemplates"]),
        // Command-line parsing and commands, callable from tests.
        .target(name: "SwapMoECLI", dependencies: ["SwapMoECore", "SwapMoEMetrics", "SwapMoERuntime", "SwapMoEEngine", "SwapMoECheckpoint", "SwapMoEArchive", "SwapMoEModels", "SwapMoEPacker", "SwapMoETokenizers", "SwapMoEKernels", "SwapMoEServer"]),
        .executableTarget(name: "swapmoe", dependencies: ["SwapMoECLI"]),

        // Test helpers: a checkpoint writer, fixture paths, subprocess runner.
        .target(name: "SwapMoETestSupport", dependencies: ["SwapMoECore"], path: "Tests/SwapMoETestSupport"),
        // The fuzzer: a seeded generator of malformed archives, manifests, configs, safetensors and tokenizer
        // files, and a runner that sends them through the CLI in process; `swapmoe-fuzz` writes its cases to disk
        // for Tools/fuzz.sh.
        .target(name: "SwapMoEFuzz", dependencies: ["SwapMoECore", "SwapMoEArchive", "SwapMoECLI", "SwapMoETestSupport"], path: "Tests/SwapMoEFuzz"),
        .executableTarget(name: "swapmoe-fuzz", dependencies: ["SwapMoEFuzz", "SwapMoECLI"], path: "Tests/swapmoe-fuzz"),

        .testTarget(name: "SwapMoECoreTests", dependencies: ["SwapMoECore"]),
        .testTarget(name: "SwapMoECheckpointTests", dependencies: ["SwapMoECheckpoint", "SwapMoEModels", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEArchiveTests", dependencies: ["SwapMoEArchive", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEKernelsTests", dependencies: ["SwapMoEKernels"]),
        .testTarget(name: "SwapMoETokenizersTests", dependencies: ["SwapMoETokenizers"]),
        .testTarget(name: "SwapMoETemplatesTests", dependencies: ["SwapMoETemplates", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEPackerTests", dependencies: ["SwapMoEPacker", "SwapMoECheckpoint", "SwapMoEArchive", "SwapMoEModels", "SwapMoEGGUF", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEModelsTests", dependencies: ["SwapMoEModels", "SwapMoEEngine", "SwapMoEPacker", "SwapMoETokenizers", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEEngineTests", dependencies: ["SwapMoEEngine", "SwapMoEPacker", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEMetricsTests", dependencies: ["SwapMoEMetrics"]),
        .testTarget(name: "SwapMoERuntimeTests", dependencies: ["SwapMoERuntime", "SwapMoEPacker", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoECLITests", dependencies: ["SwapMoECLI", "SwapMoEArchive", "SwapMoEKernels", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEGGUFTests", dependencies: ["SwapMoEGGUF", "SwapMoETokenizers", "SwapMoEModels", "SwapMoECheckpoint", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEHTTPTests", dependencies: ["SwapMoEHTTP"]),
        .testTarget(name: "SwapMoEServerTests", dependencies: ["SwapMoEServer", "SwapMoERuntime", "SwapMoETestSupport"]),
        .testTarget(name: "SwapMoEFuzzTests", dependencies: ["SwapMoEFuzz", "SwapMoECLI", "SwapMoEArchive", "SwapMoETestSupport"]),
    ]
)
