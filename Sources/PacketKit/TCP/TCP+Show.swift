// The TCP part of `show()`: the header's fields and its options (through the tcpdump option
// printer, so both name options alike). See Format/Show.swift.

extension ShowFields {
  mutating func tcp(_ tcp: TCPView, checksumNote: String) {
    add("sourcePort", "\(tcp.sourcePort)")
    add("destinationPort", "\(tcp.destinationPort)")
    add("sequenceNumber", "\(tcp.sequenceNumber)")
    add("acknowledgmentNumber", "\(tcp.acknowledgmentNumber)")
    add("dataOffset", "\(tcp.dataOffset) (\(tcp.headerLength) bytes)")
    add("reserved", "\(tcp.reserved)")
    add("flags", "\(tcp.flags.tcpdumpLetters) (0x\(Fmt.hex(tcp.flags.rawValue, width: 3)))")
    add("window", "\(tcp.window)")
    add("checksum", "0x\(Fmt.hex(tcp.checksum, width: 4))", checksumNote)
    add("urgentPointer", "\(tcp.urgentPointer)")
    let flags = UInt8(truncatingIfNeeded: tcp.flags.rawValue)
    add("options", "[" + TCPOption.decodeAll(tcp.optionBytes).map { Fmt.option($0, tcpFlags: flags) }.joined(separator: ", ") + "]")
  }
}

extension Fmt {
  /// A TCP option as `show()` lists it: tcpdump's text for it (the summary's option printer:
  /// names for MSS, SACK, timestamps, MD5, TCP-AO, MPTCP, Fast Open, user timeout, ...), and
  /// for a malformed option ("raw") its kind and bytes.
  static func option(_ option: TCPOption, tcpFlags: UInt8) -> String {
    switch option {
    case .raw(let kind, let bytes): "raw kind \(kind) 0x\(hexBytes(bytes))"
    default: TcpdumpPrinter.optionText(option.encoded, tcpFlags: tcpFlags)
    }
  }
}
