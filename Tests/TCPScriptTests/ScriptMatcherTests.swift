import PacketKit
import Testing
@testable import TCPScript

/// The matcher: each field of an outbound segment against a script line, sequence mapping both
/// ways, pieces put together, and the timing rule. Packets are built here by hand with PacketKit
/// (as the kernel would send them), with known ISNs.
@Suite struct ScriptMatcherTests {
  static let kernelISN: UInt32 = 0x1000_0000
  static let remoteISN: UInt32 = 1_000_000

  var connection: ScriptConnection {
    var connection = ScriptConnection(
      localAddress: IPv4Address(192, 168, 0, 1), remoteAddress: IPv4Address(192, 0, 2, 1), localPort: 8080,
      remotePort: 40000, remoteISN: Self.remoteISN)
    connection.kernelISN = Self.kernelISN
    return connection
  }

  /// A segment from the kernel: relative numbers mapped onto the wire.
  func kernel(
    _ flags: TCPFlags, seq: UInt32, length: Int = 0, ack: UInt32 = 0, window: UInt16 = 1000,
    options: [TCPOption] = [], ecn: UInt8 = 0
  ) throws -> [UInt8] {
    let tcp = TCPHeader(
      sourcePort: 8080, destinationPort: 40000, sequenceNumber: seq &+ Self.kernelISN,
      // packetdrill's rule: a SYN's ack is written absolute; other acks count from the remote ISN.
      acknowledgmentNumber: flags.contains(.ack) ? ack &+ (flags.contains(.syn) ? 0 : Self.remoteISN) : 0,
      flags: flags, window: window,
      options: options)
    let ip = IPv4Header(sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1), ecn: ecn)
    return try (ip / tcp / [UInt8](repeating: 0, count: length)).encoded()
  }

  func line(_ text: String) throws -> ScriptPacket {
    let script = try ScriptParser.parse(text, file: "m.pkt")
    guard case .packet(let packet) = try #require(script.events.first).action else {
      throw ScriptRunError("not a packet line")
    }
    return packet
  }

  func fields(_ packet: [UInt8], _ text: String) throws -> [String] {
    ScriptMatcher.mismatches(packet, line: try line(text), connection: connection).map(\.field)
  }

  @Test("A segment equal to the line matches (relative seq and ack)")
  func match() throws {
    let packet = try kernel([.psh, .ack], seq: 1, length: 1000, ack: 1, window: 257)
    #expect(try fields(packet, "+0 > P. 1:1001(1000) ack 1 win 257") == [])
    // No window written: not checked.
    #expect(try fields(packet, "+0 > P. 1:1001(1000) ack 1") == [])
  }

  @Test("Each field is checked: flags, seq, length, ack, window, urgent pointer")
  func eachField() throws {
    let packet = try kernel([.psh, .ack], seq: 1, length: 1000, ack: 1, window: 257)
    #expect(try fields(packet, "+0 > . 1:1001(1000) ack 1") == ["flags"])
    #expect(try fields(packet, "+0 > P. 2:1002(1000) ack 1") == ["seq"])
    #expect(try fields(packet, "+0 > P. 1:501(500) ack 1") == ["seq"])
    #expect(try fields(packet, "+0 > P. 1:1001(1000) ack 2") == ["ack"])
    #expect(try fields(packet, "+0 > P. 1:1001(1000) ack 1 win 256") == ["win"])
    #expect(try fields(packet, "+0 > P. 1:1001(1000) ack 1 urg 5") == ["urg"])
    let mismatch = try #require(ScriptMatcher.mismatches(packet, line: try line("+0 > F. 1:1001(1000) ack 1"), connection: connection).first)
    #expect(mismatch.description == "flags: expected F., got P.")
  }

  @Test("Options: none written means none sent; <...> accepts any; a list must match in order")
  func options() throws {
    let plain = try kernel(.ack, seq: 1, ack: 1)
    let withOptions = try kernel([.syn, .ack], seq: 0, ack: 1, options: [.maximumSegmentSize(1460), .noOperation, .windowScale(7)])
    #expect(try fields(plain, "+0 > . 1:1(0) ack 1") == [])
    #expect(try fields(withOptions, "+0 > S. 0:0(0) ack 1") == ["options"])
    #expect(try fields(withOptions, "+0 > S. 0:0(0) ack 1 <...>") == [])
    #expect(try fields(withOptions, "+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 7>") == [])
    #expect(try fields(withOptions, "+0 > S. 0:0(0) ack 1 <mss 1400,nop,wscale 7>") == ["options"])
    #expect(try fields(withOptions, "+0 > S. 0:0(0) ack 1 <mss 1460,wscale 7,nop>") == ["options"])
    #expect(try fields(withOptions, "+0 > S. 0:0(0) ack 1 <mss 1460,nop>") == ["options"])
  }

  @Test("Timestamps: the val is the kernel's own clock (not compared); the ecr is")
  func timestamps() throws {
    let packet = try kernel(.ack, seq: 1, ack: 1, options: [.noOperation, .noOperation, .timestamps(value: 987_654, echoReply: 500)])
    #expect(try fields(packet, "+0 > . 1:1(0) ack 1 <nop,nop,TS val 100 ecr 500>") == [])
    #expect(try fields(packet, "+0 > . 1:1(0) ack 1 <nop,nop,TS val 100 ecr 501>") == ["options"])
  }

  @Test("SACK blocks are relative to the remote ISN on the way out")
  func sack() throws {
    let packet = try kernel(.ack, seq: 1, ack: 1, options: [
      .noOperation, .noOperation, .sack([SACKBlock(leftEdge: Self.remoteISN &+ 1001, rightEdge: Self.remoteISN &+ 2001)]),
    ])
    #expect(try fields(packet, "+0 > . 1:1(0) ack 1 <nop,nop,sack 1001:2001>") == [])
    #expect(try fields(packet, "+0 > . 1:1(0) ack 1 <nop,nop,sack 1001:3001>") == ["options"])
  }

  @Test("ECN marks are checked when written")
  func ecn() throws {
    let packet = try kernel([.psh, .ack], seq: 1, length: 10, ack: 1, ecn: 2)
    #expect(try fields(packet, "+0 > [ect0] P. 1:11(10) ack 1") == [])
    #expect(try fields(packet, "+0 > [ect01] P. 1:11(10) ack 1") == [])
    #expect(try fields(packet, "+0 > [ce] P. 1:11(10) ack 1") == ["ECN"])
    #expect(try fields(packet, "+0 > P. 1:11(10) ack 1") == [])
  }

  @Test("Inbound segments: seq from the remote ISN, ack from the kernel's, a SYN's seq as written")
  func inbound() throws {
    let data = try ScriptMatcher.inboundPacket(try line("+0 < P. 1:101(100) ack 1 win 257 <nop,nop,sack 1:2>"), connection: connection)
    let ip = try IPv4View(validating: data[...])
    let tcp = try TCPView(validating: ip.payload)
    #expect(tcp.sequenceNumber == Self.remoteISN + 1)
    #expect(tcp.acknowledgmentNumber == Self.kernelISN + 1)
    #expect(tcp.window == 257)
    #expect(tcp.payload.count == 100)
    #expect(tcp.sourcePort == 40000 && tcp.destinationPort == 8080)
    #expect(TCPOption.decodeAll(tcp.optionBytes).last == .sack([SACKBlock(leftEdge: Self.kernelISN + 1, rightEdge: Self.kernelISN + 2)]))
    #expect(ip.sourceAddress == IPv4Address(192, 0, 2, 1))
    #expect(tcp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))

    let syn = try ScriptMatcher.inboundPacket(try line("+0 < S. 123:123(0) ack 1 win 5840"), connection: connection)
    let synTCP = try TCPView(validating: try IPv4View(validating: syn[...]).payload)
    #expect(synTCP.sequenceNumber == 123)
    #expect(synTCP.acknowledgmentNumber == Self.kernelISN + 1)
  }

  @Test("An inbound line without a window is refused (packetdrill requires one)")
  func inboundNeedsWindow() throws {
    #expect(throws: ScriptRunError.self) {
      try ScriptMatcher.inboundPacket(try line("+0 < . 1:1(0) ack 1"), connection: connection)
    }
  }

  @Test("The kernel's SYN teaches its ISN, its port and the remote port")
  func learn() throws {
    var fresh = ScriptConnection(
      localAddress: IPv4Address(192, 168, 0, 1), remoteAddress: IPv4Address(192, 0, 2, 1), remotePort: 1,
      remoteISN: Self.remoteISN)
    let syn = try (IPv4Header(sourceAddress: IPv4Address(192, 168, 0, 1), destinationAddress: IPv4Address(192, 0, 2, 1))
      / TCPHeader(sourcePort: 41000, destinationPort: 8080, sequenceNumber: 777, flags: .syn)).encoded()
    ScriptMatcher.learn(from: syn, line: try line("+0 > S 0:0(0)"), connection: &fresh)
    #expect(fresh.kernelISN == 777)
    #expect(fresh.localPort == 41000)
    #expect(fresh.remotePort == 8080)
  }

  @Test("Pieces that continue each other cover one script segment; a gap does not")
  func pieces() throws {
    let first = try kernel(.ack, seq: 1, length: 2000, ack: 1)
    let second = try kernel([.psh, .ack], seq: 2001, length: 8000, ack: 1)
    let script = try line("+0 > P. 1:10001(10000) ack 1")
    #expect(ScriptMatcher.coveredLength([first], line: script, connection: connection) == 2000)
    #expect(ScriptMatcher.coveredLength([first, second], line: script, connection: connection) == 10000)
    let merged = try #require(ScriptMatcher.merge([first, second]))
    #expect(ScriptMatcher.mismatches(merged, line: script, connection: connection) == [])
    let gap = try kernel([.psh, .ack], seq: 3001, length: 7000, ack: 1)
    #expect(ScriptMatcher.coveredLength([first, gap], line: script, connection: connection) == nil)
  }

  @Test("Timing: tolerance is the larger of the fixed one and a percentage of the gap")
  func timing() {
    #expect(ScriptTiming.tolerance(microseconds: 4000, percent: 12.5, gap: 10_000) == 4000)
    #expect(ScriptTiming.tolerance(microseconds: 4000, percent: 12.5, gap: 1_000_000) == 125_000)
    #expect(ScriptTiming.isOnTime(104_000, start: 100_000, end: 100_000, tolerance: 4000))
    #expect(!ScriptTiming.isOnTime(104_001, start: 100_000, end: 100_000, tolerance: 4000))
    #expect(ScriptTiming.isOnTime(96_000, start: 100_000, end: 100_000, tolerance: 4000))
    #expect(!ScriptTiming.isOnTime(95_999, start: 100_000, end: 100_000, tolerance: 4000))
    // A range: anywhere from start - tolerance to end + tolerance.
    #expect(ScriptTiming.isOnTime(300_000, start: 200_000, end: 300_000, tolerance: 4000))
    #expect(!ScriptTiming.isOnTime(304_500, start: 200_000, end: 300_000, tolerance: 4000))
  }

  @Test("An inbound ICMP error quotes the kernel's header and its live sequence number")
  func icmpPacket() throws {
    let line = ScriptICMP(type: 3, code: 4, mtu: 1200, quotedStart: 1, quotedLength: 1000)
    let bytes = try ScriptMatcher.icmpPacket(line, connection: connection)
    let ip = try IPv4View(validating: bytes[...])
    #expect(ip.protocol == .icmp)
    #expect(ip.sourceAddress == IPv4Address(192, 0, 2, 1))
    #expect(ip.destinationAddress == IPv4Address(192, 168, 0, 1))
    let icmp = try ICMPv4View(validating: ip.payload)
    #expect(icmp.type == .destinationUnreachable)
    #expect(icmp.code == 4)
    #expect(icmp.isChecksumValid)
    #expect(icmp.restOfHeader == 1200)  // next-hop MTU in the low 16 bits
    let quoted = try #require(icmp.quotedDatagram)
    #expect(quoted.count == 28)  // an IPv4 header and 8 bytes of TCP
    let inner = try IPv4View(validating: quoted)
    #expect(inner.sourceAddress == IPv4Address(192, 168, 0, 1))
    #expect(inner.destinationAddress == IPv4Address(192, 0, 2, 1))
    #expect(inner.protocol == .tcp)
    #expect(inner.totalLength == 1040)
    let tcp = Array(quoted.dropFirst(20))
    #expect(tcp[0..<4] == [0x1F, 0x90, 0x9C, 0x40])  // 8080 > 40000
    let sequence = tcp[4..<8].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    #expect(sequence == Self.kernelISN &+ 1)

    var unbound = connection
    unbound.localPort = nil
    #expect(throws: ScriptRunError.self) { try ScriptMatcher.icmpPacket(line, connection: unbound) }
  }
}
