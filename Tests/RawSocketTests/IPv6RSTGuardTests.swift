// The RST guard for an IPv6 4-tuple, on ::1 against a real kernel listener.
import Foundation
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite("RST guard for IPv6 flows")
struct IPv6RSTGuardTests {
  @Test("Addresses of the wrong length, or of both families, are refused before any netlink")
  func badAddressesAreRefused() {
    #expect(throws: NetlinkError.kernel(.invalidArgument, message: "an IPv6 address has 16 octets")) {
      try RSTGuard(sourcePort: 1, sourceIPv6: [1, 2, 3])
    }
    #expect(throws: NetlinkError.kernel(.invalidArgument, message: "an RST guard is for IPv4 or IPv6 addresses, not both")) {
      try RSTGuard(sourcePort: 1, sourceAddress: 0x7F00_0001, destinationIPv6: IPv6Bytes.loopback)
    }
  }

  @Test(
    "With the guard, the kernel's RST to a crafted IPv6 SYN's SYN+ACK is dropped: the listener stays in SYN_RECV",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func guardKeepsTheHandshakeOpen() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let listener = try IPv6Listener()
    let sourcePort = TestNet.randomPort()
    let guardian = try RSTGuard(
      sourcePort: sourcePort, destinationPort: listener.port, sourceIPv6: IPv6Bytes.loopback,
      destinationIPv6: IPv6Bytes.loopback)
    defer { guardian.close() }
    #expect(guardian.isIPv6)
    let flow = guardian.flowExpressions()
    #expect(flow.contains { if case .compare(_, [10]) = $0 { true } else { false } }, "meta nfproto ipv6")
    #expect(flow.contains { if case .payload(_, 8, 16) = $0 { true } else { false } }, "ip6 saddr")
    #expect(flow.contains { if case .compare(_, let data) = $0 { data == IPv6Bytes.loopback } else { false } })

    let capture = try PacketSocket(interface: "lo", protocol: PacketSocket.ipv6Protocol)
    defer { capture.close() }
    let sender = try RawIPv6Socket(exemptGroup: RSTGuard.exemptGroupID)
    defer { sender.close() }
    let syn = IPv6Bytes.tcp(
      source: IPv6Bytes.loopback, destination: IPv6Bytes.loopback, sourcePort: sourcePort,
      destinationPort: listener.port, sequence: 1000)
    try sender.send(syn, to: IPv6Bytes.loopback)
    let frames = try TestNet.collect(capture, settle: .milliseconds(200)) { frames in
      frames.contains { IPv6Bytes.Seen(frame: $0.bytes).map { $0.isSYNACK && $0.destinationPort == sourcePort } ?? false }
    }
    let seen = frames.compactMap { IPv6Bytes.Seen(frame: $0.bytes) }
    #expect(seen.contains { $0.isSYNACK && $0.destinationPort == sourcePort })
    #expect(!seen.contains { $0.sourcePort == sourcePort && $0.flags & 0x04 != 0 }, "no RST left the host: \(seen)")
    let state = try InetDiag().state(
      localIPv6: IPv6Bytes.loopback, localPort: listener.port, remoteIPv6: IPv6Bytes.loopback, remotePort: sourcePort)
    #expect(state == .synReceived || state == .newSynReceived, "\(String(describing: state))")
    let counters = try guardian.counters()
    #expect(counters.droppedPackets >= 1, "\(counters)")
    #expect(counters.exemptedPackets == 1, "our SYN passed as exempt: \(counters)")
  }
}
