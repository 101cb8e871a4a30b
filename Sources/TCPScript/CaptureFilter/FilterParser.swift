import PacketKit
/// Parses the tcpdump filter language (the IPv4 subset `CaptureFilter` models).
///
/// Grammar, as tcpdump's: `not`/`!` binds tightest; `and`/`&&` and `or`/`||` have the **same**
/// precedence and group from the left (`a or b and c` is `(a or b) and c`); parentheses group.
///
///     primitive := ip | tcp | udp | icmp
///                | [src|dst] host ADDRESS | [src|dst] ADDRESS
///                | [tcp|udp] [src|dst] port NUMBER
///                | tcp[tcpflags|13] [& TERM] (== | = | !=) FLAGS
///     FLAGS     := TERM ('|' TERM)*
///     TERM      := tcp-fin | tcp-syn | tcp-rst | tcp-push | tcp-ack | tcp-urg | tcp-ece | tcp-cwr
///                | NUMBER | ( FLAGS )
///
/// A mask of several flags must be in parentheses (`& (tcp-syn|tcp-ack)`): tcpdump would read
/// `& tcp-syn|tcp-ack` as `(tcp[13] & tcp-syn) | tcp-ack`, so it is refused rather than guessed.
///
/// As in tcpdump, a bare address or number after `and`/`or` repeats the previous qualifier:
/// `host 10.0.0.1 or 10.0.0.2`, `port 80 or 443`. Host names are not resolved.
extension CaptureFilter {
  /// Parses `text`. The empty text is `.all`.
  ///
  /// - Throws: `CaptureFilterError` with the 1-based column and what was expected there.
  public init(parsing text: String) throws(CaptureFilterError) {
    var parser = FilterParser(tokens: try FilterLexer.tokenize(text), endColumn: text.count + 1)
    self = try parser.parseAll()
  }
}

struct FilterToken: Hashable {
  enum Kind: Hashable {
    case word(String)  // keywords, numbers, addresses, flag names
    case symbol(String)  // ( ) [ ] & | ! && || == != =
  }
  var kind: Kind
  var column: Int

  var text: String {
    switch kind {
    case .word(let word): word
    case .symbol(let symbol): symbol
    }
  }
}

enum FilterLexer {
  static func isWordCharacter(_ c: Character) -> Bool {
    c.isLetter || c.isNumber || c == "." || c == "-" || c == "_" || c == ":"
  }

  static func tokenize(_ text: String) throws(CaptureFilterError) -> [FilterToken] {
    var tokens: [FilterToken] = []
    let characters = Array(text)
    var index = 0
    while index < characters.count {
      let c = characters[index]
      let column = index + 1
      if c.isWhitespace {
        index += 1
        continue
      }
      if isWordCharacter(c) {
        var end = index
        while end < characters.count, isWordCharacter(characters[end]) { end += 1 }
        tokens.append(FilterToken(kind: .word(String(characters[index..<end])), column: column))
        index = end
        continue
      }
      let next: Character? = index + 1 < characters.count ? characters[index + 1] : nil
      let pair = next.map { String(c) + String($0) }
      if let pair, ["&&", "||", "==", "!="].contains(pair) {
        tokens.append(FilterToken(kind: .symbol(pair), column: column))
        index += 2
        continue
      }
      if "()[]&|!=".contains(c) {
        tokens.append(FilterToken(kind: .symbol(String(c)), column: column))
        index += 1
        continue
      }
      throw CaptureFilterError(column: column, message: "unexpected character '\(c)'")
    }
    return tokens
  }
}

struct FilterParser {
  var tokens: [FilterToken]
  var position = 0
  let endColumn: Int
  /// The last host/port qualifier, for bare values after `and`/`or` (tcpdump's rule).
  var lastQualifier: Qualifier? = nil
  var depth = 0

  enum Qualifier {
    case host(CaptureFilter.Direction)
    case port(CaptureFilter.Direction)
  }

  init(tokens: [FilterToken], endColumn: Int) {
    self.tokens = tokens
    self.endColumn = endColumn
  }

  var current: FilterToken? { position < tokens.count ? tokens[position] : nil }
  var column: Int { current?.column ?? endColumn }
  var foundText: String { current.map { "'\($0.text)'" } ?? "the end of the filter" }

  func error(_ message: String) -> CaptureFilterError {
    CaptureFilterError(column: column, message: message)
  }

  mutating func advance() { position += 1 }

  func isWord(_ word: String) -> Bool { current?.kind == .word(word) }
  func isSymbol(_ symbol: String) -> Bool { current?.kind == .symbol(symbol) }

  mutating func parseAll() throws(CaptureFilterError) -> CaptureFilter {
    if tokens.isEmpty { return .all }
    let filter = try parseExpression()
    if current != nil {
      throw error("expected 'and', 'or' or the end of the filter, found \(foundText)")
    }
    return filter
  }

  /// expression := unary ((and | or) unary)*   — equal precedence, left to right.
  mutating func parseExpression() throws(CaptureFilterError) -> CaptureFilter {
    var left = try parseUnary()
    var terms = 1
    while let token = current {
      // Every term costs at least two BPF instructions (its IPv4 check and its test), and a
      // program holds at most 4096: a longer chain can never compile, and would only make a tree
      // too deep to walk.
      switch token.kind {
      case .word("and"), .word("or"), .symbol("&&"), .symbol("||"): terms += 1
      default: break
      }
      guard terms <= 2048 else {
        throw error("more than 2048 terms joined by 'and'/'or': they cannot fit a BPF program (4096 instructions at most)")
      }
      switch token.kind {
      case .word("and"), .symbol("&&"):
        advance()
        left = .and(left, try parseUnary())
      case .word("or"), .symbol("||"):
        advance()
        left = .or(left, try parseUnary())
      default:
        return left
      }
    }
    return left
  }

  mutating func parseUnary() throws(CaptureFilterError) -> CaptureFilter {
    if isWord("not") || isSymbol("!") {
      advance()
      depth += 1
      defer { depth -= 1 }
      guard depth < 200 else { throw error("the filter nests too deeply") }
      return .not(try parseUnary())
    }
    return try parsePrimary()
  }

  mutating func parsePrimary() throws(CaptureFilterError) -> CaptureFilter {
    guard let token = current else {
      throw error("expected a filter primitive (tcp, udp, icmp, host, port, ...), found the end of the filter")
    }
    if token.kind == .symbol("(") {
      advance()
      depth += 1
      defer { depth -= 1 }
      guard depth < 200 else { throw error("the filter nests too deeply") }
      let inner = try parseExpression()
      guard isSymbol(")") else { throw error("expected ')' to close the '(' at column \(token.column), found \(foundText)") }
      advance()
      return inner
    }
    guard case .word(let word) = token.kind else {
      throw error("expected a filter primitive (tcp, udp, icmp, host, port, ...), found \(foundText)")
    }
    switch word {
    case "ip":
      advance()
      return .ip
    case "icmp":
      advance()
      return .icmp
    case "icmp6":
      advance()
      return .icmp6
    case "ip6":
      advance()
      // `ip6 host X`, `ip6 src X`: the address family qualifies the host.
      if isWord("host") || isWord("src") || isWord("dst") {
        return .and(.ip6, try parseQualified())
      }
      return .ip6
    case "tcp", "udp":
      advance()
      let protocolFilter: CaptureFilter = word == "tcp" ? .tcp : .udp
      if word == "tcp", isSymbol("[") { return try parseFlagTest(start: token.column) }
      // `tcp port 80`, `udp src port 53`: the protocol qualifies the port.
      if isWord("port") || ((isWord("src") || isWord("dst")) && peekWord(1) == "port") {
        return .and(protocolFilter, try parseQualified())
      }
      return protocolFilter
    case "src", "dst", "host", "port":
      return try parseQualified()
    default:
      if let qualifier = lastQualifier, looksLikeValue(word) {
        return try parseValue(for: qualifier)
      }
      if looksLikeValue(word) {
        throw error("'\(word)' needs a qualifier before it: 'host \(word)' or 'port \(word)'")
      }
      throw error("unknown filter primitive '\(word)' (expected tcp, udp, icmp, ip, host, src, dst, port, not, or '(')")
    }
  }

  func peekWord(_ offset: Int) -> String? {
    let index = position + offset
    guard index < tokens.count, case .word(let word) = tokens[index].kind else { return nil }
    return word
  }

  func looksLikeValue(_ word: String) -> Bool {
    guard let first = word.first else { return false }
    return first.isNumber || word.contains(":")
  }

  /// `[src|dst] host A`, `[src|dst] A`, `[src|dst] port N`.
  mutating func parseQualified() throws(CaptureFilterError) -> CaptureFilter {
    var direction = CaptureFilter.Direction.either
    if isWord("src") || isWord("dst") {
      direction = isWord("src") ? .source : .destination
      let qualifierWord = current?.text ?? ""
      advance()
      if isWord("host") {
        advance()
      } else if isWord("port") {
        advance()
        return try parseValue(for: .port(direction))
      } else if let token = current, case .word(let word) = token.kind, looksLikeValue(word) {
        // `src 10.0.0.1` is `src host 10.0.0.1`
      } else {
        throw error("expected 'host', 'port' or an address after '\(qualifierWord)', found \(foundText)")
      }
      return try parseValue(for: .host(direction))
    }
    if isWord("host") {
      advance()
      return try parseValue(for: .host(direction))
    }
    // "port"
    advance()
    return try parseValue(for: .port(direction))
  }

  mutating func parseValue(for qualifier: Qualifier) throws(CaptureFilterError) -> CaptureFilter {
    lastQualifier = qualifier
    switch qualifier {
    case .host(let direction):
      guard let token = current, case .word(let word) = token.kind else {
        throw error("expected an IPv4 address (a.b.c.d) after 'host', found \(foundText)")
      }
      if word.contains(":") {
        guard let address = IPv6Address(word) else {
          throw error("expected an IPv6 address (like fe80::1), found '\(word)'")
        }
        advance()
        return .host6(address, direction)
      }
      guard let address = FilterParser.parseIPv4(word) else {
        throw error("expected an IPv4 address (a.b.c.d), found '\(word)' (host names are not resolved)")
      }
      advance()
      return .host(address, direction)
    case .port(let direction):
      guard let token = current, case .word(let word) = token.kind else {
        throw error("expected a port number after 'port', found \(foundText)")
      }
      guard let number = FilterParser.parseNumber(word) else {
        throw error("expected a port number after 'port', found '\(word)' (service names are not looked up)")
      }
      guard number <= 65_535 else { throw error("port \(word) is out of range (0-65535)") }
      advance()
      return .port(UInt16(number), direction)
    }
  }

  /// After `tcp`: `[tcpflags] & MASK (==|=|!=) VALUE`.
  mutating func parseFlagTest(start: Int) throws(CaptureFilterError) -> CaptureFilter {
    advance()  // [
    guard let token = current, token.kind == .word("tcpflags") || token.kind == .word("13") else {
      throw error("expected 'tcpflags' or 13 inside 'tcp[...]' (other byte offsets are not supported), found \(foundText)")
    }
    advance()
    guard isSymbol("]") else { throw error("expected ']' after 'tcp[\(token.text)', found \(foundText)") }
    advance()
    var mask: UInt8 = 0xFF
    if isSymbol("&") {
      advance()
      mask = try parseFlagTerm()
      if isSymbol("|") {
        // tcpdump reads `tcp[13] & a|b` as `(tcp[13] & a) | b`: never what was meant.
        throw error("put a mask of several flags in parentheses: '& (a|b)'")
      }
    }
    let isEqual: Bool
    if isSymbol("==") || isSymbol("=") {
      isEqual = true
    } else if isSymbol("!=") {
      isEqual = false
    } else {
      throw error("expected '==', '=' or '!=' in the TCP flag test, found \(foundText)")
    }
    advance()
    let value = try parseFlagValue()
    return .tcpFlags(CaptureFilter.TCPFlagTest(mask: mask, isEqual: isEqual, value: value))
  }

  /// FLAGS := term ('|' term)* ; term := name | number | '(' FLAGS ')'
  mutating func parseFlagValue() throws(CaptureFilterError) -> UInt8 {
    var value = try parseFlagTerm()
    while isSymbol("|") {
      advance()
      value |= try parseFlagTerm()
    }
    return value
  }

  mutating func parseFlagTerm() throws(CaptureFilterError) -> UInt8 {
    if isSymbol("(") {
      let open = column
      advance()
      let value = try parseFlagValue()
      guard isSymbol(")") else { throw error("expected ')' to close the '(' at column \(open), found \(foundText)") }
      advance()
      return value
    }
    guard let token = current, case .word(let word) = token.kind else {
      throw error("expected a TCP flag (tcp-syn, tcp-ack, ...) or a number, found \(foundText)")
    }
    if let bit = CaptureFilter.flagNames.first(where: { $0.1 == word })?.0 {
      advance()
      return bit
    }
    if let number = FilterParser.parseNumber(word) {
      guard number <= 0xFF else { throw error("\(word) does not fit the 8-bit TCP flags byte") }
      advance()
      return UInt8(number)
    }
    throw error("unknown TCP flag '\(word)' (expected tcp-fin, tcp-syn, tcp-rst, tcp-push, tcp-ack, tcp-urg, tcp-ece, tcp-cwr or a number)")
  }

  /// Decimal or 0x-hexadecimal, up to 32 bits.
  static func parseNumber(_ word: String) -> UInt32? {
    if word.hasPrefix("0x") || word.hasPrefix("0X") {
      let digits = word.dropFirst(2)
      guard !digits.isEmpty, digits.count <= 8 else { return nil }
      return UInt32(digits, radix: 16)
    }
    guard !word.isEmpty, word.count <= 10, word.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return UInt32(word)
  }

  /// Dotted quad `a.b.c.d`, each 0…255, to a host-order value (PacketKit's `IPv4Address` rules).
  static func parseIPv4(_ word: String) -> IPv4Address? { IPv4Address(word) }
}
