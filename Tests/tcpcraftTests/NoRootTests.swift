// No root needed: the documented capability grant works for a normal user (a copy of tcpcraft
// with exactly `setcap cap_net_raw,cap_net_admin+ep`, run as nobody), and where the kernel allows
// user namespaces, `demo` and `sandbox` need neither sudo nor the grant. Where it forbids them,
// one line says so and names the alternatives.
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct NoRootTests {
  /// The grant README and every capability message give.
  static let grant = "cap_net_raw,cap_net_admin+ep"

  /// As nobody, a copy with exactly the documented grant: handshake reaches ESTABLISHED (the
  /// kernel listener's accept() returns, so no kernel RST killed it), fin closes it, send gets
  /// its SYN+ACK, sniff captures, demo runs with the grant (no namespace needed).
  @Test(
    .enabled(
      if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setcap") && Privileges.haveTool("setpriv"),
      "\(Privileges.hostRootReason); and setcap (libcap2-bin) and setpriv"))
  func documentedGrantWorksForANormalUser() throws {
    try Privileges.checkHostRoot()
    let binary = try #require(CommandRunner.binary)
    let copy = try UnprivilegedCopy(of: binary, capabilities: Self.grant)
    defer { copy.cleanUp() }
    #expect(CommandRunner.shell(["getcap", copy.binary]).contains("cap_net_admin,cap_net_raw=ep"))
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    func run(_ arguments: [String]) throws -> CommandRunner.Result {
      try runner.run(arguments, prefix: copy.asUser([]), directory: copy.workFolder, binary: copy.binary)
    }
    let listener = try KernelSockets.listener()
    defer { close(listener.fd) }

    let handshake = try run(["handshake", "127.0.0.1:\(listener.port)"])
    #expect(handshake.status == 0, "stderr: \(handshake.stderr)")
    #expect(handshake.lines.contains { $0.contains("[ESTABLISHED | peer SYN-RECEIVED → ESTABLISHED]") }, "\(handshake.stdout)")
    let server = try #require(KernelSockets.accept(listener.fd, milliseconds: 3000), "accept() never returned: \(handshake.stdout)")
    close(server)

    let fin = try run(["fin", "127.0.0.1:\(listener.port)"])
    #expect(fin.status == 0, "stdout: \(fin.stdout) stderr: \(fin.stderr)")
    #expect(fin.stdout.contains("closed:"))

    let sniffer = try runner.start(
      ["sniff", "-i", "lo", "--count", "1", "tcp", "port", String(listener.port)], prefix: copy.asUser([]),
      directory: copy.workFolder, binary: copy.binary)
    #expect(sniffer.waitUntilCapturing())
    let send = try run(["send", "127.0.0.1:\(listener.port)", "--flags", "S", "--expect", "S."])
    #expect(send.status == 0, "stderr: \(send.stderr)")
    let sniffed = sniffer.finish(timeout: 10)
    #expect(sniffed.status == 0, "stderr: \(sniffed.stderr)")
    #expect(sniffed.stdout.contains(".\(listener.port)"), "\(sniffed.stdout)")

    let demo = try run(["demo", "--no-pcap"])
    #expect(demo.status == 0, "stderr: \(demo.stderr)")
    #expect(!demo.stdout.contains("private network namespace"), "with the grant it needs no namespace")
    for result in [handshake, fin, send, sniffed, demo] {
      #expect(!result.stderr.contains("cannot switch the effective group"))
    }
  }

  /// As nobody, a copy with no capability at all: demo runs in a private user + network
  /// namespace, writes the pcap where asked, owned by that user, and leaves nothing on the host.
  @Test(
    .enabled(if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setpriv"), "\(Privileges.hostRootReason)"))
  func demoNeedsNoRootAndNoGrant() throws {
    try Privileges.checkHostRoot()
    try Self.withNobodyCopy { copy, runner in
      let result = try runner.run(
        ["demo", "--pcap", "mine.pcap"], prefix: copy.asUser([]), directory: copy.workFolder, binary: copy.binary)
      #expect(result.status == 0, "stderr: \(result.stderr)")
      #expect(result.stdout.contains("private network namespace"))
      #expect(result.stdout.contains("we end in TIME-WAIT"), "\(result.stdout)")
      let attributes = try FileManager.default.attributesOfItem(atPath: copy.workFolder + "/mine.pcap")
      #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == UnprivilegedCopy.user)
      #expect(((attributes[.size] as? NSNumber)?.intValue ?? 0) > 24, "more than a pcap header")
    }
  }

  /// As nobody, a copy with no capability at all: `probe --target self` makes its namespace target
  /// inside a private user + network namespace and judges a case there (no sudo, no grant), with
  /// the positive controls answered, so the verdict is a real one.
  @Test(
    .enabled(if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setpriv") && Privileges.haveTool("ip"),
      "\(Privileges.hostRootReason); and setpriv, ip"))
  func probeTargetSelfNeedsNoRootAndNoGrant() throws {
    try Privileges.checkHostRoot()
    try Self.withNobodyCopy { copy, runner in
      let result = try runner.run(
        ["probe", "--target", "self", "--case", "closed-syn"], prefix: copy.asUser([]), directory: copy.workFolder,
        binary: copy.binary)
      #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
      #expect(result.stdout.contains("closed-syn"))
      #expect(result.stdout.contains("positive control"), "\(result.stdout)")
      #expect(result.stdout.contains("1 conforms"), "\(result.stdout)")
    }
  }

  /// As nobody, a copy with no capability at all: `run` makes each script's namespace inside a
  /// private user namespace of its own and passes the example scripts, where /dev/net/tun is open
  /// to the user (0666, as most distributions ship it). This machine keeps it 0600, so the test
  /// gives the run a 0666 node in a private mount namespace (the host's node is untouched).
  @Test(
    .enabled(
      if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setpriv") && Privileges.haveTool("unshare")
        && Privileges.haveTool("mknod"), "\(Privileges.hostRootReason); and setpriv, unshare, mknod"))
  func runNeedsNoRootWhereTunIsOpen() throws {
    try Privileges.checkHostRoot()
    let node = NSTemporaryDirectory() + "tcpcraft-tun-\(getpid())"
    try FileManager.default.createDirectory(atPath: node, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(atPath: node) }
    let open = "mount -t tmpfs none \"$0\" && mknod -m 666 \"$0/tun\" c 10 200 && mount --bind \"$0/tun\" /dev/net/tun"
      + " && exec setpriv --reuid=\(UnprivilegedCopy.user) --regid=\(UnprivilegedCopy.user) --clear-groups \"$@\""
    try Self.withNobodyCopy { copy, runner in
      let result = try runner.run(
        ["run", RunCommandTests.examples, "--parallel", "2"],
        prefix: ["unshare", "-m", "--propagation", "private", "sh", "-c", open, node], directory: copy.workFolder,
        timeout: 120, binary: copy.binary)
      #expect(result.status == 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)")
      #expect(result.stdout.contains("7 passed, 0 failed, 0 not run"), "\(result.stdout)")
    }
  }

  /// As nobody where /dev/net/tun is root's alone (this machine: 0600): `run` says so in one
  /// line with what to do, and the script is NOT RUN, never passed.
  @Test(
    .enabled(if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setpriv"), "\(Privileges.hostRootReason); and setpriv"))
  func runSaysWhenTunIsClosed() throws {
    try Privileges.checkHostRoot()
    var status = stat()
    guard stat("/dev/net/tun", &status) == 0, status.st_mode & 0o006 == 0 else { return }  // open to all: nothing to show
    try Self.withNobodyCopy { copy, runner in
      let result = try runner.run(
        ["run", RunCommandTests.examples + "/handshake.pkt"], prefix: copy.asUser([]), directory: copy.workFolder,
        timeout: 60, binary: copy.binary)
      #expect(result.status == 1)
      #expect(result.stdout.contains("NOT RUN") && result.stdout.contains("/dev/net/tun is not open to this user"), "\(result.stdout)")
    }
  }

  /// `sandbox -- COMMAND`: inside, tcpcraft has its capabilities (CapEff full), /sys shows only
  /// lo, `ip netns add` works, and a listener started there answers handshake and fin with no
  /// sudo. Run as nobody when the test is the
  /// host's root, else as the user running the tests (a nested user namespace).
  @Test func sandboxRunsHandshakeAndFinWithoutRoot() throws {
    let binary = try #require(CommandRunner.binary)
    let copy: UnprivilegedCopy? = Privileges.hostRoot ? try UnprivilegedCopy(of: binary) : nil
    defer { copy?.cleanUp() }
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let tool = copy?.binary ?? binary
    let script = """
      grep CapEff /proc/self/status
      echo "interfaces: $(ls /sys/class/net | tr '\\n' ' ')"
      ip netns add tcsbx$$ && ip netns exec tcsbx$$ ip link set lo up && ip netns del tcsbx$$ && echo "netns: ok"
      "$T" demo --serve --port 8080 --duration 30 >/dev/null 2>&1 & server=$!
      for i in $(seq 100); do grep -q ':1F90 00000000:0000 0A' /proc/net/tcp && break; sleep 0.1; done
      "$T" handshake 127.0.0.1:8080 && "$T" fin 127.0.0.1:8080; status=$?
      kill $server; wait $server 2>/dev/null; exit $status
      """
    let result = try runner.run(
      ["sandbox", "--", "/usr/bin/env", "T=\(tool)", "/bin/sh", "-c", script], prefix: copy?.asUser([]) ?? [],
      directory: copy?.workFolder, timeout: 60, binary: tool)
    if case .forbidden(let reason) = Self.userNamespaces {
      #expect(result.status == 1 && result.stderr.contains(reason))
      return
    }
    #expect(result.status == 0, "stdout: \(result.stdout) stderr: \(result.stderr)")
    let capabilities = result.lines.first { $0.hasPrefix("CapEff:") }
      .flatMap { UInt64($0.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
    #expect(capabilities & (1 << 12) != 0 && capabilities & (1 << 13) != 0, "\(result.stdout)")
    #expect(result.lines.contains("interfaces: lo "), "only lo, in its own sysfs: \(result.stdout)")
    #expect(result.lines.contains("netns: ok"), "ip netns add works inside: \(result.stdout) \(result.stderr)")
    #expect(result.stdout.contains("peer SYN-RECEIVED → ESTABLISHED"), "\(result.stdout)")
    #expect(result.stdout.contains("closed:"), "\(result.stdout)")
  }

  /// Where user namespaces are forbidden (here: `user.max_user_namespaces = 0` in a user
  /// namespace of the test's own, with every capability dropped), demo and sandbox say so in one
  /// line that names the setting and both alternatives, and exit 1.
  @Test(
    .enabled(if: Privileges.haveTool("unshare") && Privileges.haveTool("setpriv"), "needs unshare and setpriv"),
    arguments: [["demo"], ["sandbox", "--", "/bin/true"]])
  func forbiddenUserNamespacesSayWhatToDo(command: [String]) throws {
    let binary = try #require(CommandRunner.binary)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let script = "echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --bounding-set=-all --inh-caps=-all \"$@\""
    let result = try runner.run(
      command, prefix: ["unshare", "-Ur", "/bin/sh", "-c", script, "sh"], directory: NSTemporaryDirectory())
    if result.stderr.contains("unshare failed") {
      Issue.record("unshare -Ur itself was refused here: \(result.stderr)")
      return
    }
    #expect(result.status == 1, "stdout: \(result.stdout)")
    #expect(result.errorLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.contains("user.max_user_namespaces = 0"), "\(result.stderr)")
    #expect(result.stderr.contains("sudo"))
    // The binary as the kernel names it (/proc/self/exe: symbolic links resolved).
    let resolved = URL(fileURLWithPath: binary).resolvingSymlinksInPath().path
    #expect(result.stderr.contains("`sudo setcap cap_net_raw,cap_net_admin+ep \(resolved)`"), "\(result.stderr)")
    #expect(!result.stderr.contains("Fatal error"))
  }

  @Test func sandboxUsageErrorIsOneLine() throws {
    let result = try CommandRunner().run(["sandbox", "bash"])
    #expect(result.status == 2)
    #expect(result.errorLines.count == 1)
    #expect(result.stderr.contains("after --"))
    if case .allowed = Self.userNamespaces {
      let missing = try CommandRunner().run(["sandbox", "--", "/nonexistent/tcpcraft-no-such-command"])
      #expect(missing.status == 127)
      #expect(missing.errorLines.count == 1, "\(missing.stderr)")
      #expect(missing.stderr.contains("cannot run \"/nonexistent/tcpcraft-no-such-command\""))
    }
    let help = try CommandRunner().run(["sandbox", "--help"])
    #expect(help.status == 0 && help.stdout.contains("usage: tcpcraft sandbox"))
  }

  /// What the system says about unprivileged user namespaces (read the same way tcpcraft does).
  enum UserNamespaces { case allowed, forbidden(String) }
  static var userNamespaces: UserNamespaces {
    func setting(_ path: String) -> String? {
      (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    if setting("/proc/sys/kernel/unprivileged_userns_clone") == "0" { return .forbidden("unprivileged_userns_clone") }
    if setting("/proc/sys/user/max_user_namespaces") == "0" { return .forbidden("max_user_namespaces") }
    if setting("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" { return .forbidden("apparmor") }
    return .allowed
  }

  /// Runs `body` with a copy of the built binary that nobody may run with no capability, and a
  /// command runner; both are cleaned up afterwards.
  static func withNobodyCopy(_ body: (UnprivilegedCopy, CommandRunner) throws -> Void) throws {
    let binary = try #require(CommandRunner.binary)
    let copy = try UnprivilegedCopy(of: binary)
    defer { copy.cleanUp() }
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    try body(copy, runner)
  }
}
