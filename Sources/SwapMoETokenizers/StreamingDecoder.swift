// Incremental detokenization for generation: one id in, the newly completed text out.

/// Decodes a stream of ids, returning only text that can no longer change: never half of a UTF-8 character
/// (byte-level and `<0xNN>` byte-fallback tokens may end mid-character), never a first-token space that the
/// decoder would strip. The concatenation of all `push` results and `finish()` equals `tokenizer.decode(allIds)`.
///
/// Like the Rust library's `DecodeStream`, it re-decodes a short window: the tokens of the previous emission
/// (as context) plus the new ones, and emits what the new tokens added.
public struct StreamingDecoder {
    public let tokenizer: Tokenizer
    public let skipSpecialTokens: Bool
    private var window: [Int] = []
    /// Every id pushed, and how many scalars of raw decoded text were emitted, so `finish` can settle on exactly
    /// `decode(allIds)`.
    private var allIds: [Int] = []
    private var emittedCount = 0
    private var prefix: [Unicode.Scalar] = []
    private var prefixIndex = 0
    private let waitForByteRuns: Bool
    private var inByteRun = false
    // Clean-up (only when the tokenizer applies transformers' clean_up_tokenization_spaces).
    private var pendingClean: [Unicode.Scalar] = []

    init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        waitForByteRuns = tokenizer.decoder?.containsByteFallback ?? false
    }

    /// Adds one id; returns the text it completed (often empty, sometimes several characters).
    public mutating func push(_ id: Int) -> String {
        window.append(id)
        allIds.append(id)
        if waitForByteRuns {
            // A run of <0xNN> tokens decodes as a whole (invalid runs become one U+FFFD per byte): wait for its end.
            // Tokens the decoder never sees (unknown ids, skipped special tokens) do not end a run.
            if let token = tokenizer.idToToken(id), !(skipSpecialTokens && tokenizer.isSpecial(token)) {
                inByteRun = TokenDecoder.byteFallbackValue(Array(token.unicodeScalars)) != nil
            }
            if inByteRun { return "" }
        }
        let text = Array(tokenizer.decodeRaw(window, skipSpecialTokens: skipSpecialTokens).unicodeScalars)
        guard text.count > prefix.count, text.last != "\u{FFFD}", text.starts(with: prefix) else { return "" }
        let new = Array(text[prefix.count...])
        window.removeFirst(prefixIndex)
        prefix = Array(tokenizer.decodeRaw(window, skipSpecialTokens: skipSpecialTokens).unicodeScalars)
        prefixIndex = window.count
        emittedCount += new.count
        return output(new, final: false)
    }

    /// Returns whatever is still held back (an unfinished character becomes U+FFFD, as in `decode`) and resets
    /// the decoder for a new stream.
    public mutating func finish() -> String {
        let text = Array(tokenizer.decodeRaw(allIds, skipSpecialTokens: skipSpecialTokens).unicodeScalars)
        let new = text.count > emittedCount ? Array(text[emittedCount...]) : []
        window.removeAll()
        allIds.removeAll()
        prefix.removeAll()
        prefixIndex = 0
        emittedCount = 0
        inByteRun = false
        return output(new, final: true)
    }

    private mutating func output(_ raw: [Unicode.Scalar], final: Bool) -> String {
        var out = String()
        guard tokenizer.cleanUpTokenizationSpaces else {
            out.unicodeScalars.append(contentsOf: raw)
            return out
        }
        // Every clean-up rule starts with a space and spans at most 8 scalars: hold back from the first space that
        // could still begin a match completed by later text.
        pendingClean += raw
        var cut = pendingClean.count
        if !final {
            while let sp = pendingClean[max(0, cut - 8)..<cut].firstIndex(of: " ") { cut = sp }
        }
        var ready = String()
        ready.unicodeScalars.append(contentsOf: pendingClean[..<cut])
        pendingClean.removeFirst(cut)
        return Tokenizer.cleanUp(ready)
    }
}
