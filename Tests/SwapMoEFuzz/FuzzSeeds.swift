import Foundation
import SwapMoECLI

/// The valid inputs the fuzzer starts from: checkpoint folders of the test fixtures (per-expert, sharded and
/// encoder-decoder layouts, each with a real tokenizer.json), archives packed from them (raw and LZ4, and two
/// with quantized matrices: format version 2), and GGUF files made by llama.cpp's converter (f32, Q8_0, a split
/// part).
public enum FuzzSeeds {
    public static let checkpointNames = ["mixtral", "qwen2_moe_sharded", "switch", "olmoe"]
    public static let ggufNames = ["mixtral-f32.gguf", "qwen3_moe-q8_0.gguf", "qwen2_moe-f32.gguf", "qwen3_moe-bf16.gguf"]

    /// Packs the seed archives into `dir` with this build's packer (in process) and returns the generator.
    public static func generator(fixtures: String, in dir: String, seed: UInt64 = 0x5EED) throws -> FuzzGenerator {
        let folders = checkpointNames.map { "\(fixtures)/models/\($0)" }
        var archives: [String] = []
        for (i, folder) in folders.enumerated() {
            let out = "\(dir)/seed-\(i).swapmoe"
            var args = ["pack", folder, "-o", out]
            if i % 2 == 1 { args += ["--compress", "lz4"] + (i == 1 ? ["--shuffle"] : []) }
            let (status, error) = SwapMoECLI.execute(args)
            guard status == 0 else { throw SeedError(message: "packing seed \(folder) failed: \(error.map { "\($0)" } ?? "exit \(status)")") }
            archives.append(out)
        }
        for (i, extra) in [["--quant", "experts=q8_0,dense=q8_0"], ["--quant", "q4_0", "--compress", "lz4"]].enumerated() {
            let out = "\(dir)/seed-q\(i).swapmoe"
            let (status, error) = SwapMoECLI.execute(["pack", folders[0], "-o", out] + extra)
            guard status == 0 else { throw SeedError(message: "packing quantized seed failed: \(error.map { "\($0)" } ?? "exit \(status)")") }
            archives.append(out)
        }
        return FuzzGenerator(archives: archives, checkpoints: folders, ggufs: ggufNames.map { "\(fixtures)/gguf/\($0)" }, seed: seed)
    }

    public struct SeedError: Error, CustomStringConvertible {
        public let message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }
}
