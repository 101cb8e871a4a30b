import Testing
@testable import PacketKit

@Suite struct IPv4Tests {
  @Test func fixtureToFields() throws {
    let view = try IPv4View(validating: offsetSlice(Fixture.dataSegment))
    #expect(view.version == 4)
    #expect(view.ihl == 5)
    #expect(view.headerLength == 20)
    #expect(view.dscp == 0xb9 >> 2)
    #expect(view.ecn == 1)  // tcpdump: "tos 0xb9,ECT(1)"
    #expect(view.totalLength == 70)
    #expect(view.identification == 4660)
    #expect(view.flags == .dontFragment)
    #expect(view.fragmentOffset == 0)
    #expect(view.timeToLive == 63)
    #expect(view.protocol == .tcp)
    #expect(view.checksum == 0x14c3)
    #expect(view.isChecksumValid)
    #expect(view.computedChecksum == 0x14c3)
    #expect(view.sourceAddress == IPv4Address(10, 0, 0, 1))
    #expect(view.destinationAddress.description == "10.0.0.2")
    #expect(view.optionBytes.isEmpty)
    #expect(view.payload.count == 50)
    #expect(!view.isTruncated)
    let tcp = try TCPView(validating: view.payload)
    #expect(Array(tcp.payload) == Array("GET / HTTP/1.0\r\n\r\n".utf8))
    #expect(tcp.isChecksumValid(pseudoHeader: view.pseudoHeader()))
  }

  @Test func fieldsToFixture() throws {
    let packet = IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2", dscp: 0xb9 >> 2, ecn: 1,
                            identification: 0x1234, flags: .dontFragment, timeToLive: 63)
      / TCPHeader(sourcePort: 40000, destinationPort: 80, sequenceNumber: 1000, acknowledgmentNumber: 2000,
                  flags: [.psh, .ack], window: 502, options: [.noOperation, .noOperation, .timestamps(value: 7, echoReply: 9)])
      / "GET / HTTP/1.0\r\n\r\n"
    #expect(try encodeOverA5(packet) == Fixture.dataSegment)
  }

  /// NOP, record route, router alert, NOP, EOL: IHL 10, as tcpdump shows.
  @Test func optionsFixture() throws {
    let view = try IPv4View(validating: offsetSlice(Fixture.ipOptions))
    #expect(view.ihl == 10)
    #expect(view.isChecksumValid)
    let expected: [IPv4Option] = [
      .noOperation, .recordRoute(pointer: 8, addresses: ["1.2.3.4", "0.0.0.0"]), .routerAlert(0), .noOperation, .endOfOptionList,
    ]
    #expect(view.options.map { try? $0.get() } == expected)
    #expect(IPv4Header(view).options == expected)
    let packet = IPv4Header(sourceAddress: "172.16.0.1", destinationAddress: "172.16.0.2", identification: 3, timeToLive: 9,
                            options: expected)
      / TCPHeader(sourcePort: 7, destinationPort: 9, sequenceNumber: 5, flags: .rst, window: 0)
    #expect(try encodeOverA5(packet) == Fixture.ipOptions)
  }

  @Test func timestampOptionFixture() throws {
    let view = try IPv4View(validating: offsetSlice(Fixture.ipTimestamp))
    let expected: [IPv4Option] = [.timestamp(pointer: 13, overflow: 3, flag: 1, words: [0x0A00_0009, 0x0102_0304])]
    #expect(IPv4Header(view).options == expected)
    let packet = IPv4Header(sourceAddress: "10.9.8.7", destinationAddress: "10.7.8.9", identification: 77, timeToLive: 2, options: expected)
      / ICMPv4Header.echoRequest(identifier: 1, sequenceNumber: 2)
    #expect(try encodeOverA5(packet) == Fixture.ipTimestamp)
  }

  @Test func malformedOptionsStayByteExact() throws {
    for area: [UInt8] in [[0x07, 0x00, 0x00, 0x00], [0x07, 0x09, 0x04, 0x00], [0x44, 0x01, 0x00, 0x00],
                          [0x01, 0x01, 0x01, 0x94], [0x00, 0x01, 0x00, 0x00], [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
                          [0x07, 0x06, 0x04, 0x01, 0x02, 0x03, 0x00, 0x00], [0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x01]] {
      var header: [UInt8] = [0x45, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
      header[0] = 0x40 | UInt8((20 + area.count) / 4)
      header[3] = UInt8(20 + area.count)
      let bytes = header + area
      let decoded = try IPv4Header.decode(from: offsetSlice(bytes))
      var out: [UInt8] = []
      try decoded.encode(into: &out)
      #expect(out == bytes, "\(area) -> \(decoded.options)")
    }
  }

  @Test func computedFields() throws {
    let packet = IPv4Header(sourceAddress: "1.2.3.4", destinationAddress: "5.6.7.8", options: [.routerAlert(0)])
      / UDPHeader(sourcePort: 1, destinationPort: 2) / [1, 2, 3]
    let bytes = try packet.encoded()
    #expect(bytes[0] == 0x46)  // IHL 6
    #expect(bytes[2] == 0 && bytes[3] == 24 + 8 + 3)
    #expect(bytes[9] == 17)
    #expect(rfc1071(bytes[0..<24]) == 0)
    let resolved = try packet.resolved()
    #expect(resolved.ipv4?.ihl == 6)
    #expect(resolved.ipv4?.totalLength == 35)
    #expect(resolved.ipv4?.protocol == .udp)
    #expect(resolved.ipv4?.checksum == UInt16(bytes[10]) << 8 | UInt16(bytes[11]))
    #expect(resolved.udp?.length == 11)
    #expect(try resolved.encoded() == bytes)
    // Nothing above: protocol 0, total length = header.
    let alone = try IPv4Header(sourceAddress: "1.2.3.4", destinationAddress: "5.6.7.8").encoded()
    #expect(alone.count == 20 && alone[9] == 0 && alone[3] == 20)
  }

  @Test func overridesAreVerbatim() throws {
    let packet = IPv4Header(sourceAddress: "1.2.3.4", destinationAddress: "5.6.7.8", version: 6, ihl: 3, totalLength: 7,
                            flags: [.reserved, .moreFragments], fragmentOffset: 0x1FFF, timeToLive: 0,
                            protocol: IPProtocol(253), checksum: 0xBEEF)
      / TCPHeader(sourcePort: 1, destinationPort: 2)
    let bytes = try encodeOverA5(packet)
    #expect(bytes.count == 40)
    #expect(bytes[0] == 0x63)
    #expect(bytes[2...3] == [0, 7])
    #expect(bytes[6...7] == [0xBF, 0xFF])
    #expect(bytes[8] == 0 && bytes[9] == 253)
    #expect(bytes[10...11] == [0xBE, 0xEF])
  }

  @Test func overridesOutOfRangeThrow() {
    func encode(_ header: IPv4Header) throws(PacketError) { _ = try header.encode(into: &scratch) }
    var scratch: [UInt8] = []
    let base = IPv4Header(sourceAddress: "1.2.3.4", destinationAddress: "5.6.7.8")
    var h = base; h.version = 16
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "version", value: 16)) { try h.encode(into: &scratch) }
    h = base; h.ihl = 16
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "ihl", value: 16)) { try h.encode(into: &scratch) }
    h = base; h.dscp = 64
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "dscp", value: 64)) { try h.encode(into: &scratch) }
    h = base; h.ecn = 4
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "ecn", value: 4)) { try h.encode(into: &scratch) }
    h = base; h.flags = IPv4Flags(rawValue: 8)
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "flags", value: 8)) { try h.encode(into: &scratch) }
    h = base; h.fragmentOffset = 0x2000
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "fragmentOffset", value: 0x2000)) { try h.encode(into: &scratch) }
    h = base; h.options = Array(repeating: .noOperation, count: 41)
    #expect(throws: PacketError.computedValueOutOfRange(layer: .ipv4, field: "ihl", value: 16)) { try h.encode(into: &scratch) }
    h = base; h.options = [.timestamp(pointer: 5, overflow: 16, flag: 0, words: [])]
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "timestamp overflow", value: 16)) { try h.encode(into: &scratch) }
    #expect(throws: PacketError.computedValueOutOfRange(layer: .ipv4, field: "totalLength", value: 65536)) {
      try (base / [UInt8](repeating: 0, count: 65516)).encoded()
    }
  }

  @Test func badFields() {
    var bytes = Fixture.dataSegment
    for ihl: UInt8 in 0..<5 {
      bytes[0] = 0x40 | ihl
      #expect(throws: PacketError.invalidField(layer: .ipv4, field: "ihl", value: UInt64(ihl))) { try IPv4View(validating: bytes[...]) }
    }
    bytes[0] = 0x46
    bytes[2] = 0
    bytes[3] = 23  // total length < IHL * 4 = 24
    #expect(throws: PacketError.invalidField(layer: .ipv4, field: "totalLength", value: 23)) { try IPv4View(validating: bytes[...]) }
    bytes[0] = 0x4F  // header longer than the bytes
    bytes[3] = 70
    #expect(throws: PacketError.truncated(layer: .ipv4, needed: 60, available: 40)) {
      _ = try IPv4View(validating: bytes[..<40])
    }
  }

  @Test func totalLengthLongerOrShorterThanTheBytes() throws {
    var bytes = Fixture.dataSegment
    bytes[3] = 100  // claims 100, has 70
    let long = try IPv4View(validating: offsetSlice(bytes))
    #expect(long.isTruncated)
    #expect(long.payload.count == 50)
    bytes[3] = 40  // claims 40: payload bounded, the rest is trailing
    let short = try IPv4View(validating: offsetSlice(bytes))
    #expect(!short.isTruncated)
    #expect(short.payload.count == 20)
    #expect(short.trailingBytes.count == 30)
  }

  @Test func addresses() {
    #expect(IPv4Address("127.0.0.1") == IPv4Address(rawValue: 0x7F00_0001))
    #expect(IPv4Address("255.255.255.255").rawValue == 0xFFFF_FFFF)
    let text = "10.20.30.40"
    #expect(IPv4Address(text) == IPv4Address(10, 20, 30, 40))
    #expect(IPv4Address("0.0.0.0") == .any)
    for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.-4", "1.2.3.4."] {
      #expect(IPv4Address(bad) == nil, "\(bad)")
    }
    #expect(IPv4Address(192, 168, 0, 1).description == "192.168.0.1")
    #expect(MACAddress("02:00:00:00:00:01") == MACAddress(2, 0, 0, 0, 0, 1))
    #expect(MACAddress("AA-bb-CC-dd-EE-ff")?.description == "aa:bb:cc:dd:ee:ff")
    for bad in ["", "02:00:00:00:00", "02:00:00:00:00:01:02", "0g:00:00:00:00:00", "002:00:00:00:00:00", "02::00:00:00:00"] {
      #expect(MACAddress(bad) == nil, "\(bad)")
    }
  }
}

/// An invalid address literal in source code is a programmer error: a precondition failure.
@Test func invalidAddressLiteralIsAPreconditionFailure() async {
  await #expect(processExitsWith: .failure) {
    _ = IPv4Address(stringLiteral: "1.2.3")
  }
}
