#if canImport(Glibc)
import Glibc
#endif
import PacketKit
import RawSocket

/// Where the peer's kernel sockets live, when that is not our network namespace.
///
/// `demo --serve --veth` runs its kernel server in a namespace of its own, one veth hop from the
/// client's: `inet_diag` in the client's namespace cannot see the server's socket. `tcpcraft
/// sandbox --join PID` therefore names the server's namespace in `TCPCRAFT_PEER_NETNS` (a
/// descriptor the server process holds, `/proc/PID/fd/N`), and the flow opens its `inet_diag`
/// socket there, so the peer's states show as they do on lo.
public enum PeerNamespace {
  public static let environmentVariable = "TCPCRAFT_PEER_NETNS"

  /// The namespace file named in the environment, when it has the only accepted shape:
  /// `/proc/<pid>/fd/<n>` or `/proc/<pid>/ns/net` (files of the kernel's, never planted ones).
  public static var path: String? {
    guard let value = getenv(environmentVariable).map({ String(cString: $0) }) else { return nil }
    return isAcceptable(value) ? value : nil
  }

  static func isAcceptable(_ path: String) -> Bool {
    let parts = path.split(separator: "/", omittingEmptySubsequences: false)
    let number = { (part: Substring) in !part.isEmpty && part.count <= 10 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) }
    guard parts.count >= 5, parts[0].isEmpty, parts[1] == "proc", number(parts[2]) else { return false }
    if parts.count == 5 && parts[3] == "fd" { return number(parts[4]) }
    return parts.count == 5 && parts[3] == "ns" && parts[4] == "net"
  }

  /// An `inet_diag` socket in the peer's namespace (`TCPCRAFT_PEER_NETNS`) when `address` is one
  /// of that namespace's own addresses; `nil` otherwise (none named, not there, cannot enter).
  public static func diag(owning address: IPv4Address) -> InetDiag? {
    diag(owning: .v4(address))
  }

  /// The same for an address of either family (an IPv6 one: `demo --serve --veth --ipv6`).
  public static func diag(owning address: IPAddress) -> InetDiag? {
    guard let path else { return nil }
    return try? NetworkNamespace.run(inNamespaceAt: path) { () throws -> InetDiag? in
      let isLocal: Bool
      switch address {
      case .v4(let v4): isLocal = (try? RouteLookup.route(to: v4.rawValue))?.isLocal == true
      case .v6(let v6): isLocal = (try? RouteLookup.route(toIPv6: v6.octets))?.isLocal == true
      }
      guard isLocal else { return nil }
      return try InetDiag()
    }
  }
}
