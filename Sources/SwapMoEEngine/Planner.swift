import SwapMoECore
import SwapMoEArchive
import SwapMoEModels

/// How experts are served.
public enum Policy: String, Sendable, CaseIterable {
    /// Every expert in memory; no I/O after load.
    case resident
    /// Exact output: a routed expert that is not resident is loaded on demand (the token waits).
    case exact
    /// SwapMoE: each layer routes among its resident Virtual Experts only; swaps happen in the background.
    case swap
    /// The paper's pruning baseline: each layer keeps its most frequently routed experts from a calibration
    /// pass and routes among them only; nothing is ever swapped.
    case `static`
    /// SwapMoE with shadow experts: swap's full-precision Virtual Experts, and a low-bit copy of every expert
    /// resident beside them that serves the routed choices the Virtual Experts do not cover (nothing is masked).
    case shadow

    /// Whether the policy runs SwapMoE's Virtual Experts (swap rounds, spare slots, the layer profile).
    public var swaps: Bool { self == .swap || self == .shadow }
}

/// A memory budget split into its parts. Every byte the process will hold is in one line of `breakdown`,
/// and `total <= cap` is the invariant the planner guarantees (or it throws, naming the minimum cap).
public struct MemoryPlan: Sendable, Equatable {
    public var cap: Int
    public var policy: Policy
    /// What the process holds before loading anything (runtime, libraries), measured at start.
    public var baseline: Int
    /// Dense tensors (embeddings, attention, norms, routers): mapped read-only and touched every token.
    public var dense: Int
    /// KV cache for the context, workspace, logits.
    public var runtime: Int
    /// Staging and decode buffers of the I/O threads.
    public var io: Int
    /// Slack for allocator fragmentation and thread stacks.
    public var margin: Int
    /// Bytes of one arena slot (largest expert block, 4 KiB aligned).
    public var slotSize: Int
    /// Slots in the arena (resident: all experts).
    public var slots: Int
    /// Resident experts per MoE layer (swap policy), in `moeLayers` order.
    public var perLayer: [Int]
    /// Slots beyond the Virtual Experts that receive swapped-in experts, per stack (swap policy: each stack
    /// with MoE layers has its own swap provider and spares).
    public var spareSlots = 0
    /// Whether `perLayer` follows a `LayerProfile` (swap) rather than a uniform split.
    public var profiled = false
    /// Shadow policy: the low-bit copies of every expert, their type and bytes (0 otherwise).
    public var shadowType: DType?
    public var shadows = 0
    /// The MoE layers of every stack, in archive order (encoder before decoder).
    public var moeLayers: [MoELayer]
    public var expertsPerLayer: Int
    public var totalExperts: Int

    /// The stacks that have MoE layers, in archive order.
    public var stacks: [ExpertStack] { moeLayers.reduce(into: []) { if !$0.contains($1.stack) { $0.append($1.stack) } } }
    /// Spare slots over all stacks.
    public var totalSpareSlots: Int { spareSlots * stacks.count }

    /// Resident experts per MoE layer of `stack` (swap and static policies), keyed by layer.
    public func residents(stack: ExpertStack) -> [Int: Int] {
        var out: [Int: Int] = [:]
        for (m, k) in zip(moeLayers, perLayer) where m.stack == stack { out[m.layer] = k }
        return out
    }

    public var arena: Int { slots * slotSize }
    public var total: Int { baseline + dense + runtime + io + margin + shadows + arena }
    /// Fraction of all expert bytes the arena holds.
    public var expertFraction: Double { totalExperts > 0 ? Double(slots) / Double(totalExperts) : 1 }

    public var breakdown: [(String, Int)] {
        [("baseline (runtime, libraries)", baseline), ("dense weights", dense), ("KV cache + workspace", runtime),
         ("I/O buffers + importance window", io), ("margin", margin)]
            + (shadowType.map { [("shadow experts (every expert at \($0.rawValue))", shadows)] } ?? [])
            + [("expert arena (\(slots) x \(ByteSize.format(slotSize)))", arena)]
    }
}

public enum PlanError: Error, CustomStringConvertible, Equatable {
    case capTooSmall(cap: Int, minimum: Int, policy: Policy)
    case residentDoesNotFit(cap: Int, needed: Int)

    public var description: String {
        switch self {
        case let .capTooSmall(cap, minimum, policy):
            "--max-rss \(ByteSize.format(cap)) is below the minimum of \(ByteSize.format(minimum)) for policy \(policy.rawValue) "
                + (policy == .shadow ? "(dense weights, KV cache and every expert's shadow); raise --max-rss to at least \(ByteSize.format(minimum)) (\(minimum) bytes), or lower --ctx or --shadow"
                    : "(dense weights, KV cache and the fewest expert slots that can run); raise --max-rss to at least \(ByteSize.format(minimum)) (\(minimum) bytes), or lower --ctx")
        case let .residentDoesNotFit(cap, needed):
            "policy resident needs \(ByteSize.format(needed)) but --max-rss is \(ByteSize.format(cap)); use --policy exact or swap, or raise --max-rss"
        }
    }
}

/// Sizes the expert arena from a hard cap on resident memory, using the engine's own size formulas
/// (`Arena.slotSize`, `ExpertLoader.memoryOverhead`, `ImportanceTracker.memoryBytes`) so the plan counts
/// exactly what the providers will allocate.
public struct Planner: Sendable {
    public var slotSize: Int
    public var totalExperts: Int
    public var moeLayers: [MoELayer]
    public var expertsPerLayer: Int
    public var expertsPerToken: Int
    public var dense: Int
    public var runtime: Int
    public var baseline: Int
    public var margin: Int
    /// The fewest slots beyond the Virtual Experts under the swap policy, per stack with MoE layers.
    public var spareSlots: Int
    /// Share of the swap arena given to spare slots when the cap allows more than `spareSlots`: they keep
    /// serving (lingering experts) and move to wherever importance is, so more of them adapt faster.
    public var spareShare: Double
    /// Tokens in the swap policy's importance window.
    public var importanceWindow: Int
    /// Per-layer sensitivities measured by `swapmoe profile`: when set (and it fits the model), swap splits its
    /// Virtual Experts across layers by them instead of uniformly.
    public var profile: LayerProfile?
    /// Shadow policy: the type of the low-bit copies, their bytes over every stack, and the buffers building
    /// them takes (freed before the arena is allocated; counted as I/O buffers when larger). Set by `useShadows`.
    public private(set) var shadowType: DType?
    public private(set) var shadowBytes = 0
    var shadowBuildBytes = 0
    /// Loader buffers for one I/O thread (one LZ4 chunk of decode scratch; none for raw archives).
    let perThreadIO: Int

    /// `runtime` is the decoder's own allocations for the chosen context (`DecoderModel.runtimeBytes`);
    /// `baseline` what the process holds before loading the model. `margin` absorbs thread stacks, allocator
    /// slack and the tokenizer.
    public init(archive: Archive, runtime: Int, baseline: Int, margin: Int = 48 << 20, spareSlots: Int = 1, spareShare: Double = 0.25, importanceWindow: Int = 256) {
        let m = archive.manifest
        slotSize = Arena.slotSize(for: archive)
        totalExperts = m.experts.count
        moeLayers = m.model.stacks.flatMap { st in st.moeLayers.map { MoELayer(stack: st.name, layer: $0) } }
        expertsPerLayer = m.model.stacks.map(\.expertsPerLayer).max() ?? 0
        expertsPerToken = m.model.expertsPerToken
        dense = m.dense.reduce(0) { $0 + ArchiveFormat.align($1.length, 4096) }
        self.runtime = runtime
        // Rounded up to 1 MiB: processes measure slightly different start-up RSS (code pages touched so far,
        // a few hundred KiB apart), so the minimum `plan` reports and the one `run` then requires may differ by
        // 1 MiB. (Rounding to 8 MiB, as before, turned that jitter into an 8 MiB jump whenever the start-up RSS
        // sat near a multiple of 8 MiB, as it did once the binary linked libmicrohttpd.)
        self.baseline = ArchiveFormat.align(max(baseline, 1), 1 << 20)
        self.margin = margin
        self.spareSlots = spareSlots
        self.spareShare = spareShare
        self.importanceWindow = importanceWindow
        perThreadIO = ExpertLoader.memoryOverhead(for: archive, options: .init(ioThreads: 1))
    }

    /// Sizes the shadow policy's low-bit copies of every expert as `type`, built on `threads` threads.
    public mutating func useShadows(_ type: DType, archive: Archive, threads: Int) {
        shadowType = type
        shadowBytes = stacks.reduce(0) { $0 + ShadowStore.plannedBytes(archive: archive, stack: $1, type: type) }
        shadowBuildBytes = max(1, threads) * ShadowStore.scratchBytes(archive: archive)
    }

    /// The stacks that have MoE layers, in archive order.
    var stacks: [ExpertStack] { moeLayers.reduce(into: []) { if !$0.contains($1.stack) { $0.append($1.stack) } } }

    /// Bytes outside the arena that the provider of `policy` allocates with `ioThreads` loader threads. Exact
    /// serves every stack from one provider; swap and static run one provider (loader and importance window)
    /// per stack.
    public func providerBytes(_ policy: Policy, ioThreads: Int) -> Int {
        switch policy {
        case .resident: 0
        case .exact: ioThreads * perThreadIO
        case .swap, .static:
            stacks.reduce(0) { acc, st in
                acc + ioThreads * perThreadIO
                    + ImportanceTracker.memoryBytes(layers: moeLayers.filter { $0.stack == st }.count, experts: expertsPerLayer, window: importanceWindow)
            }
        case .shadow: max(providerBytes(.swap, ioThreads: ioThreads), shadowBuildBytes)
        }
    }

    /// The fewest slots a policy can run with: exact needs the experts of one token in one layer plus one to
    /// prefetch into; swap needs one Virtual Expert in every MoE layer plus its spare slots, static one expert a
    /// layer; shadow none (its shadows serve every expert when the cap leaves no room for swap's minimum). (A layer
    /// holding fewer experts than top-k routes each token to the best of what it holds: the family's top-k over
    /// the allowed experts, renormalised by its own rule.)
    public func minimumSlots(_ policy: Policy) -> Int {
        switch policy {
        case .resident: totalExperts
        case .exact: min(totalExperts, expertsPerToken + 1)
        case .swap: moeLayers.count + spareSlots * stacks.count
        case .static: moeLayers.count
        case .shadow: 0
        }
    }

    public func plan(cap: Int, policy: Policy, ioThreads: Int) throws(PlanError) -> MemoryPlan {
        let io = providerBytes(policy, ioThreads: ioThreads)
        let shadows = policy == .shadow ? shadowBytes : 0
        let fixed = baseline + dense + runtime + io + margin + shadows
        let minimum = fixed + minimumSlots(policy) * slotSize
        var p = MemoryPlan(cap: cap, policy: policy, baseline: baseline, dense: dense, runtime: runtime, io: io, margin: margin,
                           slotSize: slotSize, slots: 0, perLayer: [], moeLayers: moeLayers, expertsPerLayer: expertsPerLayer,
                           totalExperts: totalExperts)
        if policy == .shadow {
            p.shadowType = shadowType
            p.shadows = shadows
        }
        if policy == .resident {
            p.slots = totalExperts
            p.perLayer = moeLayers.map { _ in expertsPerLayer }
            guard p.total <= cap else { throw .residentDoesNotFit(cap: cap, needed: p.total) }
            return p
        }
        guard cap >= minimum else { throw .capTooSmall(cap: cap, minimum: minimum, policy: policy) }
        let affordable = (cap - fixed) / max(slotSize, 1)
        switch policy {
        case .exact:
            p.slots = min(totalExperts, affordable)
            p.perLayer = moeLayers.map { _ in min(expertsPerLayer, p.slots) }
        case .shadow where affordable < minimumSlots(.swap):
            // No room for swap's minimum beside the shadows: the shadows serve every expert.
            p.perLayer = moeLayers.map { _ in 0 }
        case .swap, .static, .shadow:
            if affordable >= totalExperts {
                // Everything fits: every expert is a Virtual Expert and nothing ever needs swapping.
                p.perLayer = moeLayers.map { _ in expertsPerLayer }
                p.slots = totalExperts
                return p
            }
            // Swap's spare slots (per stack: `spareShare` of the arena, at least `spareSlots`, leaving top-k
            // Virtual Experts per layer where the arena has room for them, else one) receive swapped-in experts;
            // the rest are split uniformly across the MoE layers of all stacks, or by the layer profile.
            let floor = (affordable - spareSlots * stacks.count >= expertsPerToken * moeLayers.count ? expertsPerToken : 1) * moeLayers.count
            let perStack = max(spareSlots, min(Int(Double(affordable) * spareShare), affordable - floor) / max(stacks.count, 1))
            let spares = policy.swaps ? perStack * stacks.count : 0
            let usable = affordable - spares
            if policy.swaps, let profile,
               let split = profile.allocate(total: usable, moeLayers: moeLayers, minimum: min(expertsPerToken, usable / max(moeLayers.count, 1)),
                                            experts: expertsPerLayer) {
                p.perLayer = split
                p.profiled = true
                p.spareSlots = perStack
                p.slots = split.reduce(0, +) + spares
                return p
            }
            let perLayer = min(expertsPerLayer, usable / max(moeLayers.count, 1))
            var layers = moeLayers.map { _ in perLayer }
            var left = usable - perLayer * moeLayers.count
            var i = 0
            while left > 0 && layers.contains(where: { $0 < expertsPerLayer }) {
                if layers[i] < expertsPerLayer { layers[i] += 1; left -= 1 }
                i = (i + 1) % layers.count
            }
            p.perLayer = layers
            p.spareSlots = policy.swaps ? perStack : 0
            p.slots = layers.reduce(0, +) + spares
        case .resident:
            break
        }
        return p
    }

    /// The cap that leaves `policy` an arena of `share` (0...1) of all expert bytes (swap's spare slots
    /// included): what "50%" means in `plan --experts` and `sweep --caps`. For shadow, the same cap as swap's:
    /// the shadows come out of the share, so the two compare at the same bytes.
    public func cap(expertShare share: Double, policy: Policy, ioThreads: Int) -> Int {
        baseline + dense + runtime + providerBytes(policy == .shadow ? .swap : policy, ioThreads: ioThreads) + margin
            + Int((Double(totalExperts * slotSize) * share).rounded(.up))
    }

    /// The smallest share of the expert bytes (as `cap(expertShare:)` takes it) with which `policy` can run:
    /// its `minimumSlots` of all the experts.
    public func minimumExpertShare(_ policy: Policy) -> Double {
        Double(minimumSlots(policy)) / Double(max(totalExperts, 1))
    }

    /// Resident if everything fits under the cap (or there is no cap), otherwise exact.
    public func defaultPolicy(cap: Int?, ioThreads: Int) -> Policy {
        guard let cap else { return .resident }
        return (try? plan(cap: cap, policy: .resident, ioThreads: ioThreads)) != nil ? .resident : .exact
    }
}
