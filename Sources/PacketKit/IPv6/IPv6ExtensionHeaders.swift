// IPv6 extension headers (RFC 8200 §4): Hop-by-Hop and Destination Options (§4.3, §4.6) with
// their TLV options (§4.2), Routing (§4.4: type 0 kept raw, type 2 of RFC 6275, segment routing
// type 4 of RFC 8754), Fragment (§4.5). Each is a layer of its own in a `Packet`.

/// Offsets and sizes shared by the extension headers (RFC 8200 §4).
public enum IPv6ExtensionLayout {
  /// Next header, 8 bits.
  public static let nextHeader = 0
  /// Header extension length, 8 bits, in 8-octet units not counting the first 8 octets
  /// (Hop-by-Hop, Routing, Destination Options; reserved in the Fragment header).
  public static let headerExtensionLength = 1
  /// What follows those two octets: options, or the Routing or Fragment header's fields.
  public static let data = 2
  /// 8 bytes: the smallest extension header, and the unit of their lengths.
  public static let minimumLength = 8
  /// Routing header: routing type, segments left, then type-specific data.
  public static let routingType = 2
  public static let segmentsLeft = 3
  public static let routingData = 4
  /// Routing types 0 and 2 (RFC 2460, RFC 6275) and 4 (segment routing, RFC 8754): the
  /// addresses, 16 bytes each, from byte 8.
  public static let routingAddresses = 8
  /// Segment Routing header (type 4, RFC 8754): last entry, flags and tag.
  public static let lastEntry = 4
  public static let segmentRoutingFlags = 5
  public static let segmentRoutingTag = 6
  /// Fragment header: offset (13 bits) | reserved (2 bits) | M flag at byte 2, identification at 4.
  public static let fragmentOffsetAndFlags = 2
  public static let fragmentIdentification = 4
  /// 8 bytes: the Fragment header's fixed length.
  public static let fragmentHeaderLength = 8
}

/// What a node must do with an option it does not recognise: the two high-order bits of the
/// option type (RFC 8200 §4.2).
public enum IPv6OptionAction: UInt8, Hashable, Sendable, CaseIterable {
  /// 00: skip over this option and continue processing the header.
  case skip = 0
  /// 01: discard the packet.
  case discard = 1
  /// 10: discard the packet and send an ICMP Parameter Problem, code 2, even to multicast.
  case discardAndSendICMP = 2
  /// 11: discard the packet and send ICMP Parameter Problem, code 2, unless to multicast.
  case discardAndSendICMPUnlessMulticast = 3
}

/// One option of a Hop-by-Hop or Destination Options header (RFC 8200 §4.2): type, length and
/// data, except Pad1, a single zero octet.
public enum IPv6Option: Hashable, Sendable {
  /// Pad1 (type 0): one octet.
  case pad1
  /// PadN (type 1) of `length` octets in all (2 or more: type, length and zero data).
  case padN(length: Int)
  /// Router Alert (type 5, RFC 2711): a 16-bit value (0 = MLD).
  case routerAlert(UInt16)
  /// Jumbo Payload (type 0xC2, RFC 2675): the payload length when the IPv6 one is 0.
  case jumboPayload(UInt32)
  /// Any option: `type`, then a length octet counting `data`, then `data`.
  case raw(type: UInt8, data: [UInt8])
  /// Bytes written verbatim (an options area that does not parse, kept as it was).
  case bytes([UInt8])

  /// The option type octet (`nil` for `.bytes`).
  public var type: UInt8? {
    switch self {
    case .pad1: 0
    case .padN: 1
    case .routerAlert: 5
    case .jumboPayload: 0xC2
    case .raw(let type, _): type
    case .bytes: nil
    }
  }

  /// The action for an unrecognised option: the type's two high-order bits.
  public var action: IPv6OptionAction? {
    type.flatMap { IPv6OptionAction(rawValue: $0 >> 6) }
  }

  /// Whether the option data may change en route (the type's third-highest bit).
  public var mayChange: Bool { (type ?? 0) & 0x20 != 0 }

  /// The octets this option occupies.
  public var encodedLength: Int {
    switch self {
    case .pad1: 1
    case .padN(let length): max(2, length)
    case .routerAlert: 4
    case .jumboPayload: 6
    case .raw(_, let data): 2 + data.count
    case .bytes(let bytes): bytes.count
    }
  }

  /// Appends the option's octets.
  /// - Throws: `.overrideOutOfRange` for PadN over 257 octets or raw data over 255.
  internal func append(to out: inout [UInt8], layer: ProtocolLayer) throws(PacketError) {
    switch self {
    case .pad1:
      out.append(0)
    case .padN(let length):
      let total = max(2, length)
      guard total <= 257 else { throw .overrideOutOfRange(layer: layer, field: "padN", value: UInt64(total)) }
      out.append(1)
      out.append(UInt8(truncatingIfNeeded: total - 2))
      out.append(contentsOf: repeatElement(0, count: total - 2))
    case .routerAlert(let value):
      out += [5, 2, UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
    case .jumboPayload(let value):
      out += [0xC2, 4] + withUnsafeBytes(of: value.bigEndian) { Array($0) }
    case .raw(let type, let data):
      guard data.count <= 255 else { throw .overrideOutOfRange(layer: layer, field: "optionLength", value: UInt64(data.count)) }
      out.append(type)
      out.append(UInt8(truncatingIfNeeded: data.count))
      out.append(contentsOf: data)
    case .bytes(let bytes):
      out.append(contentsOf: bytes)
    }
  }

  /// Decodes an options area so that encoding the options gives back exactly `area`. Options
  /// with the expected length become named cases; PadN with non-zero data and other sizes are
  /// `.raw`; a malformed option and everything after it become one `.bytes`.
  public static func decodeAll(_ area: ArraySlice<UInt8>) -> [IPv6Option] {
    var options: [IPv6Option] = []
    var iterator = IPv6OptionSequence(area: area).makeIterator()
    var consumed = 0
    while let next = iterator.next() {
      switch next {
      case .success(let option):
        options.append(option)
        consumed += option.encodedLength
      case .failure:
        options.append(.bytes(Array(area.clampedSuffix(from: consumed))))
        return options
      }
    }
    return options
  }
}

/// The options of an options area, one `Result` each; iteration stops at the first malformed
/// option (a missing length octet, or a length running past the area). Never traps.
public struct IPv6OptionSequence: Sequence, Sendable {
  /// The options area (after the next-header and length octets).
  public let area: ArraySlice<UInt8>
  /// The layer errors are reported for.
  public var layer: ProtocolLayer = .ipv6HopByHop

  public init(area: ArraySlice<UInt8>, layer: ProtocolLayer = .ipv6HopByHop) {
    self.area = area
    self.layer = layer
  }

  public struct Iterator: IteratorProtocol {
    let area: ArraySlice<UInt8>
    let layer: ProtocolLayer
    var offset = 0
    var stopped = false

    public mutating func next() -> Result<IPv6Option, PacketError>? {
      guard !stopped, offset < area.count else { return nil }
      let type = area.byte(at: offset)
      if type == 0 {
        offset += 1
        return .success(.pad1)
      }
      let available = area.count - offset
      guard available >= 2 else {
        stopped = true
        return .failure(.optionOverrun(layer: layer, kind: type, length: 0, available: available, offset: offset))
      }
      let length = Int(area.byte(at: offset + 1))
      guard 2 + length <= available else {
        stopped = true
        return .failure(
          .optionOverrun(layer: layer, kind: type, length: UInt8(truncatingIfNeeded: length), available: available, offset: offset))
      }
      let data = area.clampedSlice(from: offset + 2, count: length)
      offset += 2 + length
      switch (type, length) {
      case (1, _) where data.allSatisfy({ $0 == 0 }): return .success(.padN(length: 2 + length))
      case (5, 2): return .success(.routerAlert(data.uint16(at: 0)))
      case (0xC2, 4): return .success(.jumboPayload(data.uint32(at: 0)))
      default: return .success(.raw(type: type, data: Array(data)))
      }
    }
  }

  public func makeIterator() -> Iterator { Iterator(area: area, layer: layer) }
}

/// A Hop-by-Hop Options (RFC 8200 §4.3) or Destination Options (§4.6) header to build.
/// `nil` fields are computed by `encode`; options are padded with Pad1/PadN to a multiple of
/// 8 octets (RFC 8200 §4.2) unless they already fill one.
public struct IPv6OptionsHeader: Hashable, Sendable {
  /// Which of the two option headers this is.
  public enum Kind: Hashable, Sendable {
    /// Hop-by-Hop Options, next-header value 0; must come right after the IPv6 header.
    case hopByHop
    /// Destination Options, next-header value 60.
    case destinationOptions
  }

  public var kind: Kind
  /// Next header, 8 bits. `nil`: from the layer above (59 when nothing follows).
  public var nextHeader: IPProtocol?
  /// Header extension length in 8-octet units beyond the first 8, 8 bits. `nil`: computed. A
  /// set value is written verbatim; the octets written are always 2 + the padded options.
  public var headerExtensionLength: UInt8?
  /// The options, in order.
  public var options: [IPv6Option]

  public init(
    _ kind: Kind, options: [IPv6Option] = [], nextHeader: IPProtocol? = nil, headerExtensionLength: UInt8? = nil
  ) {
    self.kind = kind
    self.options = options
    self.nextHeader = nextHeader
    self.headerExtensionLength = headerExtensionLength
  }

  /// A Hop-by-Hop Options header.
  public static func hopByHop(_ options: [IPv6Option] = [], nextHeader: IPProtocol? = nil) -> IPv6OptionsHeader {
    IPv6OptionsHeader(.hopByHop, options: options, nextHeader: nextHeader)
  }

  /// A Destination Options header.
  public static func destinationOptions(_ options: [IPv6Option] = [], nextHeader: IPProtocol? = nil) -> IPv6OptionsHeader {
    IPv6OptionsHeader(.destinationOptions, options: options, nextHeader: nextHeader)
  }

  /// Decodes every field from a validated view (options decoded so that re-encoding is exact).
  public init(_ view: IPv6ExtensionHeaderView, kind: Kind) {
    self.init(
      kind, options: IPv6Option.decodeAll(view.data), nextHeader: view.nextHeader,
      headerExtensionLength: view.headerExtensionLength)
  }

  /// The layer this header is reported as.
  public var protocolLayer: ProtocolLayer { kind == .hopByHop ? .ipv6HopByHop : .ipv6DestinationOptions }

  /// The octets of the options, padded to make the header a multiple of 8.
  internal func optionBytes() throws(PacketError) -> [UInt8] {
    var out: [UInt8] = []
    for option in options { try option.append(to: &out, layer: protocolLayer) }
    let pad = (8 - (2 + out.count) % 8) % 8
    if pad == 1 { out.append(0) } else if pad > 1 { try IPv6Option.padN(length: pad).append(to: &out, layer: protocolLayer) }
    return out
  }

  /// The header's length in octets: 2 + options padded to a multiple of 8.
  public var encodedLength: Int {
    let raw = options.reduce(2) { $0 + $1.encodedLength }
    return (raw + 7) & ~7
  }

  internal func write(_ out: ByteWriter, at offset: Int, length: Int, upper: IPProtocol) throws(PacketError) {
    let bytes = try optionBytes()
    out.put((nextHeader ?? upper).rawValue, at: offset)
    out.put(try extensionLengthValue(length: length, layer: protocolLayer, override: headerExtensionLength), at: offset + 1)
    out.put(bytes, at: offset + 2)
  }
}

/// The header extension length octet for a header of `length` octets, or the override.
internal func extensionLengthValue(length: Int, layer: ProtocolLayer, override: UInt8?) throws(PacketError) -> UInt8 {
  if let override { return override }
  let units = length / 8 - 1
  guard units <= 255 else { throw .computedValueOutOfRange(layer: layer, field: "headerExtensionLength", value: UInt64(units)) }
  return UInt8(truncatingIfNeeded: max(0, units))
}

/// A Routing header to build (RFC 8200 §4.4). `data` is the type-specific data after the first
/// four octets (next header, length, routing type, segments left), zero-padded to make the
/// header a multiple of 8 octets. The constructors lay out type 0 (RFC 2460, deprecated by
/// RFC 5095), type 2 (RFC 6275) and segment routing, type 4 (RFC 8754).
public struct IPv6RoutingHeader: Hashable, Sendable {
  /// Next header, 8 bits. `nil`: from the layer above (59 when nothing follows).
  public var nextHeader: IPProtocol?
  /// Header extension length in 8-octet units beyond the first 8. `nil`: computed.
  public var headerExtensionLength: UInt8?
  /// Routing type, 8 bits.
  public var routingType: UInt8
  /// Segments left, 8 bits: route segments still to visit.
  public var segmentsLeft: UInt8
  /// Type-specific data, verbatim.
  public var data: [UInt8]

  public init(
    routingType: UInt8, segmentsLeft: UInt8, data: [UInt8], nextHeader: IPProtocol? = nil,
    headerExtensionLength: UInt8? = nil
  ) {
    self.routingType = routingType
    self.segmentsLeft = segmentsLeft
    self.data = data
    self.nextHeader = nextHeader
    self.headerExtensionLength = headerExtensionLength
  }

  /// Type 0 (source route, RFC 2460; RFC 5095 says a node must not process it): a reserved
  /// word, then the addresses. `segmentsLeft` defaults to the number of addresses.
  public static func type0(addresses: [IPv6Address], segmentsLeft: UInt8? = nil) -> IPv6RoutingHeader {
    IPv6RoutingHeader(
      routingType: 0, segmentsLeft: segmentsLeft ?? UInt8(truncatingIfNeeded: addresses.count),
      data: [0, 0, 0, 0] + addresses.flatMap(\.octets))
  }

  /// Type 2 (Mobile IPv6, RFC 6275 §6.4): a reserved word and the home address; segments left 1.
  public static func type2(homeAddress: IPv6Address, segmentsLeft: UInt8 = 1) -> IPv6RoutingHeader {
    IPv6RoutingHeader(routingType: 2, segmentsLeft: segmentsLeft, data: [0, 0, 0, 0] + homeAddress.octets)
  }

  /// Segment routing header, type 4 (RFC 8754 §2): last entry, flags, tag, then the segment list
  /// in reverse order (`segments[0]` is the final one), then TLVs. `segmentsLeft` and `lastEntry`
  /// default to the number of segments − 1.
  public static func segmentRouting(
    segments: [IPv6Address], segmentsLeft: UInt8? = nil, lastEntry: UInt8? = nil, flags: UInt8 = 0, tag: UInt16 = 0,
    tlvs: [UInt8] = []
  ) -> IPv6RoutingHeader {
    let last = UInt8(truncatingIfNeeded: max(0, segments.count - 1))
    return IPv6RoutingHeader(
      routingType: 4, segmentsLeft: segmentsLeft ?? last,
      data: [lastEntry ?? last, flags, UInt8(truncatingIfNeeded: tag >> 8), UInt8(truncatingIfNeeded: tag)]
        + segments.flatMap(\.octets) + tlvs)
  }

  /// Decodes every field from a validated view.
  public init(_ view: IPv6ExtensionHeaderView) {
    self.init(
      routingType: view.routingType, segmentsLeft: view.segmentsLeft,
      data: Array(view.data.clampedSuffix(from: 2)), nextHeader: view.nextHeader,
      headerExtensionLength: view.headerExtensionLength)
  }

  /// 4 + data, padded to a multiple of 8 octets.
  public var encodedLength: Int { (4 + data.count + 7) & ~7 }

  internal func write(_ out: ByteWriter, at offset: Int, length: Int, upper: IPProtocol) throws(PacketError) {
    out.put((nextHeader ?? upper).rawValue, at: offset)
    out.put(try extensionLengthValue(length: length, layer: .ipv6Routing, override: headerExtensionLength), at: offset + 1)
    out.put(routingType, at: offset + 2)
    out.put(segmentsLeft, at: offset + 3)
    out.put(data, at: offset + 4)
    out.fill(0, at: offset + 4 + data.count, count: length - 4 - data.count)
  }
}

/// A Fragment header to build (RFC 8200 §4.5), 8 octets.
public struct IPv6FragmentHeader: Hashable, Sendable {
  /// Next header, 8 bits: the first header of the fragmentable part. `nil`: from the layer above
  /// (59 when nothing follows).
  public var nextHeader: IPProtocol?
  /// The reserved octet after the next header. Default 0.
  public var reserved: UInt8
  /// Fragment offset in 8-octet units, 13 bits. Default 0.
  public var fragmentOffset: UInt16
  /// The two reserved bits before the M flag. Default 0.
  public var reservedBits: UInt8
  /// M flag: more fragments follow.
  public var moreFragments: Bool
  /// Identification, 32 bits.
  public var identification: UInt32

  public init(
    identification: UInt32, fragmentOffset: UInt16 = 0, moreFragments: Bool = false, nextHeader: IPProtocol? = nil,
    reserved: UInt8 = 0, reservedBits: UInt8 = 0
  ) {
    self.identification = identification
    self.fragmentOffset = fragmentOffset
    self.moreFragments = moreFragments
    self.nextHeader = nextHeader
    self.reserved = reserved
    self.reservedBits = reservedBits
  }

  /// Decodes every field from a validated view.
  public init(_ view: IPv6ExtensionHeaderView) {
    self.init(
      identification: view.fragmentIdentification, fragmentOffset: view.fragmentOffset,
      moreFragments: view.moreFragments, nextHeader: view.nextHeader,
      reserved: view.bytes.byte(at: IPv6ExtensionLayout.headerExtensionLength),
      reservedBits: UInt8(truncatingIfNeeded: view.bytes.uint16(at: IPv6ExtensionLayout.fragmentOffsetAndFlags) >> 1)
        & 0x03)
  }

  /// Whether this is an atomic fragment (RFC 6946): offset 0 and no more fragments.
  public var isAtomic: Bool { fragmentOffset == 0 && !moreFragments }

  /// 8 octets.
  public var encodedLength: Int { IPv6ExtensionLayout.minimumLength }

  internal func write(_ out: ByteWriter, at offset: Int, upper: IPProtocol) throws(PacketError) {
    guard fragmentOffset <= 0x1FFF else {
      throw .overrideOutOfRange(layer: .ipv6Fragment, field: "fragmentOffset", value: UInt64(fragmentOffset))
    }
    guard reservedBits <= 3 else {
      throw .overrideOutOfRange(layer: .ipv6Fragment, field: "reservedBits", value: UInt64(reservedBits))
    }
    out.put((nextHeader ?? upper).rawValue, at: offset)
    out.put(reserved, at: offset + 1)
    out.put(fragmentOffset << 3 | UInt16(reservedBits) << 1 | (moreFragments ? 1 : 0), at: offset + 2)
    out.put(identification, at: offset + 4)
  }
}

/// A read-only view of one extension header (any of the four): its next header and length, and
/// the accessors of the type it is. Once `init(validating:nextHeaderValue:)` succeeds, the slice
/// holds the whole header (`length` octets) and no accessor traps.
public struct IPv6ExtensionHeaderView: Sendable {
  /// The header's bytes (exactly `length` of them), not zero-based.
  public let bytes: ArraySlice<UInt8>
  /// The next-header value that announced this header (0, 43, 44 or 60).
  public let headerType: IPProtocol

  /// Validates the header at the start of `bytes`, announced by `headerType`.
  /// - Throws: `.truncated` when the first 8 octets or the length the header gives are missing.
  public init(validating bytes: ArraySlice<UInt8>, headerType: IPProtocol) throws(PacketError) {
    let layer = IPv6ExtensionHeaderView.layer(of: headerType)
    guard bytes.count >= IPv6ExtensionLayout.minimumLength else {
      throw .truncated(layer: layer, needed: IPv6ExtensionLayout.minimumLength, available: bytes.count)
    }
    let length = headerType == .ipv6Fragment
      ? IPv6ExtensionLayout.fragmentHeaderLength
      : (Int(bytes.byte(at: IPv6ExtensionLayout.headerExtensionLength)) + 1) * IPv6ExtensionLayout.minimumLength
    guard length <= bytes.count else { throw .truncated(layer: layer, needed: length, available: bytes.count) }
    self.bytes = bytes.clampedSlice(from: 0, count: length)
    self.headerType = headerType
  }

  /// The `ProtocolLayer` of an extension header type.
  public static func layer(of headerType: IPProtocol) -> ProtocolLayer {
    switch headerType.rawValue {
    case 0: .ipv6HopByHop
    case 43: .ipv6Routing
    case 44: .ipv6Fragment
    default: .ipv6DestinationOptions
    }
  }

  public var nextHeader: IPProtocol { IPProtocol(bytes.byte(at: IPv6ExtensionLayout.nextHeader)) }
  /// Header extension length octet (reserved in a Fragment header).
  public var headerExtensionLength: UInt8 { bytes.byte(at: IPv6ExtensionLayout.headerExtensionLength) }
  /// The header's length in octets.
  public var length: Int { bytes.count }
  /// Everything after the first two octets (options; or routing type, segments left and data).
  public var data: ArraySlice<UInt8> { bytes.clampedSuffix(from: IPv6ExtensionLayout.data) }

  /// Options of a Hop-by-Hop or Destination Options header.
  public var options: IPv6OptionSequence {
    IPv6OptionSequence(area: data, layer: IPv6ExtensionHeaderView.layer(of: headerType))
  }

  /// Routing type (Routing header).
  public var routingType: UInt8 { bytes.byte(at: IPv6ExtensionLayout.routingType) }
  /// Segments left (Routing header).
  public var segmentsLeft: UInt8 { bytes.byte(at: IPv6ExtensionLayout.segmentsLeft) }
  /// Segment routing's last entry (type 4): index of the last segment in the list.
  public var lastEntry: UInt8 { bytes.byte(at: IPv6ExtensionLayout.lastEntry) }
  /// Segment routing's flags (type 4).
  public var segmentRoutingFlags: UInt8 { bytes.byte(at: IPv6ExtensionLayout.segmentRoutingFlags) }
  /// Segment routing's tag (type 4).
  public var segmentRoutingTag: UInt16 { bytes.uint16(at: IPv6ExtensionLayout.segmentRoutingTag) }
  /// The addresses of a type 0 or 2 Routing header, or the segment list of a type 4 one (up to
  /// `lastEntry` + 1 of them), as far as they fit in the header.
  public var routingAddresses: [IPv6Address] {
    let room = (bytes.count - IPv6ExtensionLayout.routingAddresses) / IPv6Layout.addressLength
    let count = routingType == 4 ? min(room, Int(lastEntry) + 1) : room
    return (0..<max(0, count)).map {
      bytes.ipv6Address(at: IPv6ExtensionLayout.routingAddresses + IPv6Layout.addressLength * $0)
    }
  }

  /// Fragment offset in 8-octet units (Fragment header), 13 bits.
  public var fragmentOffset: UInt16 { bytes.uint16(at: IPv6ExtensionLayout.fragmentOffsetAndFlags) >> 3 }
  /// M flag (Fragment header).
  public var moreFragments: Bool { bytes.uint16(at: IPv6ExtensionLayout.fragmentOffsetAndFlags) & 1 == 1 }
  /// Identification (Fragment header), 32 bits.
  public var fragmentIdentification: UInt32 { bytes.uint32(at: IPv6ExtensionLayout.fragmentIdentification) }
}

/// The extension headers after an IPv6 fixed header, walked as RFC 8200 §4.1 orders them (any
/// order is accepted and reported as found), and where the upper layer starts. Walking stops at
/// the first header that is not an extension header, at a non-first fragment (whose upper
/// layer is not there), at a truncated header, or after `limit` headers.
public struct IPv6ExtensionChain: Sendable {
  /// Each header found, with its offset from the payload's start.
  public private(set) var headers: [(offset: Int, view: IPv6ExtensionHeaderView)] = []
  /// The next-header value after the last header walked.
  public private(set) var upperLayer: IPProtocol
  /// Where the upper layer (or the unparsed rest) starts, from the payload's start.
  public private(set) var upperLayerOffset = 0
  /// Why walking stopped early (a truncated header), if it did.
  public private(set) var error: PacketError?
  /// Whether a Fragment header with a non-zero offset was found.
  public private(set) var isNonFirstFragment = false

  /// Walks `payload` (the bytes after the fixed header).
  public init(_ payload: ArraySlice<UInt8>, firstNextHeader: IPProtocol, limit: Int = 64) {
    upperLayer = firstNextHeader
    while upperLayer.isIPv6ExtensionHeader, headers.count < limit {
      let rest = payload.clampedSuffix(from: upperLayerOffset)
      do throws(PacketError) {
        let view = try IPv6ExtensionHeaderView(validating: rest, headerType: upperLayer)
        headers.append((upperLayerOffset, view))
        upperLayerOffset += view.length
        upperLayer = view.nextHeader
        if view.headerType == .ipv6Fragment, view.fragmentOffset != 0 {
          isNonFirstFragment = true
          return
        }
      } catch {
        self.error = error
        return
      }
    }
  }

  /// The final destination a Routing header with segments left names (RFC 8200 §8.1): the last
  /// address of type 0 or 2, the first segment of type 4. `nil` when there is none.
  public var finalDestination: IPv6Address? {
    for (_, view) in headers where view.headerType == .ipv6Routing && view.segmentsLeft > 0 {
      let addresses = view.routingAddresses
      switch view.routingType {
      case 0, 2: if let last = addresses.last { return last }
      case 4: if let first = addresses.first { return first }
      default: break
      }
    }
    return nil
  }
}
