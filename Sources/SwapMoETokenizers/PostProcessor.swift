// Post-processors: add special tokens around an encoded sequence (tokenizer.json "post_processor").

import SwapMoECore

/// The `"type"` strings of post-processors in tokenizer.json.
enum PostProcessorType: String, CaseIterable {
    case templateProcessing = "TemplateProcessing"
    case byteLevel = "ByteLevel"
    case robertaProcessing = "RobertaProcessing"
    case bertProcessing = "BertProcessing"
    case sequence = "Sequence"
}

indirect enum PostProcessor: Sendable {
    /// `single` template: each element is either the sequence itself (nil) or special-token ids.
    case template([[Int]?])
    /// No effect on ids (offset trimming only).
    case byteLevel
    case wrap(prefix: [Int], suffix: [Int])
    case sequence([PostProcessor])

    static func from(json: JSONValue, path: String = "post_processor") throws -> PostProcessor? {
        if json.isNull { return nil }
        let f = try JSONFields(json, path: path)
        let type = try f.type(PostProcessorType.self, kind: "post_processor")
        switch type {
        case .byteLevel:
            return .byteLevel
        case .robertaProcessing, .bertProcessing:
            func tokenId(_ key: String) throws -> Int {
                let pair = try f.array(key)
                guard pair.count == 2, let id = pair[1].intValue else {
                    throw TokenizerError.invalidField(file: "tokenizer.json", path: f.sub(key), expected: "must be [token, id]")
                }
                return id
            }
            return .wrap(prefix: [try tokenId("cls")], suffix: [try tokenId("sep")])
        case .sequence:
            let items = try f.array("processors")
            return .sequence(try items.enumerated().compactMap { try from(json: $1, path: "\(path).processors[\($0)]") })
        case .templateProcessing:
            // special_tokens: name -> {id, ids, tokens}
            var specials: [String: [Int]] = [:]
            if let st = f.object["special_tokens"]?.objectValue {
                for (name, v) in zip(st.keys, st.values) {
                    let sf = try JSONFields(v, path: "\(f.sub("special_tokens")).\(name)")
                    let ids = try sf.array("ids").map { v -> Int in
                        guard let i = v.intValue else {
                            throw TokenizerError.invalidField(file: "tokenizer.json", path: sf.sub("ids"), expected: "must be integers")
                        }
                        return i
                    }
                    specials[name] = ids
                }
            }
            func specialIds(_ name: String) throws -> [Int] {
                guard let ids = specials[name] else {
                    throw TokenizerError.tokenNotInVocabulary(token: name, context: "\(f.sub("single")) (missing from special_tokens)")
                }
                return ids
            }
            var pieces: [[Int]?] = []
            let single = try f.value("single")
            if let items = single.arrayValue {
                for (i, item) in items.enumerated() {
                    let itemPath = "\(f.sub("single"))[\(i)]"
                    let pf = try JSONFields(item, path: itemPath)
                    if let seq = pf.object["Sequence"] {
                        let sid = try JSONFields(seq, path: "\(itemPath).Sequence").string("id")
                        guard sid == "A" else {
                            throw TokenizerError.unsupportedOption(component: path, option: "single sequence \(sid)", reason: "a single-sequence template can only use $A")
                        }
                        pieces.append(nil)
                    } else if let sp = pf.object["SpecialToken"] {
                        pieces.append(try specialIds(try JSONFields(sp, path: "\(itemPath).SpecialToken").string("id")))
                    } else {
                        throw TokenizerError.invalidField(file: "tokenizer.json", path: itemPath, expected: "must be {\"Sequence\": ...} or {\"SpecialToken\": ...}")
                    }
                }
            } else if let s = single.stringValue {
                // Template string form: "<s> $A </s>", pieces may carry ":type_id".
                for word in s.split(separator: " ") {
                    let name = word.split(separator: ":", maxSplits: 1).first.map(String.init) ?? String(word)
                    if name.hasPrefix("$") {
                        pieces.append(nil)
                    } else {
                        pieces.append(try specialIds(name))
                    }
                }
            } else {
                throw TokenizerError.invalidField(file: "tokenizer.json", path: f.sub("single"), expected: "must be a template array or string")
            }
            return .template(pieces)
        }
    }

    func process(_ ids: [Int]) -> [Int] {
        switch self {
        case let .template(pieces):
            var out: [Int] = []
            out.reserveCapacity(ids.count + 4)
            for p in pieces {
                if let special = p { out += special } else { out += ids }
            }
            return out
        case .byteLevel:
            return ids
        case let .wrap(prefix, suffix):
            return prefix + ids + suffix
        case let .sequence(items):
            var out = ids
            for p in items { out = p.process(out) }
            return out
        }
    }

    /// The special ids placed before the sequence (for example BOS), as a hint for `bosTokenId`.
    var leadingSpecialIds: [Int] {
        switch self {
        case let .template(pieces):
            var out: [Int] = []
            for p in pieces {
                guard let s = p else { break }
                out += s
            }
            return out
        case let .wrap(prefix, _): return prefix
        case let .sequence(items): return items.flatMap(\.leadingSpecialIds)
        case .byteLevel: return []
        }
    }
}
