// Route, link and neighbour lookups against the real kernel (NETLINK_ROUTE needs no privilege
// for reading; the tests still only look at loopback and at what `ip route get` says).
import Foundation
import Glibc
import Testing
import TestSupport
@testable import RawSocket

@Suite struct RouteLookupTests {
  @Test func loopbackRoute() throws {
    let route = try RouteLookup.route(to: 0x7F00_0001)
    #expect(route.interfaceName == "lo")
    #expect(route.interfaceIndex == if_nametoindex("lo"))
    #expect(route.sourceAddress == 0x7F00_0001)
    #expect(route.gateway == nil)
    #expect(route.isLocal)
    #expect(route.nextHopMAC == [0, 0, 0, 0, 0, 0])
    #expect(route.interfaceMAC == [0, 0, 0, 0, 0, 0])
    let mtu = try String(contentsOfFile: "/sys/class/net/lo/mtu", encoding: .utf8)
    #expect(String(route.mtu) == mtu.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  @Test func anotherLoopbackAddressUsesLo() throws {
    let route = try RouteLookup.route(to: 0x7F01_0203)  // 127.1.2.3
    #expect(route.interfaceName == "lo")
    #expect(route.sourceAddress == 0x7F00_0001)
  }

  @Test func interfaceByName() throws {
    let lookup = try RouteLookup()
    let lo = try lookup.interface(named: "lo")
    #expect(lo.index == if_nametoindex("lo"))
    #expect(lo.isLoopback)
    #expect(lo.hardwareType == 772)  // ARPHRD_LOOPBACK
    #expect(try lookup.interface(index: lo.index) == lo)
    #expect(throws: NetlinkError.kernel(.noSuchDevice, message: nil)) {
      try lookup.interface(named: "tcpcraft-none0")
    }
    for impossible in ["", String(repeating: "x", count: 100_000), "lo\u{0}x"] {
      #expect(throws: NetlinkError.self) { try lookup.interface(named: impossible) }
    }
  }

  /// The kernel's answer for an address off loopback agrees with `ip route get` (a lookup only;
  /// nothing is sent). 192.0.2.1 is TEST-NET-1.
  @Test(.enabled(if: Privileges.haveTool("ip"))) func agreesWithIPRouteGet() throws {
    let (status, output) = try runTool("/usr/sbin/ip", ["-o", "route", "get", "192.0.2.1"])
    let words = output.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
    func after(_ key: String) -> String? {
      words.firstIndex(of: key).flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil }
    }
    guard status == 0, let device = after("dev") else {
      // No route: we must say so as well.
      #expect(throws: NetlinkError.self) { try RouteLookup.route(to: 0xC000_0201) }
      return
    }
    let route = try RouteLookup.route(to: 0xC000_0201)
    #expect(route.interfaceName == device)
    if let source = after("src") { #expect(dottedQuad(route.sourceAddress) == source) }
    #expect(route.gateway.map(dottedQuad) == after("via"))
    let mac = try String(contentsOfFile: "/sys/class/net/\(device)/address", encoding: .utf8)
    #expect(
      route.interfaceMAC.map { String(format: "%02x", $0) }.joined(separator: ":")
        == mac.trimmingCharacters(in: .whitespacesAndNewlines))
  }
}

/// Off loopback, in a veth pair the test creates (the peer in its own namespace) and removes:
/// on-link and gateway routes, the next hop's MAC from a permanent neighbour entry, and no MAC
/// for a neighbour never resolved. Lookups only: nothing is sent.
@Suite struct RouteLookupVethTests {
  @Test(.enabled(if: Privileges.shouldRun(.netAdmin) && Privileges.haveTool("ip"), "needs root and ip"))
  func nextHopMACAndGatewayOverVeth() throws {
    try Privileges.check(.netAdmin)
    let pid = getpid()
    let host = "tcnlh\(pid)", peer = "tcnlp\(pid)", namespace = "tcpcraft_nl_\(pid)"
    let subnet = 10 << 24 | 213 << 16 | UInt32(pid % 250) << 8  // 10.213.x.0/29
    let remote = 10 << 24 | 214 << 16 | UInt32(pid % 250) << 8  // 10.214.x.0/24 via .2
    let ip = "/usr/sbin/ip"
    defer {
      _ = try? runTool(ip, ["link", "del", host])
      _ = try? runTool(ip, ["netns", "del", namespace])
    }
    for command in [
      ["netns", "add", namespace],
      ["link", "add", host, "type", "veth", "peer", "name", peer, "netns", namespace],
      ["addr", "add", "\(dottedQuad(subnet | 1))/29", "dev", host],
      ["link", "set", host, "up"],
      ["-n", namespace, "link", "set", peer, "up"],
      ["neigh", "replace", dottedQuad(subnet | 2), "lladdr", "02:00:5e:10:20:30", "dev", host, "nud", "permanent"],
      ["route", "add", "\(dottedQuad(remote))/24", "via", dottedQuad(subnet | 2), "dev", host],
    ] {
      let (status, output) = try runTool(ip, command)
      try #require(status == 0, "ip \(command.joined(separator: " ")): \(output)")
    }
    let hostMAC = try String(contentsOfFile: "/sys/class/net/\(host)/address", encoding: .utf8)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    let lookup = try RouteLookup()

    let onLink = try lookup.route(to: subnet | 2)
    #expect(onLink.interfaceName == host)
    #expect(onLink.interfaceIndex == if_nametoindex(host))
    #expect(onLink.sourceAddress == subnet | 1)
    #expect(onLink.gateway == nil)
    #expect(onLink.nextHopMAC == [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30])
    #expect(onLink.interfaceMAC.map { String(format: "%02x", $0) }.joined(separator: ":") == hostMAC)
    #expect(onLink.mtu == 1500)
    #expect(!onLink.isLocal)

    let viaGateway = try lookup.route(to: remote | 7)
    #expect(viaGateway.interfaceName == host)
    #expect(viaGateway.gateway == subnet | 2)
    #expect(viaGateway.nextHop == subnet | 2)
    #expect(viaGateway.nextHopMAC == [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30])

    let unresolved = try lookup.route(to: subnet | 3)
    #expect(unresolved.interfaceName == host)
    #expect(unresolved.nextHopMAC == nil)
  }
}
