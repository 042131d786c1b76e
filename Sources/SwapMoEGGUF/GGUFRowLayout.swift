/// Row layouts llama.cpp's converter changes, and their inverses: whole rows move, so these work on any row-wise
/// storage (f32, f16, bf16, quantized blocks) except where values are transposed (DeepSeek's k_b, joined in f32).

/// DeepSeek's `kv_b_proj` from the halves llama.cpp's converter splits it into (`DeepseekV2Model.modify_tensors`):
/// transformers' rows per head h are `nope` key rows then `v` value rows, each `rank` wide; the file holds
/// `attn_k_b[h][c][n]` = key row n, column c (transposed for the absorbed product) and `attn_v_b[h][j][c]` = value
/// row j, column c.
public enum GGUFLatentKV {
    /// `kvB[(h * (nope + v) + r) * rank + c]` from the f32 halves (`k` of heads * rank * nope values, `v` of
    /// heads * v * rank); nil when the sizes do not match.
    public static func join(k: [Float], v: [Float], heads: Int, nope: Int, value: Int, rank: Int) -> [Float]? {
        guard heads > 0, nope > 0, value > 0, rank > 0, k.count == heads * rank * nope, v.count == heads * value * rank else { return nil }
        var out = [Float](repeating: 0, count: heads * (nope + value) * rank)
        for h in 0..<heads {
            let row0 = h * (nope + value)
            for n in 0..<nope {
                for c in 0..<rank { out[(row0 + n) * rank + c] = k[(h * rank + c) * nope + n] }
            }
            for j in 0..<value {
                let src = (h * value + j) * rank, dst = (row0 + nope + j) * rank
                out.replaceSubrange(dst..<(dst + rank), with: v[src..<(src + rank)])
            }
        }
        return out
    }
}

/// The inverse of convert_hf_to_gguf's `LlamaModel.permute(w, n_head, n_head_kv)`, which reorders the rows of
/// each head from HF's "first half, second half" RoPE layout to llama.cpp's interleaved pairs:
///
///     w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(rows, cols)
///
/// so GGUF row `h*d + 2j + p` holds HF row `h*d + p*(d/2) + j` (d = rows / heads, j < d/2, p in {0, 1}).
/// Rows move whole, so it works on any row-wise storage (f32, f16, bf16, quantized blocks) and on biases (rows of
/// one element).
public enum GGUFPermutation {
    /// The HF row stored at GGUF row `row`.
    public static func hfRow(ofGGUFRow row: Int, rows: Int, heads: Int) -> Int {
        let d = rows / heads
        let h = row / d, r = row % d
        return h * d + (r % 2) * (d / 2) + r / 2
    }

    /// `bytes` (rows of `bytes.count / rows` bytes in GGUF order) in HF order; nil when the rows do not split into
    /// `heads` heads of pairs.
    public static func unpermuteRows(_ bytes: [UInt8], rows: Int, heads: Int) -> [UInt8]? {
        guard rows > 0, heads > 0, rows % (2 * heads) == 0, bytes.count % rows == 0 else { return nil }
        let width = bytes.count / rows
        var out = [UInt8](repeating: 0, count: bytes.count)
        for g in 0..<rows {
            let h = hfRow(ofGGUFRow: g, rows: rows, heads: heads)
            out.replaceSubrange((h * width)..<((h + 1) * width), with: bytes[(g * width)..<((g + 1) * width)])
        }
        return out
    }

    /// Rows of `a` and `b` (`rows` each, of equal width) alternated: a0, b0, a1, b1, ... (whole rows, so any
    /// row-wise storage); nil when the sizes do not split so.
    public static func interleaveRows(_ a: [UInt8], _ b: [UInt8], rows: Int) -> [UInt8]? {
        guard rows > 0, a.count == b.count, a.count % rows == 0 else { return nil }
        let width = a.count / rows
        var out: [UInt8] = []
        out.reserveCapacity(2 * a.count)
        for r in 0..<rows {
            out += a[(r * width)..<((r + 1) * width)]
            out += b[(r * width)..<((r + 1) * width)]
        }
        return out
    }

    /// convert_hf_to_gguf's permutation itself (HF order -> GGUF order), for tests and writers.
    public static func permuteRows(_ bytes: [UInt8], rows: Int, heads: Int) -> [UInt8]? {
        guard rows > 0, heads > 0, rows % (2 * heads) == 0, bytes.count % rows == 0 else { return nil }
        let width = bytes.count / rows
        var out = [UInt8](repeating: 0, count: bytes.count)
        for g in 0..<rows {
            let h = hfRow(ofGGUFRow: g, rows: rows, heads: heads)
            out.replaceSubrange((g * width)..<((g + 1) * width), with: bytes[(h * width)..<((h + 1) * width)])
        }
        return out
    }
}
