// The TCP options by name: typed constructors for the kinds without an enum case, and the text
// spellings `send --option` accepts (its help is generated from `TCPOption.spellings`).
//
// Adding a craftable option takes one constructor and one `spellings` entry here, and its
// printer case in TCP+Tcpdump.swift: two files.

extension TCPOption {
  /// The most data bytes one option can carry: the 40-byte options area less kind and length.
  public static let maximumDataLength = 38

  /// TCP MD5 signature, kind 19, length 18 (RFC 2385): the 16-byte digest. `nil` unless
  /// `digest` is 16 bytes.
  public static func md5Signature(_ digest: [UInt8]) -> TCPOption? {
    digest.count == 16 ? .unknown(kind: 19, data: digest) : nil
  }

  /// TCP Authentication Option, kind 29, length 4 + MAC (RFC 5925): KeyID, RNextKeyID, MAC.
  /// `nil` if the MAC does not fit the options area.
  public static func authentication(keyID: UInt8, nextKeyID: UInt8, mac: [UInt8] = []) -> TCPOption? {
    mac.count <= maximumDataLength - 2 ? .unknown(kind: 29, data: [keyID, nextKeyID] + mac) : nil
  }

  /// Multipath TCP, kind 30 (RFC 8684): `data` starts with the subtype nibble (and version or
  /// flags nibble), as on the wire. `nil` if empty or too long.
  public static func multipath(_ data: [UInt8]) -> TCPOption? {
    (1...maximumDataLength).contains(data.count) ? .unknown(kind: 30, data: data) : nil
  }

  /// TCP Fast Open, kind 34 (RFC 7413): no cookie is a cookie request; RFC 7413 cookies are 4 to
  /// 16 bytes, even, but any length that fits is sent (a tool may lie). `nil` if too long.
  public static func fastOpen(cookie: [UInt8] = []) -> TCPOption? {
    cookie.count <= maximumDataLength ? .unknown(kind: 34, data: cookie) : nil
  }

  /// The experimental TCP Fast Open option used before kind 34 was assigned: kind 254 with the
  /// magic 0xF989 (RFC 6994), then the cookie (none: a cookie request).
  public static func fastOpenExperimental(cookie: [UInt8] = []) -> TCPOption? {
    cookie.count <= maximumDataLength - 2 ? .unknown(kind: 254, data: [0xF9, 0x89] + cookie) : nil
  }

  /// TCP User Timeout, kind 28, length 4 (RFC 5482): the granularity bit G (set: minutes, clear:
  /// seconds) then the 15-bit timeout. `nil` if `timeout` does not fit 15 bits.
  public static func userTimeout(_ timeout: UInt16, inMinutes: Bool) -> TCPOption? {
    guard timeout < 0x8000 else { return nil }
    let field = (inMinutes ? 0x8000 : 0) | timeout
    return .unknown(kind: 28, data: [UInt8(field >> 8), UInt8(field & 0xFF)])
  }
}

/// One text spelling of a TCP option (`NAME` or `NAME=VALUE`), as `send --option` takes it.
public struct TCPOptionSpelling: Sendable {
  /// The name before `=`, and other names accepted for it.
  public let name: String
  public let aliases: [String]
  /// How to write it, e.g. `md5=HEX16`.
  public let syntax: String
  /// What it is, for help and error messages.
  public let meaning: String
  /// The option from the text after `=` (`nil` when there is no `=`); `nil` if that is not valid.
  public let parse: @Sendable (_ value: String?) -> TCPOption?

  public init(
    _ name: String, aliases: [String] = [], syntax: String, meaning: String,
    parse: @escaping @Sendable (_ value: String?) -> TCPOption?
  ) {
    self.name = name
    self.aliases = aliases
    self.syntax = syntax
    self.meaning = meaning
    self.parse = parse
  }
}

extension TCPOption {
  /// Every spelling, in the order help lists them.
  public static let spellings: [TCPOptionSpelling] = [
    TCPOptionSpelling("mss", syntax: "mss=N", meaning: "maximum segment size (kind 2)") { value in
      value.flatMap { SpellingValue.integer($0, as: UInt16.self) }.map { .maximumSegmentSize($0) }
    },
    TCPOptionSpelling("wscale", syntax: "wscale=N", meaning: "window scale shift (kind 3)") { value in
      value.flatMap { SpellingValue.integer($0, as: UInt8.self) }.map { .windowScale($0) }
    },
    TCPOptionSpelling("sackok", aliases: ["sack-perm", "sackpermitted"], syntax: "sackok", meaning: "SACK permitted (kind 4)") { value in
      value == nil ? .sackPermitted : nil
    },
    TCPOptionSpelling("sack", syntax: "sack=L-R[,L-R]...", meaning: "SACK blocks, left and right edges (kind 5)") { value in
      guard let value else { return nil }
      var blocks: [SACKBlock] = []
      for block in value.split(separator: ",", omittingEmptySubsequences: false) {
        let edges = block.split(separator: "-", omittingEmptySubsequences: false)
        guard edges.count == 2, let left = SpellingValue.integer(String(edges[0]), as: UInt32.self),
          let right = SpellingValue.integer(String(edges[1]), as: UInt32.self)
        else { return nil }
        blocks.append(SACKBlock(leftEdge: left, rightEdge: right))
      }
      return blocks.count <= 4 ? .sack(blocks) : nil
    },
    TCPOptionSpelling("ts", syntax: "ts=VAL:ECR", meaning: "timestamps (kind 8)") { value in
      let numbers = (value ?? "").split(separator: ":", omittingEmptySubsequences: false)
        .map { SpellingValue.integer(String($0), as: UInt32.self) }
      guard numbers.count == 2, let tsValue = numbers[0], let echo = numbers[1] else { return nil }
      return .timestamps(value: tsValue, echoReply: echo)
    },
    TCPOptionSpelling("md5", syntax: "md5=HEX16", meaning: "MD5 signature, 16 bytes (kind 19, RFC 2385)") { value in
      value.flatMap(SpellingValue.hex).flatMap { md5Signature($0) }
    },
    TCPOptionSpelling("uto", syntax: "uto=N[s|m]", meaning: "user timeout, seconds or minutes, N < 32768 (kind 28, RFC 5482)") { value in
      guard var text = value else { return nil }
      var minutes = false
      if text.hasSuffix("m") || text.hasSuffix("s") {
        minutes = text.hasSuffix("m")
        text.removeLast()
      }
      return SpellingValue.integer(text, as: UInt16.self).flatMap { userTimeout($0, inMinutes: minutes) }
    },
    TCPOptionSpelling("ao", syntax: "ao=KEYID:RNEXTKEYID[:MACHEX]", meaning: "TCP authentication option (kind 29, RFC 5925)") { value in
      let parts = (value ?? "").split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
      guard parts.count >= 2, let keyID = SpellingValue.integer(parts[0], as: UInt8.self),
        let nextKeyID = SpellingValue.integer(parts[1], as: UInt8.self)
      else { return nil }
      let mac = parts.count == 3 ? SpellingValue.hex(parts[2]) : []
      return mac.flatMap { authentication(keyID: keyID, nextKeyID: nextKeyID, mac: $0) }
    },
    TCPOptionSpelling("mptcp", syntax: "mptcp=HEX", meaning: "Multipath TCP, the bytes from the subtype on (kind 30, RFC 8684)") { value in
      value.flatMap(SpellingValue.hex).flatMap { multipath($0) }
    },
    TCPOptionSpelling("tfo", syntax: "tfo[=COOKIEHEX]", meaning: "Fast Open cookie, none for a request (kind 34, RFC 7413)") { value in
      guard let value else { return fastOpen() }
      return SpellingValue.hex(value).flatMap { fastOpen(cookie: $0) }
    },
    TCPOptionSpelling("tfo-exp", syntax: "tfo-exp[=COOKIEHEX]", meaning: "experimental Fast Open (kind 254, magic 0xF989)") { value in
      guard let value else { return fastOpenExperimental() }
      return SpellingValue.hex(value).flatMap { fastOpenExperimental(cookie: $0) }
    },
    TCPOptionSpelling("nop", syntax: "nop", meaning: "no operation (kind 1)") { $0 == nil ? .noOperation : nil },
    TCPOptionSpelling("eol", syntax: "eol", meaning: "end of option list (kind 0)") { $0 == nil ? .endOfOptionList : nil },
    TCPOptionSpelling("raw", syntax: "raw=KIND:HEX", meaning: "the kind octet, then HEX verbatim: the length octet is yours, so it can lie") { value in
      // Empty pieces kept: "raw=:00" has no kind and is refused, not read as kind 0.
      let pieces = (value ?? "").split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard let kind = SpellingValue.integer(pieces[0], as: UInt8.self) else { return nil }
      let bytes = pieces.count > 1 && !pieces[1].isEmpty ? SpellingValue.hex(pieces[1]) : []
      return bytes.map { .raw(kind: kind, bytes: $0) }
    },
  ]

  /// Why a spelling was refused.
  public enum SpellingProblem: Error, Sendable {
    /// No spelling has that name.
    case unknownName(String)
    /// The name is known, its value is not valid for it.
    case badValue(TCPOptionSpelling)
  }

  /// The option `text` spells (`mss=1460`, `sackok`, `md5=00112233...`); names are not
  /// case-sensitive.
  public static func parse(spelling text: String) -> Result<TCPOption, SpellingProblem> {
    let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
    let name = parts[0].lowercased()
    guard let spelling = spellings.first(where: { $0.name == name || $0.aliases.contains(name) }) else {
      return .failure(.unknownName(name))
    }
    guard let option = spelling.parse(parts.count > 1 ? String(parts[1]) : nil) else {
      return .failure(.badValue(spelling))
    }
    return .success(option)
  }
}

/// The value parsers the spellings share.
enum SpellingValue {
  /// Decimal, or hex after `0x`; `nil` if empty, not a number, or out of range.
  static func integer<T: FixedWidthInteger & UnsignedInteger>(_ text: String, as type: T.Type) -> T? {
    if text.hasPrefix("0x") || text.hasPrefix("0X") {
      let digits = text.dropFirst(2)
      return digits.isEmpty ? nil : T(digits, radix: 16)
    }
    guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
    return T(text)
  }

  /// Hex bytes (see `HexText`); `nil` if not hex.
  static func hex(_ text: String) -> [UInt8]? {
    if case .success(let bytes) = HexText.bytes(text) { bytes } else { nil }
  }
}
