import PacketKit
import Testing
@testable import tcpcraft

/// `[ADDR]:PORT` targets: parsed where IPv6 is accepted; one clear line everywhere else.
@Suite struct IPv6ArgumentTests {
  @Test func bracketedIPv6Parses() throws {
    let target = try HostPort.parse("[::1]:8080", allowIPv6: true)
    #expect(target.ipv6 == .loopback)
    #expect(target.port == 8080)
    #expect(target.description == "[::1]:8080")
    let long = try HostPort.parse("[2001:DB8:0:0:0:0:0:1]:443", allowIPv6: true)
    #expect(long.description == "[2001:db8::1]:443")
    #expect(try HostPort.parse("[::ffff:127.0.0.1]:1", allowIPv6: true).ipv6?.ipv4Mapped == IPv4Address(127, 0, 0, 1))
    // IPv4 targets are unchanged.
    #expect(try HostPort.parse("127.0.0.1:8080", allowIPv6: true) == HostPort(address: .loopback, port: 8080))
  }

  @Test(arguments: [
    ("[::1]:8080", "\"[::1]:8080\": IPv6 targets are not supported here yet; use an IPv4 address (like 127.0.0.1:8080)"),
    ("::1:8080", "\"::1:8080\": put an IPv6 address in brackets, like [::1]:8080"),
    ("[::1:8080", "\"[::1:8080\" has no ']' closing the IPv6 address (like [::1]:8080)"),
    ("[::g]:80", "\"::g\" is not an IPv6 address (like ::1 or 2001:db8::1)"),
    ("[::1]8080", "\"8080\" is not a port number (1-65535) after [::1]:"),
    ("[::1]:0", "\"0\" is not a port number (1-65535) after [::1]:"),
    ("[::1]:", "\"\" is not a port number (1-65535) after [::1]:"),
  ])
  func badOrUnsupportedTargetsAreOneLine(text: String, message: String) {
    do {
      _ = try HostPort.parse(text)
      Issue.record("\(text) parsed")
    } catch {
      #expect(error.description == message)
      #expect(!error.description.contains("\n"))
    }
  }
}
