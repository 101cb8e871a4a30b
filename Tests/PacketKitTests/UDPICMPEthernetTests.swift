import Testing
@testable import PacketKit

@Suite struct UDPTests {
  @Test func fixtureToFields() throws {
    let ip = try IPv4View(validating: offsetSlice(Fixture.udp))
    let udp = try UDPView(validating: ip.payload)
    #expect(udp.sourcePort == 5353)
    #expect(udp.destinationPort == 53)
    #expect(udp.length == 18)
    #expect(udp.checksum == 0x09c1)
    #expect(Array(udp.payload) == Array("hello, udp".utf8))
    #expect(udp.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
    #expect(udp.computedChecksum(pseudoHeader: ip.pseudoHeader()) == 0x09c1)
  }

  @Test func fieldsToFixture() throws {
    let packet = IPv4Header(sourceAddress: "10.1.2.3", destinationAddress: "10.3.2.1", identification: 0xabcd, timeToLive: 17)
      / UDPHeader(sourcePort: 5353, destinationPort: 53) / "hello, udp"
    #expect(try encodeOverA5(packet) == Fixture.udp)
    #expect(try decodeIPv4Chain(offsetSlice(Fixture.udp)) == (try packet.resolved()))
  }

  @Test func lengthBelowEightAndOverrides() throws {
    var bytes = Array(Fixture.udp[20...])
    bytes[5] = 7
    #expect(throws: PacketError.invalidField(layer: .udp, field: "length", value: 7)) { try UDPView(validating: bytes[...]) }
    bytes[5] = 200  // longer than the bytes: kept visible
    #expect(try UDPView(validating: bytes[...]).payload.count == 10)
    let packet = IPv4Header(sourceAddress: "1.1.1.1", destinationAddress: "2.2.2.2")
      / UDPHeader(sourcePort: 1, destinationPort: 2, length: 3, checksum: 0) / [9, 9]
    let out = try encodeOverA5(packet)
    #expect(out[24...27] == [0, 3, 0, 0])
    #expect(throws: PacketError.missingPseudoHeader) { try UDPHeader(sourcePort: 1, destinationPort: 2).encoded() }
  }

  /// A computed UDP checksum of 0 is sent as 0xFFFF (RFC 768).
  @Test func zeroChecksumIsSentAsAllOnes() throws {
    // Pseudo-header + header of 0.0.0.0 → 0.0.0.0, ports 0, with payload chosen so the sum is 0xFFFF.
    let header = IPv4Header(sourceAddress: "0.0.0.0", destinationAddress: "0.0.0.0")
    // Sum without payload: protocol 17 + length 10 (pseudo) + length 10 (UDP) = 37; payload
    // word 0xFFFF - 37 makes the total 0xFFFF, so the complement is 0.
    let word = UInt16(0xFFFF - 37)
    let packet = header / UDPHeader(sourcePort: 0, destinationPort: 0) / [UInt8(word >> 8), UInt8(word & 0xFF)]
    let out = try packet.encoded()
    #expect(out[26...27] == [0xFF, 0xFF])
  }
}

@Suite struct ICMPv4Tests {
  @Test func echoFixture() throws {
    let ip = try IPv4View(validating: offsetSlice(Fixture.icmpEcho))
    let icmp = try ICMPv4View(validating: ip.payload)
    #expect(icmp.type == .echoRequest)
    #expect(icmp.code == 0)
    #expect(icmp.identifier == 0x1a2b)
    #expect(icmp.sequenceNumber == 3)
    #expect(icmp.checksum == 0xa591)
    #expect(icmp.isChecksumValid)
    #expect(icmp.computedChecksum == 0xa591)
    #expect(icmp.quotedDatagram == nil)
    #expect(Array(icmp.payload) == Array(0..<16))
    let packet = IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1", identification: 0x4242, flags: .dontFragment)
      / ICMPv4Header.echoRequest(identifier: 0x1a2b, sequenceNumber: 3) / Array(0..<16)
    #expect(try encodeOverA5(packet) == Fixture.icmpEcho)
  }

  /// Port unreachable quoting an IPv4/UDP datagram: built from layers, the inner checksums are
  /// computed before the ICMP checksum that covers them.
  @Test func unreachableWithQuotedDatagram() throws {
    let ip = try IPv4View(validating: offsetSlice(Fixture.icmpUnreachable))
    let icmp = try ICMPv4View(validating: ip.payload)
    #expect(icmp.type == .destinationUnreachable)
    #expect(icmp.code == 3)
    let quoted = try #require(icmp.quotedDatagram)
    let inner = try IPv4View(validating: quoted)
    #expect(inner.sourceAddress == "10.0.0.2")
    #expect(inner.protocol == .udp)
    #expect(inner.isChecksumValid)
    let innerUDP = try UDPView(validating: inner.payload)
    #expect(innerUDP.destinationPort == 33435)
    #expect(innerUDP.isChecksumValid(pseudoHeader: inner.pseudoHeader()))

    let packet = IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2", identification: 5)
      / ICMPv4Header.destinationUnreachable(code: 3)
      / IPv4Header(sourceAddress: "10.0.0.2", destinationAddress: "10.0.0.1", identification: 99)
      / UDPHeader(sourcePort: 33434, destinationPort: 33435) / "probe!!!"
    #expect(try encodeOverA5(packet) == Fixture.icmpUnreachable)
  }

  @Test func accessorsAndTruncation() throws {
    var header = ICMPv4Header.echoReply(identifier: 1, sequenceNumber: 2)
    header.sequenceNumber = 0xFFFF
    header.identifier = 0xABCD
    #expect(header.restOfHeader == 0xABCD_FFFF)
    #expect(ICMPv4Header.timeExceeded().type == .timeExceeded)
    for length in 0..<8 {
      #expect(throws: PacketError.truncated(layer: .icmpv4, needed: 8, available: length)) {
        try ICMPv4View(validating: Fixture.icmpEcho[20..<(20 + length)])
      }
    }
  }
}

@Suite struct EthernetTests {
  @Test func fixtureToFieldsAndBack() throws {
    let frame = try EthernetView(validating: offsetSlice(Fixture.ethernetSYNACK))
    #expect(frame.destination == MACAddress(2, 0, 0, 0, 0, 2))
    #expect(frame.source.description == "02:00:00:00:00:01")
    #expect(frame.etherType == .ipv4)
    let packet = EthernetHeader(destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1))
      / IPv4Header(sourceAddress: "10.0.0.2", destinationAddress: "10.0.0.1", flags: .dontFragment)
      / TCPHeader(sourcePort: 80, destinationPort: 40000, sequenceNumber: 3000, acknowledgmentNumber: 1001, flags: [.syn, .ack],
                  window: 65160, options: [.maximumSegmentSize(1460), .sackPermitted, .timestamps(value: 11, echoReply: 7), .noOperation, .windowScale(7)])
    #expect(try encodeOverA5(packet) == Fixture.ethernetSYNACK)
    #expect(EthernetHeader(frame) == EthernetHeader(destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1)))
    for length in 0..<14 {
      #expect(throws: PacketError.truncated(layer: .ethernet, needed: 14, available: length)) {
        try EthernetView(validating: Fixture.ethernetSYNACK[..<length])
      }
    }
  }
}
