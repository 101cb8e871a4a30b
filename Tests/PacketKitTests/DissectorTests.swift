import Foundation
import PacketKit
import Testing

private func fixture(_ label: String) -> [UInt8] {
  FormatTools.bytes(hex: formatTcpdumpFixtures.first { $0.label == label }?.hex ?? "")
}

private func kinds(_ dissection: Dissection) -> [String] {
  dissection.layers.map { ($0.isQuoted ? "q:" : "") + $0.name }
}

@Suite("Dissector")
struct DissectorTests {
  /// Layers tile the frame exactly: nothing lost, nothing counted twice.
  static func expectTiling(_ dissection: Dissection, _ context: String) {
    var position = 0
    for layer in dissection.layers {
      #expect(layer.range.lowerBound == position, "\(context): gap or overlap at \(position)")
      #expect(layer.range.upperBound >= layer.range.lowerBound)
      position = layer.range.upperBound
    }
    #expect(position == dissection.bytes.count, "\(context): layers end at \(position) of \(dissection.bytes.count)")
  }

  @Test(arguments: [LinkType.ethernet, .raw, .ipv4, .null, .linuxSLL, .linuxSLL2])
  func everyFixtureAndEveryPrefixTilesAndNeverTraps(linkType: LinkType) {
    for (label, hex) in formatTcpdumpFixtures {
      let frame = FormatTools.frame(FormatTools.bytes(hex: hex), linkType: linkType)
      for length in 0...frame.count {
        // A slice with a non-zero start index, as the style guide asks.
        let padded = [0xEE, 0xEE, 0xEE] + frame.prefix(length)
        let dissection = dissect(padded[3...], linkType: linkType)
        Self.expectTiling(dissection, "\(label) [..<\(length)]")
        _ = dissection.summary
        _ = dissection.show()
      }
    }
  }

  @Test("decode → encode gives back the same bytes", arguments: [LinkType.ethernet, .ipv4])
  func roundTrip(linkType: LinkType) throws {
    var failures: [String] = []
    for (label, hex) in formatTcpdumpFixtures {
      let frame = FormatTools.frame(FormatTools.bytes(hex: hex), linkType: linkType)
      let dissection = dissect(frame, linkType: linkType)
      guard let packet = dissection.packet else {
        failures.append("\(label): no packet")
        continue
      }
      do {
        let encoded = try packet.encoded()
        if encoded != frame { failures.append("\(label): \(encoded.count) bytes vs \(frame.count)") }
      } catch {
        failures.append("\(label): \(error)")
      }
    }
    #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
  }

  @Test func wellFormedPacketsHaveNoProblems() {
    for label in ["syn classic", "synack opts", "data", "sack 3", "udp", "echo req", "unreach port",
                  "time exceeded", "tcp frag 1", "ip options rr", "udp zero cksum"] {
      let dissection = dissect(fixture(label), linkType: .ipv4)
      #expect(dissection.problems.isEmpty, "\(label): \(dissection.problems)")
      #expect(dissection.summary == dissection.tcpdumpLine, "\(label)")
    }
  }

  @Test func layersOfATCPSegmentWithData() throws {
    let dissection = dissect(FormatTools.frame(fixture("data"), linkType: .ethernet), linkType: .ethernet)
    #expect(kinds(dissection) == ["Ethernet", "IPv4", "TCP", "Payload"])
    let tcp = try #require(dissection.tcp)
    #expect(tcp.sequenceNumber == 4_294_967_290)
    #expect(Array(tcp.payload) == Array("0123456789".utf8))
    #expect(dissection.payload.map(Array.init) == Array("0123456789".utf8))
    #expect(dissection.ipv4?.sourceAddress.description == "10.1.2.3")
    #expect(dissection.ethernet?.etherType == .ipv4)
    #expect(summary(ipv4: try #require(dissection.ipv4), tcp: tcp) == dissection.summary)
  }

  @Test func icmpErrorQuotesTheDatagram() throws {
    let dissection = dissect(fixture("unreach port"), linkType: .ipv4)
    #expect(kinds(dissection) == ["IPv4", "ICMP", "q:IPv4", "q:UDP"])
    #expect(dissection.problems.isEmpty)
    let full = dissect(fixture("unreach full tcp"), linkType: .ipv4)
    #expect(kinds(full) == ["IPv4", "ICMP", "q:IPv4", "q:TCP"])
    let short = dissect(fixture("unreach host"), linkType: .ipv4)  // only 8 bytes of the TCP header
    #expect(kinds(short) == ["IPv4", "ICMP", "q:IPv4", "q:Raw"])
    #expect(short.problems.isEmpty, "a quote is short by design: not a problem")
  }

  @Test func fragmentsAreNotParsedPastTheFirst() {
    #expect(kinds(dissect(fixture("tcp frag 0"), linkType: .ipv4)) == ["IPv4", "TCP", "Payload"])
    #expect(kinds(dissect(fixture("tcp frag 1"), linkType: .ipv4)) == ["IPv4", "Payload"])
    #expect(kinds(dissect(fixture("udp frag 2"), linkType: .ipv4)) == ["IPv4", "Payload"])
    // First fragment: its checksum covers bytes elsewhere, so it is not judged.
    #expect(dissect(fixture("tcp frag 0"), linkType: .ipv4).problems.isEmpty)
  }

  @Test func malformedPacketsSayWhatIsWrong() {
    func problems(_ label: String) -> [DissectionProblem] { dissect(fixture(label), linkType: .ipv4).problems }
    #expect(problems("dataofs beyond") == [.dataOffsetBeyondSegment(headerLength: 60, segmentLength: 20)])
    #expect(problems("dataofs 4") == [.invalidField(layer: .tcp, field: "data offset", value: 4)])
    #expect(problems("opt len 0") == [.badOption(layer: .tcp, kind: 2, length: 0, offset: 0, available: 4)])
    #expect(problems("opt overrun") == [.badOption(layer: .tcp, kind: 8, length: 10, offset: 2, available: 2)])
    #expect(problems("ihl 4") == [.invalidField(layer: .ipv4, field: "ihl", value: 4)])
    #expect(problems("ip total length lt ihl").contains(.invalidField(layer: .ipv4, field: "total length", value: 12)))
    #expect(problems("ip total length long").contains(.lengthExceedsData(layer: .ipv4, length: 60, available: 40)))
    #expect(problems("trailing bytes") == [.lengthShorterThanData(layer: .ipv4, length: 40, available: 46)])
    #expect(problems("udp len big").contains(.lengthExceedsData(layer: .udp, length: 100, available: 13)))
    #expect(problems("udp len lt8").contains(.invalidField(layer: .udp, field: "length", value: 4)))
    #expect(problems("tcp truncated 3") .contains(.truncated(layer: .tcp, needed: 20, available: 3)))
    #expect(problems("ip truncated 10") == [.truncated(layer: .ipv4, needed: 20, available: 10)])
    // Every malformed line says so after the tcpdump text.
    let line = dissect(fixture("bad tcp cksum"), linkType: .ipv4).summary
    #expect(line == "IP 10.1.2.3.40000 > 192.168.7.9.5555: Flags [S], seq 1, win 8192, length 0 [bad tcp cksum 0x1234 -> 0x0a39]")
  }

  @Test func replacingABadChecksumWithTheReportedValueFixesIt() {
    for (label, hex) in formatTcpdumpFixtures {
      var bytes = FormatTools.bytes(hex: hex)
      let dissection = dissect(bytes, linkType: .ipv4)
      for problem in dissection.problems {
        guard case .badChecksum(let layer, _, let correct) = problem else { continue }
        let start = dissection.layers.first { !$0.isQuoted && $0.kind == kind(layer) }?.range.lowerBound ?? 0
        let offset = start + [ProtocolLayer.ipv4: 10, .tcp: 16, .udp: 6, .icmpv4: 2][layer, default: 0]
        bytes[offset] = UInt8(correct >> 8)
        bytes[offset + 1] = UInt8(correct & 0xFF)
        let fixed = dissect(bytes, linkType: .ipv4).problems
        #expect(!fixed.contains { if case .badChecksum(layer, _, _) = $0 { true } else { false } }, "\(label)")
      }
    }
    func kind(_ layer: ProtocolLayer) -> DissectedLayer.Kind {
      switch layer {
      case .tcp: .tcp
      case .udp: .udp
      case .icmpv4: .icmpv4
      default: .ipv4
      }
    }
  }

  /// Our bad-checksum reports against `tcpdump -vv`'s ("bad cksum", "incorrect ->", "wrong icmp
  /// cksum", "bad udp cksum"), packet by packet.
  @Test func badChecksumsAgreeWithTcpdumpVerbose() throws {
    try #require(FormatTools.path("tcpdump") != nil)
    let frames = formatTcpdumpFixtures.map { FormatTools.bytes(hex: $0.hex) }
    let file = PcapWriter.file(linkType: .ipv4, records: frames.map { PcapRecord(data: $0) })
    let path = try FormatTools.writeTemporary(file, suffix: "verbose.pcap")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = try FormatTools.run("tcpdump", ["-vv", "-nn", "-S", "-r", path])
    var records: [[String]] = []
    for line in output.lines {
      if line.first?.isWhitespace == false { records.append([line]) } else if !records.isEmpty { records[records.count - 1].append(line) }
    }
    try #require(records.count == frames.count)
    func capture(_ pattern: String, _ text: String) -> (UInt16, UInt16)? {
      guard let regex = try? NSRegularExpression(pattern: pattern),
        let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
        let a = Range(match.range(at: 1), in: text), let b = Range(match.range(at: 2), in: text)
      else { return nil }
      return (UInt16(text[a], radix: 16) ?? 0, UInt16(text[b], radix: 16) ?? 0)
    }
    var compared = 0
    for (index, record) in records.enumerated() {
      let label = formatTcpdumpFixtures[index].label
      // tcpdump stops before its checksum check on these; we still judge the header.
      if record[0].contains("bad-len") || record[0].contains("bad-hlen") { continue }
      var theirs: [String] = []
      if let (stored, correct) = capture("bad cksum ([0-9a-f]+) \\(->([0-9a-f]+)\\)!", record[0]) {
        theirs.append("ip \(stored) \(correct)")
      }
      let rest = record.joined(separator: "\n")
      if let (stored, correct) = capture("cksum 0x([0-9a-f]{4}) \\(incorrect -> 0x([0-9a-f]{4})\\)", rest) {
        theirs.append("tcp \(stored) \(correct)")
      }
      if let (stored, correct) = capture("wrong icmp cksum ([0-9a-f]+) \\(->([0-9a-f]+)\\)!", rest) {
        theirs.append("icmp \(stored) \(correct)")
      }
      if let (stored, correct) = capture("bad udp cksum 0x([0-9a-f]{4}) -> 0x([0-9a-f]{4})!", rest) {
        theirs.append("udp \(stored) \(correct)")
      }
      let ours = dissect(frames[index], linkType: .ipv4).problems.compactMap { problem -> String? in
        guard case .badChecksum(let layer, let stored, let correct) = problem else { return nil }
        return "\(layer.shortName) \(stored) \(correct)"
      }
      compared += theirs.count
      #expect(ours.sorted() == theirs.sorted(), "\(label): tcpdump \(theirs) ours \(ours)\n\(rest)")
    }
    #expect(compared >= 5, "the fixtures hold bad checksums of every kind")
  }

  @Test func partialChecksumsAreNotBadWhenTheKernelSaysSo() throws {
    // A SYN whose checksum field holds only the pseudo-header sum, as the kernel leaves it
    // (CHECKSUM_PARTIAL): 127.0.0.1 → 127.0.0.1, proto 6, TCP length 20 → 0xfe1e + ... folded.
    var bytes = fixture("zero ports")
    // Pseudo-header sum of 10.1.2.3 > 192.168.7.9, proto 6, length 20, folded (not complemented).
    var sum: UInt32 = 0x0A01 + 0x0203 + 0xC0A8 + 0x0709 + 6 + 20
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    bytes[36] = UInt8(sum >> 8)
    bytes[37] = UInt8(sum & 0xFF)
    let strict = dissect(bytes, linkType: .ipv4)
    #expect(strict.problems.contains { if case .badChecksum(.tcp, _, _) = $0 { true } else { false } })
    let lenient = dissect(bytes, linkType: .ipv4, options: DissectionOptions(checksumNotReady: true))
    #expect(lenient.problems == [.checksumPartial(layer: .tcp, stored: UInt16(sum))])
    #expect(!lenient.isMalformed)
    #expect(lenient.summary == lenient.tcpdumpLine)
    // Any other wrong value is still bad, flag or not.
    bytes[37] ^= 0x01
    let other = dissect(bytes, linkType: .ipv4, options: DissectionOptions(checksumNotReady: true))
    #expect(other.isMalformed)
  }

  @Test func otherLinkTypes() {
    let packet = fixture("syn classic")
    for linkType in [LinkType.null, .linuxSLL, .linuxSLL2, .raw] {
      let dissection = dissect(FormatTools.frame(packet, linkType: linkType), linkType: linkType)
      #expect(dissection.tcp?.destinationPort == 8080, "\(linkType)")
      #expect(dissection.problems.isEmpty)
    }
    // A big-endian BSD loopback header (family 2 stored big-endian) works too.
    #expect(dissect([0, 0, 0, 2] + packet, linkType: .null).tcp != nil)
    // Not IPv4: a raw layer with the reason, and tcpdump's header line.
    let arp = FormatTools.bytes(hex: "ffffffffffff 66778899aabb 0806") + Array(repeating: 0, count: 28)
    let dissection = dissect(arp, linkType: .ethernet)
    #expect(kinds(dissection) == ["Ethernet", "Raw"])
    #expect(dissection.summary.hasPrefix("66:77:88:99:aa:bb > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42"))
  }
}
