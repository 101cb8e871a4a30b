/// Offsets and sizes of the TCP header (RFC 9293 §3.1).
public enum TCPLayout {
  public static let sourcePort = 0
  public static let destinationPort = 2
  public static let sequenceNumber = 4
  public static let acknowledgmentNumber = 8
  /// Data offset (4 bits), reserved (3 bits), NS (1 bit).
  public static let dataOffsetAndFlags = 12
  public static let flags = 13
  public static let window = 14
  public static let checksum = 16
  public static let urgentPointer = 18
  public static let options = 20
  /// 20 bytes: data offset 5.
  public static let minimumHeaderLength = 20
  /// 60 bytes: data offset 15.
  public static let maximumHeaderLength = 60
}

extension ByteCursor {
  // The TCP header fields the dissector and the tcpdump printer both read, for a header at
  // `start` (lenient reads: the caller has checked the bytes are there).

  /// The header length in bytes (data offset × 4).
  @inline(__always) func tcpHeaderLength(at start: Int) -> Int {
    Int(u8(start &+ TCPLayout.dataOffsetAndFlags) >> 4) &* 4
  }
}

/// Offsets within one TCP option (RFC 9293 §3.1): kind, length (except EOL and NOP), data.
public enum TCPOptionLayout {
  public static let kind = 0
  public static let length = 1
  public static let data = 2
  /// SACK (RFC 2018): each block is a left and a right edge, 8 bytes.
  public static let sackBlockLength = 8
  public static let sackRightEdge = 4
  /// Timestamps (RFC 7323): the echo reply after the value.
  public static let timestampValue = 2
  public static let timestampEchoReply = 6
  /// SCPS capabilities: the capability bits and the connection identifier.
  public static let scpsCapabilities = 2
  public static let scpsConnectionID = 3
  /// TCP-AO (RFC 5925): key ID, receive-next key ID, then the MAC.
  public static let authenticationKeyID = 2
  public static let authenticationNextKeyID = 3
  public static let authenticationMAC = 4
  /// Experimental options (RFC 6994): the 16-bit ExID after kind and length, then its data.
  public static let experimentID = 2
  public static let experimentData = 4
  /// MPTCP (RFC 8684 §3): the subtype in the high nibble of byte 2 (with a version or flags in
  /// the low nibble), a subtype-specific byte 3, then the subtype's fields from byte 4.
  public static let mptcpSubtype = 2
  /// The subtype's flags (MP_CAPABLE, DSS) or address ID (MP_JOIN, ADD_ADDR, REMOVE_ADDR, MP_PRIO).
  public static let mptcpFlagsOrAddressID = 3
  public static let mptcpFields = 4
  /// MP_CAPABLE: the receiver's key after the sender's (third ACK, 20 or 22 bytes).
  public static let mptcpReceiverKey = 12
  /// MP_JOIN: the nonce after the token (SYN, 12 bytes) or after the truncated HMAC (SYN/ACK,
  /// 16 bytes).
  public static let mptcpJoinSynNonce = 8
  public static let mptcpJoinSynAckNonce = 12
}

/// A read-only view of a TCP segment (RFC 9293 §3.1).
///
/// Once `init(validating:)` succeeds, no accessor traps: the slice holds at least
/// `headerLength` = `dataOffset` × 4 ≥ 20 bytes. Bad checksums, reserved bits, odd flag
/// combinations and malformed options stay visible (options are reported per option).
public struct TCPView: Sendable {
  /// The segment's bytes, not zero-based: every offset is from `bytes.startIndex`.
  public let bytes: ArraySlice<UInt8>

  /// - Throws: `.truncated` when fewer than 20 bytes or fewer than `dataOffset` × 4
  ///   (a data offset beyond the segment); `.invalidField` for `dataOffset` < 5.
  public init(validating bytes: ArraySlice<UInt8>) throws(PacketError) {
    guard bytes.count >= TCPLayout.minimumHeaderLength else {
      throw .truncated(layer: .tcp, needed: TCPLayout.minimumHeaderLength, available: bytes.count)
    }
    let view = TCPView(unchecked: bytes)
    try TCPView.validate(dataOffset: view.dataOffset, count: bytes.count)
    self = view
  }

  /// Wraps bytes without checks. Only for bytes this module just wrote.
  @inlinable public init(unchecked bytes: ArraySlice<UInt8>) { self.bytes = bytes }

  @inlinable public var sourcePort: UInt16 { bytes.uint16(at: TCPLayout.sourcePort) }
  @inlinable public var destinationPort: UInt16 { bytes.uint16(at: TCPLayout.destinationPort) }
  @inlinable public var sequenceNumber: UInt32 { bytes.uint32(at: TCPLayout.sequenceNumber) }
  @inlinable public var acknowledgmentNumber: UInt32 { bytes.uint32(at: TCPLayout.acknowledgmentNumber) }
  /// Data offset, 4 bits, in 32-bit words.
  @inlinable public var dataOffset: UInt8 { bytes.byte(at: TCPLayout.dataOffsetAndFlags) >> 4 }
  /// Header length in bytes (`dataOffset` × 4).
  @inlinable public var headerLength: Int { Int(dataOffset) * 4 }
  /// The three reserved bits between data offset and NS.
  @inlinable public var reserved: UInt8 { (bytes.byte(at: TCPLayout.dataOffsetAndFlags) >> 1) & 0x07 }
  /// The nine flags (NS from byte 12, CWR...FIN from byte 13).
  @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes.uint16(at: TCPLayout.dataOffsetAndFlags) & 0x01FF) }
  @inlinable public var window: UInt16 { bytes.uint16(at: TCPLayout.window) }
  /// The checksum as on the wire.
  @inlinable public var checksum: UInt16 { bytes.uint16(at: TCPLayout.checksum) }
  @inlinable public var urgentPointer: UInt16 { bytes.uint16(at: TCPLayout.urgentPointer) }

  /// The options area (`headerLength` − 20 bytes, padding included).
  @inlinable public var optionBytes: ArraySlice<UInt8> {
    bytes.clampedSlice(from: TCPLayout.options, count: headerLength - TCPLayout.options)
  }

  /// The options, one `Result` each (see `TCPOptionSequence`).
  public var options: TCPOptionSequence { TCPOptionSequence(area: optionBytes) }

  /// The data after the header: to the end of the slice (bound the slice by the IPv4 total
  /// length first; `IPv4View.payload` does).
  @inlinable public var payload: ArraySlice<UInt8> { bytes.clampedSuffix(from: headerLength) }

  /// The checksum a correct segment would carry, given the pseudo-header sum (e.g.
  /// `ipv4.pseudoHeader(protocol: .tcp, length: tcp.bytes.count)`).
  public func computedChecksum(pseudoHeader: InternetChecksum) -> UInt16 {
    var sum = pseudoHeader
    sum.add(bytes.clampedSlice(from: 0, count: TCPLayout.checksum))
    sum.add(bytes.clampedSuffix(from: TCPLayout.checksum + 2))
    return sum.finalized
  }

  /// Whether the checksum verifies: pseudo-header + segment sum to 0.
  public func isChecksumValid(pseudoHeader: InternetChecksum) -> Bool {
    var sum = pseudoHeader
    sum.add(bytes)
    return sum.finalized == 0
  }
}

/// A TCP header to build (RFC 9293 §3.1). `nil` fields are computed by `encode`; non-`nil`
/// fields are written verbatim, even when inconsistent. A value too wide for its wire field
/// throws `.overrideOutOfRange` at encode time.
///
/// The computed checksum covers the pseudo-header of the IPv4 header directly below (source,
/// destination, protocol 6, and the TCP segment length **actually encoded**: this header, its
/// options and everything after it — not the IPv4 `totalLength` override, so a lying total
/// length does not spoil the TCP checksum). Without an IPv4 header below, a `nil` checksum
/// throws `.missingPseudoHeader`.
public struct TCPHeader: Hashable, Sendable, BitwiseCopyable {
  // The fields live packed in three words (and the options in `optionStorage`): a header is ten
  // plain values, which the encoders read into registers before their first store, instead of
  // some twenty that spill. Every field keeps its full width, so a value too wide for its wire
  // field is kept and reported by `encode`, never masked.
  /// Source port (bits 48...63), destination port (32...47), sequence number (0...31): the
  /// first eight bytes on the wire, as a big-endian number.
  @usableFromInline internal var portsAndSequence: UInt64
  /// Acknowledgment number (bits 32...63), window (16...31), urgent pointer (0...15).
  @usableFromInline internal var acknowledgmentWindowUrgent: UInt64
  /// Flags (bits 0...15), checksum (16...31) and whether it is set (bit 32), data offset
  /// (40...47) and whether it is set (bit 48), reserved bits (56...63).
  @usableFromInline internal var controls: UInt64

  public var sourcePort: UInt16 {
    @inlinable get { UInt16(truncatingIfNeeded: portsAndSequence[bits: 48, 16]) }
    @inlinable set { portsAndSequence[bits: 48, 16] = UInt64(newValue) }
  }
  public var destinationPort: UInt16 {
    @inlinable get { UInt16(truncatingIfNeeded: portsAndSequence[bits: 32, 16]) }
    @inlinable set { portsAndSequence[bits: 32, 16] = UInt64(newValue) }
  }
  public var sequenceNumber: UInt32 {
    @inlinable get { UInt32(truncatingIfNeeded: portsAndSequence[bits: 0, 32]) }
    @inlinable set { portsAndSequence[bits: 0, 32] = UInt64(newValue) }
  }
  public var acknowledgmentNumber: UInt32 {
    @inlinable get { UInt32(truncatingIfNeeded: acknowledgmentWindowUrgent[bits: 32, 32]) }
    @inlinable set { acknowledgmentWindowUrgent[bits: 32, 32] = UInt64(newValue) }
  }
  /// Window, 16 bits. Default 65535.
  public var window: UInt16 {
    @inlinable get { UInt16(truncatingIfNeeded: acknowledgmentWindowUrgent[bits: 16, 16]) }
    @inlinable set { acknowledgmentWindowUrgent[bits: 16, 16] = UInt64(newValue) }
  }
  /// Urgent pointer, 16 bits. Default 0.
  public var urgentPointer: UInt16 {
    @inlinable get { UInt16(truncatingIfNeeded: acknowledgmentWindowUrgent[bits: 0, 16]) }
    @inlinable set { acknowledgmentWindowUrgent[bits: 0, 16] = UInt64(newValue) }
  }
  /// The nine flags. Default `.syn`.
  public var flags: TCPFlags {
    @inlinable get { TCPFlags(rawValue: UInt16(truncatingIfNeeded: controls[bits: 0, 16])) }
    @inlinable set { controls[bits: 0, 16] = UInt64(newValue.rawValue) }
  }
  /// Checksum, 16 bits. `nil`: computed (see the type's documentation).
  public var checksum: UInt16? {
    @inlinable get { controls[bits: 16, 16, setBit: 32].map { UInt16(truncatingIfNeeded: $0) } }
    @inlinable set { controls[bits: 16, 16, setBit: 32] = newValue.map { UInt64($0) } }
  }
  /// Header length in 32-bit words, 4 bits. `nil`: 5 + padded options length / 4.
  /// A set value is written verbatim; the bytes written are always 20 + the padded options.
  public var dataOffset: UInt8? {
    @inlinable get { controls[bits: 40, 8, setBit: 48].map { UInt8(truncatingIfNeeded: $0) } }
    @inlinable set { controls[bits: 40, 8, setBit: 48] = newValue.map { UInt64($0) } }
  }
  /// The three reserved bits (RFC 9293), 0...7. Default 0.
  public var reserved: UInt8 {
    @inlinable get { UInt8(truncatingIfNeeded: controls[bits: 56, 8]) }
    @inlinable set { controls[bits: 56, 8] = UInt64(newValue) }
  }
  /// Options, padded with zero octets (EOL) to a multiple of 4 bytes. At most 40 bytes fit
  /// (the data offset is 4 bits); a longer list, or one with a field that does not fit its
  /// octet, makes `encode` throw, and reads back no options.
  public var options: [TCPOption] {
    get { optionStorage.options(as: TCPOption.self) }
    set { optionStorage = InlineOptionArea(newValue) }
  }
  /// The options as their encoded bytes (see `InlineOptionArea`): the header copies as plain
  /// bytes, with no reference counting.
  @usableFromInline internal var optionStorage: InlineOptionArea

  public init(
    sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: UInt32 = 0,
    acknowledgmentNumber: UInt32 = 0, flags: TCPFlags = .syn, window: UInt16 = 65535,
    options: [TCPOption] = [], dataOffset: UInt8? = nil, reserved: UInt8 = 0,
    checksum: UInt16? = nil, urgentPointer: UInt16 = 0
  ) {
    portsAndSequence = UInt64(sourcePort) << 48 | UInt64(destinationPort) << 32 | UInt64(sequenceNumber)
    acknowledgmentWindowUrgent = UInt64(acknowledgmentNumber) << 32 | UInt64(window) << 16 | UInt64(urgentPointer)
    controls = UInt64(flags.rawValue) | UInt64(reserved) << 56
    optionStorage = InlineOptionArea(options)
    self.checksum = checksum
    self.dataOffset = dataOffset
  }

  /// Decodes every field from a validated view, filling every optional from the wire (so that
  /// encoding the result with the same payload reproduces the bytes exactly). Malformed options
  /// become `.raw` so no byte is lost.
  public init(_ view: TCPView) {
    self.init(
      sourcePort: view.sourcePort, destinationPort: view.destinationPort,
      sequenceNumber: view.sequenceNumber, acknowledgmentNumber: view.acknowledgmentNumber,
      flags: view.flags, window: view.window, dataOffset: view.dataOffset, reserved: view.reserved,
      checksum: view.checksum, urgentPointer: view.urgentPointer)
    optionStorage = InlineOptionArea(decoding: view.optionBytes, as: TCPOption.self)
  }

  /// Validates `bytes` and decodes the header (`TCPHeader(TCPView(validating:))`).
  public static func decode(from bytes: ArraySlice<UInt8>) throws(PacketError) -> TCPHeader {
    TCPHeader(try TCPView(validating: bytes))
  }

  /// The header length in bytes that `encode` writes: 20 + options padded to 4.
  @inlinable public var encodedLength: Int {
    TCPLayout.minimumHeaderLength + (optionStorage.length + 3) & ~3
  }

  /// Writes the header at `offset` with the checksum field verbatim or 0, and returns the sum
  /// of the header bytes as written when the checksum is `nil` (empty otherwise).
  @discardableResult
  internal func write(_ out: ByteWriter, at offset: Int, headerLength: Int) throws(PacketError) -> InternetChecksum {
    let (sum, error) = writeChecked(out, at: offset, headerLength: headerLength)
    if let error { throw error }
    return sum
  }

  /// `write`, returning the error instead of throwing (see `IPv4Header.writeSegment`).
  @inline(always)
  internal func writeChecked(
    _ out: ByteWriter, at offset: Int, headerLength: Int
  ) -> (sum: InternetChecksum, error: PacketError?) {
    // One test for every set value on the way (the errors are built out of line, so that this
    // stays small enough to be inlined into the encoders).
    let dataOffset = self.dataOffset
    guard (dataOffset ?? 0) <= 0x0F, dataOffset != nil || headerLength <= TCPLayout.maximumHeaderLength,
      reserved <= 0x07, flags.rawValue <= 0x01FF
    else { return (InternetChecksum(), rangeError(headerLength: headerLength)) }
    if let error = optionStorage.encodeError(layer: .tcp) { return (InternetChecksum(), error) }
    // Every value is read, and the header built as words, before the first store (see
    // `IPv4Header.writeChecked`).
    let offsetValue = dataOffset ?? UInt8(truncatingIfNeeded: headerLength / 4)
    let portsAndSequence = self.portsAndSequence
    let acknowledgment = acknowledgmentNumber
    let control = UInt32(UInt16(offsetValue) << 12 | UInt16(reserved) << 9 | flags.rawValue) << 16 | UInt32(window)
    let checksumAndUrgent = UInt32(checksum ?? 0) << 16 | UInt32(urgentPointer)
    let options = optionStorage
    out.put(UInt32(truncatingIfNeeded: portsAndSequence >> 32), at: offset)
    out.put(UInt32(truncatingIfNeeded: portsAndSequence), at: offset + 4)
    out.put(acknowledgment, at: offset + 8)
    out.put(control, at: offset + 12)
    out.put(checksumAndUrgent, at: offset + 16)
    // Bytes encoded when the options were set, padding included, and their sum.
    options.write(out, at: offset + TCPLayout.options)
    var sum = options.checksum
    if checksum == nil {
      // The fixed words as one plain 64-bit sum (five values < 2^32 cannot overflow), added
      // unfolded: the same ones'-complement sum as adding the 16-bit words one by one. The
      // options and their padding before them are a whole number of words, so no byte swap.
      sum.addToSum(
        (portsAndSequence >> 32) &+ (portsAndSequence & 0xFFFF_FFFF) &+ UInt64(acknowledgment) &+ UInt64(control)
          &+ UInt64(urgentPointer))
    }
    return (sum, nil)
  }

  /// The first field `writeChecked` finds out of range, in field order (out of line: only a
  /// header that cannot be encoded calls it).
  @inline(never)
  internal func rangeError(headerLength: Int) -> PacketError {
    if let dataOffset {
      if dataOffset > 0x0F { return .overrideOutOfRange(layer: .tcp, field: "dataOffset", value: UInt64(dataOffset)) }
    } else if headerLength > TCPLayout.maximumHeaderLength {
      return .computedValueOutOfRange(layer: .tcp, field: "dataOffset", value: UInt64(headerLength / 4))
    }
    if reserved > 0x07 { return .overrideOutOfRange(layer: .tcp, field: "reserved", value: UInt64(reserved)) }
    return .overrideOutOfRange(layer: .tcp, field: "flags", value: UInt64(flags.rawValue))
  }

  /// Encodes this header and `payload` as a segment with `pseudoHeader` for the checksum.
  /// - Throws: `.overrideOutOfRange` / `.computedValueOutOfRange` for a value that does not fit.
  public func encode(
    into buffer: inout [UInt8], payload: [UInt8] = [], pseudoHeader: InternetChecksum
  ) throws(PacketError) {
    let headerLength = encodedLength
    let total = headerLength + payload.count
    buffer.resizeForEncoding(to: total)
    try buffer.withUnsafeMutableBufferPointer { (pointer) throws(PacketError) in
      guard let base = pointer.baseAddress else { return }
      let out = ByteWriter(base)
      let headerSum = try write(out, at: 0, headerLength: headerLength)
      out.put(payload, at: headerLength)
      if checksum == nil {
        var sum = pseudoHeader
        sum.combine(headerSum)
        sum.add(payload)
        out.put(sum.finalized, at: TCPLayout.checksum)
      }
    }
  }
}

extension Array where Element == UInt8 {
  /// Makes `count == length` keeping the capacity (no allocation when it suffices). The
  /// contents are unspecified: the encoder overwrites every byte.
  @inlinable @inline(__always) internal mutating func resizeForEncoding(to length: Int) {
    if count > length {
      removeLast(count - length)
    } else if count < length {
      append(contentsOf: repeatElement(0, count: length - count))
    }
  }
}

extension IPv4Header {
  /// Encodes `self / tcp / payload` straight into `buffer` (replacing its contents, keeping its
  /// capacity) without building a `Packet`: the fastest way to encode one segment after another
  /// with a field changed each time. The bytes equal those of
  /// `(self / tcp / payload).encode(into:)` (an empty payload adds no layer).
  /// - Throws: as `Packet.encode(into:)`.
  public func encode(_ tcp: TCPHeader, payload: [UInt8] = [], into buffer: inout [UInt8]) throws(PacketError) {
    let ipLength = encodedLength
    let tcpLength = tcp.encodedLength
    let total = ipLength + tcpLength + payload.count
    var payloadSum = InternetChecksum()
    if tcp.checksum == nil { payloadSum.add(payload) }
    buffer.resizeForEncoding(to: total)
    let error = buffer.withUnsafeMutableBufferPointer { pointer -> PacketError? in
      guard let base = pointer.baseAddress else { return nil }
      return writeSegment(
        tcp, payload: payload, payloadSum: payloadSum, into: ByteWriter(base), ipLength: ipLength, tcpLength: tcpLength)
    }
    if let error { throw error }
  }

  /// Writes `self / tcp / payload` at the start of `out`, sized beforehand to `ipLength` +
  /// `tcpLength` + `payload.count` bytes (the headers' `encodedLength`s); `payloadSum` is the
  /// sum of `payload` (used when the TCP checksum is computed).
  ///
  /// Returns the error instead of throwing, and calls nothing opaque (no C, no `throw`), on
  /// purpose: a caller that reads the headers out of a `[Layer]` (`Packet.encode(into:)`) can
  /// then borrow them in place. Across a call that might throw or run unknown code, the
  /// optimizer copies each header out of the array instead (retaining and releasing its
  /// options array).
  ///
  /// Always inlined (SE-0496; `@inline(__always)` is only a hint, which the optimizer declines
  /// for a body this size): called out of line, the headers are passed by address, so
  /// `Packet.writeDirect` first copies each one out of the layer array onto the stack; inlined,
  /// it reads their fields where they are.
  @inline(always)
  internal func writeSegment(
    _ tcp: TCPHeader, payload: [UInt8], payloadSum: InternetChecksum, into out: ByteWriter, ipLength: Int,
    tcpLength: Int
  ) -> PacketError? {
    let total = ipLength + tcpLength + payload.count
    // The pseudo-header sum is a value, taken before any store (a closure reading `self` would
    // make the optimizer keep a copy of the whole header in memory).
    let pseudoHeader = InternetChecksum.pseudoHeader(
      sourceAddress: sourceAddress, destinationAddress: destinationAddress, protocol: .tcp, length: total - ipLength)
    if let error = writeChecked(out, at: 0, headerLength: ipLength, computedTotalLength: total, upper: .tcp) {
      return error
    }
    return tcp.writeAfterIP(
      into: out, ipLength: ipLength, tcpLength: tcpLength, payload: payload, payloadSum: payloadSum,
      pseudoHeader: pseudoHeader)
  }
}

extension TCPHeader {
  /// The source port of a TCP header quoted by an ICMP error, which need quote no more than its
  /// first 8 bytes (RFC 792); `nil` when fewer than 2 bytes are there.
  public static func quotedSourcePort(in quoted: ArraySlice<UInt8>) -> UInt16? {
    quoted.count >= TCPLayout.sourcePort + 2 ? quoted.uint16(at: TCPLayout.sourcePort) : nil
  }
}

extension TCPHeader {
  /// The TCP part of `ip / tcp / payload`, after an IP header of `ipLength` bytes at the start of
  /// `out` (either family): this header (`tcpLength` bytes), the payload, and, when `checksum` is
  /// `nil`, the checksum over `pseudoHeader`, the header and `payloadSum`.
  /// Always inlined, like its callers (`IPv4Header.writeSegment`, `IPv6Header.writeSegment`), so
  /// the headers are still read in place.
  @inline(always)
  internal func writeAfterIP(
    into out: ByteWriter, ipLength: Int, tcpLength: Int, payload: [UInt8], payloadSum: InternetChecksum,
    pseudoHeader: InternetChecksum
  ) -> PacketError? {
    let (headerSum, error) = writeChecked(out, at: ipLength, headerLength: tcpLength)
    if let error { return error }
    out.put(payload, at: ipLength + tcpLength)
    if checksum == nil {
      var sum = pseudoHeader
      sum.combine(headerSum)
      sum.combine(payloadSum)
      out.put(sum.finalized, at: ipLength + TCPLayout.checksum)
    }
    return nil
  }
}

extension TCPHeader: CustomReflectable {
  /// The public fields, by name (the stored words are an implementation detail): what `print`,
  /// `dump` and a debugger show.
  public var customMirror: Mirror {
    Mirror(
      self,
      children: [
        "sourcePort": sourcePort, "destinationPort": destinationPort, "sequenceNumber": sequenceNumber,
        "acknowledgmentNumber": acknowledgmentNumber, "dataOffset": dataOffset as Any, "reserved": reserved,
        "flags": flags, "window": window, "checksum": checksum as Any, "urgentPointer": urgentPointer,
        "options": options,
      ],
      displayStyle: .struct)
  }
}
