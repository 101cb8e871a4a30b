import Foundation
import PacketKit
import RawSocket

/// `demo --serve --veth`: a kernel server one veth hop away, so that MSS negotiation and
/// segmentation show as on a real network (the host's lo carries 64 KiB segments whole).
///
/// Two network namespaces of our own, joined by a veth pair with a real MTU and its offloads off:
/// - the *client* namespace is this process's own (the main thread's, entered first thing: a new
///   network namespace for root, a private user + network namespace for a normal user). The
///   student's tcpcraft commands run there through `tcpcraft sandbox --join PID`;
/// - the *server* namespace is anonymous, held by a descriptor and the listener's socket.
///
/// Neither has a name under /run/netns, so nothing outlives the process: when it ends, even by
/// SIGKILL, the server namespace goes with its end of the veth, which takes the other end with it
/// (a veth pair is deleted as one); the client namespace goes with the last process inside it.
final class ServePeer {
  static let clientInterface = "veth-client"
  static let serverInterface = "veth-server"
  static let prefixLength = 24
  /// The IPv6 prefix length of `--ipv6`'s ULA addresses.
  static let ipv6PrefixLength: UInt8 = 64
  /// The smallest MTU an IPv6 link may have (RFC 8200 §5); Linux has no IPv6 on a device below it
  /// (kernel fact 28).
  static let ipv6MinimumMTU: UInt32 = 1280

  let mtu: UInt32
  let clientAddress: IPv4Address
  let serverAddress: IPv4Address
  /// With `--ipv6`: the client's and server's IPv6 addresses (ULA, `nodad`); `nil` otherwise.
  let ipv6: (client: IPv6Address, server: IPv6Address)?
  /// Whether the client namespace lives in a private user namespace (a normal user's run).
  let privateUser: Bool
  private var serverNamespace: FileDescriptor?

  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// The MSS a side announces on an interface of this MTU: less 20 bytes of IPv4 header and 20 of
  /// TCP header (RFC 9293 §3.7.1, RFC 879); over IPv6, less its 40-byte header and 20 of TCP
  /// (RFC 8200 §8.3).
  static func mss(forMTU mtu: UInt32, ipv6: Bool = false) -> UInt32 { mtu - (ipv6 ? 60 : 40) }

  /// The MSS this peer's sides announce.
  var mss: UInt32 { Self.mss(forMTU: mtu, ipv6: ipv6 != nil) }

  /// IPv6 addresses of this run, unique local (RFC 4193, fd00::/8): fd00:216:0:N::1 (client) and
  /// fd00:216:0:N::2 (server), N from our pid as for IPv4.
  static func ipv6Addresses(pid: Int32) -> (client: IPv6Address, server: IPv6Address) {
    let group = UInt8(truncatingIfNeeded: pid % 250 + 1)
    let prefix: [UInt8] = [0xFD, 0x00, 0x02, 0x16, 0x00, 0x00, 0x00, group, 0, 0, 0, 0, 0, 0, 0]
    return (IPv6Address(octets: prefix + [1]), IPv6Address(octets: prefix + [2]))
  }

  /// Addresses of this run: 10.216.N.1 (client) and 10.216.N.2 (server), N from our pid, so that
  /// two runs side by side (each in namespaces of its own anyway) show different numbers.
  static func addresses(pid: Int32) -> (client: IPv4Address, server: IPv4Address) {
    let third = UInt32(pid % 250) + 1
    return (IPv4Address(rawValue: 0x0AD8_0000 | third << 8 | 1), IPv4Address(rawValue: 0x0AD8_0000 | third << 8 | 2))
  }

  /// Enters the client namespace and builds the rest. Call it before any thread starts (a normal
  /// user's private user namespace needs a single-threaded process).
  init(mtu: UInt32, ipv6 useIPv6: Bool = false) throws(Failure) {
    self.mtu = mtu
    (clientAddress, serverAddress) = Self.addresses(pid: getpid())
    ipv6 = useIPv6 ? Self.ipv6Addresses(pid: getpid()) : nil
    if useIPv6 && mtu < Self.ipv6MinimumMTU {
      throw Failure(description: "demo --serve --veth --ipv6: --mtu \(mtu) is below IPv6's minimum link MTU of \(Self.ipv6MinimumMTU) (RFC 8200 §5)")
    }
    // 1. The client namespace: this process's (its main thread's) network namespace.
    // Root (or a sandbox) makes a plain network namespace; a normal user, or one holding only the
    // capability grant (no CAP_SYS_ADMIN for unshare), a private user namespace with one inside.
    var plain = false
    if !UserNamespace.wouldHelp {
      do throws(Errno) {
        try NetworkNamespace.unshareCurrentThread()
        plain = true
      } catch {
        if error != .notPermitted {
          throw Failure(description: "demo --serve --veth: cannot make a network namespace (unshare: \(error))")
        }
      }
    }
    if plain {
      do throws(UserNamespace.EntryError) {
        try UserNamespace.bringLoopbackUp()
      } catch {
        throw Failure(description: "demo --serve --veth: \(error)")
      }
    } else {
      do throws(UserNamespace.EntryError) {
        try UserNamespace.enter()
      } catch {
        if !UserNamespace.wouldHelp {
          // File capabilities make a process non-dumpable: its /proc/self files stay root's, so
          // it cannot map its ids in a new user namespace (kernel fact 23).
          throw Failure(
            description: "tcpcraft: demo --serve --veth makes network namespaces: that needs CAP_SYS_ADMIN (sudo), "
              + "or a copy of tcpcraft with no capability grant at all (a normal user's makes them in a private user "
              + "namespace); the grant alone cannot (\(error.description))")
        }
        throw Failure(description: error.advice())
      }
    }
    privateUser = !plain
    // 2. The server namespace, anonymous, and the veth pair between the two.
    let step = { (what: String, error: Any) in Failure(description: "demo --serve --veth: \(what): \(error)") }
    let server: FileDescriptor
    do throws(SocketError) {
      server = try NetworkNamespace.makeAnonymous()
    } catch {
      throw step("making the server's namespace", error)
    }
    serverNamespace = server
    do throws(NetlinkError) {
      try VethPair.create(name: Self.clientInterface, peerName: Self.serverInterface, peerNamespace: server.rawValue, mtu: mtu)
    } catch {
      throw step("making the veth pair", error)
    }
    // 3. Each end: offloads off, its address, up.
    do throws(SocketError) {
      try Self.configure(Self.clientInterface, address: clientAddress, ipv6: ipv6?.client, mtu: mtu)
    } catch {
      throw step("setting up \(Self.clientInterface)", error)
    }
    do {
      let address = serverAddress
      let address6 = ipv6?.server
      try NetworkNamespace.run(inNamespaceAt: serverNamespaceFile) { () throws -> Void in
        try Self.configure(Self.serverInterface, address: address, ipv6: address6, mtu: mtu)
      }
    } catch {
      throw step("setting up \(Self.serverInterface)", error)
    }
  }

  deinit { close() }

  /// The server namespace as a file, for `setns`.
  var serverNamespaceFile: String { "/proc/self/fd/\(serverNamespace?.rawValue ?? -1)" }

  /// Drops our descriptor of the server namespace (the listener's socket still holds it while
  /// it is open).
  func close() {
    if let serverNamespace { try? serverNamespace.close() }
    serverNamespace = nil
  }

  /// Offloads off, the IPv4 address (and the IPv6 one, `nodad`: usable at once), the MTU, up.
  private static func configure(_ name: String, address: IPv4Address, ipv6: IPv6Address?, mtu: UInt32) throws(SocketError) {
    try InterfaceSetup.disableOffloads(name)
    let mask = UInt32.max << UInt32(32 - prefixLength)
    try InterfaceSetup.setAddress(name, address: address.rawValue, netmask: mask)
    if let ipv6 { try InterfaceSetup.addIPv6Address(name, address: ipv6.octets, prefixLength: ipv6PrefixLength) }
    try InterfaceSetup.bringUp(name, mtu: Int32(mtu))
  }

  /// A kernel listener on the server's address, made inside the server namespace (a socket keeps
  /// the namespace it was made in; accept and the echo threads then work on it from here).
  func listener(port: UInt16, listening: Bool) throws -> KernelListener {
    try NetworkNamespace.run(inNamespaceAt: serverNamespaceFile) {
      if let ipv6 { return try KernelListener(port: port, listening: listening, ipv6Address: ipv6.server) }
      return try KernelListener(port: port, listening: listening, address: serverAddress.rawValue)
    }
  }

  /// What `demo --serve --veth` prints first: the two namespaces, the MTU and MSS.
  func banner(port: UInt16) -> [String] {
    if let ipv6 {
      return [
        "two network namespaces of our own, joined by a veth pair (MTU \(mtu): over IPv6 each side announces MSS \(mtu) - 60 = \(mss),",
        "the 40-byte IPv6 header and 20 of TCP), offloads off on both ends (TSO, GSO, GRO, checksums), so segments cross",
        "the veth as they cross a wire:",
        "  client  \(Self.clientInterface) \(ipv6.client)/\(Self.ipv6PrefixLength)   your tcpcraft commands run here",
        "  server  \(Self.serverInterface) \(ipv6.server)/\(Self.ipv6PrefixLength)   a kernel listener on [\(ipv6.server)]:\(port)",
      ]
    }
    return [
      "two network namespaces of our own, joined by a veth pair (MTU \(mtu): each side announces MSS \(mtu) - 40 = \(mss)),",
      "offloads off on both ends (TSO, GSO, GRO, checksums), so segments cross the veth as they cross a wire:",
      "  client  \(Self.clientInterface) \(clientAddress)/\(Self.prefixLength)   your tcpcraft commands run here",
      "  server  \(Self.serverInterface) \(serverAddress)/\(Self.prefixLength)   a kernel listener on \(serverAddress):\(port)",
    ]
  }

  /// The server's address and port as a command takes it: `10.216.N.2:P` or `[fd00:216:0:N::2]:P`.
  func target(port: UInt16) -> String {
    ipv6.map { "[\($0.server)]:\(port)" } ?? "\(serverAddress):\(port)"
  }

  /// The command that runs `words` in the client namespace of process `pid`.
  static func joined(_ pid: Int32, _ words: String) -> String {
    "tcpcraft sandbox --join \(pid) -- tcpcraft \(words)"
  }
}
