// The BPE model: byte-level (GPT-2, Qwen2, OLMoE) and SentencePiece-style (Llama, Mistral) vocabularies.

import SwapMoECore

struct BPEModel: TokenizerModel {
    let vocab: VocabTable
    /// id -> token text (dense array; ids in tokenizer.json are 0..<n in practice).
    let vocabR: [String?]
    /// (left id << 32 | right id) -> (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    let unkId: Int?
    let unkToken: String?
    let fuseUnk: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: [UInt8]?
    let endOfWordSuffix: [UInt8]?
    /// `<0xNN>` token ids, when byte_fallback is on (-1 where missing).
    let byteFallbackIds: [Int32]
    let cache = WordCache()

    var vocabCount: Int { vocab.count }
    var vocabEntries: [(String, Int)] { vocab.entries }

    /// Options that transformers' model-specific tokenizer classes set when they rebuild the model.
    struct Overrides {
        var unkToken: String??
        var fuseUnk: Bool?
        var byteFallback: Bool?
        var ignoreMerges: Bool?
        var continuingSubwordPrefix: String??
        var endOfWordSuffix: String??
    }

    init(json: JSONValue, path: String = "model", overrides: Overrides = Overrides()) throws {
        let f = try JSONFields(json, path: path)
        if let t = try f.optionalString("type"), t != ModelType.bpe.rawValue {
            throw TokenizerError.unsupportedComponent(kind: "model", type: t, supported: ModelType.allCases.map(\.rawValue))
        }
        if let d = f.object["dropout"]?.doubleValue, d > 0 {
            throw TokenizerError.unsupportedOption(component: path, option: "dropout: \(d)",
                                                   reason: "BPE dropout is random and only meant for training; set it to null")
        }
        // Vocabulary.
        guard let vocabObject = f.object["vocab"]?.objectValue else {
            throw TokenizerError.invalidField(file: "tokenizer.json", path: f.sub("vocab"), expected: "must be an object mapping tokens to ids")
        }
        var table = VocabTable(capacity: vocabObject.count)
        var maxId = -1
        for (k, v) in zip(vocabObject.keys, vocabObject.values) {
            // Ids are kept as Int32 (as the `tokenizers` library keeps them as u32).
            guard let id = v.intValue, id >= 0, id <= Int(Int32.max) else {
                throw TokenizerError.invalidField(file: "tokenizer.json", path: "\(f.sub("vocab")).\(k)", expected: "must be an integer id from 0 to \(Int32.max)")
            }
            table.insert(Array(k.utf8), id: id)
            maxId = max(maxId, id)
        }
        guard maxId < 16 * Swift.max(vocabObject.count, 1024) else {
            throw TokenizerError.invalidField(file: "tokenizer.json", path: f.sub("vocab"), expected: "has ids far beyond its size (max id \(maxId))")
        }
        var reverse = [String?](repeating: nil, count: maxId + 1)
        for (k, v) in zip(vocabObject.keys, vocabObject.values) { reverse[v.intValue!] = k }
        vocab = table
        vocabR = reverse

        // Options.
        unkToken = try overrides.unkToken ?? f.optionalString("unk_token")
        fuseUnk = try overrides.fuseUnk ?? f.bool("fuse_unk", default: false)
        byteFallback = try overrides.byteFallback ?? f.bool("byte_fallback", default: false)
        ignoreMerges = try overrides.ignoreMerges ?? f.bool("ignore_merges", default: false)
        let prefix = try overrides.continuingSubwordPrefix ?? f.optionalString("continuing_subword_prefix")
        let suffix = try overrides.endOfWordSuffix ?? f.optionalString("end_of_word_suffix")
        continuingSubwordPrefix = prefix.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        endOfWordSuffix = suffix.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        if let unk = unkToken {
            guard let id = table.lookup(unk) else {
                throw TokenizerError.tokenNotInVocabulary(token: unk, context: "\(path).unk_token")
            }
            unkId = id
        } else {
            unkId = nil
        }
        byteFallbackIds = byteFallbackTable(byteFallback) { table.lookup($0) }

        // Merges: "a b" strings or ["a", "b"] pairs; rank = position.
        let mergeList = try f.object["merges"].map { v -> [JSONValue] in
            guard let a = v.arrayValue else {
                throw TokenizerError.invalidField(file: "tokenizer.json", path: f.sub("merges"), expected: "must be an array")
            }
            return a
        } ?? []
        var mergeMap: [UInt64: UInt64] = [:]
        mergeMap.reserveCapacity(mergeList.count)
        let prefixLen = prefix?.utf8.count ?? 0
        for (rank, m) in mergeList.enumerated() {
            let a: String
            let b: String
            if let s = m.stringValue {
                // Split on the byte ' ' (not on Characters: " \u{301}" is a single Character).
                let parts = Array(s.utf8).split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError.invalidField(file: "tokenizer.json", path: "\(f.sub("merges"))[\(rank)]",
                                                      expected: "must be two tokens separated by one space (got \(s.debugDescription))")
                }
                a = String(decoding: parts[0], as: UTF8.self)
                b = String(decoding: parts[1], as: UTF8.self)
            } else if let pair = m.arrayValue, pair.count == 2, let x = pair[0].stringValue, let y = pair[1].stringValue {
                a = x
                b = y
            } else {
                throw TokenizerError.invalidField(file: "tokenizer.json", path: "\(f.sub("merges"))[\(rank)]", expected: "must be \"a b\" or [\"a\", \"b\"]")
            }
            guard let aId = table.lookup(a) else { throw TokenizerError.tokenNotInVocabulary(token: a, context: "merge #\(rank)") }
            guard let bId = table.lookup(b) else { throw TokenizerError.tokenNotInVocabulary(token: b, context: "merge #\(rank)") }
            let bBytes = Array(b.utf8)
            let merged = Array(a.utf8) + bBytes.dropFirst(min(prefixLen, bBytes.count))
            guard let newId = table.lookup(merged) else {
                throw TokenizerError.tokenNotInVocabulary(token: String(decoding: merged, as: UTF8.self), context: "merge #\(rank) (\(a) + \(b))")
            }
            mergeMap[UInt64(aId) << 32 | UInt64(bId)] = UInt64(rank) << 32 | UInt64(newId)
        }
        merges = mergeMap
    }

    func tokenToId(_ token: String) -> Int? { vocab.lookup(token) }

    func idToToken(_ id: Int) -> String? {
        guard id >= 0, id < vocabR.count else { return nil }
        return vocabR[id]
    }

    func tokenize(_ word: [Unicode.Scalar], into ids: inout [Int]) {
        if word.isEmpty { return }
        let bytes = utf8Bytes(word)
        if ignoreMerges, let id = vocab.lookup(bytes) {
            ids.append(id)
            return
        }
        let key = WordKey(bytes: bytes)
        let cacheable = bytes.count < WordCache.maxWordBytes
        if cacheable, let hit = cache.get(key) {
            for id in hit { ids.append(Int(id)) }
            return
        }
        let result = mergeWord(word, bytes: bytes)
        if cacheable { cache.set(key, result) }
        for id in result { ids.append(Int(id)) }
    }

    private struct Symbol {
        var id: Int32
        var prev: Int32
        var next: Int32
        var alive: Bool
    }

    /// Initial symbols (one per character, with byte fallback / unk handling), then merges by rank.
    private func mergeWord(_ word: [Unicode.Scalar], bytes: [UInt8]) -> [Int32] {
        var symbolIds: [Int32] = []
        symbolIds.reserveCapacity(word.count)
        var pendingUnk: Int32? = nil
        var offset = 0
        var piece: [UInt8] = []
        piece.reserveCapacity(16)
        bytes.withUnsafeBufferPointer { all in
            for (i, s) in word.enumerated() {
                let len = s.value < 0x80 ? 1 : s.value < 0x800 ? 2 : s.value < 0x10000 ? 3 : 4
                let isFirst = i == 0
                let isLast = i == word.count - 1
                var found: Int?
                if (continuingSubwordPrefix == nil || isFirst) && (endOfWordSuffix == nil || !isLast) {
                    found = vocab.lookup(UnsafeBufferPointer(rebasing: all[offset..<(offset + len)]))
                    if found == nil && (byteFallback || unkId != nil) {
                        piece.removeAll(keepingCapacity: true)
                        piece.append(contentsOf: all[offset..<(offset + len)])
                    }
                } else {
                    piece.removeAll(keepingCapacity: true)
                    if !isFirst, let p = continuingSubwordPrefix { piece.append(contentsOf: p) }
                    piece.append(contentsOf: all[offset..<(offset + len)])
                    if isLast, let sfx = endOfWordSuffix { piece.append(contentsOf: sfx) }
                    found = vocab.lookup(piece)
                }
                offset += len
                if let id = found {
                    if let u = pendingUnk {
                        symbolIds.append(u)
                        pendingUnk = nil
                    }
                    symbolIds.append(Int32(id))
                    continue
                }
                if byteFallback {
                    var ok = true
                    for b in piece where byteFallbackIds[Int(b)] < 0 { ok = false; break }
                    if ok {
                        for b in piece { symbolIds.append(byteFallbackIds[Int(b)]) }
                        continue
                    }
                }
                if let unk = unkId {
                    if pendingUnk != nil {
                        if !fuseUnk { symbolIds.append(pendingUnk!) ; pendingUnk = Int32(unk) }
                    } else {
                        pendingUnk = Int32(unk)
                    }
                }
            }
        }
        if let u = pendingUnk { symbolIds.append(u) }
        if symbolIds.count < 2 || merges.isEmpty { return symbolIds }
        return applyMerges(symbolIds)
    }

    /// Merges adjacent pairs, lowest rank first (leftmost on ties), with a binary heap over a linked list.
    private func applyMerges(_ initial: [Int32]) -> [Int32] {
        let n = initial.count
        var symbols = [Symbol]()
        symbols.reserveCapacity(n)
        for (i, id) in initial.enumerated() {
            symbols.append(Symbol(id: id, prev: Int32(i - 1), next: i + 1 < n ? Int32(i + 1) : -1, alive: true))
        }
        // Heap entries: rank << 32 | pos, plus the merged id alongside.
        var heap = MergeHeap()
        for i in 0..<(n - 1) {
            if let m = merges[UInt64(UInt32(bitPattern: initial[i])) << 32 | UInt64(UInt32(bitPattern: initial[i + 1]))] {
                heap.push(key: (m >> 32) << 32 | UInt64(i), newId: Int32(truncatingIfNeeded: m & 0xFFFF_FFFF))
            }
        }
        while let top = heap.pop() {
            let pos = Int(top.key & 0xFFFF_FFFF)
            guard symbols[pos].alive else { continue }
            let nextPos = Int(symbols[pos].next)
            guard nextPos >= 0 else { continue }
            let right = symbols[nextPos]
            // Skip stale entries: the pair must still produce this merge.
            let pairKey = UInt64(UInt32(bitPattern: symbols[pos].id)) << 32 | UInt64(UInt32(bitPattern: right.id))
            guard let m = merges[pairKey], Int32(truncatingIfNeeded: m & 0xFFFF_FFFF) == top.newId else { continue }
            symbols[pos].id = top.newId
            symbols[pos].next = right.next
            symbols[nextPos].alive = false
            if right.next >= 0 { symbols[Int(right.next)].prev = Int32(pos) }
            let prev = Int(symbols[pos].prev)
            if prev >= 0 {
                let k = UInt64(UInt32(bitPattern: symbols[prev].id)) << 32 | UInt64(UInt32(bitPattern: top.newId))
                if let m2 = merges[k] {
                    heap.push(key: (m2 >> 32) << 32 | UInt64(prev), newId: Int32(truncatingIfNeeded: m2 & 0xFFFF_FFFF))
                }
            }
            let next = Int(symbols[pos].next)
            if next >= 0 {
                let k = UInt64(UInt32(bitPattern: top.newId)) << 32 | UInt64(UInt32(bitPattern: symbols[next].id))
                if let m2 = merges[k] {
                    heap.push(key: (m2 >> 32) << 32 | UInt64(pos), newId: Int32(truncatingIfNeeded: m2 & 0xFFFF_FFFF))
                }
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var i = 0
        while i >= 0 && i < n {
            out.append(symbols[i].id)
            i = Int(symbols[i].next)
        }
        return out
    }
}

/// Min-heap of merge candidates keyed by (rank, position).
private struct MergeHeap {
    private var keys: [UInt64] = []
    private var newIds: [Int32] = []

    mutating func push(key: UInt64, newId: Int32) {
        keys.append(key)
        newIds.append(newId)
        var i = keys.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if keys[parent] <= keys[i] { break }
            keys.swapAt(parent, i)
            newIds.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> (key: UInt64, newId: Int32)? {
        guard let first = keys.first else { return nil }
        let firstId = newIds[0]
        let lastKey = keys.removeLast()
        let lastId = newIds.removeLast()
        if !keys.isEmpty {
            keys[0] = lastKey
            newIds[0] = lastId
            var i = 0
            let n = keys.count
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < n && keys[l] < keys[m] { m = l }
                if r < n && keys[r] < keys[m] { m = r }
                if m == i { break }
                keys.swapAt(m, i)
                newIds.swapAt(m, i)
                i = m
            }
        }
        return (first, firstId)
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
