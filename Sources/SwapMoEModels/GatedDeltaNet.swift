import Foundation
import SwapMoEKernels

/// Qwen3-Next's Gated DeltaNet layers (transformers' `Qwen3NextGatedDeltaNet`), per token t and value head h
/// (key head h / (valueHeads / keyHeads) serves it):
///
///     [q, k, v, z] = W_qkvz · y,  [b, a] = W_ba · y                (grouped per key head, see `split`)
///     [q, k, v]    = silu(conv1d_causal([q, k, v]))                 (depthwise, `convKernel` taps, rolling state)
///     q = l2norm(q) / √dk,  k = l2norm(k)                           (per head)
///     g = −exp(A_log) · softplus(a + dt_bias),  β = σ(b)
///     S_h = exp(g_h) S_h;  S_h += k ⊗ β_h (v_h − S_hᵀ k);  o_h = S_hᵀ q    (S_h: dk × dv, the recurrent state)
///     out = W_out · (rmsnorm(o_h) · w ⊙ silu(z_h))                  (the gated norm: a plain scale, per head)
///
/// A sequence keeps, per DeltaNet layer, the last `convKernel - 1` conv inputs and every head's S (`KVCache`);
/// both start at zero at position 0. The recurrence runs token by token, for prompts too (the exact form, equal to
/// the recurrent decode bit for bit). Measured on a 1.2B Qwen3-Next (Docs/Benchmarks.md, "Qwen3-Next prefill:
/// where the time goes": `perf record swapmoe bench ... --prompt-tokens 512`, and a build that skipped it), it is
/// 4% of a 512-token prefill's cycles and a median 12% of its time (serial, on one thread); transformers' chunked
/// form could win back at most that, less on Qwen3-Next-80B, whose states are a smaller share of its weights.
public struct DeltaNetSpec: Sendable, Equatable {
    public var keyHeads: Int
    public var valueHeads: Int
    public var keyDim: Int
    public var valueDim: Int
    public var convKernel: Int
    /// The layers whose token mixer is a DeltaNet (`linear_attn.`); the others run attention.
    public var layers: Set<Int>

    public init(keyHeads: Int, valueHeads: Int, keyDim: Int, valueDim: Int, convKernel: Int, layers: Set<Int>) {
        self.keyHeads = keyHeads; self.valueHeads = valueHeads; self.keyDim = keyDim; self.valueDim = valueDim
        self.convKernel = convKernel; self.layers = layers
    }

    var keyWidth: Int { keyHeads * keyDim }
    var valueWidth: Int { valueHeads * valueDim }
    /// Channels of the conv: q, k and v of every head.
    var convChannels: Int { 2 * keyWidth + valueWidth }
    /// `in_proj_qkvz` rows and `in_proj_ba` rows.
    var qkvzWidth: Int { 2 * keyWidth + 2 * valueWidth }
    var baWidth: Int { 2 * valueHeads }
    /// Floats one sequence keeps per DeltaNet layer: the conv's past inputs and the recurrent state.
    var stateFloats: Int { (convKernel - 1) * convChannels + valueHeads * keyDim * valueDim }
}

/// One DeltaNet layer's weights (`model.layers.{l}.linear_attn.`).
struct DeltaNetWeights {
    /// `in_proj_qkvz` (transformers' Qwen3-Next), or its rows as two matrices, `in_proj_qkv` ([q of every key head,
    /// k of every key head, v of every value head]: the conv's input order) and `in_proj_z`: how llama.cpp's files
    /// hold them, packed so from a GGUF whose two halves have different types (Docs/GGUF.md).
    enum Input { case joined(Matrix), split(qkv: Matrix, z: Matrix) }
    var input: Input, ba: Matrix, out: Matrix
    /// `conv1d.weight` `[channels, 1, kernel]` as `channels · kernel` floats.
    var conv: [Float]
    /// −exp(A_log) per value head, and dt_bias.
    var negA: [Float], dtBias: [Float]
    /// The gated norm's weight (`norm.weight`, dv floats, a plain scale).
    var norm: [Float]

    init(_ w: DenseWeights, prefix a: String, spec m: DeltaNetSpec, hidden: Int) throws(ModelError) {
        if w.has(a + "in_proj_qkvz.weight") || !w.has(a + "in_proj_qkv.weight") {
            input = .joined(try w.matrix(a + "in_proj_qkvz.weight", rows: m.qkvzWidth, cols: hidden))
        } else {
            input = .split(qkv: try w.matrix(a + "in_proj_qkv.weight", rows: m.convChannels, cols: hidden),
                           z: try w.matrix(a + "in_proj_z.weight", rows: m.valueWidth, cols: hidden))
        }
        ba = try w.matrix(a + "in_proj_ba.weight", rows: m.baWidth, cols: hidden)
        out = try w.matrix(a + "out_proj.weight", rows: hidden, cols: m.valueWidth)
        conv = try w.vector(a + "conv1d.weight", count: m.convChannels * m.convKernel)
        negA = try w.vector(a + "A_log", count: m.valueHeads).map { -expf($0) }
        dtBias = try w.vector(a + "dt_bias", count: m.valueHeads)
        norm = try w.vector(a + "norm.weight", count: m.valueDim)
    }

    /// Bytes the f32 copies of every DeltaNet layer take (conv kernels, decays, dt biases, norm weights).
    static func f32Bytes(_ m: DeltaNetSpec) -> Int {
        m.layers.count * (m.convChannels * m.convKernel + 2 * m.valueHeads + m.valueDim) * MemoryLayout<Float>.stride
    }
}

/// DeltaNet scratch of one model, sized once for the largest batch.
final class DeltaNetScratch {
    let qkvz, ba, mixed, conv, q, k, v, z, g, beta, core: FloatBuffer

    static func sizes(_ m: DeltaNetSpec, capacity: Int) -> [Int] {
        [m.qkvzWidth, m.baWidth, m.convChannels, m.convChannels, m.keyWidth, m.keyWidth, m.valueWidth, m.valueWidth,
         m.valueHeads, m.valueHeads, m.valueWidth].map { max(capacity * $0, 16) }
    }

    static func bytes(_ m: DeltaNetSpec, capacity: Int) -> Int { sizes(m, capacity: capacity).reduce(0, +) * MemoryLayout<Float>.stride }

    init(_ m: DeltaNetSpec, capacity: Int) {
        let all = DeltaNetScratch.sizes(m, capacity: capacity).map { FloatBuffer(count: $0) }
        (qkvz, ba, mixed, conv, q, k, v) = (all[0], all[1], all[2], all[3], all[4], all[5], all[6])
        (z, g, beta, core) = (all[7], all[8], all[9], all[10])
    }
}

/// One sequence's DeltaNet state of one layer: the conv's last `kernel - 1` inputs and every head's S.
struct DeltaNetState {
    let conv: Rows
    let recurrent: Rows

    init(_ m: DeltaNetSpec) {
        let past = m.convKernel - 1, c = m.convChannels, r = m.valueHeads * m.keyDim
        conv = FloatBuffer(rows: past, width: c).rows(past, width: c)
        recurrent = FloatBuffer(rows: r, width: m.valueDim).rows(r, width: m.valueDim)
    }

    func clear() { conv.zero(); recurrent.zero() }
}

extension DecoderModel {
    /// The DeltaNet of layer `l` for the `n` normalised rows `y`, written to `o (n, hidden)` (see `DeltaNetSpec`).
    func gatedDeltaNet(_ l: Int, _ W: DeltaNetWeights, _ m: DeltaNetSpec, y: Rows, into o: Rows, placement: Placement) {
        let n = y.count, sc = deltaNetScratch!
        let mixed = sc.mixed.rows(n, width: m.convChannels), z = sc.z.rows(n, width: m.valueWidth)
        switch W.input {
        case .joined(let w):
            let qkvz = sc.qkvz.rows(n, width: m.qkvzWidth)
            gemm(qkvz, w, y, pool: pool)
            split(m, qkvz: qkvz, into: mixed, z: z)
        case .split(let qkv, let zw):
            gemm(mixed, qkv, y, pool: pool)
            gemm(z, zw, y, pool: pool)
        }
        let ba = sc.ba.rows(n, width: m.baWidth)
        gemm(ba, W.ba, y, pool: pool)
        let g = sc.g.rows(n, width: m.valueHeads), beta = sc.beta.rows(n, width: m.valueHeads)
        decayAndBeta(m, ba: ba, g: g, beta: beta, W)
        let conv = sc.conv.rows(n, width: m.convChannels), core = sc.core.rows(n, width: m.valueWidth)
        let q = sc.q.rows(n, width: m.keyWidth), k = sc.k.rows(n, width: m.keyWidth), v = sc.v.rows(n, width: m.valueWidth)
        // Each run of rows continues one sequence's state: the whole batch (a prompt, one token), or one row per
        // sequence (`step`). A run at position 0 starts from zero state.
        let runs: [(rows: Range<Int>, state: DeltaNetState, position: Int)] = switch placement {
        case .run(let start): [(0..<n, cache.deltaNet[l]!, start)]
        case .rows(let rows): rows.enumerated().map { r, row in (r..<(r + 1), row.sequence.cache.deltaNet[l]!, row.position) }
        }
        for run in runs {
            if run.position == 0 { run.state.clear() }
            causalConv1d(conv.rows(run.rows), mixed.rows(run.rows), state: run.state.conv, weight: W.conv, kernel: m.convKernel)
        }
        // q, k, v out of the conv's output; q and k L2-normalised per head, q also scaled by 1/√dk.
        copyColumns(q, at: 0, from: conv, at: 0, width: m.keyWidth)
        copyColumns(k, at: 0, from: conv, at: m.keyWidth, width: m.keyWidth)
        copyColumns(v, at: 0, from: conv, at: 2 * m.keyWidth, width: m.valueWidth)
        l2normalize(q.reshaped(width: m.keyDim), eps: 1e-6, scale: 1 / Float(m.keyDim).squareRoot())
        l2normalize(k.reshaped(width: m.keyDim), eps: 1e-6)
        for run in runs {
            let r = run.rows
            gatedDeltaRule(core.rows(r), q: q.rows(r), k: k.rows(r), v: v.rows(r), g: g.rows(r), beta: beta.rows(r),
                           state: run.state.recurrent, kHeads: m.keyHeads, dk: m.keyDim)
        }
        // The gated norm, per value head: rmsnorm(o_h) · w ⊙ silu(z_h).
        let heads = core.reshaped(width: m.valueDim)
        rmsnorm(heads, heads, W.norm, eps: spec.eps)
        siluMul(core, z, core)
        gemm(o, W.out, core, pool: pool)
    }

    /// transformers' `fix_query_key_value_ordering`: `in_proj_qkvz` rows come per key head as
    /// [q (dk), k (dk), v (r · dv), z (r · dv)], r = valueHeads / keyHeads. Gathers the conv's input `mixed` =
    /// [q of every head, k of every head, v of every head] and `z`.
    private func split(_ m: DeltaNetSpec, qkvz: Rows, into mixed: Rows, z: Rows) {
        let r = m.valueHeads / m.keyHeads, dk = m.keyDim, rv = r * m.valueDim, group = 2 * dk + 2 * rv
        for h in 0..<m.keyHeads {
            let from = h * group
            copyColumns(mixed, at: h * dk, from: qkvz, at: from, width: dk)
            copyColumns(mixed, at: m.keyWidth + h * dk, from: qkvz, at: from + dk, width: dk)
            copyColumns(mixed, at: 2 * m.keyWidth + h * rv, from: qkvz, at: from + 2 * dk, width: rv)
            copyColumns(z, at: h * rv, from: qkvz, at: from + 2 * dk + rv, width: rv)
        }
    }

    /// `in_proj_ba` rows come per key head as [b (r), a (r)]: the decay g = −exp(A_log) · softplus(a + dt_bias) and
    /// β = σ(b) of every value head.
    private func decayAndBeta(_ m: DeltaNetSpec, ba: Rows, g: Rows, beta: Rows, _ W: DeltaNetWeights) {
        let r = m.valueHeads / m.keyHeads
        for t in 0..<ba.count {
            for h in 0..<m.valueHeads {
                let group = h / r, j = h % r
                let b = ba[t * m.baWidth + group * 2 * r + j], a = ba[t * m.baWidth + group * 2 * r + r + j]
                beta[t * m.valueHeads + h] = 1 / (1 + expf(-b))
                g[t * m.valueHeads + h] = W.negA[h] * softplus(a + W.dtBias[h])
            }
        }
    }
}

/// torch's `F.softplus` (β 1, threshold 20): log(1 + eˣ), or x itself above 20.
func softplus(_ x: Float) -> Float { x > 20 ? x : log1pf(expf(x)) }
