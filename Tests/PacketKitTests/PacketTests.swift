import Testing
@testable import PacketKit

@Suite struct PacketTests {
  static let ip = IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.2")
  static let tcp = TCPHeader(sourcePort: 1000, destinationPort: 2000, sequenceNumber: 7, options: [.maximumSegmentSize(1460)])

  @Test func slashAndBuilderAreEqual() {
    let slash = Self.ip / Self.tcp / "data"
    let built = Packet {
      Self.ip
      Self.tcp
      "data"
    }
    #expect(slash == built)
    #expect(slash.layers == [.ipv4(Self.ip), .tcp(Self.tcp), .payload(Array("data".utf8))])
    let withBytes = Self.ip / Self.tcp / [UInt8]("data".utf8)
    #expect(withBytes == slash)
    let nested = (Self.ip / Self.tcp) / Packet(layers: [.payload(Array("data".utf8))])
    #expect(nested == slash)
  }

  @Test func builderControlFlow() {
    func make(withData: Bool, ethernet: Bool, repeats: Int) -> Packet {
      Packet {
        if ethernet { EthernetHeader() }
        Self.ip
        Self.tcp
        if withData { "x" } else { [UInt8]() }
        for _ in 0..<repeats { [UInt8(1)] }
      }
    }
    #expect(make(withData: true, ethernet: false, repeats: 0) == Self.ip / Self.tcp / "x")
    #expect(make(withData: false, ethernet: true, repeats: 2).layers.map(\.kind) == [.ethernet, .ipv4, .tcp, .payload, .payload, .payload])
  }

  @Test func accessors() {
    var packet = Self.ip / Self.tcp / "ab" / "cd"
    #expect(packet.ipv4 == Self.ip)
    #expect(packet.tcp == Self.tcp)
    #expect(packet.udp == nil)
    #expect(packet.payload == Array("abcd".utf8))
    packet.tcp?.sequenceNumber = 99
    #expect(packet.tcp?.sequenceNumber == 99)
    packet.payload = [1]
    #expect(packet.layers.count == 3)
    packet.payload = []
    #expect(packet.layers.count == 2)
    packet.udp?.sourcePort = 5  // no UDP layer: nothing happens
    #expect(packet.layers.count == 2)
    packet.udp = UDPHeader(sourcePort: 5, destinationPort: 6)  // none yet: appended
    #expect(packet.layers.map(\.kind) == [.ipv4, .tcp, .udp])
    packet.tcp = nil
    #expect(packet.layers.map(\.kind) == [.ipv4, .udp])
    packet.ipv4?.options.append(.noOperation)
    #expect(packet.ipv4?.options == [.noOperation])
    #expect(packet.layers.map(\.kind) == [.ipv4, .udp])
  }

  /// Encoding again into the same buffer replaces the contents and never reallocates.
  @Test func reusableBufferKeepsItsStorage() throws {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(2048)
    let address = buffer.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
    var packet = Self.ip / Self.tcp / [UInt8](repeating: 7, count: 100)
    for seq in 0..<1000 as Range<UInt32> {
      packet.tcp?.sequenceNumber = seq
      packet.payload = seq % 2 == 0 ? [] : [1, 2, 3]
      try packet.encode(into: &buffer)
      #expect(buffer.count == packet.encodedLength)
      #expect(buffer.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } == address)
    }
    #expect(try TCPView(validating: buffer[20...]).sequenceNumber == 999)
    // Appending several packets to one array.
    var many: [UInt8] = []
    try (Self.ip / Self.tcp).encode(appendingTo: &many)
    try (Self.ip / Self.tcp).encode(appendingTo: &many)
    #expect(many.count == 2 * 44)
    #expect(Array(many[..<44]) == Array(many[44...]))
  }

  @Test func emptyPacket() throws {
    var buffer: [UInt8] = [1, 2, 3]
    try Packet(layers: []).encode(into: &buffer)
    #expect(buffer.isEmpty)
  }

  /// Every prefix of every fixture: validating views throw (or, for the IPv4 header alone, say
  /// the packet is truncated); nothing traps. Slices start at a non-zero index.
  @Test(arguments: Fixture.ipv4Packets.map(\.name))
  func truncationSweep(name: String) throws {
    let bytes = try #require(Fixture.ipv4Packets.first { $0.name == name }).bytes
    for length in 0..<bytes.count {
      let prefix = offsetSlice(Array(bytes[..<length]))
      do {
        let packet = try decodeIPv4Chain(prefix)
        // Decoding succeeded: only possible when the IPv4 header is whole and says the packet
        // is longer than what we have (the upper layer fit in the prefix).
        let ip = try IPv4View(validating: prefix)
        #expect(ip.isTruncated, "\(name) prefix \(length) decoded as complete: \(packet)")
      } catch {
        // Typed: `error` is PacketError. The kind of error must name a layer present.
        #expect(error.description.isEmpty == false)
      }
      if length < 20 {
        #expect(throws: PacketError.truncated(layer: .ipv4, needed: 20, available: length)) { try IPv4View(validating: prefix) }
      }
    }
  }

  @Test(arguments: Fixture.ethernetFrames.map(\.name))
  func ethernetTruncationSweep(name: String) throws {
    let bytes = try #require(Fixture.ethernetFrames.first { $0.name == name }).bytes
    for length in 0..<bytes.count {
      let prefix = offsetSlice(Array(bytes[..<length]))
      do {
        let frame = try EthernetView(validating: prefix)
        let ip = try IPv4View(validating: frame.payload)
        let tcp = try TCPView(validating: ip.payload)
        #expect(ip.isTruncated, "\(name) prefix \(length)")
        _ = Array(tcp.options)
      } catch {
        #expect(length < bytes.count)
      }
    }
  }

  /// Random bytes never trap the views, the option iterators or header decoding.
  @Test func randomBytesNeverTrap() {
    var generator = SeededGenerator(seed: 99)
    for _ in 0..<3000 {
      let count = Int.random(in: 0...80, using: &generator)
      var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
      if count > 0, Bool.random(using: &generator) { bytes[0] = 0x40 | (bytes[0] & 0x0F) }
      let slice = offsetSlice(bytes, by: count % 5)
      if let ip = try? IPv4View(validating: slice) {
        _ = Array(ip.options)
        let header = IPv4Header(ip)
        var out: [UInt8] = []
        #expect((try? header.encode(into: &out)) != nil)
        #expect(out[...] == slice.prefix(ip.headerLength))
        _ = ip.payload
        _ = ip.trailingBytes
        _ = ip.isChecksumValid
      }
      if let tcp = try? TCPView(validating: slice) {
        _ = Array(tcp.options)
        let header = TCPHeader(tcp)
        var out: [UInt8] = []
        #expect((try? header.encode(into: &out, payload: Array(tcp.payload), pseudoHeader: InternetChecksum())) != nil)
        #expect(out[...] == slice)
      }
      if let udp = try? UDPView(validating: slice) { _ = udp.payload; _ = udp.computedChecksum(pseudoHeader: InternetChecksum()) }
      if let icmp = try? ICMPv4View(validating: slice) { _ = icmp.quotedDatagram; _ = icmp.computedChecksum }
    }
  }
}

@Suite struct TCPSegmentTemplateTests {
  static let packet = IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1", flags: .dontFragment)
    / TCPHeader(sourcePort: 40000, destinationPort: 8080, sequenceNumber: 1, flags: .syn,
                options: [.maximumSegmentSize(1460), .sackPermitted, .timestamps(value: 1, echoReply: 0), .noOperation, .windowScale(7)])

  /// Every patched field gives the same bytes a full encode gives.
  @Test func patchesEqualFullEncode() throws {
    var template = try TCPSegmentTemplate(Self.packet)
    #expect(template.ipv4Offset == 0 && template.tcpOffset == 20)
    var reference = Self.packet
    var generator = SeededGenerator(seed: 5)
    for _ in 0..<500 {
      let seq = UInt32.random(in: 0...UInt32.max, using: &generator)
      let ack = UInt32.random(in: 0...UInt32.max, using: &generator)
      let port = UInt16.random(in: 0...UInt16.max, using: &generator)
      let id = UInt16.random(in: 0...UInt16.max, using: &generator)
      let flags = TCPFlags(rawValue: UInt16.random(in: 0...0x1FF, using: &generator))
      template.sequenceNumber = seq
      template.acknowledgmentNumber = ack
      template.sourcePort = port
      template.identification = id
      template.flags = flags
      template.window = port &+ 1
      reference.tcp?.sequenceNumber = seq
      reference.tcp?.acknowledgmentNumber = ack
      reference.tcp?.sourcePort = port
      reference.ipv4?.identification = id
      reference.tcp?.flags = flags
      reference.tcp?.window = port &+ 1
      #expect(template.bytes == (try reference.encoded()))
      #expect(template.sequenceNumber == seq && template.flags == flags)
    }
  }

  @Test func explicitChecksumsAreLeftAlone() throws {
    var packet = Self.packet
    packet.tcp?.checksum = 0x1234
    var template = try TCPSegmentTemplate(packet)
    template.sequenceNumber = 77
    #expect(template.bytes[36...37] == [0x12, 0x34])
    #expect(throws: PacketError.self) { try TCPSegmentTemplate(Packet(layers: [.payload([1])])) }
  }

  /// With an Ethernet header in front, offsets move and patching still matches.
  @Test func withEthernet() throws {
    let framed = EthernetHeader() / Self.packet
    var template = try TCPSegmentTemplate(framed)
    #expect(template.ipv4Offset == 14 && template.tcpOffset == 34)
    template.sequenceNumber = 123_456
    var reference = framed
    reference.tcp?.sequenceNumber = 123_456
    #expect(template.bytes == (try reference.encoded()))
    #expect(template.withUnsafeBytes { $0.count } == template.bytes.count)
  }
}

/// Decode → encode is byte-exact for every fixture, slices at a non-zero index.
@Test(arguments: Fixture.ipv4Packets.map(\.name) + Fixture.ethernetFrames.map(\.name))
func decodeEncodeRoundTrip(name: String) throws {
  if let bytes = Fixture.ipv4Packets.first(where: { $0.name == name })?.bytes {
    let packet = try decodeIPv4Chain(offsetSlice(bytes))
    #expect(try encodeOverA5(packet) == bytes)
  } else {
    let bytes = try #require(Fixture.ethernetFrames.first { $0.name == name }).bytes
    let frame = try EthernetView(validating: offsetSlice(bytes, by: 3))
    let packet = EthernetHeader(frame) / (try decodeIPv4Chain(frame.payload))
    #expect(try encodeOverA5(packet) == bytes)
  }
}

/// Patching a caller's buffer (e.g. one message of a sendmmsg batch) equals a full encode.
@Test func patchCallersBuffer() throws {
  var packet = IPv4Header(sourceAddress: "10.0.0.1", destinationAddress: "10.0.0.2")
    / TCPHeader(sourcePort: 1, destinationPort: 2, sequenceNumber: 5, options: [.windowScale(3)]) / "odd"
  var bytes = try packet.encoded()
  var generator = SeededGenerator(seed: 11)
  for _ in 0..<300 {
    let seq = UInt32.random(in: 0...UInt32.max, using: &generator)
    let port = UInt16.random(in: 0...UInt16.max, using: &generator)
    let id = UInt16.random(in: 0...UInt16.max, using: &generator)
    bytes.withUnsafeMutableBytes { raw in
      #expect(InternetChecksum.patch(raw, uint32: seq, at: 20 + 4, checksumAt: 20 + 16))
      #expect(InternetChecksum.patch(raw, uint16: port, at: 20 + 2, checksumAt: 20 + 16))
      #expect(InternetChecksum.patch(raw, uint16: id, at: 4, checksumAt: 10))
    }
    packet.tcp?.sequenceNumber = seq
    packet.tcp?.destinationPort = port
    packet.ipv4?.identification = id
    #expect(bytes == (try packet.encoded()))
  }
  bytes.withUnsafeMutableBytes { raw in
    #expect(!InternetChecksum.patch(raw, uint32: 1, at: raw.count - 3, checksumAt: 0))
    #expect(!InternetChecksum.patch(raw, uint16: 1, at: 0, checksumAt: -1))
  }
}
