import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEKernels

/// Counters of one sequence-to-sequence model instance.
public struct Seq2SeqStats: Sendable {
    public var encodedTokens = 0
    public var decodedTokens = 0
    public var expertCalls = 0
    /// Tokens that chose an expert already at its capacity (they got no expert output).
    public var droppedTokens = 0
}

/// The float32 memory of a seq2seq model besides its weights, allocated once: the workspace of one batch
/// (`capacity` rows: the whole source at once, since encoder attention is bidirectional), the encoder output,
/// cross-attention keys/values of every decoder block, the decoder's self-attention KV cache, and the per-head
/// relative-bias rows of one call.
final class Seq2SeqBuffers {
    let capacity: Int
    let x, xn, q, k, v, att, tmp, mo, gx, u, dOut, probs, norms: FloatBuffer
    let encoderOut, bias: FloatBuffer
    /// Per decoder block, `[maxSource, inner]` (cross) and `[maxTarget, inner]` (self) rows.
    let crossKeys, crossValues, selfKeys, selfValues: [Rows]

    /// Float counts of every buffer, in the order `init` assigns them: the one statement of the size, used to
    /// allocate and by the planner (`Seq2SeqModel.runtimeBytes`).
    static func sizes(_ c: SwitchTransformersConfig, capacity: Int, maxSource: Int, maxTarget: Int) -> [Int] {
        let h = c.dModel, inner = c.innerDim, e = c.numExperts
        let workspace = [h, h, inner, inner, inner, inner, max(h, inner), h, h, c.dFF, h, e, 1].map { capacity * $0 }
        let stacks = [maxSource * h, c.numHeads * max(2 * maxSource, maxTarget)]
        let perLayer = Array(repeating: maxSource * inner, count: 2 * c.decoderLayers)
            + Array(repeating: maxTarget * inner, count: 2 * c.decoderLayers)
        return (workspace + stacks + perLayer).map { max($0, 16) }
    }

    init(_ c: SwitchTransformersConfig, capacity: Int, maxSource: Int, maxTarget: Int) {
        self.capacity = capacity
        let all = Seq2SeqBuffers.sizes(c, capacity: capacity, maxSource: maxSource, maxTarget: maxTarget).map { FloatBuffer(count: $0) }
        (x, xn, q, k, v, att, tmp, mo, gx, u, dOut, probs, norms) =
            (all[0], all[1], all[2], all[3], all[4], all[5], all[6], all[7], all[8], all[9], all[10], all[11], all[12])
        (encoderOut, bias) = (all[13], all[14])
        let L = c.decoderLayers, inner = c.innerDim
        crossKeys = all[15..<(15 + L)].map { $0.rows(maxSource, width: inner) }
        crossValues = all[(15 + L)..<(15 + 2 * L)].map { $0.rows(maxSource, width: inner) }
        selfKeys = all[(15 + 2 * L)..<(15 + 3 * L)].map { $0.rows(maxTarget, width: inner) }
        selfValues = all[(15 + 3 * L)..<(15 + 4 * L)].map { $0.rows(maxTarget, width: inner) }
    }
}

/// An encoder-decoder Mixture-of-Experts model (Switch Transformers) running from an archive, with the experts
/// of both stacks supplied by one `ExpertProvider` (keys `ExpertKey(stack: "encoder" / "decoder", ...)`).
///
/// Use: `encode(input)` once per input (the encoder output and every decoder block's cross-attention keys and
/// values are computed here, once), then `decode(tokens)` from the decoder start token, feeding back each new
/// token; the decoder keeps a self-attention KV cache of up to `maxTarget` positions. `generate` does both.
/// The forward pass itself is in SwitchTransformers.swift.
public final class Seq2SeqModel {
    public let config: SwitchTransformersConfig
    public let archive: Archive
    public let experts: ExpertProvider
    public let pool: ThreadPool
    /// The longest input `encode` accepts and the most decoder positions (start token included).
    public let maxSource: Int
    public let maxTarget: Int
    /// Tokens of the current input (0 before the first `encode`).
    public private(set) var sourceLength = 0
    /// Decoder positions filled so far for the current input.
    public private(set) var position = 0
    public internal(set) var stats = Seq2SeqStats()
    /// Whether each sparse block applies the stack's next sparse block's router to its input and hints those
    /// experts to a provider that loads on demand (0, the default: no hints; 1 or more: the next sparse block).
    /// Off by default for the reason `DecoderModel.prefetchDepth` is.
    public var prefetchDepth = 0
    /// Decoder tokens per batch within one `decode` call.
    let decodeBatch: Int
    let encoder: SwitchStack
    let decoder: SwitchStack
    let lmHead: Matrix
    /// The huge-page copies the dense matrices point into (kept alive with the model).
    let denseMemory: [AnonymousMemory]
    /// d_model^-0.5 with tied embeddings (T5 rescales before the shared output projection), else 1.
    let outputScale: Float
    let ws: Seq2SeqBuffers
    /// Tokens routed to each expert in the current forward call, `[stack][layer][expert]`, for expert capacity.
    var load: [[[Int]]]

    var c: SwitchTransformersConfig { config }
    /// The encoder output of the current input's `s` tokens, `[s, d_model]`.
    func encoderOut(_ s: Int) -> Rows { ws.encoderOut.rows(s, width: c.dModel) }

    /// Decoder tokens run through the layers at once (longer `decode` calls are cut into batches of this size;
    /// expert capacity still counts over the whole call).
    public static let defaultBatch = 64

    public init(archive: Archive, experts: ExpertProvider, maxSource: Int, maxTarget: Int, threads: Int,
                batch: Int = Seq2SeqModel.defaultBatch) throws {
        let detected = try archive.modelConfig()
        guard let config = detected as? SwitchTransformersConfig else {
            throw ModelError.isDecoderOnly(family: type(of: detected).family.rawValue)
        }
        guard maxSource >= 1, maxTarget >= 1 else { throw ModelError.badConfig(family: config.family.rawValue, reason: "maxSource and maxTarget must be >= 1") }
        self.config = config
        self.archive = archive
        self.experts = experts
        self.maxSource = maxSource
        self.maxTarget = maxTarget
        pool = ThreadPool(threads: max(1, threads))
        let w = DenseWeights(archive: archive)
        encoder = try SwitchStack(.encoder, config: config, weights: w)
        decoder = try SwitchStack(.decoder, config: config, weights: w)
        if config.tieWordEmbeddings {
            lmHead = try w.matrix(["shared.weight", "decoder.embed_tokens.weight", "lm_head.weight"], rows: config.vocabSize, cols: config.dModel)
            outputScale = Float(pow(Double(config.dModel), -0.5))
        } else {
            lmHead = try w.matrix("lm_head.weight", rows: config.vocabSize, cols: config.dModel)
            outputScale = 1
        }
        decodeBatch = max(1, batch)
        ws = Seq2SeqBuffers(config, capacity: max(maxSource, decodeBatch), maxSource: maxSource, maxTarget: maxTarget)
        load = [encoder, decoder].map { s in s.blocks.map { _ in [Int](repeating: 0, count: config.numExperts) } }
        denseMemory = w.memory
    }

    /// Bytes this model allocates besides weights (for the memory planner): buffers and one batch of logits.
    public static func runtimeBytes(config: SwitchTransformersConfig, maxSource: Int, maxTarget: Int, batch: Int = defaultBatch) -> Int {
        let capacity = max(maxSource, batch)
        return (Seq2SeqBuffers.sizes(config, capacity: capacity, maxSource: maxSource, maxTarget: maxTarget).reduce(0, +)
            + min(batch, maxTarget) * config.vocabSize) * MemoryLayout<Float>.stride
    }

    private func check(_ tokens: [Int]) throws {
        if let bad = tokens.first(where: { $0 < 0 || $0 >= c.vocabSize }) { throw ModelError.badToken(bad, vocab: c.vocabSize) }
    }

    /// Runs the encoder over `ids` (whole, in one call: expert capacity counts over the input) and prepares the
    /// decoder's cross-attention. The decoder starts over at position 0.
    public func encode(_ ids: [Int]) throws {
        let s = ids.count, h = c.dModel
        guard s >= 1 else { throw ModelError.badConfig(family: c.family.rawValue, reason: "the input is empty") }
        guard s <= maxSource else { throw ModelError.inputTooLong(tokens: s, limit: maxSource) }
        try check(ids)
        sourceLength = 0
        position = 0
        for l in load[0].indices { for i in load[0][l].indices { load[0][l][i] = 0 } }
        let x = ws.x.rows(s, width: h)
        for (t, tok) in ids.enumerated() { encoder.embed.row(tok, into: x.row(t)) }
        // Offsets key - query span -(s - 1) ... s - 1.
        let from = -(s - 1)
        let bias = ws.bias.rows(c.numHeads, width: 2 * s - 1)
        encoder.biasByOffset(bias, from: from, config: c)
        for (l, B) in encoder.blocks.enumerated() {
            try encoderBlock(l, B, x, bias: bias, biasFrom: from)
        }
        norm(encoderOut(s), x, encoder.finalNorm)
        prepareCrossAttention(sourceTokens: s)
        sourceLength = s
        stats.encodedTokens += s
    }

    /// The encoder output of the current input (after the final norm), `[sourceLength, d_model]` row-major.
    public var encoderOutput: [Float] { encoderOut(sourceLength).array() }

    /// Forgets the decoded tokens: the next `decode` starts at position 0 (the encoder output stays).
    public func resetDecoder() { position = 0 }

    public enum Logits { case last, all }

    /// Runs decoder `tokens` from the current position (the first call of an input starts with
    /// `config.decoderStartTokenId`) and returns logits: `[vocab]` for `.last`, `[tokens, vocab]` for `.all`.
    /// One call is one transformers forward call: expert capacity counts over its tokens.
    public func decode(_ tokens: [Int], logits: Logits = .last) throws -> [Float] {
        guard !tokens.isEmpty else { return [] }
        precondition(sourceLength > 0, "encode an input before decoding")
        guard position + tokens.count <= maxTarget else { throw ModelError.contextFull(context: maxTarget) }
        try check(tokens)
        let h = c.dModel
        for l in load[1].indices { for i in load[1][l].indices { load[1][l][i] = 0 } }
        var out: [Float] = []
        var i = 0
        while i < tokens.count {
            let n = min(decodeBatch, tokens.count - i), start = position
            let y = ws.x.rows(n, width: h)
            for t in 0..<n { decoder.embed.row(tokens[i + t], into: y.row(t)) }
            // Causal: key - query offsets span -(start + n - 1) ... 0.
            let from = -(start + n - 1)
            let bias = ws.bias.rows(c.numHeads, width: start + n)
            decoder.biasByOffset(bias, from: from, config: c)
            for (l, B) in decoder.blocks.enumerated() {
                try decoderBlock(l, B, y, start: start, bias: bias, biasFrom: from)
            }
            position += n
            stats.decodedTokens += n
            if logits == .all {
                out += computeLogits(rows: 0..<n)
            } else if i + n == tokens.count {
                out = computeLogits(rows: (n - 1)..<n)
            }
            i += n
        }
        return out
    }

    /// logits = W_lm · (scale · n(y)) for `rows` of the current batch.
    private func computeLogits(rows: Range<Int>) -> [Float] {
        let h = c.dModel
        let y = ws.x.rows(rows, width: h), yn = ws.xn.rows(rows.count, width: h)
        norm(yn, y, decoder.finalNorm)
        if outputScale != 1 { scale(yn, by: outputScale) }
        return gemm(lmHead, yn, pool: pool)
    }

    /// Encodes `input` and decodes up to `maxNewTokens` tokens from the decoder start token, each picked by
    /// `sampler` (greedy at temperature 0), stopping after an end-of-sequence token (which is returned) or when
    /// `onToken` returns false. Returns the new tokens (without the start token), as transformers' `generate`.
    public func generate(_ input: [Int], maxNewTokens: Int, eos: Set<Int>, sampler: Sampler = Sampler(temperature: 0),
                         onToken: ((Int) -> Bool)? = nil) throws -> [Int] {
        try encode(input)
        var sampler = sampler
        var out: [Int] = []
        guard maxNewTokens > 0 else { return out }
        var logits = try decode([c.decoderStartTokenId])
        while true {
            let next = sampler.sample(logits)
            out.append(next)
            if eos.contains(next) || onToken?(next) == false || out.count >= maxNewTokens { break }
            logits = try decode([next])
        }
        return out
    }

    /// Teacher-forced negative log-likelihood of `target` given `input`: the decoder reads the start token
    /// followed by `target` minus its last token (transformers' `shift_right` of labels) in one call, and
    /// every target token is scored. Returns the summed NLL (nats) and the token count; `onRow` sees the logits
    /// of every target position in order.
    public func targetNLL(input: [Int], target: [Int], onRow: ((ArraySlice<Float>) throws -> Void)? = nil) throws -> (sum: Double, tokens: Int) {
        guard !target.isEmpty else { return (0, 0) }
        try encode(input)
        let logits = try decode([c.decoderStartTokenId] + target.dropLast(), logits: .all)
        var total = 0.0
        for (j, t) in target.enumerated() {
            let row = logits[(j * c.vocabSize)..<((j + 1) * c.vocabSize)]
            total += DecoderModel.nll(row, target: t)
            try onRow?(row)
        }
        return (total, target.count)
    }
}
