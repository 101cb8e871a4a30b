import Testing
import TestSupport
@testable import TCPScript

/// An outbound line whose packet does not come by its deadline fails; the report then says when
/// it did come (within a further `ScriptSession.lateLook`), or that nothing came, as packetdrill
/// reports a late packet as a timing error rather than as missing.
@Suite struct ScriptLatePacketTests {
  static let listen = ScriptRunTests.listenAndSYN

  @Test(
    "A packet that comes after the deadline is reported late, with its time and bytes",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func latePacketIsNamed() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    // The kernel retransmits its SYN-ACK after its initial RTO, 1 s. Expected at 0.8 s (the
    // tolerance: 12.5% of the 0.8 s gap, 0.1 s), it comes about 0.1 s after the deadline, inside
    // the further look; its time error is past the tolerance.
    let result = ScriptRunner.run(text: Self.listen + "+.8 > S. 0:0(0) ack 1 <...>\n", path: "late.pkt", directory: ScriptRunTests.examples)
    let failure = try #require(result.failure)
    #expect(failure.location.line == 7)
    #expect(failure.message.hasPrefix("expected packet did not arrive"), "\(failure.message)")
    #expect(failure.message.contains("a packet came at"), "\(failure.message)")
    #expect(failure.actual?.contains("Flags [S.]") == true, "\(failure.actual ?? "")")
    let late = try #require(failure.timeError)
    #expect(late > 100_000, "time error \(late) us")
    #expect(result.transcript.contains { $0.kind == .outbound && $0.note == .late && $0.text.hasSuffix("(late)") })
  }

  @Test(
    "A packet that never comes is reported as nothing after the further look",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func missingPacketIsNothing() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let text = Self.listen + "+0 < . 1:1(0) ack 1 win 257\n+0 > P. 1:11(10) ack 1\n"
    let result = ScriptRunner.run(text: text, path: "missing.pkt", directory: ScriptRunTests.examples)
    let failure = try #require(result.failure)
    #expect(failure.location.line == 8)
    #expect(failure.message.contains("nothing came in a further 0.250000 s"), "\(failure.message)")
    #expect(failure.actual == "nothing")
    #expect(failure.timeError == nil)
  }
}
