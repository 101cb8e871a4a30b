import Testing
@testable import PacketKit

@Suite struct TCPTests {
  /// The tcpdump line as one Swift expression:
  /// `127.0.0.1.57273 > 127.0.0.1.8080: Flags [S], seq 84347051, win 65535, options [mss 16344,nop,
  /// wscale 5,nop,nop,TS val 1525310591 ecr 0,sackOK,eol], length 0`
  /// (IPv4: DF, id 0, TTL 64 as in the scapy fixture; tcpdump shows them with -v).
  static let classicSYN =
    IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1", flags: .dontFragment)
    / TCPHeader(
      sourcePort: 57273, destinationPort: 8080, sequenceNumber: 84_347_051, flags: .syn, window: 65535,
      options: [.maximumSegmentSize(16344), .noOperation, .windowScale(5), .noOperation, .noOperation,
                .timestamps(value: 1_525_310_591, echoReply: 0), .sackPermitted, .endOfOptionList])

  @Test func classicSYNEncodesToTheFixture() throws {
    let bytes = try encodeOverA5(Self.classicSYN)
    #expect(bytes.count == Fixture.classicSYN.count)
    for (index, (got, want)) in zip(bytes, Fixture.classicSYN).enumerated() {
      #expect(got == want, "byte \(index): 0x\(String(got, radix: 16)) != 0x\(String(want, radix: 16))")
    }
  }

  @Test func resultBuilderGivesTheSamePacket() throws {
    let built = Packet {
      IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1", flags: .dontFragment)
      TCPHeader(
        sourcePort: 57273, destinationPort: 8080, sequenceNumber: 84_347_051, flags: .syn, window: 65535,
        options: [.maximumSegmentSize(16344), .noOperation, .windowScale(5), .noOperation, .noOperation,
                  .timestamps(value: 1_525_310_591, echoReply: 0), .sackPermitted, .endOfOptionList])
    }
    #expect(built == Self.classicSYN)
    #expect(try built.encoded() == Fixture.classicSYN)
  }

  @Test func fixtureToFields() throws {
    let tcpBytes = Fixture.classicSYN[20...]
    let view = try TCPView(validating: tcpBytes)
    #expect(view.sourcePort == 57273)
    #expect(view.destinationPort == 8080)
    #expect(view.sequenceNumber == 84_347_051)
    #expect(view.acknowledgmentNumber == 0)
    #expect(view.dataOffset == 11)
    #expect(view.headerLength == 44)
    #expect(view.reserved == 0)
    #expect(view.flags == .syn)
    #expect(view.window == 65535)
    #expect(view.checksum == 0x3271)
    #expect(view.urgentPointer == 0)
    #expect(view.payload.isEmpty)
    let options = view.options.map { try? $0.get() }
    #expect(options == [
      .maximumSegmentSize(16344), .noOperation, .windowScale(5), .noOperation, .noOperation,
      .timestamps(value: 1_525_310_591, echoReply: 0), .sackPermitted, .endOfOptionList,
    ])
    let ip = try IPv4View(validating: Fixture.classicSYN[...])
    #expect(view.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
    #expect(view.computedChecksum(pseudoHeader: ip.pseudoHeader()) == 0x3271)
  }

  /// Every flag, reserved bits 101, SACK blocks, an unknown option and a wrong checksum.
  @Test func everyFlagFixture() throws {
    let view = try TCPView(validating: Fixture.everyFlag[20...])
    #expect(view.flags == .all)
    #expect(view.flags.tcpdumpLetters == "FSRP.UEW")
    #expect(view.reserved == 0b101)
    #expect(view.sequenceNumber == 0xFFFF_FFFF)
    #expect(view.acknowledgmentNumber == 0x8000_0000)
    #expect(view.window == 0)
    #expect(view.urgentPointer == 0xBEEF)
    #expect(view.checksum == 0xDEAD)
    let ip = try IPv4View(validating: Fixture.everyFlag[...])
    #expect(!view.isChecksumValid(pseudoHeader: ip.pseudoHeader()))
    #expect(view.computedChecksum(pseudoHeader: ip.pseudoHeader()) == 0x6852)  // tcpdump's "-> 0x6852"
    let options = view.options.map { try? $0.get() }
    #expect(options == [
      .sack([SACKBlock(leftEdge: 100, rightEdge: 200), SACKBlock(leftEdge: 300, rightEdge: 400)]),
      .unknown(kind: 253, data: [0x12, 0x34]), .noOperation, .noOperation,
    ])
    // Fields → fixture: the same values set explicitly.
    let packet = IPv4Header(sourceAddress: "192.168.1.2", destinationAddress: "192.168.1.3", identification: 7, timeToLive: 1)
      / TCPHeader(
        sourcePort: 1, destinationPort: 65535, sequenceNumber: 0xFFFF_FFFF, acknowledgmentNumber: 0x8000_0000,
        flags: .all, window: 0,
        options: [.sack([SACKBlock(leftEdge: 100, rightEdge: 200), SACKBlock(leftEdge: 300, rightEdge: 400)]),
                  .unknown(kind: 253, data: [0x12, 0x34]), .noOperation, .noOperation],
        reserved: 5, checksum: 0xDEAD, urgentPointer: 0xBEEF)
    #expect(try encodeOverA5(packet) == Fixture.everyFlag)
  }

  /// The option with a lying length (tcpdump: "mss 1460[len 9]"): a known kind with the wrong
  /// length is kept as `.unknown`; the same bytes are built by hand with `.raw`.
  @Test func lyingOptionLength() throws {
    let view = try TCPView(validating: Fixture.lyingOption[20...])
    #expect(view.options.map { try? $0.get() } == [
      .noOperation, .noOperation, .unknown(kind: 2, data: [0x05, 0xb4, 0, 0, 0, 0, 0]), .endOfOptionList,
    ])
    #expect(TCPHeader(view).options == [.noOperation, .noOperation, .unknown(kind: 2, data: [0x05, 0xb4, 0, 0, 0, 0, 0]), .endOfOptionList])
    let packet = IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.2", identification: 1)
      / TCPHeader(sourcePort: 1234, destinationPort: 80, sequenceNumber: 1, flags: .syn, window: 1024,
                  options: [.noOperation, .noOperation, .raw(kind: 2, bytes: [9, 0x05, 0xb4, 0, 0, 0, 0, 0])])
    #expect(try encodeOverA5(packet) == Fixture.lyingOption)

    // Hand-edited: the length octet says 11 where 10 bytes remain: an overrun.
    var overrun = Array(Fixture.lyingOption[20...])
    overrun[23] = 11
    let bad = try TCPView(validating: offsetSlice(overrun))
    let results = Array(bad.options)
    #expect(results.count == 3)
    #expect(throws: PacketError.optionOverrun(layer: .tcp, kind: 2, length: 11, available: 10, offset: 2)) {
      try results[2].get()
    }
    let header = TCPHeader(bad)
    #expect(header.options == [.noOperation, .noOperation, .raw(kind: 2, bytes: [11, 0x05, 0xb4, 0, 0, 0, 0, 0, 0])])
    var out: [UInt8] = []
    try header.encode(into: &out, pseudoHeader: InternetChecksum())
    #expect(out == overrun)
  }

  @Test func optionLengthZeroAndOneAndMissing() throws {
    func options(_ area: [UInt8]) -> [Result<TCPOption, PacketError>] {
      var bytes: [UInt8] = [0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
      bytes[12] = UInt8((20 + area.count) / 4) << 4
      let view = try? TCPView(validating: offsetSlice(bytes + area))
      return view.map { Array($0.options) } ?? []
    }
    let zero = options([0x01, 0x08, 0x00, 0x01])
    #expect(zero.count == 2)
    #expect(throws: PacketError.invalidOptionLength(layer: .tcp, kind: 8, length: 0, offset: 1)) { try zero[1].get() }
    let one = options([0x05, 0x01, 0x00, 0x00])
    #expect(throws: PacketError.invalidOptionLength(layer: .tcp, kind: 5, length: 1, offset: 0)) { try one[0].get() }
    let missing = options([0x01, 0x01, 0x01, 0x02])
    #expect(missing.count == 4)
    #expect(throws: PacketError.optionOverrun(layer: .tcp, kind: 2, length: 0, available: 1, offset: 3)) { try missing[3].get() }
    // Decode keeps every byte: the bad option and the rest become raw.
    for area: [UInt8] in [[0x01, 0x08, 0x00, 0x01], [0x05, 0x01, 0x00, 0x00], [0x01, 0x01, 0x01, 0x02],
                          [0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
                          [0x03, 0x03, 0x0e, 0x00, 0x07, 0x00, 0x00, 0x00], [0x02, 0x05, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00]] {
      var bytes: [UInt8] = [0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
      bytes[12] = UInt8((20 + area.count) / 4) << 4
      let segment = bytes + area
      let header = try TCPHeader.decode(from: segment[...])
      var out: [UInt8] = []
      try header.encode(into: &out, pseudoHeader: InternetChecksum())
      #expect(out == segment, "\(area)")
    }
  }

  @Test func capturedSegmentsRoundTrip() throws {
    for (name, frame) in Fixture.ethernetFrames {
      let ethernet = try EthernetView(validating: offsetSlice(frame))
      let ip = try IPv4View(validating: ethernet.payload)
      let tcp = try TCPView(validating: ip.payload)
      let header = TCPHeader(tcp)
      var out: [UInt8] = []
      try header.encode(into: &out, payload: Array(tcp.payload), pseudoHeader: ip.pseudoHeader())
      #expect(out[...] == ip.payload, "\(name)")
    }
    // The kernel's unfinished checksum (CHECKSUM_PARTIAL) is kept verbatim, and is "wrong".
    let ip = try IPv4View(validating: Fixture.capturedLoopbackSYN[14...])
    let tcp = try TCPView(validating: ip.payload)
    #expect(tcp.checksum == 0xFE30)
    #expect(tcp.computedChecksum(pseudoHeader: ip.pseudoHeader()) == 0x1D4B)
    #expect(tcp.options.map { try? $0.get() } == [
      .maximumSegmentSize(65495), .sackPermitted, .timestamps(value: 2_374_980_168, echoReply: 0), .noOperation, .windowScale(10),
    ])
  }

  @Test func badFields() {
    var bytes = Array(Fixture.classicSYN[20...])
    for offset: UInt8 in 0..<5 {
      bytes[12] = offset << 4
      #expect(throws: PacketError.invalidField(layer: .tcp, field: "dataOffset", value: UInt64(offset))) {
        try TCPView(validating: bytes[...])
      }
    }
    // Data offset beyond the segment: truncated.
    bytes[12] = 15 << 4
    #expect(throws: PacketError.truncated(layer: .tcp, needed: 60, available: 44)) { try TCPView(validating: bytes[...]) }
  }

  @Test func overridesAreVerbatim() throws {
    let ip = IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2")
    let tcp = TCPHeader(sourcePort: 1, destinationPort: 2, flags: [.syn, .fin], options: [.maximumSegmentSize(0)],
                        dataOffset: 3, reserved: 7, checksum: 0x1234)
    let bytes = try encodeOverA5(ip / tcp / "x")
    #expect(bytes.count == 20 + 24 + 1)
    #expect(bytes[32] == 0x3E)  // data offset 3, reserved 111, NS 0
    #expect(bytes[33] == 0x03)
    #expect(bytes[36] == 0x12 && bytes[37] == 0x34)
    #expect(bytes[40...43] == [2, 4, 0, 0])
    #expect(bytes[44] == UInt8(ascii: "x"))
  }

  @Test func overridesOutOfRangeThrow() {
    let ip = IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2")
    #expect(throws: PacketError.overrideOutOfRange(layer: .tcp, field: "dataOffset", value: 16)) {
      try (ip / TCPHeader(sourcePort: 1, destinationPort: 2, dataOffset: 16)).encoded()
    }
    #expect(throws: PacketError.overrideOutOfRange(layer: .tcp, field: "reserved", value: 8)) {
      try (ip / TCPHeader(sourcePort: 1, destinationPort: 2, reserved: 8)).encoded()
    }
    #expect(throws: PacketError.overrideOutOfRange(layer: .tcp, field: "flags", value: 0x200)) {
      try (ip / TCPHeader(sourcePort: 1, destinationPort: 2, flags: TCPFlags(rawValue: 0x200))).encoded()
    }
    #expect(throws: PacketError.overrideOutOfRange(layer: .tcp, field: "option length", value: 256)) {
      try (ip / TCPHeader(sourcePort: 1, destinationPort: 2, options: [.unknown(kind: 99, data: Array(repeating: 0, count: 254))], dataOffset: 15)).encoded()
    }
    // 41 bytes of options cannot be described by a computed data offset.
    #expect(throws: PacketError.computedValueOutOfRange(layer: .tcp, field: "dataOffset", value: 16)) {
      try (ip / TCPHeader(sourcePort: 1, destinationPort: 2, options: Array(repeating: .noOperation, count: 41))).encoded()
    }
  }

  @Test func missingPseudoHeader() {
    #expect(throws: PacketError.missingPseudoHeader) {
      try Packet(layers: [.tcp(TCPHeader(sourcePort: 1, destinationPort: 2))]).encoded()
    }
    #expect(throws: PacketError.missingPseudoHeader) {
      try (EthernetHeader() / TCPHeader(sourcePort: 1, destinationPort: 2)).encoded()
    }
    // With the checksum set there is nothing to compute.
    #expect(throws: Never.self) {
      try Packet(layers: [.tcp(TCPHeader(sourcePort: 1, destinationPort: 2, checksum: 0))]).encoded()
    }
  }

  /// The pseudo-header uses the TCP length actually encoded, not the IPv4 total length override.
  @Test func pseudoHeaderUsesEncodedLength() throws {
    let honest = IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2") / TCPHeader(sourcePort: 1, destinationPort: 2) / "abc"
    var lying = honest
    lying.ipv4?.totalLength = 1000
    let a = try honest.encoded()
    let b = try lying.encoded()
    #expect(a[36...37] == b[36...37])
    #expect(b[2] == 0x03 && b[3] == 0xE8)
    #expect(rfc1071([10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 23] + b[20...]) == 0)
  }

  @Test(arguments: Fixture.ipv4Packets.filter { $0.bytes[9] == 6 }.map(\.name))
  func roundTrip(name: String) throws {
    let bytes = try #require(Fixture.ipv4Packets.first { $0.name == name }).bytes
    let packet = try decodeIPv4Chain(offsetSlice(bytes))
    #expect(try encodeOverA5(packet) == bytes)
    // With every derivable field reset to nil, a correct packet encodes the same.
    var reset = packet
    reset.ipv4?.ihl = nil
    reset.ipv4?.totalLength = nil
    reset.ipv4?.protocol = nil
    reset.ipv4?.checksum = nil
    reset.tcp?.dataOffset = nil
    if name != "everyFlag" { reset.tcp?.checksum = nil }  // everyFlag's checksum is wrong on purpose
    if name != "lyingOption" { #expect(try reset.encoded() == bytes) }
  }

  @Test func flagsParsing() {
    #expect(TCPFlags(parsing: "S") == .syn)
    #expect(TCPFlags(parsing: "S.") == [.syn, .ack])
    #expect(TCPFlags(parsing: "SA") == [.syn, .ack])
    #expect(TCPFlags(parsing: "F.") == [.fin, .ack])
    #expect(TCPFlags(parsing: "FA") == [.fin, .ack])
    #expect(TCPFlags(parsing: "P.") == [.psh, .ack])
    #expect(TCPFlags(parsing: "PA") == [.psh, .ack])
    #expect(TCPFlags(parsing: "R") == .rst)
    #expect(TCPFlags(parsing: "R.") == [.rst, .ack])
    #expect(TCPFlags(parsing: ".") == .ack)
    #expect(TCPFlags(parsing: "syn,ack") == [.syn, .ack])
    #expect(TCPFlags(parsing: "SYN|ACK") == [.syn, .ack])
    #expect(TCPFlags(parsing: "fin") == .fin)
    #expect(TCPFlags(parsing: "none") == [])
    #expect(TCPFlags(parsing: "SEW") == [.syn, .ece, .cwr])
    #expect(TCPFlags(parsing: "FSRP.UEWN") == .all)
    #expect(TCPFlags(parsing: "X") == nil)
    #expect(TCPFlags(parsing: "syn,bogus") == nil)
    #expect(TCPFlags.syn.tcpdumpLetters == "S")
    #expect(TCPFlags([.syn, .ack]).tcpdumpLetters == "S.")
    #expect(TCPFlags([.fin, .ack]).tcpdumpLetters == "F.")
    #expect(TCPFlags.ack.tcpdumpLetters == ".")
    #expect(TCPFlags([]).tcpdumpLetters == "none")
    #expect(TCPFlags([.psh, .ack]).tcpdumpLetters == "P.")
    #expect(TCPFlags([.rst, .ack]).tcpdumpLetters == "R.")
    #expect(TCPFlags.all.tcpdumpLetters == "FSRP.UEW")
    #expect(TCPFlags.ns.rawValue == 0x100)
  }

  @Test func quotedSourcePortNeedsTwoBytes() {
    // An ICMP error may quote only the first 8 bytes of the TCP header (RFC 792).
    let quoted: [UInt8] = [0xDF, 0xB9, 0x1F, 0x90, 0, 0, 0, 1]
    #expect(TCPHeader.quotedSourcePort(in: quoted[...]) == 57273)
    #expect(TCPHeader.quotedSourcePort(in: quoted[3...]) == 0x9000)
    #expect(TCPHeader.quotedSourcePort(in: quoted[7...]) == nil)
    #expect(TCPHeader.quotedSourcePort(in: []) == nil)
  }
}
