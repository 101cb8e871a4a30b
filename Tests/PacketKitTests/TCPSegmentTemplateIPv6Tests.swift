import Foundation
import Testing

@testable import PacketKit

/// `TCPSegmentTemplate` over IPv6: every patched field gives the bytes a full encode gives, with
/// and without extension headers and Ethernet in front, and tshark finds every TCP checksum of a
/// walked burst right (the IPv6 pseudo-header).
@Suite struct TCPSegmentTemplateIPv6Tests {
  static let ip = IPv6Header(sourceAddress: "fd00::1", destinationAddress: "fd00::2", flowLabel: 0xABCDE, hopLimit: 61)
  static let tcp = TCPHeader(
    sourcePort: 40000, destinationPort: 8080, sequenceNumber: 1, flags: .syn,
    options: [.maximumSegmentSize(1440), .sackPermitted, .timestamps(value: 1, echoReply: 0), .noOperation, .windowScale(7)])

  static var plain: Packet { Packet(layers: [.ipv6(ip), .tcp(tcp)]) }
  static var withHopByHop: Packet {
    Packet(layers: [.ipv6(ip), .ipv6Options(.hopByHop([.padN(length: 4)])), .tcp(tcp), .payload(Array("hello".utf8))])
  }
  static var framed: Packet {
    Packet(layers: [.ethernet(EthernetHeader(etherType: .ipv6)), .ipv6(ip), .tcp(tcp), .payload([1, 2, 3])])
  }

  /// Applies the same random field values to the template and to the `Packet`, 300 times.
  func checkPatches(_ packet: Packet, ipOffset: Int, tcpOffset: Int) throws {
    var template = try TCPSegmentTemplate(packet)
    #expect(template.ipVersion == 6)
    #expect(template.ipOffset == ipOffset && template.tcpOffset == tcpOffset)
    #expect(template.updatesTCPChecksum && !template.updatesIPv4Checksum)
    #expect(template.bytes == (try packet.encoded()))
    var reference = packet
    guard let ipIndex = reference.layers.firstIndex(where: { $0.kind == .ipv6 }),
      let tcpIndex = reference.layers.firstIndex(where: { $0.kind == .tcp })
    else {
      Issue.record("no IPv6 or TCP layer")
      return
    }
    var generator = SeededGenerator(seed: 6)
    for _ in 0..<300 {
      let seq = UInt32.random(in: 0...UInt32.max, using: &generator)
      let ack = UInt32.random(in: 0...UInt32.max, using: &generator)
      let sport = UInt16.random(in: 0...UInt16.max, using: &generator)
      let dport = UInt16.random(in: 0...UInt16.max, using: &generator)
      let flags = TCPFlags(rawValue: UInt16.random(in: 0...0x1FF, using: &generator))
      let label = UInt32.random(in: 0...0xF_FFFF, using: &generator)
      let hops = UInt8.random(in: 0...255, using: &generator)
      template.sequenceNumber = seq
      template.acknowledgmentNumber = ack
      template.sourcePort = sport
      template.destinationPort = dport
      template.flags = flags
      template.window = sport ^ 0x5A5A
      template.urgentPointer = dport &+ 3
      template.flowLabel = label
      template.hopLimit = hops
      template.identification = 0x1234  // no such field in IPv6: changes nothing
      guard case .ipv6(var ip) = reference.layers[ipIndex], case .tcp(var tcp) = reference.layers[tcpIndex] else { return }
      tcp.sequenceNumber = seq
      tcp.acknowledgmentNumber = ack
      tcp.sourcePort = sport
      tcp.destinationPort = dport
      tcp.flags = flags
      tcp.window = sport ^ 0x5A5A
      tcp.urgentPointer = dport &+ 3
      ip.flowLabel = label
      ip.hopLimit = hops
      reference.layers[ipIndex] = .ipv6(ip)
      reference.layers[tcpIndex] = .tcp(tcp)
      #expect(template.bytes == (try reference.encoded()))
      #expect(template.sequenceNumber == seq && template.flowLabel == label && template.hopLimit == hops)
      #expect(template.identification == 0)
    }
    // The bytes dissect as the same packet, with a right checksum.
    let dissection = dissect(ArraySlice(template.bytes), linkType: ipOffset == 14 ? .ethernet : .raw)
    #expect(dissection.problems.isEmpty, "\(dissection.problems)")
  }

  @Test func patchesEqualFullEncode() throws { try checkPatches(Self.plain, ipOffset: 0, tcpOffset: 40) }

  @Test func extensionHeaderBetweenIPv6AndTCP() throws { try checkPatches(Self.withHopByHop, ipOffset: 0, tcpOffset: 48) }

  @Test func behindEthernet() throws { try checkPatches(Self.framed, ipOffset: 14, tcpOffset: 54) }

  @Test func explicitChecksumKeptAndWrongShapesRefused() throws {
    var tcp = Self.tcp
    tcp.checksum = 0xBEEF
    var template = try TCPSegmentTemplate(Self.ip / tcp)
    #expect(!template.updatesTCPChecksum)
    template.sequenceNumber = 99
    #expect(template.bytes[56...57] == [0xBE, 0xEF])
    // IPv6 then UDP, or TCP with no IP header before it: not a template.
    #expect(throws: PacketError.self) {
      try TCPSegmentTemplate(Packet(layers: [.ipv6(Self.ip), .udp(UDPHeader(sourcePort: 1, destinationPort: 2))]))
    }
    #expect(throws: PacketError.self) { try TCPSegmentTemplate(Packet(layers: [.ipv6(Self.ip), .payload([0]), .tcp(Self.tcp)])) }
    // On an IPv4 template the IPv6-only fields read 0 and change nothing.
    var v4 = try TCPSegmentTemplate(IPv4Header(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1") / Self.tcp)
    let before = v4.bytes
    v4.flowLabel = 5
    v4.hopLimit = 1
    #expect(v4.bytes == before && v4.flowLabel == 0 && v4.ipVersion == 4)
  }

  /// 64 walked segments written to a pcap: tshark checks every TCP checksum against the IPv6
  /// pseudo-header and finds each right, and reads the walked fields back.
  @Test(.enabled(if: FormatTools.path("tshark") != nil, "needs tshark"))
  func tsharkFindsEveryChecksumRight() throws {
    var template = try TCPSegmentTemplate(Self.framed)
    let writer = PcapWriter(linkType: .ethernet)
    var file: [UInt8] = []
    writer.appendFileHeader(to: &file)
    let count = 64
    for index in 0..<count {
      template.sequenceNumber = 0xFFFF_FFE0 &+ UInt32(index)
      template.sourcePort = 50_000 &+ UInt16(index)
      template.flowLabel = UInt32(index) * 0x4001
      template.flags = index % 2 == 0 ? .syn : [.syn, .ack]
      writer.appendRecord(template.bytes, timestampSeconds: UInt32(index), to: &file)
    }
    let path = try FormatTools.writeTemporary(file, suffix: "template6.pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let fields = ["tcp.checksum.status", "tcp.seq_raw", "tcp.srcport", "ipv6.flow", "ipv6.plen"]
    let tshark = try FormatTools.run(
      "tshark", ["-o", "tcp.check_checksum:TRUE", "-r", path, "-T", "fields", "-E", "separator=|"] + fields.flatMap { ["-e", $0] })
    let rows = tshark.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    #expect(rows.count == count, "\(tshark.stderr)")
    for (index, row) in rows.enumerated() where row.count == fields.count {
      #expect(row[0] == "1", "checksum status of segment \(index): \(row[0]) (1 = good)")
      #expect(row[1] == String(0xFFFF_FFE0 &+ UInt32(index)))
      #expect(row[2] == String(50_000 + index))
      #expect(UInt32(row[3].dropFirst(2), radix: 16) == UInt32(index) * 0x4001 & 0xF_FFFF)
      #expect(row[4] == "43")  // 40 bytes of TCP header and options, 3 of payload
    }
  }
}
