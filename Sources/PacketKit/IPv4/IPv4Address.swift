/// An IPv4 address. `rawValue` is in host byte order: `0x7F000001` is `127.0.0.1`.
public struct IPv4Address: RawRepresentable, Hashable, Sendable, BitwiseCopyable, Comparable, CustomStringConvertible {
  /// The address as a host-order integer (`0x7F000001` = 127.0.0.1).
  public var rawValue: UInt32
  @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// The address `a.b.c.d`.
  @inlinable public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
    rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
  }

  /// Parses dotted-quad text ("127.0.0.1"): exactly four decimal parts 0...255, no leading
  /// zeros beyond a single "0", no spaces. Returns `nil` otherwise.
  public init?(_ text: some StringProtocol) {
    var value: UInt32 = 0
    var part: UInt32 = 0
    var digits = 0
    var parts = 0
    for byte in text.utf8 {
      if byte == UInt8(ascii: ".") {
        guard digits > 0, parts < 3 else { return nil }
        value = value << 8 | part
        parts += 1
        part = 0
        digits = 0
      } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
        if digits == 1, part == 0 { return nil }  // leading zero
        part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
        digits += 1
        guard part <= 255, digits <= 3 else { return nil }
      } else {
        return nil
      }
    }
    guard digits > 0, parts == 3 else { return nil }
    rawValue = value << 8 | part
  }

  /// 0.0.0.0.
  public static let any = IPv4Address(rawValue: 0)
  /// 127.0.0.1.
  public static let loopback = IPv4Address(127, 0, 0, 1)

  /// The four octets in network order.
  @inlinable public var octets: (UInt8, UInt8, UInt8, UInt8) {
    (UInt8(truncatingIfNeeded: rawValue >> 24), UInt8(truncatingIfNeeded: rawValue >> 16),
     UInt8(truncatingIfNeeded: rawValue >> 8), UInt8(truncatingIfNeeded: rawValue))
  }

  public var description: String {
    let o = octets
    return "\(o.0).\(o.1).\(o.2).\(o.3)"
  }

  public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension IPv4Address: ExpressibleByStringLiteral {
  /// A literal address in source code, e.g. `"127.0.0.1"`.
  /// - Precondition: the literal is a valid dotted quad (a programmer error otherwise; text from
  ///   outside goes through the failable `init?(_:)`).
  public init(stringLiteral value: StaticString) {
    guard let address = IPv4Address(value.description) else {
      preconditionFailure("invalid IPv4 address literal \"\(value)\"")
    }
    self = address
  }
}
