/// The link-layer header type of a captured frame: the `LINKTYPE_*` value a pcap file records
/// (<https://www.tcpdump.org/linktypes.html>).
///
/// It tells `dissect(_:linkType:)` what the first bytes of a frame are.
public enum LinkType: UInt32, Hashable, Sendable, CaseIterable {
  /// `LINKTYPE_NULL` (0): BSD loopback. A 4-byte protocol family in the *capturing host's* byte
  /// order (2 = `AF_INET`), then the packet. Both byte orders are accepted when reading.
  case null = 0
  /// `LINKTYPE_ETHERNET` (1): an Ethernet II header (destination, source, EtherType), then the
  /// packet. Captures on Linux `lo` use it with all-zero addresses.
  case ethernet = 1
  /// `LINKTYPE_RAW` (101): the frame is an IP packet (version 4 or 6, from its first nibble).
  case raw = 101
  /// `LINKTYPE_LINUX_SLL` (113): Linux "cooked" capture header (16 bytes), as `tcpdump -i any`
  /// wrote before libpcap 1.10.
  case linuxSLL = 113
  /// `LINKTYPE_IPV4` (228): the frame is an IPv4 packet.
  case ipv4 = 228
  /// `LINKTYPE_IPV6` (229): the frame is an IPv6 packet. (tcpdump reads the version nibble and
  /// prints an IPv4 packet found here as IPv4; PacketKit does the same.)
  case ipv6 = 229
  /// `LINKTYPE_LINUX_SLL2` (276): Linux "cooked" capture header v2 (20 bytes), as
  /// `tcpdump -i any` writes with libpcap 1.10 and later.
  case linuxSLL2 = 276

  /// The name tcpdump prints for this link type in "reading from file …, link-type NAME".
  public var tcpdumpName: String {
    switch self {
    case .null: "NULL"
    case .ethernet: "EN10MB"
    case .raw: "RAW"
    case .linuxSLL: "LINUX_SLL"
    case .ipv4: "IPV4"
    case .ipv6: "IPV6"
    case .linuxSLL2: "LINUX_SLL2"
    }
  }
}

/// Offsets and sizes of the Linux cooked-capture headers (`LINKTYPE_LINUX_SLL` and `_SLL2`).
///
/// SLL (16 bytes): packet type (2), ARPHRD type (2), address length (2), address (8, padded),
/// protocol (2, an EtherType). SLL2 (20 bytes): protocol (2), reserved (2), interface index (4),
/// ARPHRD type (2), packet type (1), address length (1), address (8).
public enum LinuxSLLLayout {
  /// Bytes in a `LINKTYPE_LINUX_SLL` header.
  public static let headerLength = 16
  /// Bytes in a `LINKTYPE_LINUX_SLL2` header.
  public static let version2HeaderLength = 20
  /// Each field's offset in an SLL and in an SLL2 header (the two order them differently):
  /// the packet type (0 to us, 1 broadcast, 2 multicast, 3 to another host, 4 sent by us; 16
  /// bits in SLL, 8 in SLL2), the `ARPHRD_*` device type (16 bits), how many bytes of the
  /// address count (16 bits in SLL, 8 in SLL2), the address (`addressFieldLength` bytes,
  /// padded) and the protocol (an EtherType).
  public static let packetType = (version1: 0, version2: 10)
  public static let hardwareType = (version1: 2, version2: 8)
  public static let addressLength = (version1: 4, version2: 11)
  public static let address = (version1: 6, version2: 12)
  public static let protocolType = (version1: 14, version2: 0)
  /// SLL2 only: the interface index, 32 bits.
  public static let interfaceIndex = 4
  /// 8 bytes: the address field (padded) in either version.
  public static let addressFieldLength = 8
}

extension LinuxSLLLayout {
  /// The header length of version 1 or 2.
  @inline(__always) static func headerLength(version2: Bool) -> Int { version2 ? version2HeaderLength : headerLength }
}

extension ByteCursor {
  /// The protocol (an EtherType) of the Linux cooked-capture header at 0, version 1 or 2.
  @inline(__always) func linuxSLLProtocolType(version2: Bool) -> UInt16 {
    u16(version2 ? LinuxSLLLayout.protocolType.version2 : LinuxSLLLayout.protocolType.version1)
  }
  /// The address family of the BSD loopback header at 0 (`NullLinkView.family`).
  @inline(__always) func nullLinkFamily() -> UInt32 { NullLinkView.family(u32(0)) }
}

/// A read-only view of a Linux cooked-capture header, version 1 or 2.
///
/// Once `init(validating:version:)` succeeds, no accessor traps.
public struct LinuxSLLView: Sendable {
  /// The header and everything after it. Not zero-based: offsets count from `startIndex`.
  public let bytes: ArraySlice<UInt8>
  /// 1 for `LINKTYPE_LINUX_SLL`, 2 for `LINKTYPE_LINUX_SLL2`.
  public let version: Int

  /// Checks that `bytes` holds a whole header of the given version.
  /// - Throws: `PacketError.truncated(layer: .linuxSLL, ...)` when it does not.
  public init(validating bytes: ArraySlice<UInt8>, version: Int = 1) throws(PacketError) {
    let needed = version == 2 ? LinuxSLLLayout.version2HeaderLength : LinuxSLLLayout.headerLength
    guard bytes.count >= needed else {
      throw .truncated(layer: .linuxSLL, needed: needed, available: bytes.count)
    }
    self.bytes = bytes
    self.version = version == 2 ? 2 : 1
  }

  /// For bytes already known to hold the header (`init(validating:version:)` checks). Reads
  /// past the end give 0 rather than trapping.
  public init(unchecked bytes: ArraySlice<UInt8>, version: Int = 1) {
    self.bytes = bytes
    self.version = version == 2 ? 2 : 1
  }

  private func u16(_ offset: Int) -> UInt16 { bytes.withCursor { $0.u16(offset) } }

  /// Header length in bytes (16 or 20).
  public var headerLength: Int {
    version == 2 ? LinuxSLLLayout.version2HeaderLength : LinuxSLLLayout.headerLength
  }
  /// Packet type: 0 to us (host), 1 broadcast, 2 multicast, 3 to another host, 4 sent by us
  /// (outgoing).
  public var packetType: UInt16 {
    version == 2
      ? UInt16(bytes.withCursor { $0.u8(LinuxSLLLayout.packetType.version2) }) : u16(LinuxSLLLayout.packetType.version1)
  }
  /// The `ARPHRD_*` device type (1 Ethernet, 772 loopback).
  public var hardwareType: UInt16 {
    u16(version == 2 ? LinuxSLLLayout.hardwareType.version2 : LinuxSLLLayout.hardwareType.version1)
  }
  /// Number of meaningful bytes in `address` (at most 8 are stored).
  public var addressLength: UInt16 {
    version == 2
      ? UInt16(bytes.withCursor { $0.u8(LinuxSLLLayout.addressLength.version2) })
      : u16(LinuxSLLLayout.addressLength.version1)
  }
  /// The link-layer source address field (8 bytes, padded).
  public var address: ArraySlice<UInt8> {
    let start = version == 2 ? LinuxSLLLayout.address.version2 : LinuxSLLLayout.address.version1
    return bytes.clampedSlice(from: start, count: LinuxSLLLayout.addressFieldLength)
  }
  /// The protocol, an EtherType (0x0800 IPv4).
  public var protocolType: UInt16 { bytes.withCursor { $0.linuxSLLProtocolType(version2: version == 2) } }
  /// The interface index (SLL2 only; 0 for SLL).
  public var interfaceIndex: UInt32 {
    guard version == 2 else { return 0 }
    return bytes.withCursor { $0.u32(LinuxSLLLayout.interfaceIndex) }
  }
  /// The bytes after the header.
  public var payload: ArraySlice<UInt8> { bytes.clampedSuffix(from: headerLength) }

  /// The name tcpdump gives `packetType` ("In", "Out", ...).
  public var packetTypeName: String {
    switch packetType {
    case 0: "In"
    case 1: "B"
    case 2: "M"
    case 3: "P"
    case 4: "Out"
    default: "\(packetType)"
    }
  }
}

/// A read-only view of a BSD loopback (`LINKTYPE_NULL`) header: a 4-byte address family in the
/// byte order of the host that captured it.
public struct NullLinkView: Sendable {
  /// The header and everything after it. Not zero-based.
  public let bytes: ArraySlice<UInt8>

  /// Bytes in the header.
  public static let headerLength = 4

  /// Checks that `bytes` holds the 4-byte family.
  /// - Throws: `PacketError.truncated` when it does not.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= Self.headerLength else {
      throw .truncated(layer: .payload, needed: Self.headerLength, available: bytes.count)
    }
    self.bytes = bytes
  }

  /// The family as stored, read little-endian.
  public var familyLittleEndian: UInt32 {
    bytes.withCursor { $0.u32(0, bigEndian: false) }
  }
  /// The family, in whichever byte order gives a small number (the writer's order is unknown).
  public var family: UInt32 {
    let little = familyLittleEndian
    return little & 0xFFFF_0000 != 0 ? little.byteSwapped : little
  }
  /// Whether the family says IPv4 (`AF_INET` = 2 everywhere).
  public var isIPv4: Bool { family == 2 }
  /// Whether the family says IPv6 (`AF_INET6`: 10 Linux, 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS).
  public var isIPv6: Bool { [10, 24, 28, 30].contains(family) }
  /// The BSD `AF_INET6` values tcpdump decodes as IPv6 in a `LINKTYPE_NULL` file (24 NetBSD and
  /// OpenBSD, 28 FreeBSD, 30 Darwin; not Linux's 10, which never appears in such a file).
  static func isBSDIPv6(_ family: UInt32) -> Bool { family == 24 || family == 28 || family == 30 }
  /// The bytes after the header.
  public var payload: ArraySlice<UInt8> { bytes[(bytes.startIndex + Self.headerLength)...] }
}
