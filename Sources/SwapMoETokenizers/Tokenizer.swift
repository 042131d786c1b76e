// The public facade: load tokenizer.json (+ tokenizer_config.json), encode and decode like
// `AutoTokenizer.from_pretrained(path)` with the Hugging Face `tokenizers` backend.

import Foundation

/// A Hugging Face tokenizer read from `tokenizer.json`, optionally with `tokenizer_config.json`.
///
/// `encode` equals `AutoTokenizer(path)(text)["input_ids"]` and `decode` equals `tokenizer.decode(ids)` of
/// transformers 4, which is the `tokenizers` library reading tokenizer.json plus tokenizer_config.json's added and
/// named special tokens. Where transformers 5 rebuilds the pipeline of a model-specific class and gives other ids,
/// `TokenizerCompatibility.transformers5` reproduces it instead. Immutable and safe to share between threads.
public final class Tokenizer: Sendable {
    let normalizer: Normalizer?
    let preTokenizer: PreTokenizer?
    let model: any TokenizerModel
    let postProcessor: PostProcessor?
    let decoder: TokenDecoder?
    let addedVocabulary: AddedVocabulary
    let cleanUpTokenizationSpaces: Bool
    private let specialContents: Set<WordKey>

    /// Number of distinct tokens, model vocabulary plus added tokens (`len(tokenizer)` in transformers).
    public let vocabSize: Int
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    /// The EOS id followed by other end-of-turn special tokens present in the vocabulary (`<|im_end|>`, `<|eot_id|>`, ...).
    public let eosTokenIds: [Int]
    /// Ids of all special added tokens (skipped by `decode(_:skipSpecialTokens: true)`).
    public let specialTokenIds: [Int]
    /// "byte-level BPE", "SentencePiece-style BPE", "BPE" or "SentencePiece Unigram".
    public let kind: String

    /// Loads `tokenizer.json` and, when present next to it, `tokenizer_config.json` from a directory.
    public convenience init(directory: URL, compatibility: TokenizerCompatibility = .tokenizers) throws {
        let tokenizerURL = directory.appendingPathComponent("tokenizer.json")
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        let data: Data
        do {
            data = try Data(contentsOf: tokenizerURL)
        } catch {
            throw TokenizerError.unreadableFile(path: tokenizerURL.path, reason: error.localizedDescription)
        }
        let config = FileManager.default.fileExists(atPath: configURL.path) ? try? Data(contentsOf: configURL) : nil
        try self.init(tokenizerJSON: data, tokenizerConfigJSON: config, compatibility: compatibility)
    }

    public init(tokenizerJSON: Data, tokenizerConfigJSON: Data? = nil,
                compatibility: TokenizerCompatibility = .tokenizers) throws {
        let json = try TokenizerJSON(data: [UInt8](tokenizerJSON))
        let config = try tokenizerConfigJSON.map { try TokenizerConfig(data: [UInt8]($0)) }

        var normalizer = try Normalizer.from(json: json.normalizer)
        var preTokenizer = try PreTokenizer.from(json: json.preTokenizer)
        var decoder = try TokenDecoder.from(json: json.decoder)
        let postProcessor = try PostProcessor.from(json: json.postProcessor)
        let jsonIsByteLevel = preTokenizer?.containsByteLevel == true || decoder.map { Tokenizer.isByteLevel($0) } == true
        // The class named in tokenizer_config.json supplies default special-token names in every mode; only
        // transformers 5 also replaces tokenizer.json's pipeline with the class's own.
        let profile = config.flatMap { TransformersProfile.resolve(config: $0, tokenizerJSONIsByteLevel: jsonIsByteLevel) }
        let rebuilt = compatibility == .transformers5 ? profile : nil

        let model = try makeModel(json: json.model, overrides: rebuilt?.modelOverrides() ?? BPEModel.Overrides())
        if let rebuilt, let config {
            normalizer = rebuilt.normalizer()
            preTokenizer = try rebuilt.preTokenizer(config: config)
            decoder = rebuilt.decoder(config: config)
        }

        // Added tokens: tokenizer.json's list plus tokenizer_config.json's `added_tokens_decoder` entries it lacks;
        // a class rebuilt by transformers 5 takes `added_tokens_decoder` instead when there is one.
        var added = try json.addedTokens.arrayValue.map { items in
            try items.enumerated().map { try AddedToken(json: $1, path: "added_tokens[\($0)]") }
        } ?? []
        if let config {
            if rebuilt != nil && config.hasAddedTokensDecoder {
                added = config.addedTokens
            } else {
                let have = Set(added.map { WordKey(bytes: Array($0.content.utf8)) })
                added += config.addedTokens.filter { !have.contains(WordKey(bytes: Array($0.content.utf8))) }
            }
        }

        // Named special tokens (bos/eos/unk/pad) are added as special tokens when missing, as transformers does.
        func name(_ key: String, _ fallback: String?) -> String? {
            guard let config else { return nil }
            if config.presentKeys.contains(key) {
                switch key {
                case "bos_token": return config.bosToken
                case "eos_token": return config.eosToken
                case "unk_token": return config.unkToken
                default: return config.padToken
                }
            }
            return profile == nil ? nil : fallback
        }
        let defaults: (bos: String?, eos: String?, unk: String?, pad: String?) = profile?.defaultSpecialTokens ?? (nil, nil, nil, nil)
        let bosName = name("bos_token", defaults.bos)
        let eosName = name("eos_token", defaults.eos)
        let namedTokens = [bosName, eosName, name("unk_token", defaults.unk), name("pad_token", defaults.pad)].compactMap { $0 }
        for tokenName in namedTokens where !tokenName.isEmpty {
            let key = WordKey(bytes: Array(tokenName.utf8))
            if let i = added.firstIndex(where: { WordKey(bytes: Array($0.content.utf8)) == key }) {
                if !added[i].special {
                    let t = added[i]
                    added[i] = AddedToken(id: t.id, content: t.content, special: true, singleWord: t.singleWord,
                                          lstrip: t.lstrip, rstrip: t.rstrip, normalized: t.normalized)
                }
                continue
            }
            // The id is assigned by `assignIds` (the model's id, or the next free one).
            added.append(AddedToken(id: -1, content: tokenName, special: true))
        }
        let addedVocabulary = AddedVocabulary(tokens: Tokenizer.assignIds(added, model: model), normalizer: normalizer)

        func idOf(_ token: String?) -> Int? {
            guard let token else { return nil }
            return addedVocabulary.id(forContent: token) ?? model.tokenToId(token)
        }

        // transformers 5 drops tokenizer_config.json's add_bos_token / add_eos_token whenever tokenizer.json exists
        // (PreTrainedTokenizerBase._from_pretrained), so BOS/EOS come from tokenizer.json's post-processor alone.

        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.model = model
        self.postProcessor = postProcessor
        self.decoder = decoder
        self.addedVocabulary = addedVocabulary
        // transformers skips clean_up_tokenization_spaces for BPE models unless explicitly forced.
        cleanUpTokenizationSpaces = (config?.cleanUpTokenizationSpaces ?? false) && (!(model is BPEModel) || (config?.cleanUpForBPE ?? false))
        specialContents = Set(addedVocabulary.tokens.filter(\.special).map { WordKey(bytes: Array($0.content.utf8)) })

        var size = model.vocabCount
        for t in addedVocabulary.tokens where model.tokenToId(t.content) == nil { size += 1 }
        vocabSize = size

        let specials = addedVocabulary.tokens.filter(\.special)
        specialTokenIds = specials.map(\.id).sorted()
        func specialId(_ candidates: [String]) -> Int? {
            for c in candidates {
                if let t = specials.first(where: { $0.content == c }) { return t.id }
            }
            return nil
        }
        let bos: Int?
        if config != nil {
            bos = idOf(bosName)
        } else {
            bos = postProcessor?.leadingSpecialIds.first ?? specialId(["<s>", "<|begin_of_text|>", "<bos>"])
        }
        let eos: Int? = config != nil ? idOf(eosName) : specialId(["</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"])
        bosTokenId = bos
        eosTokenId = eos
        var eosIds = eos.map { [$0] } ?? []
        for t in ["<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "<|end_of_text|>"] {
            if let id = specialId([t]), !eosIds.contains(id) { eosIds.append(id) }
        }
        eosTokenIds = eosIds

        if model is UnigramModel {
            kind = "SentencePiece Unigram"
        } else if jsonIsByteLevel || preTokenizer?.containsByteLevel == true {
            kind = "byte-level BPE"
        } else if decoder?.containsByteFallback == true || model.byteFallback {
            kind = "SentencePiece-style BPE"
        } else {
            kind = "BPE"
        }
    }

    /// Ids as the Rust library assigns them when it adds the tokens in order (`AddedVocabulary::add_tokens`): a
    /// content already known keeps its id, otherwise the next id after the vocabulary / the largest added id. For a
    /// consistent tokenizer.json these are the ids written in the file.
    static func assignIds(_ tokens: [AddedToken], model: any TokenizerModel) -> [AddedToken] {
        var assigned: [WordKey: Int] = [:]
        var maxId: Int?
        let vocabCount = model.vocabCount
        var out: [AddedToken] = []
        for t in tokens where !t.content.isEmpty {
            let key = WordKey(bytes: Array(t.content.utf8))
            let id: Int
            if let known = assigned[key] ?? model.tokenToId(t.content) {
                id = known
            } else if let m = maxId, m >= vocabCount || vocabCount == 0 {
                id = m + 1
            } else {
                id = vocabCount
            }
            assigned[key] = id
            maxId = max(maxId ?? id, id)
            out.append(AddedToken(id: id, content: t.content, special: t.special, singleWord: t.singleWord,
                                  lstrip: t.lstrip, rstrip: t.rstrip, normalized: t.normalized))
        }
        return out
    }

    private static func isByteLevel(_ d: TokenDecoder) -> Bool {
        switch d {
        case .byteLevel: return true
        case let .sequence(items): return items.contains { isByteLevel($0) }
        default: return false
        }
    }

    // MARK: Encoding

    /// Token ids of `text`; with `addSpecialTokens` the post-processor adds BOS/EOS etc. as transformers does.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        let segments = addedVocabulary.extractAndNormalize(Array(text.unicodeScalars), normalizer: normalizer)
        for segment in segments {
            switch segment {
            case let .token(id):
                ids.append(id)
            case let .text(scalars, isFirst):
                let piece = PreToken(text: scalars, isFirst: isFirst)
                if let preTokenizer {
                    for word in preTokenizer.preTokenize([piece]) { model.tokenize(word.text, into: &ids) }
                } else {
                    model.tokenize(scalars, into: &ids)
                }
            }
        }
        if addSpecialTokens, let postProcessor { ids = postProcessor.process(ids) }
        return ids
    }

    /// The token strings of `encode(text, addSpecialTokens:)`.
    public func tokenize(_ text: String, addSpecialTokens: Bool = false) -> [String] {
        encode(text, addSpecialTokens: addSpecialTokens).map { idToToken($0) ?? "" }
    }

    // MARK: Decoding

    /// Text of `ids`, equal to transformers' `tokenizer.decode(ids, skip_special_tokens:)`. Unknown ids are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        let text = decodeRaw(ids, skipSpecialTokens: skipSpecialTokens)
        return cleanUpTokenizationSpaces ? Tokenizer.cleanUp(text) : text
    }

    /// Decoding without transformers' clean-up step.
    func decodeRaw(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            guard let token = idToToken(id) else { continue }
            if skipSpecialTokens && isSpecial(token) { continue }
            tokens.append(token)
        }
        if let decoder { return decoder.decode(tokens) }
        return tokens.joined(separator: " ")
    }

    func isSpecial(_ token: String) -> Bool {
        !specialContents.isEmpty && specialContents.contains(WordKey(bytes: Array(token.utf8)))
    }

    /// transformers' `clean_up_tokenization`.
    static let cleanUpRules: [(String, String)] = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                                                   (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]

    static func cleanUp(_ text: String) -> String {
        var s = Array(text.unicodeScalars)
        for (a, b) in cleanUpRules {
            s = Normalizer.replaceAll(s, pattern: LiteralPattern(needle: Array(a.unicodeScalars)), with: Array(b.unicodeScalars))
        }
        var out = String()
        out.unicodeScalars.append(contentsOf: s)
        return out
    }

    /// A decoder that takes one id at a time and returns the newly completed text.
    public func makeStreamingDecoder(skipSpecialTokens: Bool = false) -> StreamingDecoder {
        StreamingDecoder(tokenizer: self, skipSpecialTokens: skipSpecialTokens)
    }

    // MARK: Vocabulary

    public func idToToken(_ id: Int) -> String? {
        addedVocabulary.tokenString(forId: id) ?? model.idToToken(id)
    }

    public func tokenToId(_ token: String) -> Int? {
        addedVocabulary.id(forContent: token) ?? model.tokenToId(token)
    }

    /// Whether `id` is a special added token.
    public func isSpecialToken(_ id: Int) -> Bool { addedVocabulary.specialIds.contains(id) }

    /// One line for `inspect`: kind, vocabulary size, special tokens.
    public var summary: String {
        func named(_ id: Int?) -> String {
            guard let id else { return "none" }
            return "\(idToToken(id).map { $0.debugDescription } ?? "?")=\(id)"
        }
        let specials = specialTokenIds.prefix(8).map { named($0) }.joined(separator: ", ")
        let more = specialTokenIds.count > 8 ? ", … (\(specialTokenIds.count) in all)" : ""
        return "\(kind), vocab \(vocabSize) (\(model.vocabCount) model + \(vocabSize - model.vocabCount) added), bos \(named(bosTokenId)), eos \(named(eosTokenId)), special: [\(specials)\(more)]"
    }
}
