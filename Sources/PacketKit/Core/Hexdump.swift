/// How `hexdump(_:style:)` lays bytes out.
public enum HexdumpStyle: Hashable, Sendable {
  /// scapy's `hexdump()`: `0000  45 00 00 3C ...  E..<` — offset, 16 upper-case bytes, and the
  /// bytes as ASCII (printable 0x20–0x7E, others as `.`).
  case scapy
  /// `tcpdump -xx`: a tab, `0x0000:`, two spaces, then 16 bytes as eight 4-digit groups.
  case tcpdump
  /// `tcpdump -XX`: as `.tcpdump`, followed by the ASCII column (graphic characters only; space
  /// and others as `.`).
  case tcpdumpASCII
}

/// The bytes as a multi-line hexdump (lines joined by `\n`, no trailing newline; empty input
/// gives an empty string). Offsets count from the first byte of `bytes`.
public func hexdump(_ bytes: some Collection<UInt8>, style: HexdumpStyle = .scapy) -> String {
  let all = Array(bytes)
  var lines: [String] = []
  lines.reserveCapacity((all.count + 15) / 16)
  var offset = 0
  while offset < all.count {
    let line = all[offset..<min(offset + 16, all.count)]
    switch style {
    case .scapy:
      var text = Fmt.hex(offset, width: 4, upper: true) + "  "
      for byte in line { text += Fmt.hex(byte, width: 2, upper: true) + " " }
      text += String(repeating: "   ", count: 16 - line.count)
      text += " "
      for byte in line {
        text.unicodeScalars.append(
          Unicode.Scalar((0x20...0x7E).contains(byte) ? byte : UInt8(ascii: ".")))
      }
      lines.append(text)
    case .tcpdump, .tcpdumpASCII:
      var groups = ""
      var index = line.startIndex
      while index < line.endIndex {
        if !groups.isEmpty { groups += " " }
        groups += Fmt.hex(line[index], width: 2)
        if index + 1 < line.endIndex { groups += Fmt.hex(line[index + 1], width: 2) }
        index += 2
      }
      var text = "\t0x" + Fmt.hex(offset, width: 4) + ":  " + groups
      if style == .tcpdumpASCII {
        text += String(repeating: " ", count: 39 - groups.count) + "  "
        for byte in line {
          text.unicodeScalars.append(
            Unicode.Scalar((0x21...0x7E).contains(byte) ? byte : UInt8(ascii: ".")))
        }
      }
      lines.append(text)
    }
    offset += 16
  }
  return lines.joined(separator: "\n")
}

/// Small formatting helpers shared by the formatting code.
enum Fmt {
  /// Hexadecimal digits of `value`, zero-padded to `width`.
  static func hex<T: BinaryInteger>(_ value: T, width: Int, upper: Bool = false) -> String {
    let digits = String(value, radix: 16, uppercase: upper)
    return digits.count >= width
      ? digits : String(repeating: "0", count: width - digits.count) + digits
  }

  /// `value` right-padded with spaces to `width` characters.
  static func pad(_ value: String, _ width: Int) -> String {
    value.count >= width ? value : value + String(repeating: " ", count: width - value.count)
  }

  /// Bytes as continuous lower-case hex.
  static func hexBytes(_ bytes: some Sequence<UInt8>) -> String {
    var text = ""
    for byte in bytes { text += hex(byte, width: 2) }
    return text
  }
}
