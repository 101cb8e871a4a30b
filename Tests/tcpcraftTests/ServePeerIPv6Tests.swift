#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// `demo --serve --veth --ipv6`: the two-namespace peer over IPv6 (unique local addresses on
/// the veth, `nodad`), driven through `sandbox --join` as the banner says. The twin of
/// `ServePeerTests.mssFromTheMTU`.
@Suite("demo --serve --veth --ipv6: the two-namespace peer over IPv6", .serialized)
struct ServePeerIPv6Tests {
  /// Segment lines (`0.000 in  IP6 ...`) of a command's output.
  static func segments(_ output: String, direction: String) -> [String] {
    output.split(separator: "\n").map(String.init).filter { $0.contains(" \(direction) ") && $0.contains(" IP6 ") && $0.first?.isNumber == true }
  }

  @Test(
    "over IPv6 the MTU sets MSS = MTU - 60, 3 × MSS arrives as 3 segments, the peer's states are read, nothing is left",
    .enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs CAP_NET_RAW and CAP_NET_ADMIN (root, or a private user namespace)"),
    arguments: [(mtu: 1280, mss: 1220), (mtu: 1500, mss: 1440)])
  func mssFromTheMTU(_ link: (mtu: Int, mss: Int)) throws {
    try Privileges.check(.netRaw, .netAdmin)
    let binary = try #require(CommandRunner.binary)
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let served = try ServePeerTests.Served(["--ipv6", "--mtu", String(link.mtu), "--reply-size", String(3 * link.mss), "--duration", "60"])
    var killed = false
    defer { if !killed { served.kill() } }
    let target = try #require(served.target, "no banner: \(served.banner)")
    #expect(target.hasPrefix("[fd00:216:") && target.contains("::2]:"), "\(target)")
    #expect(served.banner.contains("MTU \(link.mtu): over IPv6 each side announces MSS \(link.mtu) - 60 = \(link.mss)"), "\(served.banner)")
    #expect(served.banner.contains("tcpcraft sandbox --join \(served.pid) -- tcpcraft handshake \(target) --mss \(link.mss)"))
    let join = ["sandbox", "--join", String(served.pid), "--", binary]

    // The client's end has its IPv6 address at once (no duplicate address detection to wait for).
    if let ip = Privileges.toolPath("ip") {
      let addresses = try runner.run(["sandbox", "--join", String(served.pid), "--", ip, "-6", "-o", "addr", "show", "dev", "veth-client"])
      #expect(addresses.status == 0, "\(addresses.stderr)")
      #expect(addresses.stdout.contains("inet6 fd00:216:") && addresses.stdout.contains("::1/64"), "\(addresses.stdout)")
      // Only the link-local fe80:: address may still be tentative (its DAD runs); ours is not.
      let ours = addresses.stdout.split(separator: "\n").filter { $0.contains("inet6 fd00:216:") }
      #expect(ours.count == 1 && ours.allSatisfy { !$0.contains("tentative") && $0.contains("nodad") }, "\(addresses.stdout)")
    }

    // The handshake: we offer 65000; the server's kernel announces the MSS its MTU allows.
    let handshake = try runner.run(join + ["handshake", target, "--mss", "65000"])
    #expect(handshake.status == 0, "\(handshake.stdout)\n\(handshake.stderr)")
    let synAck = try #require(Self.segments(handshake.stdout, direction: "in").first, "\(handshake.stdout)")
    #expect(synAck.contains("Flags [S.]") && synAck.contains("options [mss \(link.mss)]"), "\(synAck)")
    #expect(handshake.stdout.contains("peer LISTEN → SYN-RECEIVED"), "the server's state, read in its namespace: \(handshake.stdout)")

    // A request: the reply of 3 × MSS crosses the veth as three segments of MSS bytes.
    let data = try runner.run(join + ["data", target, "GET /"])
    #expect(data.status == 0, "\(data.stdout)\n\(data.stderr)")
    let pieces = Self.segments(data.stdout, direction: "in").compactMap(ServePeerTests.length).filter { $0 > 0 }
    #expect(pieces == [link.mss, link.mss, link.mss], "\(data.stdout)")
    #expect(data.stdout.contains("the peer replied \(3 * link.mss) bytes"), "\(data.stdout)")

    let fin = try runner.run(join + ["fin", target])
    #expect(fin.status == 0, "\(fin.stdout)\n\(fin.stderr)")

    // Nothing left after a SIGKILL: no process in or holding either namespace.
    let namespaces = served.namespaces()
    #expect(namespaces.count == 2, "the client's and the server's namespace: \(namespaces)")
    served.kill()
    killed = true
    var left = ServePeerTests.holders(of: namespaces)
    for _ in 0..<100 where !left.isEmpty {
      usleep(100_000)
      left = ServePeerTests.holders(of: namespaces)
    }
    #expect(left.isEmpty, "processes still in or holding the peer's namespaces: \(left)")
  }

  @Test("--ipv6 with an MTU below 1280 gets one line and exit status 2")
  func mtuBelowIPv6Minimum() throws {
    let runner = CommandRunner()
    defer { runner.cleanUp() }
    let result = try runner.run(["demo", "--serve", "--veth", "--ipv6", "--mtu", "1279"])
    #expect(result.status == 2, "\(result.stderr)")
    #expect(result.errorLines.count == 1 && result.stderr.contains("minimum link MTU of 1280"), "\(result.stderr)")
  }

  /// Kernel fact 28, checked: in an anonymous namespace (gone with its shell), a veth at MTU 1200
  /// takes no IPv6 address; at 1500 it does; lowered to 1279 it has none left, and back at 1500
  /// still none.
  @Test(
    "kernel fact 28: no IPv6 address below an MTU of 1280, and lowering the MTU drops them",
    .enabled(if: Privileges.shouldRun(.netAdmin) && Privileges.haveTool("ip") && Privileges.haveTool("unshare"), "needs root, iproute2, unshare"))
  func noIPv6BelowMTU1280() throws {
    try Privileges.check(.netAdmin)
    let script = """
      ip link add name va mtu 1200 type veth peer name vb || exit 9
      ip link set dev va up
      ip -6 addr add fd00:99::1/64 dev va nodad 2>/dev/null && echo low-accepted || echo low-refused
      ip link set dev va mtu 1500
      ip -6 addr add fd00:99::1/64 dev va nodad && echo high-accepted || echo high-refused
      echo "at-1500 $(ip -6 -o addr show dev va scope global | wc -l)"
      ip link set dev va mtu 1279
      echo "at-1279 $(ip -6 -o addr show dev va | wc -l)"
      ip link set dev va mtu 1500
      echo "back-at-1500 $(ip -6 -o addr show dev va scope global | wc -l)"
      """
    let result = try Subprocess.status(["unshare", "-n", "sh", "-c", script], timeout: 20)
    #expect(result.status == 0, "\(result.output)")
    let lines = result.output.split(separator: "\n").map(String.init)
    #expect(lines == ["low-refused", "high-accepted", "at-1500 1", "at-1279 0", "back-at-1500 0"], "\(result.output)")
  }
}
