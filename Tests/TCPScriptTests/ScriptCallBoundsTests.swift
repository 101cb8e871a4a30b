import PacketKit
import Testing
@testable import TCPScript

/// A script's numbers reach the system-call layer as written: sizes, counts and times at the
/// edges of Int64 get a clear error at their line, never an overflow trap or a huge allocation.
/// Only `prepare` runs here (nothing reaches the kernel: the script's fd 3 is the invalid -1).
@Suite struct ScriptCallBoundsTests {
  static let extremes: [String] = ["9223372036854775807", "4294967296", "67108865", "-1", "0"]

  func executor() -> ScriptSyscallExecutor {
    var executor = ScriptSyscallExecutor(
      connection: ScriptConnection(
        localAddress: IPv4Address(192, 168, 0, 1), remoteAddress: IPv4Address(192, 0, 2, 1), localPort: 8080,
        remotePort: 40000, remoteISN: 0))
    executor.descriptors[3] = -1
    return executor
  }

  func call(_ text: String) throws -> ScriptSyscall {
    guard case .syscall(let call) = try #require(try ScriptParser.parse("0 \(text) = 0\n", file: "t.pkt").events.first).action else {
      throw ScriptRunError("not a call: \(text)")
    }
    return call
  }

  /// The error `prepare` gives for the call, or nil when it accepts it.
  func refusal(_ text: String) throws -> String? {
    let parsed = try call(text)
    do throws(ScriptRunError) {
      _ = try executor().prepare(parsed)
      return nil
    } catch {
      return error.message
    }
  }

  @Test("recvmsg and sendmsg iovecs: each and their sum bounded, with the reason")
  func iovecBounds() throws {
    func message(_ lengths: [String]) -> String {
      "{msg_name(...)=..., msg_iov(\(lengths.count))=[\(lengths.map { "{..., \($0)}" }.joined(separator: ", "))], msg_flags=0}"
    }
    for name in ["recvmsg", "sendmsg"] {
      // Two lengths whose sum overflows Int64 (recvmsg trapped on them).
      let huge = try refusal("\(name)(3, \(message(["9223372036854775807", "9223372036854775807"])), 0)")
      #expect(huge == "iov_len 9223372036854775807 out of range", "\(name): \(huge ?? "accepted")")
      let sum = try refusal("\(name)(3, \(message(["40000000", "40000000"])), 0)")
      #expect(sum == "msg_iov holds 80000000 bytes or more: at most 67108864 in all", "\(name): \(sum ?? "accepted")")
      let negative = try refusal("\(name)(3, \(message(["-1"])), 0)")
      #expect(negative == "iov_len -1 out of range", "\(name): \(negative ?? "accepted")")
      let many = try refusal("\(name)(3, \(message(Array(repeating: "1", count: 1025))), 0)")
      #expect(many == "msg_iov with 1025 iovecs: at most 1024 (UIO_MAXIOV)", "\(name): \(many ?? "accepted")")
      #expect(try refusal("\(name)(3, \(message(["33554432", "33554432"])), 0)") == nil)
    }
  }

  @Test("An SCM_TIMESTAMPING time too large for microseconds is refused (it trapped)")
  func timestampingBounds() throws {
    func recvmsg(_ seconds: String) -> String {
      """
      recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=MSG_ERRQUEUE,
        msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=\(seconds),scm_nsec=0}}]}, MSG_ERRQUEUE)
      """
    }
    #expect(try refusal(recvmsg("9223372036854775807")) == "scm_sec and scm_nsec out of range")
    #expect(try refusal(recvmsg("9223372036854")) == nil)
  }

  @Test("A script's --tolerance_usecs is bounded as the run's is (one near Int64's end trapped a deadline)")
  func toleranceOption() throws {
    for value in ["9223372036854775807", "0", "-5", "ten", "60000001"] {
      let error = scriptParseError("--tolerance_usecs=\(value)\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", file: "t.pkt")
      #expect(error?.description == "t.pkt:1:1: expected --tolerance_usecs=N, N in 1...60000000, found \"\(value)\"", "\(value)")
    }
    let script = try ScriptParser.parse("--tolerance_usecs=60000000\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n", file: "t.pkt")
    #expect(script.options["tolerance_usecs"] == "60000000")
  }

  @Test("Every call's numbers at the edges of Int64: prepared or refused, never a trap", arguments: ScriptCallBoundsTests.extremes)
  func extremeArguments(value n: String) throws {
    let calls = [
      "read(3, ..., \(n))", "write(3, ..., \(n))", "send(3, ..., \(n), \(n))", "recv(3, ..., \(n), \(n))",
      "sendto(3, ..., \(n), \(n), ..., ...)", "recvfrom(3, ..., \(n), \(n), ..., ...)",
      "setsockopt(3, SOL_SOCKET, SO_RCVBUF, [\(n)], \(n))", "getsockopt(3, SOL_SOCKET, SO_RCVBUF, [\(n)], [\(n)])",
      "setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=\(n), linger=\(n)}, 8)",
      "setsockopt(3, SOL_SOCKET, SO_RCVTIMEO, {tv_sec=\(n), tv_usec=\(n)}, 16)",
      "fcntl(3, F_SETFL, \(n))", "ioctl(3, SIOCINQ, [\(n)])", "listen(3, \(n))", "shutdown(3, \(n))",
      "poll([{fd=3, events=POLLIN, revents=\(n)}], \(n), \(n))", "epoll_wait(3, {events=EPOLLIN, fd=3}, \(n), \(n))",
      "sendfile(3, 3, [\(n)], \(n))", "splice(3, NULL, 3, NULL, \(n), \(n))", "close(\(n))", "accept(\(n), ..., ...)",
      "socket(\(n), \(n), \(n))", "bind(3, {sa_family=AF_INET, sin_port=htons(\(n)), sin_addr=inet_addr(\"192.168.0.1\")}, 16)",
      "recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., \(n)}], msg_flags=\(n), msg_control=[{cmsg_level=\(n), cmsg_type=\(n), cmsg_data=\(n)}]}, \(n))",
      "sendmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., \(n)}], msg_flags=\(n)}, \(n))",
    ]
    for text in calls {
      // Reaching the next line is the check: a trap would end the test process.
      _ = try? refusal(text)
    }
  }
}
