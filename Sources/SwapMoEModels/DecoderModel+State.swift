import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

// The state a decoder model keeps besides its weights: the workspace, the KV cache of a sequence, the counters.

/// Float32 scratch owned by one model: sized once for the largest batch, never reallocated.
final class Workspace {
    let capacity: Int
    /// Rows of the expert buffers (gx g u dOut): `capacity`, or top-k if more (`expertRowCount(spec:capacity:)`).
    let expertRowCount: Int
    let x, xn, q, k, v, att, tmp, mo: FloatBuffer
    let gx, g, u, dOut, routerLogits, probs, norms: FloatBuffer
    /// Gated attention (Qwen3-Next): `q_proj`'s rows of query and gate per head, and the gates.
    let qGate, gate: FloatBuffer

    /// Float counts of every buffer, in the order `init` assigns them: the one statement of the workspace's size,
    /// used both to allocate and by the planner (`DecoderModel.runtimeBytes`).
    static func sizes(spec: DecoderSpec, capacity: Int, expertIntermediate: Int) -> [Int] {
        let h = spec.hidden, qd = spec.heads * spec.headDim, kvd = spec.kvHeads * spec.headDim
        let inter = max(expertIntermediate, spec.denseIntermediate, spec.sharedExpertIntermediate ?? 0)
        let e = max(spec.experts, 1)
        // gpt-oss's experts compute gate and up as one interleaved [2I] row, in `g`.
        let gate = spec.expertActivation == .swiGLU ? inter : max(inter, 2 * expertIntermediate)
        let gated = spec.gatedAttention ? qd : 0
        let expertRows = expertRowCount(spec: spec, capacity: capacity)
        let sizes = [h, h, qd, kvd, kvd, qd, max(h, qd), h].map { capacity * $0 }  // x xn q k v att tmp mo
            + [h, gate, inter, h].map { expertRows * $0 }                           // gx g u dOut
            + [e, e, 1, 2 * gated, gated].map { capacity * $0 }                     // routerLogits probs norms qGate gate
        return sizes.map { max($0, 16) }
    }

    static func bytes(spec: DecoderSpec, capacity: Int, expertIntermediate: Int) -> Int {
        sizes(spec: spec, capacity: capacity, expertIntermediate: expertIntermediate).reduce(0, +) * MemoryLayout<Float>.stride
    }

    /// Rows of the expert buffers (gx g u dOut): a batch's tokens, or one row per expert of a decoded token, each
    /// expert computing in its own rows (`DecoderModel.serve`).
    static func expertRowCount(spec: DecoderSpec, capacity: Int) -> Int { max(capacity, spec.expertsPerToken) }

    /// Rows `slot..<(slot + count)` of an expert buffer (gx g u dOut) as rows of `width`: an expert's scratch when a
    /// decoded token's experts run at once (slot j for the j-th), or a batch's (slot 0).
    func expertRows(_ buffer: FloatBuffer, slot: Int, count: Int, width: Int) -> Rows {
        buffer.rows(slot + count, width: width).rows(slot..<(slot + count))
    }

    init(spec: DecoderSpec, capacity: Int, expertIntermediate: Int) {
        self.capacity = capacity
        expertRowCount = Workspace.expertRowCount(spec: spec, capacity: capacity)
        let all = Workspace.sizes(spec: spec, capacity: capacity, expertIntermediate: expertIntermediate).map { FloatBuffer(count: $0) }
        (x, xn, q, k, v, att, tmp, mo) = (all[0], all[1], all[2], all[3], all[4], all[5], all[6], all[7])
        (gx, g, u, dOut, routerLogits, probs, norms) = (all[8], all[9], all[10], all[11], all[12], all[13], all[14])
        (qGate, gate) = (all[15], all[16])
    }
}

/// Keys and values of every layer, f32: per layer `[rows, stride]`. A full-attention layer keeps all `context`
/// positions; a sliding layer of window W keeps a ring of W + batch - 1 rows (position p at row p % rows), which
/// holds every key a batch of up to `batch` new positions attends to while it is written (gpt-oss-20b at 32k
/// context: half its layers keep 191 rows instead of 32768).
final class KVCache: @unchecked Sendable {
    let keys: [Rows]
    let values: [Rows]
    /// Rows of each layer: `context`, or a sliding layer's ring.
    let rows: [Int]
    /// Whether layer l keeps a ring (fewer rows than `context`).
    let isRing: [Bool]
    /// How many positions a sequence may be cut back by (`truncate`) with every ring still holding what the next
    /// positions attend to: `batch` when a layer keeps a ring, else unlimited.
    let cutSlack: Int

    /// Each Gated DeltaNet layer's conv inputs and recurrent state (Qwen3-Next; nil for attention layers).
    let deltaNet: [DeltaNetState?]

    /// Rows of `cacheWidths.key` and `.value` floats (`DecoderSpec.cacheWidths`: MLA's compressed cache has no values).
    init(spec: DecoderSpec, context: Int, batch: Int) {
        let widths = spec.cacheWidths
        let rows = KVCache.rows(spec: spec, context: context, batch: batch)
        self.rows = rows
        keys = rows.map { FloatBuffer(rows: $0, width: widths.key, hugePages: true).rows($0, width: widths.key) }
        values = rows.map { FloatBuffer(rows: $0, width: widths.value, hugePages: true).rows($0, width: widths.value) }
        isRing = rows.indices.map { rows[$0] < context && !spec.isLinear($0) }
        deltaNet = (0..<spec.layers).map { l in spec.deltaNet.flatMap { spec.isLinear(l) ? DeltaNetState($0) : nil } }
        // A recurrent state holds only the latest position: nothing can be cut back.
        cutSlack = spec.deltaNet != nil ? 0 : isRing.contains(true) ? batch : .max
    }

    /// Rows per layer: `context`, a sliding layer's ring, or none for a DeltaNet layer.
    static func rows(spec: DecoderSpec, context: Int, batch: Int) -> [Int] {
        spec.window.enumerated().map { l, w in spec.isLinear(l) ? 0 : w.map { min(context, $0 + max(batch, 1) - 1) } ?? context }
    }

    /// The KV rows, plus every DeltaNet layer's state (what `plan` counts per sequence).
    static func bytes(spec: DecoderSpec, context: Int, batch: Int) -> Int {
        let widths = spec.cacheWidths
        let recurrent = spec.deltaNet.map { $0.layers.count * $0.stateFloats } ?? 0
        return (rows(spec: spec, context: context, batch: batch).reduce(0, +) * (widths.key + widths.value) + recurrent) * 4
    }

    /// Zeroes every DeltaNet state (a sequence starting over).
    func clearRecurrentState() { for s in deltaNet { s?.clear() } }
}

/// One sequence's state: its KV cache and how many positions of it are filled. A model runs one sequence at a
/// time (`use`); a server keeps one per conversation slot and switches between them token by token, so each
/// slot keeps its own context (and can reuse it when the next prompt extends it) while sharing the weights and
/// the experts. Only the thread driving the model touches it (the model is not thread-safe either).
public final class DecoderSequence: @unchecked Sendable {
    let cache: KVCache
    /// Positions filled: the next token goes here.
    public internal(set) var position = 0
    /// Positions this sequence holds at most.
    public let context: Int

    init(spec: DecoderSpec, context: Int, batch: Int) {
        self.context = context
        cache = KVCache(spec: spec, context: context, batch: batch)
    }

    /// Bytes of one sequence's KV cache for a model running batches of `batch` (for the memory planner).
    public static func bytes(spec: DecoderSpec, context: Int, batch: Int = DecoderModel.defaultBatch) -> Int {
        KVCache.bytes(spec: spec, context: context, batch: batch)
    }
}

/// Counters of one model instance, for the stats line.
public struct ForwardStats: Sendable {
    public var tokens = 0
    public var expertCalls = 0
}
