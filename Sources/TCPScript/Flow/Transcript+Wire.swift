import PacketKit

extension TranscriptEntry {
  /// The entry's TCP header and payload (IPv4 or IPv6, after any IPv6 extension headers) with
  /// the pseudo-header its checksum covers; `nil` for a fragment, an ICMP message, or bytes that
  /// do not parse.
  public var tcpSegment: (view: TCPView, pseudoHeader: InternetChecksum)? {
    guard let ip = Flow.parseIP(packet[...]), ip.protocol == .tcp, !ip.isFragment,
      let tcp = try? TCPView(validating: ip.upperLayer)
    else { return nil }
    switch (ip.source, ip.destination) {
    case (.v6(let source), .v6(let destination)):
      return (tcp, InternetChecksum.pseudoHeader(
        sourceAddress: source, destinationAddress: destination, protocol: .tcp, length: tcp.bytes.count))
    default:
      guard let v4 = try? IPv4View(validating: packet[...]) else { return nil }
      return (tcp, v4.pseudoHeader(protocol: .tcp, length: tcp.bytes.count))
    }
  }

  /// The packet as it would cross a wire: for a captured kernel segment whose checksum the kernel
  /// left unfinished (`checksumNotReady`), the TCP checksum is completed (over the IPv4 or the
  /// IPv6 pseudo-header); anything else is returned as is. Write this to pcap files, so that
  /// Wireshark and `tcpdump -v` do not call the kernel's segments "incorrect".
  public var wirePacket: [UInt8] {
    guard checksumNotReady, let (tcp, pseudoHeader) = tcpSegment else { return packet }
    let checksum = tcp.computedChecksum(pseudoHeader: pseudoHeader)
    var bytes = packet
    // The TCP checksum field: 16 bytes into the TCP header.
    let offset = tcp.bytes.startIndex - packet.startIndex + 16
    guard offset >= 0, offset + 1 < bytes.count else { return packet }
    bytes[offset] = UInt8(truncatingIfNeeded: checksum >> 8)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: checksum)
    return bytes
  }
}
