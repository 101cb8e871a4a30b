import Foundation
import PacketKit
import RawSocket
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

  /// This machine's interface names by index (what tcpdump resolves), as `decode` reads them.
  static func interfaceNames() -> [UInt32: String] { NetworkInterfaces.namesByIndex() }

  /// SLL2 lines for an unknown interface index and every packet type.
  @Test func sll2PrefixMatchesTcpdump() throws {
    try #require(FormatTools.path("tcpdump") != nil)
    let packet = FormatTools.bytes(hex: formatTcpdumpFixtures[0].hex)
    var frames: [[UInt8]] = []
    for (index, type) in [(UInt8(0), UInt8(4)), (0x03, 0), (0xE7, 1), (1, 2), (1, 3), (1, 4), (1, 9)] {
      var frame = FormatTools.frame(packet, linkType: .linuxSLL2)
      frame[7] = index
      frame[10] = type
      frames.append(frame)
    }
    let path = try FormatTools.writeTemporary(
      PcapWriter.file(linkType: .linuxSLL2, records: frames.map { PcapRecord(data: $0) }), suffix: "sll2.pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
    let options = DissectionOptions(interfaceNames: Self.interfaceNames())
    #expect(frames.map { dissect($0, linkType: .linuxSLL2, options: options).summary } == output.lines)
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
      let dissection = dissect(frame, linkType: linkType, options: DissectionOptions(interfaceNames: Self.interfaceNames()))
      // LINUX_SLL2: tcpdump starts the line with the interface name (from the index, on this
      // machine) and the direction; PacketKit is told the names.
      let expected = lines[index]
      if dissection.tcpdumpLine != expected {
        mismatches.append("\(label):\n  tcpdump: \(lines[index])\n  ours:    \(dissection.tcpdumpLine)")
      }
      #expect(dissection.summary.hasPrefix(expected), "\(label)")
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) lines differ:\n\(mismatches.joined(separator: "\n"))")
  }
}

/// Every prefix of every fixture (as if the sender's packet were cut anywhere): each line equals
/// tcpdump's for the same bytes. This walks every truncation path of the printer.
@Test("every truncation of every fixture matches tcpdump",
      arguments: [LinkType.ipv4, .ethernet, .null, .linuxSLL, .linuxSLL2])
func everyPrefixMatchesTcpdump(linkType: LinkType) throws {
  try #require(FormatTools.path("tcpdump") != nil)
  var frames: [(label: String, bytes: [UInt8])] = []
  for (label, hex) in formatTcpdumpFixtures where !SummaryTcpdumpTests.knownDifferences[.ipv4, default: []].contains(label) {
    let frame = FormatTools.frame(FormatTools.bytes(hex: hex), linkType: linkType)
    for length in 1..<frame.count { frames.append(("\(label) [..<\(length)]", Array(frame.prefix(length)))) }
  }
  let path = try FormatTools.writeTemporary(
    PcapWriter.file(linkType: linkType, records: frames.map { PcapRecord(data: $0.bytes) }), suffix: "prefix.pcap")
  defer { try? FileManager.default.removeItem(atPath: path) }
  let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path], timeout: 60)
  let lines = output.lines
  try #require(lines.count == frames.count, "\(lines.count) lines for \(frames.count) frames")
  let options = DissectionOptions(interfaceNames: SummaryTcpdumpTests.interfaceNames())
  var mismatches: [String] = []
  for (index, frame) in frames.enumerated() {
    let ours = dissect(frame.bytes, linkType: linkType, options: options).tcpdumpLine
    if ours != lines[index] { mismatches.append("\(frame.label)\n  tcpdump: \(lines[index])\n  ours:    \(ours)") }
  }
  // One example per fixture is enough to read.
  var seen: Set<String> = []
  mismatches = mismatches.filter { seen.insert(String($0.prefix { $0 != "[" })).inserted }
  #expect(mismatches.isEmpty, "\(mismatches.count) of \(frames.count) differ:\n\(mismatches.prefix(40).joined(separator: "\n"))")
}

/// Every prefix of the Ethernet fixtures (application lines, ARP, VLAN tags) against tcpdump.
@Test func everyPrefixOfTheEthernetFixturesMatchesTcpdump() throws {
  try #require(FormatTools.path("tcpdump") != nil)
  var frames: [(label: String, bytes: [UInt8])] = []
  for (label, hex) in formatTcpdumpEthernetFixtures {
    let frame = FormatTools.bytes(hex: hex)
    for length in 1...frame.count { frames.append(("\(label) [..<\(length)]", Array(frame.prefix(length)))) }
  }
  let path = try FormatTools.writeTemporary(
    PcapWriter.file(linkType: .ethernet, records: frames.map { PcapRecord(data: $0.bytes) }), suffix: "eprefix.pcap")
  defer { try? FileManager.default.removeItem(atPath: path) }
  let lines = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path], timeout: 60).lines
  try #require(lines.count == frames.count)
  var mismatches: [String] = []
  for (index, frame) in frames.enumerated() {
    let ours = dissect(frame.bytes, linkType: .ethernet).tcpdumpLine
    if ours != lines[index] { mismatches.append("\(frame.label)\n  tcpdump: \(lines[index])\n  ours:    \(ours)") }
  }
  var seen: Set<String> = []
  mismatches = mismatches.filter { seen.insert(String($0.prefix { $0 != "[" })).inserted }
  #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
}

/// Differential test: fixtures with 1–3 random bytes changed (seeded, so reproducible), as IPv4
/// packets, against tcpdump.
@Test func mutatedFixturesMatchTcpdump() throws {
  try #require(FormatTools.path("tcpdump") != nil)
  var generator = SeededGenerator(seed: 2026)
  var frames: [(label: String, bytes: [UInt8])] = []
  let skip = SummaryTcpdumpTests.knownDifferences[.ipv4, default: []]
  for round in 0..<20000 {
    let (label, hex) = formatTcpdumpFixtures[round % formatTcpdumpFixtures.count]
    guard !skip.contains(label) else { continue }
    var bytes = FormatTools.bytes(hex: hex)
    let changes = 1 + Int(generator.next() % 3)
    var positions: [Int] = []
    for _ in 0..<changes {
      // Mostly header bytes, where the decisions are.
      let limit = min(bytes.count, 64)
      let position = Int(generator.next() % UInt64(limit))
      bytes[position] = UInt8(truncatingIfNeeded: generator.next())
      positions.append(position)
    }
    // IPv6 and IP protocols other than TCP, UDP and ICMP are not decoded by PacketKit.
    guard bytes.first.map({ $0 >> 4 == 4 }) == true, [1, 6, 17].contains(bytes[9]) else { continue }
    frames.append(("\(label) @\(positions)", bytes))
  }
  let path = try FormatTools.writeTemporary(
    PcapWriter.file(linkType: .ipv4, records: frames.map { PcapRecord(data: $0.bytes) }), suffix: "mutated.pcap")
  defer { try? FileManager.default.removeItem(atPath: path) }
  let lines = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path], timeout: 60).lines
  try #require(lines.count == frames.count)
  var mismatches: [String] = []
  for (index, frame) in frames.enumerated() {
    let ours = dissect(frame.bytes, linkType: .ipv4).tcpdumpLine
    // UDP ports tcpdump hands to an application printer (DNS, NTP, SNMP, ...) are not decoded.
    if ours.contains(": UDP, ") && !lines[index].contains("UDP") { continue }
    if ours != lines[index] {
      mismatches.append("\(frame.label) \(frame.bytes.map { String(format: "%02x", $0) }.joined())\n  tcpdump: \(lines[index])\n  ours:    \(ours)")
    }
  }
  #expect(mismatches.isEmpty, "\(mismatches.count) of \(frames.count) differ:\n\(mismatches.prefix(30).joined(separator: "\n"))")
}
