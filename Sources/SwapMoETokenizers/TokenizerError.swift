import SwapMoECore

// The one error type of this module. Every case says what is wrong and what to do about it.

/// Something in `tokenizer.json` / `tokenizer_config.json` cannot be loaded or is not supported.
///
/// Unsupported components are always reported here: this module never silently produces output that differs
/// from the Hugging Face `tokenizers` library.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is not valid JSON; `location` is "line L, column C".
    case invalidJSON(file: String, location: String, reason: String)
    /// A required field is missing or has the wrong JSON type. `path` is a JSON path such as `model.vocab`.
    case invalidField(file: String, path: String, expected: String)
    /// A component `"type"` this module does not implement.
    case unsupportedComponent(kind: String, type: String, supported: [String])
    /// A component option this module does not implement (for example BPE dropout).
    case unsupportedOption(component: String, option: String, reason: String)
    /// A regular expression in tokenizer.json that neither the built-in matcher nor NSRegularExpression accepts.
    case invalidRegex(pattern: String, reason: String)
    /// A token named by a merge, a template or an option is not in the vocabulary.
    case tokenNotInVocabulary(token: String, context: String)
    /// A file could not be read.
    case unreadableFile(path: String, reason: String)

    /// One line whatever the file held: control characters in names taken from the file (a vocabulary key
    /// "\n", say) are shown escaped.
    public var description: String {
        message.escapingControlCharacters
    }

    private var message: String {
        switch self {
        case let .invalidJSON(file, location, reason):
            return "\(file) is not valid JSON at \(location): \(reason). Re-download the file or check that it is not truncated."
        case let .invalidField(file, path, expected):
            return "\(file): field '\(path)' \(expected). The file may come from an unsupported tokenizers version; re-save it with a recent `tokenizers`."
        case let .unsupportedComponent(kind, type, supported):
            return "unsupported \(kind) type '\(type)' in tokenizer.json (supported: \(supported.joined(separator: ", "))). This tokenizer cannot be used until that component is implemented in SwapMoETokenizers."
        case let .unsupportedOption(component, option, reason):
            return "unsupported option '\(option)' of \(component) in tokenizer.json: \(reason)."
        case let .invalidRegex(pattern, reason):
            return "regular expression \(pattern.debugDescription) in tokenizer.json cannot be compiled: \(reason)."
        case let .tokenNotInVocabulary(token, context):
            return "token \(token.debugDescription) used by \(context) is not in the vocabulary; tokenizer.json is inconsistent."
        case let .unreadableFile(path, reason):
            return "cannot read \(path): \(reason)."
        }
    }
}
