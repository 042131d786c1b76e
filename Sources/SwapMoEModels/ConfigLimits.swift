/// The range every size in a `config.json` must fall in: well past any released model (the widest today:
/// hidden 16384, expert width 53248 dense / 18432 MoE, 256 experts, 262144 tokens of vocabulary, 10M positions)
/// and low enough that every product the runtime forms from them (KV cache bytes = 2 x layers x positions x
/// heads x head_dim x 4, workspace = batch x width x 4, ...) stays far inside `Int`. Checked once, when a config
/// is decoded, so later arithmetic on these sizes can neither trap nor wrap.
public enum ConfigLimits {
    /// hidden_size, intermediate sizes, head_dim, and num_heads x head_dim.
    public static let width = 1 << 20
    public static let layers = 1 << 12
    public static let heads = 1 << 12
    public static let experts = 1 << 16
    public static let vocab = 1 << 22
    /// max_position_embeddings and `--ctx`.
    public static let positions = 1 << 24

    /// Throws `badConfig` naming `key` and its value unless `value` lies in `range`.
    static func check(_ family: ModelFamily, _ key: String, _ value: Int, _ range: ClosedRange<Int>) throws(ModelError) {
        guard range.contains(value) else {
            throw .badConfig(family: family.rawValue, reason: "\(key) \(value) is out of range (\(range.lowerBound)...\(range.upperBound))")
        }
    }
}
