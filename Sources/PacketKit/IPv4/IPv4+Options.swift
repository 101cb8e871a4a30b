/// An IPv4 option (RFC 791 §3.1, RFC 2113). Options are encoded in order and padded with zero
/// octets to a multiple of 4 bytes.
public enum IPv4Option: Hashable, Sendable {
  /// End of option list, kind 0, one octet.
  case endOfOptionList
  /// No operation, kind 1, one octet.
  case noOperation
  /// Record route, kind 7: length 3 + 4 × n, `pointer` (1-based offset of the next free slot,
  /// 4 when empty), then the address slots.
  case recordRoute(pointer: UInt8, addresses: [IPv4Address])
  /// Internet timestamp, kind 68: length 4 + 4 × n, `pointer`, then `overflow` (4 bits) and
  /// `flag` (4 bits: 0 timestamps only, 1 address + timestamp, 3 prespecified addresses), then
  /// the 32-bit words (timestamps, or address/timestamp pairs).
  case timestamp(pointer: UInt8, overflow: UInt8, flag: UInt8, words: [UInt32])
  /// Router alert, kind 148, length 4, a 16-bit value (0: the router examines the packet).
  case routerAlert(UInt16)
  /// Any kind with a well-formed length: kind, 2 + `data.count`, `data`.
  case unknown(kind: UInt8, data: [UInt8])
  /// Kind, then `bytes` verbatim: the length octet, if any, is inside `bytes`, so it can lie.
  case raw(kind: UInt8, bytes: [UInt8])

  /// The option's kind octet.
  public var kind: UInt8 {
    switch self {
    case .endOfOptionList: 0
    case .noOperation: 1
    case .recordRoute: 7
    case .timestamp: 68
    case .routerAlert: 148
    case .unknown(let kind, _), .raw(let kind, _): kind
    }
  }

  /// Bytes this option occupies when encoded.
  public var encodedLength: Int {
    switch self {
    case .endOfOptionList, .noOperation: 1
    case .recordRoute(_, let addresses): 3 + 4 * addresses.count
    case .timestamp(_, _, _, let words): 4 + 4 * words.count
    case .routerAlert: 4
    case .unknown(_, let data): 2 + data.count
    case .raw(_, let bytes): 1 + bytes.count
    }
  }

  /// Bytes `options` occupy, before padding.
  @inlinable public static func encodedLength(_ options: [IPv4Option]) -> Int {
    var length = 0
    for option in options { length += option.encodedLength }
    return length
  }

  /// Writes `options` at `offset`; returns the end offset, or the error for a length that does
  /// not fit (returned, not thrown: see `IPv4Header.writeSegment`).
  internal static func write(_ options: [IPv4Option], _ out: ByteWriter, at offset: Int) -> (end: Int, error: PacketError?) {
    var at = offset
    // By index: the options are borrowed from the array, not copied (see `writeSegment`).
    for i in options.indices {
      let length = options[i].encodedLength
      out.put(options[i].kind, at: at)
      switch options[i] {
      case .endOfOptionList, .noOperation:
        break
      case .recordRoute(let pointer, let addresses):
        guard length <= 255 else { return (at, .overrideOutOfRange(layer: .ipv4, field: "recordRoute length", value: UInt64(length))) }
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        out.put(pointer, at: at + 2)
        for j in addresses.indices { out.put(addresses[j].rawValue, at: at + 3 + 4 * j) }
      case .timestamp(let pointer, let overflow, let flag, let words):
        guard length <= 255 else { return (at, .overrideOutOfRange(layer: .ipv4, field: "timestamp length", value: UInt64(length))) }
        guard overflow <= 0x0F else { return (at, .overrideOutOfRange(layer: .ipv4, field: "timestamp overflow", value: UInt64(overflow))) }
        guard flag <= 0x0F else { return (at, .overrideOutOfRange(layer: .ipv4, field: "timestamp flag", value: UInt64(flag))) }
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        out.put(pointer, at: at + 2)
        out.put(overflow << 4 | flag, at: at + 3)
        for j in words.indices { out.put(words[j], at: at + 4 + 4 * j) }
      case .routerAlert(let value):
        out.put(UInt8(4), at: at + 1)
        out.put(value, at: at + 2)
      case .unknown(_, let data):
        guard length <= 255 else { return (at, .overrideOutOfRange(layer: .ipv4, field: "option length", value: UInt64(length))) }
        out.put(UInt8(truncatingIfNeeded: length), at: at + 1)
        out.put(data, at: at + 2)
      case .raw(_, let bytes):
        out.put(bytes, at: at + 1)
      }
      at += length
    }
    return (at, nil)
  }

  /// Decodes one well-formed option (kind, length and data as the scanner found them).
  @inlinable
  internal static func decode(_ option: ScannedOption, in area: ArraySlice<UInt8>) -> IPv4Option {
    let at = option.offset
    let n = option.length
    switch option.kind {
    case 0: return .endOfOptionList
    case 1: return .noOperation
    case 7 where n >= 3 && (n - 3) % 4 == 0:
      let addresses = stride(from: at + 3, to: at + n, by: 4).map { IPv4Address(rawValue: area.uint32(at: $0)) }
      return .recordRoute(pointer: area.byte(at: at + 2), addresses: addresses)
    case 68 where n >= 4 && n % 4 == 0:
      let words = stride(from: at + 4, to: at + n, by: 4).map { area.uint32(at: $0) }
      let of = area.byte(at: at + 3)
      return .timestamp(pointer: area.byte(at: at + 2), overflow: of >> 4, flag: of & 0x0F, words: words)
    case 148 where n == 4:
      return .routerAlert(area.uint16(at: at + 2))
    default:
      return .unknown(kind: option.kind, data: Array(area.clampedSlice(from: at + 2, count: n - 2)))
    }
  }

  /// Decodes an options area so that encoding the result (with its padding) gives back exactly
  /// `area`: an EOL is kept, the zero padding after it is dropped, zeros beyond that stay as EOL options, a malformed
  /// option and everything after it become one `.raw`.
  public static func decodeAll(_ area: ArraySlice<UInt8>) -> [IPv4Option] {
    OptionScanner.decodeAll(
      area, layer: .ipv4, decode: { decode($0, in: area) }, raw: { .raw(kind: $0, bytes: $1) })
  }
}

/// The options of an `IPv4View`, one `Result` each. Stops after EOL or after the first error.
public struct IPv4OptionSequence: Sequence, Sendable {
  public let area: ArraySlice<UInt8>

  public struct Iterator: IteratorProtocol {
    @usableFromInline var scanner: OptionScanner
    @inlinable init(scanner: OptionScanner) { self.scanner = scanner }
    @inlinable public mutating func next() -> Result<IPv4Option, PacketError>? {
      // No closures: capturing `scanner.area` would retain and release the bytes per option.
      switch scanner.next() {
      case .success(let option): .success(IPv4Option.decode(option, in: scanner.area))
      case .failure(let error): .failure(error)
      case nil: nil
      }
    }
  }

  @inlinable public init(area: ArraySlice<UInt8>) { self.area = area }

  @inlinable public func makeIterator() -> Iterator {
    Iterator(scanner: OptionScanner(area, layer: .ipv4, stopAtEndOfList: true))
  }
}

extension IPv4Option: InlineAreaOption {
  static var areaLayer: ProtocolLayer { .ipv4 }
}
