/// A TCP or IPv4 option kind that `InlineOptionArea` can keep: how a list of them is written,
/// how one is read back, and its two byte-exact forms.
internal protocol InlineAreaOption: Equatable {
  /// The layer errors and scans name.
  static var areaLayer: ProtocolLayer { get }
  /// Bytes the option occupies when encoded.
  var encodedLength: Int { get }
  /// Writes `options` at `offset`; the end offset, or the error for a field that does not fit.
  static func write(_ options: [Self], _ out: ByteWriter, at offset: Int) -> (end: Int, error: PacketError?)
  /// Decodes one well-formed option found by `OptionScanner`.
  static func decode(_ option: ScannedOption, in area: ArraySlice<UInt8>) -> Self
  /// Kind, length octet, data.
  static func unknown(kind: UInt8, data: [UInt8]) -> Self
  /// Kind, then bytes verbatim.
  static func raw(kind: UInt8, bytes: [UInt8]) -> Self
}

/// The options of a `TCPHeader` or an `IPv4Header`, kept as plain bytes, so that a header copies
/// as its bytes: no reference counting, no value-witness call when a header goes into or out of
/// a `Layer` (that is what makes `packet.layers[1] = .tcp(tcp)` and `Packet.encode(into:)` cheap;
/// see Benchmarks/README.md).
///
/// Both options areas hold at most 40 bytes on the wire (a 4-bit header length). The area keeps
/// the encoded bytes (`words`, zero from `count` on), their ones'-complement sum, where each
/// option starts, and which options were given as `.unknown` or `.raw`, so that `options(as:)`
/// gives back exactly the list it was made from. The representation is canonical (one list, one
/// area), so `==` compares lists.
///
/// A list that cannot be written into 40 bytes (longer, or with a field that does not fit, such
/// as an IPv4 timestamp overflow of 16) is kept only as its `failure`: encoding the header then
/// throws what encoding that list threw, and the header reads back no options.
@usableFromInline
internal struct InlineOptionArea: Hashable, Sendable, BitwiseCopyable {
  /// The room: a header length of 15 words leaves 40 bytes for options.
  @inlinable internal static var capacity: Int { 40 }

  /// The encoded options in wire order (the tuple's memory, byte by byte). A tuple of integers,
  /// not an `InlineArray`: a header holding an `InlineArray` is copied through its value witness.
  @usableFromInline internal var words: (UInt64, UInt64, UInt64, UInt64, UInt64)
  /// Bits 0...40: bit i, an option starts at byte i. Bits 48...55: `count`. Bits 56...63:
  /// `failureCode`. (Packed, with `tally`, into two words so that a header stays small: a
  /// `TCPHeader` is 80 bytes, five 16-byte moves.)
  @usableFromInline internal var shape: UInt64
  /// Bits 0...40: `marks`. Bits 41...63: `wordSum` (at most 20 × 0xFFFF < 2^21).
  @usableFromInline internal var tally: UInt64

  /// Bit i: an option starts at byte i.
  @inlinable internal var starts: UInt64 {
    get { shape & Self.bitsMask }
    set { shape = shape & ~Self.bitsMask | newValue & Self.bitsMask }
  }
  /// Bit i, where an option starts: it was given (or decoded) as `.raw`. Bit i + 1, where an
  /// option starts at i and none at i + 1: it was given as `.unknown` (its bytes would decode as
  /// a known kind). An `.unknown` option takes at least 2 bytes, so the two never collide.
  @inlinable internal var marks: UInt64 {
    get { tally & Self.bitsMask }
    set { tally = tally & ~Self.bitsMask | newValue & Self.bitsMask }
  }
  /// The sum of the bytes as big-endian 16-bit words (unfolded; 20 words cannot overflow).
  @inlinable internal var wordSum: UInt32 {
    get { UInt32(truncatingIfNeeded: tally >> 41) }
    set { tally = tally & Self.bitsMask | UInt64(newValue) << 41 }
  }
  /// Bytes used, 0...40 (before padding).
  @inlinable internal var count: UInt8 {
    get { UInt8(truncatingIfNeeded: shape >> 48) }
    set { shape = shape & ~(0xFF << 48) | UInt64(newValue) << 48 }
  }
  /// Why the list could not be kept (`OptionAreaFailure`'s code), 0 when it was. Then `words`
  /// holds the failure's length and value, not options.
  @inlinable internal var failureCode: UInt8 {
    get { UInt8(truncatingIfNeeded: shape >> 56) }
    set { shape = shape & ~(0xFF << 56) | UInt64(newValue) << 56 }
  }
  /// Bits 0...40 (one per byte, and one past the last for an `.unknown` mark).
  @inlinable internal static var bitsMask: UInt64 { (1 << 41) &- 1 }

  /// No options.
  @inlinable internal init() {
    words = (0, 0, 0, 0, 0)
    shape = 0
    tally = 0
  }

  /// Keeps `options` (see the type's documentation for lists that do not fit).
  internal init<Option: InlineAreaOption>(_ options: [Option]) {
    self.init()
    guard !options.isEmpty else { return }
    var length = 0
    for i in options.indices { length &+= options[i].encodedLength }
    guard length <= Self.capacity else {
      self.init(failure: Self.fieldError(of: options, length: length) ?? .tooLong(length: length))
      return
    }
    let written = withUnsafeMutableBytes(of: &words) { raw -> (end: Int, error: PacketError?) in
      guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return (0, nil) }
      return Option.write(options, ByteWriter(base), at: 0)
    }
    if let error = written.error {
      self.init(failure: OptionAreaFailure(error, length: length))
      return
    }
    count = UInt8(truncatingIfNeeded: length)
    let area = bytes
    var at = 0
    for i in options.indices {
      let option = options[i]
      let optionLength = option.encodedLength
      starts |= UInt64(1) << UInt64(at)
      // An option its bytes decode back to needs no mark. Otherwise it was given as `.unknown`
      // (a known kind's bytes: `.unknown(kind: 2, data: [5, 180])`) or as `.raw` (decoding
      // never makes a `.raw` from a well-formed option): the bytes, rebuilt each way, tell which.
      let kind = area.byte(at: at)
      if Option.decode(ScannedOption(kind: kind, offset: at, length: optionLength), in: area) != option {
        let asUnknown: Option? =
          optionLength >= 2 ? .unknown(kind: kind, data: Array(area.clampedSlice(from: at &+ 2, count: optionLength &- 2))) : nil
        marks |= UInt64(1) << UInt64(option == asUnknown ? at &+ 1 : at)
      }
      at &+= optionLength
    }
    wordSum = Self.sum(area)
  }

  /// An area that keeps no options, only why they could not be kept.
  private init(failure: OptionAreaFailure) {
    self.init()
    failureCode = failure.code
    words.0 = UInt64(failure.length)
    words.1 = failure.value
  }

  /// The failure, when the list could not be kept.
  @inlinable internal var failure: OptionAreaFailure? {
    OptionAreaFailure(code: failureCode, length: Int(truncatingIfNeeded: words.0), value: words.1)
  }

  /// Decodes a wire options area (at most 40 bytes) as `OptionScanner.decodeAll` does: an EOL
  /// is kept and the zero padding after it dropped, zeros beyond that stay as EOL options, a
  /// malformed option and everything after it become one `.raw`. No array is made.
  internal init<Option: InlineAreaOption>(decoding area: ArraySlice<UInt8>, as _: Option.Type) {
    self.init()
    guard area.count <= Self.capacity else {
      // Never from a view (a header length of 15 words leaves 40 bytes). A longer area is kept
      // as a longer list is: only as its failure.
      self = InlineOptionArea(Self.decodeAll(area, as: Option.self))
      return
    }
    var end = area.count
    var scanner = OptionScanner(area, layer: Option.areaLayer, stopAtEndOfList: false)
    while true {
      let start = scanner.offset
      guard let next = scanner.next() else { break }
      starts |= UInt64(1) << UInt64(start)
      guard case .success(let option) = next else {
        marks |= UInt64(1) << UInt64(start)
        break
      }
      if option.kind == 0, isPadding(area, from: scanner.offset) {
        end = scanner.offset
        break
      }
    }
    withUnsafeMutableBytes(of: &words) { raw in
      for i in 0..<end { raw[i] = area.byte(at: i) }
    }
    count = UInt8(truncatingIfNeeded: end)
    wordSum = Self.sum(area.prefix(end))
  }

  /// `OptionScanner.decodeAll` for `Option`.
  internal static func decodeAll<Option: InlineAreaOption>(_ area: ArraySlice<UInt8>, as _: Option.Type) -> [Option] {
    OptionScanner.decodeAll(
      area, layer: Option.areaLayer, decode: { Option.decode($0, in: area) }, raw: { Option.raw(kind: $0, bytes: $1) })
  }

  /// The options, exactly as given (decoded from the bytes, which allocates an array); none
  /// for a list kept only as its failure.
  internal func options<Option: InlineAreaOption>(as _: Option.Type) -> [Option] {
    let area = bytes
    var options: [Option] = []
    var start = 0
    let end = Int(count)
    while start < end {
      var next = start &+ 1
      while next < end, starts & (UInt64(1) << UInt64(next)) == 0 { next &+= 1 }
      let kind = area.byte(at: start)
      if marks & (UInt64(1) << UInt64(start)) != 0 {
        options.append(.raw(kind: kind, bytes: Array(area.clampedSlice(from: start &+ 1, count: next &- start &- 1))))
      } else if next > start &+ 1, marks & (UInt64(1) << UInt64(start &+ 1)) != 0 {
        options.append(.unknown(kind: kind, data: Array(area.clampedSlice(from: start &+ 2, count: next &- start &- 2))))
      } else {
        options.append(Option.decode(ScannedOption(kind: kind, offset: start, length: next &- start), in: area))
      }
      start = next
    }
    return options
  }

  /// The bytes used (`count`), as an array slice.
  internal var bytes: ArraySlice<UInt8> {
    withUnsafeBytes(of: words) { Array($0.prefix(Int(count))) }[...]
  }

  /// Bytes the options occupy before padding: `count`, or for a list kept as its failure, the
  /// length that list takes (so that a computed header length fails as it would).
  @inlinable internal var length: Int {
    failureCode == 0 ? Int(count) : Int(truncatingIfNeeded: words.0)
  }

  /// `length` padded to a multiple of 4 bytes (what a header writes).
  @inlinable internal var paddedCount: Int { (Int(count) &+ 3) & ~3 }

  /// The options' share of a checksum, as written from an even offset.
  @inlinable internal var checksum: InternetChecksum {
    var sum = InternetChecksum()
    sum.sum = UInt64(wordSum)
    return sum
  }

  /// Writes the options and their zero padding (`paddedCount` bytes) at `offset`.
  @inlinable @inline(__always)
  internal func write(_ out: ByteWriter, at offset: Int) {
    // Whole 8-byte words, then a 4-byte tail (`length` is a multiple of 4, at most 40): plain
    // stores from registers. (Written as a loop, this becomes a `memcpy` call from a stack copy,
    // which costs more than the copy.)
    let length = paddedCount
    let target = UnsafeMutableRawPointer(out.base + offset)
    let (w0, w1, w2, w3, w4) = words
    if length >= 8 { target.storeBytes(of: w0, toByteOffset: 0, as: UInt64.self) }
    if length >= 16 { target.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self) }
    if length >= 24 { target.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self) }
    if length >= 32 { target.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self) }
    if length >= 40 { target.storeBytes(of: w4, toByteOffset: 32, as: UInt64.self) }
    guard length & 4 != 0 else { return }
    let tail =
      switch length >> 3 {
      case 0: w0
      case 1: w1
      case 2: w2
      case 3: w3
      default: w4
      }
    target.storeBytes(of: Self.firstHalf(tail), toByteOffset: length &- 4, as: UInt32.self)
  }

  /// The first four bytes in memory of `word` (the words hold bytes in memory order).
  @inlinable @inline(__always)
  internal static func firstHalf(_ word: UInt64) -> UInt32 {
    #if _endian(big)
    UInt32(truncatingIfNeeded: word >> 32)
    #else
    UInt32(truncatingIfNeeded: word)
    #endif
  }

  /// The sum of `bytes` as big-endian 16-bit words (an odd last byte is the high half).
  private static func sum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var total: UInt32 = 0
    for i in 0..<bytes.count {
      let byte = UInt32(bytes.byte(at: i))
      total &+= i & 1 == 0 ? byte << 8 : byte
    }
    return total
  }

  /// The error the list writer gives for a list too long to keep, if any (a length octet or a
  /// field that does not fit), found by writing it once into scratch memory.
  private static func fieldError<Option: InlineAreaOption>(of options: [Option], length: Int) -> OptionAreaFailure? {
    var scratch = [UInt8](repeating: 0, count: length)
    let error = scratch.withUnsafeMutableBufferPointer { buffer -> PacketError? in
      guard let base = buffer.baseAddress else { return nil }
      return Option.write(options, ByteWriter(base), at: 0).error
    }
    guard let error, case .field(let field, _, let value) = OptionAreaFailure(error, length: length) else { return nil }
    return .field(field, length: length, value: value)
  }

  /// The error encoding a header with these options throws (nil when the options were kept).
  @inline(__always)
  internal func encodeError(layer: ProtocolLayer) -> PacketError? {
    guard failureCode != 0 else { return nil }
    return failure?.error(layer: layer)
  }

  @inlinable
  internal static func == (lhs: InlineOptionArea, rhs: InlineOptionArea) -> Bool {
    // The bytes past `count` are 0 on both sides.
    lhs.shape == rhs.shape && lhs.tally == rhs.tally && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
      && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3 && lhs.words.4 == rhs.words.4
  }

  @inlinable
  internal func hash(into hasher: inout Hasher) {
    hasher.combine(shape)
    hasher.combine(tally)
    withUnsafeBytes(of: words) { hasher.combine(bytes: $0) }
  }
}

/// Why an option list could not be kept in an `InlineOptionArea`, turned into a `PacketError`
/// when a header is encoded. Stored in the area as a code and two words.
@usableFromInline
internal enum OptionAreaFailure: Hashable, Sendable {
  /// The fields the option writers check.
  @usableFromInline
  enum Field: UInt8, Hashable, Sendable, CaseIterable {
    case sackLength = 2, optionLength, recordRouteLength, timestampLength, timestampOverflow, timestampFlag

    var name: String {
      switch self {
      case .sackLength: "sack length"
      case .optionLength: "option length"
      case .recordRouteLength: "recordRoute length"
      case .timestampLength: "timestamp length"
      case .timestampOverflow: "timestamp overflow"
      case .timestampFlag: "timestamp flag"
      }
    }
  }

  /// The list takes `length` bytes, over 40.
  case tooLong(length: Int)
  /// A field of one option does not fit its wire field (as the list writer reports it); the
  /// list takes `length` bytes.
  case field(Field, length: Int, value: UInt64)

  /// The writer's error for the list (an out-of-range field), else `.tooLong`.
  init(_ error: PacketError, length: Int) {
    if case .overrideOutOfRange(_, let name, let value) = error,
      let field = Field.allCases.first(where: { $0.name == name })
    {
      self = .field(field, length: length, value: value)
    } else {
      self = .tooLong(length: length)
    }
  }

  /// The failure stored as `code` (0: none), `length` and `value`.
  @inlinable init?(code: UInt8, length: Int, value: UInt64) {
    switch code {
    case 0: return nil
    case 1: self = .tooLong(length: length)
    default:
      guard let field = Field(rawValue: code) else { return nil }
      self = .field(field, length: length, value: value)
    }
  }

  @usableFromInline var code: UInt8 {
    switch self {
    case .tooLong: 1
    case .field(let field, _, _): field.rawValue
    }
  }

  /// Bytes the whole list takes.
  @usableFromInline var length: Int {
    switch self {
    case .tooLong(let length), .field(_, let length, _): length
    }
  }

  @usableFromInline var value: UInt64 {
    switch self {
    case .tooLong: 0
    case .field(_, _, let value): value
    }
  }

  /// What encoding throws: the field's error, as the list writer gave it; or, for a list over 40
  /// bytes under a data offset or IHL set by hand, that its length does not fit.
  func error(layer: ProtocolLayer) -> PacketError {
    switch self {
    case .field(let field, _, let value): .overrideOutOfRange(layer: layer, field: field.name, value: value)
    case .tooLong(let length): .computedValueOutOfRange(layer: layer, field: "options length", value: UInt64(length))
    }
  }
}
