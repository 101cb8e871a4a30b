// RSTGuard: keeps the kernel's own TCP stack from resetting a connection crafted by hand.
import CRawSocket
import Synchronization

/// Drops the kernel's TCP RSTs for one crafted flow, for as long as this object (its netlink
/// socket) lives.
///
/// When we send a SYN from a port no local socket owns, the kernel answers the peer's SYN+ACK
/// (and every later segment) with an RST before any user-space ACK could win (kernel fact 1).
/// The guard is an nf_tables table built through our own `NETLINK_NETFILTER` socket, in one
/// batch, with the owner flag (`NFT_TABLE_F_OWNER`): the kernel deletes it when that socket
/// closes — on `close()`, on deinitialisation, and when the process dies, even by SIGKILL. Only
/// the owning socket may change it; `nft flush ruleset` from elsewhere leaves it (fact 3). What
/// `nft list ruleset` shows for it:
///
/// ```
/// table inet tcpcraft_<pid>_<n> {
///   chain out {
///     type filter hook output priority filter; policy accept;
///     meta skuid 1000 meta nfproto ipv4 ip saddr S ip daddr D tcp sport P tcp dport Q
///         counter packets 0 bytes 0 accept comment "tcpcraft: our crafted packets pass"
///     meta nfproto ipv4 ip saddr S ip daddr D tcp sport P tcp dport Q tcp flags rst
///         counter packets 0 bytes 0 drop comment "tcpcraft: drop the kernel's RSTs ..."
///   }
/// }
/// ```
///
/// Our own crafted RSTs must still go out. They are exempt by the *owner of the sending socket*
/// (`meta skuid`, the effective uid that created the guard, by default): the kernel sends its RSTs
/// from a control socket that has no file, so `meta skuid` and `meta skgid` never match them,
/// while every socket a process opens carries its creator's uid (kernel fact 2, and fact 16 for
/// the uid). That needs no privilege beyond `CAP_NET_ADMIN` for the table itself, so the guard
/// works for a normal user given `setcap cap_net_raw,cap_net_admin+ep`, and inside a user
/// namespace (nf_tables compares the uid as that namespace sees it). Not a mark: with
/// `net.ipv4.fwmark_reflect=1` and `tcp_fwmark_accept=1` the kernel's RSTs inherit a mark.
///
/// Any socket of the same user passes, so a crafted RST from another process of that user goes
/// out too; another user's crafted RST on the flow is dropped, and its `sendto` fails with
/// `EPERM`. `exemptGroup:` restores the older, narrower exemption by socket group (`meta skgid`),
/// for callers that open their raw socket under that group (`RawIPv4Socket(exemptGroup:)`, which
/// needs `CAP_SETGID`).
///
/// `nil` in the flow means "any". Every field `nil` drops every outgoing IPv4 TCP RST of the host.
///
/// For an IPv6 flow give `sourceIPv6`/`destinationIPv6` (16 octets each) or `ipv6: true`: the
/// rules then match `meta nfproto ipv6 ip6 saddr S ip6 daddr D` (the transport header is found
/// by nf_tables past any extension headers), and the IPv4 addresses must be `nil`.
public final class RSTGuard: Sendable {
  /// A group for the narrower, opt-in exemption by socket group (`exemptGroup:`): 4242, a gid no
  /// Debian/Ubuntu package allocates (system groups are below 1000, users from 1000 up; 4242 is
  /// not reserved by anything we know of).
  /// The same number is used in the verified kernel facts (docs/kernel-facts.md, fact 2).
  public static let exemptGroupID: UInt32 = 4242

  /// The nf_tables table name (family `inet`), unique per guard: `tcpcraft_<pid>_<n>`.
  public let tableName: String
  /// The base chain's name.
  public let chainName: String = "out"
  /// The crafted flow's source address (our side; the kernel's RSTs come from it), or `nil`.
  public let sourceAddress: UInt32?
  /// The crafted flow's source port, or `nil`.
  public let sourcePort: UInt16?
  /// The peer's address, or `nil`.
  public let destinationAddress: UInt32?
  /// The peer's port, or `nil`.
  public let destinationPort: UInt16?
  /// Whether the guard matches IPv6 (`meta nfproto ipv6`) rather than IPv4.
  public let isIPv6: Bool
  /// The crafted IPv6 flow's source address (16 octets), or `nil`.
  public let sourceIPv6: [UInt8]?
  /// The IPv6 peer's address (16 octets), or `nil`.
  public let destinationIPv6: [UInt8]?
  /// Whose sockets' packets pass the guard.
  public enum Exemption: Hashable, Sendable, CustomStringConvertible {
    /// Sockets created by this effective uid (`meta skuid`): the default, no extra privilege.
    case socketOwner(UInt32)
    /// Sockets created under this (filesystem) gid (`meta skgid`): needs `CAP_SETGID` to use.
    case socketGroup(UInt32)

    public var description: String {
      switch self {
      case .socketOwner(let uid): "meta skuid \(uid)"
      case .socketGroup(let gid): "meta skgid \(gid)"
      }
    }
  }
  /// Whose sockets' packets pass (`meta skuid` or `meta skgid`).
  public let exemption: Exemption
  /// The socket group whose packets pass, when the exemption is by group; `nil` when it is by
  /// socket owner (the default).
  public var exemptGroup: UInt32? {
    if case .socketGroup(let group) = exemption { return group }
    return nil
  }

  /// The socket that owns the table. Closing it removes the table.
  private let socket: NetlinkSocket

  private static let counter = Atomic<UInt32>(0)

  /// Installs the guard: one nfnetlink batch creating the owner table, the output-hook chain
  /// (priority 0, policy accept), the exemption rule and the drop rule, both with counters.
  ///
  /// - Parameters:
  ///   - sourcePort: the crafted flow's source port (the port the kernel would reset from).
  ///   - sourceAddress: our address in the flow (host byte order).
  ///   - destinationAddress: the peer's address.
  ///   - destinationPort: the peer's port.
  ///   - exemptGroup: exempt sockets created under this gid (`meta skgid`) instead of the
  ///     default, sockets created by `exemptUser`.
  ///   - exemptUser: exempt sockets created by this uid (`meta skuid`); default: the effective
  ///     uid of this process. Ignored when `exemptGroup` is given.
  ///   - tableName: a name of your own; default `tcpcraft_<pid>_<n>`.
  /// - Throws: `NetlinkError`: `.missingCapability("CAP_NET_ADMIN", ...)` without the
  ///   capability (its description is the one-line advice to show); `.kernel(EEXIST)` when the
  ///   table name is taken; `.kernel(EOPNOTSUPP)`
  ///   on kernels without owner tables (before 5.12).
  public init(
    sourcePort: UInt16?, sourceAddress: UInt32? = nil, destinationAddress: UInt32? = nil,
    destinationPort: UInt16? = nil, exemptGroup: UInt32? = nil, exemptUser: UInt32? = nil,
    tableName: String? = nil, timeout: Duration = .seconds(2),
    sourceIPv6: [UInt8]? = nil, destinationIPv6: [UInt8]? = nil, ipv6: Bool = false
  ) throws(NetlinkError) {
    isIPv6 = ipv6 || sourceIPv6 != nil || destinationIPv6 != nil
    self.sourceIPv6 = sourceIPv6
    self.destinationIPv6 = destinationIPv6
    guard (sourceIPv6?.count ?? 16) == 16, (destinationIPv6?.count ?? 16) == 16 else {
      throw .kernel(.invalidArgument, message: "an IPv6 address has 16 octets")
    }
    guard !isIPv6 || (sourceAddress == nil && destinationAddress == nil) else {
      throw .kernel(.invalidArgument, message: "an RST guard is for IPv4 or IPv6 addresses, not both")
    }
    self.sourcePort = sourcePort
    self.sourceAddress = sourceAddress
    self.destinationAddress = destinationAddress
    self.destinationPort = destinationPort
    if let exemptGroup {
      self.exemption = .socketGroup(exemptGroup)
    } else {
      self.exemption = .socketOwner(exemptUser ?? UInt32(system_geteuid()))
    }
    let number = Self.counter.wrappingAdd(1, ordering: .relaxed).newValue
    self.tableName = tableName ?? "tcpcraft_\(system_netlinkGetpid())_\(number)"
    // NFT_NAME_MAXLEN is 256 with the NUL; refuse here rather than build an impossible attribute.
    guard !self.tableName.isEmpty, self.tableName.utf8.count < 256 else {
      throw .kernel(Errno(rawValue: ENAMETOOLONG), message: "nf_tables table names are 1 to 255 bytes")
    }
    socket = try NetlinkSocket(.netfilter, timeout: timeout)
    do {
      try socket.sendBatch(batch())
    } catch {
      socket.close()
      if error.errno == .notPermitted || error.errno == .permissionDenied {
        throw .missingCapability(capability: "CAP_NET_ADMIN", purpose: "install its RST guard (an nf_tables table)")
      }
      throw error
    }
  }

  deinit {
    socket.close()
  }

  /// Removes the guard: closes the owning socket, and the kernel deletes the table. Safe to call
  /// more than once.
  public func close() {
    socket.close()
  }

  /// Whether the guard is still installed by this object (`close()` not called).
  public var isActive: Bool { socket.isOpen }

  /// Packet and byte counts of the guard's two rules.
  public struct Counters: Hashable, Sendable, CustomStringConvertible {
    /// Packets of the flow from exempt sockets (our crafted ones) that passed.
    public var exemptedPackets: UInt64
    public var exemptedBytes: UInt64
    /// RSTs dropped (the kernel's, and crafted ones from non-exempt sockets).
    public var droppedPackets: UInt64
    public var droppedBytes: UInt64

    public var description: String {
      "exempted \(exemptedPackets) packets (\(exemptedBytes) bytes), dropped \(droppedPackets) RSTs (\(droppedBytes) bytes)"
    }
  }

  /// Reads the rules' counters (an `NFT_MSG_GETRULE` dump of our chain).
  ///
  /// - Throws: `.closed` after `close()`.
  public func counters() throws(NetlinkError) -> Counters {
    let request = NFTables.message(NFTables.getRule, family: NFTables.familyInet) {
      $0.appendAttribute(type: 1 /* NFTA_RULE_TABLE */, string: tableName)
      $0.appendAttribute(type: 2 /* NFTA_RULE_CHAIN */, string: chainName)
    }
    var counters = Counters(exemptedPackets: 0, exemptedBytes: 0, droppedPackets: 0, droppedBytes: 0)
    var seen = 0
    for message in try socket.dump(request) {
      guard let rule = NFTRuleSummary(message, table: tableName) else { continue }
      switch rule.verdict {
      case NFTables.verdictAccept?:
        counters.exemptedPackets += rule.packets
        counters.exemptedBytes += rule.bytes
        seen += 1
      case NFTables.verdictDrop?:
        counters.droppedPackets += rule.packets
        counters.droppedBytes += rule.bytes
        seen += 1
      default: break
      }
    }
    guard seen == 2 else { throw .malformedReply("found \(seen) of the guard's 2 rules in \(tableName)") }
    return counters
  }

  /// Runs `body` with the calling thread's filesystem gid set to `group` (`setfsgid(2)`, which
  /// only the calling thread sees), so that a socket created inside carries that gid in its file
  /// credentials and passes a guard made with `exemptGroup:` (`meta skgid`). Needs `CAP_SETGID`
  /// (root has it). Guards made without `exemptGroup:` need none of this: any socket this user
  /// opens passes them.
  ///
  /// - Returns: `body`'s result, or `nil` (without running `body`) when the gid could not be set.
  public static func withExemptGroup<R, E: Error>(
    _ group: UInt32 = RSTGuard.exemptGroupID, _ body: () throws(E) -> R
  ) throws(E) -> R? {
    guard let previous = switchFilesystemGroup(to: gid_t(group)) else { return nil }
    defer { _ = switchFilesystemGroup(to: previous) }
    return try body()
  }

  /// The batch: table (owner), chain, exemption rule, drop rule; each asks for an ack.
  func batch() -> [NetlinkMessageBuilder] {
    let create: NetlinkMessageFlags = [.create, .acknowledge]
    let family = NFTables.familyInet
    var messages = [NFTables.batchMarker(NFTables.batchBegin)]
    messages.append(
      NFTables.message(NFTables.newTable, family: family, flags: create.union(.exclusive)) {
        $0.appendAttribute(type: 1 /* NFTA_TABLE_NAME */, string: tableName)
        $0.appendAttribute(type: 2 /* NFTA_TABLE_FLAGS */, bigEndianUInt32: NFTables.tableFlagOwner)
        $0.appendAttribute(
          type: 6 /* NFTA_TABLE_USERDATA */,
          payload: NFTables.commentUserdata("tcpcraft RST guard, pid \(system_netlinkGetpid())"))
      })
    messages.append(
      NFTables.message(NFTables.newChain, family: family, flags: create) {
        $0.appendAttribute(type: 1 /* NFTA_CHAIN_TABLE */, string: tableName)
        $0.appendAttribute(type: 3 /* NFTA_CHAIN_NAME */, string: chainName)
        $0.appendNested(type: 4 /* NFTA_CHAIN_HOOK */) {
          $0.appendAttribute(type: 1 /* NFTA_HOOK_HOOKNUM */, bigEndianUInt32: NFTables.hookLocalOut)
          $0.appendAttribute(type: 2 /* NFTA_HOOK_PRIORITY */, bigEndianUInt32: 0)
        }
        $0.appendAttribute(type: 5 /* NFTA_CHAIN_POLICY */, bigEndianUInt32: NFTables.verdictAccept)
        $0.appendAttribute(type: 7 /* NFTA_CHAIN_TYPE */, string: "filter")
      })
    messages.append(rule(exemptionExpressions(), comment: "tcpcraft: our crafted packets pass"))
    messages.append(rule(dropExpressions(), comment: "tcpcraft: drop the kernel's RSTs for the crafted flow"))
    messages.append(NFTables.batchMarker(NFTables.batchEnd))
    return messages
  }

  /// `meta skuid <uid>` (or `meta skgid <gid>`) `<flow> counter accept`: the flow match keeps
  /// the counter to this guard's flow (other guards' crafted packets are not counted here).
  func exemptionExpressions() -> [NFTExpression] {
    let key: UInt32
    let id: UInt32
    switch exemption {
    case .socketOwner(let uid): (key, id) = (NFTables.metaSKUID, uid)
    case .socketGroup(let gid): (key, id) = (NFTables.metaSKGID, gid)
    }
    return [
      .meta(key: key),
      .compare(operation: NFTables.compareEqual, data: withUnsafeBytes(of: id) { Array($0) }),
    ] + flowExpressions() + [.counter, .verdict(NFTables.verdictAccept)]
  }

  /// `<flow> tcp flags & rst != 0 counter drop`.
  func dropExpressions() -> [NFTExpression] {
    flowExpressions() + [
      .payload(base: NFTables.payloadTransport, offset: 13, length: 1),
      .bitwise(mask: [0x04], xor: [0x00]),
      .compare(operation: NFTables.compareNotEqual, data: [0x00]),
      .counter, .verdict(NFTables.verdictDrop),
    ]
  }

  /// `meta nfproto ipv4 meta l4proto tcp [ip saddr S] [ip daddr D] [tcp sport P] [tcp dport Q]`
  /// (`meta nfproto ipv6 ... [ip6 saddr S] [ip6 daddr D] ...` for IPv6).
  func flowExpressions() -> [NFTExpression] {
    var expressions: [NFTExpression] = [
      .meta(key: NFTables.metaNFProto),
      .compare(operation: NFTables.compareEqual, data: [isIPv6 ? 10 /* NFPROTO_IPV6 */ : NFTables.familyIPv4]),
      .meta(key: NFTables.metaL4Proto), .compare(operation: NFTables.compareEqual, data: [6]),
    ]
    /// `payload (base, offset) == value`, when there is a value.
    func equal(_ base: UInt32, _ offset: UInt32, _ value: [UInt8]?) -> [NFTExpression] {
      guard let value else { return [] }
      return [
        .payload(base: base, offset: offset, length: UInt32(value.count)),
        .compare(operation: NFTables.compareEqual, data: value),
      ]
    }
    func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
    expressions += equal(NFTables.payloadNetwork, 8, sourceIPv6)
    expressions += equal(NFTables.payloadNetwork, 24, destinationIPv6)
    expressions += equal(NFTables.payloadNetwork, 12, sourceAddress.map(bigEndian))
    expressions += equal(NFTables.payloadNetwork, 16, destinationAddress.map(bigEndian))
    expressions += equal(NFTables.payloadTransport, 0, sourcePort.map(bigEndian))
    expressions += equal(NFTables.payloadTransport, 2, destinationPort.map(bigEndian))
    return expressions
  }

  private func rule(_ expressions: [NFTExpression], comment: String) -> NetlinkMessageBuilder {
    NFTables.message(NFTables.newRule, family: NFTables.familyInet, flags: [.create, .append, .acknowledge]) {
      $0.appendAttribute(type: 1 /* NFTA_RULE_TABLE */, string: tableName)
      $0.appendAttribute(type: 2 /* NFTA_RULE_CHAIN */, string: chainName)
      $0.appendNested(type: 4 /* NFTA_RULE_EXPRESSIONS */) { list in
        for expression in expressions { expression.append(to: &list) }
      }
      $0.appendAttribute(type: 7 /* NFTA_RULE_USERDATA */, payload: NFTables.commentUserdata(comment))
    }
  }
}
