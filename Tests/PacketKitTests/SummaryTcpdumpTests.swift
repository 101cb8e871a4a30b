import Foundation
import PacketKit
import Testing

/// Our summaries against the real tcpdump: the fixture packets (made with scapy, many malformed)
/// are written to a pcap, `tcpdump -nn -S -t -r` prints them, and every line must equal our
/// `tcpdumpLine`; `summary` must start with it (it only adds problem notes).
@Suite("Summaries equal tcpdump -nn -S -t")
struct SummaryTcpdumpTests {
  /// Fixtures whose line legitimately differs for a link type (tcpdump picks the IPv6 printer
  /// from the version nibble on raw links; PacketKit does not decode IPv6).
  static let knownDifferences: [LinkType: Set<String>] = [
    .raw: ["version 6 in v4"],
    .ipv4: ["version 6 in v4"],
  ]

  /// Application lines (HTTP, SSH, SMTP, FTP, RTSP), ARP and Ethernet padding, in Ethernet frames.
  @Test func ethernetFixturesMatchTcpdump() throws {
    try #require(FormatTools.path("tcpdump") != nil)
    let frames = formatTcpdumpEthernetFixtures.map { FormatTools.bytes(hex: $0.hex) }
    let path = try FormatTools.writeTemporary(
      PcapWriter.file(linkType: .ethernet, records: frames.map { PcapRecord(data: $0) }), suffix: "eth.pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
    try #require(output.lines.count == frames.count)
    for (index, frame) in frames.enumerated() {
      let label = formatTcpdumpEthernetFixtures[index].label
      let dissection = dissect(frame, linkType: .ethernet)
      #expect(dissection.tcpdumpLine == output.lines[index], "\(label)")
      #expect(dissection.summary.hasPrefix(output.lines[index]), "\(label)")
    }
    // Zero padding up to 60 bytes is ordinary; anything else after the IPv4 packet is noted.
    let padded = dissect(frames[formatTcpdumpEthernetFixtures.firstIndex { $0.label == "ipv4 padded to 60" }!], linkType: .ethernet)
    #expect(!padded.isMalformed)
    let trailer = dissect(frames[formatTcpdumpEthernetFixtures.firstIndex { $0.label == "ipv4 nonzero trailer" }!], linkType: .ethernet)
    #expect(trailer.problems == [.lengthShorterThanData(layer: .ipv4, length: 40, available: 46)])
  }

  /// "lo    In  IP ..." → "IP ...".
  static func droppingInterfacePrefix(_ line: String) -> String {
    guard let range = line.range(of: "IP") else { return line }
    return String(line[range.lowerBound...])
  }

  @Test(arguments: [LinkType.raw, .ethernet, .null, .linuxSLL, .linuxSLL2, .ipv4])
  func everyFixtureMatchesTcpdump(linkType: LinkType) throws {
    try #require(FormatTools.path("tcpdump") != nil, "tcpdump must be installed (.ci/run installs it)")
    let frames = formatTcpdumpFixtures.map {
      FormatTools.frame(FormatTools.bytes(hex: $0.hex), linkType: linkType)
    }
    let file = PcapWriter.file(
      linkType: linkType,
      records: frames.enumerated().map { PcapRecord(data: $1, timestampSeconds: 1_700_000_000 + UInt32($0)) })
    let path = try FormatTools.writeTemporary(file, suffix: "summary.pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
    #expect(output.status == 0, "tcpdump failed: \(output.stderr)")
    let lines = output.lines
    try #require(lines.count == frames.count, "tcpdump printed \(lines.count) lines for \(frames.count) frames")
    let skip = Self.knownDifferences[linkType] ?? []
    var mismatches: [String] = []
    for (index, frame) in frames.enumerated() {
      let label = formatTcpdumpFixtures[index].label
      guard !skip.contains(label) else { continue }
      let dissection = dissect(frame, linkType: linkType)
      // LINUX_SLL2: tcpdump starts the line with the interface name (from the index, on this
      // machine) and the direction; PacketKit (no syscalls) cannot know the name.
      let expected = linkType == .linuxSLL2 ? Self.droppingInterfacePrefix(lines[index]) : lines[index]
      if dissection.tcpdumpLine != expected {
        mismatches.append("\(label):\n  tcpdump: \(lines[index])\n  ours:    \(dissection.tcpdumpLine)")
      }
      #expect(dissection.summary.hasPrefix(expected), "\(label)")
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) lines differ:\n\(mismatches.joined(separator: "\n"))")
  }
}
