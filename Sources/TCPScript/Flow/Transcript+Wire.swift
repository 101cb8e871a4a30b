import PacketKit

extension TranscriptEntry {
  /// The packet as it would cross a wire: for a captured kernel segment whose checksum the kernel
  /// left unfinished (`checksumNotReady`), the TCP checksum is completed (over the IPv4 or the
  /// IPv6 pseudo-header); anything else is returned as is. Write this to pcap files, so that
  /// Wireshark and `tcpdump -v` do not call the kernel's segments "incorrect".
  public var wirePacket: [UInt8] {
    guard checksumNotReady, let ip = Flow.parseIP(packet[...]), ip.protocol == .tcp, !ip.isFragment,
      let tcp = try? TCPView(validating: ip.upperLayer)
    else { return packet }
    let pseudoHeader: InternetChecksum
    switch (ip.source, ip.destination) {
    case (.v6(let source), .v6(let destination)):
      pseudoHeader = InternetChecksum.pseudoHeader(
        sourceAddress: source, destinationAddress: destination, protocol: .tcp, length: tcp.bytes.count)
    default:
      guard let v4 = try? IPv4View(validating: packet[...]) else { return packet }
      pseudoHeader = v4.pseudoHeader(protocol: .tcp, length: tcp.bytes.count)
    }
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
