/// What a dense (non-expert) tensor of a checkpoint is for, as `pack --quant` needs to know: routers, norms
/// and biases always stay in float (a router's logits decide which experts run; quantizing them changes the
/// routing itself), while attention and dense-MLP matrices, and optionally the embedding table and LM head, may
/// be stored as quantized blocks. Names are the Hugging Face names every supported family uses.
public enum TensorRole: String, Sendable, Equatable {
    /// The token embedding table (looked up by row).
    case embedding
    /// The output projection to the vocabulary.
    case head
    /// A router / expert gate (`mlp.gate`, `mlp.router` (gpt-oss), `block_sparse_moe.gate`, `shared_expert_gate`, `router.classifier`).
    case router
    /// A weight matrix the kernels multiply by (attention projections, dense and shared-expert MLPs).
    case matrix
    /// Everything else: norms, biases, position tables (kept as stored).
    case other

    public init(name: String, shape: [Int]) {
        if name.hasSuffix("embed_tokens.weight") || name == "shared.weight" {
            self = .embedding
        } else if name == "lm_head.weight" {
            self = .head
        } else if name.hasSuffix("mlp.gate.weight") || name.hasSuffix("block_sparse_moe.gate.weight") || name.hasSuffix("mlp.router.weight")
                    || name.hasSuffix("shared_expert_gate.weight") || name.contains("router.classifier") {
            self = .router
        } else if shape.count == 2 && name.hasSuffix(".weight") && !name.contains("relative_attention_bias")
                    && !name.contains("norm") {
            self = .matrix
        } else {
            self = .other
        }
    }
}
