import Foundation
import SwapMoEKernels

/// Multi-head latent attention (DeepSeek-V2/V3, Kimi-K2, Moonlight), as transformers' `DeepseekV3Attention`:
///
///     q       = W_qb · RMSNorm_q(W_qa · y + b_qa)        (q LoRA)   or   W_q · y     (q_lora_rank null)
///     [c, r]  = W_kva · y + b_kva;   c = RMSNorm_kv(c)    (latent of kv_lora_rank, shared rope key of qk_rope_head_dim)
///     per head h:  k_h = [W_UK_h c, RoPE(r)],  v_h = W_UV_h c,  q_h = [q_nope_h, RoPE(q_rope_h)]    (W_kvb = [W_UK; W_UV])
///     out     = W_o · concat_h softmax(scale · q_h · K_h) V_h + b_o
///
/// The cache keeps `[c, RoPE(r)]` per position for all heads (`kv_lora_rank + qk_rope_head_dim` floats); attention
/// runs over it in the absorbed form, or for long prefill chunks the expanded one (`LatentAttentionPath`).
public struct MLASpec: Sendable, Equatable {
    /// `q_lora_rank`: nil when queries come straight from `q_proj` (DeepSeek-V2-Lite, Moonlight).
    public var qLoraRank: Int?
    public var shape: LatentShape
    /// RoPE on interleaved pairs (x0, x1), (x2, x3), ... (DeepSeek-V2 always; V3's `rope_interleave`).
    public var interleavedRoPE: Bool
    /// q_a / kv_a / o projections carry biases (`attention_bias`).
    public var attentionBias: Bool
    /// The softmax scale: `1/sqrt(qk_nope_head_dim + qk_rope_head_dim)`, times YaRN's `mscale²` (`mscale_all_dim`).
    public var scale: Float

    public init(qLoraRank: Int?, shape: LatentShape, interleavedRoPE: Bool, attentionBias: Bool, scale: Float) {
        self.qLoraRank = qLoraRank; self.shape = shape; self.interleavedRoPE = interleavedRoPE
        self.attentionBias = attentionBias; self.scale = scale
    }
}

extension DecoderSpec {
    /// Floats one cached position holds per layer, for keys and for values: `kvHeads * headDim` each, or for
    /// MLA the compressed latent and rope key (as "keys") and nothing else.
    var cacheWidths: (key: Int, value: Int) {
        if let m = mla { return (m.shape.cacheWidth, 0) }
        return (kvHeads * headDim, kvHeads * headDim)
    }
}

/// One layer's MLA weights. `kv_b_proj` is read in the type the archive stores it (float or quantized), as every
/// other projection: the attention kernels widen its rows as they go, so no f32 copy is made.
struct LatentAttentionWeights {
    var qA: Matrix?, qABias: [Float]?, qANorm: [Float]?, qB: Matrix?
    var q: Matrix?
    var kvA: Matrix, kvABias: [Float]?, kvANorm: [Float]
    var kvB: Matrix
    var o: Matrix, oBias: [Float]?

    init(_ w: DenseWeights, prefix a: String, spec m: MLASpec, hidden: Int) throws(ModelError) {
        let s = m.shape, qRows = s.heads * s.qkDim
        func bias(_ name: String, _ count: Int) throws(ModelError) -> [Float]? {
            m.attentionBias ? try w.vector(a + name, count: count) : nil
        }
        if let r = m.qLoraRank {
            qA = try w.matrix(a + "q_a_proj.weight", rows: r, cols: hidden)
            qABias = try bias("q_a_proj.bias", r)
            qANorm = try w.vector(a + "q_a_layernorm.weight", count: r)
            qB = try w.matrix(a + "q_b_proj.weight", rows: qRows, cols: r)
        } else {
            q = try w.matrix(a + "q_proj.weight", rows: qRows, cols: hidden)
        }
        kvA = try w.matrix(a + "kv_a_proj_with_mqa.weight", rows: s.cacheWidth, cols: hidden)
        kvABias = try bias("kv_a_proj_with_mqa.bias", s.cacheWidth)
        kvANorm = try w.vector(a + "kv_a_layernorm.weight", count: s.rank)
        kvB = try w.matrix(a + "kv_b_proj.weight", rows: s.heads * s.kvBRows, cols: s.rank)
        // Latent attention reads kv_b by head slices and key rows; the packer never interleaves it.
        guard kvB.type.rowGroup == 1 else {
            throw .badConfig(family: "archive", reason: "'\(a)kv_b_proj.weight' is stored with interleaved rows (\(kvB.type)), which latent attention cannot read; re-pack the model with this swapmoe")
        }
        o = try w.matrix(a + "o_proj.weight", rows: hidden, cols: s.heads * s.value)
        oBias = try bias("o_proj.bias", hidden)
    }
}

/// MLA scratch of one model, sized once for the largest batch.
final class LatentScratch {
    let qa, q, kv, att: FloatBuffer

    static func sizes(_ m: MLASpec, capacity: Int) -> [Int] {
        let s = m.shape
        return [m.qLoraRank ?? 0, s.heads * s.qkDim, s.cacheWidth, s.heads * s.value].map { max(capacity * $0, 16) }
    }

    static func bytes(_ m: MLASpec, capacity: Int) -> Int { sizes(m, capacity: capacity).reduce(0, +) * MemoryLayout<Float>.stride }

    /// What a prefill chunk along the expanded path allocates while it runs, at most (`context` positions).
    static func expandedBytes(_ m: MLASpec, context: Int) -> Int {
        expandedLatentScratchFloats(m.shape, length: context) * MemoryLayout<Float>.stride
    }

    init(_ m: MLASpec, capacity: Int) {
        let all = LatentScratch.sizes(m, capacity: capacity).map { FloatBuffer(count: $0) }
        (qa, q, kv, att) = (all[0], all[1], all[2], all[3])
    }
}

/// `SWAPMOE_MLA_PATH=absorbed|expanded` forces one way through latent attention for every call (for measuring the
/// two against each other, Docs/Benchmarks.md); unset, each call takes `LatentAttentionPath.preferred`.
let forcedLatentPath: LatentAttentionPath? = getenv("SWAPMOE_MLA_PATH").flatMap { LatentAttentionPath(rawValue: String(cString: $0)) }

extension DecoderModel {
    /// MLA of layer `l` for the `n` normalised rows `y`, written to `o (n, hidden)` (see `MLASpec`).
    func latentAttention(_ l: Int, _ W: LatentAttentionWeights, _ m: MLASpec, y: Rows, into o: Rows, placement: Placement) {
        let s = m.shape, n = y.count, scratch = latentScratch!
        let q = scratch.q.rows(n, width: s.heads * s.qkDim), kv = scratch.kv.rows(n, width: s.cacheWidth)
        if let qA = W.qA, let qB = W.qB, let norm = W.qANorm {
            let qa = scratch.qa.rows(n, width: qA.rows)
            gemm(qa, qA, y, bias: W.qABias, pool: pool)
            rmsnorm(qa, qa, norm, eps: spec.eps)
            gemm(q, qB, qa, pool: pool)
        } else if let wq = W.q {
            gemm(q, wq, y, pool: pool)
        }
        gemm(kv, W.kvA, y, bias: W.kvABias, pool: pool)
        let att = scratch.att.rows(n, width: s.heads * s.value)
        /// The rows `r` of the batch at positions `start...` of `cache`: their cache rows, then attention.
        func attend(_ r: Range<Int>, _ cache: KVCache, _ start: Int) {
            let rows = cache.keys[l].rows(start..<(start + r.count))
            copy(rows, from: kv.rows(r))
            prepareLatentRows(rows, norm: W.kvANorm, eps: spec.eps, shape: s, rope: rope, start: start, interleaved: m.interleavedRoPE)
            let qr = q.rows(r)
            rotateQueryRope(qr, shape: s, rope: rope, start: start, interleaved: m.interleavedRoPE)
            SwapMoEKernels.latentAttention(att.rows(r), qr, cache: cache.keys[l], kvB: W.kvB, start: start, shape: s,
                                           scale: m.scale, path: latentPath, pool: pool)
        }
        switch placement {
        case .run(let start): attend(0..<n, cache, start)
        case .rows(let rows): for (r, row) in rows.enumerated() { attend(r..<(r + 1), row.sequence.cache, row.position) }
        }
        gemm(o, W.o, att, bias: W.oBias, pool: pool)
    }
}
