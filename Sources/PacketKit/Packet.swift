/// One layer of a `Packet`, outermost first.
public enum Layer: Hashable, Sendable {
  case ethernet(EthernetHeader)
  case ipv4(IPv4Header)
  case tcp(TCPHeader)
  case udp(UDPHeader)
  case icmpv4(ICMPv4Header)
  /// Bytes written verbatim (data, or anything PacketKit has no header type for).
  case payload([UInt8])

  /// Which protocol this layer is.
  public var kind: ProtocolLayer {
    switch self {
    case .ethernet: .ethernet
    case .ipv4: .ipv4
    case .tcp: .tcp
    case .udp: .udp
    case .icmpv4: .icmpv4
    case .payload: .payload
    }
  }

  /// Bytes this layer's own header (or payload) occupies when encoded.
  @inlinable public var encodedLength: Int {
    switch self {
    case .ethernet: EthernetLayout.headerLength
    case .ipv4(let header): header.encodedLength
    case .tcp(let header): header.encodedLength
    case .udp: UDPLayout.headerLength
    case .icmpv4: ICMPv4Layout.headerLength
    case .payload(let bytes): bytes.count
    }
  }

  /// The IPv4 protocol number a `nil` protocol below this layer takes (0 for payload).
  public var ipProtocol: IPProtocol {
    switch self {
    case .tcp: .tcp
    case .udp: .udp
    case .icmpv4: .icmp
    case .ipv4: IPProtocol(4)
    case .ethernet, .payload: IPProtocol(0)
    }
  }
}

/// A stack of layers to encode, outermost first: `IPv4Header(...) / TCPHeader(...) / "data"`,
/// or the same with the `Packet { ... }` result builder.
///
/// Encoding computes only the fields left `nil` (lengths, protocol, checksums, option padding)
/// and never mutates the packet; `resolved()` returns a copy with them filled in. Pseudo-header
/// checksums (TCP, UDP) take the IPv4 header directly below, and the segment length actually
/// encoded.
public struct Packet: Hashable, Sendable {
  public var layers: [Layer]

  public init(layers: [Layer]) { self.layers = layers }

  /// Builds the layers with the result builder: `Packet { ipv4; tcp; "data" }`.
  public init(@PacketBuilder _ content: () -> [Layer]) { self.layers = content() }

  /// Bytes `encode` writes.
  @inlinable public var encodedLength: Int {
    var total = 0
    for layer in layers { total &+= layer.encodedLength }
    return total
  }

  /// Encodes the packet into `buffer`, replacing its contents and keeping its capacity: with
  /// enough capacity, nothing is allocated. On error the buffer's contents are unspecified.
  /// - Throws: `.overrideOutOfRange` for a set value that does not fit its wire field;
  ///   `.computedValueOutOfRange` for a computed one (e.g. options over 40 bytes, more than
  ///   65535 bytes under an IPv4 header); `.missingPseudoHeader` for a nil TCP/UDP checksum
  ///   without an IPv4 header directly below.
  public func encode(into buffer: inout [UInt8]) throws(PacketError) {
    let total = encodedLength
    buffer.resizeForEncoding(to: total)
    guard total > 0 else { return }
    try buffer.withUnsafeMutableBufferPointer { (pointer) throws(PacketError) in
      guard let base = pointer.baseAddress else { return }
      try encodeLayers(ByteWriter(base), total: total)
    }
  }

  /// Encodes the packet into `buffer` at its end (appending), for several packets in one array.
  public func encode(appendingTo buffer: inout [UInt8]) throws(PacketError) {
    let start = buffer.count
    let total = encodedLength
    buffer.resizeForEncoding(to: start + total)
    guard total > 0 else { return }
    do throws(PacketError) {
      try buffer.withUnsafeMutableBufferPointer { (pointer) throws(PacketError) in
        guard let base = pointer.baseAddress else { return }
        try encodeLayers(ByteWriter(base + start), total: total)
      }
    } catch {
      buffer.removeLast(total)
      throw error
    }
  }

  /// The encoded bytes in a new array.
  public func encoded() throws(PacketError) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(encodedLength)
    try encode(into: &bytes)
    return bytes
  }

  internal func encodeLayers(_ out: ByteWriter, total: Int) throws(PacketError) {
    let count = layers.count
    var offset = 0
    // Pass 1, outermost first: headers with lengths and protocols; IPv4 header checksums.
    for i in 0..<count {
      switch layers[i] {
      case .ethernet(let header):
        header.write(out, at: offset)
        offset &+= EthernetLayout.headerLength
      case .ipv4(let header):
        let upper = i + 1 < count ? layers[i + 1].ipProtocol : IPProtocol(0)
        try header.write(out, at: offset, computedTotalLength: total - offset, upper: upper)
        offset &+= header.encodedLength
      case .tcp(let header):
        try header.write(out, at: offset)
        offset &+= header.encodedLength
      case .udp(let header):
        try header.write(out, at: offset, datagramLength: total - offset)
        offset &+= UDPLayout.headerLength
      case .icmpv4(let header):
        header.write(out, at: offset)
        offset &+= ICMPv4Layout.headerLength
      case .payload(let bytes):
        out.put(bytes, at: offset)
        offset &+= bytes.count
      }
    }
    // Pass 2, innermost first: checksums that cover what follows them (a quoted TCP segment's
    // checksum is final before the ICMP checksum around it is computed).
    for i in stride(from: count - 1, through: 0, by: -1) {
      let layer = layers[i]
      offset &-= layer.encodedLength
      switch layer {
      case .tcp(let header) where header.checksum == nil:
        guard i > 0, case .ipv4(let ip) = layers[i - 1] else { throw .missingPseudoHeader }
        let length = total - offset
        let pseudo = InternetChecksum.pseudoHeader(
          sourceAddress: ip.sourceAddress, destinationAddress: ip.destinationAddress, protocol: .tcp, length: length)
        header.writeChecksum(out, at: offset, segmentLength: length, pseudoHeader: pseudo)
      case .udp(let header) where header.checksum == nil:
        guard i > 0, case .ipv4(let ip) = layers[i - 1] else { throw .missingPseudoHeader }
        let length = total - offset
        let pseudo = InternetChecksum.pseudoHeader(
          sourceAddress: ip.sourceAddress, destinationAddress: ip.destinationAddress, protocol: .udp, length: length)
        header.writeChecksum(out, at: offset, datagramLength: length, pseudoHeader: pseudo)
      case .icmpv4(let header) where header.checksum == nil:
        header.writeChecksum(out, at: offset, messageLength: total - offset)
      default:
        break
      }
    }
  }

  /// A copy with every `nil` field replaced by the value `encode` computes (scapy's `show2`).
  public func resolved() throws(PacketError) -> Packet {
    let bytes = try encoded()[...]
    var result = self
    var offset = 0
    for i in layers.indices {
      let at = bytes.clampedSuffix(from: offset)
      switch layers[i] {
      case .ipv4(var header):
        header.ihl = header.ihl ?? at.byte(at: 0) & 0x0F
        header.totalLength = header.totalLength ?? at.uint16(at: 2)
        header.protocol = header.protocol ?? IPProtocol(at.byte(at: 9))
        header.checksum = header.checksum ?? at.uint16(at: 10)
        result.layers[i] = .ipv4(header)
      case .tcp(var header):
        header.dataOffset = header.dataOffset ?? at.byte(at: 12) >> 4
        header.checksum = header.checksum ?? at.uint16(at: 16)
        result.layers[i] = .tcp(header)
      case .udp(var header):
        header.length = header.length ?? at.uint16(at: 4)
        header.checksum = header.checksum ?? at.uint16(at: 6)
        result.layers[i] = .udp(header)
      case .icmpv4(var header):
        header.checksum = header.checksum ?? at.uint16(at: 2)
        result.layers[i] = .icmpv4(header)
      case .ethernet, .payload:
        break
      }
      offset += layers[i].encodedLength
    }
    return result
  }

  // MARK: Accessors

  /// The first Ethernet header.
  public var ethernet: EthernetHeader? {
    get {
      for case .ethernet(let header) in layers { return header }
      return nil
    }
    set { replaceFirst(of: .ethernet, with: newValue.map(Layer.ethernet)) }
  }

  /// The first (outermost) IPv4 header.
  public var ipv4: IPv4Header? {
    get {
      for case .ipv4(let header) in layers { return header }
      return nil
    }
    set { replaceFirst(of: .ipv4, with: newValue.map(Layer.ipv4)) }
  }

  /// The first TCP header.
  public var tcp: TCPHeader? {
    get {
      for case .tcp(let header) in layers { return header }
      return nil
    }
    set { replaceFirst(of: .tcp, with: newValue.map(Layer.tcp)) }
  }

  /// The first UDP header.
  public var udp: UDPHeader? {
    get {
      for case .udp(let header) in layers { return header }
      return nil
    }
    set { replaceFirst(of: .udp, with: newValue.map(Layer.udp)) }
  }

  /// The first ICMPv4 header.
  public var icmpv4: ICMPv4Header? {
    get {
      for case .icmpv4(let header) in layers { return header }
      return nil
    }
    set { replaceFirst(of: .icmpv4, with: newValue.map(Layer.icmpv4)) }
  }

  /// The bytes of the payload layers after the last header, concatenated ([] when none).
  /// Setting replaces them with one payload layer (none when empty).
  public var payload: [UInt8] {
    get {
      var bytes: [UInt8] = []
      for layer in layers.reversed() {
        guard case .payload(let data) = layer else { break }
        bytes.insert(contentsOf: data, at: 0)
      }
      return bytes
    }
    set {
      while case .payload = layers.last { layers.removeLast() }
      if !newValue.isEmpty { layers.append(.payload(newValue)) }
    }
  }

  private mutating func replaceFirst(of kind: ProtocolLayer, with layer: Layer?) {
    if let index = layers.firstIndex(where: { $0.kind == kind }) {
      if let layer { layers[index] = layer } else { layers.remove(at: index) }
    } else if let layer {
      layers.append(layer)
    }
  }
}

// MARK: - Composition with `/`

/// Anything that can stand as layers of a `Packet`: the header types, `[UInt8]` and `String`
/// payloads (UTF-8), a `Layer`, and `Packet` itself.
public protocol LayerConvertible {
  /// Appends this value's layers to `layers`.
  func appendLayers(to layers: inout [Layer])
}

/// A header type (a `Packet` can start with it on the left of `/`).
public protocol PacketHeader: LayerConvertible, Hashable, Sendable {
  /// This header as a layer.
  var layer: Layer { get }
}

extension PacketHeader {
  public func appendLayers(to layers: inout [Layer]) { layers.append(layer) }

  /// This header alone as a packet, encoded (a `nil` TCP/UDP checksum throws
  /// `.missingPseudoHeader`: there is no IPv4 below).
  public func encoded() throws(PacketError) -> [UInt8] { try Packet(layers: [layer]).encoded() }
}

extension EthernetHeader: PacketHeader {
  public var layer: Layer { .ethernet(self) }
}
extension IPv4Header: PacketHeader {
  public var layer: Layer { .ipv4(self) }
}
extension TCPHeader: PacketHeader {
  public var layer: Layer { .tcp(self) }
}
extension UDPHeader: PacketHeader {
  public var layer: Layer { .udp(self) }
}
extension ICMPv4Header: PacketHeader {
  public var layer: Layer { .icmpv4(self) }
}

extension Layer: LayerConvertible {
  public func appendLayers(to layers: inout [Layer]) { layers.append(self) }
}

extension Array: LayerConvertible where Element == UInt8 {
  public func appendLayers(to layers: inout [Layer]) { layers.append(.payload(self)) }
}

extension ArraySlice: LayerConvertible where Element == UInt8 {
  public func appendLayers(to layers: inout [Layer]) { layers.append(.payload(Array(self))) }
}

extension String: LayerConvertible {
  /// The UTF-8 bytes as a payload layer.
  public func appendLayers(to layers: inout [Layer]) { layers.append(.payload(Array(utf8))) }
}

extension Packet: LayerConvertible {
  public func appendLayers(to layers: inout [Layer]) { layers.append(contentsOf: self.layers) }
}

/// Stacks `upper` on `lower`: `IPv4Header(...) / TCPHeader(...)`.
public func / (lower: some PacketHeader, upper: some LayerConvertible) -> Packet {
  var layers = [lower.layer]
  upper.appendLayers(to: &layers)
  return Packet(layers: layers)
}

/// Stacks `upper` on the packet: `packet / TCPHeader(...)`, `packet / "data"`, `packet / bytes`.
public func / (lower: Packet, upper: some LayerConvertible) -> Packet {
  var packet = lower
  upper.appendLayers(to: &packet.layers)
  return packet
}
