/// The Porter stemmer exactly as nltk's `PorterStemmer()` runs it in its default `NLTK_EXTENSIONS` mode,
/// the stemmer `rouge-score` uses for `use_stemmer=True` (checked against nltk 3.10.4 word by word in
/// Tests/Fixtures/rouge/golden.json).
///
/// That mode differs from Porter's 1980 paper in a few places, all reproduced here: a table of irregular
/// forms (`skies` -> `sky`, `dying` -> `die`, `news` -> `news`, ...); words of one or two characters are
/// returned as they are; `ies`/`ied` keep an `e` on four-letter words (`dies` -> `die`, `spied` -> `spi`);
/// `y` -> `i` needs a consonant before the `y` and a stem longer than one letter (`enjoy` stays); a two-letter
/// stem vowel+consonant counts as *o; `alli` is rewritten first and step 2 re-run; `bli` -> `ble` (not
/// `abli`), plus `fulli` -> `ful` and `logi` -> `log`.
///
/// Input is lowercased first (Swift's `lowercased()`; Python's `str.lower()` differs only for a final
/// Greek sigma, which never reaches the stemmer through ROUGE's ASCII-only tokens).
public enum PorterStemmer {
    /// nltk's irregular forms, looked up before any rule.
    static let irregular: [String: String] = {
        let forms: [(String, [String])] = [
            ("sky", ["sky", "skies"]), ("die", ["dying"]), ("lie", ["lying"]), ("tie", ["tying"]), ("news", ["news"]),
            ("inning", ["innings", "inning"]), ("outing", ["outings", "outing"]), ("canning", ["cannings", "canning"]),
            ("howe", ["howe"]), ("proceed", ["proceed"]), ("exceed", ["exceed"]), ("succeed", ["succeed"]),
        ]
        var pool: [String: String] = [:]
        for (stem, words) in forms { for w in words { pool[w] = stem } }
        return pool
    }()

    /// The stem of one word.
    public static func stem(_ word: String) -> String {
        let lower = word.lowercased()
        if let s = irregular[lower] { return s }
        // nltk measures the word as given (before lowercasing) for this rule.
        if word.unicodeScalars.count <= 2 { return lower }
        var w = Word(lower.unicodeScalars.map(\.value))
        w = step1a(w)
        w = step1b(w)
        w = step1c(w)
        w = step2(w)
        w = step3(w)
        w = step4(w)
        w = step5a(w)
        w = step5b(w)
        var out = String.UnicodeScalarView()
        for v in w { if let s = Unicode.Scalar(v) { out.append(s) } }
        return String(out)
    }

    // MARK: - Letters

    typealias Word = [UInt32]

    private static let a = UInt32(UInt8(ascii: "a")), e = UInt32(UInt8(ascii: "e")), i = UInt32(UInt8(ascii: "i"))
    private static let o = UInt32(UInt8(ascii: "o")), u = UInt32(UInt8(ascii: "u")), y = UInt32(UInt8(ascii: "y"))

    private static func isVowel(_ c: UInt32) -> Bool { c == a || c == e || c == i || c == o || c == u }

    /// Porter's consonant: not a, e, i, o, u, and not a `y` after a consonant (a run of `y`s alternates).
    static func isConsonant(_ w: Word, _ index: Int) -> Bool {
        var k = index
        if isVowel(w[k]) { return false }
        guard w[k] == y else { return true }
        var negate = false
        while k > 0 && w[k] == y { negate.toggle(); k -= 1 }
        return !isVowel(w[k]) != negate
    }

    /// `m` in [C](VC){m}[V]: the number of vowel-to-consonant transitions.
    static func measure(_ w: Word) -> Int {
        var m = 0
        var previousConsonant = false
        for k in w.indices {
            let c: Bool
            if isVowel(w[k]) { c = false } else if w[k] == y { c = k == 0 ? true : !previousConsonant } else { c = true }
            if c && k > 0 && !previousConsonant { m += 1 }
            previousConsonant = c
        }
        return m
    }

    static func containsVowel(_ w: Word) -> Bool { w.indices.contains { !isConsonant(w, $0) } }

    /// *d: ends with a double consonant.
    static func endsDoubleConsonant(_ w: Word) -> Bool {
        w.count >= 2 && w[w.count - 1] == w[w.count - 2] && isConsonant(w, w.count - 1)
    }

    /// *o: ends consonant-vowel-consonant, the last not w, x or y; or (NLTK) is exactly vowel-consonant.
    static func endsCVC(_ w: Word) -> Bool {
        let n = w.count
        if n >= 3 && isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1)
            && !"wxy".unicodeScalars.contains(where: { $0.value == w[n - 1] }) { return true }
        return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
    }

    // MARK: - Rules

    private static func ends(_ w: Word, _ suffix: String) -> Bool {
        let s = Array(suffix.utf8)
        guard w.count >= s.count else { return false }
        for (k, c) in s.enumerated() where w[w.count - s.count + k] != UInt32(c) { return false }
        return true
    }

    private static func dropping(_ w: Word, _ count: Int) -> Word { Array(w[..<(w.count - count)]) }
    private static func appending(_ w: Word, _ s: String) -> Word { w + s.utf8.map { UInt32($0) } }

    /// A suffix rule: `suffix` -> `replacement` when `condition(stem)` holds.
    private struct Rule {
        var suffix: String
        var replacement: String
        var condition: ((Word) -> Bool)?
        init(_ suffix: String, _ replacement: String, _ condition: ((Word) -> Bool)? = nil) {
            self.suffix = suffix; self.replacement = replacement; self.condition = condition
        }
    }

    /// nltk's `_apply_rule_list`: the first rule whose suffix matches decides; if its condition fails the
    /// word is returned unchanged (later rules are not tried).
    private static func apply(_ w: Word, _ rules: [Rule]) -> Word {
        for r in rules where ends(w, r.suffix) {
            let stem = dropping(w, r.suffix.utf8.count)
            return (r.condition?(stem) ?? true) ? appending(stem, r.replacement) : w
        }
        return w
    }

    private static let positiveMeasure: @Sendable (Word) -> Bool = { measure($0) > 0 }
    private static let measureAbove1: @Sendable (Word) -> Bool = { measure($0) > 1 }

    static func step1a(_ w: Word) -> Word {
        if ends(w, "ies") && w.count == 4 { return appending(dropping(w, 3), "ie") }
        return apply(w, [Rule("sses", "ss"), Rule("ies", "i"), Rule("ss", "ss"), Rule("s", "")])
    }

    static func step1b(_ w: Word) -> Word {
        if ends(w, "ied") { return appending(dropping(w, 3), w.count == 4 ? "ie" : "i") }
        if ends(w, "eed") {
            let stem = dropping(w, 3)
            return measure(stem) > 0 ? appending(stem, "ee") : w
        }
        var intermediate: Word?
        for suffix in ["ed", "ing"] where ends(w, suffix) {
            let stem = dropping(w, suffix.utf8.count)
            if containsVowel(stem) { intermediate = stem; break }
        }
        guard let s = intermediate else { return w }
        for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] where ends(s, suffix) {
            return appending(dropping(s, 2), replacement)
        }
        if endsDoubleConsonant(s) {
            // Double consonant -> single, except l, s, z; either way no later rule is tried.
            return "lsz".unicodeScalars.contains(where: { $0.value == s[s.count - 1] }) ? s : dropping(s, 1)
        }
        return measure(s) == 1 && endsCVC(s) ? appending(s, "e") : s
    }

    static func step1c(_ w: Word) -> Word {
        apply(w, [Rule("y", "i") { $0.count > 1 && isConsonant($0, $0.count - 1) }])
    }

    static func step2(_ w: Word) -> Word {
        if ends(w, "alli") && measure(dropping(w, 4)) > 0 { return step2(appending(dropping(w, 4), "al")) }
        let m = positiveMeasure
        return apply(w, [
            Rule("ational", "ate", m), Rule("tional", "tion", m), Rule("enci", "ence", m), Rule("anci", "ance", m),
            Rule("izer", "ize", m), Rule("bli", "ble", m), Rule("alli", "al", m), Rule("entli", "ent", m),
            Rule("eli", "e", m), Rule("ousli", "ous", m), Rule("ization", "ize", m), Rule("ation", "ate", m),
            Rule("ator", "ate", m), Rule("alism", "al", m), Rule("iveness", "ive", m), Rule("fulness", "ful", m),
            Rule("ousness", "ous", m), Rule("aliti", "al", m), Rule("iviti", "ive", m), Rule("biliti", "ble", m),
            Rule("fulli", "ful", m),
            // The `l` of `logi` stays with the stem for the measure, so `geo-logi` and `theo-logi` qualify.
            Rule("logi", "log") { _ in measure(dropping(w, 3)) > 0 },
        ])
    }

    static func step3(_ w: Word) -> Word {
        let m = positiveMeasure
        return apply(w, [Rule("icate", "ic", m), Rule("ative", "", m), Rule("alize", "al", m), Rule("iciti", "ic", m),
                         Rule("ical", "ic", m), Rule("ful", "", m), Rule("ness", "", m)])
    }

    static func step4(_ w: Word) -> Word {
        let m = measureAbove1
        let st = "st".unicodeScalars.map(\.value)
        return apply(w, [
            Rule("al", "", m), Rule("ance", "", m), Rule("ence", "", m), Rule("er", "", m), Rule("ic", "", m),
            Rule("able", "", m), Rule("ible", "", m), Rule("ant", "", m), Rule("ement", "", m), Rule("ment", "", m),
            Rule("ent", "", m), Rule("ion", "") { measure($0) > 1 && st.contains($0[$0.count - 1]) },
            Rule("ou", "", m), Rule("ism", "", m), Rule("ate", "", m), Rule("iti", "", m), Rule("ous", "", m),
            Rule("ive", "", m), Rule("ize", "", m),
        ])
    }

    static func step5a(_ w: Word) -> Word {
        guard ends(w, "e") else { return w }
        let stem = dropping(w, 1)
        let m = measure(stem)
        return m > 1 || (m == 1 && !endsCVC(stem)) ? stem : w
    }

    static func step5b(_ w: Word) -> Word {
        ends(w, "ll") && measure(dropping(w, 1)) > 1 ? dropping(w, 1) : w
    }
}
