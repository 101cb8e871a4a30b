import Foundation
import Testing
import TestSupport

/// `tcpcraft run`: usage errors, parse errors with positions, folders, reports, and no residue
/// after SIGKILL. The privileged ones run the real binary against the kernel.
@Suite struct RunCommandTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let examples = root.appendingPathComponent("examples/scripts").path

  /// Runs `body` with a private folder (0700) for the scripts a test writes, named after the pid
  /// and `tag`, and removes the folder afterwards. Shared by the `run` suites.
  static func withScratch<R>(_ tag: String, _ body: (String) throws -> R) throws -> R {
    let path = NSTemporaryDirectory() + "tcpcraft-\(tag)-\(getpid())-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
  }

  /// A listener that answers a SYN (mss 1000) with `reply` on line 6: the failing script of the
  /// `run` suites, `reply` chosen so the kernel's SYN+ACK does not match it.
  static func wrongReplyScript(_ reply: String) -> String {
    """
    --tolerance_usecs=200000
    0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
    +0 bind(3, ..., ...) = 0
    +0 listen(3, 1) = 0
    +0 < S 0:0(0) win 1000 <mss 1000>
    \(reply)
    """
  }

  @Test("Bad usage: one line on stderr, exit 2")
  func usage() throws {
    let runner = CommandRunner()
    let nothing = try runner.run(["run"])
    #expect(nothing.status == 2 && nothing.errorLines.count == 1)
    let version = try runner.run(["run", Self.examples, "--ip-version", "ipv5"])
    #expect(version.status == 2 && version.errorLines.count == 1)
    #expect(version.stderr.contains("--ip-version must be ipv4, ipv6 or ipv4-mapped-ipv6, not \"ipv5\""), "\(version.stderr)")
    let define = try runner.run(["run", Self.examples, "-D", "NOVALUE"])
    #expect(define.status == 2 && define.stderr.contains("NAME=VALUE"))
    let tolerance = try runner.run(["run", Self.examples, "--tolerance-usecs", "-5"])
    #expect(tolerance.status == 2 && tolerance.errorLines.count == 1)
    let parallel = try runner.run(["run", Self.examples, "--parallel", "zero"])
    #expect(parallel.status == 2 && parallel.stderr.contains("--parallel"))
    let missing = try runner.run(["run", "/nonexistent/script.pkt"])
    #expect(missing.status == 2 && missing.stderr.contains("no such file"))
  }

  @Test("--help has examples")
  func help() throws {
    let result = try CommandRunner().run(["run", "--help"])
    #expect(result.status == 0)
    #expect(result.stdout.contains("examples:"))
    #expect(result.stdout.contains("tcpcraft run examples/scripts"))
    let viaHelp = try CommandRunner().run(["help", "run"])
    #expect(viaHelp.status == 0 && viaHelp.stdout == result.stdout)
  }

  @Test("A parse error: file:line:column: what was expected, exit 2 (no privileges needed)")
  func parseError() throws {
    try RunCommandTests.withScratch("run") { folder in
      let path = folder + "/broken.pkt"
      try "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 > S 0:0(0) ack\n".write(toFile: path, atomically: false, encoding: .utf8)
      let result = try CommandRunner().run(["run", path])
      #expect(result.status == 2)
      #expect(result.stderr == "\(path):2:18: expected an acknowledgment number, found end of line\n", "\(result.stderr)")
    }
  }

  @Test(
    "A folder: one line per script, totals, exit 0 when all pass",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func folder() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    let result = try CommandRunner().run(["run", Self.examples, "--parallel", "2"], timeout: 60)
    #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    let passLines = result.lines.filter { $0.hasPrefix("PASS ") }
    #expect(passLines.count >= 6)
    #expect(result.lines.last?.contains("passed, 0 failed, 0 not run") == true, "\(result.stdout)")
    // Progress goes to stderr.
    #expect(result.stderr.contains("[1/"))
  }

  @Test(
    "A failing script: the report has file:line, the script line, expected and actual, exit 1; --json too",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func failure() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("run") { folder in
      let path = folder + "/wrong.pkt"
      try Self.wrongReplyScript("+0 > S. 0:0(0) ack 1 <mss 1200>").write(toFile: path, atomically: false, encoding: .utf8)
      let result = try CommandRunner().run(["run", path, "--pcap", folder + "/wrong.pcap"], timeout: 30)
      #expect(result.status == 1)
      #expect(result.lines.first?.hasPrefix("FAIL \(path)") == true, "\(result.stdout)")
      #expect(result.stdout.contains("\(path):6: outbound packet does not match: options: expected <mss 1200>, got <mss 1460"))
      #expect(result.stdout.contains("  script:   +0 > S. 0:0(0) ack 1 <mss 1200>"))
      #expect(result.stdout.contains("  expected: IP 192.168.0.1.8080 > 192.0.2.1."))
      #expect(result.stdout.contains("  actual:   IP 192.168.0.1.8080 > 192.0.2.1."))
      #expect(result.stdout.contains("the exchange so far:"))
      // The pcap holds the SYN we injected and the kernel's SYN+ACK.
      let pcap = try #require(FileManager.default.contents(atPath: folder + "/wrong.pcap"))
      #expect(pcap.count > 24 + 2 * (16 + 40))

      let json = try CommandRunner().run(["run", path, "--json"], timeout: 30)
      #expect(json.status == 1)
      #expect(json.lines.count == 1)
      #expect(json.stdout.contains("\"status\":\"FAIL\""))
      #expect(json.stdout.contains("\"line\":6"))
      #expect(json.stdout.contains("\"expected\":\"IP 192.168.0.1.8080"))
    }
  }

  @Test(
    "--pcap never writes through a planted symbolic link: the link's target is untouched, one line says why",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func pcapRefusesPlantedLink() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("run") { folder in
      let target = folder + "/precious"
      try "keep me".write(toFile: target, atomically: false, encoding: .utf8)
      try FileManager.default.createSymbolicLink(atPath: folder + "/out.pcap", withDestinationPath: target)
      let result = try CommandRunner().run(["run", Self.examples + "/handshake.pkt", "--pcap", folder + "/out.pcap"], timeout: 30)
      #expect(result.stdout.contains("PASS"), "the script still runs: \(result.stdout)")
      #expect(result.status == 1, "a refused --pcap fails the run")
      #expect(result.stderr.contains("cannot write \(folder)/out.pcap"), "\(result.stderr)")
      #expect(try String(contentsOfFile: target, encoding: .utf8) == "keep me")
    }
  }

  @Test(
    "SIGKILL midway leaves nothing: no interface, no named namespace, no command still running",
    .enabled(if: Privileges.shouldRun(.netAdmin, .sysAdmin), "needs root (namespaces, tun)"))
  func killedRun() throws {
    try Privileges.check(.netAdmin, .sysAdmin)
    try RunCommandTests.withScratch("run") { folder in
      let marker = "tcpcraft-kill-test-\(getpid())"
      let path = folder + "/slow.pkt"
      // `sleep 30` is the shell's child (dash forks it, the marker stays on the shell): it must die
      // with tcpcraft too, and it outlasts every wait below, so a survivor is always seen.
      try """
        `sleep 30 # \(marker)`
        0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
        """.write(toFile: path, atomically: false, encoding: .utf8)
      // Other tests on this machine may add interfaces and named namespaces meanwhile: look only at
      // what could be ours (tun devices on the host; our namespace, by its inode).
      let tunDevices = Self.hostTunDevices()
      let running = try CommandRunner().start(["run", path])
      // Wait (bounded) until the command runs inside the namespace, then kill tcpcraft outright.
      let host = Self.namespace(of: "/proc/self/ns/net")
      var ours: Set<String> = []
      let started = waitUntil(seconds: 20) {
        ours = Set(Self.taskNamespaces(pid: running.process.processIdentifier)).subtracting([host])
        return !ours.isEmpty && !Self.tasks(named: "sleep", in: ours).isEmpty
      }
      #expect(started, "the backtick command never started in a namespace of its own")
      let clock = ContinuousClock()
      let sleepSeen = clock.now
      // Hold the namespaces open: a freed namespace's inode number is soon given to a new one (tests
      // running alongside make many), which would look like ours. Held, it keeps its number; no task
      // may be left in it.
      let pid = running.process.processIdentifier
      let held = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).map {
        open("/proc/\(pid)/task/\($0)/ns/net", O_RDONLY | O_CLOEXEC)
      }
      defer { for fd in held where fd >= 0 { close(fd) } }
      kill(running.process.processIdentifier, SIGKILL)
      _ = running.finish(timeout: 10)
      // The kernel kills what is left asynchronously (the shell by its parent-death signal, its
      // children with the shell's PID namespace): wait for it, bounded.
      let gone = waitUntil(seconds: 5) { !CommandRunner.shell(["/usr/bin/pgrep", "-f", marker]).contains(where: \.isNumber) }
      #expect(gone, "the script's shell outlived tcpcraft")
      // No task anywhere is still in our namespace (the shell's children included), and no tun
      // device appeared on the host.
      let emptied = waitUntil(seconds: 5) { Set(Self.allTaskNamespaces()).isDisjoint(with: ours) }
      #expect(emptied, "a task is still in the script's namespace: \(Self.tasks(named: nil, in: ours))")
      // Not by ending on its own: all this came well before the script's `sleep 30` was due.
      #expect(sleepSeen.duration(to: clock.now) < .seconds(25))
      #expect(Self.hostTunDevices().isSubset(of: tunDevices))
      // A survivor is ours (it lives in the namespace our tcpcraft made): end it, by pid.
      for pid in Self.tasks(named: "sleep", in: ours) { kill(pid, SIGKILL) }
    }
  }

  /// Processes (by pid) whose network namespace is one of `namespaces`, and named `name` if given.
  static func tasks(named name: String?, in namespaces: Set<String>) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
      guard namespaces.contains(namespace(of: "/proc/\(pid)/ns/net")) else { return false }
      guard let name else { return true }
      let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
      return command.trimmingCharacters(in: .whitespacesAndNewlines) == name
    }
  }

  static func namespace(of path: String) -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? ""
  }

  static func taskNamespaces(pid: Int32) -> [String] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.map { namespace(of: "/proc/\(pid)/task/\($0)/ns/net") }.filter { !$0.isEmpty }
  }

  static func allTaskNamespaces() -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).flatMap { taskNamespaces(pid: $0) }
  }

  static func hostTunDevices() -> Set<String> {
    Set(((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []).filter { $0.hasPrefix("tun") })
  }
}
