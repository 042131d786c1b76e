import Foundation
import Testing
@testable import SwapMoEMetrics

/// Goldens from Google's rouge-score and nltk's PorterStemmer (Tools/make_rouge_goldens.py).
enum RougeGolden {
    struct Pair: Decodable, Sendable {
        let name: String
        let reference: String
        let prediction: String
        /// type name -> [precision, recall, fmeasure]
        let scores: [String: [Double]]
        let scores_stem: [String: [Double]]
    }
    struct Tokenization: Decodable, Sendable {
        let text: String
        let tokens: [String]
        let tokens_stem: [String]
    }
    struct File: Decodable, Sendable {
        let pairs: [Pair]
        let aggregate: [String: [String: [Double]]]
        let tokenize: [Tokenization]
        let stems: [[String]]
    }

    static let path = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // SwapMoEMetricsTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/rouge/golden.json")

    static let file: File = {
        do { return try JSONDecoder().decode(File.self, from: Data(contentsOf: path)) } catch { fatalError("\(path.path): \(error)") }
    }()

    static let tolerance = 1e-6
}

@Suite("ROUGE against rouge-score goldens")
struct RougeGoldenTests {
    @Test("the golden file has the promised coverage")
    func coverage() {
        let g = RougeGolden.file
        #expect(g.pairs.count >= 200)
        #expect(g.stems.count >= 300)
        #expect(g.pairs.contains { $0.scores != $0.scores_stem }, "stemming never mattered: the goldens test nothing")
        #expect(g.pairs.contains { $0.scores["rougeL"] != $0.scores["rougeLsum"] }, "no multi-line case where rougeLsum differs")
    }

    @Test("every pair: rouge1/2/L/Lsum precision, recall, F within 1e-6", arguments: [false, true])
    func pairs(stem: Bool) throws {
        let scorer = RougeScorer(types: RougeType.standard, useStemmer: stem)
        var checked = 0
        for pair in RougeGolden.file.pairs {
            let got = scorer.score(reference: pair.reference, prediction: pair.prediction)
            for (name, want) in stem ? pair.scores_stem : pair.scores {
                let type = try #require(RougeType(name))
                let s = try #require(got[type])
                for (k, (g, w)) in zip([s.precision, s.recall, s.fmeasure], want).enumerated() {
                    #expect(abs(g - w) <= RougeGolden.tolerance,
                            "\(pair.name) \(name) \(["P", "R", "F"][k]) stem=\(stem): \(g) vs \(w)\nref: \(pair.reference)\npred: \(pair.prediction)")
                    checked += 1
                }
            }
        }
        #expect(checked == RougeGolden.file.pairs.count * 4 * 3)
    }

    @Test("mean over all pairs equals numpy.mean of the goldens", arguments: [false, true])
    func aggregate(stem: Bool) throws {
        let scorer = RougeScorer(useStemmer: stem)
        var agg = RougeAggregator()
        for pair in RougeGolden.file.pairs { agg.add(scorer.score(reference: pair.reference, prediction: pair.prediction)) }
        #expect(agg.count == RougeGolden.file.pairs.count)
        for (name, want) in try #require(RougeGolden.file.aggregate[stem ? "stem" : "plain"]) {
            let type = try #require(RougeType(name))
            let m = try #require(agg.mean(type))
            for (g, w) in zip([m.precision, m.recall, m.fmeasure], want) { #expect(abs(g - w) <= 1e-9, "\(name): \(g) vs \(w)") }
        }
    }

    @Test("tokenizer: lowercasing, ASCII a-z0-9 only, stemming only beyond 3 characters")
    func tokenize() {
        let plain = RougeTokenizer(useStemmer: false), stem = RougeTokenizer(useStemmer: true)
        for t in RougeGolden.file.tokenize {
            #expect(plain.tokenize(t.text) == t.tokens, "\(t.text.debugDescription)")
            #expect(stem.tokenize(t.text) == t.tokens_stem, "\(t.text.debugDescription) (stemmed)")
        }
    }

    @Test("Porter stemmer equals nltk's PorterStemmer().stem word for word")
    func stems() {
        var wrong: [String] = []
        for pair in RougeGolden.file.stems where PorterStemmer.stem(pair[0]) != pair[1] {
            wrong.append("\(pair[0]) -> \(PorterStemmer.stem(pair[0])), nltk \(pair[1])")
        }
        #expect(wrong.isEmpty, "\(wrong.count) of \(RougeGolden.file.stems.count) stems differ:\n\(wrong.prefix(40).joined(separator: "\n"))")
    }
}

@Suite("ROUGE behaviour")
struct RougeBehaviourTests {
    @Test("rouge-score's documented example")
    func readmeExample() {
        // rouge-score README: score('The quick brown fox jumps over the lazy dog', 'The quick brown dog jumps on the log.')
        let s = RougeScorer(types: [.rouge1, .rougeL], useStemmer: true)
            .score(reference: "The quick brown fox jumps over the lazy dog", prediction: "The quick brown dog jumps on the log.")
        #expect(s[.rouge1] == RougeScore(precision: 0.75, recall: 0.6666666666666666, fmeasure: 0.7058823529411765))
        #expect(s[.rougeL] == RougeScore(precision: 0.625, recall: 0.5555555555555556, fmeasure: 0.5882352941176471))
    }

    @Test("empty sides score 0 without dividing by zero")
    func empty() {
        let scorer = RougeScorer()
        for (r, p) in [("", ""), ("a b", ""), ("", "a b"), ("!!!", "a"), ("\n\n", "\n")] {
            let s = scorer.score(reference: r, prediction: p)
            for t in RougeType.standard { #expect(s[t] == .zero, "\(t) \(r.debugDescription) / \(p.debugDescription)") }
        }
    }

    @Test("type names parse as rouge-score accepts them")
    func typeNames() {
        #expect(RougeType("rouge1") == .rouge1 && RougeType("rouge9") == .rougeN(9))
        #expect(RougeType("rougeL") == .rougeL && RougeType("rougeLsum") == .rougeLsum)
        for bad in ["rouge0", "rouge10", "rougel", "rouge", "ROUGE1", "rougeLSum"] { #expect(RougeType(bad) == nil, "\(bad)") }
        #expect(RougeType.standard.map(\.description) == ["rouge1", "rouge2", "rougeL", "rougeLsum"])
    }

    @Test("rougeLsum splits only on U+000A: CRLF is a line break, U+2028 is not")
    func lines() {
        #expect(RougeScorer.sentences("a\r\nb").count == 2)
        #expect(RougeScorer.sentences("a\u{2028}b").count == 1)
        #expect(RougeScorer.sentences("\n\na\n\n").count == 1)
    }
}
