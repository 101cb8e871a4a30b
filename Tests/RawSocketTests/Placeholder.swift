import Testing
import TestSupport
@testable import RawSocket

@Test func placeholder() { #expect(Bool(true)) }
