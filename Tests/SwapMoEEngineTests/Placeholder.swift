import Testing
@testable import SwapMoEEngine

@Suite struct SwapMoEEngineTestsPlaceholder { @Test func builds() { #expect(Bool(true)) } }
