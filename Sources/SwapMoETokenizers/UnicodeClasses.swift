// Character classification with the exact meanings the Rust tokenizers library uses
// (`char::is_whitespace`, `char::is_alphanumeric`, onig's \s \w \p{..}), over Unicode scalars.

enum UnicodeClasses {
    /// Bit index of a general category, for category sets stored as bit masks.
    @inline(__always)
    static func bit(_ c: Unicode.GeneralCategory) -> UInt32 {
        switch c {
        case .uppercaseLetter: return 1 << 0
        case .lowercaseLetter: return 1 << 1
        case .titlecaseLetter: return 1 << 2
        case .modifierLetter: return 1 << 3
        case .otherLetter: return 1 << 4
        case .nonspacingMark: return 1 << 5
        case .spacingMark: return 1 << 6
        case .enclosingMark: return 1 << 7
        case .decimalNumber: return 1 << 8
        case .letterNumber: return 1 << 9
        case .otherNumber: return 1 << 10
        case .connectorPunctuation: return 1 << 11
        case .dashPunctuation: return 1 << 12
        case .openPunctuation: return 1 << 13
        case .closePunctuation: return 1 << 14
        case .initialPunctuation: return 1 << 15
        case .finalPunctuation: return 1 << 16
        case .otherPunctuation: return 1 << 17
        case .mathSymbol: return 1 << 18
        case .currencySymbol: return 1 << 19
        case .modifierSymbol: return 1 << 20
        case .otherSymbol: return 1 << 21
        case .spaceSeparator: return 1 << 22
        case .lineSeparator: return 1 << 23
        case .paragraphSeparator: return 1 << 24
        case .control: return 1 << 25
        case .format: return 1 << 26
        case .surrogate: return 1 << 27
        case .privateUse: return 1 << 28
        case .unassigned: return 1 << 29
        @unknown default: return 1 << 29
        }
    }

    static let letter: UInt32 = 0b11111
    static let mark: UInt32 = 0b111 << 5
    static let number: UInt32 = 0b111 << 8
    static let punctuation: UInt32 = 0b1111111 << 11
    static let symbol: UInt32 = 0b1111 << 18
    static let separator: UInt32 = 0b111 << 22
    static let other: UInt32 = 0b11111 << 25

    /// Category mask for a `\p{Name}` property name; nil if the name is not a general category.
    static func categoryMask(named rawName: String) -> UInt32? {
        let name = String(rawName.unicodeScalars.filter { $0 != "_" && $0 != " " && $0 != "-" }.map(Character.init)).lowercased()
        switch name {
        case "l", "letter": return letter
        case "lu", "uppercaseletter": return 1 << 0
        case "ll", "lowercaseletter": return 1 << 1
        case "lt", "titlecaseletter": return 1 << 2
        case "lm", "modifierletter": return 1 << 3
        case "lo", "otherletter": return 1 << 4
        case "lc", "casedletter", "l&": return 0b111
        case "m", "mark", "combiningmark": return mark
        case "mn", "nonspacingmark": return 1 << 5
        case "mc", "spacingmark": return 1 << 6
        case "me", "enclosingmark": return 1 << 7
        case "n", "number": return number
        case "nd", "decimalnumber", "digit": return 1 << 8
        case "nl", "letternumber": return 1 << 9
        case "no", "othernumber": return 1 << 10
        case "p", "punctuation", "punct": return punctuation
        case "pc", "connectorpunctuation": return 1 << 11
        case "pd", "dashpunctuation": return 1 << 12
        case "ps", "openpunctuation": return 1 << 13
        case "pe", "closepunctuation": return 1 << 14
        case "pi", "initialpunctuation": return 1 << 15
        case "pf", "finalpunctuation": return 1 << 16
        case "po", "otherpunctuation": return 1 << 17
        case "s", "symbol": return symbol
        case "sm", "mathsymbol": return 1 << 18
        case "sc", "currencysymbol": return 1 << 19
        case "sk", "modifiersymbol": return 1 << 20
        case "so", "othersymbol": return 1 << 21
        case "z", "separator": return separator
        case "zs", "spaceseparator": return 1 << 22
        case "zl", "lineseparator": return 1 << 23
        case "zp", "paragraphseparator": return 1 << 24
        case "c", "other": return other
        case "cc", "control", "cntrl": return 1 << 25
        case "cf", "format": return 1 << 26
        case "cs", "surrogate": return 1 << 27
        case "co", "privateuse": return 1 << 28
        case "cn", "unassigned": return 1 << 29
        default: return nil
        }
    }

    /// General category as Oniguruma sees it: characters assigned after its Unicode version count as unassigned.
    @inline(__always)
    static func categoryBit(_ s: Unicode.Scalar) -> UInt32 {
        if s.value == 0x295 { return 1 << 1 }  // ʕ: Ll for Oniguruma, Lo since Unicode 16
        let b = bit(s.properties.generalCategory)
        if b != 1 << 29 && s.value >= 0x378 && OnigUnassigned.contains(s.value) { return 1 << 29 }
        return b
    }

    /// Unicode White_Space: Rust `char::is_whitespace` and onig `\s`.
    @inline(__always)
    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        switch v {
        case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    @inline(__always)
    static func isLetter(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A }
        return categoryBit(s) & letter != 0
    }

    @inline(__always)
    static func isNumber(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        return categoryBit(s) & number != 0
    }

    /// Rust `char::is_alphabetic` (the Alphabetic property).
    static func isAlphabetic(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 { return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A }
        return s.properties.isAlphabetic
    }

    /// Rust `char::is_numeric`: general categories Nd, Nl, No.
    static func isNumeric(_ s: Unicode.Scalar) -> Bool { isNumber(s) }

    /// Rust `char::is_alphanumeric`.
    static func isAlphanumeric(_ s: Unicode.Scalar) -> Bool { isAlphabetic(s) || isNumeric(s) }

    /// onig `\w` (Unicode Word): Alphabetic, marks, decimal numbers, connector punctuation, join controls.
    /// Join controls included. With `latin1Quirk` (`\w` / `\W` written outside brackets) Oniguruma's Latin-1 table
    /// also counts ² ³ ¹ ¼ ½ ¾ as word characters; inside a bracket class (`[^\w\s]`) it does not.
    static func isWord(_ s: Unicode.Scalar, latin1Quirk: Bool = false) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (v | 0x20) >= 0x61 && (v | 0x20) <= 0x7A || (v >= 0x30 && v <= 0x39) || v == 0x5F
        }
        if v == 0x200C || v == 0x200D { return true }
        if latin1Quirk && (v == 0xB2 || v == 0xB3 || v == 0xB9 || (v >= 0xBC && v <= 0xBE)) { return true }
        if v >= 0x378 && OnigUnassigned.contains(v) { return false }
        if s.properties.isAlphabetic { return true }
        return categoryBit(s) & (mark | (1 << 8) | (1 << 11)) != 0
    }

    /// The Punctuation pre-tokenizer's test: ASCII punctuation or a Unicode punctuation category.
    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if v < 0x80 {
            return (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60) || (v >= 0x7B && v <= 0x7E)
        }
        return categoryBit(s) & punctuation != 0
    }

    /// Combining marks (Mn, Mc, Me), removed by StripAccents.
    static func isCombiningMark(_ s: Unicode.Scalar) -> Bool {
        if s.value < 0x300 { return false }
        return categoryBit(s) & mark != 0
    }

    /// Rust `char::is_control` (general category Cc).
    static func isControl(_ s: Unicode.Scalar) -> Bool {
        categoryBit(s) & (1 << 25) != 0
    }
}
