/// An IPv4 protocol number (RFC 791 "Protocol", IANA registry). 8 bits on the wire.
/// A struct, so any wire value is representable.
public struct IPProtocol: RawRepresentable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
  public var rawValue: UInt8
  @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
  @inlinable public init(_ rawValue: UInt8) { self.rawValue = rawValue }

  // Computed, not stored: a stored static is reached through a lazy-initialisation check at
  // every use (seen in the views' profile); these fold to a constant.
  /// ICMP, 1 (RFC 792).
  @inlinable public static var icmp: IPProtocol { IPProtocol(1) }
  /// TCP, 6 (RFC 9293).
  @inlinable public static var tcp: IPProtocol { IPProtocol(6) }
  /// UDP, 17 (RFC 768).
  @inlinable public static var udp: IPProtocol { IPProtocol(17) }

  public var description: String {
    switch rawValue {
    case 1: "icmp"
    case 6: "tcp"
    case 17: "udp"
    default: "proto \(rawValue)"
    }
  }
}

/// An Ethernet II type field (IEEE 802.3 EtherType). 16 bits on the wire.
public struct EtherType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: UInt16
  @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
  @inlinable public init(_ rawValue: UInt16) { self.rawValue = rawValue }

  /// IPv4, 0x0800.
  public static let ipv4 = EtherType(0x0800)
  /// ARP, 0x0806.
  public static let arp = EtherType(0x0806)
  /// IEEE 802.1Q VLAN tag, 0x8100.
  public static let vlan = EtherType(0x8100)
  /// IPv6, 0x86DD.
  public static let ipv6 = EtherType(0x86DD)

  public var description: String {
    switch rawValue {
    case 0x0800: "IPv4"
    case 0x0806: "ARP"
    case 0x8100: "802.1Q"
    case 0x86DD: "IPv6"
    default: "0x" + String(rawValue, radix: 16)
    }
  }
}
