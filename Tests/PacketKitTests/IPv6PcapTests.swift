import Foundation
import Testing
import TestSupport
@testable import PacketKit

/// IPv6 packets built by PacketKit, written to a pcap file by PacketKit, read by tcpdump: the
/// lines are the ones tcpdump printed for scapy's packets; and PacketKit reads the file back.
@Suite struct IPv6PcapTests {
  @Test(.enabled(if: FormatTools.path("tcpdump") != nil, "needs tcpdump"))
  func pcapOutReadByTcpdumpAndBackIn() throws {
    let names = ipv6Fixtures.keys.sorted()
    // Our encoding of each case (ipv6BuildCases equal the fixtures byte for byte; see IPv6Tests).
    var packets: [[UInt8]] = []
    for name in names {
      let fixture = try #require(ipv6Fixtures[name])
      let built = try #require(ipv6BuildCases.first { $0.bytes == fixture }, "\(name)")
      packets.append(try built.packet.encoded())
    }
    let records = packets.enumerated().map { PcapRecord(data: $0.element, timestampSeconds: 1_700_000_000 + UInt32($0.offset)) }
    let file = PcapWriter.file(linkType: .raw, precision: .nanoseconds, records: records)
    let path = try FormatTools.writeTemporary(file, suffix: ".pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
    #expect(output.status == 0, "\(output.stderr)")
    #expect(output.lines == names.map { ipv6TcpdumpLines[$0] ?? "?" })
    let (header, readBack) = try PcapReader.read(file)
    #expect(header.linkType == .raw)
    #expect(readBack.map(\.data) == packets)
  }
}
