import Foundation
import Glibc
import Testing
import TestSupport

/// `tcpcraft sniff ip6 and tcp port N` on lo: the kernel's IPv6 handshake packets are kept, the
/// IPv4 ones to the same port number are not.
@Suite struct IPv6SniffTests {
  /// A listening IPv6 socket on [::1] (port chosen by the kernel), and the port.
  static func ipv6Listener() -> (fd: Int32, port: UInt16)? {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in6()
    address.sin6_family = sa_family_t(AF_INET6)
    address.sin6_addr = in6addr_loopback
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0
      }
    }
    guard ok else {
      close(fd)
      return nil
    }
    return (fd, UInt16(bigEndian: address.sin6_port))
  }

  /// A blocking connect to `address`:`port` of `family`; returns the socket (or -1).
  static func connect(family: Int32, port: UInt16) -> Int32 {
    let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    if family == AF_INET6 {
      var peer = sockaddr_in6()
      peer.sin6_family = sa_family_t(AF_INET6)
      peer.sin6_addr = in6addr_loopback
      peer.sin6_port = port.bigEndian
      _ = withUnsafePointer(to: &peer) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
      }
    } else {
      _ = KernelSockets.connect(fd, port: port)
    }
    return fd
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sniffKeepsOnlyIPv6ForAnIPv6Filter() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let listener = try #require(Self.ipv6Listener())
    defer { close(listener.fd) }
    let sniff = try runner.start(["sniff", "-i", "lo", "-c", "2", "--timeout", "5", "ip6", "and", "tcp", "port", String(listener.port)])
    #expect(sniff.waitUntilCapturing())
    // IPv4 to the same port number (refused: SYN, RST): not IPv6, not kept.
    let v4 = Self.connect(family: AF_INET, port: listener.port)
    if v4 >= 0 { close(v4) }
    // IPv6: the SYN and the SYN+ACK are the two packets kept.
    let v6 = Self.connect(family: AF_INET6, port: listener.port)
    defer { if v6 >= 0 { close(v6) } }
    let result = sniff.finish(timeout: 10)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(result.lines.count == 2, "\(result.lines)")
    #expect(result.lines.allSatisfy { $0.hasPrefix("IP6 ") }, "\(result.lines)")
  }
}
