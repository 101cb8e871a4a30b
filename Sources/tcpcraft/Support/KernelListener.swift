import Foundation
import RawSocket

/// A plain kernel TCP listener on 127.0.0.1, the peer of `tcpcraft demo` (and `demo --serve`).
///
/// The kernel does all its TCP; the thread only calls accept, recv, send and close, and records
/// what each returned, so that the demo can show what the application on the other side saw.
final class KernelListener: @unchecked Sendable {
  let fd: Int32
  let port: UInt16
  private let lock = NSLock()
  private var events: [String] = []
  private var lastAcceptProblem = ""

  /// Binds 127.0.0.1:`port` (0: an ephemeral port) and listens.
  init(port requested: UInt16 = 0) throws(ListenerError) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw ListenerError("socket: \(String(cString: strerror(errno)))") }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = requested.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(fd, 16) == 0 else {
      let message = String(cString: strerror(errno))
      close(fd)
      throw ListenerError("cannot listen on 127.0.0.1:\(requested): \(message)")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    self.fd = fd
    self.port = UInt16(bigEndian: address.sin_port)
  }

  deinit { close(fd) }

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

  /// Waits up to `timeoutMilliseconds` for a connection; returns its descriptor or -1.
  func accept(timeoutMilliseconds: Int32) -> Int32 {
    // RawSocket's poll retries EINTR (e.g. SIGCHLD) for the time that is left.
    let ready: PollEvents
    do throws(Errno) {
      ready = try SocketDescriptor(rawValue: fd).poll(
        for: .readable, timeout: .milliseconds(Int64(timeoutMilliseconds)))
    } catch {
      lastAcceptProblem = "poll → \(error)"
      return -1
    }
    guard ready.contains(.readable) else {
      lastAcceptProblem = ready.isEmpty ? "no connection within \(timeoutMilliseconds) ms" : "poll → revents \(ready.rawValue)"
      return -1
    }
    let connection = Glibc.accept(fd, nil, nil)
    if connection < 0 { lastAcceptProblem = "accept → \(String(cString: strerror(errno)))" }
    return connection
  }

  /// The demo's server in a thread: accept, recv the client's data, answer `reply`, recv until
  /// EOF, close. Every wait is bounded by `timeoutMilliseconds`.
  func serveOnce(
    reply: String, closeDelayMicroseconds: UInt32 = 0, timeoutMilliseconds: Int32 = 3000
  ) -> Thread {
    let thread = Thread { [self] in
      let connection = accept(timeoutMilliseconds: timeoutMilliseconds)
      guard connection >= 0 else {
        note("accept() failed: \(lastAcceptProblem)")
        return
      }
      note("accept() returned")
      var timeout = timeval(tv_sec: Int(timeoutMilliseconds / 1000), tv_usec: Int(timeoutMilliseconds % 1000) * 1000)
      setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
      var buffer = [UInt8](repeating: 0, count: 2048)
      let received = KernelListener.receive(connection, &buffer)
      if received > 0 {
        let text = String(decoding: buffer[0..<received], as: UTF8.self)
        note("recv() → \(received) bytes \(text.debugDescription)")
        let bytes = Array(reply.utf8)
        let sent = send(connection, bytes, bytes.count, Int32(MSG_NOSIGNAL))
        note("send(\(reply.debugDescription)) → \(sent)")
      } else {
        note("recv() → \(received)")
      }
      // Bounded: at most a few reads before EOF.
      for _ in 0..<8 {
        let count = KernelListener.receive(connection, &buffer)
        if count == 0 {
          note("recv() → 0 (EOF: the client's FIN arrived)")
          if closeDelayMicroseconds > 0 { usleep(closeDelayMicroseconds) }
          break
        }
        if count < 0 {
          note("recv() → -1 (\(String(cString: strerror(errno))))")
          break
        }
      }
      close(connection)
      note("close()")
    }
    thread.start()
    return thread
  }
}

extension KernelListener {
  /// `recv`, retried on EINTR (bounded).
  static func receive(_ fd: Int32, _ buffer: inout [UInt8]) -> Int {
    var count = -1
    for _ in 0..<100 {
      count = recv(fd, &buffer, buffer.count, 0)
      if count < 0 && errno == EINTR { continue }
      break
    }
    return count
  }
}

struct ListenerError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
