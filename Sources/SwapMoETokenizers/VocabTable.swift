// Lookup tables the tokenization models share: the exact-bytes vocabulary hash table (BPE, Unigram), the
// byte-exact word key and the bounded word cache (models, added tokens).

import Synchronization

/// Exact-bytes hash table from token text to id. Keys compare by UTF-8 bytes (never by Unicode canonical
/// equivalence, which Swift `String` equality uses), so "é" and "e\u{301}" stay distinct tokens.
struct VocabTable: Sendable {
    private var arena: [UInt8] = []
    private var starts: [Int32] = []
    private var lengths: [Int32] = []
    private var ids: [Int32] = []
    private var slots: [Int32] = []
    private var mask = 0

    var count: Int { ids.count }

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        starts.reserveCapacity(capacity)
        lengths.reserveCapacity(capacity)
        ids.reserveCapacity(capacity)
    }

    @inline(__always)
    static func hash(_ p: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in p {
            h = (h ^ UInt64(b)) &* 0x100_0000_01b3
        }
        h ^= h >> 29
        return Int(truncatingIfNeeded: h)
    }

    /// Inserts or overwrites (the last duplicate key wins, as when serde reads a JSON object into a map).
    mutating func insert(_ key: [UInt8], id: Int) {
        if slots.count < (ids.count + 1) * 2 { grow() }
        key.withUnsafeBufferPointer { k in
            var i = VocabTable.hash(k) & mask
            while true {
                let e = Int(slots[i])
                if e < 0 {
                    slots[i] = Int32(ids.count)
                    starts.append(Int32(arena.count))
                    lengths.append(Int32(k.count))
                    arena.append(contentsOf: k)
                    ids.append(Int32(id))
                    return
                }
                if equals(e, k) {
                    ids[e] = Int32(id)
                    return
                }
                i = (i + 1) & mask
            }
        }
    }

    private mutating func grow() {
        var size = max(16, slots.count * 2)
        while size < (ids.count + 1) * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for e in 0..<ids.count {
            let s = Int(starts[e])
            let l = Int(lengths[e])
            let h = arena.withUnsafeBufferPointer { VocabTable.hash(UnsafeBufferPointer(rebasing: $0[s..<(s + l)])) }
            var i = h & mask
            while slots[i] >= 0 { i = (i + 1) & mask }
            slots[i] = Int32(e)
        }
    }

    @inline(__always)
    private func equals(_ e: Int, _ k: UnsafeBufferPointer<UInt8>) -> Bool {
        let l = Int(lengths[e])
        guard l == k.count else { return false }
        let s = Int(starts[e])
        return arena.withUnsafeBufferPointer { a in
            for j in 0..<l where a[s + j] != k[j] { return false }
            return true
        }
    }

    @inline(__always)
    func lookup(_ k: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = VocabTable.hash(k) & mask
        while true {
            let e = Int(slots[i])
            if e < 0 { return nil }
            if equals(e, k) { return Int(ids[e]) }
            i = (i + 1) & mask
        }
    }

    func lookup(_ k: [UInt8]) -> Int? { k.withUnsafeBufferPointer { lookup($0) } }

    func lookup(_ s: String) -> Int? { lookup(Array(s.utf8)) }

    /// All (key, id) entries in insertion order.
    var entries: [(String, Int)] {
        (0..<ids.count).map { e in
            let s = Int(starts[e])
            return (String(decoding: arena[s..<(s + Int(lengths[e]))], as: UTF8.self), Int(ids[e]))
        }
    }
}

/// Byte-exact hashable key for the word cache.
struct WordKey: Hashable, Sendable {
    let bytes: [UInt8]
    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// Bounded, thread-safe cache of word -> ids (the Rust library keeps 10,000 words, skipping words of 256+ bytes).
final class WordCache: Sendable {
    static let capacity = 10_000
    static let maxWordBytes = 256
    private let storage = Mutex<[WordKey: [Int32]]>([:])

    func get(_ key: WordKey) -> [Int32]? { storage.withLock { $0[key] } }

    func set(_ key: WordKey, _ value: [Int32]) {
        storage.withLock { dict in
            if dict.count < WordCache.capacity { dict[key] = value }
        }
    }
}
