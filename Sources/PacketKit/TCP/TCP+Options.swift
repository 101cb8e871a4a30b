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

  /// Writes `options` at `offset`; returns the end offset, or the error for a length that does
  /// not fit its octet (returned, not thrown: see `IPv4Header.writeSegment`). Run when options
  /// are set (`InlineOptionArea`), not per encode.
  internal static func write(_ options: [TCPOption], _ out: ByteWriter, at offset: Int) -> (end: Int, error: PacketError?) {
    var at = offset
    for i in options.indices {
      let length = options[i].encodedLength
      switch options[i] {
      case .endOfOptionList:
        out.put(UInt8(0), at: at)
      case .noOperation:
        out.put(UInt8(1), at: at)
      case .maximumSegmentSize(let mss):
        out.put(UInt16(0x0204), at: at)
        out.put(mss, at: at &+ 2)
      case .windowScale(let shift):
        out.put(UInt16(0x0303), at: at)
        out.put(shift, at: at &+ 2)
      case .sackPermitted:
        out.put(UInt16(0x0402), at: at)
      case .sack(let blocks):
        guard length <= 255 else { return (at, .overrideOutOfRange(layer: .tcp, field: "sack length", value: UInt64(length))) }
        out.put(UInt8(5), at: at)
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        for (j, block) in blocks.enumerated() {
          out.put(block.leftEdge, at: at + 2 + 8 * j)
          out.put(block.rightEdge, at: at + 6 + 8 * j)
        }
      case .timestamps(let tsValue, let echoReply):
        out.put(UInt16(0x080A), at: at)
        out.put(tsValue, at: at &+ 2)
        out.put(echoReply, at: at &+ 6)
      case .unknown(let kind, let data):
        guard length <= 255 else { return (at, .overrideOutOfRange(layer: .tcp, field: "option length", value: UInt64(length))) }
        out.put(kind, at: at)
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        out.put(data, at: at + 2)
      case .raw(let kind, let bytes):
        out.put(kind, at: at)
        out.put(bytes, at: at + 1)
      }
      at &+= length
    }
    return (at, nil)
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

extension TCPOption: InlineAreaOption {
  static var areaLayer: ProtocolLayer { .tcp }
}
