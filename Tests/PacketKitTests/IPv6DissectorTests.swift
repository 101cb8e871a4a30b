import Testing
@testable import PacketKit

/// The dissector on IPv6: layers tile every frame, checksums verify over the IPv6 pseudo-header
/// (with a routing header's final destination), a bad one is reported with the correct value,
/// and no truncation or mutant traps.
@Suite struct IPv6DissectorTests {
  static let names = ipv6Fixtures.keys.sorted()

  static func tiles(_ dissection: Dissection, _ count: Int) -> Bool {
    var at = 0
    for layer in dissection.layers {
      guard layer.range.lowerBound == at else { return false }
      at = layer.range.upperBound
    }
    return at == count
  }

  @Test(arguments: names)
  func fixturesDissectCleanly(name: String) throws {
    let bytes = try #require(ipv6Fixtures[name])
    let dissection = dissect(bytes, linkType: .raw)
    #expect(Self.tiles(dissection, bytes.count), "\(name): \(dissection.layers)")
    #expect(dissection.problems.isEmpty, "\(name): \(dissection.problems)")
    #expect(!dissection.layers.contains { if case .raw = $0.kind { true } else { false } }, "\(name)")
    #expect(dissection.layers.first?.kind == .ipv6)
    // Behind Ethernet too.
    let framed = dissect([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xDD] + bytes, linkType: .ethernet)
    #expect(framed.layers.map(\.kind) == [.ethernet] + dissection.layers.map(\.kind))
  }

  @Test func layerKinds() {
    #expect(dissect(v6TcpData, linkType: .raw).layers.map(\.kind) == [.ipv6, .tcp, .payload])
    #expect(dissect(v6RoutingType0, linkType: .raw).layers.map(\.kind) == [.ipv6, .ipv6Extension, .tcp])
    #expect(dissect(v6FragmentLater, linkType: .raw).layers.map(\.kind) == [.ipv6, .ipv6Extension, .payload])
    let tooBig = dissect(v6PacketTooBig, linkType: .raw).layers
    #expect(tooBig.map(\.kind) == [.ipv6, .icmpv6, .ipv6, .tcp])
    #expect(tooBig.map(\.isQuoted) == [false, false, true, true])
  }

  @Test func badChecksumIsReportedWithTheCorrectValue() {
    var bytes = v6RoutingType0
    let checksumAt = 40 + 40 + 16
    let correct = UInt16(bytes[checksumAt]) << 8 | UInt16(bytes[checksumAt + 1])
    bytes[checksumAt] ^= 0xFF
    let problems = dissect(bytes, linkType: .raw).problems
    #expect(problems.contains { if case .badChecksum(.tcp, _, correct) = $0 { true } else { false } }, "\(problems)")
  }

  @Test(arguments: names)
  func everyTruncationTiles(name: String) throws {
    let bytes = try #require(ipv6Fixtures[name])
    for length in 0..<bytes.count {
      let prefix = Array(bytes[..<length])
      #expect(Self.tiles(dissect(prefix, linkType: .raw), length), "\(name) cut at \(length)")
    }
  }

  @Test func mutantsTile() {
    for mutant in ipv6Mutants(seed: 0xd6) {
      let dissection = dissect(mutant, linkType: .raw)
      #expect(Self.tiles(dissection, mutant.count))
      _ = dissection.show()
    }
  }
}
