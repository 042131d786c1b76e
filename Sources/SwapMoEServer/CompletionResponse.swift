import Foundation

/// The JSON bodies the OpenAI endpoints answer with: whole responses, stream chunks (each sent as one
/// server-sent event, `data: {json}\n\n`), usage, and the model list.
enum CompletionResponse {
    struct Usage: Encodable, Equatable {
        struct Details: Encodable, Equatable { let cached_tokens: Int }
        let prompt_tokens: Int
        let completion_tokens: Int
        let total_tokens: Int
        /// Prompt tokens whose KV cache the slot already held (OpenAI's field for reused prompt tokens).
        let prompt_tokens_details: Details

        init(prompt: Int, completion: Int, cached: Int) {
            prompt_tokens = prompt
            completion_tokens = completion
            total_tokens = prompt + completion
            prompt_tokens_details = Details(cached_tokens: cached)
        }
    }

    /// What every body names: the request's id, when it was made, and the model.
    struct Header: Sendable {
        let id: String
        let created: Int
        let model: String
    }

    struct Message: Encodable { let role: String; let content: String }
    struct Delta: Encodable {
        let role: String?
        let content: String?
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encodeIfPresent(role, forKey: .role)
            try c.encodeIfPresent(content, forKey: .content)
        }
        enum CodingKeys: String, CodingKey { case role, content }
    }

    struct ChatChoice: Encodable { let index: Int; let message: Message; let finish_reason: String; let logprobs: String? }
    struct ChatChunkChoice: Encodable {
        let index: Int; let delta: Delta; let finish_reason: String?; let logprobs: String?
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(delta, forKey: .delta)
            try c.encode(finish_reason, forKey: .finish_reason)
            try c.encode(logprobs, forKey: .logprobs)
        }
        enum CodingKeys: String, CodingKey { case index, delta, finish_reason, logprobs }
    }
    struct TextChoice: Encodable {
        let index: Int; let text: String; let finish_reason: String?; let logprobs: String?
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(index, forKey: .index)
            try c.encode(text, forKey: .text)
            try c.encode(finish_reason, forKey: .finish_reason)
            try c.encode(logprobs, forKey: .logprobs)
        }
        enum CodingKeys: String, CodingKey { case index, text, finish_reason, logprobs }
    }

    struct Body<Choice: Encodable>: Encodable {
        let id: String, object: String, created: Int, model: String
        let choices: [Choice]
        let usage: Usage?
        let system_fingerprint: String
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(object, forKey: .object)
            try c.encode(created, forKey: .created)
            try c.encode(model, forKey: .model)
            try c.encode(system_fingerprint, forKey: .system_fingerprint)
            try c.encode(choices, forKey: .choices)
            try c.encodeIfPresent(usage, forKey: .usage)
        }
        enum CodingKeys: String, CodingKey { case id, object, created, model, choices, usage, system_fingerprint }
    }

    static let fingerprint = "swapmoe"

    /// A whole chat or text completion.
    static func full(_ h: Header, chat: Bool, text: String, finish: String, usage: Usage) -> [UInt8] {
        if chat {
            return jsonBytes(Body(id: h.id, object: "chat.completion", created: h.created, model: h.model,
                                  choices: [ChatChoice(index: 0, message: Message(role: "assistant", content: text), finish_reason: finish, logprobs: nil)],
                                  usage: usage, system_fingerprint: fingerprint))
        }
        return jsonBytes(Body(id: h.id, object: "text_completion", created: h.created, model: h.model,
                              choices: [TextChoice(index: 0, text: text, finish_reason: finish, logprobs: nil)],
                              usage: usage, system_fingerprint: fingerprint))
    }

    /// One stream chunk: `text` (with the assistant role on a chat stream's first chunk), or the last chunk
    /// with `finish`.
    static func chunk(_ h: Header, chat: Bool, role: Bool = false, text: String?, finish: String?) -> String {
        let json: [UInt8]
        if chat {
            json = jsonBytes(Body(id: h.id, object: "chat.completion.chunk", created: h.created, model: h.model,
                                  choices: [ChatChunkChoice(index: 0, delta: Delta(role: role ? "assistant" : nil, content: text), finish_reason: finish, logprobs: nil)],
                                  usage: nil, system_fingerprint: fingerprint))
        } else {
            json = jsonBytes(Body(id: h.id, object: "text_completion", created: h.created, model: h.model,
                                  choices: [TextChoice(index: 0, text: text ?? "", finish_reason: finish, logprobs: nil)],
                                  usage: nil, system_fingerprint: fingerprint))
        }
        return event(json)
    }

    /// The usage chunk of `stream_options.include_usage`: no choices.
    static func usageChunk(_ h: Header, chat: Bool, usage: Usage) -> String {
        event(jsonBytes(Body<TextChoice>(id: h.id, object: chat ? "chat.completion.chunk" : "text_completion", created: h.created,
                                         model: h.model, choices: [], usage: usage, system_fingerprint: fingerprint)))
    }

    /// An error sent inside a stream that has already begun (its status line is gone).
    static func streamError(_ e: APIError) -> String { event(e.body) }

    static let done = "data: [DONE]\n\n"

    static func event(_ json: [UInt8]) -> String { "data: " + String(decoding: json, as: UTF8.self) + "\n\n" }

    /// `GET /v1/models`.
    static func models(_ ids: [String], created: Int) -> [UInt8] {
        struct Model: Encodable { let id: String; let object = "model"; let created: Int; let owned_by = "swapmoe" }
        struct List: Encodable { let object = "list"; let data: [Model] }
        return jsonBytes(List(data: ids.map { Model(id: $0, created: created) }))
    }
}
