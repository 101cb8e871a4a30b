// The IPv4 part of `show()`: the header's fields and its options. See Format/Show.swift.

extension ShowFields {
  mutating func ipv4(_ ip: IPv4View, checksumNote: String) {
    add("version", "\(ip.version)")
    add("ihl", "\(ip.ihl) (\(Int(ip.ihl) * 4) bytes)")
    add("dscp", "\(ip.dscp)")
    add("ecn", "\(ip.ecn)")
    add("totalLength", "\(ip.totalLength)")
    add("identification", "\(ip.identification) (0x\(Fmt.hex(ip.identification, width: 4)))")
    add("flags", ip.flags.isEmpty ? "none" : "\(ip.flags)")
    add("fragmentOffset", "\(ip.fragmentOffset) (\(Int(ip.fragmentOffset) * 8) bytes)")
    add("timeToLive", "\(ip.timeToLive)")
    add("protocol", "\(ip.protocol.rawValue) (\(ip.protocol))")
    add("checksum", "0x\(Fmt.hex(ip.checksum, width: 4))", checksumNote)
    add("sourceAddress", "\(ip.sourceAddress)")
    add("destinationAddress", "\(ip.destinationAddress)")
    add("options", "[" + IPv4Option.decodeAll(ip.optionBytes).map(Fmt.option).joined(separator: ", ") + "]")
  }
}

extension Fmt {
  /// An IPv4 option as `show()` lists it.
  static func option(_ option: IPv4Option) -> String {
    switch option {
    case .endOfOptionList: "eol"
    case .noOperation: "nop"
    case .recordRoute(let pointer, let addresses):
      "rr ptr \(pointer) [" + addresses.map(\.description).joined(separator: " ") + "]"
    case .timestamp(let pointer, let overflow, let flag, let words):
      "ts ptr \(pointer) oflw \(overflow) flag \(flag) " + words.map(String.init).joined(separator: " ")
    case .routerAlert(let value): "router-alert \(value)"
    case .unknown(let kind, let data): "kind \(kind) 0x\(hexBytes(data))"
    case .raw(let kind, let bytes): "raw kind \(kind) 0x\(hexBytes(bytes))"
    }
  }
}
