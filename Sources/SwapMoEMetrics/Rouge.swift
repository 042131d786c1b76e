/// ROUGE-N, ROUGE-L and ROUGE-Lsum exactly as Google's `rouge-score` package computes them
/// (`rouge_scorer.RougeScorer(types, use_stemmer=...)` with its default tokenizer; checked against
/// rouge-score 0.1.2 in Tests/Fixtures/rouge/golden.json).
///
/// What that means, step by step:
/// * Tokens: the text is lowercased, every run of characters other than ASCII `a-z0-9` becomes a separator
///   (so `café` gives `caf`, `don't` gives `don` `t`, and `naïve` gives `na` `ve`), and with stemming every
///   token longer than 3 characters goes through nltk's Porter stemmer (``PorterStemmer``).
/// * rougeN: clipped n-gram overlap; precision = overlap / max(prediction n-grams, 1), recall likewise
///   with the reference, so an empty side scores 0.
/// * rougeL: longest common subsequence of the two token lists; 0 when either is empty.
/// * rougeLsum: summary-level LCS. Sentences are the text's lines (split on `\n` only; empty lines
///   dropped); for each reference line the union of its LCS index sets with every prediction line is
///   taken, and hits are clipped by each token's counts on both sides (ROUGE-1.5.5's rule).
/// * F = 2PR / (P + R), or 0 when P + R is 0.
public struct RougeScore: Equatable, Sendable, CustomStringConvertible {
    public var precision: Double
    public var recall: Double
    public var fmeasure: Double

    public init(precision: Double, recall: Double, fmeasure: Double) {
        self.precision = precision; self.recall = recall; self.fmeasure = fmeasure
    }

    /// Precision and recall with rouge-score's F-measure (`scoring.fmeasure`), evaluated in the same order
    /// so the bits agree with Python's.
    public init(precision: Double, recall: Double) {
        self.init(precision: precision, recall: recall, fmeasure: precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0)
    }

    public static let zero = RougeScore(precision: 0, recall: 0, fmeasure: 0)

    public var description: String { "P \(precision) R \(recall) F \(fmeasure)" }
}

/// A ROUGE variant, named as rouge-score names them: `rouge1` ... `rouge9`, `rougeL`, `rougeLsum`.
public enum RougeType: Hashable, Sendable, CustomStringConvertible {
    /// n-gram overlap, n in 1...9.
    case rougeN(Int)
    /// Longest common subsequence over the whole text.
    case rougeL
    /// Summary-level (union) LCS over newline-separated sentences.
    case rougeLsum

    public static let rouge1 = RougeType.rougeN(1)
    public static let rouge2 = RougeType.rougeN(2)
    /// What `swapmoe rouge` reports and papers' ROUGE tables use.
    public static let standard: [RougeType] = [.rouge1, .rouge2, .rougeL, .rougeLsum]

    /// Parses a rouge-score type name; nil where rouge-score raises ValueError (`rouge0`, `rouge10`, ...).
    public init?(_ name: String) {
        switch name {
        case "rougeL": self = .rougeL
        case "rougeLsum": self = .rougeLsum
        default:
            guard name.hasPrefix("rouge"), name.utf8.count == 6, let n = Int(name.dropFirst(5)), n >= 1 else { return nil }
            self = .rougeN(n)
        }
    }

    public var description: String {
        switch self {
        case .rougeN(let n): "rouge\(n)"
        case .rougeL: "rougeL"
        case .rougeLsum: "rougeLsum"
        }
    }
}

/// rouge-score's default tokenizer (`tokenize.tokenize`), with or without Porter stemming.
public struct RougeTokenizer: Sendable {
    public let useStemmer: Bool

    public init(useStemmer: Bool = false) { self.useStemmer = useStemmer }

    public func tokenize(_ text: String) -> [String] { tokenize(text.unicodeScalars[...]) }

    func tokenize(_ scalars: Substring.UnicodeScalarView) -> [String] {
        var tokens: [String] = []
        var current: [UInt8] = []
        func flush() {
            guard !current.isEmpty else { return }
            let word = String(decoding: current, as: UTF8.self)
            current.removeAll(keepingCapacity: true)
            // Only words longer than 3 characters are stemmed; a stem is always non-empty ASCII a-z0-9
            // here, so rouge-score's final validity filter drops nothing.
            tokens.append(useStemmer && word.utf8.count > 3 ? PorterStemmer.stem(word) : word)
        }
        /// Python lowercases the whole text, then replaces `[^a-z0-9]+` by a space.
        func add(_ c: UInt32) {
            if (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) { current.append(UInt8(c)) } else { flush() }
        }
        for s in scalars {
            if s.isASCII {
                let c = s.value
                add((0x41...0x5A).contains(c) ? c + 0x20 : c)
            } else {
                // A handful of non-ASCII letters lowercase to ASCII: U+0130 (İ) to "i" + U+0307, U+212A
                // (Kelvin sign) to "k". Everything else non-ASCII is a separator.
                for l in s.properties.lowercaseMapping.unicodeScalars { add(l.value) }
            }
        }
        flush()
        return tokens
    }
}

/// Scores a prediction against a reference, as `RougeScorer(types, use_stemmer).score(target, prediction)`.
public struct RougeScorer: Sendable {
    public let types: [RougeType]
    public let tokenizer: RougeTokenizer

    public init(types: [RougeType] = RougeType.standard, useStemmer: Bool = false) {
        self.types = types
        self.tokenizer = RougeTokenizer(useStemmer: useStemmer)
    }

    public var useStemmer: Bool { tokenizer.useStemmer }

    /// The scores of every type in `types` (rouge-score's `score(target=reference, prediction=prediction)`).
    public func score(reference: String, prediction: String) -> [RougeType: RougeScore] {
        var ids = TokenIDs()
        var result: [RougeType: RougeScore] = [:]
        var whole: (ref: [Int32], pred: [Int32])?
        func wholeTexts() -> (ref: [Int32], pred: [Int32]) {
            if let whole { return whole }
            let w = (ids.map(tokenizer.tokenize(reference)), ids.map(tokenizer.tokenize(prediction)))
            whole = w
            return w
        }
        for type in types {
            switch type {
            case .rougeN(let n):
                let (r, p) = wholeTexts()
                result[type] = Self.ngramScore(reference: r, prediction: p, n: n)
            case .rougeL:
                let (r, p) = wholeTexts()
                result[type] = Self.lcsScore(reference: r, prediction: p)
            case .rougeLsum:
                let r = Self.sentences(reference).map { ids.map(tokenizer.tokenize($0)) }
                let p = Self.sentences(prediction).map { ids.map(tokenizer.tokenize($0)) }
                result[type] = Self.summaryLevelLCSScore(reference: r, prediction: p)
            }
        }
        return result
    }

    /// Interns tokens as small integers so n-gram and LCS comparisons are integer compares.
    struct TokenIDs {
        private var table: [String: Int32] = [:]
        mutating func map(_ tokens: [String]) -> [Int32] {
            tokens.map { t in
                if let id = table[t] { return id }
                let id = Int32(table.count)
                table[t] = id
                return id
            }
        }
    }

    /// rougeLsum's sentences: `text.split("\n")` without empty strings (a line of only `\r` or spaces stays,
    /// and tokenises to nothing). Split on the scalar U+000A, never on Characters: `\r\n` is one Character.
    static func sentences(_ text: String) -> [Substring.UnicodeScalarView] {
        text.unicodeScalars[...].split(separator: "\n", omittingEmptySubsequences: true)
    }

    // MARK: - rougeN

    static func ngramScore(reference: [Int32], prediction: [Int32], n: Int) -> RougeScore {
        let r = ngramCounts(reference, n), p = ngramCounts(prediction, n)
        var overlap = 0
        for (gram, count) in r { overlap += min(count, p[gram] ?? 0) }
        let refTotal = max(0, reference.count - n + 1), predTotal = max(0, prediction.count - n + 1)
        return RougeScore(precision: Double(overlap) / Double(max(predTotal, 1)), recall: Double(overlap) / Double(max(refTotal, 1)))
    }

    static func ngramCounts(_ tokens: [Int32], _ n: Int) -> [ArraySlice<Int32>: Int] {
        var counts: [ArraySlice<Int32>: Int] = [:]
        guard tokens.count >= n else { return counts }
        for start in 0...(tokens.count - n) { counts[tokens[start..<(start + n)], default: 0] += 1 }
        return counts
    }

    // MARK: - rougeL

    static func lcsScore(reference: [Int32], prediction: [Int32]) -> RougeScore {
        guard !reference.isEmpty, !prediction.isEmpty else { return .zero }
        let length = lcsLength(reference, prediction)
        return RougeScore(precision: Double(length) / Double(prediction.count), recall: Double(length) / Double(reference.count))
    }

    /// LCS length with two rows of the DP table.
    static func lcsLength(_ a: [Int32], _ b: [Int32]) -> Int {
        var previous = [Int](repeating: 0, count: b.count + 1), row = previous
        for i in 1...a.count {
            for j in 1...b.count {
                row[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], row[j - 1])
            }
            swap(&previous, &row)
        }
        return previous[b.count]
    }

    // MARK: - rougeLsum

    static func summaryLevelLCSScore(reference: [[Int32]], prediction: [[Int32]]) -> RougeScore {
        guard !reference.isEmpty, !prediction.isEmpty else { return .zero }
        let m = reference.reduce(0) { $0 + $1.count }, n = prediction.reduce(0) { $0 + $1.count }
        guard m > 0, n > 0 else { return .zero }
        var refCounts: [Int32: Int] = [:], predCounts: [Int32: Int] = [:]
        for s in reference { for t in s { refCounts[t, default: 0] += 1 } }
        for s in prediction { for t in s { predCounts[t, default: 0] += 1 } }
        var hits = 0
        for r in reference {
            // Union of the reference positions on one LCS with each prediction sentence, in order.
            var inUnion = [Bool](repeating: false, count: r.count)
            for c in prediction { for i in lcsIndices(r, c) { inUnion[i] = true } }
            for (i, t) in r.enumerated() where inUnion[i] {
                // Each token is counted at most as often as it occurs on both sides.
                if predCounts[t, default: 0] > 0 && refCounts[t, default: 0] > 0 {
                    hits += 1
                    predCounts[t]! -= 1
                    refCounts[t]! -= 1
                }
            }
        }
        return RougeScore(precision: Double(hits) / Double(n), recall: Double(hits) / Double(m))
    }

    /// The reference positions of one LCS of `ref` and `can`, chosen as rouge-score's `_backtrack_norec`
    /// chooses (ties move up in `ref`), so the union over sentences is the same set.
    static func lcsIndices(_ ref: [Int32], _ can: [Int32]) -> [Int] {
        let rows = ref.count, cols = can.count
        guard rows > 0, cols > 0 else { return [] }
        let width = cols + 1
        var t = [Int32](repeating: 0, count: (rows + 1) * width)
        for i in 1...rows {
            for j in 1...cols {
                t[i * width + j] = ref[i - 1] == can[j - 1] ? t[(i - 1) * width + j - 1] + 1 : max(t[(i - 1) * width + j], t[i * width + j - 1])
            }
        }
        var out: [Int] = []
        var i = rows, j = cols
        while i > 0 && j > 0 {
            if ref[i - 1] == can[j - 1] {
                out.append(i - 1); i -= 1; j -= 1
            } else if t[i * width + j - 1] > t[(i - 1) * width + j] {
                j -= 1
            } else {
                i -= 1
            }
        }
        return out.reversed()
    }
}

/// Plain means of per-example scores.
///
/// rouge-score's `BootstrapAggregator` reports low/mid/high from 1000 bootstrap resamples; its `mid` is the
/// median of the resampled means, which is close to but not exactly the plain mean computed here (and
/// differs from run to run). Papers' ROUGE tables quote that `mid` F-measure, ×100.
public struct RougeAggregator: Sendable {
    public private(set) var count = 0
    private var sums: [RougeType: (p: Double, r: Double, f: Double)] = [:]

    public init() {}

    public mutating func add(_ scores: [RougeType: RougeScore]) {
        count += 1
        for (type, s) in scores {
            let old = sums[type] ?? (0, 0, 0)
            sums[type] = (old.p + s.precision, old.r + s.recall, old.f + s.fmeasure)
        }
    }

    /// The mean of each measure over the examples added; nil for a type never added.
    public func mean(_ type: RougeType) -> RougeScore? {
        guard let s = sums[type], count > 0 else { return nil }
        let n = Double(count)
        return RougeScore(precision: s.p / n, recall: s.r / n, fmeasure: s.f / n)
    }
}
