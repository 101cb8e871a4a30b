import Testing
@testable import PacketKit

/// The IPv6 twins of the IPv4 fast paths: `dissect`'s `plainTCP6` and `Packet.encode(into:)`'s
/// direct IPv6 + TCP writer. Neither may change a result: both are compared with the general
/// paths on the scapy fixtures, every prefix of them, mutated frames and built packets.
@Suite struct IPv6FastPathTests {
  /// Raw IPv6 packets: the scapy corpus and the records of the scapy link-type files.
  static func frames() throws -> [(String, [UInt8], LinkType)] {
    var frames = ipv6Fixtures.sorted { $0.key < $1.key }.map { ($0.key, $0.value, LinkType.raw) }
    for (name, file) in [("ipv6", ipv6LinkTypeFile), ("sll", sllIPv6File), ("sll2", sll2IPv6File), ("null", nullIPv6File)] {
      let (header, records) = try PcapReader.read(file)
      let linkType = try #require(header.linkType)
      frames += records.enumerated().map { ("\(name) #\($0.offset)", $0.element.data, linkType) }
    }
    return frames
  }

  @Test func dissectFastPathEqualsGeneralPathOnEveryPrefix() throws {
    var failures: [String] = []
    var fastTaken = 0
    for (name, frame, linkType) in try Self.frames() {
      for length in 0...frame.count {
        let padded = [0xEE, 0xEE] + frame.prefix(length)
        for verify in [true, false] {
          if let difference = DissectFastPathTests.difference(padded[2...], linkType, verify: verify) {
            failures.append("\(name) [..<\(length)] verify=\(verify): \(difference)")
          }
        }
      }
      // The whole TCP frames do take the fast path: its layers end where the frame ends, in
      // the compact form (no array), and equal the general path's (checked above).
      let whole = dissect(frame[...], linkType: linkType, options: DissectionOptions(), allowFastPath: true)
      if whole.layers.contains(where: { $0.kind == .tcp }) && !whole.layers.contains(where: { $0.kind == .ipv6Extension }) {
        fastTaken += 1
        #expect(whole.layers.spilled == nil, "\(name)")
      }
    }
    #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(20).joined(separator: "\n"))")
    #expect(fastTaken >= 8)
  }

  @Test func dissectFastPathEqualsGeneralPathOnMutants() throws {
    var generator = SeededGenerator(seed: 0x1F6_FA57)
    let bases = try Self.frames().filter { $0.2 == .raw || $0.2 == .ipv6 }.map(\.1)
    var failures: [String] = []
    for round in 0..<20_000 {
      var frame = bases[round % bases.count]
      for _ in 0..<(1 + Int(generator.next() % 3)) {
        // The fixed header, the TCP header and its options (where the fast path decides).
        let at = Int(generator.next() % UInt64(min(frame.count, 80)))
        frame[at] = UInt8(truncatingIfNeeded: generator.next())
      }
      if generator.next() % 4 == 0 { frame.removeLast(Int(generator.next() % UInt64(frame.count))) }
      if let difference = DissectFastPathTests.difference(frame[...], .raw) {
        failures.append("round \(round) \(frame): \(difference)")
      }
    }
    #expect(failures.isEmpty, "\(failures.count) differences:\n\(failures.prefix(10).joined(separator: "\n"))")
  }

  @Test func directEncoderEqualsGeneralEncoder() throws {
    let a = IPv6Address(high: 0x2001_0db8_0000_0000, low: 1)
    let b = IPv6Address(high: 0x2001_0db8_0000_0000, low: 2)
    let options: [[TCPOption]] = [
      [], [.maximumSegmentSize(1440), .sackPermitted, .timestamps(value: 7, echoReply: 0), .noOperation, .windowScale(7)],
      [.sack([SACKBlock(leftEdge: 1, rightEdge: 2)])], [.unknown(kind: 99, data: [1, 2, 3])],
    ]
    var packets: [Packet] = []
    for list in options {
      for payload in [[], Array("hello".utf8), [UInt8](repeating: 0xAB, count: 1001)] {
        let tcp = TCPHeader(sourcePort: 40000, destinationPort: 8080, sequenceNumber: 0xDEAD_BEEF, flags: [.psh, .ack], options: list)
        let ip = IPv6Header(sourceAddress: a, destinationAddress: b, trafficClass: 0x28, flowLabel: 0x12345, hopLimit: 7)
        packets.append(payload.isEmpty ? ip / tcp : ip / tcp / payload)
        // Overrides written verbatim, both ways.
        var odd = ip
        odd.payloadLength = 3
        odd.nextHeader = IPProtocol(17)
        var fixed = tcp
        fixed.checksum = 0x1234
        fixed.dataOffset = 15
        packets.append(payload.isEmpty ? odd / fixed : odd / fixed / payload)
      }
    }
    for packet in packets {
      var direct: [UInt8] = []
      try packet.encode(into: &direct)
      var general: [UInt8] = []
      try packet.encode(appendingTo: &general)  // the layer walk
      #expect(direct == general, "\(packet)")
      guard case .ipv6(let ip) = packet.layers[0], case .tcp(let tcp) = packet.layers[1] else { continue }
      var payload: [UInt8] = []
      if packet.layers.count == 3, case .payload(let bytes) = packet.layers[2] { payload = bytes }
      var withoutPacket: [UInt8] = [9, 9, 9]
      try ip.encode(tcp, payload: payload, into: &withoutPacket)
      #expect(withoutPacket == general)
    }
    // A computed checksum verifies, read back through dissect.
    let first = try packets[2].encoded()
    #expect(!dissect(first, linkType: .ipv6).isMalformed)
    // An override too wide for its field throws on both paths.
    var bad = IPv6Header(sourceAddress: a, destinationAddress: b)
    bad.flowLabel = 0x10_0000
    var out: [UInt8] = []
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv6, field: "flowLabel", value: 0x10_0000)) {
      try (bad / TCPHeader(sourcePort: 1, destinationPort: 2)).encode(into: &out)
    }
  }
}
