import Foundation
import RawSocket
import PacketKit

/// A plain kernel TCP listener on 127.0.0.1 (or ::1), the peer of `tcpcraft demo` (and `demo --serve`).
///
/// The kernel does all its TCP; the thread only calls accept, recv, send and close, and records
/// what each returned, so that the demo can show what the application on the other side saw.
/// Every call goes through RawSocket's typed wrappers (its `system_*` seam).
final class KernelListener: @unchecked Sendable {
  let socket: SocketDescriptor
  let port: UInt16
  /// Whether it listens on ::1 (IPv6) rather than 127.0.0.1.
  let ipv6: Bool
  private let lock = NSLock()
  private var events: [String] = []
  private var lastAcceptProblem = ""

  /// Binds 127.0.0.1:`port` (0: an ephemeral port), or `address` (host order), and listens; with
  /// `listening` false, only binds (holding the port, with no listener: the kernel answers every
  /// SYN with RST+ACK, a refused connection). With `ipv6`, on ::1 instead (an IPv6-only socket,
  /// `IPV6_V6ONLY`; `address` is then not used), or on `ipv6Address` when given (16 octets).
  init(
    port requested: UInt16 = 0, listening: Bool = true, address host: UInt32 = 0x7F00_0001, ipv6: Bool = false,
    ipv6Address: IPv6Address? = nil
  ) throws(ListenerError) {
    let ipv6 = ipv6 || ipv6Address != nil
    let socket: SocketDescriptor
    do {
      socket = try SocketDescriptor.open(domain: ipv6 ? AF_INET6 : AF_INET, type: CInt(SOCK_STREAM.rawValue), protocol: 0)
    } catch {
      throw ListenerError("socket: \(error)")
    }
    let where_ = ipv6 ? "[\(ipv6Address ?? .loopback)]:\(requested)" : "\(IPv4Address(rawValue: host)):\(requested)"
    do throws(Errno) {
      try socket.setOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: CInt(1))
      if ipv6 {
        try socket.setOption(level: CInt(IPPROTO_IPV6), name: IPV6_V6ONLY, value: CInt(1))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = requested.bigEndian
        let octets = (ipv6Address ?? .loopback).octets  // ::1 by default
        withUnsafeMutableBytes(of: &address.sin6_addr) { raw in for (i, octet) in octets.enumerated() where i < 16 { raw[i] = octet } }
        try withUnsafeBytes(of: &address) { (raw) throws(Errno) in try socket.bind(address: raw) }
      } else {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = requested.bigEndian
        address.sin_addr.s_addr = host.bigEndian
        try withUnsafeBytes(of: &address) { (raw) throws(Errno) in try socket.bind(address: raw) }
      }
      if listening { try socket.listen(backlog: 16) }
      self.port = ipv6 ? try socket.localIPv6Address().port : try socket.localIPv4Address().port
    } catch {
      try? socket.close()
      if ipv6 && ipv6Address == nil && error.rawValue == EADDRNOTAVAIL {
        throw ListenerError("cannot listen on \(where_): ::1 is not configured (IPv6 disabled on lo? sysctl net.ipv6.conf.lo.disable_ipv6=0)")
      }
      throw ListenerError("cannot listen on \(where_): \(error)")
    }
    self.socket = socket
    self.ipv6 = ipv6
  }

  deinit { try? socket.close() }

  /// What the application saw, in order ("accept() returned", "recv() → 14 bytes", ...).
  var log: [String] {
    lock.lock()
    defer { lock.unlock() }
    return events
  }

  private func note(_ text: String) {
    lock.lock()
    events.append(text)
    lock.unlock()
  }

  /// Waits up to `timeoutMilliseconds` for a connection; returns it, or `nil`.
  func accept(timeoutMilliseconds: Int32) -> SocketDescriptor? {
    // RawSocket's poll retries EINTR (e.g. SIGCHLD) for the time that is left.
    let ready: PollEvents
    do throws(Errno) {
      ready = try socket.poll(for: .readable, timeout: .milliseconds(Int64(timeoutMilliseconds)))
    } catch {
      lastAcceptProblem = "poll → \(error)"
      return nil
    }
    guard ready.contains(.readable) else {
      lastAcceptProblem = ready.isEmpty ? "no connection within \(timeoutMilliseconds) ms" : "poll → revents \(ready.rawValue)"
      return nil
    }
    do throws(Errno) {
      guard let connection = try socket.accept() else {
        lastAcceptProblem = "accept → nothing pending"
        return nil
      }
      return connection
    } catch {
      lastAcceptProblem = "accept → \(error)"
      return nil
    }
  }

  /// The demo's server in a thread: accept, recv the client's data, answer `reply`, recv until
  /// EOF, close. Every wait is bounded by `timeoutMilliseconds`.
  func serveOnce(
    reply: String, closeDelayMicroseconds: UInt32 = 0, timeoutMilliseconds: Int32 = 3000
  ) -> Thread {
    let thread = Thread { [self] in
      guard let connection = accept(timeoutMilliseconds: timeoutMilliseconds) else {
        note("accept() failed: \(lastAcceptProblem)")
        return
      }
      note("accept() returned")
      KernelListener.setReceiveTimeout(connection, milliseconds: Int(timeoutMilliseconds))
      var buffer = [UInt8](repeating: 0, count: 2048)
      let received = KernelListener.receive(connection, &buffer)
      if case .success(let count) = received, count > 0 {
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        note("recv() → \(count) bytes \(text.debugDescription)")
        let sent = KernelListener.send(connection, Array(reply.utf8))
        note("send(\(reply.debugDescription)) → \(sent)")
      } else {
        note("recv() → \(KernelListener.describe(received))")
      }
      // Bounded: at most a few reads before EOF.
      for _ in 0..<8 {
        let result = KernelListener.receive(connection, &buffer)
        if case .success(0) = result {
          note("recv() → 0 (EOF: the client's FIN arrived)")
          if closeDelayMicroseconds > 0 { SystemSleep.sleep(for: .microseconds(closeDelayMicroseconds)) }
          break
        }
        if case .failure = result {
          note("recv() → \(KernelListener.describe(result))")
          break
        }
      }
      try? connection.close()
      note("close()")
    }
    thread.start()
    return thread
  }

  /// What `demo --serve` does when the client's FIN arrives.
  enum AfterFIN: Sendable {
    /// Wait the close delay, then close: the kernel's ACK of the FIN goes out alone, then our
    /// FIN (the textbook four segments).
    case close
    /// Close at once: the kernel's ACK of the client's FIN rides on our FIN (one FIN+ACK).
    case closeNow
    /// Keep sending (the half-close: the client's FIN closed only its direction), then close.
    case halfClose
  }

  /// The lines `--half-close` sends after the client's FIN.
  static let halfCloseLines = [
    "still here after your FIN: you closed only your direction (a half-close)\n",
    "the server's last words; its FIN comes next\n",
  ]

  /// `demo --serve`'s connection handler: echo what arrives until EOF (bounded: 100,000 reads,
  /// each waiting at most 600 s); then, by `afterFIN`, close after `closeDelayMicroseconds`, close
  /// at once, or send `halfCloseLines` first.
  ///
  /// With `replySize`, each piece of data that arrives is answered with that many bytes of text
  /// (`replyText`) instead of its echo: a reply larger than the MSS, to see it cut into segments.
  static func echo(_ connection: SocketDescriptor, closeDelayMicroseconds: UInt32, afterFIN: AfterFIN = .close, replySize: Int? = nil) {
    setReceiveTimeout(connection, milliseconds: 600_000)
    var buffer = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<100_000 {
      let result = receive(connection, &buffer)
      guard case .success(let count) = result, count > 0 else {
        if case .success(0) = result {
          switch afterFIN {
          case .close:
            SystemSleep.sleep(for: .microseconds(closeDelayMicroseconds))
          case .closeNow:
            break
          case .halfClose:
            // Each line its own segment: a pause between them (the ACK of the FIN goes first).
            for line in halfCloseLines {
              SystemSleep.sleep(for: .microseconds(closeDelayMicroseconds))
              _ = send(connection, Array(line.utf8))
            }
            SystemSleep.sleep(for: .microseconds(closeDelayMicroseconds))
          }
        }
        break
      }
      _ = send(connection, replySize.map(replyText) ?? Array(buffer[0..<count]))
    }
    try? connection.close()
  }

  /// `count` bytes of numbered lines of 64 bytes ("0001 the quick brown fox ...\n"), the last
  /// one cut short: easy to follow from segment to segment.
  static func replyText(_ count: Int) -> [UInt8] {
    var text: [UInt8] = []
    text.reserveCapacity(count)
    var line = 1
    while text.count < count {
      let number = String(line)
      let head = String(repeating: "0", count: max(0, 4 - number.count)) + number + " "
      var row = Array((head + "segments: each no longer than the MSS, ").utf8)
      row += Array(repeating: UInt8(ascii: "."), count: max(0, 63 - row.count)) + [UInt8(ascii: "\n")]
      text += row.prefix(count - text.count)
      line += 1
    }
    return text
  }
}

extension KernelListener {
  /// `recv` into `buffer` (EINTR retried by RawSocket).
  static func receive(_ connection: SocketDescriptor, _ buffer: inout [UInt8]) -> Result<Int, Errno> {
    buffer.withUnsafeMutableBytes { raw in
      do throws(Errno) {
        return .success(try connection.receive(into: raw) ?? 0)
      } catch {
        return .failure(error)
      }
    }
  }

  /// Sends `bytes` on the connection; the count sent, or -1.
  static func send(_ connection: SocketDescriptor, _ bytes: [UInt8]) -> Int {
    bytes.withUnsafeBytes { raw in ((try? connection.send(raw, to: nil)) ?? nil) ?? -1 }
  }

  /// `SO_RCVTIMEO`: a `recv` that waits longer fails with `EAGAIN`.
  static func setReceiveTimeout(_ connection: SocketDescriptor, milliseconds: Int) {
    let timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
    try? connection.setOption(level: SOL_SOCKET, name: SO_RCVTIMEO, value: timeout)
  }

  static func describe(_ result: Result<Int, Errno>) -> String {
    switch result {
    case .success(let count): "\(count)"
    case .failure(let error): "-1 (\(error))"
    }
  }
}

struct ListenerError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
