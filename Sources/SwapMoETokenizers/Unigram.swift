// The Unigram model (SentencePiece unigram: T5, Switch Transformer, mT5, XLM-R, ALBERT): the best-scoring
// segmentation of each word into vocabulary pieces.

import SwapMoECore

/// Prefix tree over the UTF-8 bytes of the pieces, in flat arrays. `forEachPrefix` reports every piece that is a
/// prefix of the input from a position, shortest first (what the Rust library's `Trie::common_prefix_search` yields).
struct PieceTrie: Sendable {
    /// Child of the root for each first byte (-1: none).
    private let rootChildren: [Int32]
    /// Per node: its children are `edgeBytes/edgeTargets[edgeStart[node] ..< edgeStart[node + 1]]`, sorted by byte.
    private let edgeStart: [Int32]
    private let edgeBytes: [UInt8]
    private let edgeTargets: [Int32]
    /// Per node: the id of the piece ending there, or -1.
    private let values: [Int32]

    /// `pieces`: (UTF-8 bytes, id); a repeated key keeps the last id. Empty keys are never matched, as in Rust.
    init(_ pieces: [([UInt8], Int)]) {
        let sorted = pieces.enumerated().filter { !$0.element.0.isEmpty }.sorted { a, b in
            a.element.0.lexicographicallyPrecedes(b.element.0) || (a.element.0 == b.element.0 && a.offset < b.offset)
        }.map(\.element)
        // Built in sorted order, a node's newest child is the only one a later key can share.
        var byte: [UInt8] = [0]
        var value: [Int32] = [-1]
        var firstChild: [Int32] = [-1]
        var lastChild: [Int32] = [-1]
        var nextSibling: [Int32] = [-1]
        for (key, id) in sorted {
            var node = 0
            for b in key {
                let last = Int(lastChild[node])
                if last >= 0 && byte[last] == b {
                    node = last
                    continue
                }
                let child = byte.count
                byte.append(b)
                value.append(-1)
                firstChild.append(-1)
                lastChild.append(-1)
                nextSibling.append(-1)
                if last >= 0 { nextSibling[last] = Int32(child) } else { firstChild[node] = Int32(child) }
                lastChild[node] = Int32(child)
                node = child
            }
            value[node] = Int32(id)
        }
        var root = [Int32](repeating: -1, count: 256)
        var starts = [Int32](repeating: 0, count: byte.count + 1)
        var bytesOut: [UInt8] = []
        var targets: [Int32] = []
        bytesOut.reserveCapacity(byte.count)
        targets.reserveCapacity(byte.count)
        for node in 0..<byte.count {
            starts[node] = Int32(targets.count)
            var c = Int(firstChild[node])
            while c >= 0 {
                if node == 0 { root[Int(byte[c])] = Int32(c) }
                bytesOut.append(byte[c])
                targets.append(Int32(c))
                c = Int(nextSibling[c])
            }
        }
        starts[byte.count] = Int32(targets.count)
        rootChildren = root
        edgeStart = starts
        edgeBytes = bytesOut
        edgeTargets = targets
        values = value
    }

    @inline(__always)
    private func child(_ node: Int, _ b: UInt8) -> Int {
        var lo = Int(edgeStart[node])
        var hi = Int(edgeStart[node + 1])
        // Narrow [lo, hi) to a few edges around the first byte >= b, then scan.
        while hi - lo > 8 {
            let mid = (lo + hi) / 2
            if edgeBytes[mid] < b { lo = mid + 1 } else { hi = mid + 1 }
        }
        while lo < hi {
            let e = edgeBytes[lo]
            if e == b { return Int(edgeTargets[lo]) }
            if e > b { return -1 }
            lo += 1
        }
        return -1
    }

    /// Calls `body(end, id)` for every piece equal to `bytes[start..<end]`, in increasing `end`.
    @inline(__always)
    func forEachPrefix(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (Int, Int) -> Void) {
        var node = Int(rootChildren[Int(bytes[start])])
        var pos = start + 1
        while node >= 0 {
            let v = values[node]
            if v >= 0 { body(pos, Int(v)) }
            if pos == bytes.count { return }
            node = child(node, bytes[pos])
            pos += 1
        }
    }
}

/// tokenizers' `Unigram`: Viterbi over a lattice of vocabulary pieces, the same best path, tie-breaking, unknown-
/// character handling and byte fallback as the Rust library (`encode_optimized` + `tokenize`).
///
/// Each character that no single-character piece covers gets an unknown node scored `min(score) - 10`; consecutive
/// unknown nodes on the best path are fused into one piece (`fuse_unk`, always on for Unigram), which becomes
/// `<unk>` — or, with `byte_fallback`, its `<0xNN>` byte pieces when all of them exist.
struct UnigramModel: TokenizerModel {
    /// id -> piece and score, as listed in tokenizer.json.
    let pieces: [String]
    let scores: [Double]
    let vocab: VocabTable
    let trie: PieceTrie
    let unkId: Int?
    let byteFallback: Bool
    let minScore: Double
    /// `<0xNN>` piece ids, when byte_fallback is on (-1 where missing).
    let byteFallbackIds: [Int32]
    let cache = WordCache()

    /// Penalty of an unknown character below the lowest piece score (SentencePiece's kUnkPenalty).
    static let unknownPenalty = 10.0

    var vocabCount: Int { pieces.count }
    var vocabEntries: [(String, Int)] { vocab.entries }

    init(json: JSONValue, path: String = "model") throws {
        let f = try JSONFields(json, path: path)
        if let t = try f.optionalString("type"), t != ModelType.unigram.rawValue {
            throw TokenizerError.unsupportedComponent(kind: "model", type: t, supported: ModelType.allCases.map(\.rawValue))
        }
        let items = try f.array("vocab")
        var pieces: [String] = []
        var scores: [Double] = []
        pieces.reserveCapacity(items.count)
        scores.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            guard let pair = item.arrayValue, pair.count == 2, let piece = pair[0].stringValue, let score = pair[1].doubleValue else {
                throw TokenizerError.invalidField(file: "tokenizer.json", path: "\(f.sub("vocab"))[\(i)]", expected: "must be a [piece, score] pair")
            }
            pieces.append(piece)
            scores.append(score)
        }
        var unk: Int?
        if let v = f.object["unk_id"], !v.isNull {
            guard let id = v.intValue, id >= 0 else {
                throw TokenizerError.invalidField(file: "tokenizer.json", path: f.sub("unk_id"), expected: "must be a non-negative integer or null")
            }
            guard id < pieces.count else {
                throw TokenizerError.invalidField(file: "tokenizer.json", path: f.sub("unk_id"),
                                                  expected: "must be the index of a vocabulary entry (got \(id), vocabulary has \(pieces.count))")
            }
            unk = id
        }
        try self.init(pieces: pieces, scores: scores, unkId: unk, byteFallback: try f.bool("byte_fallback", default: false))
    }

    init(pieces: [String], scores: [Double], unkId: Int?, byteFallback: Bool) throws {
        precondition(pieces.count == scores.count)
        var table = VocabTable(capacity: pieces.count)
        var keyed: [([UInt8], Int)] = []
        keyed.reserveCapacity(pieces.count)
        for (id, piece) in pieces.enumerated() {
            let key = Array(piece.utf8)
            // A repeated piece maps to its last id, in the table and in the trie (Rust's HashMap insert).
            table.insert(key, id: id)
            keyed.append((key, id))
        }
        self.pieces = pieces
        self.scores = scores
        vocab = table
        trie = PieceTrie(keyed)
        self.unkId = unkId
        self.byteFallback = byteFallback
        minScore = scores.min() ?? .infinity
        byteFallbackIds = byteFallbackTable(byteFallback) { table.lookup($0) }
    }

    func tokenToId(_ token: String) -> Int? { vocab.lookup(token) }

    func idToToken(_ id: Int) -> String? {
        guard id >= 0, id < pieces.count else { return nil }
        return pieces[id]
    }

    func tokenize(_ word: [Unicode.Scalar], into ids: inout [Int]) {
        if word.isEmpty { return }
        let bytes = utf8Bytes(word)
        let key = WordKey(bytes: bytes)
        let cacheable = bytes.count < WordCache.maxWordBytes
        if cacheable, let hit = cache.get(key) {
            for id in hit { ids.append(Int(id)) }
            return
        }
        let result = bytes.withUnsafeBufferPointer { encode($0) }
        if cacheable { cache.set(key, result) }
        for id in result { ids.append(Int(id)) }
    }

    /// Marks an unknown node when the model has no `unk_id` (the Rust library fails the whole encode then).
    private static let missingUnk: Int32 = -2

    /// Best path over `bytes` (one word's UTF-8), then ids of its pieces.
    func encode(_ bytes: UnsafeBufferPointer<UInt8>) -> [Int32] {
        let n = bytes.count
        let unkScore = minScore - UnigramModel.unknownPenalty
        let unkNode = unkId.map { Int32($0) } ?? UnigramModel.missingUnk
        // Per end position: best path score, where its last piece starts (-1: not reached yet) and that piece's id.
        var best = [Double](repeating: 0, count: n + 1)
        var from = [Int32](repeating: -1, count: n + 1)
        var node = [Int32](repeating: -1, count: n + 1)
        scores.withUnsafeBufferPointer { score in
            var start = 0
            while start < n {
                let base = best[start]
                let charLength = UTF8LeadByte.length(bytes[start])
                var hasSingle = false
                trie.forEachPrefix(bytes, from: start) { end, id in
                    let candidate = score[id] + base
                    // Strictly better only: on a tie the earlier start keeps the position.
                    if from[end] < 0 || candidate > best[end] {
                        best[end] = candidate
                        from[end] = Int32(start)
                        node[end] = Int32(id)
                    }
                    if end - start == charLength { hasSingle = true }
                }
                if !hasSingle {
                    let end = min(start + charLength, n)
                    let candidate = unkScore + base
                    if from[end] < 0 || candidate > best[end] {
                        best[end] = candidate
                        from[end] = Int32(start)
                        node[end] = unkNode
                    }
                }
                start += charLength
            }
        }
        // Walk back; consecutive <unk> nodes become one piece.
        var pieces: [(Range<Int>, fused: Bool)] = []
        var end = n
        var unknownEnd = -1
        while end > 0 {
            let start = Int(from[end])
            let id = node[end]
            if unkId != nil && id == unkNode {
                if unknownEnd < 0 { unknownEnd = end }
            } else {
                if unknownEnd >= 0 {
                    pieces.append((end..<unknownEnd, true))
                    unknownEnd = -1
                }
                pieces.append((start..<end, false))
            }
            end = start
        }
        if unknownEnd >= 0 { pieces.append((0..<unknownEnd, true)) }

        var out: [Int32] = []
        out.reserveCapacity(pieces.count)
        for (range, fused) in pieces.reversed() {
            if !fused && node[range.upperBound] >= 0 {
                out.append(node[range.upperBound])
                continue
            }
            // A fused unknown run (or an unknown character without unk_id): its text may still be a piece.
            let text = UnsafeBufferPointer(rebasing: bytes[range])
            if let id = vocab.lookup(text) {
                out.append(Int32(id))
                continue
            }
            if byteFallback && text.allSatisfy({ byteFallbackIds[Int($0)] >= 0 }) {
                for b in text { out.append(byteFallbackIds[Int(b)]) }
                continue
            }
            // Without unk_id the Rust library raises MissingUnkId; here the character is dropped.
            if let unk = unkId { out.append(Int32(unk)) }
        }
        return out
    }
}

enum UTF8LeadByte {
    /// Length of the UTF-8 sequence starting with `b` (1 for a stray continuation byte).
    @inline(__always)
    static func length(_ b: UInt8) -> Int {
        if b < 0xC0 { return 1 }
        if b < 0xE0 { return 2 }
        if b < 0xF0 { return 3 }
        return 4
    }
}
