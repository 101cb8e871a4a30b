/// An IPv6 address (RFC 4291), 128 bits, stored as two host-order halves: `high` holds the
/// first eight octets, `low` the last eight. `::1` is `high` 0, `low` 1.
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
  /// The first 64 bits (octets 0-7), host byte order.
  public var high: UInt64
  /// The last 64 bits (octets 8-15), host byte order.
  public var low: UInt64

  /// The address whose halves are `high` and `low`.
  @inlinable public init(high: UInt64, low: UInt64) {
    self.high = high
    self.low = low
  }

  /// The address of eight 16-bit groups, in text order.
  public init(groups: [UInt16]) {
    var high: UInt64 = 0
    var low: UInt64 = 0
    for (i, group) in groups.prefix(8).enumerated() {
      if i < 4 { high |= UInt64(group) << (48 - 16 * i) } else { low |= UInt64(group) << (48 - 16 * (i - 4)) }
    }
    self.init(high: high, low: low)
  }

  /// The address from 16 octets in network order (missing octets are 0, extra ones ignored).
  public init(octets: some Collection<UInt8>) {
    var high: UInt64 = 0
    var low: UInt64 = 0
    var i = 0
    for byte in octets {
      guard i < 16 else { break }
      if i < 8 { high |= UInt64(byte) << (56 - 8 * i) } else { low |= UInt64(byte) << (56 - 8 * (i - 8)) }
      i += 1
    }
    self.init(high: high, low: low)
  }

  /// The IPv4-mapped address `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2).
  public init(ipv4Mapped address: IPv4Address) {
    self.init(high: 0, low: 0xFFFF_0000_0000 | UInt64(address.rawValue))
  }

  /// `::`.
  public static let any = IPv6Address(high: 0, low: 0)
  /// `::1`.
  public static let loopback = IPv6Address(high: 0, low: 1)

  /// The 16 octets in network order.
  public var octets: [UInt8] {
    var result = [UInt8](repeating: 0, count: 16)
    for i in 0..<8 {
      result[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * i))
      result[i + 8] = UInt8(truncatingIfNeeded: low >> (56 - 8 * i))
    }
    return result
  }

  /// The eight 16-bit groups in text order.
  public var groups: [UInt16] {
    (0..<8).map { i in
      i < 4 ? UInt16(truncatingIfNeeded: high >> (48 - 16 * i)) : UInt16(truncatingIfNeeded: low >> (48 - 16 * (i - 4)))
    }
  }

  /// The embedded IPv4 address of an IPv4-mapped address (`::ffff:a.b.c.d`), else `nil`.
  public var ipv4Mapped: IPv4Address? {
    guard high == 0, low >> 32 == 0xFFFF else { return nil }
    return IPv4Address(rawValue: UInt32(truncatingIfNeeded: low))
  }

  /// Whether this is a link-local unicast address (`fe80::/10`).
  public var isLinkLocal: Bool { high >> 54 == 0x3FA }
  /// Whether this is a multicast address (`ff00::/8`).
  public var isMulticast: Bool { high >> 56 == 0xFF }

  /// The solicited-node multicast address of this one (RFC 4291 §2.7.1): `ff02::1:ffXX:XXXX`
  /// with the low 24 bits of this address.
  public var solicitedNodeMulticast: IPv6Address {
    IPv6Address(high: 0xFF02_0000_0000_0000, low: 0x0000_0001_FF00_0000 | (low & 0xFF_FFFF))
  }

  /// Parses RFC 4291 §2.2 text: up to eight hexadecimal groups of 1-4 digits separated by ':',
  /// at most one "::" standing for one or more zero groups, and optionally a dotted-quad IPv4
  /// address in place of the last two groups ("::ffff:127.0.0.1"). Upper and lower case both
  /// work. No zone index, brackets or spaces. Returns `nil` otherwise.
  public init?(_ text: some StringProtocol) {
    let utf8 = Array(text.utf8)
    guard !utf8.isEmpty, utf8.count <= 45 else { return nil }
    var head: [UInt16] = []
    var tail: [UInt16] = []
    var sawDoubleColon = false
    var index = 0
    // A leading "::".
    if utf8.count >= 2, utf8[0] == UInt8(ascii: ":") {
      guard utf8[1] == UInt8(ascii: ":") else { return nil }
      sawDoubleColon = true
      index = 2
    }
    while index < utf8.count {
      // One group (or a trailing IPv4 address).
      var value: UInt32 = 0
      var digits = 0
      var end = index
      while end < utf8.count, let digit = IPv6Address.hexValue(utf8[end]) {
        value = value << 4 | UInt32(digit)
        digits += 1
        end += 1
        guard digits <= 4 else { return nil }
      }
      if end < utf8.count, utf8[end] == UInt8(ascii: ".") {
        // Dotted quad: the rest of the text.
        guard let v4 = IPv4Address(String(decoding: utf8[index...], as: UTF8.self)) else { return nil }
        let parts = [UInt16(truncatingIfNeeded: v4.rawValue >> 16), UInt16(truncatingIfNeeded: v4.rawValue)]
        if sawDoubleColon { tail += parts } else { head += parts }
        index = utf8.count
        break
      }
      guard digits > 0 else { return nil }
      if sawDoubleColon { tail.append(UInt16(value)) } else { head.append(UInt16(value)) }
      index = end
      guard index < utf8.count else { break }
      guard utf8[index] == UInt8(ascii: ":") else { return nil }
      index += 1
      if index < utf8.count, utf8[index] == UInt8(ascii: ":") {
        guard !sawDoubleColon else { return nil }
        sawDoubleColon = true
        index += 1
      } else if index == utf8.count {
        return nil  // a single trailing ':'
      }
    }
    let total = head.count + tail.count
    if sawDoubleColon {
      guard total <= 7 else { return nil }
    } else {
      guard total == 8 else { return nil }
    }
    self.init(groups: head + [UInt16](repeating: 0, count: 8 - total) + tail)
  }

  @inline(__always) static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }

  /// The canonical text of RFC 5952 §4 as tcpdump (and glibc's `inet_ntop`) print it: lower-case
  /// hexadecimal without leading zeros; the longest run of two or more zero groups (the first of
  /// equal runs) as "::"; and, when that run starts the address and is six groups long (or five
  /// followed by `ffff`), the last 32 bits as a dotted quad (`::ffff:127.0.0.1`, `::1.2.3.4`).
  public var description: String {
    var out: [UInt8] = []
    out.reserveCapacity(39)
    appendText(to: &out)
    return String(decoding: out, as: UTF8.self)
  }

  /// Appends `description`'s UTF-8 bytes to `out` (for printers writing into one buffer).
  public func appendText(to out: inout [UInt8]) {
    let words = groups
    var bestStart = -1
    var bestLength = 0
    var runStart = -1
    for i in 0...8 {
      if i < 8, words[i] == 0 {
        if runStart < 0 { runStart = i }
      } else if runStart >= 0 {
        if i - runStart > bestLength {
          bestStart = runStart
          bestLength = i - runStart
        }
        runStart = -1
      }
    }
    if bestLength < 2 { bestStart = -1 }
    var i = 0
    while i < 8 {
      if i == bestStart {
        if i == 0 { out.append(UInt8(ascii: ":")) }
        out.append(UInt8(ascii: ":"))
        i += bestLength
        continue
      }
      if i == 6, bestStart == 0, bestLength == 6 || (bestLength == 5 && words[5] == 0xFFFF) {
        let v4 = IPv4Address(rawValue: UInt32(words[6]) << 16 | UInt32(words[7]))
        out.append(contentsOf: v4.description.utf8)
        return
      }
      IPv6Address.appendHex(words[i], to: &out)
      if i < 7 { out.append(UInt8(ascii: ":")) }
      i += 1
    }
  }

  static func appendHex(_ value: UInt16, to out: inout [UInt8]) {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var started = false
    for shift in stride(from: 12, through: 0, by: -4) {
      let nibble = Int((value >> UInt16(shift)) & 0xF)
      if nibble != 0 || started || shift == 0 {
        out.append(digits[nibble])
        started = true
      }
    }
  }

  public static func < (lhs: IPv6Address, rhs: IPv6Address) -> Bool {
    (lhs.high, lhs.low) < (rhs.high, rhs.low)
  }
}

extension IPv6Address: ExpressibleByStringLiteral {
  /// A literal address in source code, e.g. `"::1"`.
  /// - Precondition: the literal is a valid IPv6 address (a programmer error otherwise; text from
  ///   outside goes through the failable `init?(_:)`).
  public init(stringLiteral value: StaticString) {
    guard let address = IPv6Address(value.description) else {
      preconditionFailure("invalid IPv6 address literal \"\(value)\"")
    }
    self = address
  }
}

extension ArraySlice where Element == UInt8 {
  /// The IPv6 address at `offset` from `startIndex`. The caller has checked the bounds.
  @inlinable @inline(__always)
  internal func ipv6Address(at offset: Int) -> IPv6Address {
    IPv6Address(
      high: UInt64(uint32(at: offset)) << 32 | UInt64(uint32(at: offset &+ 4)),
      low: UInt64(uint32(at: offset &+ 8)) << 32 | UInt64(uint32(at: offset &+ 12)))
  }
}

extension ByteWriter {
  /// Writes `address`'s 16 octets at `offset`.
  @inlinable @inline(__always) func put(_ address: IPv6Address, at offset: Int) {
    UnsafeMutableRawPointer(base + offset).storeBytes(of: address.high.bigEndian, as: UInt64.self)
    UnsafeMutableRawPointer(base + offset + 8).storeBytes(of: address.low.bigEndian, as: UInt64.self)
  }
}

extension InternetChecksum {
  /// Adds an IPv6 address's 16 octets to the stream.
  @inlinable public mutating func add(_ address: IPv6Address) {
    add(uint32: UInt32(truncatingIfNeeded: address.high >> 32))
    add(uint32: UInt32(truncatingIfNeeded: address.high))
    add(uint32: UInt32(truncatingIfNeeded: address.low >> 32))
    add(uint32: UInt32(truncatingIfNeeded: address.low))
  }

  /// The IPv6 pseudo-header sum (RFC 8200 §8.1) for TCP, UDP and ICMPv6: source address,
  /// destination address (the final one when a Routing header is present), the upper-layer
  /// packet length as 32 bits, three zero octets and the next header value.
  @inlinable
  public static func pseudoHeader(
    sourceAddress: IPv6Address, destinationAddress: IPv6Address, protocol: IPProtocol, length: Int
  ) -> InternetChecksum {
    // One plain 64-bit sum of 32-bit values (ten values < 2^32 cannot overflow it): the same
    // ones'-complement sum as adding the words one by one, since 2^16 = 1 (mod 0xFFFF).
    let source = (sourceAddress.high >> 32) &+ (sourceAddress.high & 0xFFFF_FFFF)
      &+ (sourceAddress.low >> 32) &+ (sourceAddress.low & 0xFFFF_FFFF)
    let destination = (destinationAddress.high >> 32) &+ (destinationAddress.high & 0xFFFF_FFFF)
      &+ (destinationAddress.low >> 32) &+ (destinationAddress.low & 0xFFFF_FFFF)
    var sum = InternetChecksum()
    sum.addToSum(
      source &+ destination &+ UInt64(UInt32(truncatingIfNeeded: max(0, length))) &+ UInt64(`protocol`.rawValue))
    return sum
  }
}
