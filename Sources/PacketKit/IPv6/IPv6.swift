/// Offsets and sizes of the IPv6 fixed header (RFC 8200 §3).
public enum IPv6Layout {
  /// Version (4 bits), traffic class (8 bits), flow label (20 bits): one 32-bit word.
  public static let versionClassAndFlow = 0
  public static let payloadLength = 4
  public static let nextHeader = 6
  public static let hopLimit = 7
  public static let sourceAddress = 8
  public static let destinationAddress = 24
  /// 16 bytes: one address.
  public static let addressLength = 16
  /// 40 bytes: the fixed header (IPv6 has no header options; extension headers follow it).
  public static let headerLength = 40
}

extension ByteCursor {
  // The IPv6 fields the dissector and the tcpdump printer both read (lenient reads: the caller
  // has checked the bytes are there, or wants 0 past them).

  @inline(__always) func ipv6PayloadLength(at start: Int) -> Int { Int(u16(start &+ IPv6Layout.payloadLength)) }
  @inline(__always) func ipv6NextHeader(at start: Int) -> UInt8 { u8(start &+ IPv6Layout.nextHeader) }
  @inline(__always) func ipv6Source(at start: Int) -> IPv6Address { ipv6Address(at: start &+ IPv6Layout.sourceAddress) }
  @inline(__always) func ipv6Destination(at start: Int) -> IPv6Address {
    ipv6Address(at: start &+ IPv6Layout.destinationAddress)
  }
  /// The 16-byte address stored at `offset` (in a header, a Routing header, an ICMPv6 message).
  @inline(__always) func ipv6Address(at offset: Int) -> IPv6Address {
    IPv6Address(high: u64(offset), low: u64(offset &+ 8))
  }
  /// The length in bytes of the Hop-by-Hop, Routing or Destination Options header at `offset`:
  /// (header extension length + 1) × 8.
  @inline(__always) func ipv6ExtensionHeaderLength(at offset: Int) -> Int {
    (Int(u8(offset &+ IPv6ExtensionLayout.headerExtensionLength)) &+ 1) &* IPv6ExtensionLayout.minimumLength
  }
}

extension IPProtocol {
  /// IPv6 Hop-by-Hop Options header, 0 (RFC 8200 §4.3).
  public static let ipv6HopByHop = IPProtocol(0)
  /// IPv6 encapsulated in IP, 41 (RFC 2473).
  public static let ipv6 = IPProtocol(41)
  /// IPv6 Routing header, 43 (RFC 8200 §4.4).
  public static let ipv6Routing = IPProtocol(43)
  /// IPv6 Fragment header, 44 (RFC 8200 §4.5).
  public static let ipv6Fragment = IPProtocol(44)
  /// ICMPv6, 58 (RFC 4443).
  public static let icmpv6 = IPProtocol(58)
  /// No next header, 59 (RFC 8200 §4.7).
  public static let ipv6NoNextHeader = IPProtocol(59)
  /// IPv6 Destination Options header, 60 (RFC 8200 §4.6).
  public static let ipv6DestinationOptions = IPProtocol(60)

  /// Whether this next-header value is one of the IPv6 extension headers PacketKit walks
  /// (Hop-by-Hop, Routing, Fragment, Destination Options).
  public var isIPv6ExtensionHeader: Bool { [0, 43, 44, 60].contains(rawValue) }
}

/// A read-only view of an IPv6 packet (RFC 8200 §3).
///
/// Once `init(validating:)` succeeds, no accessor traps: the slice holds at least the 40-byte
/// fixed header. A `payloadLength` larger than the slice is kept visible (`payload` then ends at
/// the end of the slice; see `isTruncated`); so are the version, a payload length of 0 (which
/// only a jumbogram may carry) and any next-header value.
public struct IPv6View: Sendable {
  /// The packet's bytes, not zero-based: every offset is from `bytes.startIndex`.
  public let bytes: ArraySlice<UInt8>

  /// Checks that the fixed header is there.
  /// - Throws: `.truncated` when fewer than 40 bytes.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= IPv6Layout.headerLength else {
      throw .truncated(layer: .ipv6, needed: IPv6Layout.headerLength, available: bytes.count)
    }
    self.bytes = bytes
  }

  /// Wraps bytes without checks. Only for bytes this module just wrote.
  @inlinable public init(unchecked bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  /// Version, 4 bits (6 for IPv6; not checked).
  @inlinable public var version: UInt8 { bytes.byte(at: IPv6Layout.versionClassAndFlow) >> 4 }
  /// Traffic class, 8 bits (DSCP << 2 | ECN, RFC 2474 / RFC 3168).
  @inlinable public var trafficClass: UInt8 {
    UInt8(truncatingIfNeeded: bytes.uint16(at: IPv6Layout.versionClassAndFlow) >> 4)
  }
  /// Flow label, 20 bits (RFC 6437).
  @inlinable public var flowLabel: UInt32 { bytes.uint32(at: IPv6Layout.versionClassAndFlow) & 0x000F_FFFF }
  /// Payload length in bytes (everything after the fixed header, extension headers included),
  /// 16 bits.
  @inlinable public var payloadLength: UInt16 { bytes.uint16(at: IPv6Layout.payloadLength) }
  /// Next header, 8 bits: the type of the first extension header or of the upper layer.
  public var nextHeader: IPProtocol { IPProtocol(bytes.byte(at: IPv6Layout.nextHeader)) }
  /// Hop limit, 8 bits.
  @inlinable public var hopLimit: UInt8 { bytes.byte(at: IPv6Layout.hopLimit) }
  @inlinable public var sourceAddress: IPv6Address { bytes.ipv6Address(at: IPv6Layout.sourceAddress) }
  @inlinable public var destinationAddress: IPv6Address { bytes.ipv6Address(at: IPv6Layout.destinationAddress) }

  /// The payload: from byte 40 to 40 + `payloadLength`, or to the end of the slice when
  /// `payloadLength` is larger than the slice. Bytes past it (link-layer padding) are in
  /// `trailingBytes`.
  @inlinable public var payload: ArraySlice<UInt8> {
    bytes.clampedSlice(from: IPv6Layout.headerLength, count: Int(payloadLength))
  }

  /// Bytes after 40 + `payloadLength`, empty when none.
  @inlinable public var trailingBytes: ArraySlice<UInt8> {
    bytes.clampedSuffix(from: IPv6Layout.headerLength + Int(payloadLength))
  }

  /// Whether `payloadLength` claims more bytes than the slice holds.
  @inlinable public var isTruncated: Bool { IPv6Layout.headerLength + Int(payloadLength) > bytes.count }

  /// The extension headers after the fixed header and where the upper layer starts; see
  /// `IPv6ExtensionChain`.
  public var extensionChain: IPv6ExtensionChain { IPv6ExtensionChain(payload, firstNextHeader: nextHeader) }

  /// The pseudo-header sum for an upper-layer checksum (RFC 8200 §8.1). `destination` defaults
  /// to the final destination: the last address of a Routing header in the chain (type 0 or 2),
  /// the first segment of a segment routing header, else this header's destination. `protocol`
  /// and `length` default to the upper layer the chain ends with and its length.
  public func pseudoHeader(protocol: IPProtocol? = nil, length: Int? = nil) -> InternetChecksum {
    let chain = extensionChain
    return InternetChecksum.pseudoHeader(
      sourceAddress: sourceAddress, destinationAddress: chain.finalDestination ?? destinationAddress,
      protocol: `protocol` ?? chain.upperLayer, length: length ?? max(0, payload.count - chain.upperLayerOffset))
  }
}

/// An IPv6 fixed header to build (RFC 8200 §3). `nil` fields are computed by `encode`;
/// non-`nil` fields are written verbatim, even when inconsistent. A value too wide for its
/// wire field throws `.overrideOutOfRange` at encode time.
///
/// Extension headers are layers of their own, stacked after it:
/// `IPv6Header(...) / IPv6FragmentHeader(...) / TCPHeader(...)`.
public struct IPv6Header: Hashable, Sendable {
  /// Version, 4 bits. Default 6.
  public var version: UInt8
  /// Traffic class, 8 bits (DSCP << 2 | ECN). Default 0.
  public var trafficClass: UInt8
  /// Flow label, 20 bits. Default 0.
  public var flowLabel: UInt32
  /// Payload length in bytes, 16 bits. `nil`: every layer after this header.
  public var payloadLength: UInt16?
  /// Next header, 8 bits. `nil`: from the layer above (an extension header, TCP 6, UDP 17,
  /// ICMPv6 58, IPv4 4, IPv6 41), else 59 (no next header) when nothing follows.
  public var nextHeader: IPProtocol?
  /// Hop limit, 8 bits. Default 64.
  public var hopLimit: UInt8
  public var sourceAddress: IPv6Address
  public var destinationAddress: IPv6Address

  /// A header with the defaults above.
  public init(
    sourceAddress: IPv6Address, destinationAddress: IPv6Address,
    version: UInt8 = 6, trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, payloadLength: UInt16? = nil,
    nextHeader: IPProtocol? = nil, hopLimit: UInt8 = 64
  ) {
    self.version = version
    self.trafficClass = trafficClass
    self.flowLabel = flowLabel
    self.payloadLength = payloadLength
    self.nextHeader = nextHeader
    self.hopLimit = hopLimit
    self.sourceAddress = sourceAddress
    self.destinationAddress = destinationAddress
  }

  /// Decodes every field from a validated view, filling every optional from the wire.
  public init(_ view: IPv6View) {
    self.init(
      sourceAddress: view.sourceAddress, destinationAddress: view.destinationAddress,
      version: view.version, trafficClass: view.trafficClass, flowLabel: view.flowLabel,
      payloadLength: view.payloadLength, nextHeader: view.nextHeader, hopLimit: view.hopLimit)
  }

  /// Validates `bytes` and decodes the fixed header (`IPv6Header(IPv6View(validating:))`).
  public static func decode(from bytes: ArraySlice<UInt8>) throws(PacketError) -> IPv6Header {
    IPv6Header(try IPv6View(validating: bytes))
  }

  /// 40 bytes.
  @inlinable public var encodedLength: Int { IPv6Layout.headerLength }

  /// Writes the header at `offset`. `computedTotalLength` is this header plus everything after
  /// it (used when `payloadLength` is nil); `upper` fills a nil next header.
  internal func write(_ out: ByteWriter, at offset: Int, computedTotalLength: Int, upper: IPProtocol) throws(PacketError) {
    if let error = writeChecked(out, at: offset, computedTotalLength: computedTotalLength, upper: upper) { throw error }
  }

  /// `write`, returning the error instead of throwing (see `IPv6Header.writeSegment`).
  @inline(__always)
  internal func writeChecked(_ out: ByteWriter, at offset: Int, computedTotalLength: Int, upper: IPProtocol) -> PacketError? {
    guard version <= 0x0F else { return .overrideOutOfRange(layer: .ipv6, field: "version", value: UInt64(version)) }
    guard flowLabel <= 0x000F_FFFF else {
      return .overrideOutOfRange(layer: .ipv6, field: "flowLabel", value: UInt64(flowLabel))
    }
    let length: UInt16
    if let payloadLength {
      length = payloadLength
    } else {
      let computed = computedTotalLength - IPv6Layout.headerLength
      guard computed <= 0xFFFF else {
        return .computedValueOutOfRange(layer: .ipv6, field: "payloadLength", value: UInt64(max(0, computed)))
      }
      length = UInt16(truncatingIfNeeded: max(0, computed))
    }
    out.put(UInt32(version) << 28 | UInt32(trafficClass) << 20 | flowLabel, at: offset)
    out.put(length, at: offset + 4)
    out.put((nextHeader ?? upper).rawValue, at: offset + 6)
    out.put(hopLimit, at: offset + 7)
    out.put(sourceAddress, at: offset + IPv6Layout.sourceAddress)
    out.put(destinationAddress, at: offset + IPv6Layout.destinationAddress)
    return nil
  }
}

extension Packet {
  /// The IPv6 pseudo-header for the layer at `index`: the nearest IPv6 header below it, through
  /// extension headers only, with the final destination of a Routing header that has segments
  /// left (RFC 8200 §8.1). `nil` when there is no such header.
  internal static func ipv6PseudoHeader(
    _ layers: UnsafeBufferPointer<Layer>, below index: Int, protocol: IPProtocol, length: Int
  ) -> InternetChecksum? {
    var finalDestination: IPv6Address? = nil
    var i = index - 1
    while i >= 0 {
      switch layers[i] {
      case .ipv6(let header):
        return .pseudoHeader(
          sourceAddress: header.sourceAddress, destinationAddress: finalDestination ?? header.destinationAddress,
          protocol: `protocol`, length: length)
      case .ipv6Routing(let routing):
        if routing.segmentsLeft > 0 {
          let bytes = ArraySlice(routing.data)
          let count = max(0, (bytes.count - 4) / 16)
          if count > 0, routing.routingType == 0 || routing.routingType == 2 {
            finalDestination = bytes.ipv6Address(at: 4 + 16 * (count - 1))
          } else if count > 0, routing.routingType == 4 {
            finalDestination = bytes.ipv6Address(at: 4)
          }
        }
      case .ipv6Options, .ipv6Fragment:
        break
      default:
        return nil
      }
      i -= 1
    }
    return nil
  }

  /// The first (outermost) IPv6 header. Setting `nil` removes it; setting a header where there
  /// is none appends it.
  public var ipv6: IPv6Header? {
    get {
      guard let index = firstIndex(of: .ipv6), case .ipv6(let header) = layers[index] else { return nil }
      return header
    }
    set {
      let index = firstIndex(of: .ipv6)
      switch newValue {
      case .some(let header): store(.ipv6(header), at: index)
      case .none: remove(at: index)
      }
    }
  }

  /// The first ICMPv6 header. Setting `nil` removes it; setting a header where there is none
  /// appends it.
  public var icmpv6: ICMPv6Header? {
    get {
      guard let index = firstIndex(of: .icmpv6), case .icmpv6(let header) = layers[index] else { return nil }
      return header
    }
    set {
      let index = firstIndex(of: .icmpv6)
      switch newValue {
      case .some(let header): store(.icmpv6(header), at: index)
      case .none: remove(at: index)
      }
    }
  }
}
