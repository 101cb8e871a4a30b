#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// `demo --serve --veth`: a kernel server one veth hop away, driven by tcpcraft's own clients
/// through `sandbox --join`, the way the lab and the banner tell a student to. Real namespaces, a
/// real veth, a real kernel listener; and nothing left afterwards, SIGKILL included.
@Suite("demo --serve --veth: a two-namespace peer", .serialized)
struct ServePeerTests {
  /// A running `demo --serve --veth` (stdout to a file we poll: its banner comes at once, the
  /// process runs on).
  final class Served {
    let process = Process()
    let directory: String
    let output: String
    private(set) var banner = ""

    init(_ arguments: [String]) throws {
      let binary = try #require(CommandRunner.binary, "tcpcraft binary not found; build it first")
      directory = NSTemporaryDirectory() + "tcpcraft-peer-\(getpid())-\(UUID().uuidString.prefix(8))"
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
      output = directory + "/serve.txt"
      _ = FileManager.default.createFile(atPath: output, contents: nil)
      process.executableURL = URL(fileURLWithPath: binary)
      process.arguments = ["demo", "--serve", "--veth"] + arguments
      process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
      process.standardError = process.standardOutput
      process.standardInput = FileHandle.nullDevice
      try process.run()
      // The banner ends with the shell hint (at most 10 s).
      for _ in 0..<200 {
        banner = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        if banner.contains("(or a shell there") || !process.isRunning { break }
        usleep(50_000)
      }
    }

    var pid: Int32 { process.processIdentifier }

    /// `ADDRESS:PORT` of the server, from the banner's "serving on" line.
    var target: String? {
      banner.split(separator: "\n").first { $0.hasPrefix("serving on ") }?.split(separator: " ").dropFirst(2).first.map(String.init)
    }

    /// The network namespaces the process holds: its own (the client's) and, by a descriptor,
    /// the server's (as `net:[INODE]`).
    func namespaces() -> Set<String> {
      var found: Set<String> = []
      if let own = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net") { found.insert(own) }
      for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), link.hasPrefix("net:[") {
          found.insert(link)
        }
      }
      return found
    }

    /// Ends it: SIGKILL (the process is ours: we started it and it has not been reaped).
    func kill() {
      if process.isRunning { Glibc.kill(pid, SIGKILL) }
      process.waitUntilExit()
      try? FileManager.default.removeItem(atPath: directory)
    }
  }

  /// Every process (by pid) that is in, or holds a descriptor of, one of `namespaces`.
  /// The entries of /run/netns that are bind mounts of one of `namespaces` ("net:[INODE]").
  static func namesBound(to namespaces: Set<String>) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
    return names.filter { name in
      var status = stat()
      guard stat("/run/netns/\(name)", &status) == 0 else { return false }
      return namespaces.contains("net:[\(status.st_ino)]")
    }
  }

  static func holders(of namespaces: Set<String>) -> [String] {
    var found: [String] = []
    for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where pid.allSatisfy(\.isNumber) {
      if let own = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net"), namespaces.contains(own) {
        found.append(pid)
        continue
      }
      for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
        if let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"), namespaces.contains(link) {
          found.append(pid)
          break
        }
      }
    }
    return found
  }

  /// Segment lines (`0.000 in  IP ...`) of a command's output.
  static func segments(_ output: String, direction: String) -> [String] {
    output.split(separator: "\n").map(String.init).filter { $0.contains(" \(direction) ") && $0.contains(" IP ") && $0.first?.isNumber == true }
  }

  static func length(_ line: String) -> Int? {
    guard let range = line.range(of: "length ") else { return nil }
    return Int(line[range.upperBound...].prefix { $0.isNumber })
  }

  @Test(
    "the MTU sets the MSS, 3 × MSS arrives as 3 segments, and nothing is left after a SIGKILL",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs CAP_NET_RAW and CAP_NET_ADMIN (root, or a private user namespace)"),
    arguments: [(mtu: 576, mss: 536), (mtu: 1500, mss: 1460)])
  func mssFromTheMTU(_ link: (mtu: Int, mss: Int)) throws {
    try Privileges.check(.netRaw, .netAdmin)
    let binary = try #require(CommandRunner.binary)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let served = try Served(["--mtu", String(link.mtu), "--reply-size", String(3 * link.mss), "--duration", "60"])
    var killed = false
    defer { if !killed { served.kill() } }
    let target = try #require(served.target, "no banner: \(served.banner)")
    #expect(served.banner.contains("MTU \(link.mtu): each side announces MSS \(link.mtu) - 40 = \(link.mss)"))
    #expect(served.banner.contains("tcpcraft sandbox --join \(served.pid) -- tcpcraft handshake \(target) --mss \(link.mss)"))
    let join = ["sandbox", "--join", String(served.pid), "--", binary]

    // The peer is up: the client's end of the veth, with the MTU asked for.
    if let ip = Privileges.toolPath("ip") {
      let links = try runner.run(["sandbox", "--join", String(served.pid), "--", ip, "-o", "link", "show", "dev", "veth-client"])
      #expect(links.status == 0, "\(links.stderr)")
      #expect(links.stdout.contains("veth-client@") && links.stdout.contains(" mtu \(link.mtu) "), "\(links.stdout)")
      #expect(links.stdout.contains("state UP"), "\(links.stdout)")
    }

    // The handshake: we offer 65000 (more than any link here); the server's kernel announces the
    // MSS its MTU allows, unasked.
    let handshake = try runner.run(join + ["handshake", target, "--mss", "65000"])
    #expect(handshake.status == 0, "\(handshake.stdout)\n\(handshake.stderr)")
    let synAck = try #require(Self.segments(handshake.stdout, direction: "in").first)
    #expect(synAck.contains("Flags [S.]") && synAck.contains("options [mss \(link.mss)]"), "\(synAck)")
    #expect(handshake.stdout.contains("peer LISTEN → SYN-RECEIVED"), "the server's state, read in its namespace")

    // A request: the reply of 3 × MSS crosses the veth as three segments of MSS bytes.
    let data = try runner.run(join + ["data", target, "GET /"])
    #expect(data.status == 0, "\(data.stdout)\n\(data.stderr)")
    let pieces = Self.segments(data.stdout, direction: "in").compactMap(Self.length).filter { $0 > 0 }
    #expect(pieces == [link.mss, link.mss, link.mss], "\(data.stdout)")
    #expect(data.stdout.contains("the peer replied \(3 * link.mss) bytes"))

    let fin = try runner.run(join + ["fin", target])
    #expect(fin.status == 0, "\(fin.stdout)\n\(fin.stderr)")

    // Nothing left: after a SIGKILL, no process is in either namespace or holds one (so the
    // kernel removes them; kernel fact 20), none is named in /run/netns. A process of ours kept
    // in the client's namespace meanwhile sees the veth go with the server (fact 22).
    let namespaces = served.namespaces()
    #expect(namespaces.count == 2, "the client's and the server's namespace: \(namespaces)")
    let witness = try runner.start(["sandbox", "--join", String(served.pid), "--", "/bin/sleep", "30"])
    let devices = "/proc/\(witness.process.processIdentifier)/net/dev"
    for _ in 0..<100 where !((try? String(contentsOfFile: devices, encoding: .utf8)) ?? "").contains("veth-client") {
      usleep(50_000)
    }
    #expect(((try? String(contentsOfFile: devices, encoding: .utf8)) ?? "").contains("veth-client"))
    served.kill()
    killed = true
    for _ in 0..<200 where ((try? String(contentsOfFile: devices, encoding: .utf8)) ?? "").contains("veth-client") {
      usleep(50_000)
    }
    #expect(!((try? String(contentsOfFile: devices, encoding: .utf8)) ?? "veth-client").contains("veth-client"), "the veth outlived the server")
    witness.process.terminate()  // ours: started above, not reaped yet
    _ = witness.finish(timeout: 5)
    var left = Self.holders(of: namespaces)
    for _ in 0..<100 where !left.isEmpty {
      usleep(100_000)
      left = Self.holders(of: namespaces)
    }
    #expect(left.isEmpty, "processes still in or holding the peer's namespaces: \(left)")
    // Other tests name namespaces of their own meanwhile: only a name bound to one of the
    // peer's namespaces (same inode) would be ours.
    #expect(Self.namesBound(to: namespaces).isEmpty, "the peer's namespaces are named in /run/netns")
    let rejoin = try runner.run(["sandbox", "--join", String(served.pid), "--", "/bin/true"])
    #expect(rejoin.status == 1 && rejoin.stderr.contains("no process \(served.pid)"), "\(rejoin.stderr)")
  }

  /// As nobody, with no capability and no grant: the peer comes up inside a private user
  /// namespace, and the printed `sandbox --join` commands work (the user namespace is joined
  /// too, with its capabilities).
  @Test(
    "no root: the peer and its clients in a private user namespace",
    .enabled(if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setpriv"), "\(Privileges.hostRootReason)"))
  func noRoot() throws {
    try Privileges.checkHostRoot()
    if case .forbidden = NoRootTests.userNamespaces { return }
    try NoRootTests.withNobodyCopy { copy, runner in
      let script = """
        "$T" demo --serve --veth --mtu 576 --reply-size 1608 --duration 30 > serve.txt 2>&1 & server=$!
        for i in $(seq 100); do grep -q 'or a shell there' serve.txt && break; sleep 0.1; done
        cat serve.txt
        target=$(sed -n 's/^serving on \\([0-9.]*:[0-9]*\\) .*/\\1/p' serve.txt)
        "$T" sandbox --join $server -- "$T" handshake $target --mss 536 \\
          && "$T" sandbox --join $server -- "$T" data $target 'GET /' \\
          && "$T" sandbox --join $server -- "$T" fin $target; status=$?
        kill $server; wait $server 2>/dev/null; exit $status
        """
      let result = try runner.run(
        ["T=\(copy.binary)", "/bin/sh", "-c", script], prefix: copy.asUser([]), directory: copy.workFolder, timeout: 60,
        binary: "/usr/bin/env")
      #expect(result.status == 0, "stdout: \(result.stdout) stderr: \(result.stderr)")
      #expect(result.stdout.contains("(no root here: both namespaces live in a private user namespace of our own)"))
      #expect(result.stdout.contains("options [mss 536]"))
      #expect(result.stdout.contains("peer LISTEN → SYN-RECEIVED"), "\(result.stdout)")
      let pieces = Self.segments(result.stdout, direction: "in").compactMap(Self.length).filter { $0 > 0 }
      #expect(pieces == [536, 536, 536], "\(result.stdout)")
      #expect(result.stdout.contains("closed:"))
    }
  }

  /// A copy with only the capability grant cannot make namespaces (kernel fact 23): one clear
  /// line, exit status 1, nothing left.
  @Test(
    "the capability grant alone: one line naming the ways that work",
    .enabled(
      if: Privileges.shouldRunAsHostRoot && Privileges.haveTool("setcap") && Privileges.haveTool("setpriv"),
      "\(Privileges.hostRootReason); and setcap (libcap2-bin) and setpriv"))
  func grantAlone() throws {
    try Privileges.checkHostRoot()
    let binary = try #require(CommandRunner.binary)
    let copy = try UnprivilegedCopy(of: binary, capabilities: NoRootTests.grant)
    defer { copy.cleanUp() }
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    // Through env, as from a user's shell: a process that holds no capability execs the copy, so
    // its capabilities grow at that exec (straight from setpriv, root's are still held then).
    let result = try runner.run(
      ["demo", "--serve", "--veth", "--duration", "1"], prefix: copy.asUser(["/usr/bin/env"]), directory: copy.workFolder,
      binary: copy.binary)
    #expect(result.status == 1)
    #expect(result.errorLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.contains("needs CAP_SYS_ADMIN (sudo), or a copy of tcpcraft with no capability grant"), "\(result.stderr)")
  }

  @Test("bad combinations get one line and exit status 2")
  func usage() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    for (arguments, message) in [
      (["demo", "--serve", "--veth", "--netns", "lab"], "give --veth (namespaces of its own) or --netns NAME (yours), not both"),
      (["demo", "--serve", "--mtu", "576"], "--mtu sets the veth's MTU: give it with --veth"),
      (["demo", "--serve", "--veth", "--mtu", "40"], "--mtu"),
      (["demo", "--veth"], "--veth goes with --serve"),
      (["demo", "--reply-size", "10"], "--reply-size goes with --serve"),
      (["demo", "--close-now"], "--close-now goes with --serve"),
      (["demo", "--duration", "5"], "--duration goes with --serve"),
    ] {
      let result = try runner.run(arguments)
      #expect(result.status == 2, "\(arguments): \(result.stderr)")
      #expect(result.errorLines.count == 1 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
    }
  }

  @Test("sandbox --join refuses what is not a process of ours")
  func joinRefuses() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let missing = try runner.run(["sandbox", "--join", "4194304", "--", "/bin/true"])
    #expect(missing.status == 1 && missing.stderr.contains("no process 4194304"), "\(missing.stderr)")
    // pid 1 belongs to root: a normal user is refused by name (root owns it, so root may join).
    if getuid() != 0 {
      let other = try runner.run(["sandbox", "--join", "1", "--", "/bin/true"])
      #expect(other.status == 1 && other.stderr.contains("is not yours"), "\(other.stderr)")
    }
  }
}
