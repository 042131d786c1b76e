import SwapMoETestSupport

/// Fixture paths of the GGUF tests.
enum GGUFFixtures {
    static var dir: String { TestPaths.fixtures + "/gguf" }
    static func path(_ name: String) -> String { dir + "/" + name }
    /// The single-file fixtures with a gguf-py dump (split parts excluded).
    static let files = ["mixtral-f32.gguf", "qwen2_moe-f32.gguf", "qwen3_moe-bf16.gguf", "olmoe-f32.gguf",
                        "qwen3_moe-q8_0.gguf", "mixtral-q4_k_m.gguf", "mixtral-q8_0.gguf", "qwen2_moe-q8_0.gguf", "olmoe-q8_0.gguf",
                        "mixtral-iq4_xs.gguf", "mixtral-wide-iq4_xs.gguf", "gpt_oss-f32.gguf", "gpt_oss-mxfp4.gguf", "gpt_oss-q8_0.gguf",
                        "qwen3_next_sparse-f32.gguf", "qwen3_next_sparse-wide-q4_k_m.gguf"]
                        + wide
    /// The 256-wide models' llama-quantize files (real Q4_K / Q6_K blocks; no HF folder is committed for them).
    static let wide = ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"].flatMap { ["\($0)-wide-q4_k_m.gguf", "\($0)-wide-q6_k.gguf"] }
    static let splitParts = (1...3).map { "olmoe-split-0000\($0)-of-00003.gguf" }
    /// The HF fixture each model was converted from.
    static func hfFolder(_ model: String) -> String { TestPaths.fixtures + "/models/" + model }
}
