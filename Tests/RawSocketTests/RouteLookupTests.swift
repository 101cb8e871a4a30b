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
    if let source = after("src") { #expect(IPv4Text(route.sourceAddress) == source) }
    #expect(route.gateway.map(IPv4Text) == after("via"))
    let mac = try String(contentsOfFile: "/sys/class/net/\(device)/address", encoding: .utf8)
    #expect(
      route.interfaceMAC.map { String(format: "%02x", $0) }.joined(separator: ":")
        == mac.trimmingCharacters(in: .whitespacesAndNewlines))
  }
}
