import Foundation
import SwapMoECore

/// The JSON bodies the OpenAI endpoints answer with: whole responses, stream chunks (each sent as one
/// server-sent event, `data: {json}\n\n`), usage, and the model list. Built as `JSONValue` trees, so a field
/// that is null (`finish_reason` mid-stream, `logprobs`) is written as null, as OpenAI's server writes it.
enum CompletionResponse {
    /// Token counts of one request. `cached` prompt tokens were already in the slot's KV cache (OpenAI's
    /// `prompt_tokens_details.cached_tokens`).
    struct Usage: Equatable {
        let prompt: Int
        let completion: Int
        let cached: Int

        var json: JSONValue {
            .object(["prompt_tokens": .int(Int64(prompt)), "completion_tokens": .int(Int64(completion)),
                     "total_tokens": .int(Int64(prompt + completion)),
                     "prompt_tokens_details": .object(["cached_tokens": .int(Int64(cached))])])
        }
    }

    /// What every body names: the request's id, when it was made, and the model.
    struct Header: Sendable {
        let id: String
        let created: Int
        let model: String
    }

    static let fingerprint = "swapmoe"

    /// A body of `object` type with `choices` (and `usage`).
    static func body(_ h: Header, object: String, choices: [JSONValue], usage: Usage? = nil) -> JSONValue {
        var o: JSONObject = ["id": .string(h.id), "object": .string(object), "created": .int(Int64(h.created)),
                             "model": .string(h.model), "system_fingerprint": .string(fingerprint), "choices": .array(choices)]
        if let usage { o.keys.append("usage"); o.values.append(usage.json) }
        return .object(o)
    }

    /// One choice: a chat `message` or `delta`, or a completion's `text`; `finish` nil while streaming.
    static func choice(chat: Bool, streaming: Bool, role: Bool = false, text: String?, finish: String?) -> JSONValue {
        var content: JSONObject = [:]
        if role || (chat && !streaming) { content.keys.append("role"); content.values.append(.string("assistant")) }
        if let text { content.keys.append("content"); content.values.append(.string(text)) }
        var o: JSONObject = ["index": .int(0), "finish_reason": finish.map(JSONValue.string) ?? .null, "logprobs": .null]
        if chat {
            o.keys.append(streaming ? "delta" : "message")
            o.values.append(.object(content))
        } else {
            o.keys.append("text")
            o.values.append(.string(text ?? ""))
        }
        return .object(o)
    }

    /// A whole chat or text completion.
    static func full(_ h: Header, chat: Bool, text: String, finish: String, usage: Usage) -> [UInt8] {
        jsonBytes(body(h, object: chat ? "chat.completion" : "text_completion",
                       choices: [choice(chat: chat, streaming: false, text: text, finish: finish)], usage: usage))
    }

    /// One stream chunk: `text` (with the assistant role on a chat stream's first chunk), or the last chunk
    /// with `finish`.
    static func chunk(_ h: Header, chat: Bool, role: Bool = false, text: String?, finish: String?) -> String {
        event(jsonBytes(body(h, object: chat ? "chat.completion.chunk" : "text_completion",
                             choices: [choice(chat: chat, streaming: true, role: role, text: text, finish: finish)])))
    }

    /// The usage chunk of `stream_options.include_usage`: no choices.
    static func usageChunk(_ h: Header, chat: Bool, usage: Usage) -> String {
        event(jsonBytes(body(h, object: chat ? "chat.completion.chunk" : "text_completion", choices: [], usage: usage)))
    }

    /// An error sent inside a stream that has already begun (its status line is gone).
    static func streamError(_ e: APIError) -> String { event(e.body) }

    static let done = "data: [DONE]\n\n"

    static func event(_ json: [UInt8]) -> String { "data: " + String(decoding: json, as: UTF8.self) + "\n\n" }

    /// `GET /v1/models`.
    static func models(_ ids: [String], created: Int) -> [UInt8] {
        jsonBytes(JSONValue.object(["object": .string("list"), "data": .array(ids.map {
            .object(["id": .string($0), "object": .string("model"), "created": .int(Int64(created)), "owned_by": .string("swapmoe")])
        })]))
    }
}
