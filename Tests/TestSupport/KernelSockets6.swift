import Foundation
import Glibc

/// Plain kernel IPv6 TCP sockets for tests, through Glibc (independent of the code under test).
/// Addresses are 16 octets in network order (`loopback6` is ::1); every wait is bounded.
public enum KernelSockets6 {
  /// ::1.
  public static let loopback6: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]

  /// An IPv6 socket address (no scope, no flow label).
  public static func socketAddress(_ address: [UInt8], _ port: UInt16) -> sockaddr_in6 {
    var value = sockaddr_in6()
    value.sin6_family = sa_family_t(AF_INET6)
    value.sin6_port = port.bigEndian
    withUnsafeMutableBytes(of: &value.sin6_addr) { raw in
      for (i, byte) in address.prefix(16).enumerated() { raw[i] = byte }
    }
    return value
  }

  static func withSockaddr<R>(_ address: sockaddr_in6, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    withUnsafePointer(to: address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    }
  }

  /// The local port of a bound IPv6 socket (0 when `getsockname` fails).
  public static func localPort(of fd: Int32) -> UInt16 {
    var address = sockaddr_in6()
    var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
    let result = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return result == 0 ? UInt16(bigEndian: address.sin6_port) : 0
  }

  /// An IPv6-only TCP socket bound to `address` (ephemeral port unless `port` is given).
  /// - Throws: `TestSupportError` naming the failed call and errno; the socket is closed then.
  public static func bound(address: [UInt8] = loopback6, port: UInt16 = 0, flags: Int32 = 0) throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | flags, 0)
    guard fd >= 0 else { throw TestSupportError("socket(AF_INET6): errno \(errno)") }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
    let result = withSockaddr(socketAddress(address, port)) { Glibc.bind(fd, $0, $1) }
    guard result == 0 else {
      let code = errno
      close(fd)
      if code == EADDRNOTAVAIL {
        throw TestSupportError("bind(AF_INET6): the address is not configured (EADDRNOTAVAIL; no ::1? sysctl net.ipv6.conf.lo.disable_ipv6=0)")
      }
      throw TestSupportError("bind(AF_INET6): errno \(code)")
    }
    return (fd, localPort(of: fd))
  }

  /// An IPv6 listener on `address` (ephemeral port unless given), backlog 16.
  public static func listener(address: [UInt8] = loopback6, port: UInt16 = 0) throws -> (fd: Int32, port: UInt16) {
    let (fd, bound) = try bound(address: address, port: port)
    guard listen(fd, 16) == 0 else {
      let code = errno
      close(fd)
      throw TestSupportError("listen: errno \(code)")
    }
    return (fd, bound)
  }

  /// Starts a non-blocking `connect` from a fresh socket bound to `from` to `address`:`port`.
  /// Returns the socket and its local port.
  public static func connecting(from: [UInt8] = loopback6, to address: [UInt8] = loopback6, port: UInt16) throws -> (fd: Int32, port: UInt16) {
    let (fd, local) = try bound(address: from, flags: Int32(SOCK_NONBLOCK.rawValue))
    let result = withSockaddr(socketAddress(address, port)) { Glibc.connect(fd, $0, $1) }
    guard result == 0 || errno == EINPROGRESS else {
      let code = errno
      close(fd)
      throw TestSupportError("connect(AF_INET6): errno \(code)")
    }
    return (fd, local)
  }
}
