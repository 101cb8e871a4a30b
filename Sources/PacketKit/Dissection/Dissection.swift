/// Options for `dissect(_:linkType:options:)`.
public struct DissectionOptions: Hashable, Sendable {
  /// Set for frames the kernel captured with `TP_STATUS_CSUMNOTREADY` (`CHECKSUM_PARTIAL`): a
  /// TCP or UDP checksum field that holds only the folded pseudo-header sum (the kernel or the
  /// NIC was to finish it) is then reported as `.checksumPartial`, not as a bad checksum.
  /// Any other wrong value is still bad.
  public var checksumNotReady: Bool
  /// Whether to verify checksums at all (default `true`).
  public var verifyChecksums: Bool
  /// Interface names by index, for `LINKTYPE_LINUX_SLL2` summaries: tcpdump starts those lines
  /// with the interface name and direction ("lo    In  IP ..."). PacketKit makes no syscalls, so
  /// the caller supplies the names (e.g. from `/sys/class/net/*/ifindex`); unknown ones print
  /// "?" as tcpdump does.
  public var interfaceNames: [UInt32: String] {
    get { storedInterfaceNames?.names ?? [:] }
    set { storedInterfaceNames = newValue.isEmpty ? nil : InterfaceNameTable(newValue) }
  }
  /// `nil` when empty: options without names (the common case) then hold no reference, and a
  /// `Dissection` that keeps them costs no reference counting for them. A class, not the
  /// dictionary itself: releasing a `nil` dictionary is still a runtime call in every dissect
  /// (`swift_bridgeObjectRelease`), releasing a `nil` class reference is nothing.
  @usableFromInline internal var storedInterfaceNames: InterfaceNameTable?

  /// The names, held by reference (set once, shared by every `Dissection` made with them).
  @usableFromInline
  internal final class InterfaceNameTable: Sendable {
    let names: [UInt32: String]
    init(_ names: [UInt32: String]) { self.names = names }
  }

  /// Options without interface names. Inlinable, and apart from the initializer that takes
  /// names: `dissect`'s default `DissectionOptions()` then makes no dictionary to release.
  @inlinable
  public init(checksumNotReady: Bool = false, verifyChecksums: Bool = true) {
    self.checksumNotReady = checksumNotReady
    self.verifyChecksums = verifyChecksums
    self.storedInterfaceNames = nil
  }

  /// Options with interface names (see `interfaceNames`).
  public init(checksumNotReady: Bool = false, verifyChecksums: Bool = true, interfaceNames: [UInt32: String]) {
    self.checksumNotReady = checksumNotReady
    self.verifyChecksums = verifyChecksums
    self.interfaceNames = interfaceNames
  }

  public static func == (lhs: DissectionOptions, rhs: DissectionOptions) -> Bool {
    lhs.checksumNotReady == rhs.checksumNotReady && lhs.verifyChecksums == rhs.verifyChecksums
      && lhs.interfaceNames == rhs.interfaceNames
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(checksumNotReady)
    hasher.combine(verifyChecksums)
    hasher.combine(interfaceNames)
  }
}

/// Something wrong (or notable) in a dissected frame, reported as data.
public enum DissectionProblem: Hashable, Sendable {
  /// The layer needed `needed` bytes and only `available` were captured.
  case truncated(layer: ProtocolLayer, needed: Int, available: Int)
  /// A stored checksum differs from the correct one (`correct` is what the field should hold).
  case badChecksum(layer: ProtocolLayer, stored: UInt16, correct: UInt16)
  /// A field whose value makes (part of) the layer unparsable: IPv4 version ≠ 4, IHL < 5,
  /// total length < header length, TCP data offset < 5, UDP length < 8.
  case invalidField(layer: ProtocolLayer, field: String, value: UInt64)
  /// The TCP data offset points past the end of the segment.
  case dataOffsetBeyondSegment(headerLength: Int, segmentLength: Int)
  /// An option whose length octet is 0 or 1, or runs past the options area (or is missing).
  case badOption(layer: ProtocolLayer, kind: UInt8, length: UInt8?, offset: Int, available: Int)
  /// The IPv4 total length (or UDP length) claims more bytes than the frame holds.
  case lengthExceedsData(layer: ProtocolLayer, length: Int, available: Int)
  /// The IPv4 total length (or UDP length) is shorter than the data: `extra` bytes follow it.
  case lengthShorterThanData(layer: ProtocolLayer, length: Int, available: Int)
  /// Not a problem: the TCP/UDP checksum holds only the pseudo-header sum (see
  /// `DissectionOptions.checksumNotReady`).
  case checksumPartial(layer: ProtocolLayer, stored: UInt16)

  /// Whether this is a real defect (everything but `.checksumPartial`).
  public var isDefect: Bool {
    if case .checksumPartial = self { return false }
    return true
  }
}

extension DissectionProblem: CustomStringConvertible {
  /// The short note `summary` appends in brackets.
  public var description: String {
    switch self {
    case .truncated(let layer, let needed, let available):
      "\(layer.shortName) truncated: \(needed) bytes needed, \(available) captured"
    case .badChecksum(let layer, let stored, let correct):
      "bad \(layer.shortName) cksum 0x\(Fmt.hex(stored, width: 4)) -> 0x\(Fmt.hex(correct, width: 4))"
    case .invalidField(let layer, let field, let value):
      "bad \(layer.shortName) \(field) \(value)"
    case .dataOffsetBeyondSegment(let headerLength, let segmentLength):
      "tcp data offset \(headerLength / 4) (\(headerLength) bytes) beyond the \(segmentLength)-byte segment"
    case .badOption(let layer, let kind, let length, let offset, let available):
      if let length {
        length < 2
          ? "\(layer.shortName) option \(kind) at +\(offset) has bad length \(length)"
          : "\(layer.shortName) option \(kind) at +\(offset) length \(length) overruns (\(available) left)"
      } else {
        "\(layer.shortName) option \(kind) at +\(offset) has no length octet"
      }
    case .lengthExceedsData(let layer, let length, let available):
      "\(layer.shortName) length \(length) > \(available) bytes present"
    case .lengthShorterThanData(let layer, let length, let available):
      "\(layer.shortName) length \(length) < \(available) bytes present"
    case .checksumPartial(let layer, let stored):
      "\(layer.shortName) cksum 0x\(Fmt.hex(stored, width: 4)) partial (offloaded)"
    }
  }
}

extension ProtocolLayer {
  /// The lower-case short name tcpdump uses ("ip", "tcp", ...).
  public var shortName: String {
    switch self {
    case .ethernet: "ether"
    case .linuxSLL: "sll"
    case .ipv4: "ip"
    case .tcp: "tcp"
    case .udp: "udp"
    case .icmpv4: "icmp"
    case .ipv6: "ip6"
    case .ipv6HopByHop: "HBH"
    case .ipv6Routing: "srcrt"
    case .ipv6Fragment: "frag"
    case .ipv6DestinationOptions: "DSTOPT"
    case .icmpv6: "icmp6"
    case .payload: "payload"
    }
  }
}

/// One layer found in a frame: what it is, where its bytes are, and what is wrong with it.
public struct DissectedLayer: Hashable, Sendable {
  /// What a layer is.
  public enum Kind: Hashable, Sendable {
    /// BSD loopback header (`LINKTYPE_NULL`), 4 bytes.
    case null
    /// Ethernet II header, 14 bytes.
    case ethernet
    /// An 802.1Q / 802.1ad VLAN tag after the Ethernet header: TCI (priority, DEI, VLAN ID) and
    /// the next EtherType, 4 bytes.
    case vlan
    /// Linux cooked-capture header (v1 16 bytes, v2 20 bytes).
    case linuxSLL
    /// IPv4 header (with options).
    case ipv4
    /// TCP header (with options).
    case tcp
    /// UDP header, 8 bytes.
    case udp
    /// ICMPv4 header, 8 bytes (type, code, checksum, rest of header).
    case icmpv4
    /// IPv6 fixed header, 40 bytes.
    case ipv6
    /// One IPv6 extension header (Hop-by-Hop, Routing, Fragment, Destination Options); its
    /// first byte-pair says which through the header before it.
    case ipv6Extension
    /// ICMPv6 header, 8 bytes (24 with the target address of a neighbour message, plus its
    /// options).
    case icmpv6
    /// Data carried by the layer below (TCP/UDP payload, ICMP data, a non-first fragment,
    /// an unknown protocol's bytes).
    case payload
    /// Bytes after the end the IPv4 total length gives (e.g. Ethernet padding).
    case trailer
    /// Bytes that could not be parsed as `expected`; `reason` says why.
    indirect case raw(expected: ProtocolLayer?, reason: PacketError)
  }

  /// What this layer is.
  public var kind: Kind
  /// Where its bytes are, as offsets from the first byte of the frame (zero-based).
  public var range: Range<Int>
  /// Whether the layer is inside an ICMP error's quoted datagram (nesting depth > 0).
  public var isQuoted: Bool
  /// What is wrong with this layer.
  public var problems: [DissectionProblem]

  public init(kind: Kind, range: Range<Int>, isQuoted: Bool = false, problems: [DissectionProblem] = []) {
    self.kind = kind
    self.range = range
    self.isQuoted = isQuoted
    self.problems = problems
  }

  /// A short name ("IPv4", "TCP", "Raw", ...).
  public var name: String {
    switch kind {
    case .null: "Loopback"
    case .ethernet: "Ethernet"
    case .vlan: "802.1Q"
    case .linuxSLL: "LinuxSLL"
    case .ipv4: "IPv4"
    case .tcp: "TCP"
    case .udp: "UDP"
    case .icmpv4: "ICMP"
    case .ipv6: "IPv6"
    case .ipv6Extension: "IPv6Ext"
    case .icmpv6: "ICMPv6"
    case .payload: "Payload"
    case .trailer: "Trailer"
    case .raw: "Raw"
    }
  }
}

/// The result of dissecting one frame: every byte belongs to exactly one layer, in order.
///
/// Layers tile the frame: `layers[0].range.lowerBound == 0`, each layer starts where the previous
/// one ends, and the last ends at `bytes.count`. Nothing is thrown away; what could not be parsed
/// is a `.raw` layer whose `reason` says why.
public struct Dissection: Sendable {
  /// The frame as given.
  public let bytes: ArraySlice<UInt8>
  /// How the frame starts.
  public let linkType: LinkType
  /// The options it was dissected with.
  public let options: DissectionOptions
  /// The layers, outermost first; ICMP's quoted datagram follows the ICMP layer with `isQuoted`.
  public let layers: DissectedLayers

  @inlinable init(bytes: ArraySlice<UInt8>, linkType: LinkType, options: DissectionOptions, layers: DissectedLayers) {
    self.bytes = bytes
    self.linkType = linkType
    self.options = options
    self.layers = layers
  }

  init(bytes: ArraySlice<UInt8>, linkType: LinkType, options: DissectionOptions, layers: [DissectedLayer]) {
    self.init(bytes: bytes, linkType: linkType, options: options, layers: DissectedLayers(layers))
  }

  /// Every problem of every layer, outermost first (includes `.checksumPartial` notes; filter
  /// with `isDefect`).
  public var problems: [DissectionProblem] { layers.hasProblems ? layers.flatMap(\.problems) : [] }

  /// Whether some problem is a real defect.
  public var isMalformed: Bool { layers.hasProblems && problems.contains { $0.isDefect } }

  /// The bytes of `layer`.
  public func bytes(of layer: DissectedLayer) -> ArraySlice<UInt8> {
    let start = bytes.startIndex + min(layer.range.lowerBound, bytes.count)
    let end = bytes.startIndex + min(layer.range.upperBound, bytes.count)
    return bytes[start..<end]
  }
}

/// The layers of a `Dissection`, outermost first, as a random-access collection of
/// `DissectedLayer` values.
///
/// A frame of up to 65535 bytes whose layers tile it, have no problems and include no `.raw`
/// layer (nearly every captured frame) keeps up to eight layers in three machine words:
/// dissecting it allocates nothing and its result holds no reference besides the frame's bytes.
/// Any other frame keeps an array. Which form a value uses is not observable: equality and
/// hashing compare the layers.
public struct DissectedLayers: RandomAccessCollection, Hashable, Sendable {
  @usableFromInline static var inlineCapacity: Int { 8 }
  /// Compact form: one byte per layer, low to high: 1 + the kind's tag, 0x80 when quoted; 0 after
  /// the last layer.
  @usableFromInline var tags: UInt64
  /// Compact form: where layers 0...3 and 4...7 end, 16 bits each (each layer starts where the
  /// one before ends; the first at 0).
  @usableFromInline var ends0: UInt64
  @usableFromInline var ends1: UInt64
  /// Every layer, once some layer does not fit the compact form (then the compact fields are 0).
  @usableFromInline var spilled: [DissectedLayer]?

  /// No layers.
  @inlinable @inline(__always) public init() {
    tags = 0
    ends0 = 0
    ends1 = 0
    spilled = nil
  }

  @inlinable @inline(__always) var compactCount: Int { (71 &- tags.leadingZeroBitCount) >> 3 }

  /// Where compact layer `i` (0...7) ends.
  @inlinable @inline(__always) func compactEnd(_ i: Int) -> Int {
    let word = i < 4 ? ends0 : ends1
    return Int(truncatingIfNeeded: (word >> (UInt64(i & 3) &* 16)) & 0xFFFF)
  }

  @inlinable public var startIndex: Int { 0 }
  @inlinable public var endIndex: Int {
    @inline(__always) get { spilled?.count ?? compactCount }
  }

  @inlinable @inline(__always) public subscript(position: Int) -> DissectedLayer {
    if spilled != nil { return spilledLayer(at: position) }
    precondition(position >= 0 && position < compactCount, "DissectedLayers index out of range")
    let lower = position == 0 ? 0 : compactEnd(position &- 1)
    let tag = UInt8(truncatingIfNeeded: tags >> (8 &* UInt64(position)))
    return DissectedLayer(
      kind: DissectedLayers.kind((tag & 0x7F) &- 1), range: lower..<compactEnd(position), isQuoted: tag & 0x80 != 0)
  }

  @usableFromInline func spilledLayer(at position: Int) -> DissectedLayer {
    guard let spilled else { preconditionFailure("DissectedLayers: no array form") }
    return spilled[position]
  }

  @inlinable public var first: DissectedLayer? {
    @inline(__always) get { isEmpty ? nil : self[0] }
  }

  @inlinable public var last: DissectedLayer? {
    @inline(__always) get { isEmpty ? nil : self[endIndex &- 1] }
  }

  /// Whether some layer has a problem (cheap: the compact form has none).
  @inlinable public var hasProblems: Bool {
    guard let spilled else { return false }
    return spilled.contains { !$0.problems.isEmpty }
  }

  /// Appends `layer`.
  @inlinable mutating func append(_ layer: DissectedLayer) {
    if layer.problems.isEmpty {
      append(layer.kind, layer.range, isQuoted: layer.isQuoted)
    } else {
      spill()
      spilled?.append(layer)
    }
  }

  /// Appends a layer without problems.
  @inlinable mutating func append(_ kind: DissectedLayer.Kind, _ range: Range<Int>, isQuoted: Bool) {
    if let tag = Self.tag(kind), appendCompact(tag: tag, range, isQuoted: isQuoted) { return }
    appendSpilled(DissectedLayer(kind: kind, range: range, isQuoted: isQuoted))
  }

  /// Appends `added` (1...4) problem-free layers in the compact form, in one step: `newTags`
  /// holds their tag bytes (1 + `tag(_:)`, 0x80 when quoted) and `newEnds` their 16-bit ends,
  /// first layer lowest; the first starts at `start`, the last ends at `lastEnd`. `false`
  /// (nothing changed) when they do not fit that form.
  @inlinable @inline(always)
  mutating func appendCompact(tags newTags: UInt64, ends newEnds: UInt64, added: Int, start: Int, lastEnd: Int) -> Bool {
    let count = compactCount
    guard spilled == nil, count &+ added <= Self.inlineCapacity, lastEnd <= 0xFFFF,
      start == (count == 0 ? 0 : compactEnd(count &- 1))
    else { return false }
    tags |= newTags << (8 &* UInt64(count))
    if count < 4 {
      ends0 |= newEnds << (UInt64(count) &* 16)
      // Ends past slot 3 continue in `ends1`.
      if count > 0 && count &+ added > 4 { ends1 |= newEnds >> (64 &- UInt64(count) &* 16) }
    } else {
      ends1 |= newEnds << (UInt64(count &- 4) &* 16)
    }
    return true
  }

  /// Appends one problem-free layer in the compact form, given its kind's tag (`tag(_:)`);
  /// `false` (nothing changed) when it does not fit that form.
  @inlinable @inline(__always)
  mutating func appendCompact(tag: UInt8, _ range: Range<Int>, isQuoted: Bool) -> Bool {
    appendCompact(
      tags: UInt64((tag &+ 1) | (isQuoted ? 0x80 : 0)), ends: UInt64(truncatingIfNeeded: range.upperBound), added: 1,
      start: range.lowerBound, lastEnd: range.upperBound)
  }

  @usableFromInline mutating func appendSpilled(_ layer: DissectedLayer) {
    spill()
    spilled?.append(layer)
  }

  /// Adds `problems` to the last layer (if there is one).
  mutating func appendProblems(toLast problems: [DissectionProblem]) {
    guard !problems.isEmpty, !isEmpty else { return }
    spill()
    guard var all = spilled else { return }
    spilled = nil  // keep the array uniquely referenced while it changes
    all[all.count - 1].problems += problems
    spilled = all
  }

  /// Moves the layers into the array form.
  @usableFromInline mutating func spill() {
    guard spilled == nil else { return }
    var all: [DissectedLayer] = []
    all.reserveCapacity(compactCount + 2)
    for i in 0..<compactCount { all.append(self[i]) }
    spilled = all
    tags = 0
    ends0 = 0
    ends1 = 0
  }

  @inlinable static func tag(_ kind: DissectedLayer.Kind) -> UInt8? {
    switch kind {
    case .null: 0
    case .ethernet: 1
    case .vlan: 2
    case .linuxSLL: 3
    case .ipv4: 4
    case .tcp: 5
    case .udp: 6
    case .icmpv4: 7
    case .payload: 8
    case .trailer: 9
    case .ipv6: 10
    case .ipv6Extension: 11
    case .icmpv6: 12
    case .raw: nil
    }
  }

  /// The compact form's tag byte of a problem-free, unquoted layer of `kind` (1 + `tag(_:)`);
  /// 0 for `.raw`, which has none.
  @inlinable @inline(__always) static func compactTag(_ kind: DissectedLayer.Kind) -> UInt64 {
    guard let tag = tag(kind) else { return 0 }
    return UInt64(tag &+ 1)
  }

  @inlinable @inline(__always) static func kind(_ tag: UInt8) -> DissectedLayer.Kind {
    switch tag {
    case 0: .null
    case 1: .ethernet
    case 2: .vlan
    case 3: .linuxSLL
    case 4: .ipv4
    case 5: .tcp
    case 6: .udp
    case 7: .icmpv4
    case 9: .trailer
    case 10: .ipv6
    case 11: .ipv6Extension
    case 12: .icmpv6
    default: .payload
    }
  }

  public static func == (lhs: DissectedLayers, rhs: DissectedLayers) -> Bool {
    lhs.elementsEqual(rhs)
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(count)
    for layer in self { hasher.combine(layer) }
  }
}

extension DissectedLayers: ExpressibleByArrayLiteral {
  /// The layers of `layers`, in order (so `dissection.layers == [...]` reads as with an array).
  public init(_ layers: some Sequence<DissectedLayer>) {
    self.init()
    for layer in layers { append(layer) }
  }

  public init(arrayLiteral layers: DissectedLayer...) { self.init(layers) }
}

extension DissectedLayers: CustomStringConvertible {
  public var description: String { Array(self).description }
}
