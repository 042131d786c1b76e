import Testing
@testable import SwapMoEPacker

@Suite struct SwapMoEPackerTestsPlaceholder { @Test func builds() { #expect(Bool(true)) } }
