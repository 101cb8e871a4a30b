// InetDiag: read the kernel's TCP sockets over NETLINK_SOCK_DIAG (sock_diag(7)).
import CRawSocket

/// One kernel TCP socket as `inet_diag` reports it (`struct inet_diag_msg`). Addresses are
/// `UInt32` in host byte order, ports host order.
public struct KernelTCPSocket: Hashable, Sendable, CustomStringConvertible {
  /// The state, or `nil` for a number this enum does not know (see `rawState`).
  public var state: KernelTCPState? { KernelTCPState(rawValue: rawState) }
  /// `idiag_state` as the kernel sent it.
  public var rawState: UInt8
  /// Local address (`idiag_src`).
  public var localAddress: UInt32
  /// Local port (`idiag_sport`).
  public var localPort: UInt16
  /// Remote address (`idiag_dst`); 0 for a listener.
  public var remoteAddress: UInt32
  /// Remote port (`idiag_dport`); 0 for a listener.
  public var remotePort: UInt16
  /// The interface the socket is bound to (`idiag_if`), 0 if none.
  public var interfaceIndex: UInt32
  /// The kernel's socket cookie (`idiag_cookie`).
  public var cookie: UInt64
  /// Pending timer (`idiag_timer`: 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 probe).
  public var timer: UInt8
  /// Retransmissions (`idiag_retrans`).
  public var retransmits: UInt8
  /// Milliseconds until the timer fires (`idiag_expires`).
  public var timerExpiresMilliseconds: UInt32
  /// For LISTEN: the accept queue length; otherwise bytes received but unread (`idiag_rqueue`).
  public var receiveQueue: UInt32
  /// For LISTEN: the backlog; otherwise bytes not yet acknowledged (`idiag_wqueue`).
  public var sendQueue: UInt32
  /// The owner's uid (`idiag_uid`); 0 for request and TIME_WAIT sockets.
  public var uid: UInt32
  /// The socket's inode (`idiag_inode`); 0 for request and TIME_WAIT sockets.
  public var inode: UInt32
  /// The address family (`idiag_family`): `AF_INET` (2) or `AF_INET6` (10).
  public var family: UInt8
  /// The local address as 16 octets (`idiag_src`); an IPv4 socket's address is in the first 4.
  public var localAddress6: [UInt8]
  /// The remote address as 16 octets (`idiag_dst`); all zero for a listener.
  public var remoteAddress6: [UInt8]
  /// Whether this is an IPv6 socket (its addresses are in `localAddress6`/`remoteAddress6`).
  public var isIPv6: Bool { family == UInt8(AF_INET6) }

  public var description: String {
    guard !isIPv6 else {
      return "\(state?.netstatName ?? "state \(rawState)") [\(ipv6Text(localAddress6))]:\(localPort)"
        + " [\(ipv6Text(remoteAddress6))]:\(remotePort)"
    }
    return "\(state?.netstatName ?? "state \(rawState)") \(dottedQuad(localAddress)):\(localPort)"
      + " \(dottedQuad(remoteAddress)):\(remotePort)"
  }

  /// Parses an `inet_diag_msg` (72 bytes) from a reply's payload.
  init?(payload: ArraySlice<UInt8>) {
    let base = payload.startIndex
    guard payload.count >= 72,
      let sport = payload.loadBigEndian(UInt16.self, at: base + 4),
      let dport = payload.loadBigEndian(UInt16.self, at: base + 6),
      let src = payload.loadBigEndian(UInt32.self, at: base + 8),
      let dst = payload.loadBigEndian(UInt32.self, at: base + 24),
      let interface = payload.loadNative(UInt32.self, at: base + 40),
      let cookieLow = payload.loadNative(UInt32.self, at: base + 44),
      let cookieHigh = payload.loadNative(UInt32.self, at: base + 48),
      let expires = payload.loadNative(UInt32.self, at: base + 52),
      let rqueue = payload.loadNative(UInt32.self, at: base + 56),
      let wqueue = payload.loadNative(UInt32.self, at: base + 60),
      let uid = payload.loadNative(UInt32.self, at: base + 64),
      let inode = payload.loadNative(UInt32.self, at: base + 68)
    else { return nil }
    family = payload[base]
    localAddress6 = Array(payload[(base + 8)..<(base + 24)])
    remoteAddress6 = Array(payload[(base + 24)..<(base + 40)])
    rawState = payload[base + 1]
    timer = payload[base + 2]
    retransmits = payload[base + 3]
    localPort = sport
    remotePort = dport
    localAddress = src
    remoteAddress = dst
    interfaceIndex = interface
    cookie = UInt64(cookieHigh) << 32 | UInt64(cookieLow)
    timerExpiresMilliseconds = expires
    receiveQueue = rqueue
    sendQueue = wqueue
    self.uid = uid
    self.inode = inode
  }
}

/// Queries the kernel's TCP sockets (IPv4) through `SOCK_DIAG_BY_FAMILY` with
/// `inet_diag_req_v2`. Needs no privileges for reading states (uid/inode are visible to all).
///
/// ```swift
/// let diag = try InetDiag()
/// let state = try diag.state(localAddress: 0x7F00_0001, localPort: 8080,
///                            remoteAddress: 0x7F00_0001, remotePort: 40000)   // .established?
/// let onPort = try diag.sockets(localPort: 8080)   // the listener and its connections
/// ```
public final class InetDiag: Sendable {
  /// The netlink socket the queries go through.
  public let netlink: NetlinkSocket

  /// Opens a `NETLINK_SOCK_DIAG` socket.
  public init(timeout: Duration = .seconds(2)) throws(NetlinkError) {
    netlink = try NetlinkSocket(.sockDiag, timeout: timeout)
  }

  /// `SOCK_DIAG_BY_FAMILY`.
  static let sockDiagByFamily: UInt16 = 20
  /// Every state bit (`idiag_states`), request sockets included.
  public static let allStates: UInt32 = 0xFFFF_FFFF

  /// The state of the socket with exactly this 4-tuple (seen from the socket's side: its local
  /// address and port, and its peer's), or `nil` when the kernel has no such socket.
  ///
  /// A listener on the local port is *not* returned for a 4-tuple it does not own.
  public func state(
    localAddress: UInt32, localPort: UInt16, remoteAddress: UInt32, remotePort: UInt16
  ) throws(NetlinkError) -> KernelTCPState? {
    try socket(
      localAddress: localAddress, localPort: localPort, remoteAddress: remoteAddress,
      remotePort: remotePort)?.state
  }

  /// The socket with exactly this 4-tuple, or `nil`. Uses the kernel's exact lookup (no dump).
  public func socket(
    localAddress: UInt32, localPort: UInt16, remoteAddress: UInt32, remotePort: UInt16
  ) throws(NetlinkError) -> KernelTCPSocket? {
    let request = Self.request(
      states: Self.allStates, localAddress: localAddress, localPort: localPort,
      remoteAddress: remoteAddress, remotePort: remotePort, exact: true)
    return try exactSocket(request) { found in
      found.remoteAddress == remoteAddress && (found.localAddress == localAddress || found.localAddress == 0)
    }
  }

  /// Sends an exact lookup (`inet_diag_req_v2` with `INET_DIAG_NOCOOKIE`) and returns the
  /// socket of the answer with the request's ports whose addresses `addressesMatch` accepts, or
  /// `nil` (also when the kernel answers `ENOENT`).
  private func exactSocket(
    _ request: inet_diag_req_v2, addressesMatch: (KernelTCPSocket) -> Bool
  ) throws(NetlinkError) -> KernelTCPSocket? {
    var message = NetlinkMessageBuilder(type: Self.sockDiagByFamily)
    message.appendStruct(request)
    let replies: [NetlinkMessage]
    do {
      replies = try netlink.request(message)
    } catch .kernel(let errno, _) where errno == .noSuchFileOrDirectory {
      return nil
    }
    let localPort = UInt16(bigEndian: request.id.idiag_sport)
    let remotePort = UInt16(bigEndian: request.id.idiag_dport)
    for reply in replies {
      guard let found = KernelTCPSocket(payload: reply.payload) else {
        throw .malformedReply("inet_diag_msg of \(reply.payload.count) bytes")
      }
      // The kernel's lookup falls back to a listener; that is not the socket asked for.
      if found.localPort == localPort, found.remotePort == remotePort, addressesMatch(found) {
        return found
      }
    }
    return nil
  }

  /// Dumps every socket `request` (a non-exact `inet_diag_req_v2`) selects.
  private func dumpSockets(_ request: inet_diag_req_v2) throws(NetlinkError) -> [KernelTCPSocket] {
    var message = NetlinkMessageBuilder(type: Self.sockDiagByFamily)
    message.appendStruct(request)
    var result: [KernelTCPSocket] = []
    for reply in try netlink.dump(message) {
      guard let found = KernelTCPSocket(payload: reply.payload) else {
        throw .malformedReply("inet_diag_msg of \(reply.payload.count) bytes")
      }
      result.append(found)
    }
    return result
  }

  /// Every IPv4 TCP socket whose state is in `states` (a mask of `KernelTCPState.maskBit`).
  public func allSockets(states: UInt32 = InetDiag.allStates) throws(NetlinkError) -> [KernelTCPSocket] {
    try dumpSockets(
      Self.request(states: states, localAddress: 0, localPort: 0, remoteAddress: 0, remotePort: 0, exact: false))
  }

  /// The sockets on a local port — the listener, its request sockets (SYN_RECV) and its
  /// connections, TIME_WAIT ones too — optionally only those on `localAddress`.
  public func sockets(
    localPort: UInt16, localAddress: UInt32? = nil, states: UInt32 = InetDiag.allStates
  ) throws(NetlinkError) -> [KernelTCPSocket] {
    try allSockets(states: states).filter {
      $0.localPort == localPort && (localAddress == nil || $0.localAddress == localAddress || $0.localAddress == 0)
    }
  }

  /// One-shot: opens a socket, asks, closes.
  public static func state(
    localAddress: UInt32, localPort: UInt16, remoteAddress: UInt32, remotePort: UInt16
  ) throws(NetlinkError) -> KernelTCPState? {
    try InetDiag().state(
      localAddress: localAddress, localPort: localPort, remoteAddress: remoteAddress,
      remotePort: remotePort)
  }

  static func request(
    states: UInt32, localAddress: UInt32, localPort: UInt16, remoteAddress: UInt32,
    remotePort: UInt16, exact: Bool
  ) -> inet_diag_req_v2 {
    func octets(_ address: UInt32) -> [UInt8] { withUnsafeBytes(of: address.bigEndian) { Array($0) } }
    return request(
      family: AF_INET, states: states, localAddress: octets(localAddress), localPort: localPort,
      remoteAddress: octets(remoteAddress), remotePort: remotePort, exact: exact)
  }

  /// The `inet_diag_req_v2` of either family: addresses as octets in network order (4 or 16),
  /// written at the start of `idiag_src`/`idiag_dst`.
  static func request(
    family: CInt, states: UInt32, localAddress: [UInt8], localPort: UInt16, remoteAddress: [UInt8],
    remotePort: UInt16, exact: Bool
  ) -> inet_diag_req_v2 {
    var request = inet_diag_req_v2()
    request.sdiag_family = UInt8(family)
    request.sdiag_protocol = UInt8(IPPROTO_TCP)
    request.idiag_states = states
    request.id.idiag_sport = localPort.bigEndian
    request.id.idiag_dport = remotePort.bigEndian
    withUnsafeMutableBytes(of: &request.id.idiag_src) { raw in
      for i in 0..<min(raw.count, localAddress.count) { raw[i] = localAddress[i] }
    }
    withUnsafeMutableBytes(of: &request.id.idiag_dst) { raw in
      for i in 0..<min(raw.count, remoteAddress.count) { raw[i] = remoteAddress[i] }
    }
    if exact {
      // INET_DIAG_NOCOOKIE: match by address, not by cookie.
      request.id.idiag_cookie = (0xFFFF_FFFF, 0xFFFF_FFFF)
    }
    return request
  }
}

/// Dotted-quad text of a host-order IPv4 address (RawSocket has no address type of its own).
func dottedQuad(_ address: UInt32) -> String {
  "\(address >> 24).\(address >> 16 & 0xFF).\(address >> 8 & 0xFF).\(address & 0xFF)"
}

// MARK: - IPv6

extension InetDiag {
  /// The state of the IPv6 socket with exactly this 4-tuple (addresses 16 octets each), or
  /// `nil` when the kernel has none. An IPv4 peer of a dual-stack socket has an IPv4-mapped
  /// address (`::ffff:a.b.c.d`).
  public func state(
    localIPv6 localAddress: [UInt8], localPort: UInt16, remoteIPv6 remoteAddress: [UInt8], remotePort: UInt16
  ) throws(NetlinkError) -> KernelTCPState? {
    try socket(localIPv6: localAddress, localPort: localPort, remoteIPv6: remoteAddress, remotePort: remotePort)?.state
  }

  /// The IPv6 socket with exactly this 4-tuple, or `nil`. Uses the kernel's exact lookup.
  /// - Throws: `.kernel(EINVAL)` when an address is not 16 octets.
  public func socket(
    localIPv6 localAddress: [UInt8], localPort: UInt16, remoteIPv6 remoteAddress: [UInt8], remotePort: UInt16
  ) throws(NetlinkError) -> KernelTCPSocket? {
    guard localAddress.count == 16, remoteAddress.count == 16 else {
      throw .kernel(.invalidArgument, message: "an IPv6 address has 16 octets")
    }
    let request = Self.request6(
      states: Self.allStates, localAddress: localAddress, localPort: localPort, remoteAddress: remoteAddress,
      remotePort: remotePort, exact: true)
    let any = [UInt8](repeating: 0, count: 16)
    return try exactSocket(request) { found in
      found.remoteAddress6 == remoteAddress && (found.localAddress6 == localAddress || found.localAddress6 == any)
    }
  }

  /// Every IPv6 TCP socket whose state is in `states` (dual-stack listeners included).
  public func allIPv6Sockets(states: UInt32 = InetDiag.allStates) throws(NetlinkError) -> [KernelTCPSocket] {
    let zero = [UInt8](repeating: 0, count: 16)
    return try dumpSockets(
      Self.request6(states: states, localAddress: zero, localPort: 0, remoteAddress: zero, remotePort: 0, exact: false))
  }

  static func request6(
    states: UInt32, localAddress: [UInt8], localPort: UInt16, remoteAddress: [UInt8], remotePort: UInt16, exact: Bool
  ) -> inet_diag_req_v2 {
    request(
      family: AF_INET6, states: states, localAddress: localAddress, localPort: localPort, remoteAddress: remoteAddress,
      remotePort: remotePort, exact: exact)
  }
}
