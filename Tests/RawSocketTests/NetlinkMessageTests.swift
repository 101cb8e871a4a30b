// Netlink message building and reading, without privileges. Every expected byte array below
// was written by hand from netlink(7), rtnetlink(7) and sock_diag(7).
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite struct NetlinkMessageTests {
  // RTM_GETROUTE for 127.0.0.1, as `ip route get 127.0.0.1` sends it (minus its extra flags):
  // nlmsghdr len 36, type 26, flags NLM_F_REQUEST, seq 7, pid 0; rtmsg family AF_INET,
  // dst_len 32; RTA_DST 127.0.0.1.
  let routeRequest: [UInt8] = [
    0x24, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x01, 0x00, 0x7f, 0x00, 0x00, 0x01,
  ]

  @Test func routeRequestLayout() {
    #expect(RouteLookup.routeRequest(to: 0x7F00_0001).finalize(sequence: 7) == routeRequest)
  }

  @Test func nestedAttributesArePaddedAndFlagged() {
    var message = NetlinkMessageBuilder(type: 0x0a06, flags: [.create, .append, .acknowledge])
    message.appendNested(type: 4) { $0.appendAttribute(type: 3, string: "lo") }
    message.appendAttribute(type: 2, payload: [0xAA])
    let bytes = message.finalize(sequence: 0x0102_0304, portID: 99)
    #expect(
      bytes == [
        0x24, 0x00, 0x00, 0x00, 0x06, 0x0a, 0x05, 0x0c, 0x04, 0x03, 0x02, 0x01, 0x63, 0x00, 0x00, 0x00,
        // nested: len 12, type 4 | NLA_F_NESTED; inside: len 7, type 3, "lo\0", one pad byte
        0x0c, 0x00, 0x04, 0x80, 0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00,
        // len 5, type 2, 0xAA, three pad bytes
        0x05, 0x00, 0x02, 0x00, 0xaa, 0x00, 0x00, 0x00,
      ])
  }

  @Test func inetDiagRequestLayout() {
    // inet_diag_req_v2 for 127.0.0.1:8080 <- 127.0.0.1:40000, all states, INET_DIAG_NOCOOKIE
    let request = InetDiag.request(
      states: 0xFFFF_FFFF, localAddress: 0x7F00_0001, localPort: 8080, remoteAddress: 0x7F00_0001,
      remotePort: 40000, exact: true)
    let bytes = withUnsafeBytes(of: request) { Array($0) }
    #expect(
      bytes == [
        0x02, 0x06, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
        0x1f, 0x90, 0x9c, 0x40,
        0x7f, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0x7f, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      ])
  }

  // NLMSG_ERROR with error -EINVAL, NLM_F_CAPPED | NLM_F_ACK_TLVS, the echoed header of the
  // request (seq 5), then NLMSGERR_ATTR_MSG "bad".
  let extendedError: [UInt8] = [
    0x2c, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x03, 0x05, 0x00, 0x00, 0x00, 0xd2, 0x04, 0x00, 0x00,
    0xea, 0xff, 0xff, 0xff,
    0x24, 0x00, 0x00, 0x00, 0x1a, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x01, 0x00, 0x62, 0x61, 0x64, 0x00,
  ]

  @Test func readsAnExtendedError() throws {
    let (messages, problem) = NetlinkMessage.parse(extendedError[...])
    #expect(problem == nil)
    let message = try #require(messages.first)
    #expect(messages.count == 1)
    #expect(message.type == NetlinkControlType.error)
    #expect(message.sequence == 5)
    #expect(message.portID == 1234)
    #expect(message.errorNumber == EINVAL)
    #expect(message.erroredSequence == 5)
    #expect(message.extendedAckMessage == "bad")
  }

  @Test func readsFromASliceThatDoesNotStartAtZero() throws {
    let padded: [UInt8] = [0xEE, 0xEE, 0xEE] + extendedError
    let (messages, _) = NetlinkMessage.parse(padded[3...])
    let message = try #require(messages.first)
    #expect(message.errorNumber == EINVAL)
    #expect(message.extendedAckMessage == "bad")
  }

  @Test(arguments: 0..<44) func truncatedDatagramsNeverTrap(length: Int) {
    let (messages, problem) = NetlinkMessage.parse(extendedError[..<length])
    #expect(messages.isEmpty)
    // Below a header there is nothing to judge; from 16 bytes on, the declared 44 do not fit.
    #expect((problem != nil) == (length >= 16))
  }

  @Test func lyingAttributeLengthsStopIteration() {
    // first attribute fine (len 5), second claims 200 bytes, third claims 2 (< header)
    let bytes: [UInt8] = [0x05, 0x00, 0x01, 0x00, 0x41, 0, 0, 0, 0xc8, 0x00, 0x02, 0x00, 0x00, 0x00]
    let attributes = Array(NetlinkAttributes(bytes[...]))
    #expect(attributes.count == 1)
    #expect(attributes.first?.payload == [0x41])
    let tooShort: [UInt8] = [0x02, 0x00, 0x01, 0x00]
    #expect(Array(NetlinkAttributes(tooShort[...])).isEmpty)
    #expect(NetlinkAttributes(bytes[...])[1]?.uint32 == nil)  // 1 byte: no UInt32 in it
  }

  // inet_diag_msg of a listener on 127.0.0.1:8080, uid 1000, inode 4242, cookie 0x1_00000002.
  let listenerMessage: [UInt8] = [
    0x02, 0x0a, 0x00, 0x00,
    0x1f, 0x90, 0x00, 0x00,
    0x7f, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
    0xe8, 0x03, 0x00, 0x00, 0x92, 0x10, 0x00, 0x00,
  ]

  @Test func readsAnInetDiagMessage() throws {
    let socket = try #require(KernelTCPSocket(payload: listenerMessage[...]))
    #expect(socket.state == .listen)
    #expect(socket.localAddress == 0x7F00_0001)
    #expect(socket.localPort == 8080)
    #expect(socket.remoteAddress == 0 && socket.remotePort == 0)
    #expect(socket.cookie == 0x1_0000_0002)
    #expect(socket.sendQueue == 8)
    #expect(socket.uid == 1000)
    #expect(socket.inode == 4242)
    #expect(socket.description == "LISTEN 127.0.0.1:8080 0.0.0.0:0")
    for length in 0..<listenerMessage.count {
      #expect(KernelTCPSocket(payload: listenerMessage[..<length]) == nil)
    }
  }
}

@Suite struct KernelTCPStateTests {
  // From include/net/tcp_states.h and the names netstat prints.
  @Test(arguments: [
    (1, "ESTABLISHED"), (2, "SYN_SENT"), (3, "SYN_RECV"), (4, "FIN_WAIT1"), (5, "FIN_WAIT2"),
    (6, "TIME_WAIT"), (7, "CLOSE"), (8, "CLOSE_WAIT"), (9, "LAST_ACK"), (10, "LISTEN"),
    (11, "CLOSING"), (12, "NEW_SYN_RECV"),
  ] as [(UInt8, String)])
  func kernelNumbersAndNetstatNames(number: UInt8, name: String) throws {
    let state = try #require(KernelTCPState(rawValue: number))
    #expect(state.description == name)
    #expect(KernelTCPState(name: name) == state)
  }

  @Test func otherSpellings() {
    #expect(KernelTCPState(name: "close-wait") == .closeWait)
    #expect(KernelTCPState(name: "SYN-RECEIVED") == .synReceived)
    #expect(KernelTCPState(name: "FIN-WAIT-1") == .finWait1)
    #expect(KernelTCPState(name: "ESTAB") == .established)
    #expect(KernelTCPState(name: "CLOSED") == .closed)
    #expect(KernelTCPState(name: "TIME-WAIT") == .timeWait)
    #expect(KernelTCPState(name: "BOGUS") == nil)
    #expect(KernelTCPState(rawValue: 0) == nil)
    #expect(KernelTCPState(rawValue: 13) == nil)
    #expect(KernelTCPState.lastAck.rfc9293Name == "LAST-ACK")
    #expect(KernelTCPState.finWait2.ssName == "FIN-WAIT-2")
  }
}

@Suite struct NFTablesMessageTests {
  // NFTA_LIST_ELEM { NFTA_EXPR_NAME "meta", NFTA_EXPR_DATA { NFTA_META_DREG NFT_REG_1,
  // NFTA_META_KEY NFT_META_SKGID (11) } }, numbers big-endian (nf_tables.h).
  @Test func metaExpressionLayout() {
    var message = NetlinkMessageBuilder(type: 0)
    NFTExpression.meta(key: 11).append(to: &message)
    #expect(
      Array(message.bytes.dropFirst(16)) == [
        0x24, 0x00, 0x01, 0x80,
        0x09, 0x00, 0x01, 0x00, 0x6d, 0x65, 0x74, 0x61, 0x00, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x02, 0x80,
        0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b,
      ])
  }

  // An NFT_MSG_NEWRULE as a GETRULE dump returns it: nfgenmsg (inet), NFTA_RULE_TABLE "t",
  // NFTA_RULE_EXPRESSIONS { counter { bytes 120, packets 3 }, immediate { verdict DROP } }.
  @Test func readsACounterAndVerdictFromADumpedRule() throws {
    let rule: [UInt8] = [
      0x01, 0x00, 0x00, 0x00,
      0x06, 0x00, 0x01, 0x00, 0x74, 0x00, 0x00, 0x00,
      0x60, 0x00, 0x04, 0x80,
      // counter element: 4 + 12 ("counter\0") + 4 + 12 + 12 = 44
      0x2c, 0x00, 0x01, 0x80,
      0x0c, 0x00, 0x01, 0x00, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x65, 0x72, 0x00,
      0x1c, 0x00, 0x02, 0x80,
      0x0c, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x78,
      0x0c, 0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x03,
      // immediate element: 4 + 16 ("immediate\0" + pad) + 4 + 8 + 4 + 4 + 8 = 48
      0x30, 0x00, 0x01, 0x80,
      0x0e, 0x00, 0x01, 0x00, 0x69, 0x6d, 0x6d, 0x65, 0x64, 0x69, 0x61, 0x74, 0x65, 0x00, 0x00, 0x00,
      0x1c, 0x00, 0x02, 0x80,
      0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x10, 0x00, 0x02, 0x80,
      0x0c, 0x00, 0x02, 0x80,
      0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    ]
    let message = NetlinkMessage(
      type: 0x0a06, flags: .multipart, sequence: 1, portID: 0, payload: rule[...])
    let summary = try #require(NFTRuleSummary(message, table: "t"))
    #expect(summary.packets == 3)
    #expect(summary.bytes == 120)
    #expect(summary.verdict == 0)
    #expect(NFTRuleSummary(message, table: "other") == nil)
    for length in 0..<rule.count {
      _ = NFTRuleSummary(
        NetlinkMessage(type: 0x0a06, flags: [], sequence: 1, portID: 0, payload: rule[..<length]), table: "t")
    }
  }

  @Test(.enabled(if: Privileges.shouldRun(.netAdmin), "needs root"))
  func impossibleTableNamesAreRefused() throws {
    try Privileges.check(.netAdmin)
    #expect(throws: NetlinkError.self) { try RSTGuard(sourcePort: 1, tableName: String(repeating: "x", count: 70_000)) }
    #expect(throws: NetlinkError.self) { try RSTGuard(sourcePort: 1, tableName: "") }
  }
}
