import PacketKit
import RawSocket

/// The three ways packetdrill runs a script (its `--ip_version`), with the addresses and defines
/// of its own runner (`run_all.py -4`, `-6`, `--ipv4mappedv6`):
///
/// | mode | socket domain | bind/connect addresses | on the wire |
/// |---|---|---|---|
/// | `ipv4` | `AF_INET` | 192.168.0.1, 192.0.2.1 | IPv4 |
/// | `ipv4-mapped-ipv6` | `AF_INET6` | ::ffff:192.168.0.1, ::ffff:192.0.2.1 | IPv4 |
/// | `ipv6` | `AF_INET6` | fd3d:a0b:17d6::1, fd3d:fa7b:d17d::1 | IPv6 |
///
/// A script is written once: `socket(..., SOCK_STREAM, IPPROTO_TCP)` takes the mode's domain,
/// `bind(3, ..., ...)` and `connect(3, ..., ...)` its addresses, packet lines are built and
/// matched in its wire version, and ICMP lines are ICMPv6 in `ipv6` mode.
public enum ScriptIPVersion: String, Hashable, Sendable, CaseIterable {
  case ipv4 = "ipv4"
  case ipv6 = "ipv6"
  case ipv4MappedIPv6 = "ipv4-mapped-ipv6"

  /// The domain of `socket(...)` (`AF_INET` 2 or `AF_INET6` 10).
  public var socketDomain: Int32 { self == .ipv4 ? 2 : 10 }

  /// Whether packets on the wire are IPv6 (only in `ipv6` mode: the mapped mode's sockets are
  /// `AF_INET6`, its packets IPv4).
  public var wireIsIPv6: Bool { self == .ipv6 }

  /// The `-D` defines packetdrill's `run_all.py` passes in this mode (`CODE` only where ICMP is
  /// ICMPv4: ICMPv6 has no `host_unreachable`).
  public var packetdrillDefines: [String: String] {
    switch self {
    case .ipv4:
      ["TFO_COOKIE": "3021b9d889017eeb", "CODE": "host_unreachable", "CMSG_LEVEL_IP": "SOL_IP",
       "CMSG_TYPE_RECVERR": "IP_RECVERR"]
    case .ipv4MappedIPv6:
      ["TFO_COOKIE": "3021b9d889017eeb", "CODE": "host_unreachable", "CMSG_LEVEL_IP": "SOL_IPV6",
       "CMSG_TYPE_RECVERR": "IPV6_RECVERR"]
    case .ipv6:
      ["TFO_COOKIE": "c1d1e9742a47a9bc", "CMSG_LEVEL_IP": "SOL_IPV6", "CMSG_TYPE_RECVERR": "IPV6_RECVERR"]
    }
  }

  /// Whether a folder run in this mode plays the file named `name`: as `run_all.py` chooses,
  /// `...v6.pkt` files only in `ipv6` mode and `...v4.pkt` files never in it.
  public func includes(fileNamed name: String) -> Bool {
    self == .ipv6 ? !name.hasSuffix("v4.pkt") : !name.hasSuffix("v6.pkt")
  }
}

extension ScriptICMP {
  /// ICMPv6 types by packetdrill's names (RFC 4443).
  public static let icmpv6TypeNames: [String: UInt8] = [
    "unreachable": 1, "packet_too_big": 2, "time_exceeded": 3, "parameter_problem": 4,
    "echo_request": 128, "echo_reply": 129,
  ]

  /// ICMPv6 codes by type and packetdrill's names.
  public static let icmpv6CodeNames: [UInt8: [String: UInt8]] = [
    1: ["net_unreachable": 0, "no_route": 0, "admin_prohibited": 1, "not_neighbour": 2, "address_unreachable": 3,
        "port_unreachable": 4],
    3: ["exceeded_hop_limit": 0, "exceeded_frag_time": 1],
    4: ["header_field": 0, "unknown_next_header": 1, "unknown_option": 2],
  ]

  /// The type number of `name` in ICMP (`ipv6: false`) or ICMPv6.
  public static func typeNumber(_ name: String, ipv6: Bool) -> UInt8? {
    ipv6 ? icmpv6TypeNames[name] : typeNames[name]
  }

  /// The code number of `name` for `type` in ICMP or ICMPv6 (`nil`: no such code for the type).
  public static func codeNumber(_ name: String, type: UInt8, ipv6: Bool) -> UInt8? {
    if ipv6 { return icmpv6CodeNames[type]?[name] }
    return type == 3 ? unreachableCodeNames[name] : nil
  }
}

/// A packet from or for the tun device, IPv4 or IPv6, read down to its upper layer: the IP fields
/// a script line may check and the TCP segment.
public struct ScriptWirePacket {
  public let isIPv6: Bool
  /// The TOS byte (IPv4) or traffic class (IPv6): DSCP << 2 | ECN.
  public let typeOfService: UInt8
  /// The TTL (IPv4) or hop limit (IPv6).
  public let timeToLive: UInt8
  /// The flow label (IPv6; 0 for IPv4).
  public let flowLabel: UInt32
  /// The upper layer's protocol (after IPv6 extension headers).
  public let upperProtocol: IPProtocol
  /// The upper layer's bytes.
  public let upper: ArraySlice<UInt8>
  /// The source and destination addresses (`.v4` or `.v6` by the version).
  public let source: IPAddress
  public let destination: IPAddress

  /// Reads `bytes` as IPv4 or IPv6 by the version nibble; `nil` when neither validates.
  public init?(_ bytes: [UInt8]) {
    switch bytes.first.map({ $0 >> 4 }) {
    case 4:
      guard let ip = try? IPv4View(validating: bytes[...]) else { return nil }
      isIPv6 = false
      typeOfService = ip.dscp << 2 | ip.ecn
      timeToLive = ip.timeToLive
      flowLabel = 0
      upperProtocol = ip.protocol
      upper = ip.payload
      source = .v4(ip.sourceAddress)
      destination = .v4(ip.destinationAddress)
    case 6:
      guard let ip = try? IPv6View(validating: bytes[...]) else { return nil }
      let chain = ip.extensionChain
      isIPv6 = true
      typeOfService = ip.trafficClass
      timeToLive = ip.hopLimit
      flowLabel = ip.flowLabel
      upperProtocol = chain.upperLayer
      upper = ip.payload.dropFirst(chain.upperLayerOffset)
      source = .v6(ip.sourceAddress)
      destination = .v6(ip.destinationAddress)
    default:
      return nil
    }
  }

  /// The ECN bits.
  public var ecn: UInt8 { typeOfService & 0x03 }

  /// The TCP segment, when the upper layer is a valid one.
  public var tcp: TCPView? {
    guard upperProtocol == .tcp else { return nil }
    return try? TCPView(validating: upper)
  }
}

/// The tcpdump line for a packet of either IP version (`tcpdump -nn -S -t` on a raw-IP capture).
func scriptSummary(_ packet: [UInt8]) -> String {
  tcpdumpSummary(packet[...], linkType: .raw)
}

extension ScriptConnection {
  /// The kernel's and the remote end's addresses on the wire: IPv6 in `ipv6` mode, else IPv4.
  var localWireAddress: IPAddress { ipVersion.wireIsIPv6 ? .v6(localIPv6) : .v4(localAddress) }
  var remoteWireAddress: IPAddress { ipVersion.wireIsIPv6 ? .v6(remoteIPv6) : .v4(remoteAddress) }

  /// The address a script's `...` binds to: the local address in the mode's family (IPv4,
  /// IPv4-mapped IPv6, or IPv6).
  func bindAddress(port: UInt16) -> ScriptSocketAddress { socketAddress(localAddress, port: port) }

  /// The address a script's `...` connects (or sends) to: the remote end, in the mode's family.
  func connectAddress(port: UInt16) -> ScriptSocketAddress { socketAddress(remoteAddress, port: port) }

  /// An IPv4 address a script wrote (`inet_addr("192.0.2.1")`), as the socket address of the
  /// mode: itself in `ipv4`; `::ffff:a.b.c.d` in `ipv4-mapped-ipv6`; in `ipv6`, the script's
  /// local and remote ends become the IPv6 ones (so a script written with the IPv4 addresses
  /// runs unchanged), `0.0.0.0` becomes `::`, any other address its mapped form.
  func socketAddress(_ address: IPv4Address, port: UInt16) -> ScriptSocketAddress {
    switch ipVersion {
    case .ipv4: return .ipv4(address: address.rawValue, port: port)
    case .ipv4MappedIPv6: return .ipv6(address: IPv6Address(ipv4Mapped: address).octets, port: port)
    case .ipv6:
      if address == localAddress { return .ipv6(address: localIPv6.octets, port: port) }
      if address == remoteAddress { return .ipv6(address: remoteIPv6.octets, port: port) }
      if address.rawValue == 0 { return .ipv6(address: IPv6Address.any.octets, port: port) }
      return .ipv6(address: IPv6Address(ipv4Mapped: address).octets, port: port)
    }
  }

  /// A live socket address as the script would write it: IPv4-mapped and the mode's own IPv6
  /// ends shown as IPv4 (packetdrill too reads a mapped peer as IPv4), other IPv6 as IPv6.
  func scriptView(_ live: ScriptSocketAddress) -> ScriptSocketAddress {
    guard case .ipv6(let bytes, let port) = live else { return live }
    let address = IPv6Address(octets: bytes)
    if let mapped = address.ipv4Mapped { return .ipv4(address: mapped.rawValue, port: port) }
    if ipVersion == .ipv6, address == localIPv6 { return .ipv4(address: localAddress.rawValue, port: port) }
    if ipVersion == .ipv6, address == remoteIPv6 { return .ipv4(address: remoteAddress.rawValue, port: port) }
    if address == .any { return .ipv4(address: 0, port: port) }
    return live
  }
}

extension ScriptMatcher {
  /// `tcp / payload` under the connection's IP header, in the mode's wire version: from the
  /// remote end to the kernel (`inbound`) or back, with the IP fields the line writes (ECN or the
  /// whole TOS / traffic class, flow label, TTL / hop limit). IPv4 packets carry DF; IPv6 ones a
  /// hop limit of 255 unless written (packetdrill's).
  static func frame(
    _ tcp: TCPHeader, payload: [UInt8], line: ScriptPacket, inbound: Bool, connection: ScriptConnection
  ) throws(PacketError) -> [UInt8] {
    let tos = line.typeOfService ?? ecnBits(line.ecn)
    if connection.ipVersion.wireIsIPv6 {
      let ip = IPv6Header(
        sourceAddress: inbound ? connection.remoteIPv6 : connection.localIPv6,
        destinationAddress: inbound ? connection.localIPv6 : connection.remoteIPv6,
        trafficClass: tos, flowLabel: line.flowLabel ?? 0, hopLimit: line.timeToLive ?? 255)
      return try (ip / tcp / payload).encoded()
    }
    let ip = IPv4Header(
      sourceAddress: inbound ? connection.remoteAddress : connection.localAddress,
      destinationAddress: inbound ? connection.localAddress : connection.remoteAddress,
      dscp: tos >> 2, ecn: tos & 0x03, flags: .dontFragment, timeToLive: line.timeToLive ?? 64)
    return try (ip / tcp / payload).encoded()
  }

  /// The IP fields a `>` line writes that the packet does not carry: the whole TOS / traffic
  /// class (`tos 0xNN`) and the TTL / hop limit (`ttl N`; 0 and 255 mean "not checked", as in
  /// packetdrill). ECN marks are checked with the TCP fields; flow labels by `flowLabelMismatch`.
  static func ipFieldMismatches(_ wire: ScriptWirePacket, line: ScriptPacket) -> [ScriptFieldMismatch] {
    var out: [ScriptFieldMismatch] = []
    if let tos = line.typeOfService, tos != wire.typeOfService {
      out.append(ScriptFieldMismatch(
        field: wire.isIPv6 ? "traffic class" : "tos", expected: hex(tos), actual: hex(wire.typeOfService)))
    }
    if let ttl = line.timeToLive, ttl != 0, ttl != 255, ttl != wire.timeToLive {
      out.append(ScriptFieldMismatch(
        field: wire.isIPv6 ? "hop limit" : "ttl", expected: String(ttl), actual: String(wire.timeToLive)))
    }
    return out
  }

  static func hex(_ value: some BinaryInteger) -> String { "0x" + String(value, radix: 16) }

  /// packetdrill's flow label rule for a `>` line with `[flowlabel 0xN]` (N ≠ 0): the live label
  /// must be set; the first such line pairs N with the live label; a later line with the same N
  /// expects the same live label, with another N a different one (and pairs them). Updates the
  /// pairing in `connection`; `nil` when the packet agrees.
  public static func flowLabelMismatch(
    _ packet: [UInt8], line: ScriptPacket, connection: inout ScriptConnection
  ) -> ScriptFieldMismatch? {
    guard let script = line.flowLabel, script != 0, let wire = ScriptWirePacket(packet), wire.isIPv6 else { return nil }
    let live = wire.flowLabel
    guard live != 0 else { return ScriptFieldMismatch(field: "flow label", expected: "a label", actual: "none (0)") }
    guard let pairedScript = connection.scriptFlowLabel, let pairedLive = connection.liveFlowLabel else {
      connection.scriptFlowLabel = script
      connection.liveFlowLabel = live
      return nil
    }
    if script == pairedScript {
      if live == pairedLive { return nil }
      return ScriptFieldMismatch(field: "flow label", expected: "the same label (\(hex(pairedLive)))", actual: hex(live))
    }
    if live == pairedLive {
      return ScriptFieldMismatch(field: "flow label", expected: "a label other than \(hex(pairedLive))", actual: hex(live))
    }
    connection.scriptFlowLabel = script
    connection.liveFlowLabel = live
    return nil
  }
}

extension ScriptSyscallExecutor {
  /// A socket address argument in the mode's family; `...` is the default for the call
  /// (`defaultAddress`, one of the script's two IPv4 ends, mapped for the mode).
  ///
  /// A struct is packetdrill's sockaddr literal, `{sa_family=AF_INET, sin_port=htons(8080),
  /// sin_addr=inet_addr("192.0.2.1")}` (`sin6_port`, `sin6_addr` and `inet6_addr("...")` for
  /// IPv6); an IPv4 address names the mode's own address for it (see
  /// `ScriptConnection.socketAddress`), an IPv6 one is used as written.
  func socketAddress(
    _ expression: ScriptExpression, defaultAddress: IPv4Address, defaultPort: UInt16
  ) throws(ScriptRunError) -> ScriptSocketAddress {
    switch expression {
    case .ellipsis: return connection.socketAddress(defaultAddress, port: defaultPort)
    case .structure:
      let (written, port) = try sockaddrLiteral(expression)
      switch written {
      case .none: return connection.socketAddress(defaultAddress, port: port ?? defaultPort)
      case .some(.v4(let address)): return connection.socketAddress(address, port: port ?? defaultPort)
      case .some(.v6(let address)): return .ipv6(address: address.octets, port: port ?? defaultPort)
      }
    default: throw ScriptRunError("expected a sockaddr ({sa_family=AF_INET, sin_port=..., sin_addr=...}) or ..., found \(expression)")
    }
  }

  enum WrittenAddress: Equatable {
    case v4(IPv4Address)
    case v6(IPv6Address)
  }

  /// The address and port a sockaddr literal writes (`nil` for a field left out or `...`).
  func sockaddrLiteral(_ expression: ScriptExpression) throws(ScriptRunError) -> (WrittenAddress?, UInt16?) {
    guard case .structure(let fields) = expression else {
      throw ScriptRunError("expected a sockaddr ({sa_family=AF_INET, sin_port=..., sin_addr=...}), found \(expression)")
    }
    var address: WrittenAddress?
    var port: UInt16?
    for field in fields where field.value != .ellipsis {
      switch field.name {
      case "sin_port", "sin6_port":
        let value = try integer(field.value, field.name)
        guard (0...0xFFFF).contains(value) else { throw ScriptRunError("\(field.name) \(value) is not a port (0...65535)") }
        port = UInt16(value)
      case "sin_addr", "sin6_addr":
        address = try writtenAddress(field.value, field.name)
      case "sa_family", "sin_family", "sin6_family", "sin6_flowinfo", "sin6_scope_id": continue
      default: throw ScriptRunError("unsupported sockaddr field \(field.name)")
      }
    }
    return (address, port)
  }

  /// `inet_addr("a.b.c.d")`, `inet_addr("::1")` or `inet6_addr("...")` (packetdrill reads the
  /// string by the sockaddr's family; here by its form), or an IPv4 address as a number.
  func writtenAddress(_ expression: ScriptExpression, _ what: String) throws(ScriptRunError) -> WrittenAddress {
    if case .call(let name, let arguments) = expression, name == "inet_addr" || name == "inet6_addr",
      arguments.count == 1, case .string(let text) = arguments[0]
    {
      if name == "inet_addr", let v4 = IPv4Address(text) { return .v4(v4) }
      if let v6 = IPv6Address(text) { return .v6(v6) }
      throw ScriptRunError("\(name)(\"\(text)\") is not an IP address")
    }
    let value = try integer(expression, what)
    guard (0...Int64(UInt32.max)).contains(value) else { throw ScriptRunError("\(what) \(value) is not an IPv4 address") }
    return .v4(IPv4Address(rawValue: UInt32(value)))
  }

  /// What a sockaddr literal expects of a live address (getsockname, getpeername, accept), or
  /// `nil` when it matches: the port and the address, both as the script writes them (the
  /// live address read back through the mode, so `inet_addr("192.168.0.1")` matches
  /// `::ffff:192.168.0.1` in mapped mode and the local IPv6 address in `ipv6` mode).
  func sockaddrMismatch(_ expected: ScriptExpression, live: ScriptSocketAddress) throws(ScriptRunError) -> String? {
    let (address, port) = try sockaddrLiteral(expected)
    let seen = connection.scriptView(live)
    var problems: [String] = []
    if let port, port != live.port { problems.append("port \(live.port), expected \(port)") }
    if let address {
      let matches: Bool
      switch (address, seen) {
      case (.v4(let want), .ipv4(let have, _)): matches = want.rawValue == have
      case (.v6(let want), .ipv6(let have, _)): matches = want.octets == have
      case (.v6(let want), .ipv4(let have, _)):
        matches = want.ipv4Mapped?.rawValue == have || connection.socketAddress(IPv4Address(rawValue: have), port: 0) == .ipv6(address: want.octets, port: 0)
      default: matches = false
      }
      if !matches {
        let wrote: String
        switch address {
        case .v4(let value): wrote = value.description
        case .v6(let value): wrote = value.description
        }
        problems.append("address \(describe(live)), expected \(wrote)")
      }
    }
    return problems.isEmpty ? nil : problems.joined(separator: "; ")
  }

  func describe(_ address: ScriptSocketAddress) -> String {
    switch address {
    case .ipv4(let value, _): return IPv4Address(rawValue: value).description
    case .ipv6(let bytes, _): return IPv6Address(octets: bytes).description
    case .family(let family): return "family \(family)"
    }
  }
}
