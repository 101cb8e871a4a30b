/// A pcapng writer (the format of Wireshark's `.pcapng` files), for captures that carry a comment
/// on each packet: Wireshark shows it under "Packet comments" and `tshark -T fields -e
/// frame.comment` prints it.
///
/// Pure bytes, like `PcapWriter`: the caller writes the buffer where it likes. One section, one
/// interface, little-endian, nanosecond timestamps (`if_tsresol` = 9):
///
/// ```swift
/// var file: [UInt8] = []
/// let writer = PcapNGWriter(linkType: .raw, application: "tcpcraft")
/// writer.appendHeader(to: &file)
/// writer.appendPacket(ipv4Bytes, timestampSeconds: 1_700_000_000, comment: "the SYN", to: &file)
/// ```
///
/// Block layouts follow the pcapng specification (IETF draft-ietf-opsawg-pcapng): Section Header
/// Block (type 0x0A0D0D0A), Interface Description Block (type 1), Enhanced Packet Block (type 6);
/// every option is code, length, value padded to 32 bits, ended by `opt_endofopt`.
public struct PcapNGWriter: Sendable {
  /// Block types.
  public static let sectionHeaderType: UInt32 = 0x0A0D_0D0A
  public static let interfaceDescriptionType: UInt32 = 1
  public static let enhancedPacketType: UInt32 = 6
  /// The byte-order magic of a section header.
  public static let byteOrderMagic: UInt32 = 0x1A2B_3C4D
  /// Option codes.
  public static let optionEnd: UInt16 = 0
  public static let optionComment: UInt16 = 1
  public static let optionUserApplication: UInt16 = 4
  public static let optionTimestampResolution: UInt16 = 9

  /// The link type of the one interface (`.raw` for bare IPv4 packets).
  public var linkType: LinkType
  /// Bytes beyond this are not written (0: no limit).
  public var snapLength: UInt32
  /// Written as `shb_userappl` when given.
  public var application: String?

  public init(linkType: LinkType, snapLength: UInt32 = 262_144, application: String? = nil) {
    self.linkType = linkType
    self.snapLength = snapLength
    self.application = application
  }

  /// Appends the Section Header Block and the Interface Description Block (interface 0).
  public func appendHeader(to buffer: inout [UInt8]) {
    var body: [UInt8] = []
    body.pcapngAppend(Self.byteOrderMagic)
    body.pcapngAppend(UInt16(1))  // major version
    body.pcapngAppend(UInt16(0))  // minor version
    body.pcapngAppend(UInt64.max)  // section length: not given (-1)
    if let application { body.pcapngAppendOption(Self.optionUserApplication, Array(application.utf8)) }
    body.pcapngAppendOption(Self.optionEnd, [])
    buffer.pcapngAppendBlock(type: Self.sectionHeaderType, body: body)

    var interface: [UInt8] = []
    interface.pcapngAppend(UInt16(truncatingIfNeeded: linkType.rawValue))
    interface.pcapngAppend(UInt16(0))  // reserved
    interface.pcapngAppend(snapLength)
    interface.pcapngAppendOption(Self.optionTimestampResolution, [9])  // 10^-9 s
    interface.pcapngAppendOption(Self.optionEnd, [])
    buffer.pcapngAppendBlock(type: Self.interfaceDescriptionType, body: interface)
  }

  /// Appends one Enhanced Packet Block on interface 0, with `comment` as `opt_comment` (UTF-8)
  /// when given. The timestamp is in nanoseconds since the Unix epoch.
  public func appendPacket(
    _ data: some Collection<UInt8>, timestampSeconds: UInt64, timestampNanoseconds: UInt32 = 0,
    comment: String? = nil, to buffer: inout [UInt8]
  ) {
    let snap = snapLength == 0 ? Int.max : Int(snapLength)
    let captured = min(data.count, snap)
    let stamp = timestampSeconds &* 1_000_000_000 &+ UInt64(timestampNanoseconds % 1_000_000_000)
    var body: [UInt8] = []
    body.reserveCapacity(captured + 64 + (comment?.utf8.count ?? 0))
    body.pcapngAppend(UInt32(0))  // interface id
    body.pcapngAppend(UInt32(truncatingIfNeeded: stamp >> 32))
    body.pcapngAppend(UInt32(truncatingIfNeeded: stamp))
    body.pcapngAppend(UInt32(truncatingIfNeeded: captured))
    body.pcapngAppend(UInt32(truncatingIfNeeded: data.count))
    body.append(contentsOf: data.prefix(captured))
    body.pcapngPad()
    if let comment, !comment.isEmpty {
      body.pcapngAppendOption(Self.optionComment, Array(comment.utf8))
      body.pcapngAppendOption(Self.optionEnd, [])
    }
    buffer.pcapngAppendBlock(type: Self.enhancedPacketType, body: body)
  }
}

/// One packet read back from a pcapng file written by `PcapNGWriter` (or any little- or
/// big-endian pcapng with Enhanced Packet Blocks).
public struct PcapNGPacket: Hashable, Sendable {
  public var interface: UInt32
  /// Timestamp in the interface's units (nanoseconds for our files).
  public var timestamp: UInt64
  public var originalLength: UInt32
  public var data: [UInt8]
  /// Every `opt_comment` on the packet.
  public var comments: [String]
}

/// Reads pcapng blocks: enough to check a file (Enhanced Packet Blocks and their comments);
/// other blocks are skipped. A malformed file is an error, never a trap.
public enum PcapNGReader {
  public static func packets(_ bytes: [UInt8]) throws(PcapError) -> [PcapNGPacket] {
    var packets: [PcapNGPacket] = []
    var offset = 0
    var big = false
    // Bounded: every pass moves past one block of at least 12 bytes.
    while offset < bytes.count {
      guard bytes.count - offset >= 12 else {
        throw .truncated(context: "a pcapng block header", needed: 12, available: bytes.count - offset)
      }
      let rawType = bytes.pcapngLoad(at: offset, bigEndian: false)
      if rawType == PcapNGWriter.sectionHeaderType {
        let magic = bytes.pcapngLoad(at: offset + 8, bigEndian: false)
        if magic == PcapNGWriter.byteOrderMagic {
          big = false
        } else if magic == 0x4D3C_2B1A {
          big = true
        } else {
          throw .badBlock(offset: offset, reason: "byte-order magic 0x\(String(magic, radix: 16)) is not 0x1a2b3c4d")
        }
      }
      let type = bytes.pcapngLoad(at: offset, bigEndian: big)
      let length = Int(bytes.pcapngLoad(at: offset + 4, bigEndian: big))
      guard length >= 12, length % 4 == 0 else {
        throw .badBlock(offset: offset, reason: "block length \(length) is not a multiple of 4 of at least 12")
      }
      guard bytes.count - offset >= length else {
        throw .truncated(context: "a pcapng block", needed: length, available: bytes.count - offset)
      }
      if type == PcapNGWriter.enhancedPacketType {
        guard length >= 32 else { throw .badBlock(offset: offset, reason: "enhanced packet block of \(length) bytes") }
        let base = offset + 8
        let interface = bytes.pcapngLoad(at: base, bigEndian: big)
        let high = UInt64(bytes.pcapngLoad(at: base + 4, bigEndian: big))
        let low = UInt64(bytes.pcapngLoad(at: base + 8, bigEndian: big))
        let captured = Int(bytes.pcapngLoad(at: base + 12, bigEndian: big))
        let original = bytes.pcapngLoad(at: base + 16, bigEndian: big)
        let dataStart = base + 20
        let padded = (captured + 3) & ~3
        let end = offset + length - 4
        guard captured <= end - dataStart, dataStart + padded <= end else {
          throw .badBlock(offset: offset, reason: "captured length \(captured) does not fit its block")
        }
        var comments: [String] = []
        var option = dataStart + padded
        while option + 4 <= end {
          let code = bytes.pcapngLoad16(at: option, bigEndian: big)
          let size = Int(bytes.pcapngLoad16(at: option + 2, bigEndian: big))
          if code == PcapNGWriter.optionEnd { break }
          guard option + 4 + size <= end else {
            throw .badBlock(offset: offset, reason: "option of \(size) bytes does not fit its block")
          }
          if code == PcapNGWriter.optionComment {
            comments.append(String(decoding: bytes[(option + 4)..<(option + 4 + size)], as: UTF8.self))
          }
          option += 4 + ((size + 3) & ~3)
        }
        packets.append(
          PcapNGPacket(
            interface: interface, timestamp: high << 32 | low, originalLength: original,
            data: Array(bytes[dataStart..<(dataStart + captured)]), comments: comments))
      }
      offset += length
    }
    return packets
  }
}

extension [UInt8] {
  fileprivate mutating func pcapngAppend(_ value: UInt16) {
    append(UInt8(truncatingIfNeeded: value))
    append(UInt8(truncatingIfNeeded: value >> 8))
  }

  fileprivate mutating func pcapngAppend(_ value: UInt32) {
    for shift in stride(from: 0, to: 32, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
  }

  fileprivate mutating func pcapngAppend(_ value: UInt64) {
    for shift in stride(from: 0, to: 64, by: 8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
  }

  fileprivate mutating func pcapngPad() {
    while count % 4 != 0 { append(0) }
  }

  /// An option: code, length, value, zero padding to 32 bits. Values over 65535 bytes are cut.
  fileprivate mutating func pcapngAppendOption(_ code: UInt16, _ value: [UInt8]) {
    let kept = value.prefix(0xFFFC)
    pcapngAppend(code)
    pcapngAppend(UInt16(truncatingIfNeeded: kept.count))
    append(contentsOf: kept)
    pcapngPad()
  }

  /// A block: type, total length, body, total length again.
  fileprivate mutating func pcapngAppendBlock(type: UInt32, body: [UInt8]) {
    let total = UInt32(truncatingIfNeeded: body.count + 12)
    pcapngAppend(type)
    pcapngAppend(total)
    append(contentsOf: body)
    pcapngAppend(total)
  }

  fileprivate func pcapngLoad(at offset: Int, bigEndian: Bool) -> UInt32 {
    let b = (UInt32(self[offset]), UInt32(self[offset + 1]), UInt32(self[offset + 2]), UInt32(self[offset + 3]))
    return bigEndian ? b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3 : b.3 << 24 | b.2 << 16 | b.1 << 8 | b.0
  }

  fileprivate func pcapngLoad16(at offset: Int, bigEndian: Bool) -> UInt16 {
    let b = (UInt16(self[offset]), UInt16(self[offset + 1]))
    return bigEndian ? b.0 << 8 | b.1 : b.1 << 8 | b.0
  }
}
