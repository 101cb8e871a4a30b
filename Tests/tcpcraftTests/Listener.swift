import Foundation
import TestSupport
import Testing

/// A kernel TCP listener on 127.0.0.1 (or ::1 with `ipv6`; ephemeral port) whose application
/// runs on its own thread: accept, send `greeting` (if any), recv until EOF, close, recording each
/// step; with `answer`, it answers the first data with it and closes at once (an HTTP/1.0
/// server). Every wait is bounded.
final class Listener: @unchecked Sendable {
  let fd: Int32
  let port: UInt16
  let ipv6: Bool
  private let lock = NSLock()
  private var steps: [String] = []
  private let finished = DispatchSemaphore(value: 0)

  init(ipv6: Bool = false, greeting: String? = nil, answer: String? = nil) throws {
    self.ipv6 = ipv6
    (fd, port) = ipv6 ? try KernelSockets6.listener() : try KernelSockets.listener()
    let thread = Thread { [self] in serve(greeting: greeting, answer: answer) }
    thread.start()
  }

  deinit { close(fd) }

  var log: [String] {
    lock.lock()
    defer { lock.unlock() }
    return steps
  }

  private func note(_ step: String) {
    lock.lock()
    steps.append(step)
    lock.unlock()
  }

  private func serve(greeting: String?, answer: String?) {
    defer { finished.signal() }
    guard let connection = KernelSockets.accept(fd, milliseconds: 15_000) else {
      note("accept timed out")
      return
    }
    note("accepted")
    if let greeting { _ = Glibc.send(connection, greeting, greeting.utf8.count, Int32(MSG_NOSIGNAL)) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<64 {
      guard KernelSockets.wait(connection, milliseconds: 15_000) else {
        note("recv timed out")
        break
      }
      let count = recv(connection, &buffer, buffer.count, Int32(MSG_DONTWAIT))
      if count < 0 && (errno == EINTR || errno == EAGAIN) { continue }
      if count == 0 {
        note("eof")
        break
      }
      if count < 0 {
        note("recv error \(errno)")
        break
      }
      note("data \(String(decoding: buffer[0..<count], as: UTF8.self))")
      if let answer {
        _ = Glibc.send(connection, answer, answer.utf8.count, Int32(MSG_NOSIGNAL))
        break
      }
    }
    close(connection)
    note("closed")
  }

  /// Waits (bounded) until the application thread has finished.
  func waitUntilFinished(seconds: Double = 5) -> Bool {
    finished.wait(timeout: .now() + seconds) == .success
  }

  /// After a `fin` that closed our connection to this listener: its application saw EOF and
  /// closed, its socket is gone, and the session's guard holder left with its table.
  func expectClosedWithNothingLeft(holder: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(waitUntilFinished(), sourceLocation: sourceLocation)
    #expect(log == ["accepted", "eof", "closed"], sourceLocation: sourceLocation)
    #expect(waitUntil { connections().isEmpty }, sourceLocation: sourceLocation)
    #expect(waitUntil { kill(holder, 0) != 0 }, "the guard holder is gone", sourceLocation: sourceLocation)
    #expect(!CommandRunner.guardTablesExist(holder: holder), sourceLocation: sourceLocation)
  }

  /// The kernel's connection sockets on our port (not the listener), from /proc/net/tcp (tcp6):
  /// (remote port, state in hex as the kernel prints it: 01 ESTABLISHED, 06 TIME_WAIT, ...).
  func connections() -> [(remotePort: UInt16, state: String)] {
    guard let text = try? String(contentsOfFile: ipv6 ? "/proc/net/tcp6" : "/proc/net/tcp", encoding: .utf8) else { return [] }
    var found: [(UInt16, String)] = []
    for line in text.split(separator: "\n").dropFirst() {
      let fields = line.split(separator: " ")
      guard fields.count > 3 else { continue }
      let local = fields[1].split(separator: ":")
      let remote = fields[2].split(separator: ":")
      guard local.count == 2, remote.count == 2, UInt16(local[1], radix: 16) == port,
        let remotePort = UInt16(remote[1], radix: 16), fields[3] != "0A"
      else { continue }
      found.append((remotePort, String(fields[3])))
    }
    return found
  }
}

/// Polls `condition` every 10 ms for at most `seconds`.
func waitUntil(seconds: Double = 3, _ condition: () -> Bool) -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if condition() { return true }
    usleep(10_000)
  }
  return condition()
}

/// A port on 127.0.0.1 that nothing listens on: bound (so the kernel picks a free one), then closed.
func closedPort() throws -> UInt16 { try KernelSockets.unusedPort() }

/// A plain kernel client: connect to 127.0.0.1:`port`, send `text`, read the reply, close.
/// Returns the reply, or nil when the connection was refused or nothing came (all bounded).
enum Client {
  static func exchange(port: UInt16, send text: String) -> [UInt8]? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 3, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    guard KernelSockets.connect(fd, port: port) == 0 else { return nil }
    let bytes = Array(text.utf8)
    _ = Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
    var buffer = [UInt8](repeating: 0, count: 1024)
    let count = recv(fd, &buffer, buffer.count, 0)
    return count > 0 ? Array(buffer[0..<count]) : nil
  }
}
