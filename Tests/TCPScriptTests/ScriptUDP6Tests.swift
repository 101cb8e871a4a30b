import Foundation
import PacketKit
import Testing
import TestSupport
@testable import TCPScript

/// UDP lines and ICMP lines in `ipv6` mode: datagrams built as IPv6 (UDP checksum over the IPv6
/// pseudo-header), ICMPv6 messages quoting an IPv6 header, outbound UDP over IPv6 and ICMPv6
/// matched field by field, and scripts of our own played against the kernel of a namespace.
@Suite struct ScriptUDP6Tests {
  static let local = IPv6Address(groups: [0xFD3D, 0x0A0B, 0x17D6, 0, 0, 0, 0, 1])
  static let remote = IPv6Address(groups: [0xFD3D, 0xFA7B, 0xD17D, 0, 0, 0, 0, 1])
  static let elsewhere = IPv6Address(groups: [0xFD3D, 0xFA7B, 0xD17D, 0, 0, 0, 0, 9])

  var connection: ScriptConnection {
    var connection = ScriptConnection(
      localAddress: IPv4Address(192, 168, 0, 1), remoteAddress: IPv4Address(192, 0, 2, 1), localPort: 8080,
      remotePort: 40000, remoteISN: 1000)
    connection.ipVersion = .ipv6
    return connection
  }
  let endpoint = ScriptUDPEndpoint(localPort: 5000, remotePort: 6000)

  func icmpLine(_ text: String) throws -> ScriptICMP {
    let script = try ScriptParser.parse(text, file: "u6.pkt", ipVersion: .ipv6)
    guard case .icmp(let icmp) = try #require(script.events.first).action else { throw ScriptRunError("not an icmp line") }
    return icmp
  }

  /// A datagram as the kernel under test sends it over IPv6.
  func kernelDatagram(from source: UInt16 = 5000, to destination: UInt16 = 6000, length: Int, toAddress: IPv6Address = remote) throws -> [UInt8] {
    try (IPv6Header(sourceAddress: Self.local, destinationAddress: toAddress, hopLimit: 64)
      / UDPHeader(sourcePort: source, destinationPort: destination) / [UInt8](repeating: 0, count: length)).encoded()
  }

  /// An ICMPv6 message as the kernel sends it, quoting `quoted`.
  func kernelICMPv6(type: UInt8, code: UInt8, rest: UInt32 = 0, quoting quoted: [UInt8]) throws -> [UInt8] {
    try (IPv6Header(sourceAddress: Self.local, destinationAddress: Self.remote, hopLimit: 64)
      / ICMPv6Header(type: ICMPv6Type(type), code: code, restOfHeader: rest) / quoted).encoded()
  }

  // MARK: Building

  @Test("An inbound datagram in ipv6 mode: IPv6 from the remote end, UDP checksum over the IPv6 pseudo-header")
  func inboundDatagram() throws {
    let bytes = try ScriptMatcher.inboundDatagram(ScriptUDP(inbound: true, length: 33), connection: connection, udp: endpoint)
    let ip = try IPv6View(validating: bytes[...])
    #expect(ip.version == 6 && ip.nextHeader == .udp && ip.hopLimit == 255)
    #expect(ip.sourceAddress == Self.remote && ip.destinationAddress == Self.local)
    #expect(Int(ip.payloadLength) == 8 + 33)
    let udp = try UDPView(validating: ip.payload)
    #expect(udp.sourcePort == 6000 && udp.destinationPort == 5000 && udp.payload.count == 33)
    #expect(udp.checksum != 0 && udp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
    // The same line in ipv4 mode stays IPv4.
    var v4 = connection
    v4.ipVersion = .ipv4
    let four = try ScriptMatcher.inboundDatagram(ScriptUDP(inbound: true, length: 33), connection: v4, udp: endpoint)
    #expect(four.first.map { $0 >> 4 } == 4)
  }

  @Test("An inbound ICMPv6 port unreachable quotes the UDP socket's datagram under an IPv6 header")
  func inboundICMPv6QuotingUDP() throws {
    let line = try icmpLine("+0 < icmp unreachable port_unreachable [udp (20)]")
    #expect(line.type == 1 && line.code == 4 && line.quote == .udp)
    let bytes = try ScriptMatcher.icmpPacket(line, connection: connection, udp: endpoint)
    let ip = try IPv6View(validating: bytes[...])
    #expect(ip.nextHeader == .icmpv6 && ip.sourceAddress == Self.remote && ip.destinationAddress == Self.local)
    let icmp = try ICMPv6View(validating: ip.payload)
    #expect(icmp.type == .destinationUnreachable && icmp.code == 4)
    #expect(icmp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
    let quoted = try IPv6View(validating: icmp.body)
    #expect(quoted.nextHeader == .udp && quoted.sourceAddress == Self.local && quoted.destinationAddress == Self.remote)
    #expect(quoted.payloadLength == 28)
    #expect(Array(quoted.payload.prefix(6)) == [0x13, 0x88, 0x17, 0x70, 0, 28])  // 5000 > 6000, length 8 + 20
    // No UDP socket yet: a clear error.
    #expect(throws: ScriptRunError.self) { try ScriptMatcher.icmpPacket(line, connection: connection, udp: ScriptUDPEndpoint()) }
  }

  @Test("An ICMPv6 echo request quotes nothing (the parser knows ICMPv6's echo numbers)")
  func inboundEcho() throws {
    let line = try icmpLine("+0 < icmp echo_request id 9")
    #expect(line.type == 128 && line.identifier == 9 && line.quote == .none)
    let bytes = try ScriptMatcher.icmpPacket(line, connection: connection)
    let ip = try IPv6View(validating: bytes[...])
    let icmp = try ICMPv6View(validating: ip.payload)
    #expect(icmp.type == .echoRequest && icmp.identifier == 9 && icmp.body.isEmpty)
    #expect(icmp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
  }

  // MARK: Matching

  @Test("An outbound IPv6 datagram is matched field by field: length, ports, addresses, protocol")
  func outboundDatagram() throws {
    // An IPv4 datagram where the run is IPv6: both addresses differ; a TCP segment: the protocol.
    let v4 = try (IPv4Header(sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1))
      / UDPHeader(sourcePort: 5000, destinationPort: 6000) / [UInt8](repeating: 0, count: 50)).encoded()
    let tcp = try (IPv6Header(sourceAddress: Self.local, destinationAddress: Self.remote)
      / TCPHeader(sourcePort: 5000, destinationPort: 6000, sequenceNumber: 1, acknowledgmentNumber: 0, flags: .syn, window: 1)).encoded()
    let table: [(packet: [UInt8], line: ScriptUDP, fields: [String])] = [
      (try kernelDatagram(length: 50), ScriptUDP(inbound: false, length: 50), []),
      (try kernelDatagram(length: 51), ScriptUDP(inbound: false, length: 50), ["length"]),
      (try kernelDatagram(from: 5001, length: 50), ScriptUDP(inbound: false, length: 50), ["source port"]),
      (try kernelDatagram(to: 6001, length: 50), ScriptUDP(inbound: false, length: 50), ["destination port"]),
      (try kernelDatagram(from: 7, to: 8, length: 5), ScriptUDP(inbound: false, sourcePort: 7, destinationPort: 8, length: 5), []),
      (try kernelDatagram(length: 50, toAddress: Self.elsewhere), ScriptUDP(inbound: false, length: 50), ["destination"]),
      (v4, ScriptUDP(inbound: false, length: 50), ["source", "destination"]),
      (tcp, ScriptUDP(inbound: false, length: 0), ["protocol"]),
      ([0x60, 0, 0], ScriptUDP(inbound: false, length: 0), ["packet"]),
    ]
    for row in table {
      let found = ScriptMatcher.mismatches(row.packet, udpLine: row.line, connection: connection, udp: endpoint)
      #expect(found.map(\.field) == row.fields, "\(row.line): \(found)")
    }
    let wrongAddress = ScriptMatcher.mismatches(
      try kernelDatagram(length: 50, toAddress: Self.elsewhere), udpLine: ScriptUDP(inbound: false, length: 50), connection: connection,
      udp: endpoint)
    #expect(wrongAddress.map(\.description) == ["destination: expected fd3d:fa7b:d17d::1, got fd3d:fa7b:d17d::9"])
  }

  @Test("An outbound ICMPv6 message is matched field by field: type, code, mtu, id, the quoted datagram or segment")
  func outboundICMPv6() throws {
    // The remote end's datagram of 10 bytes, quoted whole (as Linux does up to 1280 bytes).
    let datagram = try ScriptMatcher.inboundDatagram(
      ScriptUDP(inbound: true, sourcePort: 6000, destinationPort: 9, length: 10), connection: connection, udp: endpoint)
    let unreachable = try kernelICMPv6(type: 1, code: 4, quoting: datagram)
    let reply = try kernelICMPv6(type: 129, code: 0, rest: 7 << 16 | 1, quoting: [])
    let tooBig = try kernelICMPv6(type: 2, code: 0, rest: 1280, quoting: [])
    // A quoted TCP segment: its sequence number counts from the remote end's ISN.
    let segment = try (IPv6Header(sourceAddress: Self.remote, destinationAddress: Self.local)
      / TCPHeader(sourcePort: 40000, destinationPort: 8080, sequenceNumber: 1000 + 5, acknowledgmentNumber: 0, flags: .ack, window: 1)).encoded()
    let aboutSegment = try kernelICMPv6(type: 4, code: 0, quoting: Array(segment.prefix(48)))
    // ICMPv4 where ICMPv6 is expected.
    let icmpv4 = try (IPv4Header(sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1))
      / ICMPv4Header(type: .destinationUnreachable, code: 3)).encoded()
    let table: [(packet: [UInt8], line: String, fields: [String])] = [
      (unreachable, "+0 > icmp unreachable port_unreachable [udp (10)]", []),
      (unreachable, "+0 > icmp unreachable port_unreachable", []),
      (unreachable, "+0 > icmp unreachable admin_prohibited [udp (10)]", ["code"]),
      (unreachable, "+0 > icmp time_exceeded exceeded_hop_limit [udp (10)]", ["type", "code"]),
      (unreachable, "+0 > icmp unreachable port_unreachable [udp (11)]", ["quoted udp length"]),
      (unreachable, "+0 > icmp unreachable port_unreachable [0:10(10)]", ["quoted packet"]),
      (reply, "+0 > icmp echo_reply id 7", []),
      (reply, "+0 > icmp echo_reply id 8", ["id"]),
      (tooBig, "+0 > icmp packet_too_big mtu 1280", []),  // the MTU is all 32 bits
      (tooBig, "+0 > icmp packet_too_big mtu 1400", ["mtu"]),
      (aboutSegment, "+0 > icmp parameter_problem header_field [5:5(0)]", []),
      (aboutSegment, "+0 > icmp parameter_problem header_field [6:6(0)]", ["quoted seq"]),
      (datagram, "+0 > icmp unreachable", ["protocol"]),
      (icmpv4, "+0 > icmp unreachable", ["protocol"]),
    ]
    #expect(
      ScriptMatcher.mismatches(icmpv4, icmpLine: try icmpLine("+0 > icmp unreachable"), connection: connection).map(\.description)
        == ["protocol: expected ICMPv6, got icmp over IPv4"])
    for row in table {
      let found = ScriptMatcher.mismatches(row.packet, icmpLine: try icmpLine(row.line), connection: connection)
      #expect(found.map(\.field) == row.fields, "\(row.line): \(found)")
    }
    let wrongType = try #require(
      ScriptMatcher.mismatches(unreachable, icmpLine: try icmpLine("+0 > icmp parameter_problem header_field"), connection: connection).first)
    #expect(wrongType.description == "type: expected parameter problem, got destination unreachable")
    let expected = try #require(ScriptMatcher.expectedICMP(try icmpLine("+0 > icmp unreachable port_unreachable [udp (10)]"), connection: connection, udp: endpoint))
    #expect(scriptSummary(expected).contains("ICMP6"), "\(scriptSummary(expected))")
  }

  // MARK: End to end

  static func options() -> ScriptRunOptions {
    var options = ScriptRunOptions()
    options.ipVersion = .ipv6
    options.toleranceMicroseconds = 200_000
    return options
  }

  func run(_ text: String) -> ScriptResult {
    ScriptRunner.run(text: text, path: "udp6.pkt", directory: ScriptRunTests.examples, options: Self.options())
  }

  @Test(
    "A UDP script plays over IPv6: datagrams in and out, ICMPv6 errors both ways, ECONNREFUSED, an echo",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func udpScriptPasses() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    // The IPv4 suite's script, unchanged: one script, every mode.
    let result = run(ScriptUDPTests.udpScript)
    #expect(result.status == .passed, "\(result.reason ?? "") \(result.failure.map { "\($0)" } ?? "")")
    let packets = result.transcript.filter { $0.kind == .inbound || $0.kind == .outbound }
    #expect(packets.count == 8, "\(packets.map(\.text))")
    // Every packet on the wire was IPv6, each from the right end.
    for entry in packets {
      let ip = try IPv6View(validating: try #require(entry.packet)[...])
      #expect(ip.version == 6, "\(entry.text)")
      #expect(ip.sourceAddress == (entry.kind == .inbound ? Self.remote : Self.local), "\(entry.text)")
    }
    let texts = packets.map(\.text)
    #expect(texts.contains { $0.contains("UDP, length 30") }, "\(texts)")
    #expect(texts.contains { $0.contains("ICMP6") && $0.contains("unreachable") }, "\(texts)")
    #expect(texts.contains { $0.contains("echo reply") }, "\(texts)")
    // The kernel's port unreachable quotes our datagram to port 9, whole.
    let unreachable = try #require(packets.last { $0.kind == .outbound && $0.text.contains("unreachable") }?.packet)
    let icmp = try ICMPv6View(validating: try IPv6View(validating: unreachable[...]).payload)
    let quoted = try IPv6View(validating: icmp.body)
    let quotedUDP = try UDPView(validating: quoted.payload)
    #expect(quotedUDP.sourcePort == 48123 && quotedUDP.destinationPort == 9 && quotedUDP.payload.count == 10)
  }

  @Test(
    "UDP scripts over IPv6 that must fail: the wrong length and the wrong ICMPv6 code, reported field by field",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func udpScriptFails() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let socket = "0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n"
    let wrongLength = run(socket + "+0 connect(3, ..., ...) = 0\n+0 write(3, ..., 20) = 20\n+0 > udp (21)\n")
    #expect(wrongLength.status == .failed && wrongLength.failure?.location.line == 4)
    #expect(wrongLength.failure?.message == "outbound packet does not match: length: expected 21, got 20")
    let actual = wrongLength.failure?.actual ?? ""
    #expect(actual.contains("IP6 fd3d:a0b:17d6::1.") && actual.contains("UDP, length 20"), "\(actual)")
    #expect(wrongLength.failure?.expected?.contains("UDP, length 21") == true, "\(wrongLength.failure?.expected ?? "")")
    let wrongCode = run(socket + "+0 bind(3, ..., ...) = 0\n+0 < udp 48123>9 (10)\n+0 > icmp unreachable admin_prohibited [udp (10)]\n")
    #expect(wrongCode.status == .failed && wrongCode.failure?.location.line == 4)
    #expect(wrongCode.failure?.message == "outbound packet does not match: code: expected 1, got 4")
  }
}
