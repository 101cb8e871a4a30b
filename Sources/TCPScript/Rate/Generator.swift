import PacketKit

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast generator whose whole state is one
/// `UInt64`. The same seed gives the same numbers on every machine, which is what a harness
/// needs to replay a run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  public private(set) var state: UInt64

  public init(seed: UInt64) { state = seed }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// A header field a generator can walk.
public enum SegmentField: String, CaseIterable, Sendable {
  case sequenceNumber = "seq"
  case acknowledgmentNumber = "ack"
  case dataOffset = "data-offset"
  case reserved = "reserved"
  case flags = "flags"
  case window = "window"
  case checksum = "checksum"
  case urgentPointer = "urgent-pointer"
  case optionLength = "option-length"
  case maximumSegmentSize = "mss"
  case windowScale = "wscale"
  case payloadLength = "payload-length"
  case ipVersion = "ip-version"
  case ipIHL = "ip-ihl"
  case ipTotalLength = "ip-total-length"
  case ipFlags = "ip-flags"
  case ipFragmentOffset = "ip-fragment-offset"
  case ipTimeToLive = "ip-ttl"
  case ipChecksum = "ip-checksum"

  /// Width of the field in bits (the values a random walk draws from).
  public var bits: Int {
    switch self {
    case .sequenceNumber, .acknowledgmentNumber: 32
    case .dataOffset, .ipVersion, .ipIHL: 4
    case .reserved, .ipFlags: 3
    case .flags: 9
    case .window, .checksum, .urgentPointer, .maximumSegmentSize, .ipTotalLength, .ipChecksum: 16
    case .optionLength, .windowScale, .ipTimeToLive: 8
    case .payloadLength: 11  // up to 1460 bytes, clamped
    case .ipFragmentOffset: 13
    }
  }

  /// The boundary values of the field: its extremes, the values next to them, and the points
  /// where its meaning changes (data offset 5, window scale 14, sequence 2^31).
  public var boundaryValues: [UInt64] {
    switch self {
    case .sequenceNumber, .acknowledgmentNumber:
      [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFE, 0xFFFF_FFFF]
    case .dataOffset: [0, 1, 4, 5, 6, 14, 15]
    case .reserved: [0, 1, 2, 4, 7]
    case .flags: [0x000, 0x001, 0x002, 0x003, 0x004, 0x006, 0x010, 0x012, 0x014, 0x029, 0x0C2, 0x100, 0x1FF]
    case .window, .urgentPointer: [0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]
    case .checksum, .ipChecksum: [0x0000, 0x0001, 0xFFFE, 0xFFFF]
    case .optionLength: [0, 1, 2, 3, 4, 5, 39, 40, 41, 255]
    case .maximumSegmentSize: [0, 1, 535, 536, 1460, 65535]
    case .windowScale: [0, 1, 13, 14, 15, 255]
    case .payloadLength: [0, 1, 535, 536, 1459, 1460]
    case .ipVersion: [0, 3, 4, 5, 6, 15]
    case .ipIHL: [0, 1, 4, 5, 6, 15]
    case .ipTotalLength: [0, 1, 19, 20, 39, 40, 41, 0xFFFF]
    case .ipFlags: [0, 1, 2, 3, 4, 7]
    case .ipFragmentOffset: [0, 1, 2, 0x1FFE, 0x1FFF]
    case .ipTimeToLive: [0, 1, 2, 64, 254, 255]
    }
  }
}

/// One generated packet: which field took which value, and the packet.
public struct GeneratedSegment: Sendable {
  public var field: SegmentField
  public var value: UInt64
  public var packet: Packet
  /// `seq=2147483648`
  public var label: String { "\(field.rawValue)=\(value)" }
}

/// Families of segments for harnesses: a template SYN (or any segment) with one field walked
/// over its boundary values, or drawn at random from a seeded generator.
///
/// ```swift
/// let generator = SegmentGenerator(source: Endpoint(IPv4Address(127, 0, 0, 1), 40000),
///                                  destination: Endpoint(IPv4Address(127, 0, 0, 1), 8080))
/// for segment in generator.walk(.dataOffset) { try send(segment.packet.encoded()) }
/// var random = SplitMix64(seed: 7)
/// let fuzz = generator.random(count: 100, using: &random)   // same 100 packets for seed 7
/// ```
public struct SegmentGenerator: Sendable {
  public var ip: IPv4Header
  public var tcp: TCPHeader
  public var payload: [UInt8]

  /// A template SYN from `source` to `destination` (seq 1, window 65535, MSS 1460). IPv4 only:
  /// an IPv6 endpoint's address becomes 0.0.0.0.
  public init(source: Endpoint, destination: Endpoint, sequence: UInt32 = 1) {
    ip = IPv4Header(
      sourceAddress: source.ipv4 ?? .any, destinationAddress: destination.ipv4 ?? .any,
      identification: 1, flags: .dontFragment)
    tcp = TCPHeader(
      sourcePort: source.port, destinationPort: destination.port, sequenceNumber: sequence, flags: .syn,
      options: [.maximumSegmentSize(1460)])
    payload = []
  }

  /// A generator over any template.
  public init(ip: IPv4Header, tcp: TCPHeader, payload: [UInt8] = []) {
    self.ip = ip
    self.tcp = tcp
    self.payload = payload
  }

  /// The template with `field` set to `value` (truncated to the field's width).
  public func segment(_ field: SegmentField, _ value: UInt64) -> GeneratedSegment {
    var ip = self.ip
    var tcp = self.tcp
    var payload = self.payload
    let v32 = UInt32(truncatingIfNeeded: value)
    let v16 = UInt16(truncatingIfNeeded: value)
    let v8 = UInt8(truncatingIfNeeded: value)
    switch field {
    case .sequenceNumber: tcp.sequenceNumber = v32
    case .acknowledgmentNumber:
      tcp.acknowledgmentNumber = v32
      tcp.flags.insert(.ack)
    case .dataOffset: tcp.dataOffset = v8 & 0x0F
    case .reserved: tcp.reserved = v8 & 0x07
    case .flags: tcp.flags = TCPFlags(rawValue: v16 & 0x01FF)
    case .window: tcp.window = v16
    case .checksum: tcp.checksum = v16
    case .urgentPointer:
      tcp.urgentPointer = v16
      tcp.flags.insert(.urg)
    case .optionLength: tcp.options = [.raw(kind: 2, bytes: [v8, 0x05, 0xB4])]
    case .maximumSegmentSize: tcp.options = [.maximumSegmentSize(v16)]
    case .windowScale: tcp.options = [.maximumSegmentSize(1460), .noOperation, .windowScale(v8)]
    case .payloadLength: payload = [UInt8](repeating: 0x61, count: Int(min(value, 1460)))
    case .ipVersion: ip.version = v8 & 0x0F
    case .ipIHL: ip.ihl = v8 & 0x0F
    case .ipTotalLength: ip.totalLength = v16
    case .ipFlags: ip.flags = IPv4Flags(rawValue: v8 & 0x07)
    case .ipFragmentOffset: ip.fragmentOffset = v16 & 0x1FFF
    case .ipTimeToLive: ip.timeToLive = v8
    case .ipChecksum: ip.checksum = v16
    }
    return GeneratedSegment(field: field, value: value, packet: ip / tcp / payload)
  }

  /// One segment per boundary value of `field`, in order.
  public func walk(_ field: SegmentField) -> [GeneratedSegment] {
    field.boundaryValues.map { segment(field, $0) }
  }

  /// Every field's walk, one after another.
  public func walkAll() -> [GeneratedSegment] {
    SegmentField.allCases.flatMap { walk($0) }
  }

  /// `count` segments, each with one field (from `fields`, default all) set to a random value
  /// of its width; half of the draws come from the boundary values. Deterministic for the
  /// generator's state.
  public func random<G: RandomNumberGenerator>(
    count: Int, fields: [SegmentField] = SegmentField.allCases, using generator: inout G
  ) -> [GeneratedSegment] {
    guard !fields.isEmpty else { return [] }
    var result: [GeneratedSegment] = []
    result.reserveCapacity(max(0, count))
    for _ in 0..<max(0, count) {
      let field = fields[Int(generator.next() % UInt64(fields.count))]
      let value: UInt64
      if generator.next() & 1 == 0 {
        let boundaries = field.boundaryValues
        value = boundaries[Int(generator.next() % UInt64(boundaries.count))]
      } else {
        let mask: UInt64 = field.bits >= 64 ? .max : (1 << UInt64(field.bits)) - 1
        value = generator.next() & mask
      }
      result.append(segment(field, value))
    }
    return result
  }
}
