import CInternetChecksum

/// The Internet checksum (RFC 1071) as an accumulator: add the pseudo-header, the header and the
/// payload separately (any lengths, any alignment, an odd split between calls is fine), combine
/// partial sums, then read `finalized`.
///
/// The bytes added form one stream: `add([1, 2, 3]); add([4, 5])` equals `add([1, 2, 3, 4, 5])`.
/// Long inputs are summed by a C kernel (64-bit add-with-carry, AVX2 or AVX-512BW chosen at run
/// time) in native byte order and swapped once (RFC 1071 §2(B)).
///
/// Verifying: `finalized` over all covered bytes, checksum field included, is 0.
public struct InternetChecksum: Sendable, Equatable {
  /// The unfolded ones'-complement sum of the big-endian 16-bit words added so far.
  @usableFromInline internal var sum: UInt64
  /// Whether an odd number of bytes has been added (the next byte is a low-order byte).
  @usableFromInline internal var isOddLength: Bool

  /// An empty sum.
  @inlinable public init() {
    sum = 0
    isOddLength = false
  }

  @inlinable @inline(__always) internal static func fold(_ value: UInt64) -> UInt16 {
    var s = (value & 0xFFFF_FFFF) &+ (value >> 32)
    s = (s & 0xFFFF_FFFF) &+ (s >> 32)
    s = (s & 0xFFFF) &+ (s >> 16)
    s = (s & 0xFFFF) &+ (s >> 16)
    s = (s & 0xFFFF) &+ (s >> 16)
    return UInt16(truncatingIfNeeded: s)
  }

  @inlinable @inline(__always) internal mutating func addToSum(_ value: UInt64) {
    let (s, overflow) = sum.addingReportingOverflow(value)
    sum = overflow ? s &+ 1 : s
  }

  /// Adds a 16-bit sum of bytes that started at an even stream offset.
  @inlinable @inline(__always) internal mutating func addWordSum(_ wordSum: UInt16, length: Int) {
    addToSum(UInt64(isOddLength ? wordSum.byteSwapped : wordSum))
    if length & 1 == 1 { isOddLength.toggle() }
  }

  /// Adds `buffer`'s bytes to the stream. Short inputs (headers, under 128 bytes) are summed
  /// here, inlined at the call site; longer ones by the C kernel the CPU supports best.
  @inlinable @inline(__always) public mutating func add(_ buffer: UnsafeRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    let count = buffer.count
    guard count < 128 else {
      // The kernel sums little-endian words; swap once for network order.
      addWordSum(UInt16(bigEndian: cic_checksum(base, count)), length: count)
      return
    }
    // Native-order 64-bit words split into 32-bit halves: at most 16 of them, no overflow.
    var native: UInt64 = 0
    var at = 0
    while at &+ 8 <= count {
      let word = base.loadUnaligned(fromByteOffset: at, as: UInt64.self)
      native &+= (word & 0xFFFF_FFFF) &+ (word >> 32)
      at &+= 8
    }
    if at &+ 4 <= count {
      native &+= UInt64(base.loadUnaligned(fromByteOffset: at, as: UInt32.self))
      at &+= 4
    }
    if at &+ 2 <= count {
      native &+= UInt64(base.loadUnaligned(fromByteOffset: at, as: UInt16.self))
      at &+= 2
    }
    if at < count {
      native &+= UInt64(base.load(fromByteOffset: at, as: UInt8.self))  // low byte of a LE word
    }
    addWordSum(UInt16(bigEndian: InternetChecksum.fold(native)), length: count)
  }

  /// Adds a span's bytes to the stream (no copy, no reference counting).
  @inlinable @inline(__always) public mutating func add(_ span: RawSpan) {
    span.withUnsafeBytes { add($0) }
  }

  /// Adds `bytes` to the stream (contiguous collections go to the C kernel without copying).
  @inlinable public mutating func add(_ bytes: some Collection<UInt8>) {
    let done: Void? = bytes.withContiguousStorageIfAvailable { add(UnsafeRawBufferPointer($0)) }
    if done != nil { return }
    for byte in bytes { add(byte: byte) }
  }

  /// Adds a short array's bytes in Swift, one at a time (option data in the encoders: no call
  /// into C, so the optimizer can see that encoding has no other side effects).
  @inlinable internal mutating func addInSwift(_ bytes: [UInt8]) {
    for i in bytes.indices { add(byte: bytes[i]) }
  }

  /// Adds a folded 16-bit sum of words (no bytes: the parity is unchanged).
  @inlinable internal mutating func add(wordSum: UInt16) {
    addToSum(UInt64(isOddLength ? wordSum.byteSwapped : wordSum))
  }

  /// Adds `count` zero bytes to the stream (they only change the byte parity).
  @inlinable public mutating func add(zeros count: Int) {
    if count & 1 == 1 { isOddLength.toggle() }
  }

  /// Adds one byte to the stream.
  @inlinable public mutating func add(byte: UInt8) {
    addToSum(isOddLength ? UInt64(byte) : UInt64(byte) << 8)
    isOddLength.toggle()
  }

  /// Adds two bytes, `value` big-endian, to the stream.
  @inlinable public mutating func add(uint16 value: UInt16) {
    addToSum(UInt64(isOddLength ? value.byteSwapped : value))
  }

  /// Adds four bytes, `value` big-endian, to the stream.
  @inlinable public mutating func add(uint32 value: UInt32) {
    // 2^16 = 1 (mod 0xFFFF): the whole 32-bit value is the sum of its two words.
    addToSum(UInt64(isOddLength ? value.byteSwapped : value))
  }

  /// Appends `other`'s bytes to this stream (as if they had been added here).
  @inlinable @inline(__always) public mutating func combine(_ other: InternetChecksum) {
    if isOddLength {
      // `other`'s words straddle ours: fold and swap.
      addWordSum(InternetChecksum.fold(other.sum), length: other.isOddLength ? 1 : 0)
    } else {
      // Aligned: the unfolded sums add directly (end-around carry), no fold.
      addToSum(other.sum)
      isOddLength = other.isOddLength
    }
  }

  /// The ones'-complement sum folded to 16 bits, not complemented.
  @inlinable public var partialSum: UInt16 { InternetChecksum.fold(sum) }

  /// The checksum to write: the complement of the folded sum.
  @inlinable public var finalized: UInt16 { ~InternetChecksum.fold(sum) }

  /// The checksum of `bytes` in one call.
  @inlinable public static func checksum(_ bytes: some Collection<UInt8>) -> UInt16 {
    var sum = InternetChecksum()
    sum.add(bytes)
    return sum.finalized
  }

  /// RFC 1624 incremental update (eqn. 3, HC' = ~(~HC + ~m + m')) of `checksum` after the
  /// 16-bit word `oldValue` at an even offset of the covered bytes became `newValue`.
  @inlinable public static func update(_ checksum: UInt16, oldValue: UInt16, newValue: UInt16) -> UInt16 {
    let s = UInt64(~checksum) + UInt64(~oldValue) + UInt64(newValue)
    return ~fold(s)
  }

  /// RFC 1624 incremental update for a 32-bit field at an even offset (e.g. a TCP sequence number).
  @inlinable public static func update(_ checksum: UInt16, oldValue: UInt32, newValue: UInt32) -> UInt16 {
    let s = UInt64(~checksum) + UInt64(~oldValue >> 16) + UInt64(~oldValue & 0xFFFF)
      + UInt64(newValue >> 16) + UInt64(newValue & 0xFFFF)
    return ~fold(s)
  }
}

/// The C kernels behind `InternetChecksum.add`, selectable for tests and benchmarks.
public enum InternetChecksumKernel: CaseIterable, Sendable {
  /// Runtime dispatch (what `add` uses from 128 bytes on; shorter inputs it sums in Swift):
  /// scalar below 128 bytes, else AVX-512BW or AVX2.
  case automatic
  /// 64-bit add-with-carry, four chains.
  case scalar
  /// AVX2, 32-byte vectors.
  case avx2
  /// AVX-512BW, 64-byte vectors.
  case avx512

  /// Whether this CPU can run the kernel.
  public var isAvailable: Bool {
    switch self {
    case .automatic, .scalar: true
    case .avx2: cic_cpu_has_avx2() != 0
    case .avx512: cic_cpu_has_avx512bw() != 0
    }
  }

  /// The network-order ones'-complement sum of `buffer` (folded, not complemented), as if the
  /// buffer started at an even offset. Runs the scalar kernel when this one is unavailable.
  public func sum(_ buffer: UnsafeRawBufferPointer) -> UInt16 {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
    let native: UInt16
    switch isAvailable ? self : .scalar {
    case .automatic: native = cic_checksum(base, buffer.count)
    case .scalar: native = cic_checksum_scalar(base, buffer.count)
    case .avx2: native = cic_checksum_avx2(base, buffer.count)
    case .avx512: native = cic_checksum_avx512(base, buffer.count)
    }
    return UInt16(bigEndian: native)
  }
}
