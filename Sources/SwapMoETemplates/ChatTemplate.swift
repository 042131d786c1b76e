import SwapMoECore

/// A chat template (the Jinja `chat_template` of a Hugging Face tokenizer), parsed once and rendered as
/// transformers' `apply_chat_template` renders it: jinja2's ImmutableSandboxedEnvironment with `trim_blocks`,
/// `lstrip_blocks` and loop controls, transformers' `tojson`, `raise_exception`, `strftime_now`, `dict` and
/// `namespace`.
public struct ChatTemplate: Sendable {
    let nodes: [Node]

    /// Parses `source`; a syntax error or a construct this engine lacks throws with its line:column.
    public init(source: String) throws(TemplateError) {
        nodes = try Parser.parse(source)
    }

    /// Renders with exactly the variables given (`messages`, `tools`, `add_generation_prompt`, ...).
    public func render(_ variables: JSONObject, now: TemplateDate = .now()) throws(TemplateError) -> String {
        try render(variables, now: now, limits: Evaluator.Limits())
    }

    /// Rendering under other limits (tests exercise them small).
    func render(_ variables: JSONObject, now: TemplateDate, limits: Evaluator.Limits) throws(TemplateError) -> String {
        var frame: [String: Value] = [:]
        for (k, v) in zip(variables.keys, variables.values) { frame[k] = Value(json: v) }
        return try Evaluator(variables: frame, now: now, limits: limits).render(nodes)
    }

    /// Renders a conversation as `tokenizer.apply_chat_template(messages, tools=..., add_generation_prompt=...)`
    /// does: keys whose value is null are dropped from each message, a message's reasoning (`reasoning_content`,
    /// `thinking` or `reasoning`) is also passed as `thinking` and `reasoning_content`, `documents` is none, and
    /// `extra` (e.g. `enable_thinking`, `reasoning_effort`) is passed as further variables.
    public func render(messages: [JSONValue], tools: [JSONValue]? = nil, addGenerationPrompt: Bool,
                       bosToken: String, eosToken: String, extra: JSONObject = JSONObject(),
                       now: TemplateDate = .now()) throws(TemplateError) -> String {
        var variables = JSONObject()
        ChatTemplate.put("bos_token", .string(bosToken), into: &variables)
        ChatTemplate.put("eos_token", .string(eosToken), into: &variables)
        for (k, v) in zip(extra.keys, extra.values) { ChatTemplate.put(k, v, into: &variables) }
        ChatTemplate.put("messages", .array(messages.map(ChatTemplate.normalize)), into: &variables)
        ChatTemplate.put("tools", tools.map(JSONValue.array) ?? .null, into: &variables)
        ChatTemplate.put("documents", .null, into: &variables)
        ChatTemplate.put("add_generation_prompt", .bool(addGenerationPrompt), into: &variables)
        return try render(variables, now: now)
    }

    /// Sets `key` as a Python dict does: a new key goes last, an existing one keeps its place.
    static func put(_ key: String, _ value: JSONValue, into object: inout JSONObject) {
        if let i = object.keys.firstIndex(of: key) { object.values[i] = value }
        else { object.keys.append(key); object.values.append(value) }
    }

    /// transformers' `_normalize_chat_messages` and `_alias_reasoning_fields` for one message.
    static func normalize(_ message: JSONValue) -> JSONValue {
        guard case .object(let o) = message else { return message }
        var kept = JSONObject()
        for (k, v) in zip(o.keys, o.values) where !v.isNull { kept.keys.append(k); kept.values.append(v) }
        guard let reasoning = ["reasoning_content", "thinking", "reasoning"].lazy.compactMap({ kept[$0] }).first else {
            return .object(kept)
        }
        // {"thinking": reasoning, **message, "reasoning_content": reasoning}
        var aliased = JSONObject(keys: ["thinking"], values: [reasoning])
        for (k, v) in zip(kept.keys, kept.values) { put(k, v, into: &aliased) }
        put("reasoning_content", reasoning, into: &aliased)
        return .object(aliased)
    }
}

extension Value {
    init(json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(Int(i))
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .list(a.map(Value.init(json:)))
        case .object(let o):
            var d = PyDict()
            for (k, v) in zip(o.keys, o.values) { d.set(.string(k), Value(json: v)) }
            self = .dict(d)
        }
    }
}
