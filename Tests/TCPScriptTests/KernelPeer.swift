import Foundation
import RawSocket
import TCPScript
import TestSupport

/// A real kernel TCP socket on 127.0.0.1 for the exchange tests: a listener (and the connection
/// it accepts), or a client that connects to a flow listening by hand. Every wait is bounded.
final class KernelPeer: @unchecked Sendable {
  private(set) var listener: Int32 = -1
  private(set) var connection: Int32 = -1
  private(set) var port: UInt16 = 0

  /// A listener on 127.0.0.1, ephemeral port.
  static func listening() throws -> KernelPeer {
    let peer = KernelPeer()
    (peer.listener, peer.port) = try KernelSockets.listener()
    return peer
  }

  /// A client socket bound to 127.0.0.1 (ephemeral port), not yet connecting: `connect(to:)` next.
  static func bound() throws -> KernelPeer {
    let peer = KernelPeer()
    (peer.connection, peer.port) = try KernelSockets.bound(flags: Int32(SOCK_NONBLOCK.rawValue))
    return peer
  }

  /// Starts a non-blocking `connect` to 127.0.0.1:`port` (its SYN leaves at once).
  func connect(to port: UInt16) throws {
    let result = KernelSockets.connect(connection, port: port)
    guard result == 0 || errno == EINPROGRESS else { throw PeerError("connect: \(errno)") }
  }

  /// A client socket whose non-blocking `connect` to 127.0.0.1:`port` is under way.
  static func connecting(to port: UInt16) throws -> KernelPeer {
    let peer = KernelPeer()
    peer.connection = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    guard peer.connection >= 0 else { throw PeerError("socket: \(errno)") }
    try peer.connect(to: port)
    peer.port = KernelSockets.localPort(of: peer.connection)
    return peer
  }

  deinit {
    if connection >= 0 { close(connection) }
    if listener >= 0 { close(listener) }
  }

  var endpoint: Endpoint { Endpoint(address: .loopback, port: port) }

  /// Polls `fd` for `events`, retrying EINTR (signals such as SIGCHLD from child processes).
  static func wait(_ fd: Int32, for events: Int16, milliseconds: Int32) -> Bool {
    KernelSockets.wait(fd, for: events, milliseconds: milliseconds)
  }

  /// `accept()` within 2 s. Returns whether it returned a connection.
  func accept() -> Bool {
    guard KernelPeer.wait(listener, for: Int16(POLLIN), milliseconds: 2000) else { return false }
    connection = Glibc.accept(listener, nil, nil)
    return connection >= 0
  }

  /// For a connecting client: whether the connection completed within 2 s.
  func connected() -> Bool {
    guard KernelPeer.wait(connection, for: Int16(POLLOUT), milliseconds: 2000) else { return false }
    var error: Int32 = -1
    var length = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(connection, SOL_SOCKET, SO_ERROR, &error, &length)
    return error == 0
  }

  /// `recv()` within 2 s: the bytes (empty at EOF), or nil on timeout; `errno` on error.
  func receive() -> Result<[UInt8], PeerError>? {
    guard KernelPeer.wait(connection, for: Int16(POLLIN), milliseconds: 2000) else { return nil }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let count = recv(connection, &buffer, buffer.count, Int32(MSG_DONTWAIT))
    if count < 0 { return .failure(PeerError("recv: errno \(errno)", errno: errno)) }
    return .success(Array(buffer[0..<count]))
  }

  func send(_ text: String) {
    let bytes = Array(text.utf8)
    _ = Glibc.send(connection, bytes, bytes.count, Int32(MSG_NOSIGNAL))
  }

  /// Closes the connection with SO_LINGER 0: the kernel sends RST instead of FIN.
  func resetConnection() {
    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
    setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
    closeConnection()
  }

  /// Closes the connection (the kernel sends its FIN).
  func closeConnection() {
    if connection >= 0 { close(connection) }
    connection = -1
  }

  /// The kernel state of the connection from `port` (ours) to `remote`, by inet_diag.
  func state(talkingTo remote: Endpoint) -> KernelTCPState? {
    try? InetDiag.state(localAddress: 0x7F00_0001, localPort: port, remoteAddress: remote.ipv4?.rawValue ?? 0, remotePort: remote.port)
  }

  /// Waits (bounded, 2 s) until the connection's kernel state is `expected`.
  func waitForState(_ expected: KernelTCPState, talkingTo remote: Endpoint) -> Bool {
    for _ in 0..<200 {
      if state(talkingTo: remote) == expected { return true }
      usleep(10_000)
    }
    return false
  }
}

struct PeerError: Error, CustomStringConvertible {
  let description: String
  var errno: Int32 = 0
  init(_ description: String, errno: Int32 = 0) {
    self.description = description
    self.errno = errno
  }
}
