// RouteLookup: ask the kernel (rtnetlink(7)) which interface, source address and next hop it
// would use for a destination, and the MAC addresses a layer-2 send needs.
import CRawSocket

/// A network interface, from `RTM_GETLINK`.
public struct NetworkInterface: Hashable, Sendable {
  /// The interface index (`ifi_index`).
  public var index: UInt32
  /// The name (`IFLA_IFNAME`), e.g. `lo`, `eth0`.
  public var name: String
  /// The hardware address (`IFLA_ADDRESS`); six zero bytes on `lo`, empty when the device has none.
  public var mac: [UInt8]
  /// The MTU in bytes (`IFLA_MTU`).
  public var mtu: UInt32
  /// The ARP hardware type (`ifi_type`): 1 Ethernet, 772 loopback, 65534 none (tun, ifb...).
  public var hardwareType: UInt16
  /// The interface flags (`ifi_flags`: `IFF_UP` 0x1, `IFF_LOOPBACK` 0x8, `IFF_NOARP` 0x80...).
  public var flags: UInt32

  /// Whether this is a loopback device (`IFF_LOOPBACK`).
  public var isLoopback: Bool { flags & 0x8 != 0 }
  /// Whether the interface is administratively up (`IFF_UP`).
  public var isUp: Bool { flags & 0x1 != 0 }
}

/// The kernel's answer to "how would you send to this address?" (`ip route get`).
public struct Route: Hashable, Sendable {
  /// The destination asked about (host byte order).
  public var destination: UInt32
  /// The outgoing interface's name.
  public var interfaceName: String
  /// The outgoing interface's index (`RTA_OIF`).
  public var interfaceIndex: UInt32
  /// The source address the kernel would pick (`RTA_PREFSRC`), host byte order; 0 if none.
  public var sourceAddress: UInt32
  /// The gateway (`RTA_GATEWAY`), or `nil` when the destination is on link.
  public var gateway: UInt32?
  /// The next hop's MAC (the gateway's, or the destination's on link): six zero bytes on a
  /// loopback device; `nil` when the neighbour table has no usable entry yet (the kernel resolves
  /// it, by ARP, only when something is sent there).
  public var nextHopMAC: [UInt8]?
  /// The outgoing interface's own MAC (the source MAC of a layer-2 frame).
  public var interfaceMAC: [UInt8]
  /// The outgoing interface's MTU in bytes.
  public var mtu: UInt32
  /// The route type (`rtm_type`): 1 unicast, 2 local, 3 broadcast, 7 unreachable...
  public var routeType: UInt8
  /// Whether the route is local (`RTN_LOCAL`): the destination is an address of this host.
  public var isLocal: Bool { routeType == 2 }
  /// The next hop: the gateway, or the destination itself.
  public var nextHop: UInt32 { gateway ?? destination }
}

/// Route, link and neighbour lookups over one `NETLINK_ROUTE` socket.
///
/// ```swift
/// let route = try RouteLookup.route(to: 0x7F00_0001)
/// // route.interfaceName == "lo", route.sourceAddress == 0x7F00_0001
/// ```
public final class RouteLookup: Sendable {
  /// The netlink socket the lookups go through.
  public let netlink: NetlinkSocket

  /// Opens a `NETLINK_ROUTE` socket.
  public init(timeout: Duration = .seconds(2)) throws(NetlinkError) {
    netlink = try NetlinkSocket(.route, timeout: timeout)
  }

  // rtnetlink message types (<linux/rtnetlink.h>).
  static let newLink: UInt16 = 16, getLink: UInt16 = 18
  static let newRoute: UInt16 = 24, getRoute: UInt16 = 26
  static let newNeighbor: UInt16 = 28, getNeighbor: UInt16 = 30

  /// One-shot: opens a socket, looks the route up, closes.
  public static func route(to destination: UInt32) throws(NetlinkError) -> Route {
    try RouteLookup().route(to: destination)
  }

  /// The route the kernel would use to reach `destination` (host byte order), with the
  /// interface's name, MAC and MTU, and the next hop's MAC where known.
  ///
  /// - Throws: `.kernel(ENETUNREACH)` (or `EHOSTUNREACH`...) when there is no route.
  public func route(to destination: UInt32) throws(NetlinkError) -> Route {
    let (routeType, attributes, interfaceIndex, interface) = try routeAnswer(to: Self.routeRequest(to: destination))
    let source = attributes[7 /* RTA_PREFSRC */]?.bigEndianUInt32 ?? 0
    let gateway = attributes[5 /* RTA_GATEWAY */]?.bigEndianUInt32
    let nextHopMAC: [UInt8]? = try interface.isLoopback ? [0, 0, 0, 0, 0, 0] : neighborMAC(of: gateway ?? destination, interfaceIndex: interfaceIndex)
    return Route(
      destination: destination, interfaceName: interface.name, interfaceIndex: interfaceIndex,
      sourceAddress: source, gateway: gateway, nextHopMAC: nextHopMAC, interfaceMAC: interface.mac,
      mtu: interface.mtu, routeType: routeType)
  }

  /// Sends an `RTM_GETROUTE` request (IPv4 or IPv6) and reads what both families share from
  /// the answer: the route type, the attributes, the outgoing interface's index and the
  /// interface itself.
  private func routeAnswer(
    to request: NetlinkMessageBuilder
  ) throws(NetlinkError) -> (routeType: UInt8, attributes: NetlinkAttributes, interfaceIndex: UInt32, interface: NetworkInterface) {
    guard let reply = try netlink.request(request).first(where: { $0.type == Self.newRoute }) else {
      throw .malformedReply("no RTM_NEWROUTE in the answer to RTM_GETROUTE")
    }
    guard reply.payload.count >= MemoryLayout<rtmsg>.size else {
      throw .malformedReply("rtmsg of \(reply.payload.count) bytes")
    }
    let routeType = reply.payload[reply.payload.startIndex + 7]
    let attributes = reply.attributes(afterHeaderOf: MemoryLayout<rtmsg>.size)
    guard let interfaceIndex = attributes[4 /* RTA_OIF */]?.uint32 else {
      throw .malformedReply("RTM_NEWROUTE without RTA_OIF")
    }
    return (routeType, attributes, interfaceIndex, try interface(index: interfaceIndex))
  }

  /// The MAC of the first usable entry (reachable, stale, delay, probe, permanent or noarp) of
  /// the `family` neighbour table on `interfaceIndex` whose `NDA_DST` is `address`.
  private func neighborMAC(family: CInt, address: [UInt8], interfaceIndex: UInt32) throws(NetlinkError) -> [UInt8]? {
    var message = NetlinkMessageBuilder(type: Self.getNeighbor)
    var header = ndmsg()
    header.ndm_family = UInt8(family)
    message.appendStruct(header)
    // NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_NOARP | NUD_PERMANENT
    let usable: UInt16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80
    for reply in try netlink.dump(message) where reply.type == Self.newNeighbor {
      let base = reply.payload.startIndex
      guard reply.payload.count >= MemoryLayout<ndmsg>.size,
        reply.payload[base] == UInt8(family),
        let index = reply.payload.loadNative(UInt32.self, at: base + 4),
        let state = reply.payload.loadNative(UInt16.self, at: base + 8),
        index == interfaceIndex, state & usable != 0
      else { continue }
      let attributes = reply.attributes(afterHeaderOf: MemoryLayout<ndmsg>.size)
      guard let destination = attributes[1 /* NDA_DST */], Array(destination.payload) == address,
        let mac = attributes[2 /* NDA_LLADDR */]?.payload
      else { continue }
      return Array(mac)
    }
    return nil
  }

  /// `RTM_GETROUTE` for one IPv4 destination: `rtmsg` (AF_INET, dst_len 32) and `RTA_DST`.
  static func routeRequest(to destination: UInt32) -> NetlinkMessageBuilder {
    var message = NetlinkMessageBuilder(type: getRoute)
    var header = rtmsg()
    header.rtm_family = UInt8(AF_INET)
    header.rtm_dst_len = 32
    message.appendStruct(header)
    message.appendAttribute(type: 1 /* RTA_DST */, bigEndianUInt32: destination)
    return message
  }

  /// The interface with index `index`.
  ///
  /// - Throws: `.kernel(ENODEV)` when there is none.
  public func interface(index: UInt32) throws(NetlinkError) -> NetworkInterface {
    var message = NetlinkMessageBuilder(type: Self.getLink)
    var header = ifinfomsg()
    header.ifi_family = UInt8(AF_UNSPEC)
    header.ifi_index = Int32(bitPattern: index)
    message.appendStruct(header)
    return try link(from: netlink.request(message))
  }

  /// The interface named `name`.
  ///
  /// - Throws: `.kernel(ENODEV)` when there is none.
  public func interface(named name: String) throws(NetlinkError) -> NetworkInterface {
    // IFNAMSIZ is 16 with the NUL; longer names cannot exist.
    guard !name.isEmpty, name.utf8.count < 16, !name.utf8.contains(0) else {
      throw .kernel(.noSuchDevice, message: "no interface can be named \"\(name.prefix(40))\"")
    }
    var message = NetlinkMessageBuilder(type: Self.getLink)
    var header = ifinfomsg()
    header.ifi_family = UInt8(AF_UNSPEC)
    message.appendStruct(header)
    message.appendAttribute(type: 3 /* IFLA_IFNAME */, string: name)
    return try link(from: netlink.request(message))
  }

  /// The MAC in the neighbour (ARP) table for `address` on `interfaceIndex`, if the entry is
  /// usable (reachable, stale, delay, probe, permanent or noarp); `nil` otherwise.
  public func neighborMAC(of address: UInt32, interfaceIndex: UInt32) throws(NetlinkError) -> [UInt8]? {
    try neighborMAC(family: AF_INET, address: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: address >> $0) }, interfaceIndex: interfaceIndex)
  }

  private func link(from replies: [NetlinkMessage]) throws(NetlinkError) -> NetworkInterface {
    guard let reply = replies.first(where: { $0.type == Self.newLink }),
      reply.payload.count >= MemoryLayout<ifinfomsg>.size,
      let hardwareType = reply.payload.loadNative(UInt16.self, at: reply.payload.startIndex + 2),
      let index = reply.payload.loadNative(UInt32.self, at: reply.payload.startIndex + 4),
      let flags = reply.payload.loadNative(UInt32.self, at: reply.payload.startIndex + 8)
    else { throw .malformedReply("no usable RTM_NEWLINK in the answer to RTM_GETLINK") }
    let attributes = reply.attributes(afterHeaderOf: MemoryLayout<ifinfomsg>.size)
    return NetworkInterface(
      index: index, name: attributes[3 /* IFLA_IFNAME */]?.string ?? "",
      mac: attributes[1 /* IFLA_ADDRESS */].map { Array($0.payload) } ?? [],
      mtu: attributes[4 /* IFLA_MTU */]?.uint32 ?? 0, hardwareType: hardwareType, flags: flags)
  }
}

// MARK: - IPv6

/// The kernel's answer to "how would you send to this IPv6 address?" (`ip -6 route get`).
/// Addresses are 16 octets in network order.
public struct IPv6Route: Hashable, Sendable {
  /// The destination asked about.
  public var destination: [UInt8]
  /// The outgoing interface's name.
  public var interfaceName: String
  /// The outgoing interface's index (`RTA_OIF`): the scope of a link-local destination.
  public var interfaceIndex: UInt32
  /// The source address the kernel would pick (`RTA_PREFSRC`); `nil` if it named none.
  public var sourceAddress: [UInt8]?
  /// The gateway (`RTA_GATEWAY`), or `nil` when the destination is on link.
  public var gateway: [UInt8]?
  /// The next hop's MAC from the neighbour table (six zero bytes on loopback; `nil` when there
  /// is no usable entry yet: the kernel resolves it, by neighbour solicitation, only on a send).
  public var nextHopMAC: [UInt8]?
  /// The outgoing interface's own MAC.
  public var interfaceMAC: [UInt8]
  /// The outgoing interface's MTU in bytes.
  public var mtu: UInt32
  /// The route type (`rtm_type`): 1 unicast, 2 local, 7 unreachable...
  public var routeType: UInt8
  /// Whether the destination is an address of this host (`RTN_LOCAL`).
  public var isLocal: Bool { routeType == 2 }
  /// The next hop: the gateway, or the destination itself.
  public var nextHop: [UInt8] { gateway ?? destination }
}

extension RouteLookup {
  /// One-shot: opens a socket, looks the IPv6 route up, closes.
  public static func route(toIPv6 destination: [UInt8]) throws(NetlinkError) -> IPv6Route {
    try RouteLookup().route(toIPv6: destination)
  }

  /// The route the kernel would use to reach the IPv6 `destination` (16 octets), with the
  /// interface's name, MAC and MTU, and the next hop's MAC where known.
  ///
  /// - Throws: `.kernel(EINVAL)` when `destination` is not 16 octets; `.kernel(ENETUNREACH)`
  ///   (or `EHOSTUNREACH`...) when there is no route.
  public func route(toIPv6 destination: [UInt8]) throws(NetlinkError) -> IPv6Route {
    guard destination.count == 16 else {
      throw .kernel(.invalidArgument, message: "an IPv6 address has 16 octets, not \(destination.count)")
    }
    let (routeType, attributes, interfaceIndex, interface) = try routeAnswer(to: Self.routeRequest(toIPv6: destination))
    let source = attributes[7 /* RTA_PREFSRC */].map { Array($0.payload) }.flatMap { $0.count == 16 ? $0 : nil }
    let gateway = attributes[5 /* RTA_GATEWAY */].map { Array($0.payload) }.flatMap { $0.count == 16 ? $0 : nil }
    let nextHopMAC: [UInt8]? = try interface.isLoopback ? [0, 0, 0, 0, 0, 0] : neighborMAC(ofIPv6: gateway ?? destination, interfaceIndex: interfaceIndex)
    return IPv6Route(
      destination: destination, interfaceName: interface.name, interfaceIndex: interfaceIndex,
      sourceAddress: source, gateway: gateway, nextHopMAC: nextHopMAC, interfaceMAC: interface.mac,
      mtu: interface.mtu, routeType: routeType)
  }

  /// `RTM_GETROUTE` for one IPv6 destination: `rtmsg` (AF_INET6, dst_len 128) and `RTA_DST`.
  static func routeRequest(toIPv6 destination: [UInt8]) -> NetlinkMessageBuilder {
    var message = NetlinkMessageBuilder(type: getRoute)
    var header = rtmsg()
    header.rtm_family = UInt8(AF_INET6)
    header.rtm_dst_len = 128
    message.appendStruct(header)
    message.appendAttribute(type: 1 /* RTA_DST */, payload: destination)
    return message
  }

  /// The MAC in the IPv6 neighbour table for `address` (16 octets) on `interfaceIndex`, if the
  /// entry is usable (reachable, stale, delay, probe, permanent or noarp); `nil` otherwise.
  public func neighborMAC(ofIPv6 address: [UInt8], interfaceIndex: UInt32) throws(NetlinkError) -> [UInt8]? {
    try neighborMAC(family: AF_INET6, address: address, interfaceIndex: interfaceIndex)
  }
}
