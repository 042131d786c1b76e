extension String {
    /// The string with its control characters (newlines, tabs, NUL, ...) shown as escapes (`\n`, `\t`,
    /// `\u{0}`), so an error message that quotes a name taken from a file stays on one line.
    public var escapingControlCharacters: String {
        String(unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined())
    }
}
