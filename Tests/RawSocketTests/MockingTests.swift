// Error paths through the mocking seam (debug builds): forced errnos, traced calls. The sockets
// here are ordinary UDP sockets (no privilege), except where a test says it needs root.
import Glibc
import Synchronization
import Testing
import TestSupport
@testable import RawSocket

@Suite("Mocked system calls: EINTR retry and error mapping", .enabled(if: MockingDriver.isAvailable, "debug builds only"))
struct MockingTests {
  /// A UDP socket bound to 127.0.0.1 on an ephemeral port, and that port.
  func udpSocket() throws -> (SocketDescriptor, sockaddr_in) {
    let socket = try SocketDescriptor.open(domain: AF_INET, type: CInt(SOCK_DGRAM.rawValue), protocol: 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    try withUnsafeBytes(of: &address) { try socket.bind(address: $0) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket.rawValue, $0, &length) }
    }
    return (socket, address)
  }

  @Test func pollRetriesOnEINTR() throws {
    let (socket, _) = try udpSocket()
    defer { try? socket.close() }
    try MockingDriver.withMocking { driver in
      driver.force(.interrupted, on: "poll", times: 2)
      let ready = try socket.poll(for: .readable, timeout: .milliseconds(20))
      #expect(ready.isEmpty)
      #expect(driver.calls == ["poll", "poll", "poll"])
      #expect(driver.trace.first?.arguments == [1, 20])
    }
  }

  @Test func pollWithoutRetryThrowsEINTR() throws {
    let (socket, _) = try udpSocket()
    defer { try? socket.close() }
    MockingDriver.withMocking { driver in
      driver.force(.interrupted, on: "poll")
      #expect(throws: Errno.interrupted) {
        try socket.poll(for: .readable, timeout: .milliseconds(20), retryOnInterrupt: false)
      }
      #expect(driver.calls == ["poll"])
    }
  }

  @Test func receiveRetriesOnEINTRAndGetsTheDatagram() throws {
    var (socket, address) = try udpSocket()
    defer { try? socket.close() }
    let message: [UInt8] = [1, 2, 3, 4, 5]
    try MockingDriver.withMocking { driver in
      driver.force(.interrupted, on: "sendto")
      driver.force(.interrupted, on: "recv", times: 3)
      let sent = try message.withUnsafeBytes { bytes in
        try withUnsafeBytes(of: &address) { try socket.send(bytes, to: $0) }
      }
      #expect(sent == 5)
      var buffer = [UInt8](repeating: 0, count: 64)
      let received = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0) }
      #expect(received == 5)
      #expect(Array(buffer.prefix(5)) == message)
      #expect(driver.calls == ["sendto", "sendto", "recv", "recv", "recv", "recv"])
    }
  }

  @Test func nonBlockingReceiveOnEmptySocketIsNil() throws {
    let (socket, _) = try udpSocket()
    defer { try? socket.close() }
    var buffer = [UInt8](repeating: 0, count: 16)
    let received = try buffer.withUnsafeMutableBytes { try socket.receive(into: $0, flags: CInt(MSG_DONTWAIT)) }
    #expect(received == nil)
  }

  @Test func closeIsNeverRetried() throws {
    let (socket, _) = try udpSocket()
    MockingDriver.withMocking { driver in
      driver.force(.interrupted, on: "close")
      #expect(throws: Errno.interrupted) { try socket.close() }
      #expect(driver.calls == ["close"])
    }
    try socket.close()
  }

  @Test func deniedSocketBecomesTheCapabilityMessage() throws {
    MockingDriver.withMocking { driver in
      driver.force(.notPermitted, on: "socket", times: 2)
      do throws(SocketError) {
        _ = try RawIPv4Socket()
        Issue.record("expected a capability error")
      } catch {
        guard case .missingCapability(let capability) = error else {
          Issue.record("got \(error)")
          return
        }
        #expect(capability.missing == [.netRaw])
        #expect(error.description.hasPrefix("tcpcraft needs CAP_NET_RAW to open raw sockets: run it with sudo"))
      }
      #expect(throws: SocketError.self) { try PacketSocket(interface: "lo") }
    }
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sendEPERMIsBlockedByFirewall() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let socket = try RawIPv4Socket()
    defer { socket.close() }
    let packet = TestPackets.syn(sourcePort: TestNet.randomPort(), destinationPort: 9, sequence: 1)
    MockingDriver.withMocking { driver in
      driver.force(.notPermitted, on: "sendto")
      #expect(throws: SocketError.blockedByFirewall) { try socket.send(packet, to: 0x7F00_0001) }
      driver.force(.notPermitted, on: "sendmmsg")
      #expect(throws: SocketError.blockedByFirewall) { try socket.send(batch: [packet], to: 0x7F00_0001) }
      driver.force(.messageTooLong, on: "sendto")
      #expect(throws: SocketError.system(operation: "sendto", .messageTooLong)) {
        try socket.send(packet, to: 0x7F00_0001)
      }
    }
    #expect(SocketError.blockedByFirewall.description.contains("blocked by the firewall (netfilter dropped it)"))
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sendmmsgRetriesOnEINTR() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let socket = try RawIPv4Socket()
    defer { socket.close() }
    let port = TestNet.randomPort()
    let packets = (0..<3).map {
      TestPackets.syn(sourcePort: port, destinationPort: 9, sequence: UInt32($0))
    }
    try MockingDriver.withMocking { driver throws in
      driver.force(.interrupted, on: "sendmmsg")
      let sent = try socket.send(batch: packets, to: 0x7F00_0001)
      #expect(sent == 3)
      #expect(driver.calls == ["sendmmsg", "sendmmsg"])
      #expect(driver.trace.last?.arguments.dropFirst().first == 3)
    }
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func captureReceiveRetriesOnEINTR() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (port, capture, sender) = try TestNet.loopbackCapture()
    defer { sender.close(); capture.close() }
    try sender.send(TestPackets.syn(sourcePort: port, destinationPort: 9, sequence: 5), to: 0x7F00_0001)
    try MockingDriver.withMocking { driver in
      driver.force(.interrupted, on: "recvmsg", times: 2)
      let frame = try capture.receive(timeout: .seconds(2))
      #expect(frame.flatMap { SeenSegment(frame: $0.bytes) }?.sequence == 5)
      #expect(Array(driver.calls.prefix(3)) == ["recvmsg", "recvmsg", "recvmsg"])
      driver.force(.noBufferSpace, on: "recvmsg")
      #expect(throws: SocketError.system(operation: "recvmsg", .noBufferSpace)) {
        try capture.receive(timeout: .milliseconds(10))
      }
    }
  }

  @Test func groupSwitchFailureIsReported() throws {
    MockingDriver.withMocking { driver in
      driver.force(.notPermitted, on: "setfsgid")
      do throws(SocketError) {
        _ = try RawIPv4Socket(exemptGroup: 4242)
        Issue.record("expected an error")
      } catch {
        // Without CAP_NET_RAW the capability check comes first; with it, the group switch fails.
        switch error {
        case .cannotChangeGroup(let group, let errno):
          #expect(group == 4242)
          #expect(errno == .notPermitted)
          #expect(!driver.calls.contains("socket"), "no socket is opened when the group switch fails")
        case .missingCapability: #expect(!Capabilities.has(.netRaw))
        default: Issue.record("got \(error)")
        }
      }
    }
  }

  @Test(
    "A refused group switch leaves the thread's filesystem gid as it was: a later plain socket is not exempt",
    .enabled(if: Privileges.shouldRun(.netRaw), "needs root"))
  func refusedGroupSwitchRestoresTheGroup() throws {
    try Privileges.check(.netRaw)
    // The first setfsgid is refused without changing anything; the confirming second one then
    // really switches this thread to 4242, which the failure path must undo.
    MockingDriver.withMocking { driver in
      driver.force(.notPermitted, on: "setfsgid")
      #expect(throws: SocketError.cannotChangeGroup(4242, .notPermitted)) { try RawIPv4Socket(exemptGroup: 4242) }
    }
    let plain = try RawIPv4Socket()
    defer { plain.close() }
    var status = stat()
    #expect(fstat(plain.descriptor.rawValue, &status) == 0)
    #expect(status.st_gid == getegid())
  }

  @Test("A thread that cannot be created throws the errno and never runs its body; a started one is joined")
  func isolatedThreadThroughTheSeam() throws {
    let ran = Mutex(0)
    try MockingDriver.withMocking { driver in
      driver.force(.resourceTemporarilyUnavailable, on: "pthread_create")
      #expect(throws: Errno.resourceTemporarilyUnavailable) { try IsolatedThread.start { ran.withLock { $0 += 1 } } }
      let thread = try IsolatedThread.start { ran.withLock { $0 += 10 } }
      thread.join()
      thread.join()  // once only
      #expect(driver.calls == ["pthread_create", "pthread_create", "pthread_join"])
    }
    #expect(ran.withLock { $0 } == 10)
  }
}
