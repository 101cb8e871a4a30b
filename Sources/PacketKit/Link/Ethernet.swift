/// Offsets and sizes of the Ethernet II header (IEEE 802.3).
public enum EthernetLayout {
  public static let destination = 0
  public static let source = 6
  public static let etherType = 12
  /// 14 bytes.
  public static let headerLength = 14
  /// An 802.1Q / 802.1ad tag after the addresses (its TPID is the EtherType it follows): tag
  /// control information, then the next EtherType, offsets within the 4-byte tag.
  public static let vlanTagControl = 0
  public static let vlanEtherType = 2
  /// 4 bytes: one VLAN tag.
  public static let vlanTagLength = 4
}

extension ByteCursor {
  // The link-layer fields the dissector, the tcpdump printer and `show()` all read.

  /// The EtherType of the Ethernet header at 0 (the TPID when a VLAN tag follows).
  @inline(__always) func ethernetType() -> UInt16 { u16(EthernetLayout.etherType) }
  /// The EtherType after the VLAN tag at `offset`.
  @inline(__always) func vlanEtherType(at offset: Int) -> UInt16 { u16(offset &+ EthernetLayout.vlanEtherType) }
}

/// Offsets of an ARP packet (RFC 826): the fixed part, then sender and target addresses whose
/// sizes the header gives. The address offsets are those of Ethernet/IPv4 ARP (6-byte hardware,
/// 4-byte protocol addresses).
public enum ARPLayout {
  public static let hardwareType = 0
  public static let protocolType = 2
  public static let hardwareAddressLength = 4
  public static let protocolAddressLength = 5
  public static let operation = 6
  /// 8 bytes: the part before the addresses.
  public static let fixedLength = 8
  public static let senderHardwareAddress = 8
  public static let senderProtocolAddress = 14
  public static let targetHardwareAddress = 18
  public static let targetProtocolAddress = 24
}

/// A read-only view of an Ethernet II frame (no FCS). Once `init(validating:)` succeeds (at
/// least 14 bytes), no accessor traps.
public struct EthernetView: Sendable {
  /// The frame's bytes, not zero-based: every offset is from `bytes.startIndex`.
  public let bytes: ArraySlice<UInt8>

  /// - Throws: `.truncated` for fewer than 14 bytes.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= EthernetLayout.headerLength else {
      throw .truncated(layer: .ethernet, needed: EthernetLayout.headerLength, available: bytes.count)
    }
    self.bytes = bytes
  }

  /// Wraps bytes without checks. Only for bytes this module just wrote.
  @inlinable public init(unchecked bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  @inlinable public var destination: MACAddress {
    MACAddress(
      rawValue: UInt64(bytes.uint16(at: EthernetLayout.destination)) << 32
        | UInt64(bytes.uint32(at: EthernetLayout.destination &+ 2)))
  }
  @inlinable public var source: MACAddress {
    MACAddress(
      rawValue: UInt64(bytes.uint16(at: EthernetLayout.source)) << 32
        | UInt64(bytes.uint32(at: EthernetLayout.source &+ 2)))
  }
  @inlinable public var etherType: EtherType { EtherType(bytes.uint16(at: EthernetLayout.etherType)) }
  /// Everything after the 14-byte header.
  @inlinable public var payload: ArraySlice<UInt8> { bytes.clampedSuffix(from: EthernetLayout.headerLength) }
}

/// An Ethernet II header to build.
public struct EthernetHeader: Hashable, Sendable {
  public var destination: MACAddress
  public var source: MACAddress
  /// Default `.ipv4`.
  public var etherType: EtherType

  public init(destination: MACAddress = .zero, source: MACAddress = .zero, etherType: EtherType = .ipv4) {
    self.destination = destination
    self.source = source
    self.etherType = etherType
  }

  /// Decodes every field from a view.
  public init(_ view: EthernetView) {
    self.init(destination: view.destination, source: view.source, etherType: view.etherType)
  }

  public static func decode(from bytes: ArraySlice<UInt8>) throws(PacketError) -> EthernetHeader {
    EthernetHeader(try EthernetView(validating: bytes))
  }

  /// 14 bytes.
  @inlinable public var encodedLength: Int { EthernetLayout.headerLength }

  internal func write(_ out: ByteWriter, at offset: Int) {
    out.put(UInt16(truncatingIfNeeded: destination.rawValue >> 32), at: offset)
    out.put(UInt32(truncatingIfNeeded: destination.rawValue), at: offset + 2)
    out.put(UInt16(truncatingIfNeeded: source.rawValue >> 32), at: offset + 6)
    out.put(UInt32(truncatingIfNeeded: source.rawValue), at: offset + 8)
    out.put(etherType.rawValue, at: offset + 12)
  }
}
