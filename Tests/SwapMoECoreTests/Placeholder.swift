import Testing
@testable import SwapMoECore

@Suite struct SwapMoECoreTestsPlaceholder { @Test func builds() { #expect(Bool(true)) } }
