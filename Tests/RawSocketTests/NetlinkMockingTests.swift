// NetlinkSocket's error paths: EINTR retried, other errnos typed, and the bounded wait — through
// the mocking seam (debug builds) and against the real kernel (no privilege needed).
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite struct NetlinkSocketTests {
  /// NLMSG_NOOP without NLM_F_ACK: the kernel answers nothing, so the request must time out.
  @Test func unansweredRequestTimesOut() throws {
    let socket = try NetlinkSocket(.route, timeout: .milliseconds(50))
    #expect(throws: NetlinkError.timedOut(milliseconds: 50)) {
      try socket.request(NetlinkMessageBuilder(type: NetlinkControlType.noop))
    }
    // The socket still works afterwards.
    let route = try RouteLookup().route(to: 0x7F00_0001)
    #expect(route.interfaceName == "lo")
  }

  @Test func kernelErrorsBecomeErrno() throws {
    let socket = try NetlinkSocket(.route)
    // RTM_GETLINK for an index no interface has: ENODEV from the kernel.
    var message = NetlinkMessageBuilder(type: 18)
    message.append(bytes: [0, 0, 0, 0] + [0xFF, 0xFF, 0xFF, 0x7F] + [UInt8](repeating: 0, count: 8))
    #expect(throws: NetlinkError.kernel(.noSuchDevice, message: nil)) { try socket.request(message) }
    #expect(NetlinkError.kernel(.noSuchDevice, message: nil).errno == .noSuchDevice)
  }

  @Test func closedSocketRefuses() throws {
    let socket = try NetlinkSocket(.sockDiag)
    #expect(socket.isOpen)
    #expect(socket.portID != 0)
    socket.close()
    socket.close()
    #expect(!socket.isOpen)
    #expect(throws: NetlinkError.closed) { try socket.request(NetlinkMessageBuilder(type: 1)) }
  }
}

@Suite(.enabled(if: MockingDriver.isAvailable, "debug builds only"))
struct NetlinkMockingTests {
  @Test func interruptedPollAndRecvAreRetried() throws {
    let lookup = try RouteLookup()
    try MockingDriver.withMocking { driver in
      driver.force(.interrupted, on: "netlinkSendto")
      driver.force(.interrupted, on: "netlinkPoll", times: 2)
      driver.force(.interrupted, on: "netlinkRecv")
      let route = try lookup.route(to: 0x7F00_0001)
      #expect(route.interfaceName == "lo")
      // Each forced EINTR cost one extra call. (At least: a real signal — SIGCHLD from another
      // test's child process — may interrupt a call too.)
      let calls = driver.calls
      #expect(calls.first == "netlinkSendto")
      #expect(calls.filter { $0 == "netlinkSendto" }.count >= 2)
      #expect(calls.filter { $0 == "netlinkPoll" }.count >= 3)
      #expect(calls.filter { $0 == "netlinkRecv" }.count >= 2)
    }
  }

  @Test func sendErrorsAreTyped() throws {
    let diag = try InetDiag()
    MockingDriver.withMocking { driver in
      driver.force(.noBufferSpace, on: "netlinkSendto")
      #expect(throws: NetlinkError.system(.noBufferSpace, call: "sendto")) {
        try diag.sockets(localPort: 1)
      }
    }
  }

  @Test func receiveErrorsAreTyped() throws {
    let lookup = try RouteLookup()
    MockingDriver.withMocking { driver in
      driver.force(.noBufferSpace, on: "netlinkRecv")
      #expect(throws: NetlinkError.system(.noBufferSpace, call: "recv")) {
        try lookup.interface(named: "lo")
      }
    }
  }

  @Test func bindFailureClosesTheSocket() throws {
    MockingDriver.withMocking { driver in
      driver.force(.addressInUse, on: "netlinkBind")
      #expect(throws: NetlinkError.system(.addressInUse, call: "bind")) { try NetlinkSocket(.route) }
      #expect(driver.calls.contains("close"))
    }
  }

  @Test func refusedGuardBecomesTheCapabilityMessage() throws {
    // EPERM on the batch send stands for "no CAP_NET_ADMIN" just like the kernel's EPERM ack.
    MockingDriver.withMocking { driver in
      driver.force(.notPermitted, on: "netlinkSendto")
      #expect(throws: NetlinkError.missingCapability(capability: "CAP_NET_ADMIN", purpose: "install its RST guard (an nf_tables table)")) {
        try RSTGuard(sourcePort: 40557)
      }
    }
  }
}
