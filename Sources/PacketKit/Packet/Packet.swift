/// One layer of a `Packet`, outermost first.
public enum Layer: Hashable, Sendable {
  case ethernet(EthernetHeader)
  case ipv4(IPv4Header)
  case tcp(TCPHeader)
  case udp(UDPHeader)
  case icmpv4(ICMPv4Header)
  case ipv6(IPv6Header)
  /// A Hop-by-Hop or Destination Options header.
  case ipv6Options(IPv6OptionsHeader)
  case ipv6Routing(IPv6RoutingHeader)
  case ipv6Fragment(IPv6FragmentHeader)
  case icmpv6(ICMPv6Header)
  /// Bytes written verbatim (data, or anything PacketKit has no header type for).
  case payload([UInt8])

  /// Which protocol this layer is.
  @inlinable public var kind: ProtocolLayer {
    switch self {
    case .ethernet: .ethernet
    case .ipv4: .ipv4
    case .tcp: .tcp
    case .udp: .udp
    case .icmpv4: .icmpv4
    case .ipv6: .ipv6
    case .ipv6Options(let header): header.protocolLayer
    case .ipv6Routing: .ipv6Routing
    case .ipv6Fragment: .ipv6Fragment
    case .icmpv6: .icmpv6
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
    case .ipv6: IPv6Layout.headerLength
    case .ipv6Options(let header): header.encodedLength
    case .ipv6Routing(let header): header.encodedLength
    case .ipv6Fragment: IPv6ExtensionLayout.minimumLength
    case .icmpv6(let header): header.encodedLength
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
    case .ipv6: .ipv6
    case .ipv6Options(let header): header.kind == .hopByHop ? .ipv6HopByHop : .ipv6DestinationOptions
    case .ipv6Routing: .ipv6Routing
    case .ipv6Fragment: .ipv6Fragment
    case .icmpv6: .icmpv6
    case .ethernet, .payload: IPProtocol(0)
    }
  }

  /// The next-header value a `nil` next header below this layer takes in IPv6: `ipProtocol`,
  /// except 59 (no next header) below a payload or nothing.
  public var ipv6NextHeader: IPProtocol {
    switch self {
    case .ethernet, .payload: .ipv6NoNextHeader
    default: ipProtocol
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
    // The common IPv4 + TCP (+ payload) shape takes the direct path (same bytes, less work).
    // The headers are borrowed from the layer array, not copied out of it, as long as the code
    // that reads them neither throws nor calls unknown code (either makes the optimizer copy
    // each header, retaining and releasing its options array): hence the two steps below and
    // `IPv4Header.writeSegment` returning its error.
    if let lengths = directLengths() {
      buffer.resizeForEncoding(to: lengths.total)
      let error = buffer.withUnsafeMutableBufferPointer { pointer -> PacketError? in
        guard let base = pointer.baseAddress else { return nil }
        return writeDirect(into: ByteWriter(base), ipLength: lengths.ip, tcpLength: lengths.tcp)
      }
      if let error { throw error }
      return
    }
    // Its IPv6 twin (IPv6/IPv6+Segment.swift), kept apart so the IPv4 path stays as it was.
    if let tcpLength = directTCPLength6() {
      buffer.resizeForEncoding(to: IPv6Layout.headerLength &+ tcpLength &+ directPayloadCount)
      let error = buffer.withUnsafeMutableBufferPointer { pointer -> PacketError? in
        guard let base = pointer.baseAddress else { return nil }
        return writeDirect6(into: ByteWriter(base), tcpLength: tcpLength)
      }
      if let error { throw error }
      return
    }
    try encode(into: &buffer, at: 0)
  }

  /// For IPv4 + TCP (+ one payload layer): the header lengths and the total; nil for any
  /// other shape.
  @inline(__always)
  internal func directLengths() -> (ip: Int, tcp: Int, total: Int)? {
    let count = layers.count
    guard count == 2 || count == 3, case .ipv4(let ip) = layers[0], case .tcp(let tcp) = layers[1] else { return nil }
    let ipLength = ip.encodedLength
    let tcpLength = tcp.encodedLength
    guard count == 3 else { return (ipLength, tcpLength, ipLength &+ tcpLength) }
    guard case .payload(let payload) = layers[2] else { return nil }
    return (ipLength, tcpLength, ipLength &+ tcpLength &+ payload.count)
  }

  /// Writes the IPv4 + TCP (+ payload) packet `directLengths()` accepted.
  @inline(never)
  internal func writeDirect(into out: ByteWriter, ipLength: Int, tcpLength: Int) -> PacketError? {
    var payloadSum = InternetChecksum()
    var payload: [UInt8] = []
    if layers.count == 3, case .payload(let bytes) = layers[2] {
      payload = bytes
      payloadSum.add(bytes)
    }
    // The headers copy as plain bytes (no reference counting): one call site, so the writer is
    // inlined once.
    guard case .ipv4(let ip) = layers[0], case .tcp(let tcp) = layers[1] else { return nil }
    return ip.writeSegment(tcp, payload: payload, payloadSum: payloadSum, into: out, ipLength: ipLength, tcpLength: tcpLength)
  }

  /// Encodes the packet into `buffer` at its end (appending), for several packets in one array.
  public func encode(appendingTo buffer: inout [UInt8]) throws(PacketError) {
    let start = buffer.count
    do throws(PacketError) {
      try encode(into: &buffer, at: start)
    } catch {
      buffer.removeSubrange(start...)
      throw error
    }
  }

  /// Encodes at `start`, making `buffer.count` = `start` + the encoded length.
  internal func encode(into buffer: inout [UInt8], at start: Int) throws(PacketError) {
    // Borrow the layers in place (no copies of the headers) and note each layer's length once.
    try layers.withUnsafeBufferPointer { (layers) throws(PacketError) in
      try withUnsafeTemporaryAllocation(of: LayerPlan.self, capacity: max(layers.count, 1)) { (plan) throws(PacketError) in
        var total = 0
        for i in 0..<layers.count {
          let length = layers[i].encodedLength
          plan.initializeElement(at: i, to: LayerPlan(length: length, headerSum: InternetChecksum()))
          total &+= length
        }
        buffer.resizeForEncoding(to: start + total)
        guard total > 0 else { return }
        try buffer.withUnsafeMutableBufferPointer { (pointer) throws(PacketError) in
          guard let base = pointer.baseAddress else { return }
          try Packet.encodeLayers(layers, plan: plan, into: ByteWriter(base + start), total: total)
        }
      }
    }
  }

  /// Per layer: its encoded length, and the sum of its header bytes when it has a checksum to
  /// compute.
  @usableFromInline
  internal struct LayerPlan {
    var length: Int
    var headerSum: InternetChecksum
  }

  /// The encoded bytes in a new array.
  public func encoded() throws(PacketError) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(encodedLength)
    try encode(into: &bytes)
    return bytes
  }

  internal static func encodeLayers(
    _ layers: UnsafeBufferPointer<Layer>, plan: UnsafeMutableBufferPointer<LayerPlan>, into out: ByteWriter, total: Int
  ) throws(PacketError) {
    let count = layers.count
    var offset = 0
    // Pass 1, outermost first: headers with lengths and protocols; IPv4 header checksums.
    for i in 0..<count {
      let upper = i + 1 < count ? layers[i + 1].ipProtocol : IPProtocol(0)
      let upper6 = i + 1 < count ? layers[i + 1].ipv6NextHeader : .ipv6NoNextHeader
      plan[i].headerSum = try writeLayer(
        layers[i], into: out, at: offset, length: plan[i].length, rest: total - offset, upper: upper, upper6: upper6)
      offset &+= plan[i].length
    }
    // Pass 2, innermost first: checksums that cover what follows them (a quoted TCP segment's
    // checksum is final before the ICMP checksum around it is computed).
    var i = count - 1
    while i >= 0 {
      offset &-= plan[i].length
      if let pending = pendingChecksum(layers[i]) {
        let length = total &- offset
        var sum = InternetChecksum()
        if let proto = pending.pseudoHeaderProtocol {
          if i > 0, let addresses = ipv4Addresses(layers[i - 1]) {
            sum = .pseudoHeader(sourceAddress: addresses.source, destinationAddress: addresses.destination, protocol: proto, length: length)
          } else if let ipv6Sum = ipv6PseudoHeader(layers, below: i, protocol: proto, length: length) {
            sum = ipv6Sum
          } else {
            throw .missingPseudoHeader
          }
        }
        // The header's sum came from its values; payload layers are summed from their own
        // arrays; anything else after it (a quoted datagram's headers, already final) is read
        // back from the buffer.
        sum.combine(plan[i].headerSum)
        var next = offset &+ plan[i].length
        for j in (i + 1)..<layers.count {
          if !addPayload(layers[j], to: &sum) {
            sum.add(UnsafeRawBufferPointer(start: out.base + next, count: plan[j].length))
          }
          next &+= plan[j].length
        }
        let value = sum.finalized
        out.put(pending.zeroIsAllOnes && value == 0 ? 0xFFFF : value, at: offset &+ pending.field)
      }
      i -= 1
    }
  }

  /// Where a `nil` checksum of `layer` is computed: the field's offset in the layer, the
  /// pseudo-header protocol (nil: none), and whether a 0 result is sent as 0xFFFF (UDP).
  @inline(__always)
  internal static func pendingChecksum(
    _ layer: borrowing Layer
  ) -> (field: Int, pseudoHeaderProtocol: IPProtocol?, zeroIsAllOnes: Bool)? {
    switch layer {
    case .tcp(let header): header.checksum == nil ? (TCPLayout.checksum, .tcp, false) : nil
    case .udp(let header): header.checksum == nil ? (UDPLayout.checksum, .udp, true) : nil
    case .icmpv4(let header): header.checksum == nil ? (ICMPv4Layout.checksum, nil, false) : nil
    case .icmpv6(let header): header.checksum == nil ? (ICMPv6Layout.checksum, .icmpv6, false) : nil
    case .ethernet, .ipv4, .ipv6, .ipv6Options, .ipv6Routing, .ipv6Fragment, .payload: nil
    }
  }

  /// Adds a payload layer's bytes to `sum`; false for any other layer.
  @inline(__always)
  internal static func addPayload(_ layer: borrowing Layer, to sum: inout InternetChecksum) -> Bool {
    switch layer {
    case .payload(let bytes):
      sum.add(bytes)
      return true
    default:
      return false
    }
  }

  @inline(__always)
  internal static func ipv4Addresses(_ layer: borrowing Layer) -> (source: IPv4Address, destination: IPv4Address)? {
    switch layer {
    case .ipv4(let header): (header.sourceAddress, header.destinationAddress)
    default: nil
    }
  }

  /// Writes one layer without copying its header out of the array.
  @inline(__always)
  internal static func writeLayer(
    _ layer: borrowing Layer, into out: ByteWriter, at offset: Int, length: Int, rest: Int, upper: IPProtocol,
    upper6: IPProtocol
  ) throws(PacketError) -> InternetChecksum {
    switch layer {
    case .ethernet(let header):
      header.write(out, at: offset)
    case .ipv4(let header):
      try header.write(out, at: offset, headerLength: length, computedTotalLength: rest, upper: upper)
    case .tcp(let header):
      return try header.write(out, at: offset, headerLength: length)
    case .udp(let header):
      return try header.write(out, at: offset, datagramLength: rest)
    case .icmpv4(let header):
      return header.write(out, at: offset)
    case .ipv6(let header):
      try header.write(out, at: offset, computedTotalLength: rest, upper: upper6)
    case .ipv6Options(let header):
      try header.write(out, at: offset, length: length, upper: upper6)
    case .ipv6Routing(let header):
      try header.write(out, at: offset, length: length, upper: upper6)
    case .ipv6Fragment(let header):
      try header.write(out, at: offset, upper: upper6)
    case .icmpv6(let header):
      return try header.write(out, at: offset, length: length)
    case .payload(let bytes):
      out.put(bytes, at: offset)
    }
    return InternetChecksum()
  }

  /// A copy with every `nil` field replaced by the value `encode` computes (scapy's `show2`).
  public func resolved() throws(PacketError) -> Packet {
    let bytes = try encoded()[...]
    var result = self
    var offset = 0
    for i in layers.indices {
      let at = bytes.clampedSuffix(from: offset)
      switch layers[i] {
      // Read back through the views (the bytes were just encoded, so they hold each header).
      case .ipv4(var header):
        let view = IPv4View(unchecked: at)
        header.ihl = header.ihl ?? view.ihl
        header.totalLength = header.totalLength ?? view.totalLength
        header.protocol = header.protocol ?? view.protocol
        header.checksum = header.checksum ?? view.checksum
        result.layers[i] = .ipv4(header)
      case .tcp(var header):
        let view = TCPView(unchecked: at)
        header.dataOffset = header.dataOffset ?? view.dataOffset
        header.checksum = header.checksum ?? view.checksum
        result.layers[i] = .tcp(header)
      case .udp(var header):
        let view = UDPView(unchecked: at)
        header.length = header.length ?? view.length
        header.checksum = header.checksum ?? view.checksum
        result.layers[i] = .udp(header)
      case .icmpv4(var header):
        header.checksum = header.checksum ?? ICMPv4View(unchecked: at).checksum
        result.layers[i] = .icmpv4(header)
      case .ipv6(var header):
        let view = IPv6View(unchecked: at)
        header.payloadLength = header.payloadLength ?? view.payloadLength
        header.nextHeader = header.nextHeader ?? view.nextHeader
        result.layers[i] = .ipv6(header)
      case .ipv6Options(var header):
        header.nextHeader = header.nextHeader ?? IPProtocol(at.byte(at: IPv6ExtensionLayout.nextHeader))
        header.headerExtensionLength =
          header.headerExtensionLength ?? at.byte(at: IPv6ExtensionLayout.headerExtensionLength)
        result.layers[i] = .ipv6Options(header)
      case .ipv6Routing(var header):
        header.nextHeader = header.nextHeader ?? IPProtocol(at.byte(at: IPv6ExtensionLayout.nextHeader))
        header.headerExtensionLength =
          header.headerExtensionLength ?? at.byte(at: IPv6ExtensionLayout.headerExtensionLength)
        result.layers[i] = .ipv6Routing(header)
      case .ipv6Fragment(var header):
        header.nextHeader = header.nextHeader ?? IPProtocol(at.byte(at: IPv6ExtensionLayout.nextHeader))
        result.layers[i] = .ipv6Fragment(header)
      case .icmpv6(var header):
        header.checksum = header.checksum ?? ICMPv6View(unchecked: at).checksum
        result.layers[i] = .icmpv6(header)
      case .ethernet, .payload:
        break
      }
      offset += layers[i].encodedLength
    }
    return result
  }

  // MARK: Accessors

  /// The first Ethernet header. Setting `nil` removes it; setting a header where there is none appends it.
  /// Mutating in place (`packet.ethernet?.field = x`) does not copy the other layers and allocates nothing.
  ///
  /// These accessors are plain `@inlinable` get and set, inlined into the caller: a `_modify`
  /// coroutine called across the module boundary needs a frame holding the header, which the
  /// runtime heap-allocates on every call (checked again with Swift 6.3: even a two-line
  /// `@inline(__always) _modify` stays a call). The setter moves the new header into its layer
  /// (no `Optional.map`, whose closure copies it once more).
  @inlinable public var ethernet: EthernetHeader? {
    @inline(__always) get {
      guard let index = firstIndex(of: .ethernet), case .ethernet(let header) = layers[index] else { return nil }
      return header
    }
    @inline(__always) set {
      let index = firstIndex(of: .ethernet)
      switch consume newValue {
      case .some(let header): store(.ethernet(header), at: index)
      case .none: remove(at: index)
      }
    }
  }

  /// The first (outermost) IPv4 header. Setting `nil` removes it; setting a header where there is none appends it.
  /// Mutating in place (`packet.ipv4?.field = x`) does not copy the other layers; changing a field other than `options` allocates nothing.
  @inlinable public var ipv4: IPv4Header? {
    @inline(__always) get {
      guard let index = firstIndex(of: .ipv4), case .ipv4(let header) = layers[index] else { return nil }
      return header
    }
    @inline(__always) set {
      let index = firstIndex(of: .ipv4)
      switch consume newValue {
      case .some(let header): store(.ipv4(header), at: index)
      case .none: remove(at: index)
      }
    }
  }

  /// The first TCP header. Setting `nil` removes it; setting a header where there is none appends it.
  /// Mutating in place (`packet.tcp?.field = x`) does not copy the other layers; changing a field other than `options` allocates nothing.
  @inlinable public var tcp: TCPHeader? {
    @inline(__always) get {
      guard let index = firstIndex(of: .tcp), case .tcp(let header) = layers[index] else { return nil }
      return header
    }
    @inline(__always) set {
      let index = firstIndex(of: .tcp)
      switch consume newValue {
      case .some(let header): store(.tcp(header), at: index)
      case .none: remove(at: index)
      }
    }
  }

  /// The first UDP header. Setting `nil` removes it; setting a header where there is none appends it.
  /// Mutating in place (`packet.udp?.field = x`) does not copy the other layers; changing a field other than `options` allocates nothing.
  @inlinable public var udp: UDPHeader? {
    @inline(__always) get {
      guard let index = firstIndex(of: .udp), case .udp(let header) = layers[index] else { return nil }
      return header
    }
    @inline(__always) set {
      let index = firstIndex(of: .udp)
      switch consume newValue {
      case .some(let header): store(.udp(header), at: index)
      case .none: remove(at: index)
      }
    }
  }

  /// The first ICMPv4 header. Setting `nil` removes it; setting a header where there is none appends it.
  /// Mutating in place (`packet.icmpv4?.field = x`) does not copy the other layers; changing a field other than `options` allocates nothing.
  @inlinable public var icmpv4: ICMPv4Header? {
    @inline(__always) get {
      guard let index = firstIndex(of: .icmpv4), case .icmpv4(let header) = layers[index] else { return nil }
      return header
    }
    @inline(__always) set {
      let index = firstIndex(of: .icmpv4)
      switch consume newValue {
      case .some(let header): store(.icmpv4(header), at: index)
      case .none: remove(at: index)
      }
    }
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

  /// The index of the first layer of `kind` (found without copying any layer).
  @inlinable @inline(__always)
  internal func firstIndex(of kind: ProtocolLayer) -> Int? {
    layers.withUnsafeBufferPointer { layers in
      for index in 0..<layers.count where layers[index].kind == kind { return index }
      return nil
    }
  }

  /// Puts `layer` at `index`, or appends it when there is no index.
  @inlinable @inline(__always)
  internal mutating func store(_ layer: consuming Layer, at index: Int?) {
    if let index { layers[index] = layer } else { layers.append(layer) }
  }

  /// Removes the layer at `index`, if any.
  @inlinable @inline(__always)
  internal mutating func remove(at index: Int?) {
    if let index { layers.remove(at: index) }
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

  /// Encodes this header alone into `buffer` (replacing its contents, keeping its capacity).
  public func encode(into buffer: inout [UInt8]) throws(PacketError) {
    try Packet(layers: [layer]).encode(into: &buffer)
  }
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
extension IPv6Header: PacketHeader {
  public var layer: Layer { .ipv6(self) }
}
extension IPv6OptionsHeader: PacketHeader {
  public var layer: Layer { .ipv6Options(self) }
}
extension IPv6RoutingHeader: PacketHeader {
  public var layer: Layer { .ipv6Routing(self) }
}
extension IPv6FragmentHeader: PacketHeader {
  public var layer: Layer { .ipv6Fragment(self) }
}
extension ICMPv6Header: PacketHeader {
  public var layer: Layer { .icmpv6(self) }
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
