/// The kind of packet a capture saw, from the kernel's `sll_pkttype`.
///
/// A struct over the raw value, open to any value the kernel reports.
public struct PacketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// Addressed to this host. The corresponding C constant is `PACKET_HOST`.
  public static var host: PacketType { PacketType(rawValue: 0) }
  /// A link-layer broadcast. The corresponding C constant is `PACKET_BROADCAST`.
  public static var broadcast: PacketType { PacketType(rawValue: 1) }
  /// A link-layer multicast. The corresponding C constant is `PACKET_MULTICAST`.
  public static var multicast: PacketType { PacketType(rawValue: 2) }
  /// Addressed to another host (promiscuous capture). The corresponding C constant is `PACKET_OTHERHOST`.
  public static var otherHost: PacketType { PacketType(rawValue: 3) }
  /// Sent by this host (a copy of an outgoing packet). The corresponding C constant is `PACKET_OUTGOING`.
  public static var outgoing: PacketType { PacketType(rawValue: 4) }

  /// `HOST`, `BROADCAST`, `MULTICAST`, `OTHERHOST`, `OUTGOING` (as Python and tcpdump `-e` name
  /// them), or the number.
  public var description: String {
    switch rawValue {
    case 0: "HOST"
    case 1: "BROADCAST"
    case 2: "MULTICAST"
    case 3: "OTHERHOST"
    case 4: "OUTGOING"
    case 5: "LOOPBACK"
    default: "PKTTYPE(\(rawValue))"
    }
  }
}

/// When the kernel received (or sent) a frame: `SO_TIMESTAMPNS`, wall-clock time.
public struct CaptureTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
  /// Seconds since the Unix epoch.
  public var seconds: Int64
  /// Nanoseconds within the second, `0..<1_000_000_000`.
  public var nanoseconds: UInt32

  public init(seconds: Int64, nanoseconds: UInt32) {
    self.seconds = seconds
    self.nanoseconds = nanoseconds
  }

  public static func < (lhs: CaptureTimestamp, rhs: CaptureTimestamp) -> Bool {
    (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
  }

  /// `seconds.nanoseconds`, nine digits after the point.
  public var description: String {
    let fraction = String(nanoseconds)
    return "\(seconds)." + String(repeating: "0", count: max(0, 9 - fraction.count)) + fraction
  }
}

/// One frame from a `PacketSocket`, with what the kernel knew about it.
///
/// The bytes start with the link-layer header (14 bytes of Ethernet on Ethernet, veth and `lo`).
/// RawSocket does not parse them.
public struct CapturedFrame: Hashable, Sendable {
  /// The frame as captured: at most the socket's snapshot length or the filter's return value.
  public var bytes: [UInt8]
  /// The kernel's timestamp for the frame.
  public var timestamp: CaptureTimestamp
  /// Addressed to us, broadcast, multicast, another host, or our own outgoing copy.
  public var packetType: PacketType
  /// The interface it was seen on (`if_nametoindex`).
  public var interfaceIndex: Int32
  /// The frame's length on the wire; more than `bytes.count` when the capture was cut short.
  public var originalLength: Int
  /// The link-layer protocol (`sll_protocol`, host order): 0x0800 for IPv4.
  public var linkProtocol: UInt16
  /// The kernel left the transport checksum unfinished (`TP_STATUS_CSUMNOTREADY`, checksum
  /// offload / `CHECKSUM_PARTIAL`): the checksum field holds only the pseudo-header sum. Such a
  /// frame is not corrupt; never report its checksum as bad (kernel fact 6).
  public var checksumNotReady: Bool
  /// The kernel (or the NIC) already verified the checksum (`TP_STATUS_CSUM_VALID`).
  public var checksumVerified: Bool
  /// The VLAN tag the NIC stripped, if any (`tp_vlan_tci` with `TP_STATUS_VLAN_VALID`).
  public var vlanTag: UInt16?
  /// The interface's hardware type (`sll_hatype`, an `ARPHRD_*` value): 1 Ethernet and veth,
  /// 772 loopback (both with a 14-byte Ethernet-style header), 65534 none (tun: no link header).
  public var hardwareType: UInt16

  public init(
    bytes: [UInt8], timestamp: CaptureTimestamp = CaptureTimestamp(seconds: 0, nanoseconds: 0),
    packetType: PacketType = .host, interfaceIndex: Int32 = 0, originalLength: Int? = nil,
    linkProtocol: UInt16 = 0x0800, checksumNotReady: Bool = false, checksumVerified: Bool = false,
    vlanTag: UInt16? = nil, hardwareType: UInt16 = 1
  ) {
    self.bytes = bytes
    self.timestamp = timestamp
    self.packetType = packetType
    self.interfaceIndex = interfaceIndex
    self.originalLength = originalLength ?? bytes.count
    self.linkProtocol = linkProtocol
    self.checksumNotReady = checksumNotReady
    self.checksumVerified = checksumVerified
    self.vlanTag = vlanTag
    self.hardwareType = hardwareType
  }

  /// Whether the capture holds fewer bytes than were on the wire.
  public var isTruncated: Bool { bytes.count < originalLength }
}

/// Counters of a packet socket since the previous read (`PACKET_STATISTICS`; reading resets them).
public struct CaptureStatistics: Hashable, Sendable {
  /// Packets that passed the filter (`tp_packets`), including those dropped.
  public var packets: UInt32
  /// Packets dropped because the receive queue was full (`tp_drops`).
  public var drops: UInt32

  public init(packets: UInt32, drops: UInt32) {
    self.packets = packets
    self.drops = drops
  }
}
