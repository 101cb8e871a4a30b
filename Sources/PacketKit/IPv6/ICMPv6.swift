/// Offsets and sizes of the ICMPv6 header (RFC 4443 §2.1) and of neighbour discovery messages
/// (RFC 4861 §4.3, §4.4).
public enum ICMPv6Layout {
  public static let type = 0
  public static let code = 1
  public static let checksum = 2
  /// The 4 bytes whose meaning depends on the type (identifier + sequence for echo, MTU for
  /// packet too big, pointer for parameter problem, R/S/O flags for a neighbour advertisement).
  public static let restOfHeader = 4
  /// Echo request and reply: identifier and sequence number.
  public static let identifier = 4
  public static let sequenceNumber = 6
  /// Packet too big: the MTU.
  public static let mtu = 4
  /// Parameter problem: the offending octet's offset.
  public static let pointer = 4
  /// 8 bytes.
  public static let headerLength = 8
  /// Error messages: the quoted packet (as much of it as fits in the minimum MTU).
  public static let quotedPacket = 8
  /// Neighbour solicitation and advertisement: the target address, then options.
  public static let targetAddress = 8
  /// 24 bytes: header + target address.
  public static let neighborMessageLength = 24
}

/// An ICMPv6 message type (RFC 4443, RFC 4861). A struct, so any wire value is representable.
public struct ICMPv6Type: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public var rawValue: UInt8
  @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
  @inlinable public init(_ rawValue: UInt8) { self.rawValue = rawValue }

  public static let destinationUnreachable = ICMPv6Type(1)
  public static let packetTooBig = ICMPv6Type(2)
  public static let timeExceeded = ICMPv6Type(3)
  public static let parameterProblem = ICMPv6Type(4)
  public static let echoRequest = ICMPv6Type(128)
  public static let echoReply = ICMPv6Type(129)
  public static let routerSolicitation = ICMPv6Type(133)
  public static let routerAdvertisement = ICMPv6Type(134)
  public static let neighborSolicitation = ICMPv6Type(135)
  public static let neighborAdvertisement = ICMPv6Type(136)

  /// Whether this is an error message (types 0-127) that quotes as much of the offending packet
  /// as fits in the minimum MTU after the 8-byte header (RFC 4443 §2.1, §3).
  public var quotesPacket: Bool { rawValue < 128 }

  /// Whether the message carries a target address and neighbour discovery options after the
  /// 8-byte header (neighbour solicitation and advertisement).
  public var hasTargetAddress: Bool { rawValue == 135 || rawValue == 136 }

  public var description: String {
    switch rawValue {
    case 1: "destination unreachable"
    case 2: "packet too big"
    case 3: "time exceeded"
    case 4: "parameter problem"
    case 128: "echo request"
    case 129: "echo reply"
    case 133: "router solicitation"
    case 134: "router advertisement"
    case 135: "neighbor solicitation"
    case 136: "neighbor advertisement"
    default: "type \(rawValue)"
    }
  }
}

/// A neighbour discovery option (RFC 4861 §4.6): type, length in 8-octet units, data.
public enum NeighborDiscoveryOption: Hashable, Sendable {
  /// Source link-layer address (type 1) of an Ethernet link: 8 octets.
  case sourceLinkLayerAddress(MACAddress)
  /// Target link-layer address (type 2) of an Ethernet link: 8 octets.
  case targetLinkLayerAddress(MACAddress)
  /// MTU (type 5): 8 octets.
  case mtu(UInt32)
  /// Any option: `type`, a length octet of (2 + `data`) / 8 rounded up, then `data` zero-padded
  /// to that length.
  case raw(type: UInt8, data: [UInt8])
  /// Bytes written verbatim (an options area that does not parse, kept as it was).
  case bytes([UInt8])

  /// The octets this option occupies.
  public var encodedLength: Int {
    switch self {
    case .sourceLinkLayerAddress, .targetLinkLayerAddress, .mtu: 8
    case .raw(_, let data): (2 + data.count + 7) & ~7
    case .bytes(let bytes): bytes.count
    }
  }

  /// Appends the option's octets.
  internal func append(to out: inout [UInt8]) throws(PacketError) {
    switch self {
    case .sourceLinkLayerAddress(let mac): out += [1, 1] + mac.bytes
    case .targetLinkLayerAddress(let mac): out += [2, 1] + mac.bytes
    case .mtu(let mtu): out += [5, 1, 0, 0] + withUnsafeBytes(of: mtu.bigEndian) { Array($0) }
    case .raw(let type, let data):
      let length = (2 + data.count + 7) & ~7
      guard length / 8 <= 255 else {
        throw .overrideOutOfRange(layer: .icmpv6, field: "optionLength", value: UInt64(length / 8))
      }
      out += [type, UInt8(truncatingIfNeeded: length / 8)] + data
      out += repeatElement(0, count: length - 2 - data.count)
    case .bytes(let bytes): out += bytes
    }
  }

  /// Decodes an options area so that encoding the options gives back exactly `area`; a
  /// malformed option (length 0, or past the end) and everything after it become one `.bytes`.
  public static func decodeAll(_ area: ArraySlice<UInt8>) -> [NeighborDiscoveryOption] {
    var options: [NeighborDiscoveryOption] = []
    var offset = 0
    while offset < area.count {
      let available = area.count - offset
      let units = available >= 2 ? Int(area.byte(at: offset + 1)) : 0
      guard units > 0, units * 8 <= available else {
        options.append(.bytes(Array(area.clampedSuffix(from: offset))))
        break
      }
      let type = area.byte(at: offset)
      let data = area.clampedSlice(from: offset + 2, count: units * 8 - 2)
      switch (type, units) {
      case (1, 1): options.append(.sourceLinkLayerAddress(MACAddress(rawValue: UInt64(data.uint16(at: 0)) << 32 | UInt64(data.uint32(at: 2)))))
      case (2, 1): options.append(.targetLinkLayerAddress(MACAddress(rawValue: UInt64(data.uint16(at: 0)) << 32 | UInt64(data.uint32(at: 2)))))
      case (5, 1) where data.uint16(at: 0) == 0: options.append(.mtu(data.uint32(at: 2)))
      default: options.append(.raw(type: type, data: Array(data)))
      }
      offset += units * 8
    }
    return options
  }
}

/// A read-only view of an ICMPv6 message (RFC 4443). Once `init(validating:)` succeeds (at least
/// 8 bytes), no accessor traps.
public struct ICMPv6View: Sendable {
  /// The message's bytes, not zero-based: every offset is from `bytes.startIndex`.
  public let bytes: ArraySlice<UInt8>

  /// - Throws: `.truncated` for fewer than 8 bytes, or a neighbour solicitation/advertisement
  ///   without its whole target address.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= ICMPv6Layout.headerLength else {
      throw .truncated(layer: .icmpv6, needed: ICMPv6Layout.headerLength, available: bytes.count)
    }
    let view = ICMPv6View(unchecked: bytes)
    if view.type.hasTargetAddress, bytes.count < ICMPv6Layout.neighborMessageLength {
      throw .truncated(layer: .icmpv6, needed: ICMPv6Layout.neighborMessageLength, available: bytes.count)
    }
    self = view
  }

  /// Wraps bytes without checks. Only for bytes this module just wrote.
  @inlinable public init(unchecked bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  public var type: ICMPv6Type { ICMPv6Type(bytes.byte(at: ICMPv6Layout.type)) }
  public var code: UInt8 { bytes.byte(at: ICMPv6Layout.code) }
  public var checksum: UInt16 { bytes.uint16(at: ICMPv6Layout.checksum) }
  public var restOfHeader: UInt32 { bytes.uint32(at: ICMPv6Layout.restOfHeader) }
  /// Echo identifier and sequence number.
  public var identifier: UInt16 { bytes.uint16(at: ICMPv6Layout.identifier) }
  public var sequenceNumber: UInt16 { bytes.uint16(at: ICMPv6Layout.sequenceNumber) }
  /// Packet too big: the MTU of the next hop. Parameter problem: the pointer.
  public var mtuOrPointer: UInt32 { restOfHeader }

  /// The target address of a neighbour solicitation or advertisement (`nil` for other types).
  public var targetAddress: IPv6Address? {
    type.hasTargetAddress ? bytes.ipv6Address(at: ICMPv6Layout.targetAddress) : nil
  }

  /// Neighbour discovery options (after the target address; empty for other types).
  public var neighborDiscoveryOptions: [NeighborDiscoveryOption] {
    type.hasTargetAddress ? NeighborDiscoveryOption.decodeAll(bytes.clampedSuffix(from: ICMPv6Layout.neighborMessageLength)) : []
  }

  /// The bytes after the 8-byte header: echo data, or the quoted packet of an error message
  /// (after the target address and options for neighbour messages: empty).
  public var body: ArraySlice<UInt8> {
    type.hasTargetAddress ? bytes.clampedSuffix(from: bytes.count) : bytes.clampedSuffix(from: ICMPv6Layout.headerLength)
  }

  /// The checksum a correct message would carry under `pseudoHeader` (IPv6, next header 58).
  public func computedChecksum(pseudoHeader: InternetChecksum) -> UInt16 {
    var sum = pseudoHeader
    sum.add(bytes.clampedSlice(from: 0, count: ICMPv6Layout.checksum))
    sum.add(bytes.clampedSuffix(from: ICMPv6Layout.checksum + 2))
    return sum.finalized
  }

  /// Whether the checksum verifies under `pseudoHeader`.
  public func isChecksumValid(pseudoHeader: InternetChecksum) -> Bool {
    var sum = pseudoHeader
    sum.add(bytes)
    return sum.finalized == 0
  }
}

/// An ICMPv6 message header to build (RFC 4443 §2.1): type, code, checksum, the 4-byte rest of
/// header, and for neighbour solicitation and advertisement the target address and options.
/// Echo data and the quoted packet of an error message are the layers after it:
/// `IPv6Header(...) / ICMPv6Header.packetTooBig(mtu: 1280) / quotedIPv6 / quotedTCP`.
public struct ICMPv6Header: Hashable, Sendable {
  public var type: ICMPv6Type
  public var code: UInt8
  /// `nil`: computed over the IPv6 pseudo-header and the message (everything after it).
  public var checksum: UInt16?
  /// The type-dependent 32-bit word.
  public var restOfHeader: UInt32
  /// A target address after the header (neighbour messages), `nil` for none.
  public var targetAddress: IPv6Address?
  /// Neighbour discovery options after the target address.
  public var options: [NeighborDiscoveryOption]

  public init(
    type: ICMPv6Type, code: UInt8 = 0, checksum: UInt16? = nil, restOfHeader: UInt32 = 0,
    targetAddress: IPv6Address? = nil, options: [NeighborDiscoveryOption] = []
  ) {
    self.type = type
    self.code = code
    self.checksum = checksum
    self.restOfHeader = restOfHeader
    self.targetAddress = targetAddress
    self.options = options
  }

  public static func echoRequest(identifier: UInt16, sequenceNumber: UInt16) -> ICMPv6Header {
    ICMPv6Header(type: .echoRequest, restOfHeader: UInt32(identifier) << 16 | UInt32(sequenceNumber))
  }

  public static func echoReply(identifier: UInt16, sequenceNumber: UInt16) -> ICMPv6Header {
    ICMPv6Header(type: .echoReply, restOfHeader: UInt32(identifier) << 16 | UInt32(sequenceNumber))
  }

  /// Destination unreachable (code 0 no route, 1 prohibited, 3 address, 4 port unreachable).
  public static func destinationUnreachable(code: UInt8) -> ICMPv6Header {
    ICMPv6Header(type: .destinationUnreachable, code: code)
  }

  public static func packetTooBig(mtu: UInt32) -> ICMPv6Header {
    ICMPv6Header(type: .packetTooBig, restOfHeader: mtu)
  }

  /// Time exceeded (code 0 hop limit, 1 fragment reassembly).
  public static func timeExceeded(code: UInt8 = 0) -> ICMPv6Header {
    ICMPv6Header(type: .timeExceeded, code: code)
  }

  /// Parameter problem (code 0 erroneous header field, 1 unrecognised next header, 2
  /// unrecognised option, 3 first fragment without the header chain) at byte `pointer`.
  public static func parameterProblem(code: UInt8, pointer: UInt32) -> ICMPv6Header {
    ICMPv6Header(type: .parameterProblem, code: code, restOfHeader: pointer)
  }

  /// Neighbour solicitation for `target` (RFC 4861 §4.3).
  public static func neighborSolicitation(target: IPv6Address, options: [NeighborDiscoveryOption] = []) -> ICMPv6Header {
    ICMPv6Header(type: .neighborSolicitation, targetAddress: target, options: options)
  }

  /// Neighbour advertisement for `target` (RFC 4861 §4.4) with the router, solicited and
  /// override flags.
  public static func neighborAdvertisement(
    target: IPv6Address, router: Bool = false, solicited: Bool = true, override: Bool = true,
    options: [NeighborDiscoveryOption] = []
  ) -> ICMPv6Header {
    let flags = (router ? 0x8000_0000 : 0) | (solicited ? 0x4000_0000 : 0) | (override ? 0x2000_0000 : 0)
    return ICMPv6Header(type: .neighborAdvertisement, restOfHeader: UInt32(flags), targetAddress: target, options: options)
  }

  /// Echo identifier (the first half of `restOfHeader`).
  public var identifier: UInt16 { UInt16(truncatingIfNeeded: restOfHeader >> 16) }
  /// Echo sequence number (the second half of `restOfHeader`).
  public var sequenceNumber: UInt16 { UInt16(truncatingIfNeeded: restOfHeader) }

  /// Decodes every field, the checksum included; the target and options of neighbour messages.
  public init(_ view: ICMPv6View) {
    self.init(
      type: view.type, code: view.code, checksum: view.checksum, restOfHeader: view.restOfHeader,
      targetAddress: view.targetAddress, options: view.neighborDiscoveryOptions)
  }

  public static func decode(from bytes: ArraySlice<UInt8>) throws(PacketError) -> ICMPv6Header {
    ICMPv6Header(try ICMPv6View(validating: bytes))
  }

  /// 8, + 16 with a target address, + the options.
  public var encodedLength: Int {
    ICMPv6Layout.headerLength + (targetAddress == nil ? 0 : 16) + options.reduce(0) { $0 + $1.encodedLength }
  }

  /// Writes the message header with the checksum verbatim or 0; returns the sum of the bytes
  /// written when the checksum is `nil`.
  internal func write(_ out: ByteWriter, at offset: Int, length: Int) throws(PacketError) -> InternetChecksum {
    out.put(type.rawValue, at: offset)
    out.put(code, at: offset + 1)
    out.put(checksum ?? 0, at: offset + 2)
    out.put(restOfHeader, at: offset + 4)
    var at = offset + ICMPv6Layout.headerLength
    if let targetAddress {
      out.put(targetAddress, at: at)
      at += 16
    }
    if !options.isEmpty {
      var bytes: [UInt8] = []
      for option in options { try option.append(to: &bytes) }
      out.put(bytes, at: at)
    }
    return checksum == nil ? out.checksum(at: offset, count: length) : InternetChecksum()
  }
}
