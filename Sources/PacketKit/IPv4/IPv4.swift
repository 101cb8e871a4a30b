/// Offsets and sizes of the IPv4 header (RFC 791 §3.1).
public enum IPv4Layout {
  public static let versionAndIHL = 0
  public static let dscpAndECN = 1
  public static let totalLength = 2
  public static let identification = 4
  public static let flagsAndFragmentOffset = 6
  public static let timeToLive = 8
  public static let `protocol` = 9
  public static let checksum = 10
  public static let sourceAddress = 12
  public static let destinationAddress = 16
  public static let options = 20
  /// 20 bytes: a header without options.
  public static let minimumHeaderLength = 20
  /// 60 bytes: IHL 15.
  public static let maximumHeaderLength = 60
}

extension ByteCursor {
  // The IPv4 header fields the dissector and the tcpdump printer both read, for a header at
  // `start` (lenient reads: the caller has checked the bytes are there, or wants 0 past them).

  /// The version nibble every IP header starts with (4 or 6), also how a raw-IP link type tells
  /// the two apart.
  @inline(__always) func ipVersion(at start: Int) -> UInt8 { u8(start &+ IPv4Layout.versionAndIHL) >> 4 }
  /// The header length in bytes (IHL × 4).
  @inline(__always) func ipv4HeaderLength(at start: Int) -> Int {
    Int(u8(start &+ IPv4Layout.versionAndIHL) & 0x0F) &* 4
  }
  @inline(__always) func ipv4TotalLength(at start: Int) -> Int { Int(u16(start &+ IPv4Layout.totalLength)) }
  /// Flags (top 3 bits) and fragment offset (low 13 bits).
  @inline(__always) func ipv4FlagsAndOffset(at start: Int) -> UInt16 {
    u16(start &+ IPv4Layout.flagsAndFragmentOffset)
  }
  @inline(__always) func ipv4Protocol(at start: Int) -> UInt8 { u8(start &+ IPv4Layout.protocol) }
}

/// The three IPv4 flag bits (RFC 791 §3.1), as the top three bits of the 16-bit word at byte 6,
/// shifted down: `reserved` = 4 (the "evil bit", RFC 3514), `dontFragment` = 2, `moreFragments` = 1.
public struct IPv4Flags: OptionSet, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
  public var rawValue: UInt8
  @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let reserved = IPv4Flags(rawValue: 0x4)
  public static let dontFragment = IPv4Flags(rawValue: 0x2)
  public static let moreFragments = IPv4Flags(rawValue: 0x1)

  /// tcpdump's spelling: "[none]", "[DF]", "[+]", "[DF+]", with "rsvd" for the reserved bit.
  public var description: String {
    var parts: [String] = []
    if contains(.reserved) { parts.append("rsvd") }
    if contains(.dontFragment) { parts.append("DF") }
    if contains(.moreFragments) { parts.append("+") }
    return parts.isEmpty ? "[none]" : "[" + parts.joined() + "]"
  }
}

/// A read-only view of an IPv4 packet (RFC 791).
///
/// Once `init(validating:)` succeeds, no accessor traps: the slice holds at least
/// `headerLength` = `ihl` × 4 ≥ 20 bytes, and `totalLength` ≥ `headerLength`. A `totalLength`
/// larger than the slice is kept visible (`payload` then ends at the end of the slice; see
/// `isTruncated`); the version, a bad checksum, reserved flags and fragments are kept visible too.
public struct IPv4View: Sendable {
  /// The packet's bytes, not zero-based: every offset is from `bytes.startIndex`.
  public let bytes: ArraySlice<UInt8>

  /// Checks that the header's structure is parsable.
  /// - Throws: `.truncated` when fewer than 20 bytes, or fewer than `ihl` × 4;
  ///   `.invalidField` for `ihl` < 5 or `totalLength` < `ihl` × 4.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= IPv4Layout.minimumHeaderLength else {
      throw .truncated(layer: .ipv4, needed: IPv4Layout.minimumHeaderLength, available: bytes.count)
    }
    let view = IPv4View(unchecked: bytes)
    try IPv4View.validate(
      first: view.bytes.byte(at: IPv4Layout.versionAndIHL), totalLength: view.totalLength, count: bytes.count)
    self = view
  }

  /// Wraps bytes without checks. Only for bytes this module just wrote.
  @inlinable public init(unchecked bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  // The header fields (`version` ... `destinationAddress`): `_IPv4HeaderFields` (IPv4+Fields.swift),
  // shared with `IPv4SpanView`.

  /// The options area (`headerLength` − 20 bytes, padding included).
  @inlinable public var optionBytes: ArraySlice<UInt8> {
    bytes.clampedSlice(from: IPv4Layout.options, count: headerLength - IPv4Layout.options)
  }

  /// The options, one `Result` each; iteration stops after EOL or at the first malformed option.
  public var options: IPv4OptionSequence { IPv4OptionSequence(area: optionBytes) }

  /// The payload: from the end of the header to `totalLength`, or to the end of the slice when
  /// `totalLength` is larger than the slice. Bytes past `totalLength` (link-layer padding) are
  /// not included; see `trailingBytes`.
  @inlinable public var payload: ArraySlice<UInt8> {
    bytes.clampedSlice(from: headerLength, count: Int(totalLength) - headerLength)
  }

  /// `payload.count`, without making the slice.
  @inlinable internal var payloadCount: Int {
    let start = Swift.min(headerLength, bytes.count)
    return Swift.min(Swift.max(Int(totalLength) - headerLength, 0), bytes.count - start)
  }

  /// Bytes after `totalLength` (e.g. Ethernet padding), empty when none.
  @inlinable public var trailingBytes: ArraySlice<UInt8> { bytes.clampedSuffix(from: Int(totalLength)) }

  /// Whether `totalLength` claims more bytes than the slice holds.
  @inlinable public var isTruncated: Bool { Int(totalLength) > bytes.count }

  /// The checksum a correct header would carry (the header summed with its checksum field as 0).
  public var computedChecksum: UInt16 {
    var sum = InternetChecksum()
    sum.add(bytes.clampedSlice(from: 0, count: IPv4Layout.checksum))
    sum.add(bytes.clampedSlice(from: IPv4Layout.checksum + 2, count: headerLength - IPv4Layout.checksum - 2))
    return sum.finalized
  }

  /// Whether the header checksum verifies (the header sums to 0).
  public var isChecksumValid: Bool {
    // Summed straight from the array's memory: no slice to retain and release.
    let count = Swift.min(headerLength, bytes.count)
    return bytes.withUnsafeBytes { raw in
      var sum = InternetChecksum()
      sum.add(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
      return sum.finalized == 0
    }
  }

  /// The pseudo-header sum for an upper-layer checksum (RFC 9293 §3.1, RFC 768): source and
  /// destination address, zero + `protocol`, and `length` (the upper-layer segment length in
  /// bytes). `protocol` defaults to this header's protocol field; `length` to
  /// `totalLength` − `headerLength` bounded by the bytes present.
  public func pseudoHeader(protocol: IPProtocol? = nil, length: Int? = nil) -> InternetChecksum {
    InternetChecksum.pseudoHeader(
      sourceAddress: sourceAddress, destinationAddress: destinationAddress,
      protocol: `protocol` ?? self.protocol, length: length ?? payloadCount)
  }
}

extension InternetChecksum {
  /// The IPv4 pseudo-header sum (RFC 9293 §3.1): source, destination, zero, protocol, length.
  /// `length` is the TCP or UDP segment length in bytes (header, options and data).
  @inlinable
  public static func pseudoHeader(
    sourceAddress: IPv4Address, destinationAddress: IPv4Address, protocol: IPProtocol, length: Int
  ) -> InternetChecksum {
    // One plain 64-bit sum (four values < 2^32 cannot overflow it): the same ones'-complement
    // sum as adding the words one by one, since 2^16 = 1 (mod 0xFFFF).
    var sum = InternetChecksum()
    sum.addToSum(
      UInt64(sourceAddress.rawValue) &+ UInt64(destinationAddress.rawValue) &+ UInt64(`protocol`.rawValue)
        &+ UInt64(UInt32(truncatingIfNeeded: max(0, length))))
    return sum
  }
}

/// An IPv4 header to build (RFC 791 §3.1). `nil` fields are computed by `encode`; non-`nil`
/// fields are written verbatim, even when inconsistent. A value too wide for its wire field
/// throws `.overrideOutOfRange` at encode time.
public struct IPv4Header: Hashable, Sendable, BitwiseCopyable {
  // The fields live packed in three words (and the options in `optionArea`), as `TCPHeader`'s
  // do: a header is ten plain values for the encoders. Every field keeps its full width.
  /// Source address (bits 32...63) and destination address (0...31).
  @usableFromInline internal var addresses: UInt64
  /// Identification (bits 48...63), fragment offset (32...47), total length (16...31),
  /// checksum (0...15).
  @usableFromInline internal var numbers: UInt64
  /// Version (bits 0...7), IHL (8...15), DSCP (16...23), ECN (24...31), flags (32...39), time to
  /// live (40...47), protocol (48...55); whether IHL, total length, protocol and checksum are
  /// set (bits 56, 57, 58, 59).
  @usableFromInline internal var octets: UInt64

  /// Version, 4 bits. Default 4.
  public var version: UInt8 {
    @inlinable get { UInt8(truncatingIfNeeded: octets[bits: 0, 8]) }
    @inlinable set { octets[bits: 0, 8] = UInt64(newValue) }
  }
  /// Header length in 32-bit words, 4 bits. `nil`: 5 + padded options length / 4.
  /// A set value is written verbatim; the bytes written are always 20 + the padded options.
  public var ihl: UInt8? {
    @inlinable get { octets[bits: 8, 8, setBit: 56].map { UInt8(truncatingIfNeeded: $0) } }
    @inlinable set { octets[bits: 8, 8, setBit: 56] = newValue.map { UInt64($0) } }
  }
  /// DSCP, 6 bits. Default 0.
  public var dscp: UInt8 {
    @inlinable get { UInt8(truncatingIfNeeded: octets[bits: 16, 8]) }
    @inlinable set { octets[bits: 16, 8] = UInt64(newValue) }
  }
  /// ECN, 2 bits. Default 0.
  public var ecn: UInt8 {
    @inlinable get { UInt8(truncatingIfNeeded: octets[bits: 24, 8]) }
    @inlinable set { octets[bits: 24, 8] = UInt64(newValue) }
  }
  /// Total length in bytes, 16 bits. `nil`: this header plus every layer after it.
  public var totalLength: UInt16? {
    @inlinable get { self[number: 16, setBit: 57] }
    @inlinable set { self[number: 16, setBit: 57] = newValue }
  }
  /// Identification, 16 bits. Default 0 (the kernel fills a 0 ID on raw sockets).
  public var identification: UInt16 {
    @inlinable get { UInt16(truncatingIfNeeded: numbers[bits: 48, 16]) }
    @inlinable set { numbers[bits: 48, 16] = UInt64(newValue) }
  }
  /// Flags, 3 bits. Default none.
  public var flags: IPv4Flags {
    @inlinable get { IPv4Flags(rawValue: UInt8(truncatingIfNeeded: octets[bits: 32, 8])) }
    @inlinable set { octets[bits: 32, 8] = UInt64(newValue.rawValue) }
  }
  /// Fragment offset in 8-byte units, 13 bits. Default 0.
  public var fragmentOffset: UInt16 {
    @inlinable get { UInt16(truncatingIfNeeded: numbers[bits: 32, 16]) }
    @inlinable set { numbers[bits: 32, 16] = UInt64(newValue) }
  }
  /// Time to live, 8 bits. Default 64.
  public var timeToLive: UInt8 {
    @inlinable get { UInt8(truncatingIfNeeded: octets[bits: 40, 8]) }
    @inlinable set { octets[bits: 40, 8] = UInt64(newValue) }
  }
  /// Protocol, 8 bits. `nil`: from the layer above (TCP 6, UDP 17, ICMP 1, IPv4 4), else 0.
  public var `protocol`: IPProtocol? {
    @inlinable get { octets[bits: 48, 8, setBit: 58].map { IPProtocol(UInt8(truncatingIfNeeded: $0)) } }
    @inlinable set { octets[bits: 48, 8, setBit: 58] = newValue.map { UInt64($0.rawValue) } }
  }
  /// Header checksum, 16 bits. `nil`: computed over the header as written.
  public var checksum: UInt16? {
    @inlinable get { self[number: 0, setBit: 59] }
    @inlinable set { self[number: 0, setBit: 59] = newValue }
  }
  /// A 16-bit field of `numbers` whose "is set" bit lives in `octets` (`numbers` has no room).
  @inlinable internal subscript(number shift: UInt64, setBit flag: UInt64) -> UInt16? {
    get { octets[bits: flag, 1] == 0 ? nil : UInt16(truncatingIfNeeded: numbers[bits: shift, 16]) }
    set {
      numbers[bits: shift, 16] = UInt64(newValue ?? 0)
      octets[bits: flag, 1] = newValue == nil ? 0 : 1
    }
  }
  public var sourceAddress: IPv4Address {
    @inlinable get { IPv4Address(rawValue: UInt32(truncatingIfNeeded: addresses[bits: 32, 32])) }
    @inlinable set { addresses[bits: 32, 32] = UInt64(newValue.rawValue) }
  }
  public var destinationAddress: IPv4Address {
    @inlinable get { IPv4Address(rawValue: UInt32(truncatingIfNeeded: addresses[bits: 0, 32])) }
    @inlinable set { addresses[bits: 0, 32] = UInt64(newValue.rawValue) }
  }
  /// Options, padded with zero octets (EOL) to a multiple of 4 bytes. At most 40 bytes fit
  /// (the IHL is 4 bits); a longer list, or one with a field that does not fit, makes `encode`
  /// throw, and reads back no options.
  public var options: [IPv4Option] {
    get { optionArea.options(as: IPv4Option.self) }
    set { optionArea = InlineOptionArea(newValue) }
  }
  /// The options as their encoded bytes (see `InlineOptionArea`): the header copies as plain
  /// bytes, with no reference counting.
  @usableFromInline internal var optionArea: InlineOptionArea

  /// A header with the defaults above.
  public init(
    sourceAddress: IPv4Address, destinationAddress: IPv4Address,
    version: UInt8 = 4, ihl: UInt8? = nil, dscp: UInt8 = 0, ecn: UInt8 = 0,
    totalLength: UInt16? = nil, identification: UInt16 = 0, flags: IPv4Flags = [],
    fragmentOffset: UInt16 = 0, timeToLive: UInt8 = 64, protocol: IPProtocol? = nil,
    checksum: UInt16? = nil, options: [IPv4Option] = []
  ) {
    addresses = UInt64(sourceAddress.rawValue) << 32 | UInt64(destinationAddress.rawValue)
    numbers = UInt64(identification) << 48 | UInt64(fragmentOffset) << 32
    octets = UInt64(version) | UInt64(dscp) << 16 | UInt64(ecn) << 24 | UInt64(flags.rawValue) << 32
      | UInt64(timeToLive) << 40
    optionArea = InlineOptionArea(options)
    self.ihl = ihl
    self.totalLength = totalLength
    self.protocol = `protocol`
    self.checksum = checksum
  }

  /// Decodes every field from a validated view, filling every optional from the wire (so that
  /// encoding the result reproduces the header bytes exactly). Options that cannot be parsed
  /// become `.raw` so no byte is lost.
  public init(_ view: IPv4View) {
    self.init(
      sourceAddress: view.sourceAddress, destinationAddress: view.destinationAddress,
      version: view.version, ihl: view.ihl, dscp: view.dscp, ecn: view.ecn,
      totalLength: view.totalLength, identification: view.identification, flags: view.flags,
      fragmentOffset: view.fragmentOffset, timeToLive: view.timeToLive, protocol: view.protocol,
      checksum: view.checksum)
    optionArea = InlineOptionArea(decoding: view.optionBytes, as: IPv4Option.self)
  }

  /// Validates `bytes` and decodes the header (`IPv4Header(IPv4View(validating:))`).
  public static func decode(from bytes: ArraySlice<UInt8>) throws(PacketError) -> IPv4Header {
    IPv4Header(try IPv4View(validating: bytes))
  }

  /// The header length in bytes that `encode` writes: 20 + options padded to 4.
  @inlinable public var encodedLength: Int {
    IPv4Layout.minimumHeaderLength + (optionArea.length + 3) & ~3
  }

  /// Writes the header at `offset`. `totalLength` is this header plus everything after it,
  /// used when `self.totalLength` is nil; `upper` fills a nil protocol.
  internal func write(
    _ out: ByteWriter, at offset: Int, headerLength: Int, computedTotalLength: Int, upper: IPProtocol
  ) throws(PacketError) {
    if let error = writeChecked(
      out, at: offset, headerLength: headerLength, computedTotalLength: computedTotalLength, upper: upper)
    {
      throw error
    }
  }

  /// `write`, returning the error instead of throwing (see `writeSegment`).
  @inline(__always)
  internal func writeChecked(
    _ out: ByteWriter, at offset: Int, headerLength: Int, computedTotalLength: Int, upper: IPProtocol
  ) -> PacketError? {
    // One test for every set value on the way (the errors themselves are built out of line, so
    // that this stays small enough to be inlined into the encoders).
    guard version <= 0x0F, (ihl ?? 0) <= 0x0F, dscp <= 0x3F, ecn <= 0x03, flags.rawValue <= 0x07,
      fragmentOffset <= 0x1FFF, ihl != nil || headerLength <= IPv4Layout.maximumHeaderLength,
      totalLength != nil || computedTotalLength <= 0xFFFF
    else { return rangeError(headerLength: headerLength, computedTotalLength: computedTotalLength) }
    let ihlValue = ihl ?? UInt8(truncatingIfNeeded: headerLength / 4)
    let total = totalLength ?? UInt16(truncatingIfNeeded: computedTotalLength)
    if let error = optionArea.encodeError(layer: .ipv4) { return error }
    // Every field is read, and the header built as five words, before the first store: a store
    // through `out` might alias the header (e.g. in a `Packet`'s layer array), so reads after it
    // would make the optimizer copy the whole header out first.
    let word0 = UInt32(version << 4 | ihlValue) << 24 | UInt32(dscp << 2 | ecn) << 16 | UInt32(total)
    let word1 = UInt32(identification) << 16 | UInt32(UInt16(flags.rawValue) << 13 | fragmentOffset)
    var word2 = UInt32(timeToLive) << 24 | UInt32((self.protocol ?? upper).rawValue) << 16
    let source = sourceAddress.rawValue
    let destination = destinationAddress.rawValue
    let options = optionArea
    if let checksum {
      word2 |= UInt32(checksum)
    } else {
      // One plain 64-bit sum of the five words (no overflow possible) and the options' sum,
      // folded once in `finalized`: the same ones'-complement sum as the 16-bit words one by one.
      var sum = options.checksum
      sum.addToSum(UInt64(word0) &+ UInt64(word1) &+ UInt64(word2) &+ UInt64(source) &+ UInt64(destination))
      word2 |= UInt32(sum.finalized)
    }
    out.put(word0, at: offset)
    out.put(word1, at: offset + 4)
    out.put(word2, at: offset + 8)
    out.put(source, at: offset + 12)
    out.put(destination, at: offset + 16)
    // Bytes encoded when the options were set, padding included.
    if options.count != 0 { options.write(out, at: offset + IPv4Layout.options) }
    return nil
  }

  /// The first field `writeChecked` finds out of range, in field order (out of line: the encoders
  /// only call it for a header that cannot be encoded).
  @inline(never)
  internal func rangeError(headerLength: Int, computedTotalLength: Int) -> PacketError? {
    guard version <= 0x0F else { return .overrideOutOfRange(layer: .ipv4, field: "version", value: UInt64(version)) }
    if let ihl {
      guard ihl <= 0x0F else { return .overrideOutOfRange(layer: .ipv4, field: "ihl", value: UInt64(ihl)) }
    } else {
      guard headerLength <= IPv4Layout.maximumHeaderLength else {
        return .computedValueOutOfRange(layer: .ipv4, field: "ihl", value: UInt64(headerLength / 4))
      }
    }
    guard dscp <= 0x3F else { return .overrideOutOfRange(layer: .ipv4, field: "dscp", value: UInt64(dscp)) }
    guard ecn <= 0x03 else { return .overrideOutOfRange(layer: .ipv4, field: "ecn", value: UInt64(ecn)) }
    guard flags.rawValue <= 0x07 else {
      return .overrideOutOfRange(layer: .ipv4, field: "flags", value: UInt64(flags.rawValue))
    }
    guard fragmentOffset <= 0x1FFF else {
      return .overrideOutOfRange(layer: .ipv4, field: "fragmentOffset", value: UInt64(fragmentOffset))
    }
    guard totalLength != nil || computedTotalLength <= 0xFFFF else {
      return .computedValueOutOfRange(layer: .ipv4, field: "totalLength", value: UInt64(computedTotalLength))
    }
    return nil
  }
}

extension IPv4Header: CustomReflectable {
  /// The public fields, by name (the stored words are an implementation detail): what `print`,
  /// `dump` and a debugger show.
  public var customMirror: Mirror {
    Mirror(
      self,
      children: [
        "version": version, "ihl": ihl as Any, "dscp": dscp, "ecn": ecn, "totalLength": totalLength as Any,
        "identification": identification, "flags": flags, "fragmentOffset": fragmentOffset,
        "timeToLive": timeToLive, "protocol": self.protocol as Any, "checksum": checksum as Any,
        "sourceAddress": sourceAddress, "destinationAddress": destinationAddress, "options": options,
      ],
      displayStyle: .struct)
  }
}
