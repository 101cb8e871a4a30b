import Foundation
import Testing
import TestSupport
@testable import TCPScript

/// End to end, against the real kernel in a namespace of the runner's own: our example scripts
/// must pass, and scripts that must fail fail with the report asserted.
@Suite(.serialized) struct ScriptRunTests {
  static let examples: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return root.appendingPathComponent("examples/scripts").path
  }()

  static let exampleNames: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: examples)) ?? []
    return names.filter { $0.hasSuffix(".pkt") }.sorted()
  }()

  /// Runs inline script text in a fresh namespace. Timing is generous: these tests are about
  /// what the runner sees and reports, not about a loaded machine's scheduler.
  /// (The other script suites run theirs through `ScriptRunTests.run`.)
  func run(_ text: String, python: String? = nil, directory: String = ScriptRunTests.examples) -> ScriptResult {
    Self.run(text, python: python, directory: directory)
  }

  static func run(_ text: String, python: String? = nil, directory: String = ScriptRunTests.examples) -> ScriptResult {
    var options = ScriptRunOptions()
    options.toleranceMicroseconds = 200_000
    options.python = python
    return ScriptRunner.run(text: text, path: "inline.pkt", directory: directory, options: options)
  }

  static let listen = """
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
    +0 bind(3, ..., ...) = 0
    +0 listen(3, 1) = 0

    """

  /// `listen` and the peer's SYN answered by the kernel's SYN-ACK.
  static let listenAndSYN = listen + """
    +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>
    +0 > S. 0:0(0) ack 1 <...>

    """

  @Test("examples/scripts exist (the privileged test below runs each)")
  func examplesExist() {
    #expect(Self.exampleNames.count >= 6, "\(Self.exampleNames)")
    for name in ["handshake.pkt", "close.pkt", "half-close.pkt", "fin-ack-merged.pkt", "refused.pkt", "mss.pkt"] {
      #expect(Self.exampleNames.contains(name))
    }
  }

  @Test(
    "Every example script passes against the kernel",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"),
    arguments: ScriptRunTests.exampleNames)
  func example(name: String) throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let path = Self.examples + "/" + name
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let result = ScriptRunner.run(text: text, path: path, directory: Self.examples)
    #expect(result.status == .passed, "\(result.reason ?? "") \(result.failure.map { "\($0)" } ?? "")")
    // The transcript holds what went over the wire: at least one packet each way.
    #expect(result.transcript.contains { $0.kind == .inbound })
    #expect(result.transcript.contains { $0.kind == .outbound })
  }

  @Test(
    "A wrong outbound expectation: line, fields, both tcpdump lines",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func wrongFlags() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let result = run(Self.listen + "+0 < S 0:0(0) win 1000 <mss 1000>\n+0 > R 0:0(0)\n")
    #expect(result.status == .failed)
    let failure = try #require(result.failure)
    #expect(failure.location.line == 6)
    #expect(failure.lineText == "+0 > R 0:0(0)")
    #expect(failure.message.contains("flags: expected R, got S."), "\(failure.message)")
    #expect(failure.expected?.contains("Flags [R]") == true, "\(failure.expected ?? "")")
    #expect(failure.actual?.contains("Flags [S.]") == true, "\(failure.actual ?? "")")
    #expect(failure.actual?.contains("192.168.0.1.8080 > 192.0.2.1.") == true)
    #expect(result.reason?.hasPrefix("inline.pkt:6:") == true)
  }

  @Test(
    "A wrong result: the call, what it returned, what was expected",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func wrongErrno() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let result = run(Self.listen + "+0 bind(3, ..., ...) = 0\n")
    let failure = try #require(result.failure)
    #expect(failure.location.line == 5)
    #expect(failure.message == "bind failed with -1 EINVAL, expected 0", "\(failure.message)")
    // And an errno that is expected is a pass.
    #expect(run(Self.listen + "+0 bind(3, ..., ...) = -1 EINVAL (Invalid argument)\n").status == .passed)
  }

  @Test(
    "A packet that never comes, and one that comes too early",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func missingAndEarly() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let missing = run(Self.listen + "+0 > S. 0:0(0) ack 1 <...>\n")
    #expect(missing.failure?.message.contains("expected packet did not arrive") == true, "\(missing.reason ?? "")")
    #expect(missing.failure?.actual == "nothing")

    let early = run(Self.listen + "+0 < S 0:0(0) win 1000 <mss 1000>\n+0.5 > S. 0:0(0) ack 1 <...>\n")
    let failure = try #require(early.failure)
    #expect(failure.message.contains("timing error"), "\(failure.message)")
    #expect((failure.timeError ?? 0) < -200_000)
  }

  @Test(
    "A blocking call blocks while the script goes on (accept returns when the handshake ends)",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func blockingAccept() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let result = run(
      Self.listen + """
        +0...0.300 accept(3, ..., ...) = 4
        +.1 < S 0:0(0) win 1000 <mss 1000>
        +0 > S. 0:0(0) ack 1 <...>
        +.2 < . 1:1(0) ack 1 win 1000
        +0 close(4) = 0
        +0 > F. 1:1(0) ack 1
        """)
    #expect(result.status == .passed, "\(result.reason ?? "")")
  }

  @Test(
    "A python block without python3 is NOT RUN, never passed; with python3 its asserts count",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func python() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let script = Self.listen + "+0 %{ assert tcpi_state == TCP_LISTEN, tcpi_state }%\n"
    let without = run(script)
    #expect(without.status == .notRun)
    #expect(without.reason?.contains("python3") == true)
    guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: FileManager.default.isExecutableFile)
    else { return }
    #expect(run(script, python: python).status == .passed)
    let wrong = run(Self.listen + "+0 %{ assert tcpi_state == TCP_ESTABLISHED, tcpi_state }%\n", python: python)
    #expect(wrong.status == .failed)
    #expect(wrong.failure?.message.contains("AssertionError") == true)
    // The tcp_info snapshot is the block's moment (LISTEN, before the handshake), the python runs
    // after the last event (as packetdrill does), and a failure names the block's line.
    let deferred = run(
      Self.listen + "+0 %{ assert tcpi_state == TCP_LISTEN, tcpi_state }%\n+0 %{ assert False, 'late' }%\n"
        + "+0 < S 0:0(0) win 1000 <mss 1000>\n+0 > S. 0:0(0) ack 1 <...>\n", python: python)
    #expect(deferred.status == .failed)
    #expect(deferred.failure?.location.line == 6, "\(deferred.reason ?? "")")
    #expect(deferred.failure?.message.contains("late") == true)
    let order = deferred.transcript.map(\.text)
    let synAck = try #require(order.firstIndex { $0.contains("Flags [S.]") })
    let exits = order.indices.filter { order[$0].contains("python }% exit") }
    #expect(exits.count == 2 && exits.allSatisfy { $0 > synAck }, "\(order)")
  }

  @Test(
    "An inbound ICMP port unreachable refuses the kernel's connect; one quoting a sequence number it never sent is ignored",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func icmpUnreachable() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let connect = """
      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
      +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
      +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
      +0 > S 0:0(0) <...>

      """
    let refused = run(connect + "+.01 < icmp unreachable port_unreachable [0:0(0)]\n+.01 getsockopt(3, SOL_SOCKET, SO_ERROR, [111], [4]) = 0  // ECONNREFUSED\n")
    #expect(refused.status == .passed, "\(refused.reason ?? "")")
    #expect(refused.transcript.contains { $0.text.contains("ICMP") })
    // Out of window (seq 5000 was never sent): Linux drops it, the connect is still pending.
    let ignored = run(connect + "+.01 < icmp unreachable port_unreachable [5000:5001(1)]\n+.01 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n")
    #expect(ignored.status == .passed, "\(ignored.reason ?? "")")
    // And the check can fail: the same refusal with the wrong expectation fails at that line.
    let wrong = run(connect + "+.01 < icmp unreachable port_unreachable\n+.01 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n")
    #expect(wrong.status == .failed)
    #expect(wrong.failure?.location.line == 6)
  }

  @Test(
    "NULL buffers get the kernel's EFAULT; sendto with an AF_UNSPEC address its EOPNOTSUPP",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func nullBuffersAndUnspec() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let established = Self.listen + """
      +0 < S 0:0(0) win 1000 <mss 1000>
      +0 > S. 0:0(0) ack 1 <...>
      +0 < . 1:1(0) ack 1 win 1000
      +0 accept(3, ..., ...) = 4

      """
    let calls = """
      +0 write(4, NULL, 100) = -1 EFAULT (Bad address)
      +0 send(4, NULL, 100, 0) = -1 EFAULT (Bad address)
      +0 < P. 1:11(10) ack 1 win 1000
      +0 > . 1:1(0) ack 11
      +0 read(4, NULL, 10) = -1 EFAULT (Bad address)
      +0 recv(4, NULL, 10, 0) = -1 EFAULT (Bad address)
      +0 read(4, ..., 10) = 10

      """
    let result = run(established + calls)
    #expect(result.status == .passed, "\(result.reason ?? "")")
    // A real buffer where the script says NULL would have written: the check can fail.
    let wrong = run(established + "+0 write(4, ..., 100) = -1 EFAULT (Bad address)\n")
    #expect(wrong.status == .failed)
    let unspec = run("""
      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
      +0 sendto(3, ..., 0, MSG_FASTOPEN, AF_UNSPEC, ...) = -1 EOPNOTSUPP (Operation not supported)

      """)
    #expect(unspec.status == .passed, "\(unspec.reason ?? "")")
  }

  @Test(
    "A failure report carries the kernel's view of the script's sockets (inet_diag)",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func kernelSocketsInReport() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let result = run(Self.listen + "+0 < S 0:0(0) win 1000 <mss 1000>\n+0 > S. 0:0(0) ack 1 <...>\n+0 < . 1:1(0) ack 1 win 1000\n+0 > F. 1:1(0) ack 1\n")
    let failure = try #require(result.failure)
    #expect(failure.kernelSockets.contains { $0.hasPrefix("LISTEN 192.168.0.1:8080") }, "\(failure.kernelSockets)")
    #expect(failure.kernelSockets.contains { $0.hasPrefix("ESTABLISHED 192.168.0.1:8080 192.0.2.1:") }, "\(failure.kernelSockets)")
  }

  @Test(
    "An outbound packet with a range start~end: the SYN+ACK retransmitted by the kernel's 1 s timer",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func packetRange() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let synReceived = Self.listen + "+0 < S 0:0(0) win 1000 <mss 1000>\n+0 > S. 0:0(0) ack 1 <...>\n"
    let inRange = run(synReceived + "+.8~+1.3 > S. 0:0(0) ack 1 <...>\n")
    #expect(inRange.status == .passed, "\(inRange.reason ?? "")")
    // A range the retransmission misses fails with a timing error naming the range.
    let early = run(synReceived + "+.1~+.4 > S. 0:0(0) ack 1 <...>\n")
    #expect(early.status == .failed)
    #expect(early.failure?.location.line == 7)
  }

  @Test(
    "SCM_TIMESTAMPING control messages: the kernel's timestamp is checked in script time, within the tolerance",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func scmTimestamping() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    func script(nanoseconds: Int) -> String {
      Self.listen + """
        +0 < S 0:0(0) win 1000 <mss 1000>
        +0 > S. 0:0(0) ack 1 <...>
        +0 < . 1:1(0) ack 1 win 1000
        +0 accept(3, ..., ...) = 4
        +0 setsockopt(4, SOL_SOCKET, SO_TIMESTAMPING, [SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID], 4) = 0
        0.300 write(4, ..., 100) = 100
        +0 > P. 1:101(100) ack 1
        +0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=MSG_ERRQUEUE|MSG_TRUNC,
               msg_control=[{cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING, cmsg_data={scm_sec=0,scm_nsec=\(nanoseconds)}},
                            {cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_TIMESTAMPING,
                             ee_type=0, ee_code=0, ee_info=SCM_TSTAMP_SCHED, ee_data=99}}]}, MSG_ERRQUEUE) = 0

        """
    }
    let result = run(script(nanoseconds: 300_000_000))
    #expect(result.status == .passed, "\(result.reason ?? "")")
    // 0.7 s away from when the write happened: outside the 0.2 s tolerance of these tests.
    let wrong = run(script(nanoseconds: 1_000_000_000))
    #expect(wrong.status == .failed)
    #expect(wrong.failure?.message.contains("scm_time") == true, "\(wrong.reason ?? "")")
  }

  @Test(
    "open + sendfile put a file's bytes on the wire; pipe + splice move received bytes; a symlink is not followed",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func sendfileAndSplice() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tcpcraft-sendfile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("zeros").path
    let link = folder.appendingPathComponent("link").path
    try Data(count: 5).write(to: URL(fileURLWithPath: file))
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: file)
    let established = Self.listen + """
      +0 < S 0:0(0) win 1000 <mss 1000>
      +0 > S. 0:0(0) ack 1 <...>
      +0 < . 1:1(0) ack 1 win 1000
      +0 accept(3, ..., ...) = 4

      """
    let result = run(established + """
      +0 open("\(link)", O_RDONLY) = -1 ELOOP (Too many symbolic links)
      +0 open("\(file)", O_RDONLY) = 5
      +0 sendfile(4, 5, [0], 5) = 5
      +0 > P. 1:6(5) ack 1
      +0 pipe([6, 7]) = 0
      +0 < P. 1:101(100) ack 6 win 1000
      +0 splice(4, NULL, 7, NULL, 100, 0) = 100
      +0 read(6, ..., 200) = 100

      """, directory: folder.path)  // the script's /tmp is private: its own folder stays reachable
    #expect(result.status == .passed, "\(result.reason ?? "")")
    // The counts are the kernel's: a wrong one fails.
    let wrong = run(established + "+0 open(\"\(file)\", O_RDONLY) = 5\n+0 sendfile(4, 5, [0], 5) = 4\n")
    #expect(wrong.status == .failed)
  }

  @Test(
    "A SYN to a new listener starts a new connection from a new remote port (packetdrill's rule)",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func newListenerNewPort() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let handshake = """
      +0 < S 0:0(0) win 1000 <mss 1000>
      +0 > S. 0:0(0) ack 1 <...>
      +0 < . 1:1(0) ack 1 win 1000

      """
    // The first connection stays open: the same SYN from the same port would meet it and get a
    // challenge ACK instead of a SYN+ACK.
    let result = run(Self.listen + handshake + "+0 accept(3, ..., ...) = 4\n+0 close(3) = 0\n" + Self.listen + handshake + "+0 accept(3, ..., ...) = 5\n")
    #expect(result.status == .passed, "\(result.reason ?? "")")
    let synAcks = result.transcript.filter { $0.kind == .outbound && $0.text.contains("Flags [S.]") }.map(\.text)
    #expect(synAcks.count == 2)
    let ports = Set(synAcks.compactMap { $0.split(separator: " ").dropFirst(3).first })
    #expect(ports.count == 2, "\(synAcks)")
  }

  @Test(
    "Nothing outlives a run: no thread of ours is left in another namespace, no tun on the host",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func noResidue() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    func link(_ path: String) -> String { (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "" }
    func tunDevices() -> Set<String> {
      Set(((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).filter { $0.hasPrefix("tun") })
    }
    let before = tunDevices()
    let result = run(Self.listen + "+0 < S 0:0(0) win 1000 <mss 1000>\n+0 > S. 0:0(0) ack 1 <...>\n")
    #expect(result.status == .passed, "\(result.reason ?? "")")
    let host = link("/proc/self/ns/net")
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
    for task in tasks {
      let namespace = link("/proc/self/task/\(task)/ns/net")
      #expect(namespace.isEmpty || namespace == host, "thread \(task) is still in \(namespace)")
    }
    #expect(tunDevices().isSubset(of: before))
  }
}
