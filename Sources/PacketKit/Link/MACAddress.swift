/// A 48-bit IEEE 802 MAC address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
  /// The six octets in wire order, packed into the low 48 bits (first octet highest).
  public var rawValue: UInt64

  /// From the low 48 bits of `rawValue` (first octet in bits 47...40). Higher bits are dropped.
  @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

  @inlinable public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) {
    rawValue = UInt64(a) << 40 | UInt64(b) << 32 | UInt64(c) << 24 | UInt64(d) << 16
      | UInt64(e) << 8 | UInt64(f)
  }

  /// From exactly six bytes; `nil` for any other count.
  public init?(bytes: some Collection<UInt8>) {
    guard bytes.count == 6 else { return nil }
    var value: UInt64 = 0
    for byte in bytes { value = value << 8 | UInt64(byte) }
    rawValue = value
  }

  /// Parses "aa:bb:cc:dd:ee:ff" (or with '-'), one or two hex digits a part, any case.
  public init?(_ text: some StringProtocol) {
    var value: UInt64 = 0
    var part: UInt64 = 0
    var digits = 0
    var parts = 0
    for byte in text.utf8 {
      if byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-") {
        guard digits > 0, parts < 5 else { return nil }
        value = value << 8 | part
        parts += 1
        part = 0
        digits = 0
        continue
      }
      let nibble: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
      default: return nil
      }
      part = part << 4 | UInt64(nibble)
      digits += 1
      guard digits <= 2 else { return nil }
    }
    guard digits > 0, parts == 5 else { return nil }
    rawValue = value << 8 | part
  }

  /// 00:00:00:00:00:00.
  public static let zero = MACAddress(rawValue: 0)
  /// ff:ff:ff:ff:ff:ff.
  public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)

  /// The six octets in wire order.
  public var bytes: [UInt8] {
    (0..<6).map { UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * UInt64($0))) }
  }

  public var description: String {
    let hex: [Character] = Array("0123456789abcdef")
    var text = ""
    for (i, byte) in bytes.enumerated() {
      if i > 0 { text.append(":") }
      text.append(hex[Int(byte >> 4)])
      text.append(hex[Int(byte & 0x0F)])
    }
    return text
  }
}
