// pcap files (the classic libpcap format, https://www.tcpdump.org/manpages/pcap-savefile.5.html):
// a 24-byte file header, then records, each a 16-byte header and the captured bytes.
//
// PacketKit does no file I/O: `PcapWriter` appends to a byte buffer or hands bytes to a sink
// closure, and `PcapReader` consumes byte chunks the caller reads from wherever it likes.

/// How precise a pcap file's timestamps are; chosen by the magic number.
public enum PcapTimestampPrecision: Hashable, Sendable {
  /// Magic `0xA1B2C3D4`: the sub-second field counts microseconds.
  case microseconds
  /// Magic `0xA1B23C4D`: the sub-second field counts nanoseconds.
  case nanoseconds

  /// The magic number that announces this precision.
  public var magic: UInt32 { self == .microseconds ? 0xA1B2_C3D4 : 0xA1B2_3C4D }
}

/// The byte order of a pcap file's header fields (the packet bytes are never swapped).
public enum PcapByteOrder: Hashable, Sendable {
  case littleEndian
  case bigEndian
}

/// The 24-byte header at the start of a pcap file.
public struct PcapFileHeader: Hashable, Sendable {
  /// Layout: magic (4), version major (2) and minor (2), thiszone (4), sigfigs (4), snaplen (4),
  /// link type (4; the low 16 bits are the `LINKTYPE_*` value, the high bits FCS information).
  public static let length = 24

  public var precision: PcapTimestampPrecision
  public var byteOrder: PcapByteOrder
  /// 2 for every file in use.
  public var versionMajor: UInt16 = 2
  /// 4 for every file in use.
  public var versionMinor: UInt16 = 4
  /// GMT-to-local correction in seconds; always 0 in practice.
  public var timeZoneOffset: Int32 = 0
  /// Timestamp accuracy; always 0 in practice.
  public var significantFigures: UInt32 = 0
  /// The largest number of bytes captured of any packet.
  public var snapLength: UInt32
  /// The link-type field as stored (including any FCS bits above bit 15).
  public var linkTypeField: UInt32

  /// The `LINKTYPE_*` value (the low 16 bits of the field).
  public var linkTypeValue: UInt32 { linkTypeField & 0xFFFF }
  /// The link type when PacketKit knows it, else `nil` (see `linkTypeValue`).
  public var linkType: LinkType? { LinkType(rawValue: linkTypeValue) }

  public init(
    linkType: LinkType, precision: PcapTimestampPrecision = .microseconds,
    snapLength: UInt32 = 262_144, byteOrder: PcapByteOrder = .littleEndian
  ) {
    self.precision = precision
    self.byteOrder = byteOrder
    self.snapLength = snapLength
    self.linkTypeField = linkType.rawValue
  }

  /// Parses the first 24 bytes of `bytes`.
  /// - Throws: `PcapError.truncated` with fewer than 24 bytes, `.badMagic` when the magic is none
  ///   of the four known values, `.unsupportedVersion` when the major version is not 2.
  public init(parsing bytes: some Collection<UInt8>) throws(PcapError) {
    let header = Array(bytes.prefix(Self.length))
    guard header.count >= Self.length else {
      throw .truncated(context: "file header", needed: Self.length, available: header.count)
    }
    let magicBig = header.withCursor { $0.u32(0) }
    switch magicBig {
    case 0xA1B2_C3D4: (precision, byteOrder) = (.microseconds, .bigEndian)
    case 0xD4C3_B2A1: (precision, byteOrder) = (.microseconds, .littleEndian)
    case 0xA1B2_3C4D: (precision, byteOrder) = (.nanoseconds, .bigEndian)
    case 0x4D3C_B2A1: (precision, byteOrder) = (.nanoseconds, .littleEndian)
    case 0x0A0D_0D0A: throw .badMagic(magicBig)  // pcapng: PcapReader reads it, not this header
    default: throw .badMagic(magicBig)
    }
    let big = byteOrder == .bigEndian
    (versionMajor, versionMinor, timeZoneOffset, significantFigures, snapLength, linkTypeField) =
      header.withCursor { header in
        var cursor = header
        cursor.skip(4)
        return (
          cursor.read16(bigEndian: big), cursor.read16(bigEndian: big),
          Int32(bitPattern: cursor.read32(bigEndian: big)), cursor.read32(bigEndian: big),
          cursor.read32(bigEndian: big), cursor.read32(bigEndian: big)
        )
      }
    guard versionMajor == 2 else {
      throw .unsupportedVersion(major: versionMajor, minor: versionMinor)
    }
  }

  /// Appends the 24 header bytes to `buffer`.
  public func encode(into buffer: inout [UInt8]) {
    let big = byteOrder == .bigEndian
    buffer.pcapAppendUInt32(precision.magic, bigEndian: big)
    buffer.pcapAppendUInt16(versionMajor, bigEndian: big)
    buffer.pcapAppendUInt16(versionMinor, bigEndian: big)
    buffer.pcapAppendUInt32(UInt32(bitPattern: timeZoneOffset), bigEndian: big)
    buffer.pcapAppendUInt32(significantFigures, bigEndian: big)
    buffer.pcapAppendUInt32(snapLength, bigEndian: big)
    buffer.pcapAppendUInt32(linkTypeField, bigEndian: big)
  }
}

/// One captured packet from (or for) a pcap file.
public struct PcapRecord: Hashable, Sendable {
  /// Seconds since the Unix epoch (32 bits on disk, so until 2106).
  public var timestampSeconds: UInt32
  /// The sub-second part in nanoseconds (0..<1_000_000_000). In microsecond files this is the
  /// stored microseconds × 1000; a writer with microsecond precision rounds it down.
  public var timestampNanoseconds: UInt32
  /// The packet's length on the wire; at least `data.count` unless the capture was truncated.
  public var originalLength: UInt32
  /// The captured bytes (`incl_len` of them).
  public var data: [UInt8]
  /// For pcapng records: the `LINKTYPE_*` value of the record's interface (files may mix link
  /// types). `nil` for classic pcap records: use the file header's.
  public var linkTypeValue: UInt32? = nil
  /// The record's link type: `linkTypeValue` when PacketKit knows it.
  public var linkType: LinkType? { linkTypeValue.flatMap(LinkType.init(rawValue:)) }

  /// A record. `originalLength` defaults to `data.count`.
  public init(
    data: [UInt8], timestampSeconds: UInt32 = 0, timestampNanoseconds: UInt32 = 0,
    originalLength: UInt32? = nil
  ) {
    self.data = data
    self.timestampSeconds = timestampSeconds
    self.timestampNanoseconds = timestampNanoseconds
    self.originalLength = originalLength ?? UInt32(truncatingIfNeeded: data.count)
  }

  /// Whether fewer bytes were captured than the packet had on the wire.
  public var isTruncated: Bool { UInt64(data.count) < UInt64(originalLength) }
}

/// What can go wrong reading a pcap file.
public enum PcapError: Error, Hashable, Sendable {
  /// The first four bytes are not a pcap magic number (value shown read big-endian).
  case badMagic(UInt32)
  /// A pcapng block that cannot be read (`offset` from the start of the file).
  case badBlock(offset: Int, reason: String)
  /// The major version is not 2.
  case unsupportedVersion(major: UInt16, minor: UInt16)
  /// A record claims more captured bytes than any sane capture holds (`limit`).
  case recordTooLarge(index: Int, capturedLength: UInt32, limit: UInt32)
  /// The input ended inside the file header or a record.
  case truncated(context: String, needed: Int, available: Int)
}

extension PcapError: CustomStringConvertible {
  public var description: String {
    switch self {
    case .badMagic(let magic):
      "not a pcap file (magic 0x\(Fmt.hex(magic, width: 8)))"
    case .badBlock(let offset, let reason):
      "corrupt pcapng block at byte \(offset): \(reason)"
    case .unsupportedVersion(let major, let minor):
      "unsupported pcap version \(major).\(minor)"
    case .recordTooLarge(let index, let length, let limit):
      "record \(index + 1) claims \(length) captured bytes (more than \(limit)): file is corrupt"
    case .truncated(let context, let needed, let available):
      "file ends inside \(context): needs \(needed) bytes, \(available) available"
    }
  }
}

/// Writes pcap files into memory: a file header, then records.
///
/// Two ways to use it: append to a buffer you own (`appendFileHeader(to:)` and
/// `appendRecord(...)`), or give it a sink that receives each encoded piece
/// (`init(header:sink:)`, then `write(...)`). Either way nothing is written to disk by PacketKit.
///
/// ```swift
/// var file: [UInt8] = []
/// let writer = PcapWriter(linkType: .raw)
/// writer.appendFileHeader(to: &file)
/// writer.appendRecord(packetBytes, timestampSeconds: 1_700_000_000, to: &file)
/// ```
public struct PcapWriter {
  /// The header every file from this writer starts with.
  public let header: PcapFileHeader
  private let sink: (([UInt8]) -> Void)?
  private var scratch: [UInt8] = []

  /// A writer for buffers you pass in.
  public init(
    linkType: LinkType, precision: PcapTimestampPrecision = .microseconds,
    snapLength: UInt32 = 262_144, byteOrder: PcapByteOrder = .littleEndian
  ) {
    self.init(
      header: PcapFileHeader(
        linkType: linkType, precision: precision, snapLength: snapLength, byteOrder: byteOrder))
  }

  /// A writer with an explicit header (any link-type value, time zone, ...).
  public init(header: PcapFileHeader) {
    self.header = header
    self.sink = nil
  }

  /// A writer that hands every encoded piece to `sink`, starting with the file header (called
  /// at once from this initialiser). The array passed to `sink` is reused storage: copy it if you
  /// keep it beyond the call (e.g. `FileHandle.write(Data(bytes))` copies).
  public init(header: PcapFileHeader, sink: @escaping ([UInt8]) -> Void) {
    self.header = header
    self.sink = sink
    scratch.reserveCapacity(2048)
    header.encode(into: &scratch)
    sink(scratch)
  }

  /// Appends the 24-byte file header to `buffer`.
  public func appendFileHeader(to buffer: inout [UInt8]) {
    header.encode(into: &buffer)
  }

  /// Appends one record to `buffer`. Bytes beyond the snap length are not written (as a capture
  /// would have cut them); `originalLength` defaults to `data.count`.
  public func appendRecord(
    _ data: some Collection<UInt8>, timestampSeconds: UInt32 = 0,
    timestampNanoseconds: UInt32 = 0, originalLength: UInt32? = nil, to buffer: inout [UInt8]
  ) {
    let big = header.byteOrder == .bigEndian
    let snap = header.snapLength == 0 ? Int.max : Int(header.snapLength)
    let captured = min(data.count, snap)
    let fraction =
      header.precision == .microseconds ? timestampNanoseconds / 1000 : timestampNanoseconds
    buffer.pcapAppendUInt32(timestampSeconds, bigEndian: big)
    buffer.pcapAppendUInt32(fraction, bigEndian: big)
    buffer.pcapAppendUInt32(UInt32(truncatingIfNeeded: captured), bigEndian: big)
    buffer.pcapAppendUInt32(
      originalLength ?? UInt32(truncatingIfNeeded: data.count), bigEndian: big)
    buffer.append(contentsOf: data.prefix(captured))
  }

  /// Appends `record` to `buffer`.
  public func appendRecord(_ record: PcapRecord, to buffer: inout [UInt8]) {
    appendRecord(
      record.data, timestampSeconds: record.timestampSeconds,
      timestampNanoseconds: record.timestampNanoseconds,
      originalLength: record.originalLength, to: &buffer)
  }

  /// Encodes one record and hands it to the sink. Does nothing for a writer made without a sink.
  public mutating func write(
    _ data: some Collection<UInt8>, timestampSeconds: UInt32 = 0,
    timestampNanoseconds: UInt32 = 0, originalLength: UInt32? = nil
  ) {
    guard let sink else { return }
    scratch.removeAll(keepingCapacity: true)
    appendRecord(
      data, timestampSeconds: timestampSeconds, timestampNanoseconds: timestampNanoseconds,
      originalLength: originalLength, to: &scratch)
    sink(scratch)
  }

  /// Encodes `record` and hands it to the sink.
  public mutating func write(_ record: PcapRecord) {
    write(
      record.data, timestampSeconds: record.timestampSeconds,
      timestampNanoseconds: record.timestampNanoseconds, originalLength: record.originalLength)
  }

  /// A whole file in one array: header and `records`.
  public static func file(
    linkType: LinkType, precision: PcapTimestampPrecision = .microseconds,
    records: [PcapRecord]
  ) -> [UInt8] {
    let writer = PcapWriter(linkType: linkType, precision: precision)
    var buffer: [UInt8] = []
    writer.appendFileHeader(to: &buffer)
    for record in records { writer.appendRecord(record, to: &buffer) }
    return buffer
  }
}

/// Reads a pcap file — classic pcap (µs or ns, either byte order) or pcapng (section header,
/// interface description, enhanced/simple/obsolete packet blocks; other blocks skipped) —
/// incrementally from byte chunks, in any chunk sizes.
///
/// For pcapng, `header` describes the first interface (its link type and snap length, nanosecond
/// precision) and every record carries its own interface's `linkTypeValue`.
///
/// Feed bytes with `append(_:)`, then call `next()` until it returns `nil` (more bytes needed);
/// at the end of the input call `finish()`, which reports a file that stops inside a record.
/// Errors are sticky: after one, `next()` keeps throwing it.
///
/// ```swift
/// var reader = PcapReader()
/// while let chunk = readSomeBytes() {
///   reader.append(chunk)
///   while let record = try reader.next() { handle(record) }
/// }
/// try reader.finish()
/// ```
public struct PcapReader: Sendable {
  /// The file header, once 24 bytes have arrived.
  public private(set) var header: PcapFileHeader?
  /// Records returned so far.
  public private(set) var recordCount = 0
  /// Captured lengths above this are treated as corruption (`PcapError.recordTooLarge`).
  public var maximumRecordLength: UInt32 = 0x0100_0000

  private var buffer: [UInt8] = []
  private var position = 0
  private var failure: PcapError?
  /// Bytes consumed before `buffer[0]` (for error offsets).
  private var consumedBefore = 0
  private var isPcapNG = false
  private var ngBigEndian = false
  private var interfaces: [(linkType: UInt32, unitsPerSecond: UInt64)] = []

  public init() {}

  /// Bytes received but not yet consumed.
  public var bufferedByteCount: Int { buffer.count - position }

  /// Adds the next bytes of the file.
  public mutating func append(_ chunk: some Sequence<UInt8>) {
    if position > 0 && position >= buffer.count / 2 {
      buffer.removeSubrange(0..<position)
      consumedBefore += position
      position = 0
    }
    buffer.append(contentsOf: chunk)
  }

  /// The next record, or `nil` when more bytes are needed.
  /// - Throws: `PcapError` for a bad file header or a corrupt record length.
  public mutating func next() throws(PcapError) -> PcapRecord? {
    if let failure { throw failure }
    do {
      return try readNext()
    } catch {
      failure = error
      throw error
    }
  }

  private mutating func readNext() throws(PcapError) -> PcapRecord? {
    if !isPcapNG && header == nil && bufferedByteCount >= 4
      && buffer[position..<(position + 4)].elementsEqual([0x0A, 0x0D, 0x0D, 0x0A])
    {
      isPcapNG = true
    }
    if isPcapNG { return try readBlock() }
    if header == nil {
      guard bufferedByteCount >= PcapFileHeader.length else {
        // Reject a wrong magic as soon as four bytes are here.
        if bufferedByteCount >= 4 {
          _ = try PcapFileHeaderMagic.check(buffer[position..<(position + 4)])
        }
        return nil
      }
      header = try PcapFileHeader(parsing: buffer[position..<(position + PcapFileHeader.length)])
      position += PcapFileHeader.length
    }
    guard let header, bufferedByteCount >= 16 else { return nil }
    let big = header.byteOrder == .bigEndian
    let start = position
    let (seconds, fraction, captured, original) = buffer.withCursor { buffer in
      var cursor = buffer
      cursor.readerIndex = start
      return (
        cursor.read32(bigEndian: big), cursor.read32(bigEndian: big), cursor.read32(bigEndian: big),
        cursor.read32(bigEndian: big)
      )
    }
    // The reader's limit alone: a file's own header (its snap length) must not raise it.
    let limit = maximumRecordLength
    guard captured <= limit else {
      throw .recordTooLarge(index: recordCount, capturedLength: captured, limit: limit)
    }
    let total = 16 + Int(captured)
    guard bufferedByteCount >= total else { return nil }
    let data = Array(buffer[(position + 16)..<(position + total)])
    position += total
    recordCount += 1
    let nanoseconds: UInt32
    if header.precision == .microseconds {
      let (product, overflow) = fraction.multipliedReportingOverflow(by: 1000)
      nanoseconds = overflow ? UInt32.max : product
    } else {
      nanoseconds = fraction
    }
    return PcapRecord(
      data: data, timestampSeconds: seconds, timestampNanoseconds: nanoseconds,
      originalLength: original)
  }

  /// Call when the input has ended.
  /// - Throws: `PcapError.truncated` when the input stopped inside the header or a record, and
  ///   any error `next()` already reported.
  public func finish() throws(PcapError) {
    if let failure { throw failure }
    let left = bufferedByteCount
    guard left > 0 else {
      if header == nil { throw .truncated(context: "file header", needed: PcapFileHeader.length, available: 0) }
      return
    }
    if header == nil {
      throw .truncated(context: "file header", needed: PcapFileHeader.length, available: left)
    }
    if isPcapNG {
      throw .truncated(context: "pcapng block after record \(recordCount)", needed: left + 1, available: left)
    }
    if left < 16 {
      throw .truncated(context: "record \(recordCount + 1) header", needed: 16, available: left)
    }
    let at = position + 8
    let big = header?.byteOrder == .bigEndian
    let captured = buffer.withCursor { $0.u32(at, bigEndian: big) }
    throw .truncated(
      context: "record \(recordCount + 1)", needed: 16 + Int(captured), available: left)
  }

  /// Reads a whole file held in memory.
  /// - Throws: `PcapError` as `next()` and `finish()` do.
  public static func read(_ bytes: some Sequence<UInt8>) throws(PcapError) -> (
    header: PcapFileHeader, records: [PcapRecord]
  ) {
    var reader = PcapReader()
    reader.append(bytes)
    var records: [PcapRecord] = []
    while let record = try reader.next() { records.append(record) }
    try reader.finish()
    guard let header = reader.header else {
      throw .truncated(context: "file header", needed: PcapFileHeader.length, available: 0)
    }
    return (header, records)
  }
}

extension PcapReader {
  private func word(_ offset: Int) -> UInt32 {
    let at = position + offset
    let big = ngBigEndian
    return buffer.withCursor { $0.u32(at, bigEndian: big) }
  }

  /// Reads pcapng blocks until one holds a packet (or more bytes are needed).
  private mutating func readBlock() throws(PcapError) -> PcapRecord? {
    while true {
      guard bufferedByteCount >= 12 else { return nil }
      let offset = consumedBefore + position
      let isSection = buffer[position..<(position + 4)].elementsEqual([0x0A, 0x0D, 0x0D, 0x0A])
      if isSection {
        let at = position + 8
        switch buffer.withCursor({ $0.u32(at) }) {
        case 0x1A2B_3C4D: ngBigEndian = true
        case 0x4D3C_2B1A: ngBigEndian = false
        default: throw .badBlock(offset: offset, reason: "bad byte-order magic")
        }
        interfaces = []
      } else if consumedBefore + position == 0 {
        throw .badBlock(offset: 0, reason: "no section header")
      }
      let type = word(0)
      let length = Int(word(4))
      guard length >= 12, length % 4 == 0, length <= Int(maximumRecordLength) + 64 else {
        throw .badBlock(offset: offset, reason: "block length \(length)")
      }
      guard bufferedByteCount >= length else { return nil }
      guard Int(word(length - 4)) == length else {
        throw .badBlock(offset: offset, reason: "trailing length differs from \(length)")
      }
      defer { position += length }
      let body = 8..<(length - 4)
      switch type {
      case 1:  // interface description
        guard body.count >= 8 else { throw .badBlock(offset: offset, reason: "short interface block") }
        let linkType = word(8) >> (ngBigEndian ? 16 : 0) & 0xFFFF
        let snapLength = word(12)
        var unitsPerSecond: UInt64 = 1_000_000
        var option = 16
        while option + 4 <= length - 4 {
          let codeAndLength = word(option)
          let code = ngBigEndian ? codeAndLength >> 16 : codeAndLength & 0xFFFF
          let optionLength = Int(ngBigEndian ? codeAndLength & 0xFFFF : codeAndLength >> 16)
          if code == 0 { break }
          if code == 9 && optionLength >= 1 && option + 5 <= length - 4 {
            let value = buffer[position + option + 4]
            let exponent = UInt64(value & 0x7F)
            if value & 0x80 != 0 {
              unitsPerSecond = exponent < 64 ? 1 << exponent : 1
            } else if exponent <= 19 {
              unitsPerSecond = (0..<exponent).reduce(1) { value, _ in value * 10 }
            }
          }
          option += 4 + (optionLength + 3) / 4 * 4
        }
        interfaces.append((linkType, unitsPerSecond))
        if header == nil {
          var fileHeader = PcapFileHeader(
            linkType: .ethernet, precision: .nanoseconds, snapLength: snapLength,
            byteOrder: ngBigEndian ? .bigEndian : .littleEndian)
          fileHeader.linkTypeField = linkType
          header = fileHeader
        }
      case 6, 2:  // enhanced packet, obsolete packet
        guard body.count >= 20 else { throw .badBlock(offset: offset, reason: "short packet block") }
        let interface = type == 6 ? Int(word(8)) : Int(word(8) >> (ngBigEndian ? 16 : 0) & 0xFFFF)
        guard interface < interfaces.count else {
          throw .badBlock(offset: offset, reason: "packet for undeclared interface \(interface)")
        }
        let timestamp = UInt64(word(12)) << 32 | UInt64(word(16))
        let captured = Int(word(20))
        let original = word(24)
        guard captured <= length - 32 else {
          throw .badBlock(offset: offset, reason: "captured length \(captured) exceeds the block")
        }
        let units = interfaces[interface].unitsPerSecond
        let seconds = timestamp / units
        let fraction = timestamp % units
        let (high, low) = fraction.multipliedFullWidth(by: 1_000_000_000)
        let nanoseconds = units.dividingFullWidth((high, low)).quotient
        recordCount += 1
        var record = PcapRecord(
          data: Array(buffer[(position + 28)..<(position + 28 + captured)]),
          timestampSeconds: UInt32(truncatingIfNeeded: seconds),
          timestampNanoseconds: UInt32(truncatingIfNeeded: nanoseconds), originalLength: original)
        record.linkTypeValue = interfaces[interface].linkType
        return record
      case 3:  // simple packet: interface 0, no timestamp
        guard body.count >= 4, !interfaces.isEmpty else {
          throw .badBlock(offset: offset, reason: "simple packet without an interface")
        }
        let original = word(8)
        let captured = min(Int(original), length - 16)
        recordCount += 1
        var record = PcapRecord(
          data: Array(buffer[(position + 12)..<(position + 12 + captured)]), originalLength: original)
        record.linkTypeValue = interfaces[0].linkType
        return record
      default:
        continue  // section header (handled above), statistics, name resolution, custom...
      }
    }
  }
}

private enum PcapFileHeaderMagic {
  static func check(_ bytes: ArraySlice<UInt8>) throws(PcapError) -> Bool {
    var value: UInt32 = 0
    for byte in bytes.prefix(4) { value = value << 8 | UInt32(byte) }
    switch value {
    case 0xA1B2_C3D4, 0xD4C3_B2A1, 0xA1B2_3C4D, 0x4D3C_B2A1, 0x0A0D_0D0A: return true
    default: throw .badMagic(value)
    }
  }
}

extension Array where Element == UInt8 {
  @inline(__always)
  mutating func pcapAppendUInt16(_ value: UInt16, bigEndian: Bool) {
    if bigEndian {
      append(UInt8(truncatingIfNeeded: value >> 8))
      append(UInt8(truncatingIfNeeded: value))
    } else {
      append(UInt8(truncatingIfNeeded: value))
      append(UInt8(truncatingIfNeeded: value >> 8))
    }
  }

  @inline(__always)
  mutating func pcapAppendUInt32(_ value: UInt32, bigEndian: Bool) {
    if bigEndian {
      pcapAppendUInt16(UInt16(truncatingIfNeeded: value >> 16), bigEndian: true)
      pcapAppendUInt16(UInt16(truncatingIfNeeded: value), bigEndian: true)
    } else {
      pcapAppendUInt16(UInt16(truncatingIfNeeded: value), bigEndian: false)
      pcapAppendUInt16(UInt16(truncatingIfNeeded: value >> 16), bigEndian: false)
    }
  }
}
