// `tcpcraft probe [ADDR]:PORT`: the IPv6 cases against an IPv6 target this host routes to, run as
// a user runs it (the built binary as a subprocess).
import Foundation
import Glibc
import PacketKit
import TCPScript
import Testing
import TestSupport

struct ProbeIPv6TargetTests {
  @Test("probe [ADDR]:PORT usage: --ipv6 with an IPv4 target, --generate over IPv6, a bad --source — one line, exit 2")
  func usage() throws {
    let runner = CommandRunner()
    let ipv4 = try runner.run(["probe", "127.0.0.1:80", "--ipv6", "--all"])
    #expect(ipv4.status == 2 && ipv4.errorLines.count == 1 && ipv4.stderr.contains("[ADDR]:PORT"))
    let generate = try runner.run(["probe", "[::1]:80", "--generate", "wscale"])
    #expect(generate.status == 2 && generate.errorLines.count == 1 && generate.stderr.contains("IPv4"))
    let source = try runner.run(["probe", "[::1]:80", "--all", "--source", "10.0.0.1"])
    #expect(source.status == 2 && source.errorLines.count == 1 && source.stderr.contains("not an IPv6 address"))
    let ipv4Case = try runner.run(["probe", "[::1]:80", "--case", "closed-syn"])
    #expect(ipv4Case.status == 2 && ipv4Case.errorLines.count == 1 && ipv4Case.stderr.contains("no IPv6 case \"closed-syn\""))
    let unbracketed = try runner.run(["probe", "::1:80", "--all"])
    #expect(unbracketed.status == 2 && unbracketed.errorLines.count == 1 && unbracketed.stderr.contains("brackets"))
  }

  @Test(
    "probe [::1]:PORT --all against a kernel listener on ::1: the same verdicts as --target self --ipv6, JSON family ipv6",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func loopbackMatchesSelfTarget() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    // A kernel listener on ::1 that never accepts, backlog 1024, as --target self makes in its
    // namespace: handshakes complete and queue, nothing reads (so a window can close).
    let (listener, port) = try KernelSockets6.bound()
    defer { close(listener) }
    try #require(listen(listener, 1024) == 0, "listen: errno \(errno)")
    let (closedProbe, closed) = try KernelSockets6.listener()
    close(closedProbe)

    let loopback = try runner.run(
      ["probe", "[::1]:\(port)", "--all", "--json", "--timeout", "1", "--seed", "14", "--closed-port", String(closed)],
      timeout: 300)
    // The CLI's default wait (1 s): a reply that a loaded machine delays past a shorter wait
    // would be judged as silence on one side only.
    let own = try runner.run(["probe", "--target", "self", "--ipv6", "--all", "--json", "--timeout", "1", "--seed", "14"], timeout: 300)
    #expect(own.status == 1, "\(own.stderr)")
    // Linux deviates from RFC 7323 §3.2's SHOULD on lo as in a namespace: exit status 1.
    #expect(loopback.status == 1, "\(loopback.stderr)")

    func verdicts(_ lines: [String]) -> [String: String] {
      var found: [String: String] = [:]
      for line in lines where line.hasPrefix("{\"type\":\"case\"") {
        guard let name = field(line, "case"), let verdict = field(line, "verdict") else { continue }
        found[name] = verdict
      }
      return found
    }
    var onLoopback = verdicts(loopback.lines)
    let inNamespace = verdicts(own.lines)
    // lo is shared with every other test running meanwhile, and the kernel's rate limits (challenge
    // ACKs, ICMPv6 errors) are host-wide: a case that differs is probed again on lo, alone, up to
    // twice. Each case must still come out as in the namespace.
    for _ in 0..<2 {
      let differing = inNamespace.keys.filter { onLoopback[$0] != inNamespace[$0] }.sorted()
      if differing.isEmpty { break }
      let again = try runner.run(
        ["probe", "[::1]:\(port)", "--json", "--timeout", "1", "--seed", "14", "--closed-port", String(closed)]
          + differing.flatMap { ["--case", $0] },
        timeout: 300)
      onLoopback.merge(verdicts(again.lines)) { _, retried in retried }
    }
    #expect(onLoopback.count == EdgeCaseCatalog.ipv6.count, "every IPv6 case judged on lo")
    #expect(inNamespace.count == EdgeCaseCatalog.ipv6.count)
    for (name, verdict) in inNamespace.sorted(by: { $0.key < $1.key }) {
      #expect(onLoopback[name] == verdict, "\(name): lo \(onLoopback[name] ?? "missing"), namespace \(verdict)")
    }
    #expect(!onLoopback.values.contains("inconclusive"), "every control on lo drew its answer")

    let cases = loopback.lines.filter { $0.hasPrefix("{\"type\":\"case\"") }
    func line(_ name: String) -> String { cases.first { $0.contains("\"case\":\"\(name)\"") } ?? "" }
    // Extension-header cases go out through the raw IPv6 socket, as built, and say so.
    #expect(line("ip6-dstopt-unknown-10").contains("raw IPv6 socket with IPV6_HDRINCL on lo"))
    #expect(line("ip6-dstopt-unknown-10").contains("ICMP6, parameter problem, option - octet 42"))
    // Counters on lo are host-wide, and say so.
    #expect(line("tcp6-bad-checksum").contains("host-wide"))
    #expect(line("tcp6-bad-checksum").contains("\"control\":{\"passed\":true"))
    let summary = loopback.lines.last ?? ""
    #expect(summary.contains("\"type\":\"summary\"") && summary.contains("\"family\":\"ipv6\""))
    #expect(summary.contains("\"target\":\"[::1]:\(port)\"") && summary.contains("\"interface\":\"lo\""))
    #expect(summary.contains("\"kernel_counters\":\"host-wide (noisy)\"") && summary.contains("\"exit_status\":1"))
  }

  @Test(
    "probe [::1]:PORT with nothing listening: every control fails, nothing conforms, exit status 3",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func loopbackWithoutListener() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let (probe, port) = try KernelSockets6.listener()
    close(probe)
    let result = try CommandRunner().run(
      ["probe", "[::1]:\(port)", "--case", "tcp6-listen-syn-fin", "--case", "tcp6-bad-checksum", "--json", "--timeout", "0.3"],
      timeout: 60)
    #expect(result.status == 3, "\(result.stdout)\n\(result.stderr)")
    let cases = result.lines.filter { $0.hasPrefix("{\"type\":\"case\"") }
    #expect(cases.count == 2 && cases.allSatisfy { $0.contains("\"verdict\":\"inconclusive\"") && $0.contains("path broken") })
  }

  @Test(
    "probe [ULA]:PORT: a target in a namespace the user made, reached by route, at layer 2 with the RST guard; --netns counters",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func routedTargetInANamespace() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let name = "p6r\(getpid() % 100_000)"
    let prefix = String(format: "fd6e:%x", getpid() & 0xFFFF)
    func ip(_ arguments: [String]) -> Bool {
      let done = try? Subprocess.run(["ip"] + arguments, errorOutput: .discarded)
      return done?.status == 0
    }
    try #require(ip(["netns", "add", name]), "ip netns add \(name)")
    defer { _ = ip(["netns", "delete", name]) }
    try #require(ip(["link", "add", "\(name)-h", "type", "veth", "peer", "name", "\(name)-n", "netns", name]))
    defer { _ = ip(["link", "delete", "\(name)-h"]) }
    #expect(ip(["addr", "add", "\(prefix)::1/64", "dev", "\(name)-h", "nodad"]))
    #expect(ip(["link", "set", "\(name)-h", "up"]))
    #expect(ip(["-n", name, "addr", "add", "\(prefix)::2/64", "dev", "\(name)-n", "nodad"]))
    #expect(ip(["-n", name, "link", "set", "\(name)-n", "up"]))
    #expect(ip(["-n", name, "link", "set", "lo", "up"]))
    // A listener inside the namespace: this thread enters it just to make the socket.
    let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
    let there = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
    defer { close(home); close(there) }
    // setns(2) is not in Swift's Glibc module (it needs _GNU_SOURCE): looked up by name.
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    let symbol = try #require(dlsym(nil, "setns"), "setns in libc")
    let setns = unsafeBitCast(symbol, to: SetNS.self)
    let newNet: Int32 = 0x4000_0000  // CLONE_NEWNET
    try #require(home >= 0 && there >= 0 && setns(there, newNet) == 0, "entering \(name)")
    let made = Result { try KernelSockets6.bound(address: Self.octets("\(prefix)::2"), port: 8080) }
    try #require(setns(home, newNet) == 0, "back to this host's namespace")
    let (listener, port) = try made.get()
    defer { close(listener) }
    try #require(listen(listener, 1024) == 0)

    let result = try CommandRunner().run(
      ["probe", "[\(prefix)::2]:\(port)", "--case", "ip6-dstopt-unknown-10", "--case", "tcp6-listen-syn", "--case",
       "tcp6-bad-checksum", "--netns", name, "--json", "--timeout", "0.4"], timeout: 60)
    #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
    let cases = result.lines.filter { $0.hasPrefix("{\"type\":\"case\"") }
    #expect(cases.count == 3 && cases.allSatisfy { $0.contains("\"verdict\":\"conforms\"") })
    #expect(cases.allSatisfy { $0.contains("sent at layer 2 on \(name)-h") })
    #expect(cases.first { $0.contains("tcp6-bad-checksum") }?.contains("\"TcpInCsumErrors\":1") == true, "clean counters from --netns")
    let summary = result.lines.last ?? ""
    #expect(summary.contains("\"family\":\"ipv6\"") && summary.contains("\"interface\":\"\(name)-h\""))
    #expect(summary.contains("\"source\":\"\(prefix)::1\"") && summary.contains("\"kernel_counters\":\"namespace \(name)\""))
  }

  static func octets(_ text: String) -> [UInt8] { IPv6Address(text)?.octets ?? [] }

  /// The string value of `key` in one flat JSON line, or `nil`.
  func field(_ line: String, _ key: String) -> String? {
    guard let start = line.range(of: "\"\(key)\":\"") else { return nil }
    return line[start.upperBound...].split(separator: "\"", maxSplits: 1).first.map(String.init)
  }
}
