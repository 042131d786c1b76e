import Foundation
import Synchronization
import SwapMoEModels

/// One step of `Session.generateStream`.
public enum GenerationEvent: Equatable, Sendable {
    /// A generated token and the text it completed (as `generate`'s `onToken` sees them).
    case token(Int, String)
    /// The end of generation: the whole result. Always the last event of a stream that did not fail.
    case finished(GenerationResult)
}

extension Session {
    /// `generate` as an asynchronous sequence, run on a thread of its own (the model computes for seconds at a
    /// time, which is no work for Swift's cooperative pool). Ending the iteration early (or cancelling its task)
    /// stops generation after the token being made.
    public func generateStream(_ prompt: [Int], maxNewTokens: Int, sampler: Sampler = Sampler(),
                               eos: Set<Int>? = nil) -> AsyncThrowingStream<GenerationEvent, Error> {
        stream { session, onToken in try session.generate(prompt, maxNewTokens: maxNewTokens, sampler: sampler, eos: eos, onToken: onToken) }
    }

    /// `generateStream` from a text prompt (encoded as `generate(_:…)` does).
    public func generateStream(_ prompt: String, maxNewTokens: Int, sampler: Sampler = Sampler(),
                               eos: Set<Int>? = nil) -> AsyncThrowingStream<GenerationEvent, Error> {
        stream { session, onToken in try session.generate(prompt, maxNewTokens: maxNewTokens, sampler: sampler, eos: eos, onToken: onToken) }
    }

    private func stream(_ run: @escaping @Sendable (Session, @escaping TokenHandler) throws -> GenerationResult) -> AsyncThrowingStream<GenerationEvent, Error> {
        AsyncThrowingStream { continuation in
            let cancelled = CancelFlag()
            continuation.onTermination = { _ in cancelled.set() }
            Thread { [self] in
                do {
                    let result = try run(self) { token, text in
                        continuation.yield(.token(token, text))
                        return !cancelled.isSet
                    }
                    continuation.yield(.finished(result))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }.start()
        }
    }
}

/// Set once, from any thread, when a stream's consumer goes away.
private final class CancelFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
