/// Offsets and sizes of the UDP header (RFC 768).
public enum UDPLayout {
  public static let sourcePort = 0
  public static let destinationPort = 2
  public static let length = 4
  public static let checksum = 6
  /// 8 bytes.
  public static let headerLength = 8
}

extension ByteCursor {
  /// The length field of the UDP header at `start` (read by the dissector and the tcpdump printer).
  @inline(__always) func udpLength(at start: Int) -> Int { Int(u16(start &+ UDPLayout.length)) }
}

/// A read-only view of a UDP datagram (RFC 768). Once `init(validating:)` succeeds, no accessor
/// traps: the slice holds at least 8 bytes and `length` ≥ 8. A `length` larger than the slice is
/// kept visible (`payload` then ends at the end of the slice).
public struct UDPView: Sendable {
  /// The datagram's bytes, not zero-based: every offset is from `bytes.startIndex`.
  public let bytes: ArraySlice<UInt8>

  /// - Throws: `.truncated` for fewer than 8 bytes; `.invalidField` for `length` < 8.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= UDPLayout.headerLength else {
      throw .truncated(layer: .udp, needed: UDPLayout.headerLength, available: bytes.count)
    }
    let view = UDPView(unchecked: bytes)
    guard view.length >= 8 else { throw .invalidField(layer: .udp, field: "length", value: UInt64(view.length)) }
    self = view
  }

  /// Wraps bytes without checks. Only for bytes this module just wrote.
  @inlinable public init(unchecked bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  @inlinable public var sourcePort: UInt16 { bytes.uint16(at: UDPLayout.sourcePort) }
  @inlinable public var destinationPort: UInt16 { bytes.uint16(at: UDPLayout.destinationPort) }
  /// Length in bytes, header included.
  @inlinable public var length: UInt16 { bytes.uint16(at: UDPLayout.length) }
  /// Checksum as on the wire (0: none was computed).
  @inlinable public var checksum: UInt16 { bytes.uint16(at: UDPLayout.checksum) }
  /// Data after the header, up to `length` (or the end of the slice when shorter).
  @inlinable public var payload: ArraySlice<UInt8> { bytes.clampedSlice(from: 8, count: Int(length) - 8) }

  /// The checksum a correct datagram would carry over `bytes` bounded by `length` (0 is sent as
  /// 0xFFFF, RFC 768).
  public func computedChecksum(pseudoHeader: InternetChecksum) -> UInt16 {
    var sum = pseudoHeader
    sum.add(bytes.clampedSlice(from: 0, count: UDPLayout.checksum))
    sum.add(bytes.clampedSlice(from: 8, count: Int(length) - 8))
    let value = sum.finalized
    return value == 0 ? 0xFFFF : value
  }

  /// Whether the checksum verifies (or is 0: "no checksum").
  public func isChecksumValid(pseudoHeader: InternetChecksum) -> Bool {
    if checksum == 0 { return true }
    var sum = pseudoHeader
    sum.add(bytes.clampedSlice(from: 0, count: Int(length)))
    return sum.finalized == 0
  }
}

/// A UDP header to build (RFC 768). `nil` fields are computed at encode time; set values are
/// written verbatim.
///
/// The computed checksum uses the pseudo-header of the IPv4 header directly below with the UDP
/// length actually encoded (header and everything after it); a computed 0 is sent as 0xFFFF.
/// Without an IPv4 header below, a `nil` checksum throws `.missingPseudoHeader` (set it to 0 for
/// "no checksum").
public struct UDPHeader: Hashable, Sendable {
  public var sourcePort: UInt16
  public var destinationPort: UInt16
  /// Length in bytes, header included. `nil`: this header plus everything after it.
  public var length: UInt16?
  /// `nil`: computed.
  public var checksum: UInt16?

  public init(sourcePort: UInt16, destinationPort: UInt16, length: UInt16? = nil, checksum: UInt16? = nil) {
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.length = length
    self.checksum = checksum
  }

  /// Decodes every field, optionals included.
  public init(_ view: UDPView) {
    self.init(sourcePort: view.sourcePort, destinationPort: view.destinationPort, length: view.length, checksum: view.checksum)
  }

  public static func decode(from bytes: ArraySlice<UInt8>) throws(PacketError) -> UDPHeader {
    UDPHeader(try UDPView(validating: bytes))
  }

  /// 8 bytes.
  @inlinable public var encodedLength: Int { UDPLayout.headerLength }

  /// Writes the header; returns the sum of its bytes when the checksum is `nil`.
  @discardableResult
  internal func write(_ out: ByteWriter, at offset: Int, datagramLength: Int) throws(PacketError) -> InternetChecksum {
    let lengthValue: UInt16
    if let length {
      lengthValue = length
    } else {
      guard datagramLength <= 0xFFFF else {
        throw .computedValueOutOfRange(layer: .udp, field: "length", value: UInt64(datagramLength))
      }
      lengthValue = UInt16(truncatingIfNeeded: datagramLength)
    }
    out.put(sourcePort, at: offset)
    out.put(destinationPort, at: offset + 2)
    out.put(lengthValue, at: offset + 4)
    out.put(checksum ?? 0, at: offset + 6)
    var sum = InternetChecksum()
    if checksum == nil {
      sum.add(uint16: sourcePort)
      sum.add(uint16: destinationPort)
      sum.add(uint16: lengthValue)
    }
    return sum
  }
}
