import PacketKit

extension TranscriptEntry {
  /// The packet as it would cross a wire: for a captured kernel segment whose checksum the kernel
  /// left unfinished (`checksumNotReady`), the TCP checksum is completed; anything else is
  /// returned as is. Write this to pcap files, so that Wireshark and `tcpdump -v` do not call the
  /// kernel's segments "incorrect".
  public var wirePacket: [UInt8] {
    guard checksumNotReady, let ip = try? IPv4View(validating: packet[...]), ip.protocol == .tcp,
      let tcp = try? TCPView(validating: ip.payload)
    else { return packet }
    let checksum = tcp.computedChecksum(pseudoHeader: ip.pseudoHeader(protocol: .tcp, length: tcp.bytes.count))
    var bytes = packet
    // The TCP checksum field: 16 bytes into the TCP header.
    let offset = ip.headerLength + 16
    guard offset + 1 < bytes.count else { return packet }
    bytes[offset] = UInt8(truncatingIfNeeded: checksum >> 8)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: checksum)
    return bytes
  }
}
