import Glibc
import Testing
import TestSupport
import RawSocket

@Suite("Running code inside a network namespace")
struct NetworkNamespaceTests {
  static func currentNamespace() -> String? {
    var buffer = [CChar](repeating: 0, count: 256)
    let count = readlink("/proc/thread-self/ns/net", &buffer, 255)
    guard count > 0 else { return nil }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  @Test func missingNamespaceIsAnErrorAndNothingChanges() {
    let before = Self.currentNamespace()
    var ran = false
    #expect(throws: SocketError.self) {
      try NetworkNamespace.run(named: "tcrs-no-such-namespace") { ran = true }
    }
    #expect(!ran)
    #expect(Self.currentNamespace() == before)
  }

  @Test(
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func entersAndLeaves() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let namespace = try VethNamespace()
    defer { namespace.destroy() }
    let before = Self.currentNamespace()
    let inside = try NetworkNamespace.run(named: namespace.name) { Self.currentNamespace() }
    #expect(inside != nil && inside != before)
    #expect(Self.currentNamespace() == before)
    struct Thrown: Error {}
    #expect(throws: Thrown.self) { try NetworkNamespace.run(named: namespace.name) { throw Thrown() } }
    #expect(Self.currentNamespace() == before, "restored after a throw too")
  }
}
