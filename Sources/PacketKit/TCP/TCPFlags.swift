/// The nine TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR, RFC 3540 for NS), with the
/// bit values they have on the wire in the 16-bit word that starts at byte 12 (data offset and
/// reserved bits excluded): `fin` = 0x001 ... `cwr` = 0x080, `ns` = 0x100.
public struct TCPFlags: OptionSet, Hashable, Sendable, BitwiseCopyable {
  public var rawValue: UInt16
  @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }

  public static let fin = TCPFlags(rawValue: 0x001)
  public static let syn = TCPFlags(rawValue: 0x002)
  public static let rst = TCPFlags(rawValue: 0x004)
  public static let psh = TCPFlags(rawValue: 0x008)
  public static let ack = TCPFlags(rawValue: 0x010)
  public static let urg = TCPFlags(rawValue: 0x020)
  public static let ece = TCPFlags(rawValue: 0x040)
  public static let cwr = TCPFlags(rawValue: 0x080)
  /// ECN-nonce (RFC 3540, historic), now AE (accurate ECN). Bit 8: the low bit of byte 12.
  public static let ns = TCPFlags(rawValue: 0x100)

  /// All nine flags.
  public static let all: TCPFlags = [.fin, .syn, .rst, .psh, .ack, .urg, .ece, .cwr, .ns]

  /// tcpdump's letters, in tcpdump's order: F S R P . U E W, or "none" when none of these eight
  /// is set. Like tcpdump 4.99 (checked against 4.99.3), NS is not shown.
  public var tcpdumpLetters: String {
    var text: [UInt8] = []
    appendTcpdumpLetters(to: &text)
    return String(decoding: text, as: UTF8.self)
  }

  /// Appends `tcpdumpLetters` as UTF-8 (the summary printer writes them this way).
  func appendTcpdumpLetters(to text: inout [UInt8]) {
    let low = UInt8(truncatingIfNeeded: rawValue)
    guard low != 0 else {
      text.append(contentsOf: "none".utf8)
      return
    }
    // Bit i (fin = bit 0 ... cwr = bit 7) has letter i.
    let letters: StaticString = "FSRP.UEW"
    for bit in 0..<8 where low & (1 << bit) != 0 {
      text.append(letters.utf8Start[bit])
    }
  }

  /// Parses what people type for flags:
  /// - tcpdump letters: "S", "S.", "F.", "P.", "R", "R.", ".", "SEW" (F S R P U E W; "." or "A"
  ///   for ACK; "N" or "e" for NS);
  /// - letter lists like "SA", "FA", "PA";
  /// - names separated by ",", "|", "+" or spaces: "syn,ack", "fin|ack" (fin syn rst/reset
  ///   psh/push ack urg ece cwr ns/ae, any case);
  /// - "none" or "" for no flags.
  /// Returns `nil` for anything else.
  public init?(parsing text: String) {
    let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: ",")
    if trimmed.isEmpty || trimmed.lowercased() == "none" {
      self = []
      return
    }
    let parts = trimmed.split(whereSeparator: { $0 == "," || $0 == "|" || $0 == "+" })
    var flags: TCPFlags = []
    var allNames = true
    for part in parts {
      guard let flag = TCPFlags.named(part.lowercased()) else {
        allNames = false
        break
      }
      flags.insert(flag)
    }
    if allNames, !parts.isEmpty {
      self = flags
      return
    }
    // Letters.
    guard parts.count == 1 else { return nil }
    flags = []
    for character in trimmed {
      switch character {
      case "F": flags.insert(.fin)
      case "S": flags.insert(.syn)
      case "R": flags.insert(.rst)
      case "P": flags.insert(.psh)
      case ".", "A": flags.insert(.ack)
      case "U": flags.insert(.urg)
      case "E": flags.insert(.ece)
      case "W", "C": flags.insert(.cwr)
      case "N", "e": flags.insert(.ns)
      default: return nil
      }
    }
    self = flags
  }

  static func named(_ name: String) -> TCPFlags? {
    switch name {
    case "fin": .fin
    case "syn": .syn
    case "rst", "reset": .rst
    case "psh", "push": .psh
    case "ack": .ack
    case "urg": .urg
    case "ece": .ece
    case "cwr": .cwr
    case "ns", "ae": .ns
    default: nil
    }
  }
}

extension TCPFlags: CustomStringConvertible {
  /// tcpdump's letters, e.g. "S." (see `tcpdumpLetters`).
  public var description: String { tcpdumpLetters }
}
