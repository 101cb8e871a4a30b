/// A read-only, non-escapable view of a TCP segment over a `RawSpan` (RFC 9293 §3.1): the same
/// checks and fields as `TCPView`, with no reference counting for the view, its options or its
/// payload. See `IPv4SpanView`.
public struct TCPSpanView: ~Escapable {
  /// The segment's bytes (offsets from 0).
  public let bytes: RawSpan

  /// The same rule and errors as `TCPView.init(validating:)`.
  @inlinable @_lifetime(copy bytes)
  public init(validating bytes: RawSpan) throws(PacketError) {
    guard bytes.byteCount >= TCPLayout.minimumHeaderLength else {
      throw .truncated(layer: .tcp, needed: TCPLayout.minimumHeaderLength, available: bytes.byteCount)
    }
    try TCPView.validate(dataOffset: bytes.byte(at: TCPLayout.dataOffsetAndFlags) >> 4, count: bytes.byteCount)
    self.bytes = bytes
  }

  /// Wraps bytes without checks. Only for bytes known to hold a valid header.
  @inlinable @_lifetime(copy bytes)
  public init(unchecked bytes: RawSpan) { self.bytes = bytes }

  @inlinable public var sourcePort: UInt16 { bytes.uint16(at: TCPLayout.sourcePort) }
  @inlinable public var destinationPort: UInt16 { bytes.uint16(at: TCPLayout.destinationPort) }
  @inlinable public var sequenceNumber: UInt32 { bytes.uint32(at: TCPLayout.sequenceNumber) }
  @inlinable public var acknowledgmentNumber: UInt32 { bytes.uint32(at: TCPLayout.acknowledgmentNumber) }
  @inlinable public var dataOffset: UInt8 { bytes.byte(at: TCPLayout.dataOffsetAndFlags) >> 4 }
  @inlinable public var headerLength: Int { Int(dataOffset) &* 4 }
  @inlinable public var reserved: UInt8 { (bytes.byte(at: TCPLayout.dataOffsetAndFlags) >> 1) & 0x07 }
  @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes.uint16(at: TCPLayout.dataOffsetAndFlags) & 0x01FF) }
  @inlinable public var window: UInt16 { bytes.uint16(at: TCPLayout.window) }
  @inlinable public var checksum: UInt16 { bytes.uint16(at: TCPLayout.checksum) }
  @inlinable public var urgentPointer: UInt16 { bytes.uint16(at: TCPLayout.urgentPointer) }

  /// The options area (`headerLength` − 20 bytes, padding included).
  @inlinable @inline(__always) public var optionBytes: RawSpan {
    @_lifetime(copy self) get {
      bytes.clampedExtracting(from: TCPLayout.options, count: headerLength &- TCPLayout.options)
    }
  }

  /// The options, one `Result` each, as `TCPView.options` gives them (`while let option =
  /// options.next()`; a non-escapable iterator cannot be a `Sequence`).
  @inlinable @inline(__always) public var options: TCPSpanOptions {
    @_lifetime(copy self) get { TCPSpanOptions(area: optionBytes) }
  }

  /// The data after the header, to the end of the bytes.
  @inlinable @inline(__always) public var payload: RawSpan {
    @_lifetime(copy self) get { bytes.clampedExtracting(from: headerLength, count: bytes.byteCount) }
  }

  /// Whether the checksum verifies: pseudo-header + segment sum to 0.
  @inlinable @inline(__always) public func isChecksumValid(pseudoHeader: InternetChecksum) -> Bool {
    var sum = pseudoHeader
    sum.add(bytes)
    return sum.finalized == 0
  }

  /// The checksum a correct segment would carry, given the pseudo-header sum.
  @inlinable public func computedChecksum(pseudoHeader: InternetChecksum) -> UInt16 {
    var sum = pseudoHeader
    sum.add(bytes.clampedExtracting(from: 0, count: TCPLayout.checksum))
    sum.add(bytes.clampedExtracting(from: TCPLayout.checksum &+ 2, count: bytes.byteCount))
    return sum.finalized
  }
}

/// The options of a `TCPSpanView`: the same scan (`OptionScanner.step`/`advance`) and decoding
/// (`TCPOption.decode`) as `TCPOptionSequence`; iteration stops after EOL or at the first
/// malformed option.
public struct TCPSpanOptions: ~Escapable {
  @usableFromInline let area: RawSpan
  @usableFromInline var offset = 0
  @usableFromInline var stopped = false

  @inlinable @_lifetime(copy area)
  init(area: RawSpan) { self.area = area }

  @inlinable @inline(__always) public mutating func next() -> Result<TCPOption, PacketError>? {
    guard !stopped, offset < area.byteCount else { return nil }
    let step = OptionScanner.step(at: offset, end: area.byteCount) { self.area.byte(at: $0) }
    switch OptionScanner.advance(step, offset: &offset, stopped: &stopped, layer: .tcp, stopAtEndOfList: true) {
    case .success(let option): return .success(TCPOption.decode(option, in: area))
    case .failure(let error): return .failure(error)
    }
  }
}

extension TCPView {
  /// The rule both views check once 20 bytes are known to be there: data offset ≥ 5, the header
  /// within `count` bytes.
  @inlinable
  static func validate(dataOffset: UInt8, count: Int) throws(PacketError) {
    guard dataOffset >= 5 else { throw .invalidField(layer: .tcp, field: "dataOffset", value: UInt64(dataOffset)) }
    guard Int(dataOffset) * 4 <= count else { throw .truncated(layer: .tcp, needed: Int(dataOffset) * 4, available: count) }
  }
}
