import Foundation
import Testing
import TestSupport

/// `tcpcraft run --ip-version ipv6 | ipv4-mapped-ipv6` end to end: the real binary against the
/// kernel in namespaces of its own. Our example scripts pass in all three modes; IPv6 is really on
/// the wire in `ipv6` mode (and IPv4 in the mapped one, with AF_INET6 sockets); sockaddrs are
/// checked in each mode's family; an ICMPv6 packet too big shrinks the kernel's segments; failures
/// are reported with IPv6 tcpdump lines.
@Suite(.serialized) struct RunIPv6Tests {
  static let examples = RunCommandTests.examples

  static let modes = ["ipv4", "ipv6", "ipv4-mapped-ipv6"]

  @Test(
    "Every example script passes in each mode",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"),
    arguments: RunIPv6Tests.modes)
  func examples(mode: String) throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let result = try CommandRunner().run(["run", Self.examples, "--ip-version", mode, "--parallel", "2"], timeout: 90)
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    #expect(result.lines.filter { $0.hasPrefix("PASS ") }.count >= 7, "\(result.stdout)")
    #expect(result.lines.last?.contains("passed, 0 failed, 0 not run") == true, "\(result.stdout)")
  }

  @Test(
    "ipv6 puts IPv6 on the wire; ipv4-mapped-ipv6 puts IPv4 there",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func wire() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let handshake = Self.examples + "/handshake.pkt"
    let v6 = try CommandRunner().run(["run", handshake, "--ip-version", "ipv6", "--verbose"], timeout: 30)
    #expect(v6.status == 0, "\(v6.stdout)")
    #expect(v6.stdout.contains("< IP6 fd3d:fa7b:d17d::1.48123 > fd3d:a0b:17d6::1.8080: Flags [S], seq 0"), "\(v6.stdout)")
    #expect(v6.stdout.contains("> IP6 fd3d:a0b:17d6::1.8080 > fd3d:fa7b:d17d::1.48123: Flags [S.]"), "\(v6.stdout)")
    #expect(!v6.stdout.contains(" IP 192."))
    let mapped = try CommandRunner().run(["run", handshake, "--ip-version", "ipv4-mapped-ipv6", "--verbose"], timeout: 30)
    #expect(mapped.status == 0, "\(mapped.stdout)")
    #expect(mapped.stdout.contains("> IP 192.168.0.1.8080 > 192.0.2.1.48123: Flags [S.]"), "\(mapped.stdout)")
  }

  /// getsockname, getpeername and accept with sockaddr literals written once, with the IPv4 names:
  /// each mode reads them in its own family (its IPv6 ends, or ::ffff: in the mapped mode).
  static let names = """
    --tolerance_usecs=200000
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
    +0 bind(3, ..., ...) = 0
    +0 getsockname(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.168.0.1")}, [16]) = 0
    +0 listen(3, 1) = 0
    +0 < S 0:0(0) win 65535 <mss 1460>
    +0 > S. 0:0(0) ack 1 <mss 1460>
    +0 < . 1:1(0) ack 1 win 65535
    +0 accept(3, {sa_family=AF_INET, sin_port=htons(48123), sin_addr=inet_addr("192.0.2.1")}, [16]) = 4
    +0 getpeername(4, {sa_family=AF_INET, sin_port=htons(48123), sin_addr=inet_addr("192.0.2.1")}, [16]) = 0
    +0 getsockname(4, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("192.168.0.1")}, [16]) = 0

    """

  @Test(
    "sockaddr checks pass in each mode, and a wrong one fails with what the kernel said",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"),
    arguments: RunIPv6Tests.modes)
  func sockaddrs(mode: String) throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("run6") { folder in
      let good = folder + "/names.pkt"
      try Self.names.write(toFile: good, atomically: false, encoding: .utf8)
      let passed = try CommandRunner().run(["run", good, "--ip-version", mode], timeout: 30)
      #expect(passed.status == 0, "\(mode): \(passed.stdout)")

      let bad = folder + "/wrong-peer.pkt"
      try (Self.names + "+0 getpeername(4, {sa_family=AF_INET, sin_port=htons(48124), sin_addr=inet_addr(\"192.0.2.9\")}, [16]) = 0\n")
        .write(toFile: bad, atomically: false, encoding: .utf8)
      let failed = try CommandRunner().run(["run", bad, "--ip-version", mode], timeout: 30)
      #expect(failed.status == 1)
      let live = mode == "ipv6" ? "fd3d:fa7b:d17d::1" : mode == "ipv4" ? "192.0.2.1" : "::ffff:192.0.2.1"
      #expect(
        failed.stdout.contains("\(bad):13: getpeername: port 48123, expected 48124; address \(live), expected 192.0.2.9"),
        "\(mode): \(failed.stdout)")
    }
  }

  @Test(
    "An ICMPv6 packet too big shrinks the kernel's segments to the new path MTU (ipv6 mode)",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func packetTooBig() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("run6") { folder in
      let path = folder + "/ptb.pkt"
      // 1400 bytes leave in one segment (MSS 1460 on the 1520-byte link). "Packet too big, MTU
      // 1280" makes the kernel retransmit them at once (not after its 200+ ms timeout: the
      // tolerance is 50 ms) with an MSS of 1280 - 40 - 20 = 1220. The tun device takes TSO, so the
      // retransmission comes as one 1400-byte GSO segment (as packetdrill sees it too); TCP_MAXSEG
      // shows the new MSS.
      try Self.mtuScript(icmp: "icmp packet_too_big mtu 1280", mss: 1220).write(toFile: path, atomically: false, encoding: .utf8)
      let result = try CommandRunner().run(["run", path, "--ip-version", "ipv6", "--verbose"], timeout: 30)
      #expect(result.status == 0, "\(result.stdout)")
      #expect(result.stdout.contains("< IP6 fd3d:fa7b:d17d::1 > fd3d:a0b:17d6::1: ICMP6, packet too big, mtu 1280"), "\(result.stdout)")
      // The same line in IPv4 mode is not ICMP: a parse error at its position.
      let v4 = try CommandRunner().run(["run", path, "--ip-version", "ipv4"], timeout: 30)
      #expect(v4.status == 2)
      #expect(v4.stderr.hasPrefix("\(path):12:13: expected an ICMP type"), "\(v4.stderr)")
    }
  }

  @Test(
    "The mapped mode's ICMP is ICMPv4, and reaches the AF_INET6 socket: frag_needed shrinks its MSS as in ipv4",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"),
    arguments: ["ipv4", "ipv4-mapped-ipv6"])
  func fragNeeded(mode: String) throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("run6") { folder in
      let path = folder + "/frag-needed.pkt"
      // As packetTooBig, over IPv4: "fragmentation needed, MTU 1000" gives an MSS of 1000 - 40 = 960.
      try Self.mtuScript(icmp: "icmp unreachable frag_needed mtu 1000", mss: 960).write(toFile: path, atomically: false, encoding: .utf8)
      let result = try CommandRunner().run(["run", path, "--ip-version", mode, "--verbose"], timeout: 30)
      #expect(result.status == 0, "\(mode): \(result.stdout)")
      #expect(result.stdout.contains("< IP 192.0.2.1 > 192.168.0.1: ICMP 192.0.2.1 unreachable - need to frag (mtu 1000)"), "\(result.stdout)")
    }
  }

  @Test(
    "A failing ipv6 script: expected and actual as IPv6 tcpdump lines, exit 1; --pcap is raw IP",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func failure() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("run6") { folder in
      let path = folder + "/wrong6.pkt"
      try RunCommandTests.wrongReplyScript("+0 > (ttl 1) S. 0:0(0) ack 1 <mss 1460>").write(toFile: path, atomically: false, encoding: .utf8)
      let result = try CommandRunner().run(["run", path, "--ip-version", "ipv6", "--pcap", folder + "/wrong6.pcap"], timeout: 30)
      #expect(result.status == 1)
      #expect(result.stdout.contains("\(path):6: outbound packet does not match: hop limit: expected 1, got 64"), "\(result.stdout)")
      #expect(result.stdout.contains("  expected: IP6 fd3d:a0b:17d6::1.8080 > fd3d:fa7b:d17d::1."), "\(result.stdout)")
      #expect(result.stdout.contains("  actual:   IP6 fd3d:a0b:17d6::1.8080 > fd3d:fa7b:d17d::1."), "\(result.stdout)")
      // The kernel's view of the script's IPv6 sockets (inet_diag over AF_INET6).
      #expect(result.stdout.contains("LISTEN"), "\(result.stdout)")
      let pcap = try #require(FileManager.default.contents(atPath: folder + "/wrong6.pcap"))
      #expect(pcap.count > 24 + 2 * (16 + 60))
      #expect(Array(pcap[20..<24]) == [101, 0, 0, 0], "LINKTYPE_RAW (IPv6 inside)")
    }
  }

  /// A 1400-byte write in one segment, then `icmp` (line 12) quoting it: the kernel retransmits
  /// at once and TCP_MAXSEG then reads `mss`.
  static func mtuScript(icmp: String, mss: Int) -> String {
    """
    --tolerance_usecs=50000
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
    +0 bind(3, ..., ...) = 0
    +0 listen(3, 1) = 0
    +0 < S 0:0(0) win 65535 <mss 1460>
    +0 > S. 0:0(0) ack 1 <mss 1460>
    +0 < . 1:1(0) ack 1 win 65535
    +0 accept(3, ..., ...) = 4
    +0 write(4, ..., 1400) = 1400
    +0 > P. 1:1401(1400) ack 1
    +.05 < \(icmp) [1:1401(1400)]
    +0 > P. 1:1401(1400) ack 1
    +0 getsockopt(4, SOL_TCP, TCP_MAXSEG, [\(mss)], [4]) = 0
    +.05 < . 1:1(0) ack 1401 win 65535
    """
  }
}
