import SwapMoEArchive
import SwapMoEModels
import SwapMoETokenizers
import SwapMoEEngine

extension Session {
    /// The expert provider of `policy`: every expert in memory (resident), loaded on demand into `plan.slots`
    /// (exact), or Virtual Experts per stack (swap, and static after its calibration pass), with low-bit shadows of
    /// every expert beside them (shadow).
    static func makeProvider(_ archive: Archive, config: any ModelConfig, policy: Policy, plan: MemoryPlan?, planner: Planner,
                             options o: SessionOptions, tokenizer: Tokenizer) throws -> ExpertProvider {
        let loader = ExpertLoader.Options(ioThreads: o.ioThreads, directIO: o.io != .buffered)
        let storage: ExpertStorage = o.io == .mmap ? .mapped : .arena()
        switch policy {
        case .resident:
            return try ResidentExperts(archive: archive, mapped: o.io == .mmap)
        case .exact:
            // One provider serves every stack (keys carry the stack).
            let slots = plan?.slots ?? archive.experts.count
            return try ExactExperts(archive: archive, slots: slots,
                                    options: .init(policy: o.eviction == .lfu ? .lfu : .lru, storage: storage, loader: loader,
                                                   lookahead: o.lookahead))
        case .swap:
            guard let plan else { throw SessionError.policyNeedsCap("swap") }
            return try perStack(plan) { stack in
                try SwapExperts(archive: archive, residents: plan.residents(stack: stack),
                                options: .init(stack: stack, spareSlots: plan.spareSlots, swapInterval: o.swapInterval,
                                               window: planner.importanceWindow, initialResidents: .firstRouting,
                                               storage: storage, loader: loader))
            }
        case .shadow:
            guard let plan, let type = plan.shadowType else { throw SessionError.policyNeedsCap("shadow") }
            return try perStack(plan) { stack in
                // The shadows first: their build buffers are freed before the arena is allocated.
                let shadows = try ShadowStore(archive: archive, stack: stack, type: type, threads: o.threads)
                let k = plan.residents(stack: stack)
                guard k.values.contains(where: { $0 > 0 }) else { return try ShadowExperts(swap: nil, shadows: shadows) }
                let swap = try SwapExperts(archive: archive, residents: k,
                                           options: .init(stack: stack, spareSlots: plan.spareSlots, swapInterval: o.swapInterval,
                                                          window: planner.importanceWindow, initialResidents: .firstRouting,
                                                          storage: storage, loader: loader))
                return try ShadowExperts(swap: swap, shadows: shadows)
            }
        case .static:
            guard let plan, let file = o.calibration else { throw SessionError.policyNeedsCap("static") }
            let chosen = try calibrate(archive, encoderDecoder: config.isEncoderDecoder, file: file, plan: plan, options: o, tokenizer: tokenizer)
            return try perStack(plan) { stack in
                try SwapExperts(archive: archive, residents: plan.residents(stack: stack),
                                options: .init(stack: stack, spareSlots: 0, swapInterval: o.swapInterval, window: planner.importanceWindow,
                                               initialResidents: .explicit(chosen[stack] ?? [:]), storage: storage, loader: loader))
            }
        }
    }

    /// The swap provider of a single-stack model, or one per stack behind `StackedExperts`.
    static func perStack(_ plan: MemoryPlan, _ make: (ExpertStack) throws -> ExpertProvider) throws -> ExpertProvider {
        let stacks = plan.stacks
        if stacks.count == 1 { return try make(stacks[0]) }
        var providers: [ExpertStack: ExpertProvider] = [:]
        for st in stacks { providers[st] = try make(st) }
        return StackedExperts(providers)
    }

    /// The static baseline's calibration pass: runs the calibration text under the exact policy in the same
    /// number of slots (so the cap holds) and returns, per stack, each layer's most frequently routed experts.
    /// The calibration model and its arena are released before the static provider allocates its own.
    /// An encoder-decoder model encodes each window of the text and greedily decodes from it, so that both
    /// stacks route.
    static func calibrate(_ archive: Archive, encoderDecoder: Bool, file: String, plan: MemoryPlan, options o: SessionOptions,
                          tokenizer: Tokenizer) throws -> [ExpertStack: [Int: [Int]]] {
        let ids = tokenizer.encode(try readText(file))
        guard ids.count >= 2 else { throw SessionError.emptyCalibration(file) }
        let exact = try ExactExperts(archive: archive, slots: plan.slots, options: .init(loader: .init(ioThreads: o.ioThreads)))
        let counter = RoutingCounter(wrapping: exact, expertsPerToken: archive.manifest.model.expertsPerToken)
        if encoderDecoder {
            let model = try Seq2SeqModel(archive: archive, experts: counter, maxSource: o.context, maxTarget: o.context, threads: o.threads)
            var i = 0
            while i < ids.count {
                _ = try model.generate(Array(ids[i..<min(ids.count, i + o.context)]), maxNewTokens: min(32, o.context), eos: [])
                i += o.context
            }
        } else {
            let model = try DecoderModel(archive: archive, experts: counter, context: o.context, threads: o.threads)
            var i = 0
            while i < ids.count {
                model.reset()
                _ = try model.forward(Array(ids[i..<min(ids.count, i + o.context)]))
                i += o.context
            }
        }
        var out: [ExpertStack: [Int: [Int]]] = [:]
        for st in plan.stacks { out[st] = counter.mostFrequent(plan.residents(stack: st), stack: st) }
        return out
    }
}
