// The IPv6 catalog as values (no privileges): every case builds IPv6 packets ours to the target, names
// are unique and distinct from the IPv4 catalog's, and the RFC basis is given.
import PacketKit
import Testing
@testable import TCPScript

@Suite("IPv6 edge-case catalog")
struct EdgeCaseIPv6Tests {
  static let context = CraftContext(
    source: Endpoint(address: .v6(IPv6Address("fd00::99")), port: 40_000),
    destination: Endpoint(address: .v6(IPv6Address("fd00::2")), port: 8080), sequence: 1000,
    acknowledgment: 5000, identification: 0x1234)

  @Test("Names are unique, IPv6 only, distinct from the IPv4 catalog; each case names its RFC and strength")
  func names() {
    let names = EdgeCaseCatalog.ipv6.map(\.name)
    #expect(Set(names).count == names.count)
    #expect(Set(names).isDisjoint(with: EdgeCaseCatalog.all.map(\.name)))
    #expect(names.count >= 60)
    for edgeCase in EdgeCaseCatalog.ipv6 {
      #expect(edgeCase.family == .ipv6 && edgeCase.rfc.hasPrefix("RFC ") && !edgeCase.rule.isEmpty, "\(edgeCase.name)")
      #expect(edgeCase.name.hasPrefix("ip6-") || edgeCase.name.hasPrefix("tcp6-"))
      #expect(EdgeCaseCatalog.namedIPv6(edgeCase.name) != nil && EdgeCaseCatalog.named(edgeCase.name) == nil)
    }
    // RFC 8200 action bits, RFC 7112, 5722, 6946, 5095 and RFC 8504's limits are all there.
    for rfc in ["RFC 8200 §4.2", "RFC 7112", "RFC 5722", "RFC 6946", "RFC 5095", "RFC 8504"] {
      #expect(EdgeCaseCatalog.ipv6.contains { $0.rfc.contains(rfc) }, "\(rfc)")
    }
  }

  @Test("Every IPv6 case's packets are IPv6 packets from our address to the target's")
  func packets() throws {
    for edgeCase in EdgeCaseCatalog.ipv6 {
      let bytes = try edgeCase.craft(Self.context).encoded()
      #expect(!bytes.isEmpty, "\(edgeCase.name) sends something")
      for packet in bytes {
        let ip = try IPv6View(validating: packet[...])
        #expect(ip.sourceAddress == IPv6Address("fd00::99") && ip.destinationAddress == IPv6Address("fd00::2"), "\(edgeCase.name)")
      }
    }
  }

  @Test("The TCP twins keep their IPv4 case's rule and expectation; their checksum is right for IPv6 but in tcp6-bad-checksum")
  func twins() throws {
    for name in ["closed-syn", "listen-syn", "listen-syn-fin", "tcp-option-length-0-long", "tcp-data-offset-short", "est-rst-in-window", "est-paws-old-timestamp"] {
      let original = try #require(EdgeCaseCatalog.named(name))
      let twinName = name.hasPrefix("tcp-") ? "tcp6-" + name.dropFirst(4) : "tcp6-" + name
      let twin = try #require(EdgeCaseCatalog.namedIPv6(twinName), "\(twinName)")
      #expect(twin.expected == original.expected && twin.rfc == original.rfc && twin.rule == original.rule)
      #expect(twin.allowedDrop == original.allowedDrop && twin.setup == original.setup)
    }
    // SYN data and window scale have twins too, run on Flows over IPv6 (window scale reads the
    // target's socket through inet_diag for AF_INET6).
    #expect(EdgeCaseCatalog.namedIPv6("tcp6-window-scale-15")?.expected == .windowScaleClamped)
    #expect(EdgeCaseCatalog.namedIPv6("tcp6-listen-syn-data")?.expected == .synDataQueued)
    #expect(IPv6ProbeRunner.runsOnFlow(try #require(EdgeCaseCatalog.namedIPv6("tcp6-window-scale-15"))))
    #expect(EdgeCaseCatalog.ipv6.filter { $0.name.hasPrefix("tcp6-est-") }.count >= 20)
    func checksumValid(_ name: String) throws -> Bool {
      let packet = try #require(try EdgeCaseCatalog.namedIPv6(name)?.craft(Self.context).encoded().first)
      let ip = try IPv6View(validating: packet[...])
      var sum = InternetChecksum()
      sum.add(ip.sourceAddress.octets)
      sum.add(ip.destinationAddress.octets)
      sum.add([0, 0, UInt8(ip.payload.count >> 8), UInt8(ip.payload.count & 0xFF), 0, 0, 0, 6])
      sum.add(Array(ip.payload))
      return sum.finalized == 0
    }
    #expect(try checksumValid("tcp6-listen-syn"))
    #expect(try checksumValid("tcp6-listen-syn-fin"))
    #expect(try !checksumValid("tcp6-bad-checksum"))
  }
}
