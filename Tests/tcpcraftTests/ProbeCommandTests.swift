// `tcpcraft probe`, run as a user runs it: the built binary as a subprocess.
import Foundation
import Glibc
import TCPScript
import Testing
import TestSupport

struct ProbeCommandTests {
  @Test("probe --list describes every case: name, what it sends, state, expected, RFC rule")
  func list() throws {
    let result = try CommandRunner().run(["probe", "--list"])
    #expect(result.status == 0)
    let names = result.lines.filter { !$0.hasPrefix(" ") && !$0.hasSuffix(" cases") }
    #expect(names.count >= 30)
    #expect(names.contains("est-rst-in-window") && names.contains("ip-tiny-fragments"))
    #expect(result.stdout.contains("expected: challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>"))
    #expect(result.stdout.contains("rule:     RFC 5961 §3.2"))
    let json = try CommandRunner().run(["probe", "--list", "--json"])
    #expect(json.status == 0 && json.lines.count == names.count)
    #expect(json.lines.allSatisfy { $0.hasPrefix("{\"case\":") && $0.contains("\"rfc\":\"RFC ") })
  }

  @Test("probe --generate walks a field over its boundary values (no privileges needed)")
  func generateWalk() throws {
    let result = try CommandRunner().run(["probe", "--generate", "data-offset"])
    #expect(result.status == 0)
    #expect(result.lines.count == 7)
    #expect(result.lines.first?.hasPrefix("data-offset=0 ") == true)
    // What tcpdump prints for a 4-word header (checked against tcpdump 4.99's wording).
    #expect(result.stdout.contains("data-offset=4"))
    #expect(result.stdout.contains("[bad hdr length 16 - too short, < 20]"))
  }

  @Test("probe --generate --random is deterministic for a seed")
  func generateRandom() throws {
    let runner = CommandRunner()
    let a = try runner.run(["probe", "--generate", "all", "--random", "--count", "25", "--seed", "7", "--json"])
    let b = try runner.run(["probe", "--generate", "all", "--random", "--count", "25", "--seed", "7", "--json"])
    let c = try runner.run(["probe", "--generate", "all", "--random", "--count", "25", "--seed", "8", "--json"])
    #expect(a.status == 0 && a.lines.count == 25)
    #expect(a.stdout == b.stdout)
    #expect(a.stdout != c.stdout)
  }

  @Test("IPv6: --list --ipv6 lists the IPv6 cases; --ipv6 needs --target self; an IPv6 case needs --ipv6 — one line, exit 2")
  func ipv6Usage() throws {
    let runner = CommandRunner()
    let list = try runner.run(["probe", "--list", "--ipv6", "--json"])
    #expect(list.status == 0)
    #expect(list.lines.count == EdgeCaseCatalog.ipv6.count && list.lines.allSatisfy { $0.contains("\"case\":\"ip6-") || $0.contains("\"case\":\"tcp6-") })
    let remote = try runner.run(["probe", "127.0.0.1:80", "--ipv6", "--all"])
    #expect(remote.status == 2 && remote.errorLines.count == 1 && remote.stderr.contains("--target self"))
    let mixed = try runner.run(["probe", "127.0.0.1:80", "--case", "ip6-hop-limit-0"])
    #expect(mixed.status == 2 && mixed.errorLines.count == 1 && mixed.stderr.contains("add --ipv6"))
    let unknown = try runner.run(["probe", "--target", "self", "--ipv6", "--case", "closed-syn"])
    #expect(unknown.status == 2 && unknown.stderr.contains("no IPv6 case \"closed-syn\""))
  }

  @Test(
    "probe --target self --ipv6: the IPv6 cases over IPv6 against Linux in a namespace, every one judged, then removed",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func selfTargetIPv6() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let result = try CommandRunner().run(
      ["probe", "--target", "self", "--ipv6", "--all", "--json", "--timeout", "0.4", "--seed", "6"], timeout: 60)
    #expect(result.status == 1, "Linux deviates from RFC 7323 §3.2's SHOULD over IPv6 too: \(result.stderr)")
    let cases = result.lines.filter { $0.hasPrefix("{\"type\":\"case\"") }
    #expect(cases.count == EdgeCaseCatalog.ipv6.count)
    #expect(
      cases.filter { !$0.contains("\"verdict\":\"conforms\"") }.count == 3, "SYN+FIN dropped, missing TSopt accepted, SYN data partly")
    #expect(line("tcp6-listen-syn-data").contains("\"verdict\":\"partly\""))
    #expect(line("tcp6-window-scale-15").contains("\"verdict\":\"conforms\"") && line("tcp6-window-scale-15").contains("shift 14"))
    #expect(line("tcp6-est-missing-timestamp").contains("\"verdict\":\"deviates\""))
    #expect(line("tcp6-est-data").contains("\"judged_against\":{\"snd_nxt\""))
    #expect(line("tcp6-listen-syn-fin").contains("\"verdict\":\"dropped\""))
    func line(_ name: String) -> String { cases.first { $0.contains("\"case\":\"\(name)\"") } ?? "" }
    #expect(line("ip6-dstopt-unknown-10").contains("ICMP6, parameter problem, option - octet 42"))
    #expect(line("tcp6-bad-checksum").contains("\"TcpInCsumErrors\":1"))
    let summary = result.lines.last ?? ""
    #expect(summary.contains("\"family\":\"ipv6\"") && summary.contains("\"exit_status\":1"))
    let interface = try #require(summary.split(separator: "\"interface\":\"").last?.split(separator: "\"").first)
    #expect(Self.interfaces(String(interface)).isEmpty, "the veth pair is gone")
  }

  @Test("Bad usage: unknown case, unknown field, no target — one line, exit 2")
  func usage() throws {
    let runner = CommandRunner()
    let unknown = try runner.run(["probe", "127.0.0.1:80", "--case", "no-such-case"])
    #expect(unknown.status == 2 && unknown.stderr.contains("no case \"no-such-case\""))
    let field = try runner.run(["probe", "--generate", "nonsense"])
    #expect(field.status == 2 && field.errorLines.count == 1)
    let target = try runner.run(["probe", "--all"])
    #expect(target.status == 2 && target.stderr.contains("HOST:PORT"))
    let nothing = try runner.run(["probe", "127.0.0.1:80"])
    #expect(nothing.status == 2 && nothing.stderr.contains("--all"))
  }

  @Test("--netns takes an existing `ip netns` name only: a missing one or a path is one line, exit 2")
  func namespaceNames() throws {
    let runner = CommandRunner()
    let missing = try runner.run(["probe", "127.0.0.1:80", "--all", "--netns", "doesnotexist\(getpid())"])
    #expect(missing.status == 2 && missing.errorLines.count == 1)
    #expect(missing.stderr.contains("no network namespace"))
    for path in ["../../../proc/self/ns/net", "/proc/1/ns/net", ".."] {
      let result = try runner.run(["probe", "127.0.0.1:80", "--all", "--netns", path])
      #expect(result.status == 2 && result.errorLines.count == 1, "\(path)")
      #expect(result.stderr.contains("not a namespace name"), "\(path): \(result.stderr)")
    }
  }

  @Test("--help documents the verdicts, the positive controls and exit status 3")
  func helpText() throws {
    let result = try CommandRunner().run(["probe", "--help"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("3 the harness could not") && result.stdout.contains("path broken"))
    #expect(result.stdout.contains("--sequential") && result.stdout.contains("no requirement"))
  }

  @Test(
    "probe HOST:PORT --generate sends each segment from a fresh port: offsets below 5 or beyond the segment are dropped",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func generateAgainstAListener() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let listener = try Listener()
    let result = try CommandRunner().run(
      ["probe", "127.0.0.1:\(listener.port)", "--generate", "data-offset", "--timeout", "0.3", "--json"], timeout: 30)
    #expect(result.status == 0)
    #expect(result.lines.count == 7)
    let ports = Set(result.lines.compactMap { $0.split(separator: "\"sport\":").last?.split(separator: ",").first })
    #expect(ports.count == 7, "a fresh source port for each segment")
    for line in result.lines {
      let answered = line.contains("Flags [S.]")
      if line.contains("\"value\":\"5\"") || line.contains("\"value\":\"6\"") {
        #expect(answered, "a well-formed SYN is answered: \(line)")
      } else {
        #expect(!answered && line.contains("\"replies\":[]"), "a header length that cannot be right is dropped: \(line)")
      }
    }
  }

  @Test(
    "A newcomer's run: probe --all against `tcpcraft demo --serve` gives a verdict with evidence for every case",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func probeTheDemoListener() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let port = try closedPort()
    let closed = try closedPort()
    let server = try runner.start(["demo", "--serve", "--port", String(port), "--duration", "60"])
    defer { _ = server.finish(timeout: 0.1) }
    #expect(waitUntil(seconds: 5) { Client.exchange(port: port, send: "ping") != nil }, "the demo listener is up")

    let pcap = NSTemporaryDirectory() + "tcpcraft-probe-\(getpid()).pcap"
    defer { try? FileManager.default.removeItem(atPath: pcap) }
    let result = try runner.run(
      ["probe", "127.0.0.1:\(port)", "--all", "--json", "--timeout", "0.3", "--closed-port", String(closed), "--pcap", pcap],
      timeout: 100)
    #expect(result.status == 1, "Linux deviates from some RFC rules, so not every case conforms")
    let cases = result.lines.filter { $0.hasPrefix("{\"type\":\"case\"") }
    #expect(cases.count >= 30)
    func line(_ name: String) -> String { cases.first { $0.contains("\"case\":\"\(name)\"") } ?? "" }
    #expect(line("closed-syn").contains("\"verdict\":\"conforms\""))
    #expect(line("listen-syn").contains("\"verdict\":\"conforms\""))
    #expect(line("est-rst-in-window").contains("\"verdict\":\"conforms\""))
    #expect(line("est-rst-exact").contains("afterwards the connection is gone"))
    #expect(line("tcp-bad-checksum").contains("TcpInCsumErrors"))
    // On lo packets go through a raw socket: the cases needing an exact IPv4 header say so.
    #expect(line("ip-bad-checksum").contains("\"verdict\":\"not run\"") && line("ip-bad-checksum").contains("layer 2"))
    // On lo the counters are host-wide: the evidence says so.
    #expect(line("tcp-bad-checksum").contains("host-wide and noisy"))
    // JSON carries what is needed to judge again: bytes sent, numbers, counters, fate, controls.
    let est = line("est-rst-in-window")
    #expect(est.contains("\"sent\":[{\"summary\":\"IP 127.0.0.1.") && est.contains("\"hex\":\"45"))
    #expect(est.contains("\"judged_against\":{\"snd_nxt\":") && est.contains("\"rcv_nxt\":"))
    #expect(est.contains("\"counters\":{") && est.contains("\"fate\":{\"state\":\"alive\""))
    #expect(est.contains("\"control\":{\"passed\":true"))
    let summary = result.lines.last ?? ""
    #expect(summary.contains("\"target\":\"127.0.0.1:\(port)\"") && summary.contains("\"kernel\":\""))
    #expect(summary.contains("\"timeout_seconds\":0.3") && summary.contains("\"tcpcraft_version\":\""))
    #expect(summary.contains("\"seed\":\"") && summary.contains("\"exit_status\":1"))
    // Every case has evidence.
    #expect(cases.allSatisfy { $0.contains("\"evidence\":[\"") })
    #expect(result.lines.last?.hasPrefix("{\"type\":\"summary\"") == true)
    // A progress line per case on stderr.
    #expect(result.stderr.contains("/\(cases.count)] "))
    // The pcap holds every packet and tcpdump reads it.
    let dump = CommandRunner.shell(["tcpdump", "-nn", "-r", pcap])
    #expect(dump.split(separator: "\n").count > cases.count)
  }

  /// The interfaces whose names start with `prefix` (from /sys/class/net).
  static func interfaces(_ prefix: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).filter { $0.hasPrefix(prefix) }
  }

  @Test(
    "probe --target self: a namespace with a Linux listener, every case judged with clean counters, then removed",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func selfTarget() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let result = try CommandRunner().run(["probe", "--target", "self", "--all", "--json", "--timeout", "0.5", "--seed", "5"], timeout: 60)
    #expect(result.status == 1, "Linux deviates from RFC 7323 §3.2's SHOULD (est-missing-timestamp): \(result.stderr)")
    let cases = result.lines.filter { $0.hasPrefix("{\"type\":\"case\"") }
    #expect(cases.count == 62)
    #expect(!cases.contains { $0.contains("\"verdict\":\"inconclusive\"") || $0.contains("\"verdict\":\"not run\"") })
    #expect(cases.filter { $0.contains("\"verdict\":\"deviates\"") }.count == 1)
    func line(_ name: String) -> String { cases.first { $0.contains("\"case\":\"\(name)\"") } ?? "" }
    #expect(line("tcp-bad-checksum").contains("\"TcpInCsumErrors\":1"))
    #expect(line("listen-syn-fin").contains("\"verdict\":\"dropped\""))
    #expect(line("tcp-window-scale-15").contains("\"verdict\":\"conforms\"") && line("tcp-window-scale-15").contains("shift 14"))
    let summary = result.lines.last ?? ""
    #expect(summary.contains("\"kernel_is_target\":true") && summary.contains("\"exit_status\":1"))
    if Privileges.hostRoot {
      // The kernel's own reason, from the tracepoint, attributed to the case that caused it.
      #expect(line("tcp-bad-checksum").contains("{\"reason\":\"TCP_CSUM\",\"function\":\"tcp_v4_rcv\""))
      #expect(line("closed-syn").contains("\"reason\":\"NO_SOCKET\""))
      #expect(summary.contains("\"drop_reasons\":\"recorded (skb:kfree_skb;"))
    } else {
      // Without the host's CAP_SYS_ADMIN: said in JSON only, with the reason.
      #expect(line("tcp-bad-checksum").contains("\"drop_reasons_unavailable\":\"drop reasons unavailable (mounting tracefs"))
    }
    let interface = try #require(summary.split(separator: "\"interface\":\"").last?.split(separator: "\"").first)
    #expect(interface.hasPrefix("tcs"))
    #expect(Self.interfaces(String(interface)).isEmpty, "the veth pair is gone")
    let pid = interface.dropFirst(3).dropLast()
    #expect(!FileManager.default.fileExists(atPath: "/var/run/netns/tcpcraft-self-\(pid)"))
  }

  @Test(
    "A broken path from the command line (--target self with a wrong next-hop MAC): nothing conforms, exit status 3",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func brokenPathExitStatus() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let names = ["closed-rst", "listen-fin", "tcp-bad-checksum", "ip-bad-checksum", "closed-syn", "est-rst-in-window"]
    let result = try CommandRunner().run(
      ["probe", "--target", "self", "--json", "--timeout", "0.3", "--dst-mac", "02:00:00:00:00:99"]
        + names.flatMap { ["--case", $0] }, timeout: 60)
    #expect(result.status == 3, "\(result.stderr)")
    let cases = result.lines.filter { $0.hasPrefix("{\"type\":\"case\"") }
    #expect(cases.count == names.count)
    #expect(cases.allSatisfy { $0.contains("\"verdict\":\"inconclusive\"") && $0.contains("path broken") })
    #expect(cases.allSatisfy { $0.contains("\"control\":{\"passed\":false") })
  }

  @Test(
    "probe --svg draws each case's ladder: one case one file, several cases FILE-CASE.svg; arrows match the transcript's segments",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func svgPictures() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let folder = NSTemporaryDirectory() + "tcpcraft-probe-svg-\(getpid())"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let one = try CommandRunner().run(
      ["probe", "--target", "self", "--case", "closed-syn", "--timeout", "0.5", "--svg", folder + "/one.svg"], timeout: 60)
    #expect(one.status == 0, "\(one.stderr)")
    let picture = try LabTests.SVG(path: folder + "/one.svg")
    // The positive controls and the case: SYNs of ours, each answered by the closed port's RST,ACK.
    #expect(picture.segments.contains { $0.flags == "SYN" && $0.direction == "out" }, "\(picture.segments)")
    #expect(picture.segments.contains { $0.flags == "RST,ACK" && $0.direction == "in" && $0.seq == 0 }, "\(picture.segments)")
    // Every SYN of ours is answered by a RST,ACK acknowledging it (ack = seq + 1), arrow for arrow.
    for (index, segment) in picture.segments.enumerated() where segment.flags == "SYN" {
      let answer = picture.segments.dropFirst(index + 1).first { $0.flags == "RST,ACK" }
      #expect(answer?.ack == segment.seq &+ 1, "\(picture.segments)")
    }
    try LabTests.renders(folder + "/one.svg")
    let two = try CommandRunner().run(
      ["probe", "--target", "self", "--case", "closed-syn", "--case", "closed-rst", "--timeout", "0.5",
       "--svg", folder + "/many.svg"], timeout: 60)
    #expect(two.status == 0, "\(two.stderr)")
    for name in ["closed-syn", "closed-rst"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/many-\(name).svg"), "one picture a case: \(name)")
    }
  }

  @Test("--target takes only `self`, and no HOST:PORT beside it")
  func targetUsage() throws {
    let runner = CommandRunner()
    let other = try runner.run(["probe", "--target", "elsewhere", "--all"])
    #expect(other.status == 2 && other.errorLines.count == 1 && other.stderr.contains("--target self"))
    let both = try runner.run(["probe", "127.0.0.1:80", "--target", "self", "--all"])
    #expect(both.status == 2 && both.errorLines.count == 1)
    let netns = try runner.run(["probe", "--target", "self", "--all", "--netns", "x"])
    #expect(netns.status == 2 && netns.errorLines.count == 1)
  }

  @Test(
    "Probe cases are transcripts: --ladder draws each case, --explain names the rule under the crafted segment; 100 columns",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin) && Privileges.haveTool("ip"), "needs root and iproute2"))
  func ladderAndExplain() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let result = try CommandRunner().run(
      ["probe", "--target", "self", "--case", "est-rst-in-window", "--case", "closed-syn", "--ladder", "--explain",
       "--timeout", "0.3"], timeout: 60)
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("|-- SYN seq=0 ") && result.stdout.contains("|<-- SYN,ACK seq=0 ack=1 "))
    #expect(result.stdout.contains("[crafted] IP ") && result.stdout.contains("est-rst-in-window: RFC 5961 §3.2"))
    #expect(result.stdout.contains("[control] IP "), "the positive controls are in the transcript")
    // The table, evidence and explanations wrap at 100 columns (the ladder is drawn as wide as
    // its labels need).
    let plain = try CommandRunner().run(
      ["probe", "--target", "self", "--all", "--explain", "--timeout", "0.3"], timeout: 60)
    #expect(plain.lines.count > 62 * 3)
    #expect(plain.lines.allSatisfy { $0.count <= 100 }, "\(plain.lines.filter { $0.count > 100 })")
  }
}
