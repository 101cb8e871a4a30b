import Testing
import TestSupport
@testable import tcpcraft

@Test func placeholder() { #expect(Bool(true)) }
