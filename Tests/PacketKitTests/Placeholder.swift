import Testing
import TestSupport
@testable import PacketKit

@Test func placeholder() { #expect(Bool(true)) }
