import Testing
@testable import PacketKit

/// `nil` fields computed, checked against the plain RFC 1071 loop written in the tests.
@Suite struct ComputedFieldsTests {
  static let ip = IPv4Header(sourceAddress: "192.0.2.1", destinationAddress: "198.51.100.2", identification: 9)

  @Test func oddOptionsArePaddedAndChecksummed() throws {
    for options: [TCPOption] in [[.windowScale(7)], [.sackPermitted, .windowScale(14)], [.noOperation],
                                 [.unknown(kind: 30, data: [1, 2, 3])], [.raw(kind: 99, bytes: [])],
                                 [.sack([SACKBlock(leftEdge: 1, rightEdge: 2)]), .timestamps(value: 3, echoReply: 4)],
                                 // Options starting at odd offsets, of every kind.
                                 [.windowScale(1), .unknown(kind: 30, data: [1, 2, 3]), .maximumSegmentSize(0x1234)],
                                 [.noOperation, .raw(kind: 77, bytes: [9, 8, 7]), .timestamps(value: 0xFFFF_FFFF, echoReply: 1)],
                                 [.windowScale(0xFF), .sack([SACKBlock(leftEdge: 0xFFFF_FFFF, rightEdge: 0x0102_0304)]), .noOperation,
                                  .sackPermitted, .raw(kind: 1, bytes: [0xFF]), .endOfOptionList]] {
      for payload in [[UInt8](), [1], [1, 2, 3], Array(repeating: 0xFF, count: 101)] {
        let packet = Self.ip / TCPHeader(sourcePort: 5, destinationPort: 6, options: options) / payload
        let bytes = try encodeOverA5(packet)
        let optionLength = TCPOption.encodedLength(options)
        let padded = (optionLength + 3) / 4 * 4
        #expect(bytes.count == 20 + 20 + padded + payload.count)
        #expect(bytes[32] >> 4 == UInt8(5 + padded / 4))
        #expect(bytes[(40 + optionLength)..<(40 + padded)].allSatisfy { $0 == 0 }, "padding is zeros")
        #expect(rfc1071(bytes[0..<20]) == 0, "IPv4 header checksum")
        let pseudo: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 2, 0, 6, 0, UInt8(bytes.count - 20)]
        #expect(rfc1071(pseudo + bytes[20...]) == 0, "TCP checksum \(options) \(payload.count)")
        // The direct path gives the same bytes.
        var direct: [UInt8] = []
        try Self.ip.encode(try #require(packet.tcp), payload: payload, into: &direct)
        #expect(direct == bytes)
        // And the general layer-by-layer path (used for appending) too.
        var general: [UInt8] = []
        try packet.encode(appendingTo: &general)
        #expect(general == bytes)
      }
    }
  }

  @Test func udpAndICMPChecksums() throws {
    for count in [0, 1, 2, 7, 100] {
      let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
      let udp = try (Self.ip / UDPHeader(sourcePort: 53, destinationPort: 5353) / payload).encoded()
      let pseudo: [UInt8] = [192, 0, 2, 1, 198, 51, 100, 2, 0, 17, 0, UInt8(8 + count)]
      #expect(rfc1071(pseudo + udp[20...]) == 0)
      #expect(udp[24] == 0 && udp[25] == UInt8(8 + count))
      let icmp = try (Self.ip / ICMPv4Header.echoRequest(identifier: 1, sequenceNumber: UInt16(count)) / payload).encoded()
      #expect(rfc1071(icmp[20...]) == 0)
      #expect(icmp[9] == 1)
    }
    // ICMP checksum set: verbatim.
    let set = try (Self.ip / ICMPv4Header(type: .echoReply, checksum: 0xABCD)).encoded()
    #expect(set[22...23] == [0xAB, 0xCD])
  }

  @Test func resolvedFillsEveryNil() throws {
    let packet = EthernetHeader() / Self.ip / TCPHeader(sourcePort: 1, destinationPort: 2, options: [.maximumSegmentSize(536)]) / "hello"
    let resolved = try packet.resolved()
    let bytes = try packet.encoded()
    #expect(resolved.tcp?.dataOffset == 6)
    #expect(resolved.tcp?.checksum == UInt16(bytes[50]) << 8 | UInt16(bytes[51]))
    #expect(resolved.ipv4?.totalLength == 49)
    #expect(resolved.ipv4?.protocol == .tcp)
    #expect(try resolved.encoded() == bytes)
    // Decoding the bytes gives the resolved packet back.
    let frame = try EthernetView(validating: bytes[...])
    #expect(EthernetHeader(frame) / (try decodeIPv4Chain(frame.payload)) == resolved)
  }

  @Test func ipv4OptionIteratorErrors() throws {
    func view(_ area: [UInt8]) throws -> IPv4View {
      var header: [UInt8] = [0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
      header[0] = 0x40 | UInt8((20 + area.count) / 4)
      header[3] = UInt8(20 + area.count)
      return try IPv4View(validating: offsetSlice(header + area))
    }
    let zero = Array(try view([0x01, 0x07, 0x00, 0x00]).options)
    #expect(zero.count == 2)
    #expect(throws: PacketError.invalidOptionLength(layer: .ipv4, kind: 7, length: 0, offset: 1)) { try zero[1].get() }
    let overrun = Array(try view([0x94, 0x08, 0x00, 0x00]).options)
    #expect(throws: PacketError.optionOverrun(layer: .ipv4, kind: 148, length: 8, available: 4, offset: 0)) { try overrun[0].get() }
    let eol = Array(try view([0x01, 0x00, 0x01, 0x01]).options)
    #expect(eol.count == 2)  // stops after EOL
    #expect(try IPv4Header.decode(from: view([0x01, 0x00, 0x01, 0x01]).bytes).options == [.noOperation, .endOfOptionList, .noOperation, .noOperation])
  }

  @Test func decodeFromEqualsViewDecode() throws {
    let bytes = offsetSlice(Fixture.classicSYN)
    #expect(try IPv4Header.decode(from: bytes) == IPv4Header(IPv4View(validating: bytes)))
    #expect(try TCPHeader.decode(from: bytes.dropFirst(20)) == TCPHeader(TCPView(validating: bytes.dropFirst(20))))
    #expect(throws: PacketError.truncated(layer: .tcp, needed: 20, available: 3)) { try TCPHeader.decode(from: bytes.suffix(3)) }
  }
}
