import Testing
@testable import PacketKit

/// The tcpdump printer on IPv6: lines identical to `tcpdump -nn -S -t` for the scapy corpus
/// (raw IPv6 and behind Ethernet), and no trap at any truncation or mutation.
@Suite struct IPv6SummaryTests {
  static let names = ipv6Fixtures.keys.sorted()

  @Test(arguments: names)
  func lineIsTcpdumps(name: String) throws {
    let bytes = try #require(ipv6Fixtures[name])
    let expected = try #require(ipv6TcpdumpLines[name])
    #expect(tcpdumpSummary(offsetSlice(bytes), linkType: .raw) == expected)
    let ethernet: [UInt8] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xDD]
    #expect(tcpdumpSummary((ethernet + bytes)[...], linkType: .ethernet) == expected)
  }

  @Test(arguments: names)
  func everyTruncationPrintsWithoutTrapping(name: String) throws {
    let bytes = try #require(ipv6Fixtures[name])
    for length in 1..<bytes.count {  // (0 bytes: the raw link's own "truncated-ip 0")
      let line = tcpdumpSummary(offsetSlice(Array(bytes[..<length])), linkType: .raw)
      // As tcpdump: no fixed header, just " [|ip6]"; then "IP6 ..." however short the rest.
      if length < 40 { #expect(line == " [|ip6]") } else { #expect(line.hasPrefix("IP6 ")) }
    }
  }

  @Test func mutantsPrintWithoutTrapping() {
    for mutant in ipv6Mutants(seed: 0x6b6) {
      #expect(tcpdumpSummary(mutant[...], linkType: .raw).hasPrefix("IP6"))
    }
  }
}
