// The byte cursor every reader of captured bytes goes through (`ByteCursor`), the big-endian
// accessors the views use on their slices, and the writer the encoders use.

/// Reads over a frame's (or file's) memory at zero-based offsets, valid only inside the
/// `withUnsafeBytes` that made it: no slice is made and no reference is counted per read.
///
/// - Lenient reads (`u8`, `u16`, `u32`, `u64`, `slice`): past the end they give 0 (or a shorter
///   slice) rather than trapping, so a logic slip in a caller that has checked lengths is harmless.
/// - Checked reads (`get8`/`get16`/`get32` before a limit, `has`): `nil` / `false` when the bytes
///   are not all there — the tcpdump printer's "captured end" checks.
/// - NIO-style reading (`readerIndex`, `read16`/`read32` in either byte order, `skip`): the
///   pcap reader's record headers.
///
/// Serves the dissector, the tcpdump printer, `show()`, the link-layer views and the pcap reader.
struct ByteCursor {
  let base: UnsafeRawBufferPointer
  /// Where `read16`/`read32` read next.
  var readerIndex = 0
  var count: Int { base.count }
  /// Bytes from `readerIndex` to the end.
  var readableBytes: Int { max(0, base.count &- readerIndex) }

  init(_ base: UnsafeRawBufferPointer) { self.base = base }

  @inline(__always) func u8(_ offset: Int) -> UInt8 {
    guard offset >= 0, offset < base.count else { return 0 }
    return base.load(fromByteOffset: offset, as: UInt8.self)
  }
  @inline(__always) func u16(_ offset: Int) -> UInt16 {
    guard offset >= 0, offset <= base.count &- 2 else { return UInt16(u8(offset)) << 8 | UInt16(u8(offset &+ 1)) }
    return UInt16(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
  }
  @inline(__always) func u32(_ offset: Int) -> UInt32 {
    guard offset >= 0, offset <= base.count &- 4 else { return UInt32(u16(offset)) << 16 | UInt32(u16(offset &+ 2)) }
    return UInt32(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }
  @inline(__always) func u64(_ offset: Int) -> UInt64 {
    guard offset >= 0, offset <= base.count &- 8 else { return u64Lenient(offset) }
    return UInt64(bigEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }
  /// `u64` near or past the end (0 for the missing bytes), out of line so that `u64` inlines.
  @inline(never) func u64Lenient(_ offset: Int) -> UInt64 {
    UInt64(u32(offset)) << 32 | UInt64(u32(offset &+ 4))
  }
  /// The 16- or 32-bit value at `offset` in the given byte order.
  @inline(__always) func u16(_ offset: Int, bigEndian: Bool) -> UInt16 {
    bigEndian ? u16(offset) : u16(offset).byteSwapped
  }
  @inline(__always) func u32(_ offset: Int, bigEndian: Bool) -> UInt32 {
    bigEndian ? u32(offset) : u32(offset).byteSwapped
  }

  /// The bytes in `start..<end`, clamped to the buffer.
  @inline(__always) func slice(_ start: Int, _ end: Int) -> UnsafeRawBufferPointer {
    let lower = max(0, min(start, base.count))
    let upper = max(lower, min(end, base.count))
    return UnsafeRawBufferPointer(rebasing: base[lower..<upper])
  }

  /// Whether `count` bytes from `offset` are all before `limit` (and in the buffer).
  @inline(__always) func has(_ offset: Int, _ count: Int, before limit: Int) -> Bool {
    offset >= 0 && count >= 0 && offset &+ count <= min(limit, base.count)
  }
  @inline(__always) func get8(_ offset: Int, before limit: Int) -> UInt8? {
    has(offset, 1, before: limit) ? u8(offset) : nil
  }
  @inline(__always) func get16(_ offset: Int, before limit: Int) -> UInt16? {
    has(offset, 2, before: limit) ? u16(offset) : nil
  }
  @inline(__always) func get32(_ offset: Int, before limit: Int) -> UInt32? {
    has(offset, 4, before: limit) ? u32(offset) : nil
  }

  /// Reads the 16-bit value at `readerIndex` and moves past it (0 past the end).
  mutating func read16(bigEndian: Bool) -> UInt16 {
    defer { readerIndex &+= 2 }
    return u16(readerIndex, bigEndian: bigEndian)
  }
  /// Reads the 32-bit value at `readerIndex` and moves past it (0 past the end).
  mutating func read32(bigEndian: Bool) -> UInt32 {
    defer { readerIndex &+= 4 }
    return u32(readerIndex, bigEndian: bigEndian)
  }
  mutating func skip(_ count: Int) { readerIndex &+= count }
}

extension ArraySlice where Element == UInt8 {
  /// `body` given a cursor over these bytes (offsets from `startIndex`).
  @inline(__always) func withCursor<Result>(_ body: (ByteCursor) -> Result) -> Result {
    withUnsafeBytes { body(ByteCursor($0)) }
  }
}

extension Array where Element == UInt8 {
  /// `body` given a cursor over these bytes.
  @inline(__always) func withCursor<Result>(_ body: (ByteCursor) -> Result) -> Result {
    withUnsafeBytes { body(ByteCursor($0)) }
  }
}

extension ArraySlice where Element == UInt8 {
  /// The byte at `offset` from `startIndex`. The caller has checked the bounds.
  @inlinable @inline(__always)
  internal func byte(at offset: Int) -> UInt8 { self[startIndex &+ offset] }

  /// The big-endian 16-bit value at `offset` from `startIndex`. The caller has checked the bounds.
  @inlinable @inline(__always)
  internal func uint16(at offset: Int) -> UInt16 {
    UInt16(self[startIndex &+ offset]) << 8 | UInt16(self[startIndex &+ offset &+ 1])
  }

  /// The big-endian 32-bit value at `offset` from `startIndex`. The caller has checked the bounds.
  @inlinable @inline(__always)
  internal func uint32(at offset: Int) -> UInt32 {
    UInt32(uint16(at: offset)) << 16 | UInt32(uint16(at: offset &+ 2))
  }

  /// The bytes `offset..<offset+count` from `startIndex`, clamped to the slice.
  @inlinable internal func clampedSlice(from offset: Int, count: Int) -> ArraySlice<UInt8> {
    let lower = Swift.min(Swift.max(offset, 0), self.count)
    let upper = Swift.min(Swift.max(lower, lower + Swift.max(count, 0)), self.count)
    return self[(startIndex + lower)..<(startIndex + upper)]
  }

  /// The bytes from `offset` to the end, clamped.
  @inlinable internal func clampedSuffix(from offset: Int) -> ArraySlice<UInt8> {
    let lower = Swift.min(Swift.max(offset, 0), count)
    return self[(startIndex + lower)...]
  }
}

/// Big-endian reads at offsets from the start, shared by the two kinds of checked view: the
/// `ArraySlice` views (`IPv4View`, `TCPView`, ...) and the non-escapable `RawSpan` views
/// (`IPv4SpanView`, `TCPSpanView`), so that decoders such as `TCPOption.decode` are written once.
/// The caller has checked the bounds (reads past the end trap, as a subscript does).
@usableFromInline
internal protocol BigEndianBytes: ~Escapable {
  var byteCount: Int { get }
  func byte(at offset: Int) -> UInt8
  func uint16(at offset: Int) -> UInt16
  func uint32(at offset: Int) -> UInt32
  /// A copy of `offset..<offset+count`, clamped to the bytes.
  func copyBytes(from offset: Int, count: Int) -> [UInt8]
}

extension ArraySlice: BigEndianBytes where Element == UInt8 {
  @inlinable var byteCount: Int { count }
  @inlinable func copyBytes(from offset: Int, count: Int) -> [UInt8] {
    Array(clampedSlice(from: offset, count: count))
  }
}

extension RawSpan: BigEndianBytes {
  @inlinable @inline(__always) func byte(at offset: Int) -> UInt8 {
    unsafeLoad(fromByteOffset: offset, as: UInt8.self)
  }
  @inlinable @inline(__always) func uint16(at offset: Int) -> UInt16 {
    UInt16(bigEndian: unsafeLoadUnaligned(fromByteOffset: offset, as: UInt16.self))
  }
  @inlinable @inline(__always) func uint32(at offset: Int) -> UInt32 {
    UInt32(bigEndian: unsafeLoadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }
  @inlinable func copyBytes(from offset: Int, count: Int) -> [UInt8] {
    let lower = Swift.min(Swift.max(offset, 0), byteCount)
    let upper = Swift.min(Swift.max(lower, lower + Swift.max(count, 0)), byteCount)
    return extracting(lower..<upper).withUnsafeBytes { Array($0) }
  }
  /// The bytes `offset..<offset+count`, clamped (the span counterpart of `clampedSlice`).
  @inlinable @_lifetime(copy self)
  func clampedExtracting(from offset: Int, count: Int) -> RawSpan {
    let lower = Swift.min(Swift.max(offset, 0), byteCount)
    let upper = Swift.min(Swift.max(lower, lower + Swift.max(count, 0)), byteCount)
    return extracting(unchecked: lower..<upper)
  }
}

/// Writes big-endian values at byte offsets of a raw buffer the encoder has sized beforehand.
@usableFromInline
internal struct ByteWriter {
  @usableFromInline let base: UnsafeMutablePointer<UInt8>

  @inlinable init(_ base: UnsafeMutablePointer<UInt8>) { self.base = base }

  @inlinable @inline(__always) func put(_ value: UInt8, at offset: Int) {
    base[offset] = value
  }

  @inlinable @inline(__always) func put(_ value: UInt16, at offset: Int) {
    // One unaligned big-endian store.
    UnsafeMutableRawPointer(base + offset).storeBytes(of: value.bigEndian, as: UInt16.self)
  }

  @inlinable @inline(__always) func put(_ value: UInt32, at offset: Int) {
    UnsafeMutableRawPointer(base + offset).storeBytes(of: value.bigEndian, as: UInt32.self)
  }

  @inlinable func put(_ bytes: [UInt8], at offset: Int) {
    bytes.withUnsafeBufferPointer { source in
      guard let from = source.baseAddress, !source.isEmpty else { return }
      // A raw memory copy (not `update(from:count:)`, whose generic assignment the optimizer
      // counts as possibly releasing objects: that would make it copy headers around encoders).
      UnsafeMutableRawPointer(base + offset).copyMemory(from: from, byteCount: source.count)
    }
  }

  @inlinable func fill(_ value: UInt8, at offset: Int, count: Int) {
    guard count > 0 else { return }
    (base + offset).update(repeating: value, count: count)
  }

  @inlinable func checksum(at offset: Int, count: Int) -> InternetChecksum {
    var sum = InternetChecksum()
    sum.add(UnsafeRawBufferPointer(start: base + offset, count: count))
    return sum
  }
}

/// One option found by `OptionScanner`: its kind, and where its bytes (kind, length and data)
/// are in the options area (offsets from the area's `startIndex`). No slice is made, so
/// scanning costs no reference counting.
@usableFromInline
internal struct ScannedOption {
  @usableFromInline var kind: UInt8
  @usableFromInline var offset: Int
  @usableFromInline var length: Int

  @inlinable init(kind: UInt8, offset: Int, length: Int) {
    self.kind = kind
    self.offset = offset
    self.length = length
  }
}

/// Walks an IPv4 or TCP options area (RFC 791 §3.1, RFC 9293 §3.1): kinds 0 (EOL) and 1 (NOP)
/// are one octet; every other kind has a length octet that counts kind and length. Reports a
/// length 0/1 or an overrun as an error and stops; never traps.
@usableFromInline
internal struct OptionScanner {
  @usableFromInline let area: ArraySlice<UInt8>
  @usableFromInline let layer: ProtocolLayer
  /// Offset of the next option from `area.startIndex`.
  @usableFromInline var offset = 0
  @usableFromInline var stopped = false
  /// Stop after the first EOL (true for iteration; header decoding keeps going).
  @usableFromInline let stopAtEndOfList: Bool

  @inlinable init(_ area: ArraySlice<UInt8>, layer: ProtocolLayer, stopAtEndOfList: Bool) {
    self.area = area
    self.layer = layer
    self.stopAtEndOfList = stopAtEndOfList
  }

  @inlinable mutating func next() -> Result<ScannedOption, PacketError>? {
    guard !stopped, offset < area.count else { return nil }
    // The closure reads through `self` (no copy of the slice, no reference counted).
    let step = OptionScanner.step(at: offset, end: area.count) { self.area.byte(at: $0) }
    return OptionScanner.advance(step, offset: &offset, stopped: &stopped, layer: layer, stopAtEndOfList: stopAtEndOfList)
  }

  /// One step of a scan (this scanner's, or a span view's): the option found at `offset`, or the
  /// error that stops the scan; moves `offset` past a well-formed option.
  @inlinable @inline(__always)
  static func advance(
    _ step: Step, offset: inout Int, stopped: inout Bool, layer: ProtocolLayer, stopAtEndOfList: Bool
  ) -> Result<ScannedOption, PacketError> {
    switch step {
    case .option(let kind, let length):
      let option = ScannedOption(kind: kind, offset: offset, length: length)
      offset &+= length
      if kind == 0, stopAtEndOfList { stopped = true }
      return .success(option)
    case .malformed(let kind, let length, let available):
      stopped = true
      guard let length else {
        return .failure(.optionOverrun(layer: layer, kind: kind, length: 0, available: available, offset: offset))
      }
      return .failure(
        length < 2
          ? .invalidOptionLength(layer: layer, kind: kind, length: length, offset: offset)
          : .optionOverrun(layer: layer, kind: kind, length: length, available: available, offset: offset))
    }
  }

  /// What the option at `offset` of an options area ending at `end` is.
  @usableFromInline enum Step {
    /// A well-formed option of `length` bytes (1 for EOL and NOP).
    case option(kind: UInt8, length: Int)
    /// A length octet that is missing (`nil`), 0, 1, or runs past the area (`available` bytes
    /// were left from `offset`).
    case malformed(kind: UInt8, length: UInt8?, available: Int)
  }

  /// The one option-walking rule (RFC 791 §3.1, RFC 9293 §3.1), shared by the scanner (views,
  /// header decoding, option storage, `show()`) and the dissector's problem check: kinds 0 and 1
  /// are one octet, every other kind has a length octet counting kind and length. `byte` reads
  /// the area at an offset below `end`; `offset < end`.
  @inlinable @inline(__always)
  static func step(at offset: Int, end: Int, byte: (Int) -> UInt8) -> Step {
    let length = optionLength(at: offset, end: end, byte: byte)
    let kind = byte(offset)
    if length > 0 { return .option(kind: kind, length: length) }
    let available = end &- offset
    return .malformed(kind: kind, length: available >= 2 ? byte(offset &+ 1) : nil, available: available)
  }

  /// The rule itself, in a form that stays in registers (hot loops such as the dissector's
  /// problem check call it directly, and `step` for the details only when it says malformed):
  /// the length of the well-formed option at `offset` (1 for EOL and NOP), or 0 when its length
  /// octet is missing, 0, 1 or runs past `end`.
  @inlinable @inline(__always)
  static func optionLength(at offset: Int, end: Int, byte: (Int) -> UInt8) -> Int {
    let kind = byte(offset)
    if kind <= 1 { return 1 }
    let available = end &- offset
    guard available >= 2 else { return 0 }
    let length = Int(byte(offset &+ 1))
    return length >= 2 && length <= available ? length : 0
  }
}

extension OptionScanner {
  /// Decodes an options area so that encoding the result (with its padding) gives back exactly
  /// `area`: an EOL is kept, the zero padding after it is dropped, zeros beyond that stay as EOL
  /// options, a malformed option and everything after it become one `raw(kind, rest)`.
  /// Shared by `IPv4Option.decodeAll` and `TCPOption.decodeAll`.
  internal static func decodeAll<Option>(
    _ area: ArraySlice<UInt8>, layer: ProtocolLayer, decode: (ScannedOption) -> Option,
    raw: (_ kind: UInt8, _ bytes: [UInt8]) -> Option
  ) -> [Option] {
    var options: [Option] = []
    var scanner = OptionScanner(area, layer: layer, stopAtEndOfList: false)
    while true {
      let start = scanner.offset
      guard let next = scanner.next() else { break }
      switch next {
      case .success(let option):
        options.append(decode(option))
        // Zeros after an EOL that re-encoding would write as padding end the list.
        if option.kind == 0, isPadding(area, from: scanner.offset) { return options }
      case .failure:
        let rest = area.clampedSuffix(from: start)
        options.append(raw(rest.byte(at: 0), Array(rest.dropFirst())))
        return options
      }
    }
    return options
  }
}

/// Whether the options area from `offset` on is padding that re-encoding `offset` option bytes
/// would reproduce: all zeros, and exactly the zeros needed to reach a multiple of four.
internal func isPadding(_ area: ArraySlice<UInt8>, from offset: Int) -> Bool {
  guard (offset + 3) & ~3 == area.count else { return false }
  return area.clampedSuffix(from: offset).allSatisfy { $0 == 0 }
}
