// The UDP part of `show()`. See Format/Show.swift.

extension ShowFields {
  mutating func udp(_ udp: UDPView, checksumNote: String) {
    add("sourcePort", "\(udp.sourcePort)")
    add("destinationPort", "\(udp.destinationPort)")
    add("length", "\(udp.length)")
    add("checksum", "0x\(Fmt.hex(udp.checksum, width: 4))", udp.checksum == 0 ? "(none)" : checksumNote)
  }
}
