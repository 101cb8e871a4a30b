import PacketKit

/// Parses packetdrill-language text into a `Script`. Never traps on input: every problem is a
/// `ScriptParseError` with the line and column where something else was expected.
///
/// `defines` (`-D NAME=VALUE`) replace symbols in system call arguments and option values.
public struct ScriptParser {
  private let bytes: [UInt8]
  private let file: String
  private var index = 0
  private var line = 1
  private var lineStart = 0
  private let defines: [String: String]
  /// The IP version the run will use, when the caller fixes it (`nil`: the script's own
  /// `--ip_version`, else IPv4). ICMP lines read their type and code names in its ICMP (ICMPv6
  /// for `ipv6`), as packetdrill does.
  private let forcedIPVersion: ScriptIPVersion?
  private var ipVersion: ScriptIPVersion

  public init(text: String, file: String = "<script>", defines: [String: String] = [:], ipVersion: ScriptIPVersion? = nil) {
    self.bytes = Array(text.utf8)
    self.file = file
    self.defines = defines
    self.forcedIPVersion = ipVersion
    self.ipVersion = ipVersion ?? .ipv4
  }

  /// Parses `text` (see the type's notes). `ipVersion`: the version the script will run with
  /// (`nil`: its own `--ip_version=`, else ipv4); the result's `ipVersion` says which was used.
  public static func parse(
    _ text: String, file: String = "<script>", defines: [String: String] = [:], ipVersion: ScriptIPVersion? = nil
  ) throws(ScriptParseError) -> Script {
    var parser = ScriptParser(text: text, file: file, defines: defines, ipVersion: ipVersion)
    return try parser.parseScript()
  }

  // MARK: - Cursor

  private var location: ScriptLocation {
    ScriptLocation(file: file, line: line, column: index - lineStart + 1)
  }
  private var current: UInt8? { index < bytes.count ? bytes[index] : nil }
  private func peek(_ offset: Int) -> UInt8? {
    index + offset < bytes.count ? bytes[index + offset] : nil
  }
  private mutating func advance() {
    guard index < bytes.count else { return }
    if bytes[index] == UInt8(ascii: "\n") {
      line += 1
      lineStart = index + 1
    }
    index += 1
  }
  private func error(_ message: String) -> ScriptParseError {
    ScriptParseError(location: location, message: message)
  }
  private func starts(with text: String) -> Bool {
    var offset = 0
    for byte in text.utf8 {
      guard peek(offset) == byte else { return false }
      offset += 1
    }
    return true
  }
  private mutating func skip(_ text: String) {
    for _ in text.utf8 { advance() }
  }
  /// What is at the cursor, for "expected X, found Y" messages.
  private var found: String {
    guard let byte = current else { return "end of file" }
    if byte == UInt8(ascii: "\n") { return "end of line" }
    var end = index
    while end < bytes.count, end - index < 12, !isSpace(bytes[end]) { end += 1 }
    return "\"" + String(decoding: bytes[index..<max(end, index + 1)], as: UTF8.self) + "\""
  }

  private func isSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
  }
  private func isDigit(_ byte: UInt8?) -> Bool {
    guard let byte else { return false }
    return byte >= 0x30 && byte <= 0x39
  }
  private func isIdentifierStart(_ byte: UInt8?) -> Bool {
    guard let byte else { return false }
    return (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x5F
  }
  private func isIdentifierPart(_ byte: UInt8?) -> Bool { isIdentifierStart(byte) || isDigit(byte) }

  /// Skips blanks and comments; with `newlines: false` stops at a line end.
  private mutating func skipTrivia(newlines: Bool) {
    while let byte = current {
      if byte == 0x20 || byte == 0x09 || byte == 0x0D || (newlines && byte == 0x0A) {
        advance()
      } else if starts(with: "//") {
        while let next = current, next != 0x0A { advance() }
      } else if starts(with: "/*") {
        skip("/*")
        while current != nil, !starts(with: "*/") { advance() }
        skip("*/")
      } else {
        return
      }
    }
  }

  /// Skips blanks (on this line unless `newlines`), then a `,` if one comes (true) or nothing
  /// (false).
  private mutating func skipComma(newlines: Bool = false) -> Bool {
    skipTrivia(newlines: newlines)
    guard current == UInt8(ascii: ",") else { return false }
    advance()
    return true
  }

  private mutating func expect(_ text: String, _ what: String? = nil) throws(ScriptParseError) {
    guard starts(with: text) else {
      throw error("expected \(what ?? "\"\(text)\""), found \(found)")
    }
    skip(text)
  }

  private mutating func identifier() throws(ScriptParseError) -> String {
    guard isIdentifierStart(current) else { throw error("expected a name, found \(found)") }
    let start = index
    while isIdentifierPart(current) { advance() }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private func sourceLine(at start: Int) -> String {
    var begin = start
    while begin > 0, bytes[begin - 1] != 0x0A { begin -= 1 }
    var end = start
    while end < bytes.count, bytes[end] != 0x0A { end += 1 }
    return String(decoding: bytes[begin..<end], as: UTF8.self)
  }

  // MARK: - Script

  public mutating func parseScript() throws(ScriptParseError) -> Script {
    var script = Script(path: file)
    script.ipVersion = ipVersion
    while true {
      skipTrivia(newlines: true)
      guard current != nil else { break }
      let startIndex = index
      let startLocation = location
      if starts(with: "--") {
        skip("--")
        let name = try identifierWithDashes()
        var value = ""
        if current == UInt8(ascii: "=") {
          advance()
          let begin = index
          while let byte = current, !isSpace(byte) { advance() }
          value = String(decoding: bytes[begin..<index], as: UTF8.self)
        }
        script.options[name] = value
        // The run's bound on a tolerance (`--tolerance-usecs`): a script's own is a number too,
        // and one near Int64's end would overflow the deadlines computed from it.
        if name == "tolerance_usecs", !(Int64(value).map { (1...60_000_000).contains($0) } ?? false) {
          throw ScriptParseError(location: startLocation, message: "expected --tolerance_usecs=N, N in 1...60000000, found \"\(value)\"")
        }
        if name == "ip_version", forcedIPVersion == nil {
          guard let version = ScriptIPVersion(rawValue: value) else {
            throw ScriptParseError(
              location: startLocation, message: "expected --ip_version=ipv4, ipv6 or ipv4-mapped-ipv6, found \"\(value)\"")
          }
          ipVersion = version
          script.ipVersion = version
        }
        continue
      }
      var time = ScriptTime(kind: .relative, microseconds: 0)
      var timed = false
      if current == UInt8(ascii: "*") || current == UInt8(ascii: "+") || isDigit(current)
        || (current == UInt8(ascii: ".") && isDigit(peek(1)))
      {
        time = try parseTime()
        timed = true
        skipTrivia(newlines: false)
      }
      let action: ScriptAction
      if current == UInt8(ascii: "`") {
        action = .shell(try parseDelimited(open: "`", close: "`", what: "closing backtick"))
      } else if starts(with: "%{") {
        action = .python(try parseDelimited(open: "%{", close: "}%", what: "\"}%\" closing the python block"))
      } else if !timed {
        throw error("expected a time (0, +0.1, *), a backtick command, %{ or --option, found \(found)")
      } else if current == UInt8(ascii: "<") || current == UInt8(ascii: ">") {
        action = try parsePacketLine()
      } else if isIdentifierStart(current) {
        action = .syscall(try parseSyscall())
      } else {
        throw error("expected \"<\", \">\", a system call or a backtick command, found \(found)")
      }
      script.events.append(
        ScriptEvent(time: time, action: action, location: startLocation, text: sourceLine(at: startIndex)))
    }
    return script
  }

  private mutating func identifierWithDashes() throws(ScriptParseError) -> String {
    let start = index
    while let byte = current, isIdentifierPart(byte) || byte == UInt8(ascii: "-") { advance() }
    guard index > start else { throw error("expected an option name after \"--\", found \(found)") }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private mutating func parseDelimited(open: String, close: String, what: String) throws(ScriptParseError) -> String {
    let opening = location
    skip(open)
    let start = index
    while current != nil, !starts(with: close) { advance() }
    guard current != nil else {
      throw ScriptParseError(location: opening, message: "expected \(what) for the one opened here")
    }
    let body = String(decoding: bytes[start..<index], as: UTF8.self)
    skip(close)
    return body
  }

  // MARK: - Time

  /// A decimal number of seconds, as microseconds: `0`, `.1`, `1.000250`.
  private mutating func seconds() throws(ScriptParseError) -> Int64 {
    guard isDigit(current) || (current == UInt8(ascii: ".") && isDigit(peek(1))) else {
      throw error("expected a time in seconds, found \(found)")
    }
    var whole: Int64 = 0
    var digits = 0
    while isDigit(current), let byte = current {
      guard digits < 9 else { throw error("time too large") }
      whole = whole * 10 + Int64(byte - 0x30)
      digits += 1
      advance()
    }
    var micros: Int64 = 0
    if current == UInt8(ascii: "."), !starts(with: "...") {
      advance()
      var scale: Int64 = 100_000
      while isDigit(current), let byte = current {
        micros += Int64(byte - 0x30) * scale
        scale /= 10
        advance()
      }
    }
    return whole * 1_000_000 + micros
  }

  private mutating func parseTime() throws(ScriptParseError) -> ScriptTime {
    if current == UInt8(ascii: "*") {
      advance()
      return ScriptTime(kind: .any, microseconds: 0)
    }
    var kind = ScriptTime.Kind.absolute
    if current == UInt8(ascii: "+") {
      advance()
      kind = .relative
    }
    var time = ScriptTime(kind: kind, microseconds: try seconds())
    // `start...end`, also written with blanks: `+0 ... 0.010`. The end counts from the start
    // when the start is relative (`+0...0.100` returns 0.1 s after it began).
    let save = (index, line, lineStart)
    skipTrivia(newlines: false)
    if starts(with: "...") || current == UInt8(ascii: "~") {
      // `+a~+b` (a packet's range) counts both ends from the same anchor; `+a...b` (a call's)
      // counts the end from the start.
      let tilde = current == UInt8(ascii: "~")
      if tilde { advance() } else { skip("...") }
      skipTrivia(newlines: false)
      if current == UInt8(ascii: "+") { advance() }
      time.endIsRelative = kind == .relative
      let written = try seconds()
      time.end = tilde && kind == .relative ? written - time.microseconds : written
    } else {
      (index, line, lineStart) = save
    }
    return time
  }

  // MARK: - Packets

  /// `start:end(length)`, with the length checked against `end - start` (its position in the error).
  private mutating func sequenceRange(_ what: String, maximumLength: Int) throws(ScriptParseError)
    -> (start: UInt32, end: UInt32, length: Int)
  {
    let start = try number(UInt32.self, what)
    try expect(":", "\":\" in start:end(length)")
    let end = try number(UInt32.self, "an end sequence number")
    try expect("(", "\"(\" before the payload length")
    let lengthLocation = location
    let length = try number(Int.self, "a payload length")
    try expect(")")
    guard length >= 0, length <= maximumLength, end &- start == UInt32(truncatingIfNeeded: length) else {
      throw ScriptParseError(
        location: lengthLocation,
        message: "expected a length equal to end - start (\(end &- start)), found \(length)")
    }
    return (start, end, length)
  }

  private mutating func number<I: FixedWidthInteger>(_ type: I.Type, _ what: String) throws(ScriptParseError) -> I {
    if isIdentifierStart(current) {
      // A -D define used as a number.
      let here = location
      let name = try identifier()
      if let text = defines[name], let value = ScriptParser.integer(text, as: I.self) { return value }
      throw ScriptParseError(location: here, message: "expected \(what), found \"\(name)\"")
    }
    let start = index
    if current == UInt8(ascii: "-") { advance() }
    while let byte = current, isIdentifierPart(byte) { advance() }
    let text = String(decoding: bytes[start..<index], as: UTF8.self)
    guard !text.isEmpty, let value = ScriptParser.integer(text, as: I.self) else {
      index = start
      throw error("expected \(what), found \(text.isEmpty ? found : "\"\(text)\"")")
    }
    return value
  }

  static func integer<I: FixedWidthInteger>(_ text: String, as: I.Type) -> I? {
    if text.hasPrefix("0x") || text.hasPrefix("0X") { return I(text.dropFirst(2), radix: 16) }
    if text.hasPrefix("-0x") { return I("-" + text.dropFirst(3), radix: 16) }
    return I(text, radix: 10)
  }

  private mutating func parsePacketLine() throws(ScriptParseError) -> ScriptAction {
    let inbound = current == UInt8(ascii: "<")
    advance()
    skipTrivia(newlines: false)
    var info = IPInfo()
    if current == UInt8(ascii: "[") || current == UInt8(ascii: "(") {
      info = try parseIPInfo()
      skipTrivia(newlines: false)
    }
    let ecn = info.ecn
    if starts(with: "icmp"), !isIdentifierPart(peek(4)) {
      skip("icmp")
      return try parseICMP(inbound: inbound)
    }
    if starts(with: "udp"), !isIdentifierPart(peek(3)) {
      skip("udp")
      return try parseUDP(inbound: inbound)
    }
    // Not TCP: understood well enough to say what it is, not played.
    for other in ["ipv4", "ipv6", "mpls", "gre"] where starts(with: other) {
      skipRestOfLine()
      return .unsupported("\(other) packet lines are not supported yet")
    }
    let flagStart = index
    var flags = TCPFlags()
    let noFlags = current == UInt8(ascii: "-")  // `-`: no flags at all
    if noFlags { advance() }
    while !noFlags, let byte = current, !isSpace(byte) {
      switch byte {
      case UInt8(ascii: "F"): flags.insert(.fin)
      case UInt8(ascii: "S"): flags.insert(.syn)
      case UInt8(ascii: "R"): flags.insert(.rst)
      case UInt8(ascii: "P"): flags.insert(.psh)
      case UInt8(ascii: "."): flags.insert(.ack)
      case UInt8(ascii: "U"): flags.insert(.urg)
      case UInt8(ascii: "E"): flags.insert(.ece)
      case UInt8(ascii: "W"): flags.insert(.cwr)
      case UInt8(ascii: "A"): flags.insert(.ns)
      default:
        throw error("expected TCP flags (letters from FSRP.UEWA), found \(found)")
      }
      advance()
    }
    guard index > flagStart else { throw error("expected TCP flags (S, S., ., P., F., R...), found \(found)") }
    let flagText = String(decoding: bytes[flagStart..<index], as: UTF8.self)
    skipTrivia(newlines: false)
    let (start, end, length) = try sequenceRange("a sequence number (start:end(length))", maximumLength: 65_535)
    var packet = ScriptPacket(
      inbound: inbound, ecn: ecn, flagText: flagText, flags: flags, sequenceStart: start,
      sequenceEnd: end, length: length)
    packet.typeOfService = info.typeOfService
    packet.flowLabel = info.flowLabel
    packet.timeToLive = info.timeToLive
    while true {
      skipTrivia(newlines: false)
      guard let byte = current, byte != 0x0A else { break }
      if byte == UInt8(ascii: "<") {
        packet.options = .some(try parseOptions())
        continue
      }
      let here = location
      let word = try identifier()
      switch word {
      case "ack":
        skipTrivia(newlines: false)
        packet.acknowledgment = try number(UInt32.self, "an acknowledgment number")
      case "win":
        skipTrivia(newlines: false)
        packet.window = try number(UInt16.self, "a window (0...65535)")
      case "urg":
        skipTrivia(newlines: false)
        packet.urgentPointer = try number(UInt16.self, "an urgent pointer")
      default:
        throw ScriptParseError(
          location: here, message: "expected ack, win, urg or <options>, found \"\(word)\"")
      }
    }
    return .packet(packet)
  }

  /// After `< udp` or `> udp`: `[SRC>DST] (LENGTH)` (packetdrill's grammar: ports, when written,
  /// are the datagram's own; otherwise the script's UDP socket and its peer).
  private mutating func parseUDP(inbound: Bool) throws(ScriptParseError) -> ScriptAction {
    skipTrivia(newlines: false)
    var udp = ScriptUDP(inbound: inbound, length: 0)
    if current != UInt8(ascii: "(") {
      udp.sourcePort = try number(UInt16.self, "a source port (0...65535) or \"(\" before the payload length")
      skipTrivia(newlines: false)
      try expect(">", "\">\" between the source and destination ports")
      skipTrivia(newlines: false)
      udp.destinationPort = try number(UInt16.self, "a destination port (0...65535)")
      skipTrivia(newlines: false)
    }
    udp.length = try udpLength()
    skipTrivia(newlines: false)
    if let byte = current, byte != 0x0A {
      throw error("expected the end of the udp line, found \(found)")
    }
    return .udp(udp)
  }

  /// `(LENGTH)`: a UDP payload length, 0...65507.
  private mutating func udpLength() throws(ScriptParseError) -> Int {
    try expect("(", "\"(\" before the UDP payload length")
    skipTrivia(newlines: false)
    let here = location
    let length = try number(Int.self, "a UDP payload length (0...65507)")
    guard (0...65_507).contains(length) else {
      throw ScriptParseError(location: here, message: "expected a UDP payload length of 0...65507, found \(length)")
    }
    skipTrivia(newlines: false)
    try expect(")")
    return length
  }

  /// The IP fields a packet line may write, packetdrill's `[ip_info]` (or `(ip_info)`): an ECN
  /// mark (`noecn`, `ect0`, `ect1`, `ce`, `ect01`) or `tos 0xNN`, optionally followed by
  /// `, flowlabel 0xNNNNN`; or `flowlabel 0xNNNNN` alone; or `ttl N` (the hop limit in IPv6).
  struct IPInfo {
    var ecn: ScriptECN?
    var typeOfService: UInt8?
    var flowLabel: UInt32?
    var timeToLive: UInt8?
  }

  private mutating func parseIPInfo() throws(ScriptParseError) -> IPInfo {
    let close = current == UInt8(ascii: "(") ? ")" : "]"
    advance()
    skipTrivia(newlines: false)
    var info = IPInfo()
    func flowLabel(_ parser: inout ScriptParser) throws(ScriptParseError) -> UInt32 {
      parser.skipTrivia(newlines: false)
      let here = parser.location
      let value = try parser.number(UInt32.self, "a flow label (0x0...0xfffff)")
      guard value <= 0xF_FFFF else {
        throw ScriptParseError(location: here, message: "expected a flow label of 20 bits (0x0...0xfffff), found \(value)")
      }
      return value
    }
    let here = location
    let name = try identifier()
    switch name {
    case "flowlabel":
      info.flowLabel = try flowLabel(&self)
    case "ttl":
      skipTrivia(newlines: false)
      info.timeToLive = try number(UInt8.self, "a TTL or hop limit (0...255)")
    default:
      if name == "tos" {
        skipTrivia(newlines: false)
        info.typeOfService = try number(UInt8.self, "a TOS byte (0x00...0xff)")
      } else if let value = ScriptECN(rawValue: name) {
        info.ecn = value
      } else {
        throw ScriptParseError(
          location: here,
          message: "expected an ECN mark (noecn, ect0, ect1, ce, ect01), tos 0xNN, flowlabel 0xNNNNN or ttl N, found \"\(name)\"")
      }
      if skipComma() {
        skipTrivia(newlines: false)
        let at = location
        guard try identifier() == "flowlabel" else {
          throw ScriptParseError(location: at, message: "expected flowlabel 0xNNNNN after \",\"")
        }
        info.flowLabel = try flowLabel(&self)
      }
    }
    skipTrivia(newlines: false)
    try expect(close, "\"\(close)\" closing the IP fields")
    return info
  }

  /// After `< icmp` or `> icmp`: `TYPE [CODE] [mtu N] [id N] [[start:end(len)] | [udp (N)]]`
  /// (packetdrill's grammar; `type_N` and `code_N` spell numbers, `-D` defines replace words).
  private mutating func parseICMP(inbound: Bool) throws(ScriptParseError) -> ScriptAction {
    func word() throws(ScriptParseError) -> (String, ScriptLocation) {
      skipTrivia(newlines: false)
      let here = location
      let text = try identifier()
      return (defines[text] ?? text, here)
    }
    let (typeName, typeLocation) = try word()
    var icmp: ScriptICMP
    if typeName.hasPrefix("type_"), let number = UInt8(typeName.dropFirst(5)) {
      icmp = ScriptICMP(type: number)
    } else if let number = ScriptICMP.typeNumber(typeName, ipv6: ipVersion.wireIsIPv6) {
      icmp = ScriptICMP(type: number)
    } else {
      let examples = ipVersion.wireIsIPv6 ? "unreachable, packet_too_big, time_exceeded" : "unreachable, time_exceeded, source_quench"
      throw ScriptParseError(
        location: typeLocation,
        message: "expected an \(ipVersion.wireIsIPv6 ? "ICMPv6" : "ICMP") type (\(examples), type_N...), found \"\(typeName)\"")
    }
    var sawCode = false
    var sawQuote = false
    while true {
      skipTrivia(newlines: false)
      guard let byte = current, byte != 0x0A else { break }
      if byte == UInt8(ascii: "[") {
        sawQuote = true
        advance()
        skipTrivia(newlines: false)
        if starts(with: "udp"), !isIdentifierPart(peek(3)) {
          skip("udp")
          skipTrivia(newlines: false)
          icmp.quote = .udp
          icmp.quotedLength = try udpLength()
          skipTrivia(newlines: false)
          try expect("]")
          continue
        }
        if starts(with: "raw") {
          skipRestOfLine()
          return .unsupported("icmp lines quoting raw packets are not supported yet")
        }
        let (start, _, length) = try sequenceRange(
          "a quoted sequence number (start:end(length))", maximumLength: 65_495)
        skipTrivia(newlines: false)
        try expect("]")
        icmp.quote = .tcp
        icmp.quotedStart = start
        icmp.quotedLength = length
        continue
      }
      let (name, here) = try word()
      switch name {
      case "mtu":
        skipTrivia(newlines: false)
        icmp.mtu = try number(UInt16.self, "an MTU (0...65535)")
        if ipVersion.wireIsIPv6 {
          guard icmp.type == 2, icmp.code == 0 else {
            throw ScriptParseError(location: here, message: "expected mtu only after packet_too_big (ICMPv6)")
          }
        } else {
          guard icmp.type == 3, icmp.code == 4 else {
            throw ScriptParseError(location: here, message: "expected mtu only after unreachable frag_needed")
          }
        }
      case "id":
        skipTrivia(newlines: false)
        icmp.identifier = try number(UInt16.self, "an ICMP id (0...65535)")
      default:
        guard !sawCode, icmp.mtu == nil else {
          throw ScriptParseError(location: here, message: "expected mtu, id or [start:end(length)], found \"\(name)\"")
        }
        sawCode = true
        if name.hasPrefix("code_"), let number = UInt8(name.dropFirst(5)) {
          icmp.code = number
        } else if let number = ScriptICMP.codeNumber(name, type: icmp.type, ipv6: ipVersion.wireIsIPv6) {
          icmp.code = number
        } else {
          let examples = ipVersion.wireIsIPv6 ? "no_route, port_unreachable, exceeded_hop_limit" : "host_unreachable, frag_needed"
          throw ScriptParseError(
            location: here,
            message: "expected an \(ipVersion.wireIsIPv6 ? "ICMPv6" : "ICMP") code (\(examples), code_N...), found \"\(name)\"")
        }
      }
    }
    icmp.inbound = inbound
    // Written without a quote: an outbound message's is not checked; an inbound error quotes the
    // connection's segment at 0, an echo quotes nothing.
    if !sawQuote { icmp.quote = inbound && !ScriptICMP.isEcho(icmp.type, ipv6: ipVersion.wireIsIPv6) ? .tcp : .none }
    return .icmp(icmp)
  }

  private mutating func skipRestOfLine() {
    while let byte = current, byte != 0x0A { advance() }
  }

  /// `<mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>` or `<...>` (`nil`: any options).
  private mutating func parseOptions() throws(ScriptParseError) -> [ScriptTCPOption]? {
    try expect("<")
    skipTrivia(newlines: false)
    if starts(with: "...") {
      skip("...")
      skipTrivia(newlines: false)
      try expect(">", "\">\" after \"<...\"")
      return nil
    }
    var options: [ScriptTCPOption] = []
    while true {
      skipTrivia(newlines: false)
      if current == UInt8(ascii: ">"), options.isEmpty {
        advance()
        return options
      }
      let here = location
      let name = try identifier()
      skipTrivia(newlines: false)
      switch name {
      case "nop": options.append(.noOperation)
      case "eol": options.append(.endOfOptionList)
      case "mss": options.append(.maximumSegmentSize(try number(UInt16.self, "an MSS value")))
      case "wscale": options.append(.windowScale(try number(UInt8.self, "a window scale shift")))
      case "sackOK": options.append(.sackPermitted)
      case "TS":
        try expect("val", "\"val\" after TS")
        skipTrivia(newlines: false)
        let value = try number(UInt32.self, "a timestamp value")
        skipTrivia(newlines: false)
        try expect("ecr", "\"ecr\" after the TS value")
        skipTrivia(newlines: false)
        options.append(.timestamps(value: value, echoReply: try number(UInt32.self, "a timestamp echo reply")))
      case "sack":
        var blocks: [SACKBlock] = []
        while isDigit(current) {
          let left = try number(UInt32.self, "a SACK block start")
          try expect(":", "\":\" in a SACK block")
          let right = try number(UInt32.self, "a SACK block end")
          blocks.append(SACKBlock(leftEdge: left, rightEdge: right))
          skipTrivia(newlines: false)
        }
        options.append(.sack(blocks))
      case "FO", "FOEXP":
        var cookie: [UInt8] = []
        if isIdentifierPart(current) {
          let cookieLocation = location
          var text = try hexWord()
          if let defined = defines[text] { text = defined }
          guard let bytes = ScriptParser.hexBytes(text) else {
            throw ScriptParseError(location: cookieLocation, message: "expected a hex fast open cookie, found \"\(text)\"")
          }
          cookie = bytes
        }
        options.append(.fastOpen(cookie: cookie, experimental: name == "FOEXP"))
      case "md5":
        while let byte = current, byte != UInt8(ascii: ","), byte != UInt8(ascii: ">"), byte != 0x0A { advance() }
        options.append(.md5)
      default:
        throw ScriptParseError(
          location: here,
          message: "expected a TCP option (nop, eol, mss, wscale, sackOK, TS, sack, FO, FOEXP, md5), found \"\(name)\"")
      }
      if skipComma() { continue }
      try expect(">", "\",\" or \">\" in the option list")
      return options
    }
  }

  private mutating func hexWord() throws(ScriptParseError) -> String {
    let start = index
    while isIdentifierPart(current) { advance() }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  static func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var position = 0
    while position < digits.count {
      guard let high = hexValue(digits[position]), let low = hexValue(digits[position + 1]) else { return nil }
      out.append(high << 4 | low)
      position += 2
    }
    return out
  }
  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x41...0x46: return byte - 0x41 + 10
    case 0x61...0x66: return byte - 0x61 + 10
    default: return nil
    }
  }

  // MARK: - System calls

  private mutating func parseSyscall() throws(ScriptParseError) -> ScriptSyscall {
    let name = try identifier()
    skipTrivia(newlines: false)
    try expect("(", "\"(\" after the system call name")
    let arguments = try expressionList(closing: ")")
    skipTrivia(newlines: true)
    try expect("=", "\"=\" and the expected result")
    skipTrivia(newlines: false)
    let result = try expression()
    skipTrivia(newlines: false)
    var errnoName: String?
    var note: String?
    if isIdentifierStart(current) {
      errnoName = try identifier()
      skipTrivia(newlines: false)
    }
    if current == UInt8(ascii: "(") {
      let opening = location
      advance()
      let start = index
      var depth = 1
      while let byte = current {
        if byte == UInt8(ascii: "(") { depth += 1 }
        if byte == UInt8(ascii: ")") {
          depth -= 1
          if depth == 0 { break }
        }
        advance()
      }
      guard current != nil else {
        throw ScriptParseError(location: opening, message: "expected \")\" closing the note opened here")
      }
      note = String(decoding: bytes[start..<index], as: UTF8.self)
      advance()
    }
    skipTrivia(newlines: false)
    guard current == nil || current == 0x0A else {
      throw error("expected the end of the line after the result, found \(found)")
    }
    return ScriptSyscall(name: name, arguments: arguments, result: result, errnoName: errnoName, note: note)
  }

  private mutating func expressionList(closing: String) throws(ScriptParseError) -> [ScriptExpression] {
    var items: [ScriptExpression] = []
    skipTrivia(newlines: true)
    if starts(with: closing) {
      skip(closing)
      return items
    }
    while true {
      skipTrivia(newlines: true)
      items.append(try expression())
      if skipComma(newlines: true) { continue }
      try expect(closing, "\",\" or \"\(closing)\"")
      return items
    }
  }

  private mutating func expression() throws(ScriptParseError) -> ScriptExpression {
    var left = try term()
    while true {
      skipTrivia(newlines: false)
      guard current == UInt8(ascii: "|") else { return left }
      advance()
      skipTrivia(newlines: true)
      left = .bitwiseOr(left, try term())
    }
  }

  private mutating func term() throws(ScriptParseError) -> ScriptExpression {
    guard let byte = current else { throw error("expected a value, found end of file") }
    if starts(with: "...") {
      skip("...")
      return .ellipsis
    }
    if byte == UInt8(ascii: "[") {
      advance()
      return .list(try expressionList(closing: "]"))
    }
    if byte == UInt8(ascii: "{") {
      advance()
      var fields: [ScriptField] = []
      skipTrivia(newlines: true)
      if current == UInt8(ascii: "}") {
        advance()
        return .structure(fields)
      }
      while true {
        skipTrivia(newlines: true)
        // A positional member (`{..., 1000}` for an iovec) or `name=value`.
        let save = (index, line, lineStart)
        var named = false
        if isIdentifierStart(current) {
          _ = try identifier()
          skipTrivia(newlines: false)
          named = current == UInt8(ascii: "=") || current == UInt8(ascii: "(")
          (index, line, lineStart) = save
        }
        if !named {
          fields.append(ScriptField(name: "", value: try expression()))
          if skipComma(newlines: true) { continue }
          try expect("}", "\",\" or \"}\"")
          return .structure(fields)
        }
        let name = try identifier()
        skipTrivia(newlines: false)
        if current == UInt8(ascii: "(") {
          // msg_name(...)=...: a field with a length written beside it.
          advance()
          _ = try expressionList(closing: ")")
          skipTrivia(newlines: false)
        }
        try expect("=", "\"=\" after the field name \(name)")
        skipTrivia(newlines: true)
        fields.append(ScriptField(name: name, value: try expression()))
        if skipComma(newlines: true) { continue }
        try expect("}", "\",\" or \"}\"")
        return .structure(fields)
      }
    }
    if byte == UInt8(ascii: "\"") {
      let opening = location
      advance()
      var text: [UInt8] = []
      while let next = current, next != UInt8(ascii: "\"") {
        if next == UInt8(ascii: "\\"), let escaped = peek(1) {
          advance()
          switch escaped {
          case UInt8(ascii: "n"): text.append(0x0A)
          case UInt8(ascii: "t"): text.append(0x09)
          case UInt8(ascii: "0"): text.append(0)
          default: text.append(escaped)
          }
        } else {
          text.append(next)
        }
        advance()
      }
      guard current != nil else {
        throw ScriptParseError(location: opening, message: "expected a closing quote for the string opened here")
      }
      advance()
      return .string(String(decoding: text, as: UTF8.self))
    }
    if isDigit(byte) || byte == UInt8(ascii: "-") {
      return .integer(try number(Int64.self, "a number"))
    }
    if isIdentifierStart(byte) {
      let name = try identifier()
      skipTrivia(newlines: false)
      if current == UInt8(ascii: "(") {
        advance()
        return .call(name, try expressionList(closing: ")"))
      }
      if let defined = defines[name] {
        if let value = ScriptParser.integer(defined, as: Int64.self) { return .integer(value) }
        return .symbol(defined)
      }
      return .symbol(name)
    }
    throw error("expected a value (number, name, ..., [list], {struct}, \"string\"), found \(found)")
  }
}
