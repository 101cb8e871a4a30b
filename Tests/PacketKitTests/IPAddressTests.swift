import Testing

@testable import PacketKit

/// `IPAddress`: either family, parsed from text, printed as tcpdump does, bracketed before a port.
@Suite struct IPAddressTests {
  @Test func parsesEitherFamily() throws {
    // Text from outside goes through the failable init (a literal would be a literal).
    func parse(_ text: String) -> IPAddress? { IPAddress(text) }
    #expect(parse("127.0.0.1") == .v4(.loopback))
    #expect(parse("::1") == .v6(.loopback))
    #expect(parse("fd00::1")?.isIPv6 == true)
    #expect(parse("::ffff:10.0.0.1") == .v6(IPv6Address(ipv4Mapped: IPv4Address(10, 0, 0, 1))))
    for bad in ["", "[::1]", "127.0.0.1:80", "1.2.3", "::1%lo", "localhost", " ::1", "fe80:::1", "256.1.1.1"] {
      #expect(IPAddress(bad) == nil, "\(bad)")
    }
  }

  @Test func printsWithoutAndWithBrackets() {
    let v6: IPAddress = "2001:db8::1"
    #expect(v6.description == "2001:db8::1")
    #expect(v6.bracketed == "[2001:db8::1]")
    let v4: IPAddress = "10.0.0.2"
    #expect(v4.description == "10.0.0.2")
    #expect(v4.bracketed == "10.0.0.2")
  }

  @Test func familyAccessorsAndPredicates() {
    let v4 = IPAddress.v4(IPv4Address(127, 1, 2, 3))
    #expect(v4.family == .ipv4 && v4.ipv4 == IPv4Address(127, 1, 2, 3) && v4.ipv6 == nil)
    #expect(v4.isLoopback && !v4.isUnspecified)
    #expect(IPAddress.v6(.loopback).isLoopback)
    #expect(!IPAddress.v6(IPv6Address(high: 0, low: 2)).isLoopback)
    #expect(IPAddress.Family.ipv6.any.isUnspecified && IPAddress.Family.ipv4.any.isUnspecified)
    #expect(IPAddress.Family.ipv6.loopback == .v6(.loopback))
    let ula: IPAddress = "fd00::1"
    #expect(ula.ipv4 == nil)
  }

  @Test func octetsRoundTrip() {
    for text: String in ["127.0.0.1", "10.200.3.4", "::1", "fd00:1:2:3::abcd", "fe80::1"] {
      let address = IPAddress(text)
      #expect(address != nil)
      if let address {
        #expect(IPAddress(octets: address.octets) == address)
        #expect(address.octets.count == (address.isIPv4 ? 4 : 16))
      }
    }
    #expect(IPAddress(octets: [1, 2, 3]) == nil)
  }

  @Test func ordersIPv4BeforeIPv6() {
    let addresses: [IPAddress] = ["::1", "10.0.0.1", "::", "1.2.3.4"]
    let sorted = addresses.sorted()
    #expect(sorted.map(\.description) == ["1.2.3.4", "10.0.0.1", "::", "::1"])
  }
}
