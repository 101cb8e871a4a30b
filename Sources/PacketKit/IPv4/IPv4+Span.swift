/// A read-only, non-escapable view of an IPv4 packet over a `RawSpan` (RFC 791): the same checks
/// and fields as `IPv4View`, but neither the view nor the spans taken from it (`payload`,
/// `optionBytes`) hold a reference, so reading a packet costs no reference counting. It lives no
/// longer than the bytes it reads (the compiler checks that):
///
/// ```swift
/// frame.withUnsafeBytes { ... }            // or, without unsafe code:
/// let ip = try IPv4SpanView(validating: frame.span.bytes)
/// let tcp = try TCPSpanView(validating: ip.payload)
/// ```
///
/// Once `init(validating:)` succeeds, no accessor traps (see `IPv4View` for what stays visible).
public struct IPv4SpanView: ~Escapable {
  /// The packet's bytes (offsets from 0).
  public let bytes: RawSpan

  /// Checks that the header's structure is parsable; the same rule and errors as
  /// `IPv4View.init(validating:)`.
  @inlinable @_lifetime(copy bytes)
  public init(validating bytes: RawSpan) throws(PacketError) {
    guard bytes.byteCount >= IPv4Layout.minimumHeaderLength else {
      throw .truncated(layer: .ipv4, needed: IPv4Layout.minimumHeaderLength, available: bytes.byteCount)
    }
    try IPv4View.validate(
      first: bytes.byte(at: IPv4Layout.versionAndIHL), totalLength: bytes.uint16(at: IPv4Layout.totalLength),
      count: bytes.byteCount)
    self.bytes = bytes
  }

  /// Wraps bytes without checks. Only for bytes known to hold a valid header.
  @inlinable @_lifetime(copy bytes)
  public init(unchecked bytes: RawSpan) { self.bytes = bytes }

  // The header fields (`version` ... `destinationAddress`): `_IPv4HeaderFields`, shared with `IPv4View`.

  /// The options area (`headerLength` − 20 bytes, padding included).
  @inlinable @inline(__always) public var optionBytes: RawSpan {
    @_lifetime(copy self) get {
      bytes.clampedExtracting(from: IPv4Layout.options, count: headerLength &- IPv4Layout.options)
    }
  }

  /// From the end of the header to `totalLength`, or to the end of the bytes (as `IPv4View.payload`).
  @inlinable @inline(__always) public var payload: RawSpan {
    @_lifetime(copy self) get { bytes.clampedExtracting(from: headerLength, count: Int(totalLength) &- headerLength) }
  }

  /// Bytes after `totalLength` (e.g. Ethernet padding), empty when none.
  @inlinable public var trailingBytes: RawSpan {
    @_lifetime(copy self) get { bytes.clampedExtracting(from: Int(totalLength), count: bytes.byteCount) }
  }

  /// Whether `totalLength` claims more bytes than there are.
  @inlinable public var isTruncated: Bool { Int(totalLength) > bytes.byteCount }

  /// Whether the header checksum verifies (the header sums to 0).
  @inlinable @inline(__always) public var isChecksumValid: Bool {
    var sum = InternetChecksum()
    sum.add(bytes.clampedExtracting(from: 0, count: headerLength))
    return sum.finalized == 0
  }

  /// The pseudo-header sum for an upper-layer checksum (as `IPv4View.pseudoHeader`).
  @inlinable @inline(__always) public func pseudoHeader(protocol: IPProtocol? = nil, length: Int? = nil) -> InternetChecksum {
    let start = Swift.min(headerLength, bytes.byteCount)
    let payloadCount = Swift.min(Swift.max(Int(totalLength) &- headerLength, 0), bytes.byteCount &- start)
    return InternetChecksum.pseudoHeader(
      sourceAddress: sourceAddress, destinationAddress: destinationAddress,
      protocol: `protocol` ?? self.protocol, length: length ?? payloadCount)
  }
}

extension IPv4View {
  /// The structural rule both views check after the first 20 bytes are known to be there: `ihl`
  /// ≥ 5, the header within `count` bytes, `totalLength` ≥ the header.
  @inlinable
  static func validate(first: UInt8, totalLength: UInt16, count: Int) throws(PacketError) {
    let ihl = first & 0x0F
    guard ihl >= 5 else { throw .invalidField(layer: .ipv4, field: "ihl", value: UInt64(ihl)) }
    let headerLength = Int(ihl) * 4
    guard headerLength <= count else { throw .truncated(layer: .ipv4, needed: headerLength, available: count) }
    guard Int(totalLength) >= headerLength else {
      throw .invalidField(layer: .ipv4, field: "totalLength", value: UInt64(totalLength))
    }
  }
}
