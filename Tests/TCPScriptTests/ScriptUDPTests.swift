import Foundation
import PacketKit
import Testing
import TestSupport
@testable import TCPScript

/// UDP lines and outbound ICMP lines: the parser (with error positions), the matcher field by
/// field on packets built here as the kernel sends them, and a script played against the kernel.
@Suite struct ScriptUDPTests {
  static let local = IPv4Address(192, 168, 0, 1)
  static let remote = IPv4Address(192, 0, 2, 1)
  let connection = ScriptConnection(localAddress: local, remoteAddress: remote, localPort: 8080, remotePort: 40000, remoteISN: 1000)
  let endpoint = ScriptUDPEndpoint(localPort: 5000, remotePort: 6000)

  func action(_ text: String) throws -> ScriptAction {
    try #require(try ScriptParser.parse(text, file: "u.pkt").events.first).action
  }

  // MARK: Parser

  @Test("UDP lines: direction, length, optional SRC>DST ports, -D defines")
  func parseUDP() throws {
    #expect(try action("+0 < udp (100)") == .udp(ScriptUDP(inbound: true, length: 100)))
    #expect(try action("+0 > udp (0)") == .udp(ScriptUDP(inbound: false, length: 0)))
    #expect(try action("+0 > udp 8080>53 (12)") == .udp(ScriptUDP(inbound: false, sourcePort: 8080, destinationPort: 53, length: 12)))
    #expect(try action("+0 < udp 1 > 2 ( 3 )") == .udp(ScriptUDP(inbound: true, sourcePort: 1, destinationPort: 2, length: 3)))
    let defined = try ScriptParser.parse("+0 < udp PORT>9 (LEN)", file: "u.pkt", defines: ["PORT": "7", "LEN": "5"])
    #expect(defined.events.first?.action == .udp(ScriptUDP(inbound: true, sourcePort: 7, destinationPort: 9, length: 5)))
  }

  @Test("Outbound ICMP lines: type, code, mtu, id, quoted UDP datagram or TCP segment, or nothing")
  func parseICMP() throws {
    var unreachable = ScriptICMP(type: 3, code: 3, quotedLength: 10)
    unreachable.inbound = false
    unreachable.quote = .udp
    #expect(try action("+0 > icmp unreachable port_unreachable [udp (10)]") == .icmp(unreachable))
    var echo = ScriptICMP(type: 0, identifier: 7)
    echo.inbound = false
    echo.quote = .none
    #expect(try action("+0 > icmp echo_reply id 7") == .icmp(echo))
    var fragment = ScriptICMP(type: 3, code: 4, mtu: 1200, quotedStart: 1, quotedLength: 100)
    fragment.inbound = false
    #expect(try action("+0 > icmp unreachable frag_needed mtu 1200 [1:101(100)]") == .icmp(fragment))
    // Inbound: an echo request quotes nothing; an error without a quote quotes the connection's segment at 0.
    var request = ScriptICMP(type: 8, identifier: 3)
    request.quote = .none
    #expect(try action("+0 < icmp echo_request id 3") == .icmp(request))
    #expect(try action("+0 < icmp unreachable") == .icmp(ScriptICMP(type: 3)))
    var quoting = ScriptICMP(type: 3, code: 3, quotedLength: 20)
    quoting.quote = .udp
    #expect(try action("+0 < icmp unreachable port_unreachable [udp (20)]") == .icmp(quoting))
  }

  @Test(
    "UDP and ICMP errors name the line, the column and what was expected",
    arguments: [
      ("+0 < udp 100", 1, 13, "expected \">\" between the source and destination ports"),
      ("+0 < udp (70000)", 1, 11, "expected a UDP payload length of 0...65507, found 70000"),
      ("+0 < udp (x)", 1, 11, "expected a UDP payload length"),
      ("+0 > udp 1>2 3", 1, 14, "expected \"(\" before the UDP payload length"),
      ("+0 > udp (3) junk", 1, 14, "expected the end of the udp line"),
      ("+0 > udp 1>99999 (3)", 1, 12, "expected a destination port"),
      ("+0 > icmp unreachable [udp (3]", 1, 30, "expected \")\""),
      ("+0 > icmp bogus", 1, 11, "expected an ICMP type"),
    ] as [(String, Int, Int, String)])
  func errors(text: String, line: Int, column: Int, message: String) throws {
    try expectScriptParseError(text, file: "u.pkt", line: line, column: column, message: message)
  }

  // MARK: Matcher

  /// A datagram as the kernel under test sends it.
  func kernelDatagram(from source: UInt16 = 5000, to destination: UInt16 = 6000, length: Int, toAddress: IPv4Address = remote) throws -> [UInt8] {
    try (IPv4Header(sourceAddress: Self.local, destinationAddress: toAddress)
      / UDPHeader(sourcePort: source, destinationPort: destination) / [UInt8](repeating: 0, count: length)).encoded()
  }

  @Test("An inbound datagram: from the remote end to the UDP socket's port, ports as written win")
  func inboundDatagram() throws {
    let bytes = try ScriptMatcher.inboundDatagram(ScriptUDP(inbound: true, length: 33), connection: connection, udp: endpoint)
    let ip = try IPv4View(validating: bytes[...])
    let udp = try UDPView(validating: ip.payload)
    #expect(ip.sourceAddress == Self.remote && ip.destinationAddress == Self.local && ip.protocol == .udp)
    #expect(udp.sourcePort == 6000 && udp.destinationPort == 5000 && udp.payload.count == 33)
    #expect(udp.checksum != 0)
    let written = try ScriptMatcher.inboundDatagram(
      ScriptUDP(inbound: true, sourcePort: 1, destinationPort: 2, length: 0), connection: connection, udp: ScriptUDPEndpoint())
    let writtenUDP = try UDPView(validating: try IPv4View(validating: written[...]).payload)
    #expect(writtenUDP.sourcePort == 1 && writtenUDP.destinationPort == 2)
    // No socket and no ports: a clear error, not a guess.
    #expect(throws: ScriptRunError.self) {
      try ScriptMatcher.inboundDatagram(ScriptUDP(inbound: true, length: 1), connection: connection, udp: ScriptUDPEndpoint())
    }
  }

  @Test("An outbound datagram is matched field by field: length, source and destination port, addresses, protocol")
  func outboundDatagram() throws {
    let line = ScriptUDP(inbound: false, length: 50)
    func fields(_ packet: [UInt8], _ line: ScriptUDP = ScriptUDP(inbound: false, length: 50)) -> [String] {
      ScriptMatcher.mismatches(packet, udpLine: line, connection: connection, udp: endpoint).map(\.field)
    }
    #expect(fields(try kernelDatagram(length: 50)) == [])
    #expect(fields(try kernelDatagram(length: 51)) == ["length"])
    #expect(fields(try kernelDatagram(from: 5001, length: 50)) == ["source port"])
    #expect(fields(try kernelDatagram(to: 6001, length: 50)) == ["destination port"])
    #expect(fields(try kernelDatagram(length: 50, toAddress: IPv4Address(192, 0, 2, 9))) == ["destination"])
    #expect(fields(try kernelDatagram(from: 7, to: 8, length: 50), ScriptUDP(inbound: false, sourcePort: 7, destinationPort: 8, length: 50)) == [])
    let mismatch = try #require(ScriptMatcher.mismatches(try kernelDatagram(length: 49), udpLine: line, connection: connection, udp: endpoint).first)
    #expect(mismatch.description == "length: expected 50, got 49")
    // A TCP segment where a datagram is expected.
    let tcp = try (IPv4Header(sourceAddress: Self.local, destinationAddress: Self.remote)
      / TCPHeader(sourcePort: 5000, destinationPort: 6000, sequenceNumber: 1, acknowledgmentNumber: 0, flags: .syn, window: 1)).encoded()
    #expect(fields(tcp) == ["protocol"])
    #expect(fields([0x45, 0, 0]) == ["packet"])
  }

  /// An ICMP message as the kernel sends it, quoting `quoted`.
  func kernelICMP(type: UInt8, code: UInt8, rest: UInt32 = 0, quoting quoted: [UInt8]) throws -> [UInt8] {
    try (IPv4Header(sourceAddress: Self.local, destinationAddress: Self.remote)
      / ICMPv4Header(type: ICMPv4Type(type), code: code, restOfHeader: rest) / quoted).encoded()
  }

  @Test("An outbound ICMP message is matched field by field: type, code, mtu, id, the quoted datagram or segment")
  func outboundICMP() throws {
    // What the kernel quotes: the remote end's datagram of 10 bytes, whole.
    let datagram = try ScriptMatcher.inboundDatagram(
      ScriptUDP(inbound: true, sourcePort: 6000, destinationPort: 9, length: 10), connection: connection, udp: endpoint)
    let unreachable = try kernelICMP(type: 3, code: 3, quoting: datagram)
    func fields(_ packet: [UInt8], _ text: String) throws -> [String] {
      guard case .icmp(let line) = try action(text) else { throw ScriptRunError("not an icmp line") }
      return ScriptMatcher.mismatches(packet, icmpLine: line, connection: connection).map(\.field)
    }
    #expect(try fields(unreachable, "+0 > icmp unreachable port_unreachable [udp (10)]") == [])
    #expect(try fields(unreachable, "+0 > icmp unreachable port_unreachable") == [])
    #expect(try fields(unreachable, "+0 > icmp unreachable host_unreachable [udp (10)]") == ["code"])
    #expect(try fields(unreachable, "+0 > icmp time_exceeded code_3 [udp (10)]") == ["type"])
    #expect(try fields(unreachable, "+0 > icmp unreachable port_unreachable [udp (11)]") == ["quoted udp length"])
    #expect(try fields(unreachable, "+0 > icmp unreachable port_unreachable [0:10(10)]") == ["quoted packet"])
    let reply = try kernelICMP(type: 0, code: 0, rest: 7 << 16 | 1, quoting: [])
    #expect(try fields(reply, "+0 > icmp echo_reply id 7") == [])
    #expect(try fields(reply, "+0 > icmp echo_reply id 8") == ["id"])
    let fragment = try kernelICMP(type: 3, code: 4, rest: 1200, quoting: [])
    #expect(try fields(fragment, "+0 > icmp unreachable frag_needed mtu 1200") == [])
    #expect(try fields(fragment, "+0 > icmp unreachable frag_needed mtu 1000") == ["mtu"])
    // A quoted TCP segment: its sequence number counts from the remote end's ISN.
    let segment = try (IPv4Header(sourceAddress: Self.remote, destinationAddress: Self.local)
      / TCPHeader(sourcePort: 40000, destinationPort: 8080, sequenceNumber: 1000 + 5, acknowledgmentNumber: 0, flags: .ack, window: 1)).encoded()
    let aboutSegment = try kernelICMP(type: 3, code: 2, quoting: Array(segment.prefix(28)))
    #expect(try fields(aboutSegment, "+0 > icmp unreachable protocol_unreachable [5:5(0)]") == [])
    #expect(try fields(aboutSegment, "+0 > icmp unreachable protocol_unreachable [6:6(0)]") == ["quoted seq"])
    #expect(try fields(datagram, "+0 > icmp unreachable") == ["protocol"])
  }

  @Test("An inbound ICMP error can quote the UDP socket's datagram; an echo request quotes nothing")
  func inboundICMP() throws {
    var line = ScriptICMP(type: 3, code: 3, quotedLength: 20)
    line.quote = .udp
    let bytes = try ScriptMatcher.icmpPacket(line, connection: connection, udp: endpoint)
    let icmp = try ICMPv4View(validating: try IPv4View(validating: bytes[...]).payload)
    let quoted = try IPv4View(validating: icmp.payload)
    #expect(quoted.protocol == .udp && quoted.sourceAddress == Self.local && quoted.destinationAddress == Self.remote)
    #expect(Array(quoted.payload.prefix(6)) == [0x13, 0x88, 0x17, 0x70, 0, 28])  // 5000 > 6000, length 8 + 20
    var echo = ScriptICMP(type: 8, identifier: 9)
    echo.quote = .none
    let request = try ICMPv4View(validating: try IPv4View(validating: try ScriptMatcher.icmpPacket(echo, connection: connection)[...]).payload)
    #expect(request.type.rawValue == 8 && request.identifier == 9 && request.payload.isEmpty)
    #expect(throws: ScriptRunError.self) { try ScriptMatcher.icmpPacket(line, connection: connection, udp: ScriptUDPEndpoint()) }
  }

  // MARK: End to end

  static let udpScript = """
    // A UDP socket: datagrams both ways, a refused datagram, a port unreachable, an echo.
    0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3
    +0 bind(3, ..., ...) = 0
    +0 < udp (100)
    +0.01 recvfrom(3, ..., 1000, 0, ..., ...) = 100
    +0 sendto(3, ..., 30, 0, ..., ...) = 30
    +0 > udp (30)
    +0 connect(3, ..., ...) = 0
    +0 write(3, ..., 50) = 50
    +0 > udp 8080>8080 (50)
    +0.01 < icmp unreachable port_unreachable [udp (50)]
    +0.01 read(3, ..., 100) = -1 ECONNREFUSED (Connection refused)
    +0 < udp 48123>9 (10)
    +0 > icmp unreachable port_unreachable [udp (10)]
    +0 < icmp echo_request id 7
    +0 > icmp echo_reply id 7

    """

  @Test(
    "A UDP script plays against the kernel: datagrams in and out, ICMP errors both ways, an echo",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func udpScriptPasses() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    var options = ScriptRunOptions()
    options.toleranceMicroseconds = 200_000
    let result = ScriptRunner.run(text: Self.udpScript, path: "udp.pkt", directory: ScriptRunTests.examples, options: options)
    #expect(result.status == .passed, "\(result.reason ?? "") \(result.failure.map { "\($0)" } ?? "")")
    let texts = result.transcript.map(\.text)
    #expect(texts.contains { $0.contains("UDP, length 30") })
    #expect(texts.contains { $0.contains("udp port 9 unreachable") })
    #expect(texts.contains { $0.contains("echo reply, id 7") })
  }

  @Test(
    "A UDP script that must fail: the wrong length and the wrong ICMP code are reported field by field",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func udpScriptFails() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    var options = ScriptRunOptions()
    options.toleranceMicroseconds = 200_000
    let wrongLength = ScriptRunner.run(
      text: "0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n+0 connect(3, ..., ...) = 0\n+0 write(3, ..., 20) = 20\n+0 > udp (21)\n",
      path: "udp.pkt", directory: ScriptRunTests.examples, options: options)
    #expect(wrongLength.status == .failed)
    #expect(wrongLength.failure?.location.line == 4)
    #expect(wrongLength.failure?.message == "outbound packet does not match: length: expected 21, got 20")
    #expect(wrongLength.failure?.actual?.contains("UDP, length 20") == true)
    let wrongCode = ScriptRunner.run(
      text: "0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n+0 bind(3, ..., ...) = 0\n+0 < udp 48123>9 (10)\n+0 > icmp unreachable host_unreachable [udp (10)]\n",
      path: "udp.pkt", directory: ScriptRunTests.examples, options: options)
    #expect(wrongCode.status == .failed)
    #expect(wrongCode.failure?.message == "outbound packet does not match: code: expected 1, got 3")
  }
}
