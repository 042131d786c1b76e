import Foundation
import Testing
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// Phi-3.5-MoE routes through its sparsemixer: masked routing (swap, static) picks among allowed experts only, and
/// exact under the smallest cap it runs with gives resident's tokens. The prompt (34 tokens) and 12 greedy tokens
/// cross the fixture's LongRoPE original context (40), so the per-call mscale switch runs under every policy.
@Suite("Phi-3.5-MoE under a cap", .serialized)
struct PhimoeSessionTests {
    @Test("exact at the minimum cap gives resident's greedy tokens; swap and static run under a cap",
          arguments: [PackOptions.Compression.none, .lz4])
    func policies(compress: PackOptions.Compression) throws {
        try PlannedCaps.expectPolicies(fixture: "phimoe", compress: compress)
    }
}
