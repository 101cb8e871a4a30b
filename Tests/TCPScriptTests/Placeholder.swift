import Testing
import TestSupport
@testable import TCPScript

@Test func placeholder() { #expect(Bool(true)) }
