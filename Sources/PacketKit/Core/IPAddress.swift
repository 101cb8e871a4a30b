/// An IP address of either family: what a flow, a transcript or a command line carries when it
/// does not care which (scapy's `IP(dst=...)` vs `IPv6(dst=...)` decided by the text).
///
/// `description` is the address alone, as tcpdump prints it (`127.0.0.1`, `::1`); `bracketed`
/// is the form that goes before `:port` (`[::1]` for IPv6, RFC 3986 §3.2.2).
public enum IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
  case v4(IPv4Address)
  case v6(IPv6Address)

  /// The two address families.
  public enum Family: String, Hashable, Sendable, CustomStringConvertible {
    case ipv4
    case ipv6

    /// `IPv4` or `IPv6`.
    public var description: String { self == .ipv4 ? "IPv4" : "IPv6" }
    /// The unspecified address of this family (`0.0.0.0`, `::`).
    public var any: IPAddress { self == .ipv4 ? .v4(.any) : .v6(.any) }
    /// The loopback address of this family (`127.0.0.1`, `::1`).
    public var loopback: IPAddress { self == .ipv4 ? .v4(.loopback) : .v6(.loopback) }
    /// The IP version number (4 or 6).
    public var version: Int { self == .ipv4 ? 4 : 6 }
  }

  /// Parses `127.0.0.1` or `::1` (RFC 4291 §2.2 text; a dotted quad is IPv4, anything with a
  /// colon IPv6). No brackets, zone index or spaces: `nil` otherwise.
  public init?(_ text: some StringProtocol) {
    if let v4 = IPv4Address(text) {
      self = .v4(v4)
    } else if let v6 = IPv6Address(text) {
      self = .v6(v6)
    } else {
      return nil
    }
  }

  /// The address from 4 octets (IPv4) or 16 (IPv6) in network order; `nil` for any other count.
  public init?(octets: some Collection<UInt8>) {
    switch octets.count {
    case 4:
      var value: UInt32 = 0
      for byte in octets { value = value << 8 | UInt32(byte) }
      self = .v4(IPv4Address(rawValue: value))
    case 16:
      self = .v6(IPv6Address(octets: octets))
    default:
      return nil
    }
  }

  public var family: Family {
    switch self {
    case .v4: .ipv4
    case .v6: .ipv6
    }
  }

  public var isIPv4: Bool { family == .ipv4 }
  public var isIPv6: Bool { family == .ipv6 }

  /// The IPv4 address, or `nil` for an IPv6 one.
  public var ipv4: IPv4Address? {
    if case .v4(let address) = self { return address }
    return nil
  }

  /// The IPv6 address, or `nil` for an IPv4 one.
  public var ipv6: IPv6Address? {
    if case .v6(let address) = self { return address }
    return nil
  }

  /// `0.0.0.0` or `::`: "any address" where a listener or a filter takes one.
  public var isUnspecified: Bool {
    switch self {
    case .v4(let address): address == .any
    case .v6(let address): address == .any
    }
  }

  /// `127.0.0.0/8` (RFC 1122 §3.2.1.3) or `::1` (RFC 4291 §2.5.3).
  public var isLoopback: Bool {
    switch self {
    case .v4(let address): address.rawValue >> 24 == 127
    case .v6(let address): address == .loopback
    }
  }

  /// The octets in network order (4 or 16).
  public var octets: [UInt8] {
    switch self {
    case .v4(let address):
      let o = address.octets
      return [o.0, o.1, o.2, o.3]
    case .v6(let address):
      return address.octets
    }
  }

  /// `127.0.0.1`, `::1`.
  public var description: String {
    switch self {
    case .v4(let address): address.description
    case .v6(let address): address.description
    }
  }

  /// The address as written before `:port`: `127.0.0.1`, `[::1]`.
  public var bracketed: String {
    switch self {
    case .v4(let address): address.description
    case .v6(let address): "[\(address)]"
    }
  }

  /// IPv4 before IPv6, then numerically.
  public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
    switch (lhs, rhs) {
    case (.v4(let a), .v4(let b)): a < b
    case (.v6(let a), .v6(let b)): a < b
    case (.v4, .v6): true
    case (.v6, .v4): false
    }
  }
}

extension IPAddress: ExpressibleByStringLiteral {
  /// A literal address in source code, `"127.0.0.1"` or `"::1"`.
  /// - Precondition: the literal is a valid address (a programmer error otherwise; text from
  ///   outside goes through the failable `init?(_:)`).
  public init(stringLiteral value: StaticString) {
    guard let address = IPAddress(value.description) else {
      preconditionFailure("invalid IP address literal \"\(value)\"")
    }
    self = address
  }
}
