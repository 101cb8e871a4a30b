import PacketKit
import Testing
@testable import TCPScript

/// TCP timestamps between script space and the wire, as packetdrill maps them: one mapping a
/// socket (each new SYN or SYN+ACK starts its own), and an inbound TS ecr that names a TS val the
/// kernel sent echoes exactly that live value.
@Suite struct ScriptTimestampTests {
  func line(_ text: String) throws -> ScriptPacket {
    guard case .packet(let packet) = try #require(try ScriptParser.parse(text, file: "t.pkt").events.first).action else {
      throw ScriptRunError("not a packet line")
    }
    return packet
  }

  func kernel(_ flags: TCPFlags, tsval: UInt32, port: UInt16 = 8080) throws -> [UInt8] {
    try (IPv4Header(sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1))
      / TCPHeader(
        sourcePort: port, destinationPort: 40000, sequenceNumber: 7, acknowledgmentNumber: 0, flags: flags, window: 1,
        options: [.timestamps(value: tsval, echoReply: 0)])).encoded()
  }

  /// The TS ecr an inbound line gets on the wire.
  func liveEcr(_ text: String, _ connection: ScriptConnection) throws -> UInt32? {
    let bytes = try ScriptMatcher.inboundPacket(try line(text), connection: connection)
    let tcp = try TCPView(validating: try IPv4View(validating: bytes[...]).payload)
    for case .success(.timestamps(_, let echo)) in tcp.options { return echo }
    return nil
  }

  @Test("Each socket's SYN starts its own TS mapping; an ecr naming a TS val the kernel sent echoes that value")
  func perSocketMapping() throws {
    var connection = ScriptConnection(
      localAddress: IPv4Address(192, 168, 0, 1), remoteAddress: IPv4Address(192, 0, 2, 1), localPort: 8080,
      remotePort: 40000, remoteISN: 0)
    // The first socket: script TS val 100 came as 5000 on the wire.
    ScriptMatcher.learn(from: try kernel(.syn, tsval: 5000), line: try line("+0 > S 0:0(0) <TS val 100 ecr 0>"), connection: &connection)
    #expect(try liveEcr("+0 < S. 0:0(0) ack 1 win 100 <TS val 1 ecr 100>", connection) == 5000)
    #expect(try liveEcr("+0 < . 1:1(0) ack 1 win 100 <TS val 1 ecr 110>", connection) == 5010)
    // A later socket: its SYN also says TS val 100 in the script, but its clock is 400 ms on.
    ScriptMatcher.learn(
      from: try kernel(.syn, tsval: 5400, port: 8081), line: try line("+0 > S 0:0(0) <TS val 100 ecr 0>"), connection: &connection)
    #expect(try liveEcr("+0 < S. 0:0(0) ack 1 win 100 <TS val 1 ecr 100>", connection) == 5400)
    #expect(try liveEcr("+0 < . 1:1(0) ack 1 win 100 <TS val 1 ecr 105>", connection) == 5405)
    // A data segment of that socket with a TS val the script wrote before maps exactly.
    ScriptMatcher.learn(from: try kernel(.ack, tsval: 5433), line: try line("+0 > . 1:1(0) ack 1 <TS val 130 ecr 1>"), connection: &connection)
    #expect(try liveEcr("+0 < . 1:1(0) ack 1 win 100 <TS val 1 ecr 130>", connection) == 5433)
  }
}
