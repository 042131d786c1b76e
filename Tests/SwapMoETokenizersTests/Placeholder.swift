import Testing
@testable import SwapMoETokenizers

@Suite struct SwapMoETokenizersTestsPlaceholder { @Test func builds() { #expect(Bool(true)) } }
