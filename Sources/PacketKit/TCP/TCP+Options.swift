/// One SACK block (RFC 2018): the left edge and the right edge (first sequence number after the
/// block).
public struct SACKBlock: Hashable, Sendable {
  public var leftEdge: UInt32
  public var rightEdge: UInt32
  @inlinable public init(leftEdge: UInt32, rightEdge: UInt32) {
    self.leftEdge = leftEdge
    self.rightEdge = rightEdge
  }
}

/// A TCP option (RFC 9293 §3.1, RFC 7323, RFC 2018). Options are encoded in order and padded
/// with zero octets (EOL) to a multiple of 4 bytes.
public enum TCPOption: Hashable, Sendable {
  /// End of option list, kind 0, one octet ("eol").
  case endOfOptionList
  /// No operation, kind 1, one octet ("nop").
  case noOperation
  /// Maximum segment size, kind 2, length 4 ("mss N").
  case maximumSegmentSize(UInt16)
  /// Window scale shift count, kind 3, length 3 ("wscale N", RFC 7323).
  case windowScale(UInt8)
  /// SACK permitted, kind 4, length 2 ("sackOK", RFC 2018).
  case sackPermitted
  /// SACK blocks, kind 5, length 2 + 8 × n (RFC 2018).
  case sack([SACKBlock])
  /// Timestamps, kind 8, length 10: TSval and TSecr ("TS val N ecr M", RFC 7323).
  case timestamps(value: UInt32, echoReply: UInt32)
  /// Any kind with a well-formed length: kind, 2 + `data.count`, `data`.
  case unknown(kind: UInt8, data: [UInt8])
  /// Kind, then `bytes` verbatim: the length octet, if any, is inside `bytes`, so it can lie
  /// (length 0, 1, or past the end of the options area).
  case raw(kind: UInt8, bytes: [UInt8])

  /// The option's kind octet.
  @inlinable public var kind: UInt8 {
    switch self {
    case .endOfOptionList: 0
    case .noOperation: 1
    case .maximumSegmentSize: 2
    case .windowScale: 3
    case .sackPermitted: 4
    case .sack: 5
    case .timestamps: 8
    case .unknown(let kind, _), .raw(let kind, _): kind
    }
  }

  /// Bytes this option occupies when encoded.
  @inlinable public var encodedLength: Int {
    switch self {
    case .endOfOptionList, .noOperation: 1
    case .maximumSegmentSize: 4
    case .windowScale: 3
    case .sackPermitted: 2
    case .sack(let blocks): 2 + 8 * blocks.count
    case .timestamps: 10
    case .unknown(_, let data): 2 + data.count
    case .raw(_, let bytes): 1 + bytes.count
    }
  }

  /// Bytes `options` occupy, before padding.
  @inlinable public static func encodedLength(_ options: [TCPOption]) -> Int {
    var length = 0
    // Indexing (not `for in`): the elements are borrowed from the array, not copied.
    for i in options.indices { length &+= options[i].encodedLength }
    return length
  }

  /// Writes `options` at `offset` and zero padding up to `end`; returns the sum of those bytes.
  /// Out of line: only option lists that cannot be stored inline take it, and keeping it out of
  /// `TCPHeader.writeChecked` lets that be inlined into the encoders.
  @inline(never)
  internal static func writePadded(
    _ options: [TCPOption], _ out: ByteWriter, at offset: Int, end: Int
  ) -> (sum: InternetChecksum, error: PacketError?) {
    let written = write(options, out, at: offset)
    if let error = written.error { return (InternetChecksum(), error) }
    out.fill(0, at: written.end, count: end - written.end)
    var sum = written.sum
    sum.add(zeros: end - written.end)  // padding: back to an even length
    return (sum, nil)
  }

  /// Writes `options` at `offset`; returns the end offset and the ones'-complement sum of the
  /// bytes written (as if they started at an even offset), computed from the values in the same
  /// pass (reading back just-stored bytes would stall on store forwarding).
  /// A length that does not fit its octet is returned as `error` (not thrown: see
  /// `IPv4Header.writeSegment`).
  @inline(__always)
  internal static func write(
    _ options: [TCPOption], _ out: ByteWriter, at offset: Int
  ) -> (end: Int, sum: InternetChecksum, error: PacketError?) {
    var at = offset
    // Contributions of options starting at an even / odd offset, each summed as if even.
    var evenSum: UInt64 = 0
    var oddSum: UInt64 = 0
    var odd = false
    for i in options.indices {
      let value: UInt64
      let length: Int
      switch options[i] {
      case .endOfOptionList:
        out.put(UInt8(0), at: at)
        value = 0
        length = 1
      case .noOperation:
        out.put(UInt8(1), at: at)
        value = 0x0100
        length = 1
      case .maximumSegmentSize(let mss):
        out.put(UInt16(0x0204), at: at)
        out.put(mss, at: at &+ 2)
        value = 0x0204 &+ UInt64(mss)
        length = 4
      case .windowScale(let shift):
        out.put(UInt16(0x0303), at: at)
        out.put(shift, at: at &+ 2)
        value = 0x0303 &+ UInt64(shift) << 8
        length = 3
      case .sackPermitted:
        out.put(UInt16(0x0402), at: at)
        value = 0x0402
        length = 2
      case .sack(let blocks):
        length = 2 + 8 * blocks.count
        guard length <= 255 else { return (at, InternetChecksum(), .overrideOutOfRange(layer: .tcp, field: "sack length", value: UInt64(length))) }
        out.put(UInt8(5), at: at)
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        var v = 0x0500 &+ UInt64(length)
        for (i, block) in blocks.enumerated() {
          out.put(block.leftEdge, at: at + 2 + 8 * i)
          out.put(block.rightEdge, at: at + 6 + 8 * i)
          v &+= UInt64(block.leftEdge) &+ UInt64(block.rightEdge)
        }
        value = v
      case .timestamps(let tsValue, let echoReply):
        out.put(UInt16(0x080A), at: at)
        out.put(tsValue, at: at &+ 2)
        out.put(echoReply, at: at &+ 6)
        value = 0x080A &+ UInt64(tsValue) &+ UInt64(echoReply)
        length = 10
      case .unknown(let kind, let data):
        length = 2 + data.count
        guard length <= 255 else { return (at, InternetChecksum(), .overrideOutOfRange(layer: .tcp, field: "option length", value: UInt64(length))) }
        out.put(kind, at: at)
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        out.put(data, at: at + 2)
        var dataSum = InternetChecksum()
        dataSum.addInSwift(data)
        value = UInt64(kind) << 8 &+ UInt64(length) &+ UInt64(dataSum.partialSum)
      case .raw(let kind, let bytes):
        length = 1 + bytes.count
        out.put(kind, at: at)
        out.put(bytes, at: at + 1)
        var dataSum = InternetChecksum()
        dataSum.addInSwift(bytes)
        // The bytes start one octet after the kind: their sum is byte-swapped.
        value = UInt64(kind) << 8 &+ UInt64(dataSum.partialSum.byteSwapped)
      }
      if odd { oddSum &+= value } else { evenSum &+= value }
      if length & 1 == 1 { odd.toggle() }
      at &+= length
    }
    var sum = InternetChecksum()
    sum.add(wordSum: InternetChecksum.fold(evenSum))
    sum.add(wordSum: InternetChecksum.fold(oddSum).byteSwapped)
    sum.add(zeros: at - offset)
    return (at, sum, nil)
  }

  /// Decodes one well-formed option. Known kinds with a length other than theirs become
  /// `.unknown` (so re-encoding reproduces the bytes).
  @inlinable @inline(__always)
  internal static func decode<Area: BigEndianBytes & ~Escapable>(
    _ option: ScannedOption, in area: borrowing Area
  ) -> TCPOption {
    let at = option.offset
    switch (option.kind, option.length) {
    case (0, _): return .endOfOptionList
    case (1, _): return .noOperation
    case (2, 4): return .maximumSegmentSize(area.uint16(at: at &+ 2))
    case (3, 3): return .windowScale(area.byte(at: at &+ 2))
    case (4, 2): return .sackPermitted
    case (5, let n) where n >= 2 && (n - 2) % 8 == 0:
      var blocks: [SACKBlock] = []
      var edge = at + 2
      while edge < at + n {
        blocks.append(SACKBlock(leftEdge: area.uint32(at: edge), rightEdge: area.uint32(at: edge + 4)))
        edge += 8
      }
      return .sack(blocks)
    case (8, 10): return .timestamps(value: area.uint32(at: at &+ 2), echoReply: area.uint32(at: at &+ 6))
    default: return .unknown(kind: option.kind, data: area.copyBytes(from: at + 2, count: option.length - 2))
    }
  }

  /// Decodes an options area so that encoding the result (with its padding) gives back exactly
  /// `area`: an EOL is kept, the zero padding after it is dropped, zeros beyond that stay as EOL options, a malformed
  /// option (length 0/1, overrun) and everything after it become one `.raw`.
  public static func decodeAll(_ area: ArraySlice<UInt8>) -> [TCPOption] {
    OptionScanner.decodeAll(
      area, layer: .tcp, decode: { decode($0, in: area) }, raw: { .raw(kind: $0, bytes: $1) })
  }
}

/// The options of a `TCPView`, one `Result` each: a malformed option (length 0 or 1, a length
/// past the end of the options area, a missing length octet) is reported as a failure and
/// iteration stops there. Iteration also stops after EOL.
public struct TCPOptionSequence: Sequence, Sendable {
  public let area: ArraySlice<UInt8>

  public struct Iterator: IteratorProtocol {
    @usableFromInline var scanner: OptionScanner
    @inlinable init(scanner: OptionScanner) { self.scanner = scanner }
    @inlinable @inline(__always) public mutating func next() -> Result<TCPOption, PacketError>? {
      // No closures: capturing `scanner.area` would retain and release the bytes per option.
      switch scanner.next() {
      case .success(let option): .success(TCPOption.decode(option, in: scanner.area))
      case .failure(let error): .failure(error)
      case nil: nil
      }
    }
  }

  @inlinable public init(area: ArraySlice<UInt8>) { self.area = area }

  @inlinable public func makeIterator() -> Iterator {
    Iterator(scanner: OptionScanner(area, layer: .tcp, stopAtEndOfList: true))
  }
}

extension TCPOption {
  /// The option's bytes (kind, length octet when it has one, data); empty when a length does not
  /// fit its octet.
  var encoded: [UInt8] {
    var bytes = [UInt8](repeating: 0, count: encodedLength)
    let written = bytes.withUnsafeMutableBufferPointer { buffer -> Bool in
      guard let base = buffer.baseAddress else { return false }
      return TCPOption.write([self], ByteWriter(base), at: 0).error == nil
    }
    return written ? bytes : []
  }
}
