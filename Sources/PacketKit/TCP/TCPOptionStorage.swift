/// How a `TCPHeader` holds its options, so that copying a header (into a `Layer`, out of a
/// `Packet`) costs no reference counting in the common case.
///
/// A list made only of the six fixed-form kinds (EOL, NOP, MSS, window scale, SACK-permitted,
/// timestamps) whose encoding fits the 40-byte options area is kept **encoded**, inline
/// (`InlineTCPOptions`): plain bytes, copied as bytes, written out by a few word stores, with
/// their checksum contribution summed once when the list was set. Any other list (SACK blocks,
/// `.unknown`, `.raw`, or more than 40 bytes of options) is kept as a `[TCPOption]`.
///
/// The representation is canonical: a list is stored inline exactly when it can be, whichever
/// way it was built (`init(_:)`, `init(decoding:)`, `TCPHeader.options` set). Equal lists
/// therefore have the same representation, and `==` and `hash(into:)` compare representations.
@usableFromInline
internal struct TCPOptionStorage: Hashable, Sendable {
  @usableFromInline
  internal enum Representation: Sendable {
    /// Fixed-form options, encoded.
    case inline(InlineTCPOptions)
    /// Anything else, as given.
    case list([TCPOption])
  }

  /// Set only by the initializers, which choose the canonical form.
  @usableFromInline internal let representation: Representation

  /// Stores `options` inline when every one is a fixed-form kind and they fit in 40 bytes.
  internal init(_ options: [TCPOption]) {
    var encoded = InlineTCPOptions()
    for i in options.indices {
      guard encoded.append(options[i]) else {
        representation = .list(options)
        return
      }
    }
    representation = .inline(encoded)
  }

  /// Decodes an options area as `TCPOption.decodeAll` does, straight into inline storage when
  /// every option is a fixed-form kind with its own length (no array is made); otherwise
  /// through `TCPOption.decodeAll`.
  internal init(decoding area: ArraySlice<UInt8>) {
    var encoded = InlineTCPOptions()
    var scanner = OptionScanner(area, layer: .tcp, stopAtEndOfList: false)
    while let next = scanner.next() {
      guard case .success(let option) = next, encoded.append(option, from: area) else {
        self = TCPOptionStorage(TCPOption.decodeAll(area))
        return
      }
      // As `decodeAll`: zeros after an EOL that re-encoding would write as padding end the list.
      if option.kind == 0, isPadding(area, from: scanner.offset) { break }
    }
    representation = .inline(encoded)
  }

  /// The options as a list (decoded from the inline bytes, which allocates an array).
  internal var options: [TCPOption] {
    switch representation {
    case .inline(let encoded): encoded.options
    case .list(let options): options
    }
  }

  /// Whether the options are kept inline (for tests).
  internal var isInline: Bool {
    if case .inline = representation { return true }
    return false
  }

  /// Bytes the options occupy, before padding.
  @inlinable internal var encodedLength: Int {
    switch representation {
    case .inline(let encoded): Int(encoded.count)
    case .list(let options): TCPOption.encodedLength(options)
    }
  }

  @usableFromInline
  internal static func == (lhs: TCPOptionStorage, rhs: TCPOptionStorage) -> Bool {
    switch (lhs.representation, rhs.representation) {
    case (.inline(let left), .inline(let right)): left == right
    case (.list(let left), .list(let right)): left == right
    // Canonical forms: a list that fits inline is never stored as a list.
    case (.inline, .list), (.list, .inline): false
    }
  }

  @usableFromInline
  internal func hash(into hasher: inout Hasher) {
    switch representation {
    case .inline(let encoded):
      hasher.combine(0 as UInt8)
      encoded.hash(into: &hasher)
    case .list(let options):
      hasher.combine(1 as UInt8)
      hasher.combine(options)
    }
  }
}

/// Fixed-form TCP options (EOL, NOP, MSS, window scale, SACK-permitted, timestamps), encoded in
/// order into a 40-byte inline buffer (the largest TCP options area), with the ones'-complement
/// sum of those bytes. Plain bytes: copying costs no reference counting.
@usableFromInline
internal struct InlineTCPOptions: Hashable, Sendable {
  /// The room: a data offset of 15 leaves 40 bytes for options.
  @inlinable internal static var capacity: Int { TCPLayout.maximumHeaderLength - TCPLayout.minimumHeaderLength }

  /// The encoded options in wire order (the tuple's memory, byte by byte); every byte from
  /// `count` on is 0. A tuple of integers, not an `InlineArray`: a header holding an
  /// `InlineArray` is copied through its value witness (an indirect call), a tuple inline.
  @usableFromInline internal var words: (UInt64, UInt64, UInt64, UInt64, UInt64)
  /// Bytes used, 0...40 (before padding).
  @usableFromInline internal var count: UInt8
  /// The sum of `bytes` as big-endian 16-bit words (unfolded; 20 words cannot overflow), so that
  /// the options' share of the TCP checksum costs one add when encoding.
  @usableFromInline internal var wordSum: UInt32

  @inlinable internal init() {
    words = (0, 0, 0, 0, 0)
    count = 0
    wordSum = 0
  }

  /// Bytes used, padded to a multiple of 4 (what `TCPHeader` writes).
  @inlinable internal var paddedCount: Int { (Int(count) &+ 3) & ~3 }

  /// Appends one byte. The caller has checked the room.
  @inlinable @inline(__always)
  internal mutating func put(_ byte: UInt8) {
    let at = Int(count)
    withUnsafeMutableBytes(of: &words) { $0[at] = byte }
    wordSum &+= at & 1 == 0 ? UInt32(byte) << 8 : UInt32(byte)
    count &+= 1
  }

  /// Appends a big-endian 16-bit value. The caller has checked the room.
  @inlinable @inline(__always)
  internal mutating func put(_ value: UInt16) {
    put(UInt8(truncatingIfNeeded: value >> 8))
    put(UInt8(truncatingIfNeeded: value))
  }

  /// Appends a big-endian 32-bit value. The caller has checked the room.
  @inlinable @inline(__always)
  internal mutating func put(_ value: UInt32) {
    put(UInt16(truncatingIfNeeded: value >> 16))
    put(UInt16(truncatingIfNeeded: value))
  }

  /// Whether `length` more bytes fit.
  @inlinable internal func hasRoom(for length: Int) -> Bool { Int(count) &+ length <= Self.capacity }

  /// Appends `option`'s encoding. False (nothing appended) when it is not a fixed-form kind or
  /// does not fit.
  internal mutating func append(_ option: TCPOption) -> Bool {
    switch option {
    case .endOfOptionList, .noOperation, .maximumSegmentSize, .windowScale, .sackPermitted, .timestamps:
      guard hasRoom(for: option.encodedLength) else { return false }
    case .sack, .unknown, .raw:
      return false
    }
    switch option {
    case .endOfOptionList: put(0 as UInt8)
    case .noOperation: put(1 as UInt8)
    case .maximumSegmentSize(let mss):
      put(0x0204 as UInt16)
      put(mss)
    case .windowScale(let shift):
      put(0x0303 as UInt16)
      put(shift)
    case .sackPermitted: put(0x0402 as UInt16)
    case .timestamps(let value, let echoReply):
      put(0x080A as UInt16)
      put(value)
      put(echoReply)
    case .sack, .unknown, .raw: return false
    }
    return true
  }

  /// Appends a well-formed option found in `area` when `TCPOption.decode` makes it a fixed-form
  /// kind (one with its own length): its encoding is then its bytes.
  internal mutating func append(_ option: ScannedOption, from area: ArraySlice<UInt8>) -> Bool {
    append(TCPOption.decode(option, in: area))
  }

  /// The options these bytes encode: the list that `append` was given (every byte from `count`
  /// on is padding, not options).
  internal var options: [TCPOption] {
    let area = withUnsafeBytes(of: words) { Array($0.prefix(Int(count))) }[...]
    var options: [TCPOption] = []
    var scanner = OptionScanner(area, layer: .tcp, stopAtEndOfList: false)
    // `append` wrote only well-formed fixed-form options, so the scan never fails.
    while case .success(let option)? = scanner.next() { options.append(TCPOption.decode(option, in: area)) }
    return options
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
    var tail = w0
    if length >= 8 {
      target.storeBytes(of: w0, toByteOffset: 0, as: UInt64.self)
      tail = w1
    }
    if length >= 16 {
      target.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self)
      tail = w2
    }
    if length >= 24 {
      target.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self)
      tail = w3
    }
    if length >= 32 {
      target.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self)
      tail = w4
    }
    if length >= 40 { target.storeBytes(of: w4, toByteOffset: 32, as: UInt64.self) }
    if length & 4 != 0 { target.storeBytes(of: Self.firstHalf(tail), toByteOffset: length &- 4, as: UInt32.self) }
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

  /// The options' share of a checksum, as written from an even offset.
  @inlinable internal var checksum: InternetChecksum {
    var sum = InternetChecksum()
    sum.sum = UInt64(wordSum)
    return sum
  }

  @inlinable
  internal static func == (lhs: InlineTCPOptions, rhs: InlineTCPOptions) -> Bool {
    // The bytes past `count` are 0 on both sides.
    lhs.count == rhs.count && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
      && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3 && lhs.words.4 == rhs.words.4
  }

  @inlinable
  internal func hash(into hasher: inout Hasher) {
    hasher.combine(count)
    withUnsafeBytes(of: words) { hasher.combine(bytes: $0) }
  }
}
