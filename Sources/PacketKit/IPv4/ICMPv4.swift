/// Offsets and sizes of the ICMPv4 header (RFC 792).
public enum ICMPv4Layout {
  public static let type = 0
  public static let code = 1
  public static let checksum = 2
  /// The 4 bytes whose meaning depends on the type (identifier + sequence for echo, unused or
  /// next-hop MTU for destination unreachable, ...).
  public static let restOfHeader = 4
  /// Echo, timestamp and information messages: identifier and sequence number.
  public static let identifier = 4
  public static let sequenceNumber = 6
  /// Redirect: the gateway's address.
  public static let gateway = 4
  /// Parameter problem: the offending octet.
  public static let pointer = 4
  /// Destination unreachable, fragmentation needed: the next-hop MTU (RFC 1191).
  public static let nextHopMTU = 6
  /// Router advertisement (RFC 1256): address count, address entry size (in 32-bit words),
  /// lifetime, then the entries (address, preference level) from byte 8.
  public static let addressCount = 4
  public static let addressEntrySize = 5
  public static let lifetime = 6
  public static let routerEntries = 8
  /// 8 bytes: one router advertisement entry (address, preference level).
  public static let routerEntryLength = 8
  /// Within a router advertisement entry: the preference level after the address.
  public static let routerPreference = 4
  /// Timestamp and timestamp reply: originate, receive and transmit times.
  public static let originateTimestamp = 8
  public static let receiveTimestamp = 12
  public static let transmitTimestamp = 16
  /// Address mask reply (RFC 950): the mask.
  public static let addressMask = 8
  /// 8 bytes.
  public static let headerLength = 8
  /// Error messages: the quoted datagram (its IPv4 header, then at least 8 bytes).
  public static let quotedDatagram = 8
}

/// An ICMPv4 message type (RFC 792). A struct, so any wire value is representable.
public struct ICMPv4Type: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: UInt8
  @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
  @inlinable public init(_ rawValue: UInt8) { self.rawValue = rawValue }

  public static let echoReply = ICMPv4Type(0)
  public static let destinationUnreachable = ICMPv4Type(3)
  public static let redirect = ICMPv4Type(5)
  public static let echoRequest = ICMPv4Type(8)
  public static let timeExceeded = ICMPv4Type(11)
  public static let parameterProblem = ICMPv4Type(12)

  /// Whether messages of this type quote the offending datagram (IPv4 header + 8 bytes at least)
  /// after the 8-byte header.
  public var quotesDatagram: Bool { [3, 4, 5, 11, 12].contains(rawValue) }

  public var description: String {
    switch rawValue {
    case 0: "echo reply"
    case 3: "destination unreachable"
    case 5: "redirect"
    case 8: "echo request"
    case 11: "time exceeded"
    case 12: "parameter problem"
    default: "type \(rawValue)"
    }
  }
}

/// A read-only view of an ICMPv4 message (RFC 792). Once `init(validating:)` succeeds (at least
/// 8 bytes), no accessor traps.
public struct ICMPv4View: Sendable {
  /// The message's bytes, not zero-based: every offset is from `bytes.startIndex`.
  public let bytes: ArraySlice<UInt8>

  /// - Throws: `.truncated` for fewer than 8 bytes.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= ICMPv4Layout.headerLength else {
      throw .truncated(layer: .icmpv4, needed: ICMPv4Layout.headerLength, available: bytes.count)
    }
    self.bytes = bytes
  }

  /// Wraps bytes without checks. Only for bytes this module just wrote.
  @inlinable public init(unchecked bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  @inlinable public var type: ICMPv4Type { ICMPv4Type(bytes.byte(at: ICMPv4Layout.type)) }
  @inlinable public var code: UInt8 { bytes.byte(at: ICMPv4Layout.code) }
  @inlinable public var checksum: UInt16 { bytes.uint16(at: ICMPv4Layout.checksum) }
  /// The 4 type-specific bytes as one big-endian value.
  @inlinable public var restOfHeader: UInt32 { bytes.uint32(at: ICMPv4Layout.restOfHeader) }
  /// Echo identifier (the first half of `restOfHeader`).
  @inlinable public var identifier: UInt16 { bytes.uint16(at: ICMPv4Layout.identifier) }
  /// Echo sequence number (the second half of `restOfHeader`).
  @inlinable public var sequenceNumber: UInt16 { bytes.uint16(at: ICMPv4Layout.sequenceNumber) }
  /// Everything after the 8-byte header: echo data, or the quoted datagram.
  @inlinable public var payload: ArraySlice<UInt8> { bytes.clampedSuffix(from: ICMPv4Layout.headerLength) }
  /// The quoted datagram (IPv4 header and the start of its payload) for error messages
  /// (unreachable, time exceeded, redirect, parameter problem); `nil` for other types.
  public var quotedDatagram: ArraySlice<UInt8>? { type.quotesDatagram ? payload : nil }

  /// The checksum a correct message would carry (over the whole message, checksum field as 0).
  public var computedChecksum: UInt16 {
    var sum = InternetChecksum()
    sum.add(bytes.clampedSlice(from: 0, count: 2))
    sum.add(bytes.clampedSuffix(from: 4))
    return sum.finalized
  }

  /// Whether the message sums to 0.
  @inlinable public var isChecksumValid: Bool { InternetChecksum.checksum(bytes) == 0 }
}

/// An ICMPv4 header to build (RFC 792): type, code, checksum and the 4 type-specific bytes. The
/// data (echo payload, or the quoted datagram as bytes or as `IPv4Header / TCPHeader` layers)
/// follows as further layers of the `Packet`; the checksum covers them.
public struct ICMPv4Header: Hashable, Sendable {
  public var type: ICMPv4Type
  public var code: UInt8
  /// `nil`: computed over this header and everything after it.
  public var checksum: UInt16?
  /// The 4 type-specific bytes, big-endian (identifier << 16 | sequence for echo).
  public var restOfHeader: UInt32

  public init(type: ICMPv4Type, code: UInt8 = 0, checksum: UInt16? = nil, restOfHeader: UInt32 = 0) {
    self.type = type
    self.code = code
    self.checksum = checksum
    self.restOfHeader = restOfHeader
  }

  /// An echo request ("ping").
  public static func echoRequest(identifier: UInt16, sequenceNumber: UInt16) -> ICMPv4Header {
    ICMPv4Header(type: .echoRequest, restOfHeader: UInt32(identifier) << 16 | UInt32(sequenceNumber))
  }

  /// An echo reply.
  public static func echoReply(identifier: UInt16, sequenceNumber: UInt16) -> ICMPv4Header {
    ICMPv4Header(type: .echoReply, restOfHeader: UInt32(identifier) << 16 | UInt32(sequenceNumber))
  }

  /// Destination unreachable (code 3: port unreachable; 4: fragmentation needed, with
  /// `nextHopMTU`). Follow it with the quoted datagram.
  public static func destinationUnreachable(code: UInt8, nextHopMTU: UInt16 = 0) -> ICMPv4Header {
    ICMPv4Header(type: .destinationUnreachable, code: code, restOfHeader: UInt32(nextHopMTU))
  }

  /// Time exceeded (code 0: TTL exceeded in transit). Follow it with the quoted datagram.
  public static func timeExceeded(code: UInt8 = 0) -> ICMPv4Header {
    ICMPv4Header(type: .timeExceeded, code: code)
  }

  /// Echo identifier (the first half of `restOfHeader`).
  public var identifier: UInt16 {
    get { UInt16(truncatingIfNeeded: restOfHeader >> 16) }
    set { restOfHeader = UInt32(newValue) << 16 | restOfHeader & 0xFFFF }
  }

  /// Echo sequence number (the second half of `restOfHeader`).
  public var sequenceNumber: UInt16 {
    get { UInt16(truncatingIfNeeded: restOfHeader) }
    set { restOfHeader = restOfHeader & 0xFFFF_0000 | UInt32(newValue) }
  }

  /// Decodes every field, the checksum included.
  public init(_ view: ICMPv4View) {
    self.init(type: view.type, code: view.code, checksum: view.checksum, restOfHeader: view.restOfHeader)
  }

  public static func decode(from bytes: ArraySlice<UInt8>) throws(PacketError) -> ICMPv4Header {
    ICMPv4Header(try ICMPv4View(validating: bytes))
  }

  /// 8 bytes.
  @inlinable public var encodedLength: Int { ICMPv4Layout.headerLength }

  /// Writes the header; returns the sum of its bytes when the checksum is `nil`.
  @discardableResult
  internal func write(_ out: ByteWriter, at offset: Int) -> InternetChecksum {
    out.put(type.rawValue, at: offset)
    out.put(code, at: offset + 1)
    out.put(checksum ?? 0, at: offset + 2)
    out.put(restOfHeader, at: offset + 4)
    var sum = InternetChecksum()
    if checksum == nil {
      sum.add(uint16: UInt16(type.rawValue) << 8 | UInt16(code))
      sum.add(uint32: restOfHeader)
    }
    return sum
  }
}
