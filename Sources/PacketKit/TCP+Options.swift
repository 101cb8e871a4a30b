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
    for option in options { length &+= option.encodedLength }
    return length
  }

  /// Writes `options` at `offset`; returns the end offset.
  internal static func write(_ options: [TCPOption], _ out: ByteWriter, at offset: Int) throws(PacketError) -> Int {
    var at = offset
    for option in options {
      out.put(option.kind, at: at)
      switch option {
      case .endOfOptionList, .noOperation:
        at += 1
      case .maximumSegmentSize(let mss):
        out.put(UInt8(4), at: at + 1)
        out.put(mss, at: at + 2)
        at += 4
      case .windowScale(let shift):
        out.put(UInt8(3), at: at + 1)
        out.put(shift, at: at + 2)
        at += 3
      case .sackPermitted:
        out.put(UInt8(2), at: at + 1)
        at += 2
      case .sack(let blocks):
        let length = 2 + 8 * blocks.count
        guard length <= 255 else { throw .overrideOutOfRange(layer: .tcp, field: "sack length", value: UInt64(length)) }
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        for (i, block) in blocks.enumerated() {
          out.put(block.leftEdge, at: at + 2 + 8 * i)
          out.put(block.rightEdge, at: at + 6 + 8 * i)
        }
        at += length
      case .timestamps(let value, let echoReply):
        out.put(UInt8(10), at: at + 1)
        out.put(value, at: at + 2)
        out.put(echoReply, at: at + 6)
        at += 10
      case .unknown(_, let data):
        let length = 2 + data.count
        guard length <= 255 else { throw .overrideOutOfRange(layer: .tcp, field: "option length", value: UInt64(length)) }
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        out.put(data, at: at + 2)
        at += length
      case .raw(_, let bytes):
        out.put(bytes, at: at + 1)
        at += 1 + bytes.count
      }
    }
    return at
  }

  /// Adds the bytes `write` produces for `options` to `sum`, computed from the values (no
  /// reading back of just-written memory, which would stall on store forwarding).
  internal static func addSum(of options: [TCPOption], to sum: inout InternetChecksum) {
    for option in options {
      sum.add(byte: option.kind)
      switch option {
      case .endOfOptionList, .noOperation:
        break
      case .maximumSegmentSize(let mss):
        sum.add(byte: 4)
        sum.add(uint16: mss)
      case .windowScale(let shift):
        sum.add(byte: 3)
        sum.add(byte: shift)
      case .sackPermitted:
        sum.add(byte: 2)
      case .sack(let blocks):
        sum.add(byte: UInt8(truncatingIfNeeded: 2 + 8 * blocks.count))
        for block in blocks {
          sum.add(uint32: block.leftEdge)
          sum.add(uint32: block.rightEdge)
        }
      case .timestamps(let value, let echoReply):
        sum.add(byte: 10)
        sum.add(uint32: value)
        sum.add(uint32: echoReply)
      case .unknown(_, let data):
        sum.add(byte: UInt8(truncatingIfNeeded: 2 + data.count))
        sum.add(data)
      case .raw(_, let bytes):
        sum.add(bytes)
      }
    }
  }

  /// Decodes one well-formed option. Known kinds with a length other than theirs become
  /// `.unknown` (so re-encoding reproduces the bytes).
  @inlinable
  internal static func decode(_ option: ScannedOption, in area: ArraySlice<UInt8>) -> TCPOption {
    let at = option.offset
    switch (option.kind, option.length) {
    case (0, _): return .endOfOptionList
    case (1, _): return .noOperation
    case (2, 4): return .maximumSegmentSize(area.uint16(at: at &+ 2))
    case (3, 3): return .windowScale(area.byte(at: at &+ 2))
    case (4, 2): return .sackPermitted
    case (5, let n) where n >= 2 && (n - 2) % 8 == 0:
      let blocks = stride(from: at + 2, to: at + n, by: 8).map {
        SACKBlock(leftEdge: area.uint32(at: $0), rightEdge: area.uint32(at: $0 + 4))
      }
      return .sack(blocks)
    case (8, 10): return .timestamps(value: area.uint32(at: at &+ 2), echoReply: area.uint32(at: at &+ 6))
    default: return .unknown(kind: option.kind, data: Array(area.clampedSlice(from: at + 2, count: option.length - 2)))
    }
  }

  /// Decodes an options area so that encoding the result (with its padding) gives back exactly
  /// `area`: an EOL is kept, the zero padding after it is dropped, zeros beyond that stay as EOL options, a malformed
  /// option (length 0/1, overrun) and everything after it become one `.raw`.
  public static func decodeAll(_ area: ArraySlice<UInt8>) -> [TCPOption] {
    var options: [TCPOption] = []
    var scanner = OptionScanner(area, layer: .tcp, stopAtEndOfList: false)
    while true {
      let start = scanner.offset
      guard let next = scanner.next() else { break }
      switch next {
      case .success(let option):
        options.append(decode(option, in: area))
        // Zeros after an EOL that re-encoding would write as padding end the list.
        if option.kind == 0, isPadding(area, from: scanner.offset) { return options }
      case .failure:
        let rest = area.clampedSuffix(from: start)
        options.append(.raw(kind: rest.byte(at: 0), bytes: Array(rest.dropFirst())))
        return options
      }
    }
    return options
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
    @inlinable public mutating func next() -> Result<TCPOption, PacketError>? {
      scanner.next().map { $0.map { TCPOption.decode($0, in: scanner.area) } }
    }
  }

  @inlinable public init(area: ArraySlice<UInt8>) { self.area = area }

  @inlinable public func makeIterator() -> Iterator {
    Iterator(scanner: OptionScanner(area, layer: .tcp, stopAtEndOfList: true))
  }
}
