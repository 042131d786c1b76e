import Testing
@testable import SwapMoECheckpoint

@Suite struct SwapMoECheckpointTestsPlaceholder { @Test func builds() { #expect(Bool(true)) } }
