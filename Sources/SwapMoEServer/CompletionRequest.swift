import SwapMoECore

/// A `POST /v1/chat/completions` or `/v1/completions` body, validated. Unknown fields are ignored (clients
/// send many optional ones); a known field with a wrong type or value is a 400 naming it.
public struct CompletionRequest: Sendable, Equatable {
    public enum Input: Sendable, Equatable {
        /// A conversation for the chat template: messages (content parts joined into one string), tools, and
        /// extra template variables (`chat_template_kwargs`, as llama.cpp's server takes them).
        case chat(messages: [JSONValue], tools: [JSONValue]?, templateArguments: JSONObject)
        /// A raw prompt, encoded with the tokenizer's default special tokens (as `swapmoe run` does).
        case text(String)
        /// A prompt given as token ids.
        case tokens([Int])
    }

    public var input: Input
    public var model: String?
    /// nil: until end-of-sequence or the context is full.
    public var maxTokens: Int?
    public var temperature: Float = 0.8
    public var topP: Float = 0.95
    public var topK = 40
    public var seed: UInt64?
    public var stop: [String] = []
    public var stream = false
    public var includeUsage = false
    /// llama.cpp's server extension: keep generating past end-of-sequence (benchmarks).
    public var ignoreEOS = false

    /// The most stop strings a request may give.
    public static let maxStops = 16

    public var isChat: Bool { if case .chat = input { return true }; return false }

    /// Parses and validates a request body for the chat endpoint (`chat`) or the completions one.
    public static func parse(_ body: [UInt8], chat: Bool) throws(APIError) -> CompletionRequest {
        let json: JSONValue
        do { json = try JSONParser.parse(body, file: "the request body") } catch {
            throw APIError(status: 400, "\(error.description); send a JSON object")
        }
        guard let o = json.objectValue else { throw APIError(status: 400, "the request body must be a JSON object") }
        var r = CompletionRequest(input: .text(""))
        r.input = chat ? try chatInput(o) : try promptInput(o)
        if let m = o["model"], !m.isNull {
            guard let s = m.stringValue else { throw .field("model", "must be a string") }
            r.model = s
        }
        if let n = try int(o, "n"), n != 1 { throw .field("n", "must be 1 (one choice per request)") }
        if let newer = try int(o, "max_completion_tokens") { r.maxTokens = newer } else { r.maxTokens = try int(o, "max_tokens") }
        if let m = r.maxTokens, m < 1 { throw .field(o["max_completion_tokens"] != nil ? "max_completion_tokens" : "max_tokens", "must be at least 1") }
        if let t = try number(o, "temperature", 0...2) { r.temperature = Float(t) }
        if let p = try number(o, "top_p", 0...1) { r.topP = Float(p) }
        if let k = try int(o, "top_k") {
            guard k >= 0 else { throw .field("top_k", "must be 0 (all tokens) or more") }
            r.topK = k
        }
        if let s = try int(o, "seed") { r.seed = UInt64(bitPattern: Int64(s)) }
        switch o["stop"] {
        case nil, .null?: break
        case .string(let s)?: r.stop = [s]
        case .array(let a)?:
            guard a.count <= maxStops, let strings = Optional(a.compactMap(\.stringValue)), strings.count == a.count else {
                throw .field("stop", "must be a string or a list of at most \(maxStops) strings")
            }
            r.stop = strings
        default: throw .field("stop", "must be a string or a list of at most \(maxStops) strings")
        }
        r.stream = try bool(o, "stream") ?? false
        r.ignoreEOS = try bool(o, "ignore_eos") ?? false
        if let so = o["stream_options"], !so.isNull {
            guard let so = so.objectValue else { throw .field("stream_options", "must be an object") }
            r.includeUsage = try bool(so, "include_usage", field: "stream_options.include_usage") ?? false
        }
        switch o["logprobs"] {
        case .bool(true)?: throw .field("logprobs", "is not supported by swapmoe; leave it out")
        case let v? where (v.intValue ?? 0) > 0: throw .field("logprobs", "is not supported by swapmoe; leave it out")
        default: break
        }
        return r
    }

    private static func chatInput(_ o: JSONObject) throws(APIError) -> Input {
        guard let list = o["messages"]?.arrayValue, !list.isEmpty else {
            throw .field("messages", "must be a non-empty list of {\"role\", \"content\"} objects")
        }
        var messages: [JSONValue] = []
        for (i, m) in list.enumerated() {
            guard var msg = m.objectValue, msg["role"]?.stringValue != nil else {
                throw .field("messages[\(i)]", "must be an object with a string 'role'")
            }
            if let c = msg["content"] {
                switch c {
                case .string, .null: break
                case .array(let parts):
                    // Text parts joined into one string, as llama.cpp's server passes them to most templates.
                    var text = ""
                    for p in parts {
                        guard p["type"]?.stringValue == "text", let t = p["text"]?.stringValue else {
                            throw .field("messages[\(i)].content", "may only hold text parts ({\"type\": \"text\", \"text\": ...}); this model reads text only")
                        }
                        text += t
                    }
                    if let k = msg.keys.firstIndex(of: "content") { msg.values[k] = .string(text) }
                default:
                    throw .field("messages[\(i)].content", "must be a string or a list of text parts")
                }
            }
            messages.append(.object(msg))
        }
        var tools: [JSONValue]?
        if let t = o["tools"], !t.isNull {
            guard let a = t.arrayValue else { throw .field("tools", "must be a list of tool objects") }
            tools = a
        }
        var extra = JSONObject()
        if let k = o["chat_template_kwargs"], !k.isNull {
            guard let obj = k.objectValue else { throw .field("chat_template_kwargs", "must be an object") }
            extra = obj
        }
        return .chat(messages: messages, tools: tools, templateArguments: extra)
    }

    private static func promptInput(_ o: JSONObject) throws(APIError) -> Input {
        let bad = APIError.field("prompt", "must be a string, a list of one string, or a list of token ids")
        switch o["prompt"] {
        case .string(let s)?: return .text(s)
        case .array(let a)?:
            if a.count == 1, let s = a[0].stringValue { return .text(s) }
            if a.count == 1, let inner = a[0].arrayValue { return try tokens(inner, bad) }
            if a.count > 1, a.allSatisfy({ $0.stringValue != nil }) { throw .field("prompt", "holds \(a.count) prompts; send one per request") }
            return try tokens(a, bad)
        default: throw bad
        }
    }

    private static func tokens(_ a: [JSONValue], _ bad: APIError) throws(APIError) -> Input {
        let ids = a.compactMap(\.intValue)
        guard !a.isEmpty, ids.count == a.count else { throw bad }
        return .tokens(ids)
    }

    private static func int(_ o: JSONObject, _ key: String) throws(APIError) -> Int? {
        guard let v = o[key], !v.isNull else { return nil }
        guard let i = v.intValue else { throw .field(key, "must be a whole number") }
        return i
    }

    private static func number(_ o: JSONObject, _ key: String, _ range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let v = o[key], !v.isNull else { return nil }
        guard let d = v.doubleValue, range.contains(d) else { throw .field(key, "must be a number from \(range.lowerBound) to \(range.upperBound)") }
        return d
    }

    private static func bool(_ o: JSONObject, _ key: String, field: String? = nil) throws(APIError) -> Bool? {
        guard let v = o[key], !v.isNull else { return nil }
        guard let b = v.boolValue else { throw .field(field ?? key, "must be true or false") }
        return b
    }
}
