import SwapMoECore

/// A GGUF model's tokenizer as the Hugging Face files swapmoe's tokenizer loader reads: a `tokenizer.json` and
/// the `tokenizer_config.json` facts (named special tokens, BOS/EOS insertion, chat template). Built from the
/// `tokenizer.ggml.*` metadata so that encoding equals llama.cpp's own tokenizer on the same file (tested against
/// `llama-tokenize`). Docs/GGUF.md has the mapping.
public struct GGUFTokenizer: Sendable {
    /// tokenizer.json's content (`model`, `added_tokens`, `normalizer`, `pre_tokenizer`, `post_processor`, `decoder`).
    public let tokenizerJSON: JSONValue
    /// tokenizer_config.json's content: `bos_token`, `eos_token`, `unk_token`, `pad_token` (names),
    /// `add_bos_token`, `add_eos_token`, `chat_template`.
    public let tokenizerConfig: JSONValue
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    public let padTokenId: Int?
    public let unknownTokenId: Int?
    public let addBOS: Bool
    public let addEOS: Bool
    /// `tokenizer.chat_template` (Jinja), kept for the chat front end.
    public let chatTemplate: String?
}

extension GGUFModel {
    /// The tokenizer this file carries.
    public func tokenizer() throws(GGUFError) -> GGUFTokenizer {
        try GGUFTokenizerMapping.tokenizer(fileName: fileName, metadata: metadata)
    }
}

/// `tokenizer.ggml.*` -> tokenizer.json.
///
/// - `llama` (SentencePiece BPE with byte fallback): a BPE model with `byte_fallback`, merges derived from the
///   vocabulary and scores as transformers' SentencePiece converter derives them, and Mistral's (legacy) pipeline:
///   normalizer `Prepend("▁")` + `Replace(" ", "▁")`, decoder `Replace` + `ByteFallback` + `Fuse` + `Strip`.
/// - `gpt2` (byte-level BPE): vocabulary and `tokenizer.ggml.merges`, and the pre-tokenizer llama.cpp chooses by
///   `tokenizer.ggml.pre` (src/llama-vocab.cpp): its regexes as a sequence of isolating Splits, then ByteLevel.
public enum GGUFTokenizerMapping {
    /// llama.cpp's token types (`llama_token_type`).
    enum TokenType: Int {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// The `tokenizer.ggml.pre` names swapmoe rebuilds: name -> (regexes applied in order, ignore_merges).
    /// The regexes are llama.cpp's (which rewrites `(?i:'s|...)` as `'[sS]|...` and keeps the rest of each
    /// model's tokenizer.json pattern); gpt-4o's is the original, whose `\p{Lu}`-style classes our regex supports.
    static let preTokenizers: [String: (patterns: [String], ignoreMerges: Bool)] = {
        let gpt2 = [#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#]
        let llama3 = [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        let qwen2 = [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        let deepseekLLM = [
            "[\r\n]",
            #"\s?[A-Za-z\#u{B5}\#u{C0}-\#u{D6}\#u{D8}-\#u{F6}\#u{F8}-\#u{1BA}\#u{1BC}-\#u{1BF}\#u{1C4}-\#u{293}\#u{295}-\#u{2AF}\#u{370}-\#u{373}\#u{376}\#u{377}\#u{37B}-\#u{37D}\#u{37F}\#u{386}\#u{388}-\#u{38A}\#u{38C}\#u{38E}-\#u{3A1}\#u{3A3}-\#u{3F5}\#u{3F7}-\#u{481}\#u{48A}-\#u{52F}\#u{531}-\#u{556}\#u{10A0}-\#u{10C5}\#u{13A0}-\#u{13F5}\#u{13F8}-\#u{13FD}\#u{1C90}-\#u{1CBA}\#u{1CBD}-\#u{1CBF}\#u{1D00}-\#u{1D2B}\#u{1D6B}-\#u{1D77}\#u{1D79}-\#u{1D9A}\#u{1E00}-\#u{1F15}\#u{1F18}-\#u{1F1D}\#u{1F20}-\#u{1F45}\#u{1F48}-\#u{1F4D}\#u{1F50}-\#u{1F57}\#u{1F59}\#u{1F5B}\#u{1F5D}\#u{1F5F}-\#u{1F7D}\#u{1F80}-\#u{1FB4}\#u{1FB6}-\#u{1FBC}\#u{1FBE}\#u{1FC2}-\#u{1FC4}\#u{1FC6}-\#u{1FCC}\#u{1FD0}-\#u{1FD3}\#u{1FD6}-\#u{1FDB}\#u{1FE0}-\#u{1FEC}\#u{1FF2}-\#u{1FF4}\#u{1FF6}-\#u{1FFC}\#u{2102}\#u{2107}\#u{210A}-\#u{2113}\#u{2115}\#u{2119}-\#u{211D}\#u{2124}\#u{2126}\#u{2128}\#u{212A}-\#u{212D}\#u{212F}-\#u{2134}\#u{2139}\#u{213C}-\#u{213F}\#u{2145}-\#u{2149}\#u{214E}\#u{2183}\#u{2184}\#u{2C00}-\#u{2C7B}\#u{2C7E}-\#u{2CE4}\#u{2CEB}-\#u{2CEE}\#u{2CF2}\#u{2CF3}\#u{A640}-\#u{A66D}\#u{A680}-\#u{A69B}\#u{A722}-\#u{A76F}\#u{A771}-\#u{A787}\#u{A78B}-\#u{A78E}\#u{AB70}-\#u{ABBF}\#u{FB00}-\#u{FB06}\#u{FB13}-\#u{FB17}\#u{FF21}-\#u{FF3A}\#u{FF41}-\#u{FF5A}\#u{10400}-\#u{1044F}\#u{104B0}-\#u{104D3}\#u{104D8}-\#u{104FB}\#u{10C80}-\#u{10CB2}\#u{10CC0}-\#u{10CF2}\#u{118A0}-\#u{118DF}\#u{1E900}-\#u{1E943}]+"#,
            "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
            "\\s+$",
            "[一-龥ࠀ-一가-퟿]+",
            "\\p{N}+",
        ]
        let deepseekV3 = [
            #"\p{N}{1,3}"#,
            "[一-龥぀-ゟ゠-ヿ]+",
            "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
        ]
        let gpt4o = [#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        let defaults = [#"[\p{P}\$\+<=>\^~\|]+"#, #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
                        #"\p{N}+"#, "[0-9][0-9][0-9]"]
        return [
            "default": (defaults, false),
            "gpt-2": (gpt2, false), "olmo": (gpt2, false), "mpt": (gpt2, false), "phi-2": (gpt2, false),
            "llama-bpe": (llama3, true), "llama3": (llama3, true), "llama-v3": (llama3, true),
            "dbrx": (llama3, false), "smaug-bpe": (llama3, false),
            "qwen2": (qwen2, false), "stablelm2": (qwen2, false), "deepseek-r1-qwen": (qwen2, false),
            "deepseek-llm": (deepseekLLM, false), "deepseek-v3": (deepseekV3, false),
            "gpt-4o": (gpt4o, false), "llama4": (gpt4o, false),
        ]
    }()

    static let supportedModels = ["llama (SentencePiece BPE)", "gpt2 (byte-level BPE)"]

    public static func tokenizer(fileName file: String, metadata md: [String: GGUFValue]) throws(GGUFError) -> GGUFTokenizer {
        func strings(_ key: String) throws(GGUFError) -> [String]? {
            guard let v = md[key] else { return nil }
            guard let s = v.arrayValue?.strings else { throw .wrongKeyType(file: file, key: key, expected: "an array of strings", found: v.typePath.joined(separator: " of ")) }
            return s
        }
        func optionalInt(_ key: String) throws(GGUFError) -> Int? {
            guard let v = md[key] else { return nil }
            guard let i = v.intValue else { throw .wrongKeyType(file: file, key: key, expected: "an integer", found: v.type.description) }
            return i
        }
        func optionalBool(_ key: String) throws(GGUFError) -> Bool? {
            guard let v = md[key] else { return nil }
            guard let b = v.boolValue else { throw .wrongKeyType(file: file, key: key, expected: "a BOOL", found: v.type.description) }
            return b
        }
        guard let modelValue = md["tokenizer.ggml.model"] else { throw .missingKey(file: file, key: "tokenizer.ggml.model") }
        guard let model = modelValue.stringValue else {
            throw .wrongKeyType(file: file, key: "tokenizer.ggml.model", expected: "a string", found: modelValue.type.description)
        }
        guard model == "llama" || model == "gpt2" else {
            throw .unsupportedTokenizer(file: file, key: "tokenizer.ggml.model", value: model, supported: supportedModels)
        }
        guard let tokens = try strings("tokenizer.ggml.tokens") else { throw .missingKey(file: file, key: "tokenizer.ggml.tokens") }
        guard !tokens.isEmpty else { throw .badMetadata(file: file, key: "tokenizer.ggml.tokens", reason: "is empty") }
        var types = [TokenType](repeating: .normal, count: tokens.count)
        if let v = md["tokenizer.ggml.token_type"] {
            guard let raw = v.arrayValue?.ints, raw.count == tokens.count else {
                throw .badMetadata(file: file, key: "tokenizer.ggml.token_type", reason: "must be \(tokens.count) integers, one per token")
            }
            for (i, t) in raw.enumerated() { types[i] = TokenType(rawValue: t) ?? .undefined }
        }
        func tokenID(_ key: String) throws(GGUFError) -> Int? {
            guard let id = try optionalInt(key) else { return nil }
            // llama.cpp writes -1 (as UINT32 0xFFFFFFFF in old files) for "none".
            if id == -1 || id == 0xFFFF_FFFF { return nil }
            guard (0..<tokens.count).contains(id) else {
                throw .badMetadata(file: file, key: key, reason: "is \(id), outside the \(tokens.count) tokens")
            }
            return id
        }
        let bos = try tokenID("tokenizer.ggml.bos_token_id")
        let eos = try tokenID("tokenizer.ggml.eos_token_id")
        let pad = try tokenID("tokenizer.ggml.padding_token_id")
        var unk = try tokenID("tokenizer.ggml.unknown_token_id")
        let isSPM = model == "llama"
        if isSPM, unk == nil { unk = types.firstIndex(of: .unknown) }
        let addBOS = try optionalBool("tokenizer.ggml.add_bos_token") ?? isSPM
        let addEOS = try optionalBool("tokenizer.ggml.add_eos_token") ?? false
        let chatTemplate = md["tokenizer.chat_template"]?.stringValue

        // The vocabulary: the first id of a string that appears twice keeps it (its later ids stay decodable
        // through added_tokens only when they are special).
        var vocabKeys: [String] = []
        var vocabValues: [JSONValue] = []
        var ids: [String: Int] = [:]
        vocabKeys.reserveCapacity(tokens.count)
        vocabValues.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where ids[t] == nil {
            ids[t] = i
            vocabKeys.append(t)
            vocabValues.append(.int(Int64(i)))
        }

        // Control, user-defined and unknown tokens are matched in the text before the model runs, as llama.cpp
        // does (its "special tokens cache"); user-defined ones are not special (not skipped when decoding).
        var added: [JSONValue] = []
        for (i, t) in types.enumerated() where t == .control || t == .userDefined || t == .unknown {
            added.append(.object(["id": .int(Int64(i)), "content": .string(tokens[i]), "single_word": .bool(false),
                                  "lstrip": .bool(false), "rstrip": .bool(false), "normalized": .bool(false),
                                  "special": .bool(t != .userDefined)]))
        }

        let merges: [JSONValue]
        let normalizer: JSONValue, preTokenizer: JSONValue, decoder: JSONValue
        var modelObject: [(String, JSONValue)] = [("type", .string("BPE")), ("dropout", .null)]
        if isSPM {
            let scores: [Double]
            if let v = md["tokenizer.ggml.scores"] {
                guard let s = v.arrayValue?.doubles, s.count == tokens.count else {
                    throw .badMetadata(file: file, key: "tokenizer.ggml.scores", reason: "must be \(tokens.count) numbers, one per token")
                }
                scores = s
            } else {
                scores = (0..<tokens.count).map { -Double($0) }
            }
            merges = spmMerges(tokens: tokens, types: types, scores: scores, ids: ids).map { .array([.string($0.0), .string($0.1)]) }
            let addSpace = try optionalBool("tokenizer.ggml.add_space_prefix") ?? true
            let replace: JSONValue = .object(["type": .string("Replace"), "pattern": .object(["String": .string(" ")]), "content": .string("▁")])
            normalizer = addSpace ? .object(["type": .string("Sequence"), "normalizers": .array([.object(["type": .string("Prepend"), "prepend": .string("▁")]), replace])]) : replace
            preTokenizer = .null
            var decoders: [JSONValue] = [
                .object(["type": .string("Replace"), "pattern": .object(["String": .string("▁")]), "content": .string(" ")]),
                .object(["type": .string("ByteFallback")]), .object(["type": .string("Fuse")]),
            ]
            if addSpace { decoders.append(.object(["type": .string("Strip"), "content": .string(" "), "start": .int(1), "stop": .int(0)])) }
            decoder = .object(["type": .string("Sequence"), "decoders": .array(decoders)])
            modelObject += [("unk_token", unk.map { .string(tokens[$0]) } ?? .null), ("continuing_subword_prefix", .null),
                            ("end_of_word_suffix", .null), ("fuse_unk", .bool(true)),
                            ("byte_fallback", .bool(types.contains(.byte))), ("ignore_merges", .bool(false))]
        } else {
            let preName = try md["tokenizer.ggml.pre"].map { (v) throws(GGUFError) -> String in
                guard let s = v.stringValue else { throw .wrongKeyType(file: file, key: "tokenizer.ggml.pre", expected: "a string", found: v.type.description) }
                return s
            } ?? "default"
            guard let pre = preTokenizers[preName] else {
                throw .unsupportedTokenizer(file: file, key: "tokenizer.ggml.pre", value: preName, supported: preTokenizers.keys.sorted())
            }
            guard let mergeStrings = try strings("tokenizer.ggml.merges") else { throw .missingKey(file: file, key: "tokenizer.ggml.merges") }
            var pairs: [JSONValue] = []
            pairs.reserveCapacity(mergeStrings.count)
            for (i, m) in mergeStrings.enumerated() {
                let halves = m.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard halves.count == 2, !halves[0].isEmpty, !halves[1].isEmpty else {
                    throw .badMetadata(file: file, key: "tokenizer.ggml.merges[\(i)]", reason: "is '\(m.escapingControlCharacters)', not two tokens separated by one space")
                }
                pairs.append(.array([.string(String(halves[0])), .string(String(halves[1]))]))
            }
            merges = pairs
            normalizer = .null
            let splits: [JSONValue] = pre.patterns.map {
                .object(["type": .string("Split"), "pattern": .object(["Regex": .string($0)]), "behavior": .string("Isolated"), "invert": .bool(false)])
            }
            let byteLevel: JSONValue = .object(["type": .string("ByteLevel"), "add_prefix_space": .bool(false), "trim_offsets": .bool(false), "use_regex": .bool(false)])
            preTokenizer = .object(["type": .string("Sequence"), "pretokenizers": .array(splits + [byteLevel])])
            decoder = .object(["type": .string("ByteLevel"), "add_prefix_space": .bool(true), "trim_offsets": .bool(true), "use_regex": .bool(true)])
            modelObject += [("unk_token", .null), ("continuing_subword_prefix", .null), ("end_of_word_suffix", .null),
                            ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)), ("ignore_merges", .bool(pre.ignoreMerges))]
        }
        modelObject += [("vocab", .object(JSONObject(keys: vocabKeys, values: vocabValues))), ("merges", .array(merges))]

        let post = postProcessor(bos: addBOS ? bos.map { (tokens[$0], $0) } : nil, eos: addEOS ? eos.map { (tokens[$0], $0) } : nil)
        let json: JSONValue = .object(JSONObject(
            keys: ["version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder", "model"],
            values: [.string("1.0"), .null, .null, .array(added), normalizer, preTokenizer, post, decoder,
                     .object(JSONObject(keys: modelObject.map(\.0), values: modelObject.map(\.1)))]))

        var config: [(String, JSONValue)] = [
            ("add_bos_token", .bool(addBOS)), ("add_eos_token", .bool(addEOS)), ("clean_up_tokenization_spaces", .bool(false)),
        ]
        for (key, id) in [("bos_token", bos), ("eos_token", eos), ("unk_token", unk), ("pad_token", pad)] {
            config.append((key, id.map { .string(tokens[$0]) } ?? .null))
        }
        if let chatTemplate { config.append(("chat_template", .string(chatTemplate))) }
        return GGUFTokenizer(tokenizerJSON: json, tokenizerConfig: .object(JSONObject(keys: config.map(\.0), values: config.map(\.1))),
                             bosTokenId: bos, eosTokenId: eos, padTokenId: pad, unknownTokenId: unk,
                             addBOS: addBOS, addEOS: addEOS, chatTemplate: chatTemplate)
    }

    /// A TemplateProcessing that adds BOS / EOS around a sequence (nil when neither is added).
    static func postProcessor(bos: (String, Int)?, eos: (String, Int)?) -> JSONValue {
        guard bos != nil || eos != nil else { return .null }
        func special(_ t: (String, Int), _ typeID: Int) -> JSONValue {
            .object(["SpecialToken": .object(["id": .string(t.0), "type_id": .int(Int64(typeID))])])
        }
        func seq(_ id: String, _ typeID: Int) -> JSONValue {
            .object(["Sequence": .object(["id": .string(id), "type_id": .int(Int64(typeID))])])
        }
        var single: [JSONValue] = [], pair: [JSONValue] = []
        if let bos { single.append(special(bos, 0)); pair.append(special(bos, 0)) }
        single.append(seq("A", 0)); pair.append(seq("A", 0))
        if let eos { single.append(special(eos, 0)); pair.append(special(eos, 0)) }
        if let bos { pair.append(special(bos, 1)) }
        pair.append(seq("B", 1))
        if let eos { pair.append(special(eos, 1)) }
        var specials: [(String, JSONValue)] = []
        for t in [bos, eos].compactMap({ $0 }) where !specials.contains(where: { $0.0 == t.0 }) {
            specials.append((t.0, .object(["id": .string(t.0), "ids": .array([.int(Int64(t.1))]), "tokens": .array([.string(t.0)])])))
        }
        return .object(["type": .string("TemplateProcessing"), "single": .array(single), "pair": .array(pair),
                        "special_tokens": .object(JSONObject(keys: specials.map(\.0), values: specials.map(\.1)))])
    }

    /// Merges of a SentencePiece BPE vocabulary, as transformers' `SentencePieceExtractor` derives them: every
    /// split of a token into two tokens of the vocabulary is a merge ranked by the merged token's score (higher
    /// first); ties keep vocabulary order, and within a token its splits are ordered by the ids of their parts
    /// (transformers 4; version 5 orders them by length, which never changes an encoding: one segmentation has at
    /// most one pair forming a given token at a given position).
    /// Tokens longer than `maxMergedTokenScalars` are not merge results.
    /// Only normal and user-defined tokens are merge results (byte and control tokens are never built by merging,
    /// as in llama.cpp's tokenizer, which looks only at text pieces).
    static let maxMergedTokenScalars = 128

    static func spmMerges(tokens: [String], types: [TokenType], scores: [Double], ids: [String: Int]) -> [(String, String)] {
        var merges: [(left: String, right: String, score: Double, order: Int)] = []
        for (i, t) in tokens.enumerated() where (types[i] == .normal || types[i] == .userDefined) && ids[t] == i {
            let scalars = Array(t.unicodeScalars)
            // Splitting costs O(length²); real vocabularies' tokens are far shorter than this bound, which keeps a
            // hostile file with huge tokens from stalling the load.
            guard scalars.count > 1, scalars.count <= maxMergedTokenScalars else { continue }
            var local: [(String, String, Int, Int)] = []
            for cut in 1..<scalars.count {
                var l = "", r = ""
                l.unicodeScalars.append(contentsOf: scalars[..<cut])
                r.unicodeScalars.append(contentsOf: scalars[cut...])
                if let li = ids[l], let ri = ids[r] { local.append((l, r, li, ri)) }
            }
            local.sort { ($0.2, $0.3) < ($1.2, $1.3) }
            for m in local { merges.append((m.0, m.1, scores[i], merges.count)) }
        }
        merges.sort { $0.score != $1.score ? $0.score > $1.score : $0.order < $1.order }
        return merges.map { ($0.left, $0.right) }
    }
}
