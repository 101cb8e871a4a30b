// The direct encoder for IPv6 + TCP (+ payload), the twin of IPv4's (`IPv4Header.writeSegment`):
// `Packet.encode(into:)` takes it for that shape, and `IPv6Header.encode(_:payload:into:)` offers
// it without a `Packet`. Same bytes as the general layer walk (PacketTests compare them).

extension IPv6Header {
  /// Encodes `self / tcp / payload` straight into `buffer` (replacing its contents, keeping its
  /// capacity) without building a `Packet`. The bytes equal `(self / tcp / payload).encoded()`.
  /// - Throws: as `Packet.encode(into:)`.
  public func encode(_ tcp: TCPHeader, payload: [UInt8] = [], into buffer: inout [UInt8]) throws(PacketError) {
    let tcpLength = tcp.encodedLength
    let total = IPv6Layout.headerLength + tcpLength + payload.count
    var payloadSum = InternetChecksum()
    if tcp.checksum == nil { payloadSum.add(payload) }
    buffer.resizeForEncoding(to: total)
    let error = buffer.withUnsafeMutableBufferPointer { pointer -> PacketError? in
      guard let base = pointer.baseAddress else { return nil }
      return writeSegment(tcp, payload: payload, payloadSum: payloadSum, into: ByteWriter(base), tcpLength: tcpLength)
    }
    if let error { throw error }
  }

  /// Writes `self / tcp / payload` at the start of `out` (sized beforehand); returns the error
  /// instead of throwing and is always inlined, for the reasons `IPv4Header.writeSegment` gives.
  @inline(always)
  internal func writeSegment(
    _ tcp: TCPHeader, payload: [UInt8], payloadSum: InternetChecksum, into out: ByteWriter, tcpLength: Int
  ) -> PacketError? {
    let ipLength = IPv6Layout.headerLength
    let total = ipLength + tcpLength + payload.count
    // The pseudo-header sum as a value, before any store (see `IPv4Header.writeSegment`).
    let pseudoHeader = InternetChecksum.pseudoHeader(
      sourceAddress: sourceAddress, destinationAddress: destinationAddress, protocol: .tcp, length: total - ipLength)
    if let error = writeChecked(out, at: 0, computedTotalLength: total, upper: .tcp) { return error }
    return tcp.writeAfterIP(
      into: out, ipLength: ipLength, tcpLength: tcpLength, payload: payload, payloadSum: payloadSum,
      pseudoHeader: pseudoHeader)
  }
}

extension Packet {
  /// For IPv6 + TCP (+ one payload layer): the TCP header length; nil for any other shape.
  @inline(__always)
  internal func directTCPLength6() -> Int? {
    let count = layers.count
    guard count == 2 || count == 3, case .ipv6 = layers[0], case .tcp(let tcp) = layers[1] else { return nil }
    if count == 3 { guard case .payload = layers[2] else { return nil } }
    return tcp.encodedLength
  }

  /// The payload layer's byte count (0 without one).
  @inline(__always)
  internal var directPayloadCount: Int {
    guard layers.count == 3, case .payload(let payload) = layers[2] else { return 0 }
    return payload.count
  }

  /// Writes the IPv6 + TCP (+ payload) packet `directTCPLength6()` accepted.
  @inline(never)
  internal func writeDirect6(into out: ByteWriter, tcpLength: Int) -> PacketError? {
    // The payload's sum first (a call into C), before the headers are borrowed.
    var payloadSum = InternetChecksum()
    if layers.count == 3, case .payload(let payload) = layers[2] { payloadSum.add(payload) }
    guard case .ipv6(let ip) = layers[0], case .tcp(let tcp) = layers[1] else { return nil }
    if layers.count == 3, case .payload(let payload) = layers[2] {
      return ip.writeSegment(tcp, payload: payload, payloadSum: payloadSum, into: out, tcpLength: tcpLength)
    }
    return ip.writeSegment(tcp, payload: [], payloadSum: payloadSum, into: out, tcpLength: tcpLength)
  }
}
