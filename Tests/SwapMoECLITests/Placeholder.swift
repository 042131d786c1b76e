import Testing
@testable import SwapMoECLI

@Suite struct SwapMoECLITestsPlaceholder { @Test func builds() { #expect(Bool(true)) } }
