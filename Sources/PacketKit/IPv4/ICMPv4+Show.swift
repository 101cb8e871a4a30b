// The ICMP part of `show()`. See Format/Show.swift.

extension ShowFields {
  mutating func icmp(_ icmp: ICMPv4View, checksumNote: String) {
    add("type", "\(icmp.type.rawValue) (\(icmp.type))")
    add("code", "\(icmp.code)")
    add("checksum", "0x\(Fmt.hex(icmp.checksum, width: 4))", checksumNote)
    switch icmp.type.rawValue {
    case 0, 8, 13, 14, 15, 16, 17, 18:
      add("identifier", "\(icmp.identifier)")
      add("sequenceNumber", "\(icmp.sequenceNumber)")
    case 3 where icmp.code == 4:
      add("nextHopMTU", "\(icmp.sequenceNumber)")
    case 5:
      add("gateway", "\(IPv4Address(rawValue: icmp.restOfHeader))")
    default:
      add("restOfHeader", "0x\(Fmt.hex(icmp.restOfHeader, width: 8))")
    }
  }
}
