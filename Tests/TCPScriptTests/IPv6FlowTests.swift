import PacketKit
import Testing

@testable import TCPScript

/// Endpoints of either family: the IPv4 spellings of before still work, IPv6 prints in brackets.
@Suite struct EndpointFamilyTests {
  @Test func ipv4SpellingsAreKept() {
    let a = Endpoint(address: 0x7F00_0001, port: 8080)
    let b = Endpoint(address: IPv4Address.loopback, port: 8080)
    let c = Endpoint(IPv4Address(127, 0, 0, 1), 8080)
    #expect(a == b && b == c)
    #expect(a.address == .v4(.loopback) && a.ipv4 == .loopback && a.ipv6 == nil)
    #expect(a.description == "127.0.0.1:8080")
    #expect(a.family == .ipv4)
  }

  @Test func ipv6PrintsInBrackets() {
    let endpoint = Endpoint(address: .v6(.loopback), port: 8080)
    #expect(endpoint.description == "[::1]:8080")
    #expect(endpoint.ipv6 == .loopback && endpoint.ipv4 == nil && endpoint.family == .ipv6)
    #expect(Endpoint(address: .v6(.any), port: 0).isAnyAddress)
    #expect(Endpoint(address: .v4(.any), port: 0).isAnyAddress)
    #expect(!endpoint.isAnyAddress)
    #expect(endpoint != Endpoint(address: .v4(.loopback), port: 8080))
  }
}
