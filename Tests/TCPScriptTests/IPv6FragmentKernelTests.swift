// IPv6 fragments against Linux, in a namespace of the test's own (its lo, its counters): a
// fragmented echo request is reassembled and answered; an atomic fragment (RFC 6946) is
// answered; overlapping fragments (RFC 5722) are dropped without an answer.
import Foundation
import Glibc
import PacketKit
import RawSocket
import Testing
import TestSupport

@Suite(
  "IPv6 fragments against Linux in a namespace", .serialized,
  .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
struct IPv6FragmentKernelTests {
  /// Sends `fragments` to ::1 inside `namespace` and returns the echo replies (ICMPv6 129) with
  /// `identifier` seen on its lo within the time limit.
  static func echoReplies(
    to fragments: [[UInt8]], identifier: UInt16, in namespace: String
  ) throws -> [IPv6View] {
    try NetworkNamespace.run(named: namespace) {
      let capture = try PacketSocket(interface: "lo", protocol: PacketSocket.ipv6Protocol)
      defer { capture.close() }
      let sender = try RawIPv6Socket()
      defer { sender.close() }
      for fragment in fragments { try sender.send(fragment, to: IPv6Address.loopback.octets) }
      var replies: [IPv6View] = []
      let clock = ContinuousClock()
      let end = clock.now.advanced(by: .milliseconds(700))
      var count = 0
      while clock.now < end, count < 1000 {
        count += 1
        guard let frame = try capture.receive(timeout: end - clock.now) else { break }
        guard let view = try? IPv6View(validating: frame.bytes.dropFirst(14)), view.nextHeader == .icmpv6,
          let icmp = try? ICMPv6View(validating: view.payload), icmp.type == .echoReply, icmp.identifier == identifier
        else { continue }
        replies.append(view)
      }
      return replies
    }
  }

  static func counter(_ name: String, in namespace: String) throws -> Int {
    let result = try Subprocess.status(["ip", "netns", "exec", namespace, "nstat", "-asz", name])
    for line in result.output.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      if fields.count >= 2, fields[0] == name, let value = Int(fields[1]) { return value }
    }
    return 0
  }

  static func echo(identifier: UInt16, size: Int) -> Packet {
    IPv6Header(sourceAddress: .loopback, destinationAddress: .loopback)
      / ICMPv6Header.echoRequest(identifier: identifier, sequenceNumber: 1)
      / [UInt8]((0..<size).map { UInt8(truncatingIfNeeded: $0) })
  }

  @Test("Fragments of an echo request are reassembled and answered; overlapping ones are dropped; an atomic fragment is answered")
  func fragmentsAgainstLinux() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let fixture = try VethNamespaceFixture(prefix: "tc6f", hostPrefix: "t6fh", namespacePrefix: "t6fn") { veth in
      [["ip", "-n", veth.name, "link", "set", "lo", "up"]]
    }
    defer {
      fixture.destroy()
      #expect(fixture.isGone)
    }
    // 1. Three fragments of a 200-byte echo request: one reply, 208 bytes of ICMPv6.
    let whole = try Self.echo(identifier: 0x6001, size: 200).ipv6Fragments(maximumSize: 120, identification: 0x6001)
    #expect(whole.count == 3)
    let replies = try Self.echoReplies(to: whole, identifier: 0x6001, in: fixture.name)
    #expect(replies.count == 1)
    #expect(replies.first?.payloadLength == 208)

    // 2. RFC 6946: an atomic fragment (offset 0, M clear) is processed as a whole packet.
    let atomic = try Self.echo(identifier: 0x6002, size: 8).ipv6Fragments(maximumSize: 1280, identification: 0x6002)
    #expect(try Self.echoReplies(to: atomic, identifier: 0x6002, in: fixture.name).count == 1)

    // 3. RFC 5722: the second fragment overlaps the first by 8 octets: the datagram is dropped.
    let before = try Self.counter("Ip6ReasmFails", in: fixture.name)
    var overlapping = try Self.echo(identifier: 0x6003, size: 200).ipv6Fragments(maximumSize: 120, identification: 0x6003)
    // Move the second fragment's offset back by one 8-octet unit (it then overlaps the first).
    let offsetField = UInt16(overlapping[1][42]) << 8 | UInt16(overlapping[1][43])
    let moved = (offsetField & ~0x7) - (1 << 3) | (offsetField & 0x7)
    overlapping[1][42] = UInt8(moved >> 8)
    overlapping[1][43] = UInt8(moved & 0xFF)
    #expect(try Self.echoReplies(to: overlapping, identifier: 0x6003, in: fixture.name).isEmpty)
    let after = try Self.counter("Ip6ReasmFails", in: fixture.name)
    #expect(after > before, "Ip6ReasmFails \(before) -> \(after)")
  }
}
