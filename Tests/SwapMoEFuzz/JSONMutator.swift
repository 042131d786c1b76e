import Foundation
import SwapMoETestSupport

/// A seeded source of choices (SplitMix64): the same seed gives the same cases on every machine.
public struct FuzzRNG {
    private var base: SplitMix64
    public init(seed: UInt64) { base = SplitMix64(state: seed) }

    public mutating func next() -> UInt64 { base.next() }

    /// Uniform in `0..<n` (n > 0).
    public mutating func below(_ n: Int) -> Int { base.below(n) }
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
    public mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
}

/// Values that break size arithmetic: zero, negatives, powers of two around 32- and 64-bit limits, huge floats.
public var interestingNumbers: [Any] { [
    0, -1, 1, 2, 3, 7, 255, 256, 65535, 65536, 1 << 20, Int(Int32.max), 1 << 31, 1 << 32, (1 << 32) + 1,
    1 << 40, 1 << 53, 1 << 62, Int.max, Int.min, -(1 << 31), 1_000_000_000, 0.5, -0.5, 1e300, -1e300, 1e-300,
] }

/// One step along a JSON path: an object key or an array index.
enum PathStep { case key(String), index(Int) }

/// Random structural edits of a JSON document (parsed with `JSONSerialization`): change a number to an
/// interesting value, a string to another, drop or duplicate an array element, drop a key, change a value's type.
public enum JSONMutator {
    /// Every path in `value` (the root included).
    static func paths(_ value: Any, prefix: [PathStep] = [], into out: inout [[PathStep]]) {
        out.append(prefix)
        if let d = value as? [String: Any] {
            for k in d.keys.sorted() { paths(d[k]!, prefix: prefix + [.key(k)], into: &out) }
        } else if let a = value as? [Any] {
            // Long arrays (vocabularies, merges, expert lists): a sample of their elements keeps this fast.
            let idx = a.count <= 64 ? Array(a.indices) : Array(a.indices.prefix(16)) + Array(a.indices.suffix(16)) + stride(from: 0, to: a.count, by: a.count / 32).map { $0 }
            for i in idx { paths(a[i], prefix: prefix + [.index(i)], into: &out) }
        }
    }

    static func get(_ value: Any, _ path: ArraySlice<PathStep>) -> Any? {
        guard let first = path.first else { return value }
        switch first {
        case .key(let k): return (value as? [String: Any])?[k].flatMap { get($0, path.dropFirst()) }
        case .index(let i): return (value as? [Any]).flatMap { i < $0.count ? get($0[i], path.dropFirst()) : nil }
        }
    }

    /// `value` with the node at `path` replaced by `f(node)` (nil removes it from its parent).
    static func update(_ value: Any, _ path: ArraySlice<PathStep>, _ f: (Any) -> Any?) -> Any? {
        guard let first = path.first else { return f(value) }
        switch first {
        case .key(let k):
            guard var d = value as? [String: Any], let child = d[k] else { return value }
            d[k] = update(child, path.dropFirst(), f)
            return d
        case .index(let i):
            guard var a = value as? [Any], i < a.count else { return value }
            if let v = update(a[i], path.dropFirst(), f) { a[i] = v } else { a.remove(at: i) }
            return a
        }
    }

    /// Sets the node at `path` to `new`, creating the last key if it is missing.
    public static func set(_ root: Any, _ keys: [String], _ new: Any) -> Any {
        guard let k = keys.first else { return new }
        var d = root as? [String: Any] ?? [:]
        d[k] = set(d[k] ?? [String: Any](), Array(keys.dropFirst()), new)
        return d
    }

    /// One random edit of `root`, and a short description of it.
    public static func mutate(_ root: Any, rng: inout FuzzRNG) -> (Any, String) {
        var all: [[PathStep]] = []
        paths(root, into: &all)
        let path = rng.pick(all)
        let label = path.map { step -> String in
            switch step { case .key(let k): return k; case .index(let i): return "[\(i)]" }
        }.joined(separator: ".")
        let node = get(root, path[...]) as Any
        let op = rng.below(8)
        var what = ""
        let out = update(root, path[...]) { v in
            switch op {
            case 0, 1:
                let n = rng.pick(interestingNumbers)
                what = "\(label) = \(n)"
                return n
            case 2:
                if let n = v as? NSNumber, !(v is Bool) {
                    let r = n.int64Value &+ Int64(rng.pick([-2, -1, 1, 2, 1000]))
                    what = "\(label) = \(r)"
                    return NSNumber(value: r)
                }
                what = "\(label) = \"\""
                return ""
            case 3:
                let s = rng.pick(["", "x", "null", "BF16", "I64", "lz4", "decoder", "encoder", "gate", "wi", String(repeating: "A", count: 5000), "\u{0}", "é"])
                what = "\(label) = \"\(s.prefix(12))\""
                return s
            case 4:
                what = "remove \(label)"
                return nil
            case 5:
                let t: Any = rng.pick([NSNull(), true, [Any](), [String: Any](), "1", [1, 2]])
                what = "\(label) retyped"
                return t
            case 6:
                if var a = v as? [Any], !a.isEmpty {
                    let i = rng.below(a.count)
                    a.insert(a[i], at: i)
                    what = "duplicate \(label)[\(i)]"
                    return a
                }
                if var a = v as? [Any], a.isEmpty { a.append(1); what = "fill \(label)"; return a }
                what = "\(label) = -1"
                return -1
            default:
                if let a = v as? [Any], a.count > 1 {
                    what = "reverse \(label)"
                    return Array(a.reversed())
                }
                if let d = v as? [String: Any], let k = d.keys.sorted().first {
                    var e = d
                    e.removeValue(forKey: k)
                    what = "remove \(label).\(k)"
                    return e
                }
                let n = rng.pick(interestingNumbers)
                what = "\(label) = \(n)"
                return n
            }
        }
        _ = node
        return (out ?? NSNull(), what)
    }

    public static func parse(_ data: Data) throws -> Any {
        try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    }

    public static func encode(_ value: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])) ?? Data("null".utf8)
    }
}
