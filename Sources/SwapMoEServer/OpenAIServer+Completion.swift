import Foundation
import SwapMoECore
import SwapMoEHTTP
import SwapMoEModels
import SwapMoERuntime
import SwapMoETemplates

extension OpenAIServer {
    /// A validated request turned into what the session runs.
    struct Job {
        let chat: Bool
        let stream: Bool
        let includeUsage: Bool
        let prompt: [Int]
        let maxTokens: Int
        let sampler: Sampler
        let stops: [String]
        /// nil: the model's end-of-sequence tokens; [] with `ignore_eos`.
        let eos: Set<Int>?
        let header: CompletionResponse.Header
    }

    /// `POST /v1/chat/completions` (`chat`) or `/v1/completions`.
    func completion(_ r: HTTPRequest, chat: Bool) -> HTTPResponse {
        guard let l = loaded.withLock({ $0 }) else {
            return OpenAIServer.reply(APIError(status: 503, "the model is still loading; retry when GET /health answers 200"))
        }
        let job: Job
        do { job = try prepare(r.body, chat: chat, l) } catch { return OpenAIServer.reply(error) }
        let slot: GenerationSlot
        do {
            guard let s = try l.pool.acquire(for: job.prompt, abandoned: { r.connection.isClosed }) else {
                return OpenAIServer.reply(APIError(status: 499, "the client closed the connection while waiting"))
            }
            slot = s
        } catch {
            return OpenAIServer.reply(error)
        }
        if job.stream {
            return .stream(status: 200, headers: OpenAIServer.headers("text/event-stream", [HTTPHeader("Cache-Control", "no-cache")])) { out in
                self.stream(job, slot: slot, l, to: out)
            }
        }
        defer { l.pool.release(slot) }
        do {
            let (text, finish, result) = try run(job, slot: slot, l) { _ in !r.connection.isClosed }
            let usage = CompletionResponse.Usage(prompt: job.prompt.count, completion: result.tokens.count, cached: result.reusedTokens)
            return OpenAIServer.json(200, CompletionResponse.full(job.header, chat: chat, text: text, finish: finish, usage: usage))
        } catch {
            return OpenAIServer.reply(APIError(status: 500, "generation failed: \(error)"))
        }
    }

    /// Parses the body and builds the prompt: the chat template for a conversation, the tokenizer for a prompt.
    func prepare(_ body: [UInt8], chat: Bool, _ l: Loaded) throws(APIError) -> Job {
        let req = try CompletionRequest.parse(body, chat: chat)
        if let m = req.model, !m.isEmpty, m != options.modelID {
            throw APIError(status: 404, "model '\(m)' is not served here; this server serves '\(options.modelID)' (GET /v1/models)", param: "model")
        }
        let session = l.session
        var stops = req.stop
        let prompt: [Int]
        switch req.input {
        case let .chat(messages, tools, extra):
            do {
                prompt = session.encodeChat(try l.format.render(messages, tools: tools, extra: extra))
            } catch {
                throw APIError(status: 400, "the conversation cannot be rendered with the chat template: \(error.message)", param: "messages")
            }
            stops += l.format.stopStrings
        case .text(let text):
            prompt = session.encode(text)
        case .tokens(let ids):
            if let bad = ids.first(where: { $0 < 0 || $0 >= session.vocabSize }) {
                throw .field("prompt", "holds token id \(bad), outside this model's vocabulary of \(session.vocabSize)")
            }
            prompt = ids
        }
        guard !prompt.isEmpty else { throw .field(chat ? "messages" : "prompt", "encodes to no tokens") }
        guard prompt.count < session.context else {
            throw APIError(status: 400, "the prompt is \(prompt.count) tokens, but the context holds \(session.context) (--ctx \(session.context)); shorten it or restart the server with a larger --ctx",
                           param: chat ? "messages" : "prompt")
        }
        let room = session.context - prompt.count
        let sampler = Sampler(temperature: req.temperature, topK: req.topK, topP: req.topP, seed: req.seed ?? UInt64.random(in: 0...UInt64.max))
        let id = (chat ? "chatcmpl-" : "cmpl-") + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return Job(chat: chat, stream: req.stream, includeUsage: req.includeUsage, prompt: prompt, maxTokens: min(req.maxTokens ?? room, room),
                   sampler: sampler, stops: stops, eos: req.ignoreEOS ? [] : nil, header: .init(id: id, created: Int(Date().timeIntervalSince1970), model: options.modelID))
    }

    /// Generates in `slot`; `emit` sees the answer's text as it may be shown (stop strings held back and cut) and
    /// returns false when nobody listens any more. Returns the answer, OpenAI's finish reason and the result.
    func run(_ job: Job, slot: GenerationSlot, _ l: Loaded, emit: @escaping (String) -> Bool) throws -> (String, String, GenerationResult) {
        let start = monotonicSeconds()
        // `emit` is called for every token, text or not: that is when a departed client is noticed.
        let answer = try l.session.generate(in: slot, prompt: job.prompt, maxNewTokens: job.maxTokens, sampler: job.sampler,
                                            eos: job.eos, stops: job.stops, onText: emit)
        let (text, result, stopString, gone) = (answer.text, answer.result, answer.stopString, answer.abandoned)
        metrics.generated(result)
        let finish = stopString || result.finishReason == .eos ? "stop" : "length"
        let rate = result.tokens.count > 1 && result.decodeSeconds > 0 ? Double(result.tokens.count - 1) / result.decodeSeconds : 0
        log("slot \(slot.index): prompt \(job.prompt.count) tokens (\(result.reusedTokens) reused), \(result.tokens.count) generated, "
            + "\(formatFixed(rate, digits: 1)) tok/s, \(gone ? "client gone" : finish), \(formatFixed(monotonicSeconds() - start, digits: 2)) s")
        return (text, finish, result)
    }

    /// A streamed answer: the chunks as tokens come, the last chunk with the finish reason, the usage chunk when
    /// asked, then `[DONE]`. A client that goes away ends generation at the next token.
    /// Streams `job`'s generation in `slot`, then gives the slot back to the pool before the last chunks are
    /// written: a client that sends its next turn as soon as it reads `[DONE]` finds the slot holding its
    /// conversation free (released after `[DONE]`, the next turn could take the other slot and recompute its
    /// whole prompt).
    func stream(_ job: Job, slot: GenerationSlot, _ l: Loaded, to out: HTTPStream) {
        if job.chat { _ = out.write(CompletionResponse.chunk(job.header, chat: true, role: true, text: "", finish: nil)) }
        let outcome = Result {
            try run(job, slot: slot, l) { piece in
                if piece.isEmpty { return !out.isClosed }
                return out.write(CompletionResponse.chunk(job.header, chat: job.chat, text: piece, finish: nil))
            }
        }
        l.pool.release(slot)
        switch outcome {
        case .success(let (_, finish, result)):
            guard !out.isClosed else { return }
            _ = out.write(CompletionResponse.chunk(job.header, chat: job.chat, text: job.chat ? nil : "", finish: finish))
            if job.includeUsage {
                let usage = CompletionResponse.Usage(prompt: job.prompt.count, completion: result.tokens.count, cached: result.reusedTokens)
                _ = out.write(CompletionResponse.usageChunk(job.header, chat: job.chat, usage: usage))
            }
        case .failure(let error):
            _ = out.write(CompletionResponse.streamError(APIError(status: 500, "generation failed: \(error)")))
        }
        _ = out.write(CompletionResponse.done)
        out.finish()
    }
}
