/// Why a session could not be opened, or a request to it could not run. Each message is one line that says what to
/// do; they name the command line's options, since that is where most sessions are configured.
public enum SessionError: Error, CustomStringConvertible, Equatable, Sendable {
    case noTokenizer(String)
    case emptyPrompt
    case unreadable(String)
    case policyNeedsCap(String)
    case mmapNeedsRaw(String, String)
    case emptyCalibration(String)
    case encoderDecoder(String, String)
    /// `SessionOptions.validate`: an option's value (as given) outside its range.
    case outOfRange(String, String, ClosedRange<Int>)
    /// `SessionOptions.validate`: a cap that is not a positive size (as given).
    case badCap(String)
    /// `SessionOptions.validate`: a capped policy (named) without `maxRSS`.
    case policyNeedsMaxRSS(String)
    /// `SessionOptions.validate`: the static policy without a calibration text.
    case staticNeedsCalibration
    /// A library call (named) for decoder-only models, made on an encoder-decoder one.
    case needsDecoderOnly(String)
    /// A library call (named) for encoder-decoder models, made on a decoder-only one.
    case needsEncoderDecoder(String)
    /// A prompt (tokens) that leaves no room to generate in the context (tokens).
    case promptTooLong(Int, context: Int)
    /// A chat template (where from) that does not parse or render, and why.
    case chatTemplate(String, String)
    /// A layer profile (path) that cannot be read or does not fit the archive, and why.
    case badProfile(String, String)
    /// `--shadow` naming no quantized type the kernels compute with (as given).
    case badShadowType(String)
    /// `--shadow auto` on experts stored with as few bits per weight (given) as the smallest shadow type.
    case shadowsNotSmaller(String)
    /// `--shadow` without `--policy shadow`.
    case shadowNeedsPolicy

    public var description: String {
        switch self {
        case .noTokenizer(let p): "archive '\(p)' has no tokenizer.json; re-pack from a checkpoint folder that includes it"
        case .emptyPrompt: "the prompt encodes to no tokens; give a non-empty -p TEXT"
        case .unreadable(let p): "cannot read text file '\(p)'; check the path"
        case .policyNeedsCap(let p): "policy \(p) needs --max-rss SIZE to size its expert arena"
        case let .encoderDecoder(command, family): "\(command) runs decoder-only models, but this archive is \(family), an encoder-decoder model; use 'swapmoe run --input' or 'swapmoe eval --text --target'"
        case .emptyCalibration(let f): "calibration text '\(f)' encodes to fewer than 2 tokens; give a longer text"
        case let .mmapNeedsRaw(path, block): "--io mmap serves experts in place, but '\(path)' stores \(block) compressed; re-pack without --compress, or use --io pread"
        case let .outOfRange(name, value, range): "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(value)'"
        case .badCap(let s): "--max-rss must be a size like 2G, 800M or 1500000000, not '\(s)'"
        case .policyNeedsMaxRSS(let p): "--policy \(p) needs --max-rss SIZE to size the expert arena"
        case .staticNeedsCalibration: "--policy static needs --calibration FILE: a text whose routing picks each layer's experts"
        case .needsDecoderOnly(let call): "\(call) scores decoder-only models; this archive is an encoder-decoder model: use targetPerplexity"
        case .needsEncoderDecoder(let call): "\(call) scores encoder-decoder models; this archive is a decoder-only model: use perplexity"
        case let .promptTooLong(n, context): "the prompt is \(n) tokens, which leaves no room in the context of \(context) tokens; shorten it or raise --ctx"
        case let .chatTemplate(source, why): "chat template \(source): \(why); give another with --chat-template FILE"
        case .badShadowType(let s): "--shadow must be auto or a quantized type smaller than the stored experts (q8_0, q6_K, q5_K, q4_K, q4_0, q3_K, q2_K, ...), not '\(s)'"
        case .shadowsNotSmaller(let bits): "the experts are stored at \(bits) bits per weight, no more than the smallest shadow type (q2_K); use --policy swap"
        case .shadowNeedsPolicy: "--shadow sets the type of the shadow policy's low-bit experts; add --policy shadow"
        case let .badProfile(path, why): "layer profile '\(path)' cannot be used: \(why); make it again with 'swapmoe profile ARCHIVE --text FILE', or pass --profile none"
        }
    }
}
