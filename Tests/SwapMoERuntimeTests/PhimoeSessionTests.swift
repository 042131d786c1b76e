import Foundation
import Testing
import SwapMoEPacker
import SwapMoETestSupport
import SwapMoERuntime

/// Phi-3.5-MoE routes through its sparsemixer: masked routing (swap, static) picks among allowed experts only, and
/// exact under the smallest cap it runs with gives resident's tokens. The prompt (34 tokens) and 12 greedy tokens
/// cross the fixture's LongRoPE original context (40), so the per-call mscale switch runs under every policy;
/// `phimoe_fused` (plain RoPE, fused 3-D experts) runs the same from its other expert layout.
@Suite("Phi-3.5-MoE under a cap", .serialized)
struct PhimoeSessionTests {
    @Test("exact at the minimum cap gives resident's greedy tokens; swap and static run under a cap",
          arguments: [("phimoe", PackOptions.Compression.none), ("phimoe", .lz4), ("phimoe_fused", .none)])
    func policies(fixture: String, compress: PackOptions.Compression) throws {
        try PlannedCaps.expectPolicies(fixture: fixture, compress: compress)
    }
}
