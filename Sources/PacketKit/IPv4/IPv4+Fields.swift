/// The IPv4 header's fields (RFC 791), written once for both checked views: `IPv4View` (over an
/// `ArraySlice`) and `IPv4SpanView` (over a non-escapable `RawSpan`). A view supplies the
/// big-endian reads at offsets from the header's start; every field below is defined over them.
///
/// An implementation detail of the views (hence the underscores): use their fields, not this
/// protocol. The reads do not check bounds: the view's `init(validating:)` has checked that
/// the 20 fixed bytes are there.
public protocol _IPv4HeaderFields: ~Escapable {
  func _byte(at offset: Int) -> UInt8
  func _uint16(at offset: Int) -> UInt16
  func _uint32(at offset: Int) -> UInt32
}

extension _IPv4HeaderFields where Self: ~Escapable {
  /// Version, 4 bits (4 for IPv4; not checked).
  @inlinable public var version: UInt8 { _byte(at: IPv4Layout.versionAndIHL) >> 4 }
  /// Internet header length, 4 bits, in 32-bit words.
  @inlinable public var ihl: UInt8 { _byte(at: IPv4Layout.versionAndIHL) & 0x0F }
  /// Header length in bytes (`ihl` × 4).
  @inlinable public var headerLength: Int { Int(ihl) &* 4 }
  /// Differentiated services code point, 6 bits (RFC 2474).
  @inlinable public var dscp: UInt8 { _byte(at: IPv4Layout.dscpAndECN) >> 2 }
  /// Explicit congestion notification, 2 bits (RFC 3168).
  @inlinable public var ecn: UInt8 { _byte(at: IPv4Layout.dscpAndECN) & 0x03 }
  /// Total length in bytes, header included, 16 bits.
  @inlinable public var totalLength: UInt16 { _uint16(at: IPv4Layout.totalLength) }
  /// Identification, 16 bits.
  @inlinable public var identification: UInt16 { _uint16(at: IPv4Layout.identification) }
  /// The three flag bits.
  @inlinable public var flags: IPv4Flags { IPv4Flags(rawValue: _byte(at: IPv4Layout.flagsAndFragmentOffset) >> 5) }
  /// Fragment offset, 13 bits, in 8-byte units.
  @inlinable public var fragmentOffset: UInt16 { _uint16(at: IPv4Layout.flagsAndFragmentOffset) & 0x1FFF }
  /// Time to live, 8 bits.
  @inlinable public var timeToLive: UInt8 { _byte(at: IPv4Layout.timeToLive) }
  /// Protocol of the payload, 8 bits.
  @inlinable public var `protocol`: IPProtocol { IPProtocol(_byte(at: IPv4Layout.protocol)) }
  /// Header checksum as on the wire, 16 bits.
  @inlinable public var checksum: UInt16 { _uint16(at: IPv4Layout.checksum) }
  @inlinable public var sourceAddress: IPv4Address { IPv4Address(rawValue: _uint32(at: IPv4Layout.sourceAddress)) }
  @inlinable public var destinationAddress: IPv4Address { IPv4Address(rawValue: _uint32(at: IPv4Layout.destinationAddress)) }
}

extension IPv4View: _IPv4HeaderFields {
  @inlinable @inline(__always) public func _byte(at offset: Int) -> UInt8 { bytes.byte(at: offset) }
  @inlinable @inline(__always) public func _uint16(at offset: Int) -> UInt16 { bytes.uint16(at: offset) }
  @inlinable @inline(__always) public func _uint32(at offset: Int) -> UInt32 { bytes.uint32(at: offset) }
}

extension IPv4SpanView: _IPv4HeaderFields {
  @inlinable @inline(__always) public func _byte(at offset: Int) -> UInt8 { bytes.byte(at: offset) }
  @inlinable @inline(__always) public func _uint16(at offset: Int) -> UInt16 { bytes.uint16(at: offset) }
  @inlinable @inline(__always) public func _uint32(at offset: Int) -> UInt32 { bytes.uint32(at: offset) }
}
