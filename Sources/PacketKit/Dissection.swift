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
  public var interfaceNames: [UInt32: String]

  public init(
    checksumNotReady: Bool = false, verifyChecksums: Bool = true, interfaceNames: [UInt32: String] = [:]
  ) {
    self.checksumNotReady = checksumNotReady
    self.verifyChecksums = verifyChecksums
    self.interfaceNames = interfaceNames
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
    /// Data carried by the layer below (TCP/UDP payload, ICMP data, a non-first fragment,
    /// an unknown protocol's bytes).
    case payload
    /// Bytes after the end the IPv4 total length gives (e.g. Ethernet padding).
    case trailer
    /// Bytes that could not be parsed as `expected`; `reason` says why.
    case raw(expected: ProtocolLayer?, reason: PacketError)
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
  public internal(set) var layers: [DissectedLayer]

  init(bytes: ArraySlice<UInt8>, linkType: LinkType, options: DissectionOptions, layers: [DissectedLayer]) {
    self.bytes = bytes
    self.linkType = linkType
    self.options = options
    self.layers = layers
  }

  /// Every problem of every layer, outermost first (includes `.checksumPartial` notes; filter
  /// with `isDefect`).
  public var problems: [DissectionProblem] { layers.flatMap(\.problems) }

  /// Whether some problem is a real defect.
  public var isMalformed: Bool { problems.contains { $0.isDefect } }

  /// The bytes of `layer`.
  public func bytes(of layer: DissectedLayer) -> ArraySlice<UInt8> {
    let start = bytes.startIndex + min(layer.range.lowerBound, bytes.count)
    let end = bytes.startIndex + min(layer.range.upperBound, bytes.count)
    return bytes[start..<end]
  }

  /// The first (outermost, not quoted) layer of a kind, with the bytes from its start to the end
  /// of its enclosing packet.
  public func firstLayer(_ predicate: (DissectedLayer.Kind) -> Bool) -> DissectedLayer? {
    layers.first { !$0.isQuoted && predicate($0.kind) }
  }
}
