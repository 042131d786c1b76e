import Foundation
import SwapMoECore
import SwapMoEArchive
import SwapMoEModels
import SwapMoETokenizers
import SwapMoEEngine

/// An archive opened for inference: the model with its experts served under the chosen policy and cap, and the
/// embedded tokenizer. A decoder-only archive gets a `DecoderModel`; an encoder-decoder one (when `accept` allows
/// it) a `Seq2SeqModel`. `generate` runs either kind.
///
/// ```swift
/// var options = SessionOptions(archive: "mixtral.swm")
/// options.maxRSS = 8 << 30
/// let session = try Session(options: options)
/// let result = try session.generate("Once upon a time", maxNewTokens: 64, sampler: .greedy) { _, text in
///     print(text, terminator: ""); return true
/// }
/// ```
///
/// Thread safety: `generate`, `perplexity`, `targetPerplexity` and `reset` take an internal lock, so one of them
/// runs at a time and the models, which are not thread-safe, are driven by one thread at a time; that is why the
/// class is `@unchecked Sendable` (and `generateStream` can run generation on a thread of its own). Generation
/// in a slot (`generate(in:…)`) takes the lock once per step, in turn with the other slots' threads (a fair lock),
/// so several conversations progress together. Using `decoder` or `seq2seq` directly bypasses the lock: do it
/// only while no such call runs.
public final class Session: @unchecked Sendable {
    /// Which archives a caller accepts: decoder-only ones only (an encoder-decoder archive is then an error that
    /// names `command`), or either kind.
    public enum Accept: Sendable { case decoderOnly(command: String), any }

    public let archive: Archive
    /// Serves the experts under `policy`; its counters feed `expertStats`.
    public let experts: ExpertProvider
    /// The decoder-only model (sessions opened with `.decoderOnly` always have one), or nil.
    public let decoder: DecoderModel?
    /// The encoder-decoder model, or nil.
    public let seq2seq: Seq2SeqModel?
    /// The archive's tokenizer (`tokenizer.json`, with `tokenizer_config.json` when packed).
    public let tokenizer: Tokenizer
    /// How the cap is spent; nil without a cap.
    public let plan: MemoryPlan?
    /// The policy experts are served with (the chosen one, or the default for the cap).
    public let policy: Policy
    /// Seconds from the start of `init` until the model was ready.
    public let loadSeconds: Double
    /// The context the model was built with (see `fitContext`); for encoder-decoder models, the longest input
    /// and the most decoder positions.
    public let context: Int
    /// End-of-sequence ids: generation_config.json's `eos_token_id` (int or list), else config.json's, else the
    /// tokenizer's, as transformers' `generate` resolves them.
    public let eosTokenIds: Set<Int>
    /// Warnings given while opening (also passed to `init`'s `warn`), e.g. a context past the trained length.
    public let warnings: [String]

    /// Conversation slots (`SessionOptions.slots`; decoder-only models, else empty): each keeps its own KV cache
    /// and what it holds, so a prompt extending the slot's last conversation continues from there.
    public let slots: [GenerationSlot]

    /// Serialises the calls that drive the model, in the order they ask (see the type's documentation).
    let lock = FairLock()
    /// Decode steps of slots waiting for the lock; whoever takes it runs them as one batch (`Session+Slots`).
    let pendingSteps = StepQueue()
    /// `SessionOptions.batchSteps`.
    let batchSteps: Bool
    /// The sequence `generate`, `perplexity` and `reset` use: slot 0's.
    let mainSequence: DecoderSequence?

    /// Context of an encoder-decoder model when none is given (T5's relative positions have no trained maximum;
    /// 512 is T5's input length).
    public static let seq2seqContext = 512

    /// Opens `options.archive`: its config and tokenizer, the memory plan for `options.maxRSS`, the expert
    /// provider of the policy (running the static policy's calibration pass), and the model. `warn` sees each
    /// warning as it is given. Throws `SessionError`, `PlanError` or the archive's, model's or engine's errors.
    public init(options: SessionOptions, accept: Accept = .any, warn: (String) -> Void = { _ in }) throws {
        let start = monotonicSeconds()
        try options.validate()
        // What the process holds before the model: measured, so the plan accounts for it.
        let baseline = Int(ProcessMemory.currentRSS())
        archive = try Archive(path: options.archive)
        let config = try archive.modelConfig()
        if case .decoderOnly(let command) = accept, config.isEncoderDecoder {
            throw SessionError.encoderDecoder(command, config.family.rawValue)
        }
        if options.io == .mmap, let compressed = archive.experts.first(where: { $0.codec != .raw }) {
            throw SessionError.mmapNeedsRaw(archive.path, compressed.label)
        }
        tokenizer = try Session.loadTokenizer(archive)
        var o = options
        if config.isEncoderDecoder && !o.contextGiven { o.context = Session.seq2seqContext }
        let fitted = Session.fitContext(config, requested: o.contextGiven ? o.context : nil, preferred: o.context)
        if let w = fitted.warning { warn(w) }
        warnings = fitted.warning.map { [$0] } ?? []
        o.context = fitted.context
        o.contextGiven = true
        context = o.context
        if config.isEncoderDecoder, o.slots > 1 { throw SessionError.encoderDecoder("--parallel", config.family.rawValue) }
        var planner = try Session.makePlanner(archive, config: config, context: o.context, baseline: baseline, sequences: o.slots)
        planner.profile = try Session.loadProfile(o, archive: archive)
        planner.importanceWindow = o.window
        let policy = o.policy ?? planner.defaultPolicy(cap: o.maxRSS, ioThreads: o.ioThreads)
        if policy == .shadow, let cap = o.maxRSS {
            try Session.useShadows(o.shadow, planner: &planner, archive: archive, cap: cap, ioThreads: o.ioThreads, threads: o.threads)
        }
        let plan = try o.maxRSS.map { cap throws(PlanError) in try planner.plan(cap: cap, policy: policy, ioThreads: o.ioThreads) }
        self.policy = policy
        self.plan = plan
        experts = try Session.makeProvider(archive, config: config, policy: policy, plan: plan, planner: planner, options: o, tokenizer: tokenizer)
        if config.isEncoderDecoder {
            let model = try Seq2SeqModel(archive: archive, experts: experts, maxSource: o.context, maxTarget: o.context, threads: o.threads)
            model.prefetchDepth = o.prefetchDepth
            seq2seq = model
            decoder = nil
        } else {
            let model = try DecoderModel(archive: archive, experts: experts, context: o.context, threads: o.threads)
            model.prefetchDepth = o.prefetchDepth
            // Loading on demand, a long prompt's layers are best run one at a time over the whole prompt.
            model.layerMajorPrefill = policy == .exact
            decoder = model
            seq2seq = nil
        }
        mainSequence = decoder?.sequence
        batchSteps = o.batchSteps
        if let decoder, let main = mainSequence {
            slots = [GenerationSlot(index: 0, sequence: main)] + (1..<o.slots).map { GenerationSlot(index: $0, sequence: decoder.makeSequence()) }
        } else {
            slots = []
        }
        eosTokenIds = Session.eosTokenIds(archive, tokenizer: tokenizer)
        loadSeconds = monotonicSeconds() - start
    }

    /// Whether the archive holds an encoder-decoder model (`seq2seq`) rather than a decoder-only one (`decoder`).
    public var isEncoderDecoder: Bool { seq2seq != nil }

    /// Rows of the model's logits: its vocabulary size.
    public var vocabSize: Int { decoder?.spec.vocab ?? seq2seq!.config.vocabSize }

    /// Token ids of `text`, with the tokenizer's default special tokens (as transformers' AutoTokenizer).
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        tokenizer.encode(text, addSpecialTokens: addSpecialTokens)
    }

    /// The text of `ids`, without special tokens by default (as generated text is shown).
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = true) -> String {
        tokenizer.decode(ids, skipSpecialTokens: skipSpecialTokens)
    }

    /// Forgets the context: the next call starts at position 0 (each `generate` does this itself). Resident
    /// experts and the expert counters stay.
    public func reset() {
        exclusive {
            decoder?.reset()
            seq2seq?.resetDecoder()
        }
    }

    /// Runs `body` under the lock with the model on the main sequence (slot 0's, whose record it invalidates).
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        try lock.withLock {
            if let decoder, let mainSequence {
                decoder.use(mainSequence)
                slots[0].cached = []
            }
            return try body()
        }
    }

    static func loadTokenizer(_ archive: Archive) throws -> Tokenizer {
        guard let json = try archive.fileData("tokenizer.json") else { throw SessionError.noTokenizer(archive.path) }
        return try Tokenizer(tokenizerJSON: json, tokenizerConfigJSON: try archive.fileData("tokenizer_config.json"))
    }

    static func eosTokenIds(_ archive: Archive, tokenizer: Tokenizer) -> Set<Int> {
        func ids(_ v: JSONValue?) -> Set<Int>? {
            guard let v else { return nil }
            if let i = v.intValue { return [i] }
            if let a = v.arrayValue { return Set(a.compactMap(\.intValue)) }
            return nil
        }
        if let data = try? archive.fileData("generation_config.json"),
           let g = try? JSONDecoder().decode(JSONValue.self, from: data), let e = ids(g["eos_token_id"]) { return e }
        if let e = ids(archive.manifest.config["eos_token_id"]) { return e }
        return Set(tokenizer.eosTokenIds)
    }

    /// Reads a UTF-8 text file (a prompt, a calibration text); `SessionError.unreadable` if it cannot.
    public static func readText(_ path: String) throws(SessionError) -> String {
        guard let d = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        return String(decoding: d, as: UTF8.self)
    }
}
