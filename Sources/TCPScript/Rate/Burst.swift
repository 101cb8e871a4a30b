import PacketKit

/// One field that changes from packet to packet of a burst. Packet `index` (0, 1, 2, ...) gets a
/// value that depends on the index only, so any packet of a burst can be rebuilt afterwards
/// (`Burst.packet(at:)`): that is how tests compare what arrived with what was sent.
public enum FieldWalk: Sendable {
  /// `start + index × step` (modulo 2³²): a new sequence number per packet.
  case sequenceNumber(start: UInt32, step: UInt32 = 1)
  /// `start + index × step` (modulo 2³²).
  case acknowledgmentNumber(start: UInt32, step: UInt32 = 1)
  /// Cycles through the range: `lower + index mod count`.
  case sourcePort(ClosedRange<UInt16>)
  /// Cycles through the range.
  case destinationPort(ClosedRange<UInt16>)
  /// Cycles through the list (e.g. `[.syn, [.syn, .ack], [.fin, .ack]]`); an empty list changes nothing.
  case flags([TCPFlags])
  /// `start + index × step` (modulo 2¹⁶): the IPv4 identification.
  case identification(start: UInt16, step: UInt16 = 1)
  /// Cycles through the range.
  case window(ClosedRange<UInt16>)
  /// `start + index × step` (modulo 2²⁰): the IPv6 flow label (changes nothing over IPv4).
  case flowLabel(start: UInt32, step: UInt32 = 1)
  /// Anything else: called with the packet index and the template to change (through its
  /// accessors, which keep computed checksums right).
  case custom(@Sendable (Int, inout TCPSegmentTemplate) -> Void)

  /// Sets this walk's field of `template` for packet `index`.
  @inline(__always)
  public func apply(index: Int, to template: inout TCPSegmentTemplate) {
    let wide = UInt64(truncatingIfNeeded: index)
    switch self {
    case .sequenceNumber(let start, let step):
      template.sequenceNumber = start &+ UInt32(truncatingIfNeeded: wide &* UInt64(step))
    case .acknowledgmentNumber(let start, let step):
      template.acknowledgmentNumber = start &+ UInt32(truncatingIfNeeded: wide &* UInt64(step))
    case .sourcePort(let range):
      template.sourcePort = Self.cycle(range, wide)
    case .destinationPort(let range):
      template.destinationPort = Self.cycle(range, wide)
    case .flags(let list):
      guard !list.isEmpty else { return }
      template.flags = list[Int(wide % UInt64(list.count))]
    case .identification(let start, let step):
      template.identification = start &+ UInt16(truncatingIfNeeded: wide &* UInt64(step))
    case .window(let range):
      template.window = Self.cycle(range, wide)
    case .flowLabel(let start, let step):
      template.flowLabel = (start &+ UInt32(truncatingIfNeeded: wide &* UInt64(step))) & 0xF_FFFF
    case .custom(let body):
      body(index, &template)
    }
  }

  @inline(__always)
  private static func cycle(_ range: ClosedRange<UInt16>, _ index: UInt64) -> UInt16 {
    let count = UInt64(range.upperBound) - UInt64(range.lowerBound) + 1
    return range.lowerBound &+ UInt16(truncatingIfNeeded: index % count)
  }
}

/// A family of packets to send at rate: one encoded packet (`TCPSegmentTemplate`) whose fields
/// walk per packet (`FieldWalk`), or a generator that builds each packet from its index.
///
/// The template path is the fast one: a packet costs a few stores and RFC 1624 checksum
/// updates, then one copy into the send buffer; no encode, no allocation. The generator path
/// encodes a `Packet` per index into a reused buffer (for edge-case families whose shape changes).
///
/// ```swift
/// let syn = IPv4Header(sourceAddress: .init(127,0,0,1), destinationAddress: .init(127,0,0,1))
///   / TCPHeader(sourcePort: 40000, destinationPort: 9, flags: .syn)
/// var burst = try Burst(syn, walks: [.sequenceNumber(start: 1000)])
/// let tenth = burst.packet(at: 9)   // the bytes packet 9 carries (seq 1009)
/// ```
public struct Burst {
  /// The encoded packet whose fields walk (`nil` for generator bursts).
  public private(set) var template: TCPSegmentTemplate?
  /// The walks applied to the template, in order, for each packet.
  public let walks: [FieldWalk]
  /// Builds packet `index` (generator bursts).
  public let generator: (@Sendable (Int) throws(PacketError) -> Packet)?
  /// Offset of the IP header (IPv4 or IPv6) in each packet (0 for layer-3 bursts, 14 behind
  /// Ethernet).
  public let ipv4Offset: Int
  /// For generator bursts: the longest packet expected (default 1514). The sender counts a
  /// longer one as an error; it is never truncated.
  public var maximumGeneratedLength = 1514
  private var scratch: [UInt8] = []
  /// Packets encoded once, cycled through (`init(cycling:)`).
  private var encoded: [[UInt8]] = []

  /// A burst of `packet` (IPv4 directly followed by TCP, or IPv6 then TCP, optionally behind
  /// Ethernet) with
  /// `walks` applied per packet, in order (a later walk of the same field wins).
  /// - Throws: what `TCPSegmentTemplate.init` throws.
  public init(_ packet: Packet, walks: [FieldWalk]) throws(PacketError) {
    let template = try TCPSegmentTemplate(packet)
    self.template = template
    self.walks = walks
    self.generator = nil
    ipv4Offset = template.ipv4Offset
  }

  /// A burst whose packet `index` is `generator(index)`, encoded afresh into a reused buffer.
  /// `ipv4Offset` says where the IPv4 header starts (0 for layer 3, 14 behind Ethernet).
  public init(ipv4Offset: Int = 0, generator: @escaping @Sendable (Int) throws(PacketError) -> Packet) {
    template = nil
    walks = []
    self.generator = generator
    self.ipv4Offset = max(0, ipv4Offset)
    scratch.reserveCapacity(256)
  }

  /// A burst that cycles through `packets` (packet `index` is `packets[index % packets.count]`),
  /// each encoded once, here: sending then costs a copy a packet. For a family of edge cases
  /// (e.g. every boundary value of every field) sent over and over at rate.
  /// - Throws: what encoding a packet throws; `.invalidField` for an empty list.
  public init(cycling packets: [Packet], ipv4Offset: Int = 0) throws(PacketError) {
    guard !packets.isEmpty else {
      throw .invalidField(layer: .payload, field: "packets (need at least one)", value: 0)
    }
    var encoded: [[UInt8]] = []
    encoded.reserveCapacity(packets.count)
    for packet in packets { encoded.append(try packet.encoded()) }
    template = nil
    walks = []
    generator = nil
    self.ipv4Offset = max(0, ipv4Offset)
    self.encoded = encoded
    maximumGeneratedLength = encoded.map(\.count).max() ?? 0
  }

  /// The longest packet the burst writes, for sizing buffers: the template's length, the
  /// longest of the cycled packets, or `maximumGeneratedLength`.
  public var maximumLength: Int { template?.bytes.count ?? maximumGeneratedLength }

  /// Makes packet `index` current and hands its bytes to `body` (no copy on the template path).
  /// - Throws: what the generator throws.
  @inline(__always)
  public mutating func withPacket<R>(
    at index: Int, _ body: (UnsafeRawBufferPointer) -> R
  ) throws(PacketError) -> R {
    // Move the template out while it changes, so that its bytes are uniquely referenced (no copy).
    if var current = template.take() {
      for walk in walks { walk.apply(index: index, to: &current) }
      let result = current.bytes.withUnsafeBytes { body($0) }
      template = current
      return result
    }
    if !encoded.isEmpty {
      let slot = Int(UInt(bitPattern: index) % UInt(encoded.count))
      return encoded[slot].withUnsafeBytes { body($0) }
    }
    guard let generator else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
    try generator(index).encode(into: &scratch)
    return scratch.withUnsafeBytes { body($0) }
  }

  /// The bytes of packet `index`, as sent (a copy).
  public mutating func packet(at index: Int) throws(PacketError) -> [UInt8] {
    try withPacket(at: index) { Array($0) }
  }
}
