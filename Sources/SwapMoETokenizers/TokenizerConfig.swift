// tokenizer_config.json: what transformers' AutoTokenizer layers on top of tokenizer.json.
//
// By default tokenizer.json's pipeline is used as written, as the `tokenizers` library and transformers 4 do (and,
// for a converted SentencePiece model, as `sentencepiece` itself encodes); tokenizer_config.json adds its
// `added_tokens_decoder` entries and the named special tokens (bos/eos/unk/pad, with the class's defaults).
// With transformers 5, a model-specific tokenizer class named in `tokenizer_class` (LlamaTokenizer, Qwen2Tokenizer,
// GPT2Tokenizer, GPTNeoXTokenizer) keeps tokenizer.json's vocabulary, merges and post-processor but rebuilds the
// normalizer, pre-tokenizer and decoder itself; `TransformersProfile` reproduces those pipelines for
// `TokenizerCompatibility.transformers5`. `add_bos_token` / `add_eos_token` are read but, as in transformers 5,
// have no effect when tokenizer.json is present (its post-processor decides BOS/EOS). (transformers 4's
// LlamaTokenizerFast rebuilt the template from them; in the mistral-v1 fixture they agree with it.)

struct TokenizerConfig: Sendable {
    var tokenizerClass: String?
    var addBosToken: Bool?
    var addEosToken: Bool?
    var bosToken: String?
    var eosToken: String?
    var unkToken: String?
    var padToken: String?
    var cleanUpTokenizationSpaces: Bool = false
    var cleanUpForBPE: Bool = false
    var legacy: Bool?
    var addPrefixSpace: Bool?
    var addedTokens: [AddedToken] = []
    /// Whether `added_tokens_decoder` is present (then transformers uses it instead of tokenizer.json's list).
    var hasAddedTokensDecoder = false
    /// Keys present in the file (to tell `"bos_token": null` from a missing key).
    var presentKeys: Set<String> = []

    init() {}

    init(data: [UInt8]) throws {
        let file = "tokenizer_config.json"
        let f = try JSONFields(try parseTokenizerFile(data, file: file), path: "", file: file)
        presentKeys = Set(f.object.keys)
        tokenizerClass = try f.optionalString("tokenizer_class")
        func optionalBool(_ key: String) throws -> Bool? { f.has(key) ? try f.bool(key, default: false) : nil }
        addBosToken = try optionalBool("add_bos_token")
        addEosToken = try optionalBool("add_eos_token")
        legacy = try optionalBool("legacy")
        addPrefixSpace = try optionalBool("add_prefix_space")
        cleanUpTokenizationSpaces = try f.bool("clean_up_tokenization_spaces", default: false)
        cleanUpForBPE = try f.bool("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", default: false)
        func tokenName(_ key: String) throws -> String? {
            guard let v = f.object[key], !v.isNull else { return nil }
            if let s = v.stringValue { return s }
            if let c = v["content"]?.stringValue { return c }
            throw TokenizerError.invalidField(file: file, path: key, expected: "must be a string or an object with \"content\"")
        }
        bosToken = try tokenName("bos_token")
        eosToken = try tokenName("eos_token")
        unkToken = try tokenName("unk_token")
        padToken = try tokenName("pad_token")
        if let decoder = f.object["added_tokens_decoder"]?.objectValue {
            hasAddedTokensDecoder = true
            for (key, value) in zip(decoder.keys, decoder.values) {
                guard let id = Int(key) else {
                    throw TokenizerError.invalidField(file: file, path: "added_tokens_decoder.\(key)", expected: "must be keyed by integer ids")
                }
                let tf = try JSONFields(value, path: "added_tokens_decoder.\(key)", file: file)
                let special = try tf.bool("special", default: false)
                addedTokens.append(AddedToken(id: id, content: try tf.string("content"), special: special,
                                              singleWord: try tf.bool("single_word", default: false),
                                              lstrip: try tf.bool("lstrip", default: false),
                                              rstrip: try tf.bool("rstrip", default: false),
                                              normalized: try tf.bool("normalized", default: !special)))
            }
        }
    }

    /// `tokenizer_class` without the historical "Fast" suffix.
    var baseClassName: String? {
        guard let c = tokenizerClass else { return nil }
        return c.hasSuffix("Fast") ? String(c.dropLast(4)) : c
    }
}

/// Which reference a `Tokenizer` reproduces where they disagree about a tokenizer.json declared with a
/// model-specific `tokenizer_class`.
public enum TokenizerCompatibility: Sendable {
    /// tokenizer.json's normalizer, pre-tokenizer, model and decoder as written: the `tokenizers` library
    /// (`Tokenizer.from_file`) and transformers 4's AutoTokenizer. For a Llama/Mistral SentencePiece tokenizer.json
    /// (Prepend("▁") + Replace(" ", "▁")) this is also what `sentencepiece`, which trained those models, gives:
    /// " Hello" is `["▁", "▁Hello"]`, and text after a special token gets its "▁" too.
    case tokenizers
    /// transformers 5's AutoTokenizer, whose LlamaTokenizer, Qwen2Tokenizer, GPT2Tokenizer and GPTNeoXTokenizer
    /// replace tokenizer.json's normalizer, pre-tokenizer and decoder by their own and take tokenizer_config.json's
    /// `added_tokens_decoder` as the added vocabulary. For the Llama/Mistral layout above its Metaspace
    /// pre-tokenizer adds no "▁" to text that starts with a space, so " Hello" becomes `["▁Hello"]` and
    /// `"<s> x"` loses the space after `<s>` (transformers 5.24 and 5.25).
    case transformers5
}

/// Pipelines that transformers 5's model-specific tokenizer classes build instead of tokenizer.json's.
enum TransformersProfile: String {
    case llama = "LlamaTokenizer"
    case qwen2 = "Qwen2Tokenizer"
    case gpt2 = "GPT2Tokenizer"
    case gptNeoX = "GPTNeoXTokenizer"

    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The profile AutoTokenizer would use, or nil when it loads tokenizer.json as it is.
    static func resolve(config: TokenizerConfig, tokenizerJSONIsByteLevel: Bool) -> TransformersProfile? {
        guard let name = config.baseClassName, let profile = TransformersProfile(rawValue: name) else { return nil }
        // AutoTokenizer loads byte-level tokenizer.json files declared as LlamaTokenizer (Llama 3) with the generic backend.
        if profile == .llama && tokenizerJSONIsByteLevel { return nil }
        return profile
    }

    func normalizer() -> Normalizer? {
        switch self {
        case .llama, .gpt2: return nil
        case .qwen2, .gptNeoX: return .nfc
        }
    }

    func preTokenizer(config: TokenizerConfig) throws -> PreTokenizer {
        switch self {
        case .llama:
            let addPrefixSpace = config.addPrefixSpace ?? true
            let scheme: PrependScheme = addPrefixSpace ? ((config.legacy ?? false) ? .always : .first) : .never
            return .metaspace(replacement: "▁", prependScheme: scheme, split: false)
        case .qwen2:
            return .sequence([
                .split(pattern: try BacktrackingRegex(TransformersProfile.qwen2Pattern), behavior: .isolated, invert: false),
                .byteLevel(addPrefixSpace: config.addPrefixSpace ?? false, useRegex: false),
            ])
        case .gpt2, .gptNeoX:
            return .byteLevel(addPrefixSpace: config.addPrefixSpace ?? false, useRegex: true)
        }
    }

    func decoder(config: TokenizerConfig) -> TokenDecoder {
        switch self {
        case .llama:
            var items: [TokenDecoder] = [.replace(pattern: LiteralPattern(needle: ["▁"]), content: [" "]), .byteFallback, .fuse]
            if config.addPrefixSpace ?? true { items.append(.strip(content: " ", start: 1, stop: 0)) }
            return .sequence(items)
        case .qwen2, .gpt2, .gptNeoX:
            return .byteLevel
        }
    }

    func modelOverrides() -> BPEModel.Overrides {
        var o = BPEModel.Overrides()
        o.unkToken = .some(nil)
        o.ignoreMerges = false
        o.continuingSubwordPrefix = .some(nil)
        o.endOfWordSuffix = .some(nil)
        switch self {
        case .llama:
            o.fuseUnk = true
            o.byteFallback = true
        case .qwen2, .gpt2, .gptNeoX:
            o.fuseUnk = false
            o.byteFallback = false
        }
        return o
    }

    /// Default special tokens of the class (used when tokenizer_config.json does not name them).
    var defaultSpecialTokens: (bos: String?, eos: String?, unk: String?, pad: String?) {
        switch self {
        case .llama: return ("<s>", "</s>", "<unk>", nil)
        case .qwen2: return (nil, "<|endoftext|>", "<|endoftext|>", "<|endoftext|>")
        case .gpt2: return ("<|endoftext|>", "<|endoftext|>", "<|endoftext|>", nil)
        case .gptNeoX: return ("<|endoftext|>", "<|endoftext|>", "<|endoftext|>", "<|padding|>")
        }
    }
}
