import PacketKit
import RawSocket
import Testing
@testable import TCPScript

/// The IPv6 and IPv4-mapped paths of the script language, without the kernel: the IP fields a
/// packet line writes, ICMPv6 lines, packets built and matched as IPv6, packetdrill's flow label
/// rule, and socket addresses in each mode's family.
@Suite struct ScriptIPv6Tests {
  static let kernelISN: UInt32 = 0x2000_0000
  static let remoteISN: UInt32 = 5000
  static let local = IPv6Address(groups: [0xFD3D, 0x0A0B, 0x17D6, 0, 0, 0, 0, 1])
  static let remote = IPv6Address(groups: [0xFD3D, 0xFA7B, 0xD17D, 0, 0, 0, 0, 1])

  func connection(_ version: ScriptIPVersion = .ipv6) -> ScriptConnection {
    var connection = ScriptConnection(
      localAddress: IPv4Address(192, 168, 0, 1), remoteAddress: IPv4Address(192, 0, 2, 1), localPort: 8080,
      remotePort: 40000, remoteISN: Self.remoteISN)
    connection.kernelISN = Self.kernelISN
    connection.ipVersion = version
    return connection
  }

  func line(_ text: String, _ version: ScriptIPVersion? = nil) throws -> ScriptPacket {
    let script = try ScriptParser.parse(text, file: "v6.pkt", ipVersion: version)
    guard case .packet(let packet) = try #require(script.events.first).action else { throw ScriptRunError("not a packet line") }
    return packet
  }

  func icmp(_ text: String, _ version: ScriptIPVersion) throws -> ScriptICMP {
    let script = try ScriptParser.parse(text, file: "v6.pkt", ipVersion: version)
    guard case .icmp(let icmp) = try #require(script.events.first).action else { throw ScriptRunError("not an icmp line") }
    return icmp
  }

  func parseError(_ text: String, _ version: ScriptIPVersion? = nil) -> ScriptParseError? {
    do throws(ScriptParseError) {
      _ = try ScriptParser.parse(text, file: "v6.pkt", ipVersion: version)
      return nil
    } catch {
      return error
    }
  }

  /// A segment from the kernel in IPv6 (relative numbers mapped onto the wire).
  func kernel(
    _ flags: TCPFlags, seq: UInt32, length: Int = 0, ack: UInt32 = 0, trafficClass: UInt8 = 0,
    flowLabel: UInt32 = 0x12345, hopLimit: UInt8 = 64
  ) throws -> [UInt8] {
    let tcp = TCPHeader(
      sourcePort: 8080, destinationPort: 40000, sequenceNumber: seq &+ Self.kernelISN,
      acknowledgmentNumber: flags.contains(.ack) ? ack &+ Self.remoteISN : 0, flags: flags, window: 1000)
    let ip = IPv6Header(
      sourceAddress: Self.local, destinationAddress: Self.remote, trafficClass: trafficClass, flowLabel: flowLabel,
      hopLimit: hopLimit)
    return try (ip / tcp / [UInt8](repeating: 0, count: length)).encoded()
  }

  func fields(_ packet: [UInt8], _ text: String, _ version: ScriptIPVersion = .ipv6) throws -> [String] {
    ScriptMatcher.mismatches(packet, line: try line(text), connection: connection(version)).map(\.field)
  }

  // MARK: - Parsing

  @Test("IP fields: [ECN], [tos 0xNN], [flowlabel 0xN], [ect0, flowlabel 0xN], (ttl N)")
  func ipFields() throws {
    #expect(try line("+0 > [ect0] . 1:1(0) ack 1").ecn == .ect0)
    let tos = try line("+0 > [tos 0x2e] . 1:1(0) ack 1")
    #expect(tos.typeOfService == 0x2E && tos.ecn == nil)
    #expect(try line("+0 > [flowlabel 0xabcde] . 1:1(0) ack 1").flowLabel == 0xABCDE)
    let both = try line("+0 < [ect1, flowlabel 0x1] . 1:1(0) ack 1 win 100")
    #expect(both.ecn == .ect1 && both.flowLabel == 1)
    let ttl = try line("+0 > (ttl 3) . 1:1(0) ack 1")
    #expect(ttl.timeToLive == 3 && ttl.ecn == nil && ttl.flowLabel == nil)
  }

  @Test("IP field errors say where and what was expected")
  func ipFieldErrors() throws {
    let tooWide = try #require(parseError("+0 > [flowlabel 0x100000] . 1:1(0)"))
    #expect(tooWide.location.line == 1 && tooWide.location.column == 17, "\(tooWide)")
    #expect(tooWide.message.contains("20 bits"))
    let word = try #require(parseError("+0 > [hops 3] . 1:1(0)"))
    #expect(word.location.column == 7)
    #expect(word.message.contains("tos 0xNN, flowlabel 0xNNNNN or ttl N"), "\(word.message)")
    let unclosed = try #require(parseError("+0 > [ect0 . 1:1(0)"))
    #expect(unclosed.message.contains("\"]\" closing the IP fields"), "\(unclosed.message)")
    let afterComma = try #require(parseError("+0 > [ect0, ttl 3] . 1:1(0)"))
    #expect(afterComma.message.contains("flowlabel"))
  }

  @Test("ICMP lines in ipv6 mode are ICMPv6: packetdrill's names and numbers")
  func icmpv6Lines() throws {
    let tooBig = try icmp("+0 < icmp packet_too_big mtu 1400 [0:1440(1440)]", .ipv6)
    #expect(tooBig == ScriptICMP(type: 2, code: 0, mtu: 1400, quotedStart: 0, quotedLength: 1440))
    #expect(try icmp("+0 < icmp unreachable port_unreachable", .ipv6) == ScriptICMP(type: 1, code: 4))
    #expect(try icmp("+0 < icmp unreachable", .ipv6) == ScriptICMP(type: 1, code: 0))
    #expect(try icmp("+0 < icmp time_exceeded exceeded_frag_time", .ipv6) == ScriptICMP(type: 3, code: 1))
    #expect(try icmp("+0 < icmp parameter_problem unknown_option", .ipv6) == ScriptICMP(type: 4, code: 2))
    // The same words in IPv4 and mapped modes are ICMP's.
    #expect(try icmp("+0 < icmp unreachable port_unreachable", .ipv4MappedIPv6) == ScriptICMP(type: 3, code: 3))
  }

  @Test("ICMPv4-only words fail in ipv6 mode, and ICMPv6-only ones in ipv4 mode, with positions")
  func icmpWrongVersion() throws {
    let fragNeeded = try #require(parseError("+0 < icmp unreachable frag_needed mtu 800", .ipv6))
    #expect(fragNeeded.location.column == 23, "\(fragNeeded)")
    #expect(fragNeeded.message.contains("expected an ICMPv6 code"))
    let tooBig = try #require(parseError("+0 < icmp packet_too_big mtu 1400", .ipv4))
    #expect(tooBig.location.column == 11)
    #expect(tooBig.message.contains("expected an ICMP type"))
    let mtu = try #require(parseError("+0 < icmp unreachable mtu 1400", .ipv6))
    #expect(mtu.message.contains("packet_too_big"), "\(mtu.message)")
    // packetdrill's run_all.py gives no CODE define in ipv6 mode: an unknown code there.
    #expect(parseError("+0 < icmp unreachable CODE", .ipv6) != nil)
  }

  @Test("The script's --ip_version= picks the mode unless the caller fixes it")
  func scriptVersion() throws {
    let text = "--ip_version=ipv6\n+0 < icmp packet_too_big mtu 1300\n"
    #expect(try ScriptParser.parse(text).ipVersion == .ipv6)
    #expect(try ScriptParser.parse("+0 < . 1:1(0) ack 1 win 1\n").ipVersion == .ipv4)
    #expect(try ScriptParser.parse("+0 < . 1:1(0) ack 1 win 1\n", ipVersion: .ipv4MappedIPv6).ipVersion == .ipv4MappedIPv6)
    // Fixed by the caller (as run_all.py's command line overrides the script's options).
    #expect(parseError(text, .ipv4) != nil)
    let bad = try #require(parseError("--ip_version=ipv5\n"))
    #expect(bad.location.line == 1 && bad.message.contains("ipv4-mapped-ipv6"))
  }

  @Test("Each mode has run_all.py's defines and folder rules")
  func modes() {
    #expect(ScriptIPVersion.ipv4.packetdrillDefines["CMSG_LEVEL_IP"] == "SOL_IP")
    #expect(ScriptIPVersion.ipv6.packetdrillDefines["TFO_COOKIE"] == "c1d1e9742a47a9bc")
    #expect(ScriptIPVersion.ipv6.packetdrillDefines["CODE"] == nil)
    #expect(ScriptIPVersion.ipv4MappedIPv6.packetdrillDefines["CMSG_TYPE_RECVERR"] == "IPV6_RECVERR")
    #expect(ScriptIPVersion.ipv4MappedIPv6.packetdrillDefines["TFO_COOKIE"] == "3021b9d889017eeb")
    #expect(ScriptIPVersion.ipv4.socketDomain == 2 && ScriptIPVersion.ipv4MappedIPv6.socketDomain == 10)
    #expect(!ScriptIPVersion.ipv4MappedIPv6.wireIsIPv6 && ScriptIPVersion.ipv6.wireIsIPv6)
    #expect(ScriptIPVersion.ipv6.includes(fileNamed: "basic-v6.pkt") && !ScriptIPVersion.ipv6.includes(fileNamed: "basic-v4.pkt"))
    #expect(!ScriptIPVersion.ipv4.includes(fileNamed: "x-ipv6.pkt") && ScriptIPVersion.ipv4.includes(fileNamed: "basic-v4.pkt"))
    #expect(!ScriptIPVersion.ipv4MappedIPv6.includes(fileNamed: "basic-v6.pkt"))
  }

  // MARK: - Building and matching IPv6

  @Test("Inbound segments in ipv6 mode: IPv6 from the remote end, the line's IP fields, a valid checksum")
  func inboundIPv6() throws {
    let bytes = try ScriptMatcher.inboundPacket(
      try line("+0 < [ect0, flowlabel 0x54321] P. 1:101(100) ack 1 win 257"), connection: connection())
    let ip = try IPv6View(validating: bytes[...])
    #expect(ip.version == 6 && ip.nextHeader == .tcp)
    #expect(ip.sourceAddress == Self.remote && ip.destinationAddress == Self.local)
    #expect(ip.trafficClass == 2 && ip.flowLabel == 0x54321 && ip.hopLimit == 255)
    #expect(Int(ip.payloadLength) == 20 + 100)
    let tcp = try TCPView(validating: ip.payload)
    #expect(tcp.sequenceNumber == Self.remoteISN + 1 && tcp.acknowledgmentNumber == Self.kernelISN + 1)
    #expect(tcp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
    // [tos 0xNN] sets the whole traffic class, (ttl N) the hop limit.
    let marked = try ScriptMatcher.inboundPacket(try line("+0 < [tos 0xb8] . 1:1(0) ack 1 win 1"), connection: connection())
    #expect(try IPv6View(validating: marked[...]).trafficClass == 0xB8)
    let ttl = try ScriptMatcher.inboundPacket(try line("+0 < (ttl 7) . 1:1(0) ack 1 win 1"), connection: connection())
    #expect(try IPv6View(validating: ttl[...]).hopLimit == 7)
    // The mapped mode's wire is IPv4.
    let mapped = try ScriptMatcher.inboundPacket(try line("+0 < . 1:1(0) ack 1 win 1"), connection: connection(.ipv4MappedIPv6))
    #expect(mapped.first.map { $0 >> 4 } == 4)
  }

  @Test("Outbound IPv6 segments are matched field by field; an IPv4 packet is not one")
  func outboundIPv6() throws {
    let packet = try kernel([.psh, .ack], seq: 1, length: 100, ack: 1, trafficClass: 0x02, hopLimit: 64)
    #expect(try fields(packet, "+0 > P. 1:101(100) ack 1") == [])
    #expect(try fields(packet, "+0 > [ect0] P. 1:101(100) ack 1") == [])
    #expect(try fields(packet, "+0 > [ce] P. 1:101(100) ack 1") == ["ECN"])
    #expect(try fields(packet, "+0 > . 1:101(100) ack 2") == ["flags", "ack"])
    #expect(try fields(packet, "+0 > [tos 0x02] P. 1:101(100) ack 1") == [])
    #expect(try fields(packet, "+0 > [tos 0x00] P. 1:101(100) ack 1") == ["traffic class"])
    #expect(try fields(packet, "+0 > (ttl 64) P. 1:101(100) ack 1") == [])
    #expect(try fields(packet, "+0 > (ttl 63) P. 1:101(100) ack 1") == ["hop limit"])
    // ttl 255 is packetdrill's "not checked".
    #expect(try fields(packet, "+0 > (ttl 255) P. 1:101(100) ack 1") == [])
    let v4 = try (IPv4Header(sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1))
      / TCPHeader(sourcePort: 8080, destinationPort: 40000, flags: .ack)).encoded()
    let mismatch = try #require(ScriptMatcher.mismatches(v4, line: try line("+0 > . 1:1(0)"), connection: connection()).first)
    #expect(mismatch.description.hasPrefix("packet: expected an IPv6 packet"), "\(mismatch)")
    // And in the mapped mode, an IPv6 packet is not the IPv4 expected.
    #expect(try fields(packet, "+0 > P. 1:101(100) ack 1", .ipv4MappedIPv6) == ["packet"])
  }

  @Test("Outbound IPv4 lines check tos and ttl too")
  func ipv4Fields() throws {
    let packet = try (IPv4Header(
      sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1), dscp: 0x2E, ecn: 0,
      timeToLive: 64)
      / TCPHeader(sourcePort: 8080, destinationPort: 40000, sequenceNumber: Self.kernelISN + 1,
        acknowledgmentNumber: Self.remoteISN + 1, flags: .ack)).encoded()
    #expect(try fields(packet, "+0 > [tos 0xb8] . 1:1(0) ack 1", .ipv4) == [])
    #expect(try fields(packet, "+0 > [tos 0xb9] . 1:1(0) ack 1", .ipv4) == ["tos"])
    #expect(try fields(packet, "+0 > (ttl 1) . 1:1(0) ack 1", .ipv4) == ["ttl"])
  }

  @Test("The kernel's IPv6 SYN teaches its ISN and port; pieces are put together as in IPv4")
  func learnAndMerge() throws {
    var fresh = connection()
    fresh.kernelISN = nil
    fresh.localPort = nil
    let syn = try (IPv6Header(sourceAddress: Self.local, destinationAddress: Self.remote)
      / TCPHeader(sourcePort: 41000, destinationPort: 8080, sequenceNumber: 999, flags: .syn)).encoded()
    ScriptMatcher.learn(from: syn, line: try line("+0 > S 0:0(0)"), connection: &fresh)
    #expect(fresh.kernelISN == 999 && fresh.localPort == 41000 && fresh.remotePort == 8080)

    let first = try kernel(.ack, seq: 1, length: 1000, ack: 1)
    let second = try kernel([.psh, .ack], seq: 1001, length: 500, ack: 1)
    let whole = try line("+0 > P. 1:1501(1500) ack 1")
    #expect(ScriptMatcher.coveredLength([first, second], line: whole, connection: connection()) == 1500)
    let merged = try #require(ScriptMatcher.merge([first, second]))
    let ip = try IPv6View(validating: merged[...])
    #expect(Int(ip.payloadLength) == 20 + 1500 && ip.flowLabel == 0x12345)
    #expect(ScriptMatcher.mismatches(merged, line: whole, connection: connection()).isEmpty)
  }

  @Test("Flow labels, packetdrill's rule: same script label, same live label; another, another")
  func flowLabels() throws {
    var state = connection()
    let a = try kernel(.ack, seq: 1, ack: 1, flowLabel: 0xAAAAA)
    let b = try kernel(.ack, seq: 1, ack: 1, flowLabel: 0xBBBBB)
    let unlabelled = try kernel(.ack, seq: 1, ack: 1, flowLabel: 0)
    let one = try line("+0 > [flowlabel 0x1] . 1:1(0) ack 1")
    let two = try line("+0 > [flowlabel 0x2] . 1:1(0) ack 1")
    // Not written (or 0): not checked.
    #expect(ScriptMatcher.flowLabelMismatch(unlabelled, line: try line("+0 > . 1:1(0) ack 1"), connection: &state) == nil)
    #expect(ScriptMatcher.flowLabelMismatch(unlabelled, line: one, connection: &state)?.field == "flow label")
    #expect(ScriptMatcher.flowLabelMismatch(a, line: one, connection: &state) == nil)  // pairs 1 with A
    #expect(ScriptMatcher.flowLabelMismatch(a, line: one, connection: &state) == nil)
    #expect(ScriptMatcher.flowLabelMismatch(b, line: one, connection: &state)?.description.contains("the same label (0xaaaaa)") == true)
    #expect(ScriptMatcher.flowLabelMismatch(a, line: two, connection: &state)?.description.contains("other than 0xaaaaa") == true)
    #expect(ScriptMatcher.flowLabelMismatch(b, line: two, connection: &state) == nil)  // pairs 2 with B
    #expect(state.scriptFlowLabel == 2 && state.liveFlowLabel == 0xBBBBB)
  }

  @Test("An ICMPv6 packet too big quotes an IPv6 header and the kernel's ports and live sequence number")
  func icmpv6Packet() throws {
    let line = try icmp("+0 < icmp packet_too_big mtu 1280 [1:1001(1000)]", .ipv6)
    let bytes = try ScriptMatcher.icmpPacket(line, connection: connection())
    let ip = try IPv6View(validating: bytes[...])
    #expect(ip.nextHeader == .icmpv6 && ip.sourceAddress == Self.remote && ip.destinationAddress == Self.local)
    let message = Array(ip.payload)
    #expect(message[0] == 2 && message[1] == 0)
    #expect(message[4...7].elementsEqual([0, 0, 0x05, 0x00]))  // MTU 1280
    let quoted = try IPv6View(validating: message[8...])
    #expect(quoted.sourceAddress == Self.local && quoted.destinationAddress == Self.remote && quoted.nextHeader == .tcp)
    #expect(quoted.payloadLength == 1020)
    let ports = Array(message[48..<56])
    #expect(ports[0...3].elementsEqual([0x1F, 0x90, 0x9C, 0x40]))  // 8080 > 40000
    let sequence = UInt32(ports[4]) << 24 | UInt32(ports[5]) << 16 | UInt32(ports[6]) << 8 | UInt32(ports[7])
    #expect(sequence == Self.kernelISN + 1)
    // The checksum covers the IPv6 pseudo-header (the kernel drops the message otherwise).
    #expect(try ICMPv6View(validating: ip.payload).isChecksumValid(pseudoHeader: ip.pseudoHeader()))
  }

  // MARK: - Socket addresses

  @Test("The script's IPv4 ends become each mode's socket addresses")
  func socketAddresses() {
    let v4 = connection(.ipv4), mapped = connection(.ipv4MappedIPv6), v6 = connection(.ipv6)
    #expect(v4.bindAddress(port: 8080) == .ipv4(address: 0xC0A8_0001, port: 8080))
    #expect(mapped.bindAddress(port: 8080) == .ipv6(address: IPv6Address(ipv4Mapped: IPv4Address(192, 168, 0, 1)).octets, port: 8080))
    #expect(mapped.connectAddress(port: 80) == .ipv6(address: IPv6Address(ipv4Mapped: IPv4Address(192, 0, 2, 1)).octets, port: 80))
    #expect(v6.bindAddress(port: 8080) == .ipv6(address: Self.local.octets, port: 8080))
    #expect(v6.connectAddress(port: 8080) == .ipv6(address: Self.remote.octets, port: 8080))
    #expect(v6.socketAddress(IPv4Address(0, 0, 0, 0), port: 1) == .ipv6(address: IPv6Address.any.octets, port: 1))
    // Read back, the live addresses are the script's IPv4 names again.
    #expect(v6.scriptView(.ipv6(address: Self.remote.octets, port: 9)) == .ipv4(address: 0xC000_0201, port: 9))
    #expect(mapped.scriptView(mapped.bindAddress(port: 8080)) == .ipv4(address: 0xC0A8_0001, port: 8080))
  }

  @Test("sockaddr literals: bind/connect addresses and getsockname checks in every mode")
  func sockaddrLiterals() throws {
    func executor(_ version: ScriptIPVersion) -> ScriptSyscallExecutor { ScriptSyscallExecutor(connection: connection(version)) }
    let literal = ScriptExpression.structure([
      ScriptField(name: "sa_family", value: .symbol("AF_INET")),
      ScriptField(name: "sin_port", value: .call("htons", [.integer(8080)])),
      ScriptField(name: "sin_addr", value: .call("inet_addr", [.string("192.168.0.1")])),
    ])
    #expect(try executor(.ipv6).socketAddress(literal, defaultAddress: IPv4Address(192, 0, 2, 1), defaultPort: 1)
      == .ipv6(address: Self.local.octets, port: 8080))
    #expect(try executor(.ipv4).socketAddress(.ellipsis, defaultAddress: IPv4Address(192, 0, 2, 1), defaultPort: 8080)
      == .ipv4(address: 0xC000_0201, port: 8080))
    let v6Literal = ScriptExpression.structure([
      ScriptField(name: "sin6_port", value: .call("htons", [.integer(443)])),
      ScriptField(name: "sin6_addr", value: .call("inet6_addr", [.string("2001:db8::5")])),
    ])
    #expect(try executor(.ipv6).socketAddress(v6Literal, defaultAddress: IPv4Address(192, 0, 2, 1), defaultPort: 1)
      == .ipv6(address: IPv6Address(groups: [0x2001, 0xDB8, 0, 0, 0, 0, 0, 5]).octets, port: 443))

    // getsockname's live answers, as each mode's kernel gives them.
    #expect(try executor(.ipv6).sockaddrMismatch(literal, live: .ipv6(address: Self.local.octets, port: 8080)) == nil)
    let mappedLocal = IPv6Address(ipv4Mapped: IPv4Address(192, 168, 0, 1)).octets
    #expect(try executor(.ipv4MappedIPv6).sockaddrMismatch(literal, live: .ipv6(address: mappedLocal, port: 8080)) == nil)
    #expect(try executor(.ipv4).sockaddrMismatch(literal, live: .ipv4(address: 0xC0A8_0001, port: 8080)) == nil)
    #expect(try executor(.ipv6).sockaddrMismatch(literal, live: .ipv6(address: Self.local.octets, port: 8081)) == "port 8081, expected 8080")
    let wrong = try executor(.ipv6).sockaddrMismatch(literal, live: .ipv6(address: Self.remote.octets, port: 8080))
    #expect(wrong == "address fd3d:fa7b:d17d::1, expected 192.168.0.1", "\(wrong ?? "")")
    #expect(throws: ScriptRunError.self) {
      try executor(.ipv6).sockaddrMismatch(.structure([ScriptField(name: "sin_zero", value: .integer(0))]), live: .family(10))
    }
  }
}
