import Foundation
import Testing
import SwapMoECore
@testable import SwapMoEServer
import SwapMoETestSupport

/// Request bodies as clients send them, parsed and validated without a model or a socket.
@Suite("OpenAI request bodies")
struct CompletionRequestTests {
    func parse(_ json: String, chat: Bool = true) throws(APIError) -> CompletionRequest {
        try CompletionRequest.parse(Array(json.utf8), chat: chat)
    }

    func error(_ json: String, chat: Bool = true) -> APIError? {
        do { _ = try parse(json, chat: chat); return nil } catch { return error }
    }

    @Test("a full chat request: sampling, stops, streaming with usage, template arguments, text parts joined")
    func chat() throws {
        let r = try parse(#"""
        {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
         {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "there"}]}],
         "max_completion_tokens": 7, "temperature": 0, "top_p": 0.5, "top_k": 3, "seed": -1, "stop": ["\n\n", "User:"],
         "stream": true, "stream_options": {"include_usage": true}, "chat_template_kwargs": {"enable_thinking": false},
         "frequency_penalty": 0, "user": "ignored"}
        """#)
        #expect(r.model == "m" && r.maxTokens == 7 && r.temperature == 0 && r.topP == 0.5 && r.topK == 3)
        #expect(r.seed == UInt64.max && r.stop == ["\n\n", "User:"] && r.stream && r.includeUsage)
        guard case let .chat(messages, tools, extra) = r.input else { Issue.record("not chat"); return }
        #expect(messages.count == 2 && messages[1]["content"]?.stringValue == "Hello, there" && tools == nil)
        #expect(extra["enable_thinking"] == .bool(false))
    }

    @Test("completion prompts: a string, one string in a list, token ids; defaults are the command line's")
    func prompts() throws {
        #expect(try parse(#"{"prompt": "Hi"}"#, chat: false).input == .text("Hi"))
        #expect(try parse(#"{"prompt": ["Hi"]}"#, chat: false).input == .text("Hi"))
        #expect(try parse(#"{"prompt": [1, 2, 3]}"#, chat: false).input == .tokens([1, 2, 3]))
        #expect(try parse(#"{"prompt": [[4, 5]], "stop": "x", "max_tokens": null}"#, chat: false).input == .tokens([4, 5]))
        let d = try parse(#"{"prompt": "Hi"}"#, chat: false)
        #expect(d.temperature == 0.8 && d.topK == 40 && d.topP == 0.95 && d.maxTokens == nil && !d.stream && d.stop.isEmpty)
    }

    @Test("every malformed body is a 400 naming the field")
    func errors() {
        let cases: [(String, Bool, String?)] = [
            ("{oops", true, nil), ("[1]", true, nil), (#"{"messages": []}"#, true, "messages"),
            (#"{"messages": [{"content": "x"}]}"#, true, "messages[0]"),
            (#"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#, true, "messages[0].content"),
            (#"{"messages": [{"role": "user", "content": 5}]}"#, true, "messages[0].content"),
            (#"{"messages": [{"role": "user", "content": "x"}], "n": 2}"#, true, "n"),
            (#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}"#, true, "max_tokens"),
            (#"{"messages": [{"role": "user", "content": "x"}], "temperature": 3}"#, true, "temperature"),
            (#"{"messages": [{"role": "user", "content": "x"}], "top_p": "a"}"#, true, "top_p"),
            (#"{"messages": [{"role": "user", "content": "x"}], "top_k": -1}"#, true, "top_k"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stop": [1]}"#, true, "stop"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stream": "yes"}"#, true, "stream"),
            (#"{"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": 1}}"#, true, "stream_options.include_usage"),
            (#"{"messages": [{"role": "user", "content": "x"}], "logprobs": true}"#, true, "logprobs"),
            (#"{"messages": [{"role": "user", "content": "x"}], "tools": {}}"#, true, "tools"),
            (#"{"messages": [{"role": "user", "content": "x"}], "model": 3}"#, true, "model"),
            (#"{"prompt": 5}"#, false, "prompt"), (#"{"prompt": ["a", "b"]}"#, false, "prompt"),
            (#"{"prompt": [1, "a"]}"#, false, "prompt"), (#"{"prompt": "x", "logprobs": 2}"#, false, "logprobs"),
            (#"{"prompt": "x", "seed": 1.5}"#, false, "seed"),
        ]
        for (body, chat, field) in cases {
            let e = error(body, chat: chat)
            #expect(e?.status == 400 && e?.param == field && e?.type == "invalid_request_error", "\(body): \(String(describing: e))")
            #expect(e.map { !$0.message.contains("\n") } ?? false)
        }
    }

    @Test("errors are OpenAI's JSON shape")
    func errorShape() throws {
        let e = APIError(status: 429, "busy")
        let json = try JSONSerialization.jsonObject(with: Data(e.body)) as? [String: Any]
        let inner = json?["error"] as? [String: Any]
        #expect(inner?["message"] as? String == "busy" && inner?["type"] as? String == "rate_limit_error")
        #expect(inner?.keys.contains("param") == true)
    }
}

/// Seeded mutations of valid bodies: every one parses or is refused with one line, never a trap.
@Suite("OpenAI request bodies: mutations")
struct CompletionRequestMutationTests {
    @Test("3000 mutated bodies parse or give a one-line 400")
    func mutations() {
        let seeds = [
            #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":7,"temperature":0.5,"stop":["a"],"stream":true,"stream_options":{"include_usage":true},"tools":[{"type":"function"}],"chat_template_kwargs":{"x":1}}"#,
            #"{"prompt":[[1,2,3]],"max_tokens":5,"top_k":3,"top_p":0.9,"seed":42,"logprobs":0,"n":1}"#,
        ]
        var rng = SplitMix64(state: 20)
        let alphabet = Array(#"{}[]",:0-9e.\ntfu"#.utf8)
        for i in 0..<3000 {
            var bytes = Array(seeds[i % 2].utf8)
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 4 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(alphabet[rng.below(alphabet.count)], at: at)
                default: bytes = Array(bytes[..<at])
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            do {
                _ = try CompletionRequest.parse(bytes, chat: i % 2 == 0)
            } catch {
                #expect(error.status == 400 && !error.message.contains("\n"), "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}
