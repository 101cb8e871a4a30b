import Testing
@testable import PacketKit

/// `TCPHeader` and `IPv4Header` keep their options as the encoded bytes (`InlineOptionArea`), with
/// where each option starts and which were given as `.unknown` or `.raw`, so that a header copies
/// as plain bytes. These tests check that this never shows: the same lists come back, equal lists
/// give equal headers and hashes, the bytes are those of an independent reference.
@Suite struct InlineOptionAreaTests {
  // MARK: An independent reference: option bytes written out by hand (RFC 9293, 7323, 2018)

  /// The wire bytes of one option, written here without PacketKit.
  static func wire(_ option: TCPOption) -> [UInt8] {
    func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xFFFF)) }
    switch option {
    case .endOfOptionList: return [0]
    case .noOperation: return [1]
    case .maximumSegmentSize(let mss): return [2, 4] + be16(mss)
    case .windowScale(let shift): return [3, 3, shift]
    case .sackPermitted: return [4, 2]
    case .sack(let blocks):
      return [5, UInt8(2 + 8 * blocks.count)] + blocks.flatMap { be32($0.leftEdge) + be32($0.rightEdge) }
    case .timestamps(let value, let echoReply): return [8, 10] + be32(value) + be32(echoReply)
    case .unknown(let kind, let data): return [kind, UInt8(2 + data.count)] + data
    case .raw(let kind, let bytes): return [kind] + bytes
    }
  }

  /// The options area: the options' bytes and zero padding to a multiple of 4.
  static func area(_ options: [TCPOption]) -> [UInt8] {
    var bytes = options.flatMap(wire)
    while bytes.count % 4 != 0 { bytes.append(0) }
    return bytes
  }

  /// A random list of options (of every kind, or only fixed-form ones) whose encoding takes at
  /// most `maximumLength` bytes.
  static func randomList(_ generator: inout SeededGenerator, maximumLength: Int, allKinds: Bool = true) -> [TCPOption] {
    var options: [TCPOption] = []
    var length = 0
    let count = Int.random(in: 0...14, using: &generator)
    for _ in 0..<count {
      let option: TCPOption
      switch Int.random(in: 0..<(allKinds ? 9 : 6), using: &generator) {
      case 0: option = .endOfOptionList
      case 1: option = .noOperation
      case 2: option = .maximumSegmentSize(UInt16.random(in: .min ... .max, using: &generator))
      case 3: option = .windowScale(UInt8.random(in: .min ... .max, using: &generator))
      case 4: option = .sackPermitted
      case 5:
        option = .timestamps(
          value: UInt32.random(in: .min ... .max, using: &generator),
          echoReply: UInt32.random(in: .min ... .max, using: &generator))
      case 6:
        option = .sack((0..<Int.random(in: 0...3, using: &generator)).map { _ in
          SACKBlock(leftEdge: UInt32.random(in: .min ... .max, using: &generator), rightEdge: UInt32.random(in: .min ... .max, using: &generator))
        })
      case 7:
        // Often a known kind with its own length: its bytes then decode as that kind.
        let kind: UInt8 = Bool.random(using: &generator) ? [2, 3, 4, 8][Int.random(in: 0..<4, using: &generator)] : UInt8.random(in: 9...255, using: &generator)
        option = .unknown(kind: kind, data: (0..<Int.random(in: 0...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
      default:
        option = .raw(kind: UInt8.random(in: 0...255, using: &generator), bytes: (0..<Int.random(in: 0...6, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) })
      }
      let size = wire(option).count
      guard length + size <= maximumLength else { break }
      options.append(option)
      length += size
    }
    return options
  }

  static let source = IPv4Address(10, 1, 2, 3)
  static let destination = IPv4Address(192, 168, 200, 7)

  /// Whether the TCP checksum in `segment` verifies over the pseudo-header, summed by
  /// TestSupport's plain RFC 1071 loop (not PacketKit's checksum).
  static func checksumVerifies(_ segment: ArraySlice<UInt8>) -> Bool {
    let s = source.rawValue
    let d = destination.rawValue
    let length = UInt16(segment.count)
    let pseudo: [UInt8] = [
      UInt8(s >> 24), UInt8((s >> 16) & 0xFF), UInt8((s >> 8) & 0xFF), UInt8(s & 0xFF),
      UInt8(d >> 24), UInt8((d >> 16) & 0xFF), UInt8((d >> 8) & 0xFF), UInt8(d & 0xFF),
      0, 6, UInt8(length >> 8), UInt8(length & 0xFF),
    ]
    return rfc1071(pseudo + Array(segment)) == 0
  }

  static func header(_ options: [TCPOption]) -> TCPHeader {
    TCPHeader(
      sourcePort: 40000, destinationPort: 80, sequenceNumber: 0xDEAD_BEEF, acknowledgmentNumber: 7,
      flags: [.syn, .ack], window: 64240, options: options)
  }

  // MARK: Representation

  /// Whether the area kept its list (not only why it could not).
  static func kept(_ header: TCPHeader) -> Bool { header.optionStorage.failureCode == 0 }

  @Test func everyListThatFitsIsKept() {
    let classic: [TCPOption] = [
      .maximumSegmentSize(16344), .noOperation, .windowScale(5), .noOperation, .noOperation,
      .timestamps(value: 1_525_310_591, echoReply: 0), .sackPermitted, .endOfOptionList,
    ]
    #expect(Self.kept(Self.header([])))
    #expect(Self.kept(Self.header(classic)))
    #expect(Self.kept(Self.header(classic + classic)) == false)  // 46 bytes
    #expect(Self.kept(Self.header(Array(repeating: .noOperation, count: 40))))
    #expect(Self.kept(Self.header(Array(repeating: .noOperation, count: 41))) == false)
    #expect(Self.kept(Self.header([.sack([SACKBlock(leftEdge: 1, rightEdge: 2)])])))
    #expect(Self.kept(Self.header([.noOperation, .unknown(kind: 30, data: [])])))
    #expect(Self.kept(Self.header([.raw(kind: 1, bytes: [])])))
    #expect(InlineOptionArea(classic).length == TCPOption.encodedLength(classic))
    #expect(MemoryLayout<TCPHeader>.size <= 80 && MemoryLayout<IPv4Header>.size <= 80)
  }

  @Test func listsReadBackAsGiven() {
    var generator = SeededGenerator(seed: 0x0710)
    for _ in 0..<2000 {
      let options = Self.randomList(&generator, maximumLength: 40)
      let header = Self.header(options)
      #expect(Self.kept(header))
      #expect(header.options == options, "\(options)")
      #expect(header.encodedLength == 20 + Self.area(options).count)
    }
  }

  // MARK: Equality and hashing, whichever way a header was built

  @Test func everyWayOfBuildingGivesEqualHeadersAndHashes() throws {
    let options: [TCPOption] = [
      .maximumSegmentSize(1460), .sackPermitted, .timestamps(value: 1, echoReply: 2), .noOperation, .windowScale(7),
    ]
    let built = Self.header(options)

    var assigned = Self.header([])
    assigned.options = options

    var appended = Self.header([.maximumSegmentSize(1460)])
    for option in options.dropFirst() { appended.options.append(option) }

    // Through the fallback and back: add a SACK block, then remove it.
    var detoured = Self.header(options)
    detoured.options.append(.sack([SACKBlock(leftEdge: 10, rightEdge: 20)]))
    #expect(detoured != built)
    detoured.options.removeLast()

    // Replace the MSS with an unknown option (fallback), then put the MSS back.
    var replaced = Self.header(options)
    replaced.options[0] = .unknown(kind: 2, data: [0x05, 0xB4, 0x00])
    #expect(replaced != built)
    replaced.options[0] = .maximumSegmentSize(1460)

    // Decoded from the bytes (with the wire's data offset and checksum set to nil again).
    var bytes: [UInt8] = []
    try built.encode(into: &bytes, pseudoHeader: InternetChecksum())
    var decoded = try TCPHeader.decode(from: bytes[...])
    decoded.dataOffset = nil
    decoded.checksum = nil

    let all = [built, assigned, appended, detoured, replaced, decoded]
    for header in all {
      #expect(Self.kept(header))
      #expect(header.options == options)
      #expect(header == built)
      #expect(header.hashValue == built.hashValue)
    }
    #expect(Set(all).count == 1)
    #expect(Set(all.map { IPv4Header(sourceAddress: Self.source, destinationAddress: Self.destination) / $0 }).count == 1)
  }

  @Test func listsOfEveryKindCompareAndHashByValue() {
    let sack: [TCPOption] = [.noOperation, .noOperation, .sack([SACKBlock(leftEdge: 1, rightEdge: 2)])]
    var a = Self.header(sack)
    var b = Self.header([.noOperation])
    b.options += [.noOperation, .sack([SACKBlock(leftEdge: 1, rightEdge: 2)])]
    #expect(a == b)
    #expect(a.hashValue == b.hashValue)
    a.options = [.noOperation, .noOperation, .sack([SACKBlock(leftEdge: 1, rightEdge: 3)])]
    #expect(a != b)
    // Different lists with different representations differ; so do inline lists of equal length.
    #expect(Self.header([.maximumSegmentSize(1)]) != Self.header([.unknown(kind: 2, data: [0, 1])]))
    #expect(Self.header([.maximumSegmentSize(1)]) != Self.header([.maximumSegmentSize(2)]))
    #expect(Self.header([.noOperation, .endOfOptionList]) != Self.header([.endOfOptionList, .noOperation]))
    #expect(Self.header([.noOperation]) != Self.header([]))
  }

  @Test func mutatingTheOptionsRoundTrips() {
    var header = Self.header([.maximumSegmentSize(536)])
    header.options.append(.noOperation)
    header.options.append(.windowScale(14))
    #expect(header.options == [.maximumSegmentSize(536), .noOperation, .windowScale(14)])
    header.options.insert(.sack([SACKBlock(leftEdge: 5, rightEdge: 6), SACKBlock(leftEdge: 7, rightEdge: 8)]), at: 1)
    #expect(header.options.count == 4)
    header.options.remove(at: 1)
    #expect(header.options == [.maximumSegmentSize(536), .noOperation, .windowScale(14)])
    header.options.removeAll()
    #expect(header.options.isEmpty)
    #expect(header == Self.header([]))
    #expect(header.encodedLength == 20)
  }

  // MARK: Bytes

  /// Encodes `header` every way PacketKit can (direct Packet path, general layer path, without
  /// a Packet, header alone, with and without a payload) and checks they all agree.
  static func encodings(_ header: TCPHeader, payload: [UInt8] = []) throws -> [UInt8] {
    let ip = IPv4Header(sourceAddress: source, destinationAddress: destination, identification: 9, flags: .dontFragment)
    let packet = payload.isEmpty ? ip / header : ip / header / payload
    var direct = [UInt8](repeating: 0xA5, count: 130)
    try packet.encode(into: &direct)
    var appended: [UInt8] = [0xEE]
    try packet.encode(appendingTo: &appended)
    var withoutPacket = [UInt8](repeating: 0x5A, count: 3)
    try ip.encode(header, payload: payload, into: &withoutPacket)
    #expect(Array(appended.dropFirst()) == direct)
    #expect(withoutPacket == direct)
    var alone: [UInt8] = []
    let pseudo = InternetChecksum.pseudoHeader(
      sourceAddress: source, destinationAddress: destination, protocol: .tcp, length: direct.count - 20)
    try header.encode(into: &alone, payload: payload, pseudoHeader: pseudo)
    #expect(Array(direct[20...]) == alone)
    return direct
  }

  @Test func optionsEncodeAsTheReferenceWithAValidChecksum() throws {
    var generator = SeededGenerator(seed: 0x5EED)
    for round in 0..<300 {
      let options = Self.randomList(&generator, maximumLength: 40)
      let payload: [UInt8] = round % 3 == 0 ? [] : (0..<(round % 7)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ round) }
      let bytes = try Self.encodings(Self.header(options), payload: payload)
      let area = Self.area(options)
      #expect(bytes.count == 40 + area.count + payload.count)
      #expect(bytes[32] >> 4 == UInt8(5 + area.count / 4))
      #expect(Array(bytes[40..<(40 + area.count)]) == area, "\(options)")
      #expect(Array(bytes[(40 + area.count)...]) == payload)
      #expect(rfc1071(bytes[..<20]) == 0)
      #expect(Self.checksumVerifies(bytes[20...]), "\(options)")
    }
  }

  @Test func theAreaWritesTheReferenceBytesAndSum() throws {
    var generator = SeededGenerator(seed: 0xB0B)
    for _ in 0..<1000 {
      let options = Self.randomList(&generator, maximumLength: 40)
      let area = InlineOptionArea(options)
      let padded = area.paddedCount
      #expect(padded == Self.area(options).count)
      var written = [UInt8](repeating: 0xA5, count: 48)
      written.withUnsafeMutableBufferPointer { buffer in
        guard let base = buffer.baseAddress else { return }
        area.write(ByteWriter(base + 4), at: 0)
      }
      #expect(Array(written[4..<(4 + padded)]) == Self.area(options))
      #expect(written[..<4].allSatisfy { $0 == 0xA5 } && written[(4 + padded)...].allSatisfy { $0 == 0xA5 })
      #expect(~area.checksum.partialSum == rfc1071(Self.area(options)), "\(options)")
    }
  }

  @Test func fallbackOptionsOfEveryKindEncodeByteExactly() throws {
    // Lying raw length (11 for an MSS), an unknown kind, two SACK blocks, then fixed forms.
    let options: [TCPOption] = [
      .raw(kind: 2, bytes: [11, 0x05]), .unknown(kind: 30, data: [0xAB, 0xCD]),
      .sack([SACKBlock(leftEdge: 0x0102_0304, rightEdge: 0x0506_0708), SACKBlock(leftEdge: 9, rightEdge: 10)]),
      .noOperation, .maximumSegmentSize(1460), .windowScale(2), .endOfOptionList,
    ]
    let header = Self.header(options)
    #expect(Self.kept(header))
    #expect(header.options == options)
    let expected: [UInt8] = [
      0x02, 0x0B, 0x05,  // raw: kind 2, then its bytes verbatim
      0x1E, 0x04, 0xAB, 0xCD,  // unknown kind 30, length 4
      0x05, 0x12, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x0A,
      0x01, 0x02, 0x04, 0x05, 0xB4, 0x03, 0x03, 0x02, 0x00,
      0x00, 0x00,  // padding to 36
    ]
    #expect(Self.area(options) == expected)
    let bytes = try Self.encodings(header, payload: [1, 2, 3])
    #expect(Array(bytes[40..<76]) == expected)
    #expect(bytes[32] >> 4 == 14)
    #expect(Self.checksumVerifies(bytes[20...]))
  }

  @Test func moreThanFortyBytesOfOptions() throws {
    let nops = [TCPOption](repeating: .noOperation, count: 41)
    var header = Self.header(nops)
    #expect(Self.kept(header) == false)
    #expect(header.options.isEmpty)
    #expect(header.encodedLength == 64)
    let ip = IPv4Header(sourceAddress: Self.source, destinationAddress: Self.destination)
    #expect(throws: PacketError.computedValueOutOfRange(layer: .tcp, field: "dataOffset", value: 16)) { try (ip / header).encoded() }
    // A data offset set by hand does not make room: at most 40 bytes of options are kept.
    header.dataOffset = 15
    #expect(throws: PacketError.computedValueOutOfRange(layer: .tcp, field: "options length", value: 41)) {
      try (ip / header).encoded()
    }
    // A length octet that does not fit is reported as the writer reports it.
    var huge = Self.header([.unknown(kind: 99, data: Array(repeating: 0, count: 254))])
    huge.dataOffset = 15
    #expect(throws: PacketError.overrideOutOfRange(layer: .tcp, field: "option length", value: 256)) {
      try (ip / huge).encoded()
    }
    #expect(huge != header)

    let forty = Self.header([TCPOption](repeating: .noOperation, count: 40))
    #expect(Self.kept(forty))
    let full = try Self.encodings(forty)
    #expect(full[32] >> 4 == 15)
    #expect(full[40...].allSatisfy { $0 == 1 })
    #expect(Self.checksumVerifies(full[20...]))
  }

  // MARK: Decoding

  /// A TCP header (20 bytes, checksum 0x1234 as if captured) followed by the options `area`.
  static func segment(_ area: [UInt8]) -> [UInt8] {
    [0x9C, 0x40, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
     UInt8(5 + area.count / 4) << 4, 0x02, 0xFA, 0xF0, 0x12, 0x34, 0x00, 0x00] + area
  }

  static func reencoded(_ bytes: [UInt8]) throws -> (TCPHeader, [UInt8]) {
    let header = try TCPHeader.decode(from: offsetSlice(bytes))
    var out: [UInt8] = [0xA5]
    try header.encode(into: &out, pseudoHeader: InternetChecksum())
    return (header, out)
  }

  @Test(arguments: [
    [0x01, 0x00, 0x00, 0x00],  // NOP, EOL, padding
    [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],  // EOL and zeros beyond the padding
    [0x02, 0x04, 0x05, 0xB4, 0x01, 0x03, 0x03, 0x07, 0x04, 0x02, 0x00, 0x00],
    [0x08, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x01],
    [0x02, 0x05, 0x05, 0xB4, 0x00, 0x00, 0x00, 0x00],  // MSS with length 5: unknown
    [0x03, 0x02, 0x01, 0x00],  // window scale with length 2: unknown
    [0x01, 0x01, 0x05, 0x0A, 0, 0, 0, 1, 0, 0, 0, 2],  // SACK
    [0x01, 0x01, 0x02, 0x0B, 0x05, 0xB4, 0x00, 0x00],  // length past the end: raw
    [0x01, 0x1E, 0x01, 0x00],  // length 1: raw
    [0x01, 0x01, 0x01, 0x1E],  // no length octet: raw
    [0x00, 0x01, 0x02, 0x04, 0x05, 0xB4, 0x00, 0x00],  // options after EOL
  ] as [[UInt8]])
  func decodeThenEncodeIsByteExact(area: [UInt8]) throws {
    let bytes = Self.segment(area)
    let (header, out) = try Self.reencoded(bytes)
    #expect(out == bytes)
    #expect(Self.kept(header))
    #expect(header.options == TCPOption.decodeAll(area[...]))
  }

  @Test func randomOptionAreasDecodeAsBeforeAndReencodeExactly() throws {
    var generator = SeededGenerator(seed: 0xA7EA)
    // Mostly the bytes of real options, so that well-formed fixed forms come up often.
    let alphabet: [UInt8] = [0, 1, 2, 3, 4, 8, 10, 4, 2, 3, 5, 0xFF]
    for _ in 0..<2000 {
      let words = Int.random(in: 0...10, using: &generator)
      let area = (0..<(4 * words)).map { _ in
        Bool.random(using: &generator)
          ? alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] : UInt8.random(in: 0...255, using: &generator)
      }
      let bytes = Self.segment(area)
      let (header, out) = try Self.reencoded(bytes)
      #expect(out == bytes, "\(area)")
      let list = TCPOption.decodeAll(area[...])
      #expect(header.options == list, "\(area)")
      // Decoding the area and keeping the decoded list give the same area (one list, one form).
      #expect(header.optionStorage == InlineOptionArea(list), "\(area)")
      #expect(header.optionStorage.hashValue == InlineOptionArea(list).hashValue)
    }
  }

  @Test func capturedSYNReencodes() throws {
    let ip = try IPv4View(validating: Fixture.classicSYN[...])
    let header = TCPHeader(try TCPView(validating: ip.payload))
    #expect(Self.kept(header))
    var packet = Packet(layers: [.ipv4(IPv4Header(ip)), .tcp(header)])
    #expect(try packet.encoded() == Fixture.classicSYN)
    packet.tcp?.sequenceNumber &+= 1
    packet.tcp?.checksum = nil
    let bytes = try packet.encoded()
    #expect(Array(bytes[40...]) == Array(Fixture.classicSYN[40...]))
    #expect(Self.checksumVerifiesLoopback(bytes[20...]))
  }

  /// The classic SYN's addresses (127.0.0.1 both ways).
  static func checksumVerifiesLoopback(_ segment: ArraySlice<UInt8>) -> Bool {
    let length = UInt16(segment.count)
    let pseudo: [UInt8] = [127, 0, 0, 1, 127, 0, 0, 1, 0, 6, UInt8(length >> 8), UInt8(length & 0xFF)]
    return rfc1071(pseudo + Array(segment)) == 0
  }

  // MARK: IPv4 options

  @Test func ipv4ListsOfEveryKindReadBackAndEncodeAsTheWire() throws {
    let lists: [[IPv4Option]] = [
      [],
      [.noOperation, .routerAlert(0), .endOfOptionList],
      [.recordRoute(pointer: 4, addresses: [IPv4Address(10, 0, 0, 1), IPv4Address(10, 0, 0, 2)])],
      [.timestamp(pointer: 5, overflow: 3, flag: 1, words: [1, 2, 3, 4])],
      [.unknown(kind: 148, data: [0, 0]), .raw(kind: 7, bytes: [39, 4, 0])],  // an unknown that looks known; a lying raw
      [IPv4Option](repeating: .noOperation, count: 40),
    ]
    for options in lists {
      var header = IPv4Header(sourceAddress: Self.source, destinationAddress: Self.destination, options: options)
      #expect(header.options == options)
      #expect(header.optionArea.failureCode == 0)
      let bytes = try (header / [UInt8]()).encoded()
      let view = try IPv4View(validating: bytes[...])
      #expect(rfc1071(bytes[..<view.headerLength]) == 0)
      #expect(Array(view.optionBytes.prefix(options.reduce(0) { $0 + $1.encodedLength })) == Self.ipv4Wire(options))
      // Decoded back from the wire: the same bytes again, and the list `decodeAll` gives.
      let decoded = IPv4Header(view)
      #expect(decoded.options == IPv4Option.decodeAll(view.optionBytes))
      #expect(try (decoded / [UInt8]()).encoded() == bytes)
      header.options = []
      #expect(header == IPv4Header(sourceAddress: Self.source, destinationAddress: Self.destination))
    }
    #expect(
      IPv4Header(sourceAddress: Self.source, destinationAddress: Self.destination, options: [.routerAlert(0)])
        != IPv4Header(sourceAddress: Self.source, destinationAddress: Self.destination, options: [.unknown(kind: 148, data: [0, 0])]))
  }

  @Test func ipv4FieldsThatDoNotFitStillThrowWhenEncoded() {
    let bad = IPv4Header(
      sourceAddress: Self.source, destinationAddress: Self.destination,
      options: [.noOperation, .timestamp(pointer: 5, overflow: 16, flag: 0, words: [])])
    #expect(bad.options.isEmpty)
    #expect(throws: PacketError.overrideOutOfRange(layer: .ipv4, field: "timestamp overflow", value: 16)) {
      try (bad / [UInt8]()).encoded()
    }
    var long = bad
    long.options = [IPv4Option](repeating: .noOperation, count: 41)
    #expect(throws: PacketError.computedValueOutOfRange(layer: .ipv4, field: "ihl", value: 16)) { try (long / [UInt8]()).encoded() }
    long.ihl = 15
    #expect(throws: PacketError.computedValueOutOfRange(layer: .ipv4, field: "options length", value: 41)) {
      try (long / [UInt8]()).encoded()
    }
  }

  /// IPv4 option bytes written here without PacketKit (RFC 791, RFC 2113).
  static func ipv4Wire(_ options: [IPv4Option]) -> [UInt8] {
    func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
    func be32(_ v: UInt32) -> [UInt8] { be16(UInt16(v >> 16)) + be16(UInt16(v & 0xFFFF)) }
    return options.flatMap { option -> [UInt8] in
      switch option {
      case .endOfOptionList: [0]
      case .noOperation: [1]
      case .recordRoute(let pointer, let addresses): [7, UInt8(3 + 4 * addresses.count), pointer] + addresses.flatMap { be32($0.rawValue) }
      case .timestamp(let pointer, let overflow, let flag, let words): [68, UInt8(4 + 4 * words.count), pointer, overflow << 4 | flag] + words.flatMap(be32)
      case .routerAlert(let value): [148, 4] + be16(value)
      case .unknown(let kind, let data): [kind, UInt8(2 + data.count)] + data
      case .raw(let kind, let bytes): [kind] + bytes
      }
    }
  }
}

/// The headers' fields are stored packed; what a user prints still names the public fields.
@Suite struct PackedHeaderPrintingTests {
  @Test func printNamesThePublicFields() {
    let tcp = TCPHeader(sourcePort: 40000, destinationPort: 80, sequenceNumber: 7, options: [.maximumSegmentSize(1460)])
    let text = String(describing: tcp)
    #expect(text.hasPrefix("TCPHeader(sourcePort: 40000, destinationPort: 80, sequenceNumber: 7,"))
    #expect(text.contains("options: [PacketKit.TCPOption.maximumSegmentSize(1460)]"))
    #expect(!text.contains("controls") && !text.contains("optionStorage"))
    let ip = IPv4Header(sourceAddress: IPv4Address(10, 0, 0, 1), destinationAddress: IPv4Address(10, 0, 0, 2), checksum: 0xBEEF)
    let ipText = String(describing: Packet(layers: [.ipv4(ip)]))
    #expect(ipText.contains("version: 4, ihl: nil"))
    #expect(ipText.contains("checksum: Optional(48879)"))
    #expect(!ipText.contains("octets") && !ipText.contains("optionArea"))
  }
}
