import Foundation
import PacketKit
import Testing

@Suite("show() and hexdump")
struct FormatTests {
  /// Our tcpdump-style hexdumps against tcpdump's own -xx and -XX output for every fixture.
  @Test(arguments: [("-xx", HexdumpStyle.tcpdump), ("-XX", HexdumpStyle.tcpdumpASCII)])
  func hexdumpMatchesTcpdump(flag: String, style: HexdumpStyle) throws {
    try #require(FormatTools.path("tcpdump") != nil)
    let frames = formatTcpdumpFixtures.map { FormatTools.frame(FormatTools.bytes(hex: $0.hex), linkType: .ethernet) }
    let path = try FormatTools.writeTemporary(
      PcapWriter.file(linkType: .ethernet, records: frames.map { PcapRecord(data: $0) }), suffix: "hex.pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = try FormatTools.run("tcpdump", ["-nn", "-t", flag, "-r", path])
    let theirs = output.lines.filter { $0.hasPrefix("\t0x") }
    let ours = frames.flatMap { hexdump($0, style: style).split(separator: "\n").map(String.init) }
    #expect(ours.count == theirs.count)
    for (a, b) in zip(ours, theirs) where a != b {
      Issue.record("ours:    \(a)\ntcpdump: \(b)")
      break
    }
  }

  @Test func scapyHexdump() {
    // scapy 2.8.0: hexdump(IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=40000,dport=5555,flags='PA',seq=1,ack=2)/b'hello world!!')
    let bytes = FormatTools.bytes(hex: "450000350001000040066 6c00a0000010a0000029c4015b300000001000000025018200016d7000068656c6c6f20776f726c642121")
    #expect(hexdump(bytes) == """
      0000  45 00 00 35 00 01 00 00 40 06 66 C0 0A 00 00 01  E..5....@.f.....
      0010  0A 00 00 02 9C 40 15 B3 00 00 00 01 00 00 00 02  .....@..........
      0020  50 18 20 00 16 D7 00 00 68 65 6C 6C 6F 20 77 6F  P. .....hello wo
      0030  72 6C 64 21 21                                   rld!!
      """)
    #expect(hexdump([UInt8]()) == "")
  }

  /// The classic SYN from the issue, built with the DSL, summarised like tcpdump and shown with
  /// its computed fields marked.
  @Test func packetSummaryAndShowMarkComputedFields() throws {
    let packet = IPv4Header(
      sourceAddress: IPv4Address(127, 0, 0, 1), destinationAddress: IPv4Address(127, 0, 0, 1))
      / TCPHeader(
        sourcePort: 57273, destinationPort: 8080, sequenceNumber: 84_347_051, flags: .syn, window: 65535,
        options: [.maximumSegmentSize(16344), .noOperation, .windowScale(5), .noOperation, .noOperation,
                  .timestamps(value: 1_525_310_591, echoReply: 0), .sackPermitted, .endOfOptionList])
    #expect(packet.summary == "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [S], seq 84347051, win 65535, options [mss 16344,nop,wscale 5,nop,nop,TS val 1525310591 ecr 0,sackOK,eol], length 0")
    let shown = packet.show(hexdump: false)
    let lines = shown.split(separator: "\n").map(String.init)
    #expect(lines.contains("###[ IPv4 ]###"))
    #expect(lines.contains("  ihl                  = 5 (20 bytes) (computed)"))
    #expect(lines.contains("  totalLength          = 64 (computed)"))
    #expect(lines.contains("  protocol             = 6 (tcp) (computed)"))
    #expect(lines.contains { $0.hasPrefix("  checksum             = 0x") && $0.hasSuffix("(computed)") })
    #expect(lines.contains("  timeToLive           = 64"))
    #expect(lines.contains("  dataOffset           = 11 (44 bytes) (computed)"))
    #expect(lines.contains("  sequenceNumber       = 84347051"))
    #expect(lines.contains("  options              = [mss 16344, nop, wscale 5, nop, nop, TS val 1525310591 ecr 0, sackOK, eol]"))
    // A checksum set by hand is shown as set, with the verdict.
    var bad = packet
    if case .tcp(var tcp) = bad.layers[1] {
      tcp.checksum = 0x1234
      bad.layers[1] = .tcp(tcp)
    }
    let badLines = bad.show(hexdump: false).split(separator: "\n").map(String.init)
    #expect(badLines.contains { $0.hasPrefix("  checksum             = 0x1234 (bad, should be 0x") })
    #expect(bad.summary.hasSuffix("length 0 [bad tcp cksum 0x1234 -> 0x\(String(format: "%04x", try TCPView(validating: (try packet.encoded())[20...]).checksum))]"))
  }

  @Test func dissectionShowListsEveryLayerAndProblem() {
    let bytes = FormatTools.bytes(hex: formatTcpdumpFixtures.first { $0.label == "unreach port" }!.hex)
    let shown = dissect(bytes, linkType: .ipv4).show()
    #expect(shown.contains("###[ ICMP ]###"))
    #expect(shown.contains("    ###[ IPv4 in ICMP ]###"))
    #expect(shown.contains("    ###[ UDP in ICMP ]###"))
    #expect(shown.contains("  type                 = 3 ("))
    let malformed = dissect(FormatTools.bytes(hex: formatTcpdumpFixtures.first { $0.label == "dataofs beyond" }!.hex), linkType: .ipv4)
    let text = malformed.show()
    #expect(text.contains("###[ Raw ]###"))
    #expect(text.contains("problem              = tcp data offset 15 (60 bytes) beyond the 20-byte segment"))
  }

  /// `show()` names the options tcpdump names (MPTCP, TCP-AO, Fast Open and its experimental
  /// form, user timeout, SCPS, ...) with the summary's own option printer: its options line
  /// lists exactly what the tcpdump line lists.
  @Test func showListsOptionsAsTheSummaryDoes() throws {
    let labels = formatTcpdumpFixtures.map(\.label).filter {
      $0.hasPrefix("mptcp") || $0.hasPrefix("exp ") || $0.hasPrefix("uto") || $0.hasPrefix("tcp-ao")
        || ["tfo opt", "tfo req", "scps opt", "syn classic", "synack opts", "sack 3"].contains($0)
    }
    try #require(labels.count > 30)
    var compared = 0
    for label in labels {
      let hex = try #require(formatTcpdumpFixtures.first { $0.label == label }?.hex)
      let dissection = dissect(FormatTools.bytes(hex: hex), linkType: .ipv4)
      let line = dissection.tcpdumpLine
      // Only whole option lists (no "[bad opt]", no truncation).
      guard let open = line.range(of: "options ["), let close = line.range(of: "], length") else { continue }
      let listed = String(line[open.upperBound..<close.lowerBound])
      let shown = try #require(
        dissection.show().split(separator: "\n").last { $0.contains("options") })
      let shownList = String(shown[shown.index(after: try #require(shown.firstIndex(of: "[")))...].dropLast())
      #expect(shownList.replacingOccurrences(of: ", ", with: ",") == listed, "\(label)")
      compared += 1
    }
    #expect(compared > 25)
    let mptcp = dissect(FormatTools.bytes(hex: try #require(formatTcpdumpFixtures.first { $0.label == "mptcp join syn" }?.hex)), linkType: .ipv4)
    #expect(mptcp.show().contains("[mptcp 12 join backup id 5 token 0xdeadbeef nonce 0x1020304]"))
  }
}
