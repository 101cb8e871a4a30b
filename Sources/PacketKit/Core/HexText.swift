/// Hex text to bytes, as users paste it: `48656c6c6f`, `48 65:6c,6c 6f`, `0x4865`, `0x48 0x65`
/// (separators ` : , \t \n` and `0x` prefixes are skipped). Shared by `decode HEX...`,
/// `send --data-hex` and the hex values of `TCPOption.spellings`.
public enum HexText {
  public enum Problem: Error, Hashable, Sendable, CustomStringConvertible {
    case notHexDigit(Character)
    case oddDigitCount
    public var description: String {
      switch self {
      case .notHexDigit(let character): "'\(character)' is not a hex digit"
      case .oddDigitCount: "odd number of hex digits"
      }
    }
  }

  public static func bytes(_ text: String) -> Result<[UInt8], Problem> {
    var high: UInt8? = nil
    var rest = Substring(text)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count / 2)
    while let character = rest.first {
      if rest.hasPrefix("0x") || rest.hasPrefix("0X") {
        rest = rest.dropFirst(2)
        continue
      }
      rest = rest.dropFirst()
      if character == " " || character == ":" || character == "\n" || character == "\t" || character == "," {
        continue
      }
      guard let value = character.hexDigitValue else { return .failure(.notHexDigit(character)) }
      if let first = high {
        bytes.append(first << 4 | UInt8(value))
        high = nil
      } else {
        high = UInt8(value)
      }
    }
    return high == nil ? .success(bytes) : .failure(.oddDigitCount)
  }
}
