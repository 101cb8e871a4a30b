import Foundation
@testable import PacketKit
import Testing

/// `dissect` takes a fast path for plain TCP/IPv4 frames and keeps problem-free layers in a
/// compact form. Neither may change a result: these tests compare the fast path with the general
/// path, and the compact form with the array form, on every fixture, every prefix of every
/// fixture, and mutated frames.
@Suite("Dissect fast path and compact layers")
struct DissectFastPathTests {
  static let linkTypes: [LinkType] = [.ethernet, .raw, .ipv4, .null, .linuxSLL, .linuxSLL2]

  /// Both paths on `frame`; a description of the first difference, or nil.
  static func difference(_ frame: ArraySlice<UInt8>, _ linkType: LinkType, verify: Bool = true) -> String? {
    let options = DissectionOptions(verifyChecksums: verify)
    let fast = dissect(frame, linkType: linkType, options: options, allowFastPath: true)
    let general = dissect(frame, linkType: linkType, options: options, allowFastPath: false)
    guard Array(fast.layers) == Array(general.layers) else {
      return "layers differ: fast \(Array(fast.layers)) vs general \(Array(general.layers))"
    }
    guard fast.layers == general.layers, fast.layers.hashValue == general.layers.hashValue else {
      return "DissectedLayers == or hash disagree with the elements"
    }
    guard fast.problems == general.problems, fast.summary == general.summary else {
      return "problems or summary differ"
    }
    return nil
  }

  @Test("fast path = general path on every prefix of every fixture", arguments: linkTypes)
  func everyPrefix(linkType: LinkType) {
    var failures: [String] = []
    for (label, hex) in formatTcpdumpFixtures + formatTcpdumpEthernetFixtures {
      let frame = FormatTools.frame(FormatTools.bytes(hex: hex), linkType: linkType)
      for length in 0...frame.count {
        let padded = [0xEE, 0xEE] + frame.prefix(length)
        for verify in [true, false] {
          if let difference = Self.difference(padded[2...], linkType, verify: verify) {
            failures.append("\(label) [..<\(length)] verify=\(verify): \(difference)")
          }
        }
      }
    }
    #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
  }

  @Test("fast path = general path on 20 000 mutated TCP frames")
  func mutatedFrames() {
    var generator = SeededGenerator(seed: 0x7C9C_2026)
    let tcpFrames = (formatTcpdumpFixtures + formatTcpdumpEthernetFixtures)
      .map { FormatTools.bytes(hex: $0.hex) }
      .filter { dissect($0, linkType: .raw).layers.contains { $0.kind == .tcp } }
    #expect(tcpFrames.count >= 5)
    var failures: [String] = []
    var plain = 0
    for round in 0..<20_000 {
      var frame = tcpFrames[round % tcpFrames.count]
      // Flip 1...3 bytes, biased to the headers (the first 64 bytes).
      for _ in 0...(generator.next() % 3) {
        let at = Int(generator.next() % UInt64(min(frame.count, 64)))
        frame[at] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
      }
      if dissect(frame, linkType: .raw).problems.isEmpty { plain += 1 }
      // Without checksum verification every mutation reaches the structural checks.
      for verify in [true, false] {
        if let difference = Self.difference(frame[...], .raw, verify: verify) {
          failures.append("round \(round) verify=\(verify) \(frame.map { String($0, radix: 16) }): \(difference)")
        }
      }
    }
    #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
    // Flips that leave a frame clean (the checksum's own bytes swapped, ...) are rare but exist;
    // the point is that most rounds went down the general path with problems.
    #expect(plain < 20_000 / 2)
  }

  @Test("a clean SYN takes the compact form; problems, raw layers, long frames and many layers spill")
  func compactAndSpilled() throws {
    let syn = FormatTools.bytes(hex: formatTcpdumpFixtures[0].hex)
    let clean = dissect(syn, linkType: .ipv4)
    #expect(clean.problems.isEmpty)
    #expect(clean.layers.spilled == nil, "a clean SYN keeps its layers compact")
    #expect(clean.layers.map(\.kind) == [.ipv4, .tcp] || clean.layers.map(\.kind) == [.ipv4, .tcp, .payload])

    var bad = syn
    bad[bad.count - 1] ^= 0xFF
    if bad.count == 40 { bad[36] ^= 0x01 }  // options or window: the TCP checksum breaks either way
    let broken = dissect(bad, linkType: .ipv4)
    #expect(!broken.problems.isEmpty)
    #expect(broken.layers.spilled != nil)

    // Nine VLAN tags: more layers than the compact form holds.
    let ethernet = FormatTools.frame(syn, linkType: .ethernet)
    var tagged = Array(ethernet[0..<12])
    for _ in 0..<9 { tagged += [0x81, 0x00, 0x00, 0x01] }
    tagged += ethernet[12...]
    let many = dissect(tagged, linkType: .ethernet)
    #expect(many.layers.count >= 12)
    #expect(many.layers.spilled != nil)
    #expect(Self.difference(tagged[...], .ethernet) == nil)
    DissectorTests.expectTiling(many, "nine VLAN tags")

    // A frame longer than 65535 bytes: the trailer ends past what 16 bits hold.
    let long = syn + [UInt8](repeating: 0, count: 70_000)
    let longDissection = dissect(long, linkType: .ipv4)
    #expect(longDissection.layers.last?.range.upperBound == long.count)
    #expect(longDissection.layers.spilled != nil)
    DissectorTests.expectTiling(longDissection, "70 000-byte frame")
  }

  @Test("fast path = general path behind 0...7 VLAN tags (the compact words fill up and spill)")
  func vlanStacks() {
    let syn = FormatTools.bytes(hex: formatTcpdumpFixtures[0].hex) + Array("data".utf8)
    var withData = syn
    withData[3] = UInt8(syn.count)  // total length 44
    withData[10] = 0
    withData[11] = 0
    // Fix both checksums with the independent RFC 1071 loop, so the frame takes the fast path.
    let ipChecksum = rfc1071(withData[0..<20])
    withData[10] = UInt8(ipChecksum >> 8)
    withData[11] = UInt8(ipChecksum & 0xFF)
    withData[36] = 0
    withData[37] = 0
    let pseudo = Array(withData[12..<20]) + [0, 6, 0, UInt8(withData.count - 20)]
    let tcpChecksum = rfc1071(pseudo + withData[20...])
    withData[36] = UInt8(tcpChecksum >> 8)
    withData[37] = UInt8(tcpChecksum & 0xFF)
    #expect(dissect(withData, linkType: .ipv4).problems.isEmpty)
    let ethernet = FormatTools.frame(withData, linkType: .ethernet)
    for tags in 0...7 {
      var frame = Array(ethernet[0..<12])
      for _ in 0..<tags { frame += [0x81, 0x00, 0x00, 0x01] }
      frame += ethernet[12...]
      let kinds = dissect(frame, linkType: .ethernet).layers.map(\.kind)
      #expect(kinds == [.ethernet] + Array(repeating: .vlan, count: tags) + [.ipv4, .tcp, .payload], "\(tags) tags")
      #expect(Self.difference(frame[...], .ethernet) == nil, "\(tags) tags")
    }
  }

  @Test("the compact and the array form of the same layers are equal and hash equal")
  func formsCompare() {
    let layers = [
      DissectedLayer(kind: .ethernet, range: 0..<14), DissectedLayer(kind: .ipv4, range: 14..<34),
      DissectedLayer(kind: .tcp, range: 34..<74), DissectedLayer(kind: .payload, range: 74..<80),
    ]
    var compact = DissectedLayers()
    for layer in layers { compact.append(layer) }
    var spilled = compact
    spilled.spill()
    #expect(compact.spilled == nil)
    #expect(spilled.spilled != nil)
    #expect(compact == spilled)
    #expect(compact.hashValue == spilled.hashValue)
    #expect(Array(compact) == layers)
    #expect(Array(spilled) == layers)
    #expect(compact.first == layers.first && compact.last == layers.last)
    #expect(DissectedLayers().first == nil && DissectedLayers().last == nil && DissectedLayers().isEmpty)
    #expect(DissectedLayers(layers) == compact)
    let literal: DissectedLayers = [DissectedLayer(kind: .ipv4, range: 0..<20), DissectedLayer(kind: .tcp, range: 20..<40)]
    let syn = FormatTools.bytes(hex: formatTcpdumpFixtures[0].hex)
    #expect(syn.count == 40, "the first fixture is a bare 40-byte SYN")
    #expect(dissect(syn, linkType: .ipv4).layers == literal)
    #expect(literal != compact)

    // A layer that does not start where the previous one ends cannot be compact, and is kept.
    var gap = DissectedLayers()
    gap.append(DissectedLayer(kind: .payload, range: 5..<9, isQuoted: true))
    #expect(gap.spilled != nil)
    #expect(Array(gap) == [DissectedLayer(kind: .payload, range: 5..<9, isQuoted: true)])

    // Quoted layers and every compact kind round-trip through the tags.
    let kinds: [DissectedLayer.Kind] = [.null, .ethernet, .vlan, .linuxSLL, .ipv4, .tcp, .udp, .icmpv4]
    var all = DissectedLayers()
    var expected: [DissectedLayer] = []
    for (i, kind) in kinds.enumerated() {
      let layer = DissectedLayer(kind: kind, range: (i * 3)..<(i * 3 + 3), isQuoted: i % 2 == 1)
      all.append(layer)
      expected.append(layer)
    }
    #expect(all.spilled == nil)
    #expect(Array(all) == expected)
    all.append(DissectedLayer(kind: .trailer, range: 24..<30))  // the ninth spills
    expected.append(DissectedLayer(kind: .trailer, range: 24..<30))
    #expect(all.spilled != nil)
    #expect(Array(all) == expected)
  }

  @Test("options without interface names equal the defaults; names survive")
  func optionsNames() {
    #expect(DissectionOptions(interfaceNames: [:]) == DissectionOptions())
    var options = DissectionOptions(interfaceNames: [1: "lo"])
    #expect(options.interfaceNames == [1: "lo"])
    #expect(options != DissectionOptions())
    options.interfaceNames = [:]
    #expect(options == DissectionOptions())
  }
}
