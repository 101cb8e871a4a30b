// The RST guard against the real kernel: an owner nf_tables table built by our own netlink code,
// checked with the `nft` tool, and a hand-made handshake on 127.0.0.1 with and without it.
import Foundation
import Glibc
import Testing
import TestSupport
@testable import RawSocket

/// Serialized: the group-exemption tests switch the thread's filesystem gid, and a switch at the
/// wrong moment elsewhere could make an "ordinary" socket exempt.
@Suite(.serialized) struct RSTGuardTests {
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func ownerTableIsVisibleProtectedAndGoneOnClose() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let guardian = try RSTGuard(
      sourcePort: 40102, sourceAddress: loopback, destinationAddress: 0x7F00_0002, destinationPort: 40101)
    defer { guardian.close() }
    #expect(guardian.tableName.hasPrefix("tcpcraft_\(getpid())_"))
    #expect(try nftTables().contains("table inet \(guardian.tableName)\n"))

    let listing = try runTool("/usr/sbin/nft", ["list", "table", "inet", guardian.tableName]).output
    #expect(listing.contains("flags owner"))
    #expect(listing.contains("hook output priority filter; policy accept;"))
    // Exempt by socket owner, this process's uid (no setgid needed, kernel fact 16).
    #expect(guardian.exemption == .socketOwner(UInt32(geteuid())))
    #expect(guardian.exemptGroup == nil)
    #expect(listing.contains("meta skuid \(geteuid()) "), "\(listing)")
    #expect(!listing.contains("skgid"))
    #expect(listing.contains("counter packets 0 bytes 0 accept"))
    #expect(listing.contains("ip saddr 127.0.0.1 ip daddr 127.0.0.2 tcp sport 40102 tcp dport 40101"))
    #expect(listing.contains("counter packets 0 bytes 0 drop"))

    // Another process may not change or delete it.
    let add = try runTool("/usr/sbin/nft", ["add", "rule", "inet", guardian.tableName, guardian.chainName, "counter"])
    #expect(add.status != 0)
    #expect(add.output.contains("Operation not permitted"))
    let delete = try runTool("/usr/sbin/nft", ["delete", "table", "inet", guardian.tableName])
    #expect(delete.status != 0)

    #expect(
      try guardian.counters()
        == RSTGuard.Counters(exemptedPackets: 0, exemptedBytes: 0, droppedPackets: 0, droppedBytes: 0))
    #expect(guardian.isActive)
    guardian.close()
    #expect(!guardian.isActive)
    #expect(try eventually { try !nftTables().contains(guardian.tableName) })
    #expect(throws: NetlinkError.closed) { try guardian.counters() }
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func wildcardGuardAndDistinctNames() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let first = try RSTGuard(sourcePort: nil)
    let second = try RSTGuard(sourcePort: 40000, destinationPort: nil)
    #expect(first.tableName != second.tableName)
    let listing = try runTool("/usr/sbin/nft", ["list", "table", "inet", second.tableName]).output
    #expect(listing.contains("tcp sport 40000"))
    #expect(!listing.contains("dport"))
    #expect(!listing.contains("saddr"))
    // A name in use is refused, not shared.
    #expect(throws: NetlinkError.self) { try RSTGuard(sourcePort: 1, tableName: first.tableName) }
    first.close()
    second.close()
  }

  /// Without the guard the kernel resets the hand-made handshake (kernel fact 1).
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func withoutGuardTheKernelResets() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let listener = try makeListener()
    defer { close(listener.fd) }
    let ourPort = try unusedPort()
    let capture = try LoopbackCapture(ports: [listener.port, ourPort])
    let raw = try TestRawSender()
    let isn: UInt32 = 0x1000_0000
    #expect(raw.send(tcpPacket(sourcePort: ourPort, destinationPort: listener.port, sequence: isn, acknowledgment: 0, flags: TCPFlagBits.syn)) == 0)
    let synAck = try #require(capture.next { $0.sourcePort == listener.port && $0.has(TCPFlagBits.syn | TCPFlagBits.ack) })
    #expect(synAck.acknowledgment == isn &+ 1)
    let reset = capture.next { $0.sourcePort == ourPort && $0.has(TCPFlagBits.rst) }
    #expect(reset?.sequence == isn &+ 1, "the kernel's RST, seq = the SYN+ACK's ack; seen: \(capture.seen)")
    // Our ACK comes too late: the listener has no request socket left, accept() never returns.
    _ = raw.send(tcpPacket(sourcePort: ourPort, destinationPort: listener.port, sequence: isn &+ 1, acknowledgment: synAck.sequence &+ 1, flags: TCPFlagBits.ack))
    #expect(acceptConnection(listener.fd, milliseconds: 300) == nil)
  }

  /// The default guard exempts the sockets of its own user (`meta skuid`): a plain
  /// `RawIPv4Socket()` — no group switch, no CAP_SETGID, so it works for a setcap user and in a
  /// private user namespace — completes the handshake, exchanges data, and its crafted RST goes
  /// out. A second guard on the same flow that exempts another uid drops that same RST (EPERM):
  /// the exemption really is by the socket's owner.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs CAP_NET_RAW and CAP_NET_ADMIN"))
  func withGuardOurPlainSocketPassesByOwner() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let listener = try makeListener()
    defer { close(listener.fd) }
    let ourPort = try unusedPort()
    let guardian = try RSTGuard(
      sourcePort: ourPort, sourceAddress: loopback, destinationAddress: loopback, destinationPort: listener.port)
    defer { guardian.close() }
    let stranger = try RSTGuard(
      sourcePort: ourPort, sourceAddress: loopback, destinationAddress: loopback, destinationPort: listener.port,
      exemptUser: UInt32(geteuid()) &+ 1)
    defer { stranger.close() }
    #expect(stranger.exemption == .socketOwner(UInt32(geteuid()) &+ 1))
    let capture = try LoopbackCapture(ports: [listener.port, ourPort])
    let socket = try RawIPv4Socket()
    #expect(socket.exemptGroup == nil)
    var strangerCounters = RSTGuard.Counters(exemptedPackets: 0, exemptedBytes: 0, droppedPackets: 0, droppedBytes: 0)
    try exchange(
      listener: listener, ourPort: ourPort, capture: capture,
      exempt: sender(socket), ordinary: sender(socket),
      counters: {
        // The stranger's drops count while it is up (it is closed before the final RST).
        if stranger.isActive { strangerCounters = try stranger.counters() }
        let (mine, theirs) = (try guardian.counters(), strangerCounters)
        return RSTGuard.Counters(
          exemptedPackets: mine.exemptedPackets, exemptedBytes: mine.exemptedBytes,
          droppedPackets: mine.droppedPackets + theirs.droppedPackets,
          droppedBytes: mine.droppedBytes + theirs.droppedBytes)
      },
      beforeFinalReset: { stranger.close() })
  }

  /// The narrower, opt-in exemption by socket group (`exemptGroup:`, `meta skgid`): a socket
  /// made under the group passes, an ordinary one of the same user is refused with EPERM. Needs
  /// CAP_SETGID over a mapped gid 4242: the host's root.
  ///
  /// Run twice: with this file's own minimal raw sender (exempt through
  /// `RSTGuard.withExemptGroup`), and with RawSocket's `RawIPv4Socket(exemptGroup:)`.
  @Test(
    .enabled(if: Privileges.shouldRunAsHostRoot, "\(Privileges.hostRootReason)"), arguments: [false, true])
  func withGroupGuardTheHandshakeCompletesAndOurRSTStillGoesOut(usingRawIPv4Socket: Bool) throws {
    try Privileges.checkHostRoot()
    let listener = try makeListener()
    defer { close(listener.fd) }
    let ourPort = try unusedPort()
    let guardian = try RSTGuard(
      sourcePort: ourPort, sourceAddress: loopback, destinationAddress: loopback, destinationPort: listener.port,
      exemptGroup: RSTGuard.exemptGroupID)
    defer { guardian.close() }
    #expect(guardian.exemption == .socketGroup(4242))
    let listing = try runTool("/usr/sbin/nft", ["list", "table", "inet", guardian.tableName]).output
    #expect(listing.contains("meta skgid 4242 "))
    let capture = try LoopbackCapture(ports: [listener.port, ourPort])
    if usingRawIPv4Socket {
      let exemptSocket = try RawIPv4Socket(exemptGroup: RSTGuard.exemptGroupID)
      let ordinarySocket = try RawIPv4Socket()
      try exchange(
        listener: listener, ourPort: ourPort, capture: capture, exempt: sender(exemptSocket),
        ordinary: sender(ordinarySocket), counters: { try guardian.counters() })
    } else {
      let exemptSender = try #require(try RSTGuard.withExemptGroup { try TestRawSender() })
      let ordinarySender = try TestRawSender()
      try exchange(
        listener: listener, ourPort: ourPort, capture: capture, exempt: { exemptSender.send($0) },
        ordinary: { ordinarySender.send($0) }, counters: { try guardian.counters() })
    }
  }

  /// A sender over a `RawIPv4Socket`: 0, or EPERM when the firewall dropped the packet.
  private func sender(_ socket: RawIPv4Socket) -> ([UInt8]) -> CInt {
    { packet in
      do throws(SocketError) {
        try socket.send(packet, to: loopback)
        return 0
      } catch {
        return error == .blockedByFirewall ? EPERM : -1
      }
    }
  }

  /// Handshake, accept(), data both ways through `exempt`; a crafted RST through `ordinary` is
  /// refused with EPERM while the connection stays up; after `beforeFinalReset`, the same RST
  /// through `exempt` resets the listener's side. Each sender returns 0 or the errno of a
  /// refused send.
  private func exchange(
    listener: (fd: CInt, port: UInt16), ourPort: UInt16, capture: LoopbackCapture,
    exempt: @escaping ([UInt8]) -> CInt, ordinary: @escaping ([UInt8]) -> CInt,
    counters: () throws -> RSTGuard.Counters,
    beforeFinalReset: () -> Void = {}
  ) throws {
    let diag = try InetDiag()
    func send(_ flags: UInt8, seq: UInt32, ack: UInt32, _ payload: [UInt8] = [], via sender: (([UInt8]) -> CInt)? = nil) -> CInt {
      (sender ?? exempt)(
        tcpPacket(sourcePort: ourPort, destinationPort: listener.port, sequence: seq, acknowledgment: ack, flags: flags, payload: payload))
    }

    let isn: UInt32 = 0xFFFF_FFF0  // wraps during the exchange
    #expect(send(TCPFlagBits.syn, seq: isn, ack: 0) == 0)
    let synAck = try #require(capture.next { $0.sourcePort == listener.port && $0.has(TCPFlagBits.syn | TCPFlagBits.ack) })
    #expect(synAck.acknowledgment == isn &+ 1)
    // The listener's request socket is listed on its port (SYN_RECV), and the kernel's RST was dropped.
    let pending = try diag.sockets(localPort: listener.port).filter { $0.remotePort == ourPort }
    #expect(pending.map(\.state) == [.synReceived])

    #expect(send(TCPFlagBits.ack, seq: isn &+ 1, ack: synAck.sequence &+ 1) == 0)
    let server = try #require(acceptConnection(listener.fd, milliseconds: 2000), "accept() did not return; seen: \(capture.seen)")
    defer { close(server) }
    #expect(try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: loopback, remotePort: ourPort) == .established)
    #expect(!capture.seen.contains { $0.sourcePort == ourPort && $0.has(TCPFlagBits.rst) }, "no kernel RST left: \(capture.seen)")

    // Server → us.
    #expect(Glibc.send(server, "hello", 5, 0) == 5)
    let data = try #require(capture.next { $0.sourcePort == listener.port && !$0.payload.isEmpty })
    #expect(data.payload == Array("hello".utf8))
    #expect(send(TCPFlagBits.ack, seq: isn &+ 1, ack: data.sequence &+ 5) == 0)
    // Us → server.
    #expect(send(TCPFlagBits.psh | TCPFlagBits.ack, seq: isn &+ 1, ack: data.sequence &+ 5, Array("world".utf8)) == 0)
    #expect(try receive(server, milliseconds: 2000).get() == Array("world".utf8))

    // A crafted RST that is not exempt: dropped by the guard, sendto() says EPERM.
    #expect(send(TCPFlagBits.rst, seq: isn &+ 6, ack: 0, via: ordinary) == EPERM)
    #expect(try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: loopback, remotePort: ourPort) == .established)
    let before = try counters()
    // The kernel's RSTs to the SYN+ACK and to "hello" (and maybe to the ACK of "world"), plus the refused one.
    #expect(before.droppedPackets >= 3)
    #expect(before.exemptedPackets >= 4)

    // The exempt RST goes out: the server's connection is reset.
    beforeFinalReset()
    #expect(send(TCPFlagBits.rst, seq: isn &+ 6, ack: 0) == 0)
    #expect(receive(server, milliseconds: 2000).failureText == "errno \(ECONNRESET)")
    #expect(try diag.state(localAddress: loopback, localPort: listener.port, remoteAddress: loopback, remotePort: ourPort) == nil)
    let after = try counters()
    #expect(after.exemptedPackets == before.exemptedPackets + 1)
    #expect(after.droppedPackets >= before.droppedPackets)
  }

  /// A child process holding a guard is SIGKILLed: its table is gone (fact 3). The child is this
  /// test binary, running only `guardHolderChildProcess`, so the guard is built by our code.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func guardVanishesWhenItsProcessIsKilled() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let table = "tcpcraft_test_\(getpid())_killed"
    var pipeEnds: [CInt] = [-1, -1]
    #expect(pipe(&pipeEnds) == 0)
    _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
    _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
    defer { close(pipeEnds[0]) }
    let child = try spawnSelf(
      filter: "guardHolderChildProcess",
      environment: ["TCPCRAFT_TEST_GUARD_FD": "100", "TCPCRAFT_TEST_GUARD_TABLE": table],
      passing: pipeEnds[1], as: 100)
    close(pipeEnds[1])
    var reaped = false
    defer {
      if !reaped {
        kill(child, SIGKILL)
        var status: CInt = 0
        waitpid(child, &status, 0)
      }
    }
    // The child says "ready" once its guard is installed (it may take a while to start).
    #expect(waitReadable(pipeEnds[0], milliseconds: 30_000), "the child never reported its guard")
    var buffer = [UInt8](repeating: 0, count: 16)
    let count = read(pipeEnds[0], &buffer, buffer.count)
    #expect(count > 0 && String(decoding: buffer[0..<max(0, count)], as: UTF8.self).hasPrefix("ready"))
    let listing = try runTool("/usr/sbin/nft", ["list", "table", "inet", table]).output
    #expect(listing.contains("flags owner"))
    #expect(listing.contains("tcp sport 40555"))

    kill(child, SIGKILL)
    var status: CInt = 0
    #expect(waitpid(child, &status, 0) == child)
    reaped = true
    #expect(status & 0x7F == SIGKILL)
    #expect(try eventually { try !nftTables().contains(table) }, "table \(table) outlived its process")
  }

  /// Runs only inside the child spawned by `guardVanishesWhenItsProcessIsKilled`: installs a
  /// guard, reports, and waits (bounded) to be killed.
  @Test(
    .enabled(
      if: ProcessInfo.processInfo.environment["TCPCRAFT_TEST_GUARD_FD"] != nil,
      "child-process entry point: runs only when guardVanishesWhenItsProcessIsKilled spawns it"))
  func guardHolderChildProcess() throws {
    let environment = ProcessInfo.processInfo.environment
    let fd = try #require(environment["TCPCRAFT_TEST_GUARD_FD"].flatMap { CInt($0) })
    let guardian = try RSTGuard(sourcePort: 40555, tableName: environment["TCPCRAFT_TEST_GUARD_TABLE"])
    _ = write(fd, "ready\n", 6)
    for _ in 0..<300 { usleep(100_000) }  // at most 30 s; the parent kills us long before
    guardian.close()
  }
}

@Suite struct RSTGuardCapabilityTests {
  /// Without CAP_NET_ADMIN (dropped from the bounding, inheritable and ambient sets by `setpriv`,
  /// so even root, or a test in its private namespace with ambient capabilities, lacks it),
  /// installing a guard fails with the one-line capability advice, not a bare EPERM.
  @Test(.enabled(if: Privileges.shouldRun(.netAdmin) && Privileges.haveTool("setpriv"), "needs root and setpriv"))
  func withoutCapNetAdminTheErrorSaysWhatToDo() throws {
    try Privileges.check(.netAdmin)
    let output = NSTemporaryDirectory() + "tcpcraft_nocap_\(getpid()).txt"
    defer { unlink(output) }
    let child = try spawnSelf(
      filter: "guardWithoutCapabilityChildProcess", environment: ["TCPCRAFT_TEST_NOCAP_OUT": output],
      through: ["/usr/bin/setpriv", "--bounding-set", "-net_admin", "--inh-caps", "-net_admin", "--ambient-caps", "-net_admin", "--"])
    var status: CInt = 0
    var exited = false
    for _ in 0..<3000 where !exited {  // at most 30 s
      exited = waitpid(child, &status, WNOHANG) == child
      if !exited { usleep(10_000) }
    }
    if !exited {
      kill(child, SIGKILL)
      waitpid(child, &status, 0)
    }
    #expect(exited)
    let text = try String(contentsOfFile: output, encoding: .utf8)
    #expect(
      text == "tcpcraft needs CAP_NET_ADMIN to install its RST guard (an nf_tables table): run it with sudo, "
        + "or grant it once with `sudo setcap cap_net_raw,cap_net_admin+ep <binary>`")
  }

  /// Runs only in the child of the test above: records what installing a guard says.
  @Test(
    .enabled(
      if: ProcessInfo.processInfo.environment["TCPCRAFT_TEST_NOCAP_OUT"] != nil,
      "child-process entry point: runs only when the capability test spawns it"))
  func guardWithoutCapabilityChildProcess() throws {
    let path = try #require(ProcessInfo.processInfo.environment["TCPCRAFT_TEST_NOCAP_OUT"])
    var text = "no error: the guard was installed"
    do {
      let guardian = try RSTGuard(sourcePort: 40556)
      guardian.close()
    } catch {
      text = error.description
    }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
  }
}

extension Result where Failure == TestFailure {
  var failureText: String? {
    if case .failure(let failure) = self { return failure.description }
    return nil
  }
}

/// posix_spawn of this test binary, running only the tests matching `filter`, with `fd` passed
/// as descriptor `target` and stdout/stderr sent to /dev/null.
func spawnSelf(
  filter: String, environment extra: [String: String], passing fd: CInt? = nil, as target: CInt = 100,
  through wrapper: [String] = []
) throws -> pid_t {
  var pathBuffer = [CChar](repeating: 0, count: 4096)
  let length = readlink("/proc/self/exe", &pathBuffer, pathBuffer.count - 1)
  guard length > 0 else { throw TestFailure("readlink /proc/self/exe: errno \(lastErrno())") }
  let path = String(decoding: pathBuffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  let arguments = wrapper + [path, "--testing-library", "swift-testing", "--filter", filter]
  let program = wrapper.first ?? path
  var environment = ProcessInfo.processInfo.environment
  for (key, value) in extra { environment[key] = value }
  let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
  let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
  defer {
    for pointer in argv { free(pointer) }
    for pointer in envp { free(pointer) }
  }
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  if let fd { posix_spawn_file_actions_adddup2(&actions, fd, target) }
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
  var pid: pid_t = 0
  let result = posix_spawn(&pid, program, &actions, nil, argv, envp)
  guard result == 0 else { throw TestFailure("posix_spawn: \(result)") }
  return pid
}
