import Foundation
import Testing
import TestSupport
@testable import PacketKit

/// IPv6 in the link types that carry it besides Ethernet and LINKTYPE_RAW: LINKTYPE_IPV6 (229),
/// Linux cooked captures (SLL 113, SLL2 276) and BSD loopback (NULL with a BSD AF_INET6). The
/// files are written by scapy; each record and every truncation of it must print as
/// `tcpdump -nn -S -t -r` prints it, and dissect into the expected layers.
/// The files: Tests/FixtureTools/make_ipv6_linktype_fixtures.py (scapy's `wrpcap`).
@Suite struct IPv6LinkTypeTests {
  static let toolsAvailable = FormatTools.path("tcpdump") != nil

  /// The scapy files (Fixtures/IPv6LinkTypeFixtures.swift), read back.
  static func scapyFiles() throws -> [(name: String, linkType: LinkType?, records: [PcapRecord])] {
    var files: [(String, LinkType?, [PcapRecord])] = []
    for (name, file) in [("ipv6", ipv6LinkTypeFile), ("sll", sllIPv6File), ("sll2", sll2IPv6File), ("null", nullIPv6File)] {
      let (header, records) = try PcapReader.read(file)
      files.append((name, header.linkType, records))
    }
    return files
  }

  @Test(.enabled(if: toolsAvailable, "needs tcpdump"))
  func everyRecordAndEveryCutPrintsAsTcpdump() throws {
    let expected: [String: LinkType] = ["ipv6": .ipv6, "sll": .linuxSLL, "sll2": .linuxSLL2, "null": .null]
    let names = SummaryTcpdumpTests.interfaceNames()
    for (name, linkType, records) in try Self.scapyFiles() {
      #expect(linkType == expected[name], "\(name)")
      guard let linkType else { continue }
      #expect(records.count == 6, "\(name)")
      // Every record, cut at every length (as the other differential tests cut: the cut is the
      // whole packet on the wire, so tcpdump's wire-length checks see what the printer sees).
      var cuts: [PcapRecord] = []
      for record in records {
        for length in 1...record.data.count {
          cuts.append(PcapRecord(data: Array(record.data[..<length])))
        }
      }
      let path = try FormatTools.writeTemporary(PcapWriter.file(linkType: linkType, records: cuts), suffix: ".pcap")
      defer { try? FileManager.default.removeItem(atPath: path) }
      let output = try FormatTools.run("tcpdump", ["-nn", "-S", "-t", "-r", path])
      #expect(output.status == 0, "\(output.stderr)")
      #expect(output.stderr.contains("link-type \(linkType.tcpdumpName) "), "\(output.stderr)")
      #expect(output.lines.count == cuts.count, "\(name)")
      var mismatches: [String] = []
      for (cut, line) in zip(cuts, output.lines) {
        let ours = tcpdumpSummary(cut.data[...], linkType: linkType, interfaceNames: names)
        if ours != line {
          mismatches.append("\(name) cut \(cut.data.count)/\(cut.originalLength):\n  tcpdump: \(line)\n  ours:    \(ours)")
        }
      }
      #expect(mismatches.isEmpty, "\(mismatches.count) of \(cuts.count) differ:\n\(mismatches.prefix(20).joined(separator: "\n"))")
      // The whole records decode to IPv6 lines (not "ethertype IPv6" or "AF 24").
      for record in records {
        #expect(tcpdumpSummary(record.data[...], linkType: linkType, interfaceNames: names).contains("IP6 "), "\(name)")
      }
    }
  }

  @Test
  func scapyFramesDissectIntoIPv6Layers() throws {
    let link: [String: [DissectedLayer.Kind]] = ["ipv6": [], "sll": [.linuxSLL], "sll2": [.linuxSLL], "null": [.null]]
    let transport: [[DissectedLayer.Kind]] = [
      [.ipv6, .tcp], [.ipv6, .tcp, .payload], [.ipv6, .udp, .payload], [.ipv6, .icmpv6, .payload],
      [.ipv6, .ipv6Extension, .tcp], [.ipv6, .ipv6Extension, .icmpv6, .payload],
    ]
    for (name, linkType, records) in try Self.scapyFiles() {
      let linkType = try #require(linkType)
      for (record, layers) in zip(records, transport) {
        let dissection = dissect(record.data, linkType: linkType)
        let kinds = dissection.layers.map(\.kind)
        #expect(kinds == (link[name] ?? []) + layers, "\(name): \(dissection.layers)")
        #expect(!dissection.isMalformed, "\(name): \(dissection.problems)")
        // The layers tile the frame, and no cut traps or loses bytes.
        #expect(dissection.layers.last?.range.upperBound == record.data.count)
        for length in 0..<record.data.count {
          let cut = dissect(Array(record.data[..<length]), linkType: linkType)
          #expect((cut.layers.last?.range.upperBound ?? 0) == length, "\(name) cut \(length)")
        }
      }
    }
  }

  @Test func linkTypeIPv6ReadsTheVersionNibble() throws {
    let ip4 = try (IPv4Header(sourceAddress: IPv4Address(10, 0, 0, 1), destinationAddress: IPv4Address(10, 0, 0, 2))
      / TCPHeader(sourcePort: 1, destinationPort: 2)).encoded()
    #expect(dissect(ip4, linkType: .ipv6).layers.map(\.kind) == [.ipv4, .tcp])
    // Neither 4 nor 6: one raw layer saying why (as LINKTYPE_RAW does).
    let bad = dissect([0x50, 0, 0, 0], linkType: .ipv6)
    #expect(bad.layers.map(\.kind) == [.raw(expected: nil, reason: .invalidField(layer: .ipv4, field: "version", value: 5))])
    #expect(bad.layers.last?.range == 0..<4)
    #expect(LinkType(rawValue: 229) == .ipv6)
    #expect(LinkType.ipv6.tcpdumpName == "IPV6")
  }

  @Test func pcapRoundTripKeepsLinkTypeIPv6() throws {
    let file = PcapWriter.file(linkType: .ipv6, records: [PcapRecord(data: v6TcpSyn)])
    // The link type field of the global header: 229, little-endian.
    #expect(Array(file[20..<24]) == [229, 0, 0, 0])
    let (header, records) = try PcapReader.read(file)
    #expect(header.linkType == .ipv6)
    #expect(records.map(\.data) == [v6TcpSyn])
    #expect(dissect(records[0].data, linkType: .ipv6).summary
      == "IP6 ::1.40000 > ::1.8080: Flags [S], seq 1000, win 65535, options [mss 1440,nop,wscale 7], length 0")
  }
}
