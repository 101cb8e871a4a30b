/// An encoded IPv4 + TCP segment whose fields are changed in place, with RFC 1624 incremental
/// checksum updates instead of a new encode: the fast path for sending at rate (a new sequence
/// number, port or flag set per packet costs a few stores and adds).
///
/// Checksums that were computed (`nil` in the headers) stay correct after every change. A
/// checksum that was set explicitly is never touched: it stays exactly the value given.
///
/// ```swift
/// var template = try TCPSegmentTemplate(ip / tcp)
/// for seq in 0..<1000 as Range<UInt32> {
///   template.sequenceNumber = seq
///   try socket.send(template.bytes, to: destination)
/// }
/// ```
public struct TCPSegmentTemplate: Sendable {
  /// The encoded packet (outer layers included).
  public internal(set) var bytes: [UInt8]
  /// Offset of the IPv4 header in `bytes`.
  public let ipv4Offset: Int
  /// Offset of the TCP header in `bytes`.
  public let tcpOffset: Int
  /// Whether the IPv4 checksum is kept correct (it was computed, not set).
  public let updatesIPv4Checksum: Bool
  /// Whether the TCP checksum is kept correct (it was computed, not set).
  public let updatesTCPChecksum: Bool

  /// The IP version of the template: 4, or 6 (see `TCPSegmentTemplate+IPv6.swift`). For 6,
  /// `ipv4Offset` is the IPv6 header's offset (read it as `ipOffset`).
  public let ipVersion: UInt8

  /// Encodes `packet`, which must hold an IPv4 header directly followed by a TCP header, or an
  /// IPv6 header followed by TCP (extension headers between them allowed).
  /// - Throws: what `Packet.encode` throws; `.invalidField(layer: .tcp, field: "layers", ...)`
  ///   when there is no IPv4 header directly followed by TCP, nor IPv6 with TCP behind it.
  public init(_ packet: Packet) throws(PacketError) {
    var offset = 0
    var found: (ip: Int, tcp: Int, ipHeader: IPv4Header, tcpHeader: TCPHeader)?
    for (i, layer) in packet.layers.enumerated() {
      if case .tcp(let tcp) = layer, i > 0, case .ipv4(let ip) = packet.layers[i - 1] {
        found = (offset - ip.encodedLength, offset, ip, tcp)
        break
      }
      offset += layer.encodedLength
    }
    if found == nil, let ipv6 = Self.locateIPv6TCP(packet) {
      bytes = try packet.encoded()
      ipv4Offset = ipv6.ip
      tcpOffset = ipv6.tcp
      updatesIPv4Checksum = false
      updatesTCPChecksum = ipv6.tcpChecksumComputed
      ipVersion = 6
      return
    }
    guard let found else {
      throw .invalidField(layer: .tcp, field: "layers (need IPv4 directly followed by TCP, or IPv6 then TCP)", value: UInt64(packet.layers.count))
    }
    bytes = try packet.encoded()
    ipv4Offset = found.ip
    tcpOffset = found.tcp
    updatesIPv4Checksum = found.ipHeader.checksum == nil
    updatesTCPChecksum = found.tcpHeader.checksum == nil
    ipVersion = 4
  }

  /// The big-endian TCP field at `field` (its offset in the TCP header), read through the byte
  /// cursor; setting it keeps a computed TCP checksum correct (RFC 1624).
  private subscript(tcp field: Int) -> UInt16 {
    get { bytes.withCursor { $0.u16(tcpOffset + field) } }
    set { store(newValue, at: tcpOffset + field, checksumAt: tcpChecksumOffset) }
  }
  private subscript(tcp field: Int) -> UInt32 {
    get { bytes.withCursor { $0.u32(tcpOffset + field) } }
    set { store(newValue, at: tcpOffset + field, checksumAt: tcpChecksumOffset) }
  }

  /// Where the TCP checksum to keep correct is; `nil` when it was set explicitly.
  private var tcpChecksumOffset: Int? { updatesTCPChecksum ? tcpOffset + TCPLayout.checksum : nil }

  /// Stores `value` at `offset` of `bytes`, updating the checksum at `checksumAt` if any.
  private mutating func store<Field: FixedWidthInteger & UnsignedInteger>(_ value: Field, at offset: Int, checksumAt: Int?) {
    bytes.withUnsafeMutableBytes { buffer in
      _ = InternetChecksum.patch(buffer, value, at: offset, checksumAt: checksumAt)
    }
  }

  public var sequenceNumber: UInt32 {
    get { self[tcp: TCPLayout.sequenceNumber] }
    set { self[tcp: TCPLayout.sequenceNumber] = newValue }
  }
  public var acknowledgmentNumber: UInt32 {
    get { self[tcp: TCPLayout.acknowledgmentNumber] }
    set { self[tcp: TCPLayout.acknowledgmentNumber] = newValue }
  }
  public var sourcePort: UInt16 {
    get { self[tcp: TCPLayout.sourcePort] }
    set { self[tcp: TCPLayout.sourcePort] = newValue }
  }
  public var destinationPort: UInt16 {
    get { self[tcp: TCPLayout.destinationPort] }
    set { self[tcp: TCPLayout.destinationPort] = newValue }
  }
  public var window: UInt16 {
    get { self[tcp: TCPLayout.window] }
    set { self[tcp: TCPLayout.window] = newValue }
  }
  public var urgentPointer: UInt16 {
    get { self[tcp: TCPLayout.urgentPointer] }
    set { self[tcp: TCPLayout.urgentPointer] = newValue }
  }

  /// The nine flags (data offset and reserved bits are kept). Bits above the nine are ignored.
  public var flags: TCPFlags {
    get { TCPFlags(rawValue: self[tcp: TCPLayout.dataOffsetAndFlags] & 0x01FF) }
    set {
      let word: UInt16 = self[tcp: TCPLayout.dataOffsetAndFlags]
      self[tcp: TCPLayout.dataOffsetAndFlags] = word & 0xFE00 | newValue.rawValue & 0x01FF
    }
  }

  /// The IPv4 identification; updates the IPv4 checksum when computed. An IPv6 header has none:
  /// for an IPv6 template this reads 0 and setting it changes nothing (walk `flowLabel` instead).
  public var identification: UInt16 {
    get { ipVersion == 4 ? bytes.withCursor { $0.u16(ipv4Offset + IPv4Layout.identification) } : 0 }
    set {
      guard ipVersion == 4 else { return }
      store(newValue, at: ipv4Offset + IPv4Layout.identification,
            checksumAt: updatesIPv4Checksum ? ipv4Offset + IPv4Layout.checksum : nil)
    }
  }

  /// Calls `body` with the encoded bytes (no copy).
  public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
    let result: Result<R, E> = bytes.withUnsafeBytes { pointer in
      do throws(E) { return .success(try body(pointer)) } catch { return .failure(error) }
    }
    return try result.get()
  }
}

extension InternetChecksum {
  /// Replaces the big-endian 32-bit field at `fieldOffset` of `buffer` with `newValue` and
  /// updates the 16-bit checksum at `checksumOffset` incrementally (RFC 1624), e.g. a TCP
  /// sequence number in an encoded segment: `patch(frame, uint32: seq, at: tcp + 4, checksumAt:
  /// tcp + 16)`. The field must sit at an even offset from the start of the checksummed bytes.
  /// - Returns: false, changing nothing, when a field is not inside `buffer`.
  @inlinable @discardableResult
  public static func patch(
    _ buffer: UnsafeMutableRawBufferPointer, uint32 newValue: UInt32, at fieldOffset: Int, checksumAt checksumOffset: Int
  ) -> Bool {
    patch(buffer, newValue, at: fieldOffset, checksumAt: checksumOffset)
  }

  /// The 16-bit form of `patch(_:uint32:at:checksumAt:)` (ports, window, IPv4 identification).
  @inlinable @discardableResult
  public static func patch(
    _ buffer: UnsafeMutableRawBufferPointer, uint16 newValue: UInt16, at fieldOffset: Int, checksumAt checksumOffset: Int
  ) -> Bool {
    patch(buffer, newValue, at: fieldOffset, checksumAt: checksumOffset)
  }

  /// Both forms, and a plain store when `checksumOffset` is `nil` (a checksum set explicitly is
  /// left alone). `Field` is `UInt16` or `UInt32`.
  @inlinable @inline(__always)
  static func patch<Field: FixedWidthInteger & UnsignedInteger>(
    _ buffer: UnsafeMutableRawBufferPointer, _ newValue: Field, at fieldOffset: Int, checksumAt checksumOffset: Int?
  ) -> Bool {
    guard fieldOffset >= 0, fieldOffset <= buffer.count - MemoryLayout<Field>.size else { return false }
    guard let checksumOffset else {
      buffer.storeBytes(of: newValue.bigEndian, toByteOffset: fieldOffset, as: Field.self)
      return true
    }
    guard checksumOffset >= 0, checksumOffset <= buffer.count - 2 else { return false }
    let old = Field(bigEndian: buffer.loadUnaligned(fromByteOffset: fieldOffset, as: Field.self))
    let checksum = UInt16(bigEndian: buffer.loadUnaligned(fromByteOffset: checksumOffset, as: UInt16.self))
    buffer.storeBytes(of: newValue.bigEndian, toByteOffset: fieldOffset, as: Field.self)
    let updated = Field.bitWidth == 32
      ? update(checksum, oldValue: UInt32(truncatingIfNeeded: old), newValue: UInt32(truncatingIfNeeded: newValue))
      : update(checksum, oldValue: UInt16(truncatingIfNeeded: old), newValue: UInt16(truncatingIfNeeded: newValue))
    buffer.storeBytes(of: updated.bigEndian, toByteOffset: checksumOffset, as: UInt16.self)
    return true
  }
}
