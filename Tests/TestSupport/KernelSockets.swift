import Foundation
import Glibc
import Synchronization

/// Plain kernel TCP sockets for tests, through Glibc (independent of the code under test).
/// Addresses are `UInt32` and ports `UInt16`, host byte order; every wait is bounded.
public enum KernelSockets {
  /// 127.0.0.1 in host byte order.
  public static let loopback: UInt32 = 0x7F00_0001

  private static let nextSourcePort = Mutex<UInt16>(UInt16.random(in: 20_000...32_000))

  /// A port for crafted segments: below Linux's ephemeral range (32768-60999), so no kernel
  /// socket picks it, and different for every call in this process (every test target runs in
  /// it), so parallel tests never share one.
  public static func sourcePort() -> UInt16 {
    nextSourcePort.withLock { port in
      port = port >= 32_000 ? 20_000 : port + 1
      return port
    }
  }

  /// An IPv4 socket address.
  public static func socketAddress(_ address: UInt32, _ port: UInt16) -> sockaddr_in {
    var value = sockaddr_in()
    value.sin_family = sa_family_t(AF_INET)
    value.sin_port = port.bigEndian
    value.sin_addr.s_addr = address.bigEndian
    return value
  }

  /// Calls `body` with `address` as a `sockaddr` pointer and its length.
  public static func withSockaddr<R>(
    _ address: sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
  ) -> R {
    withUnsafePointer(to: address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
  }

  /// The local port of a bound socket (0 when `getsockname` fails).
  public static func localPort(of fd: Int32) -> UInt16 {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return result == 0 ? UInt16(bigEndian: address.sin_port) : 0
  }

  /// A TCP socket bound to `address` (ephemeral port unless `port` is given), not listening.
  /// `flags` are OR-ed into the type (`SOCK_NONBLOCK`, `SOCK_CLOEXEC`).
  ///
  /// - Throws: `TestSupportError` naming the failed call and errno; the socket is closed then.
  public static func bound(
    address: UInt32 = loopback, port: UInt16 = 0, flags: Int32 = 0, reuseAddress: Bool = false,
    receiveBuffer: Int32? = nil
  ) throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | flags, 0)
    guard fd >= 0 else { throw TestSupportError("socket: errno \(errno)") }
    if reuseAddress {
      var one: Int32 = 1
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    }
    if var size = receiveBuffer {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }
    guard withSockaddr(socketAddress(address, port), { bind(fd, $0, $1) }) == 0 else {
      let error = errno
      close(fd)
      throw TestSupportError("bind: errno \(error)")
    }
    return (fd, localPort(of: fd))
  }

  /// A kernel TCP listener on `address`, ephemeral port.
  ///
  /// - Throws: `TestSupportError` naming the failed call and errno; the socket is closed then.
  public static func listener(
    address: UInt32 = loopback, backlog: Int32 = 8, flags: Int32 = 0, reuseAddress: Bool = false,
    receiveBuffer: Int32? = nil
  ) throws -> (fd: Int32, port: UInt16) {
    let (fd, port) = try bound(
      address: address, flags: flags, reuseAddress: reuseAddress, receiveBuffer: receiveBuffer)
    guard listen(fd, backlog) == 0 else {
      let error = errno
      close(fd)
      throw TestSupportError("listen: errno \(error)")
    }
    return (fd, port)
  }

  /// A port on `address` that no socket holds right now (bound, read, released).
  public static func unusedPort(address: UInt32 = loopback) throws -> UInt16 {
    let (fd, port) = try bound(address: address)
    close(fd)
    return port
  }

  /// `connect(2)` to `address`:`port`; returns its result (0 or -1 with `errno` set).
  @discardableResult
  public static func connect(_ fd: Int32, to address: UInt32 = loopback, port: UInt16) -> Int32 {
    withSockaddr(socketAddress(address, port)) { Glibc.connect(fd, $0, $1) }
  }

  /// Polls `fd` for `events` for at most `milliseconds`, retrying EINTR (signals such
  /// as SIGCHLD from child processes). Whether it became ready.
  public static func wait(_ fd: Int32, for events: Int16 = Int16(POLLIN), milliseconds: Int32) -> Bool {
    var descriptor = pollfd(fd: fd, events: events, revents: 0)
    let deadline = Date().addingTimeInterval(Double(milliseconds) / 1000)
    for _ in 0..<1000 {
      let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
      let ready = poll(&descriptor, 1, remaining)
      if ready < 0 && errno == EINTR { continue }
      return ready == 1
    }
    return false
  }

  /// `accept(2)` after a bounded wait; nil when no connection arrives in time or accept fails.
  public static func accept(_ listener: Int32, milliseconds: Int32) -> Int32? {
    guard wait(listener, milliseconds: milliseconds) else { return nil }
    let fd = Glibc.accept(listener, nil, nil)
    return fd >= 0 ? fd : nil
  }
}
