import Testing
@testable import SwapMoEArchive

@Suite struct SwapMoEArchiveTestsPlaceholder { @Test func builds() { #expect(Bool(true)) } }
