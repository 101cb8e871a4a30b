// The first lines tcpdump prints for application data without -v: HTTP, RTSP, SMTP, FTP and the
// SSH banner (print-http.c, print-smtp.c, print-ftp.c, print-ssh.c, util-print.c's txtproto_print).

extension TcpdumpPrinter {
  // MARK: Application lines tcpdump prints without -v (print-http.c, print-smtp.c, ...)

  static let httpCommands = [
    "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT", "PROPFIND", "PROPPATCH",
    "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH",
  ]
  static let rtspCommands = [
    "DESCRIBE", "ANNOUNCE", "GET_PARAMETER", "OPTIONS", "PAUSE", "PLAY", "RECORD", "REDIRECT", "SETUP",
    "SET_PARAMETER", "TEARDOWN",
  ]

  /// The text tcpdump appends after ", length N" for well-known ports, in tcpdump's order of
  /// checks. Ports whose protocols PacketKit does not decode (telnet, BGP, DNS, ...) end the
  /// line where tcpdump would go on.
  mutating func application(at start: Int, length: Int, _ sourcePort: UInt16, _ destinationPort: UInt16) {
    func port(_ value: UInt16) -> Bool { sourcePort == value || destinationPort == value }
    let captured = max(0, min(length, snapEnd - start))
    let data = AppData(bytes: frame.slice(start, start + captured), length: length)
    if port(23) || port(43) || port(179) || port(1723) || port(6379) { return }
    if port(25) {
      emit(text: ": " + Self.textProtocol(data, name: "SMTP", commands: nil))
    } else if port(22) {
      emit(text: Self.sshVersion(data))
    } else if port(139) || port(445) || port(10288) || port(6633) || port(6653) {
      return
    } else if port(21) {
      emit(text: ": " + Self.textProtocol(data, name: "FTP", commands: nil))
    } else if port(80) || port(8080) {
      emit(text: ": " + Self.textProtocol(data, name: "HTTP", commands: Self.httpCommands))
    } else if port(554) || port(8554) {
      emit(text: ": " + Self.textProtocol(data, name: "RTSP", commands: Self.rtspCommands))
    }
  }

  /// Application data: the captured bytes and the length the TCP header claims (tcpdump reads up
  /// to `length` and stops, "truncated", where the capture ends).
  struct AppData {
    var bytes: UnsafeRawBufferPointer
    var length: Int
    /// The byte at `offset`, or nil past the captured end.
    func at(_ offset: Int) -> UInt8? {
      offset >= 0 && offset < bytes.count ? bytes[offset] : nil
    }
    func text(_ count: Int) -> String {
      String(decoding: UnsafeRawBufferPointer(rebasing: bytes.prefix(count)), as: UTF8.self)
    }
  }

  static func isPrint(_ byte: UInt8) -> Bool { (0x20...0x7E).contains(byte) }

  /// tcpdump's fetch_token: the token at `index` and where the next one starts, or nil.
  static func fetchToken(_ data: AppData, _ index: Int) -> (token: [UInt8], next: Int)? {
    var cursor = index
    var token: [UInt8] = []
    while cursor < data.length {
      guard let byte = data.at(cursor) else { return nil }
      if byte >= 0x80 { return nil }
      if byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A { break }
      if !isPrint(byte) { return nil }
      if token.count + 2 > 129 { return nil }
      token.append(byte)
      cursor += 1
    }
    if token.isEmpty { return nil }
    while cursor < data.length, let byte = data.at(cursor) {
      if byte == 0x0D || byte == 0x0A || !isPrint(byte) { break }
      if byte != 0x20 && byte != 0x09 { break }
      cursor += 1
    }
    return (token, cursor)
  }

  /// tcpdump's txtproto_print without -v: the protocol name, then the first line when the data
  /// looks like a request or response.
  static func textProtocol(_ data: AppData, name: String, commands: [String]?) -> String {
    var printThis = commands == nil
    if let commands, let (token, next) = fetchToken(data, 0) {
      let word = String(decoding: token, as: UTF8.self).uppercased()
      if commands.contains(word) { printThis = true }
      // Responses: the second token is a 3-digit code (HTTP/1.1 200 OK).
      if let (second, _) = fetchToken(data, next), second.count == 3,
        second.allSatisfy({ (0x30...0x39).contains($0) })
      {
        printThis = true
      }
    }
    guard printThis else { return name }
    return name + firstLine(data, protocol: name.lowercased())
  }

  /// How the text from some offset of application data ends (tcpdump's print_txt_line scan).
  enum LineScan {
    /// A line ends (CR LF or LF) at this offset.
    case line(end: Int)
    /// A byte that is not text, or a CR not followed by LF.
    case notText
    /// The capture ends first.
    case cut
    /// The data ends first (at this offset), without a line end.
    case unterminated(end: Int)
  }

  /// Scans the data from `start` for a line end; tabs count as text when `allowingTab`.
  static func scanLine(_ data: AppData, from start: Int, allowingTab: Bool) -> LineScan {
    var cursor = start
    while cursor < data.length {
      guard let byte = data.at(cursor) else { return .cut }
      if byte == 0x0A { return .line(end: cursor) }
      if byte == 0x0D {
        guard cursor + 1 < data.length else { return .notText }
        guard let next = data.at(cursor + 1) else { return .cut }
        return next == 0x0A ? .line(end: cursor) : .notText
      }
      if !isPrint(byte) && !(allowingTab && byte == 0x09) { return .notText }
      cursor += 1
    }
    return .unterminated(end: cursor)
  }

  /// tcpdump's print_txt_line (first line, non-verbose): ": LINE", "" for binary data, and
  /// " [|proto]" where the capture ends first.
  static func firstLine(_ data: AppData, protocol name: String) -> String {
    switch scanLine(data, from: 0, allowingTab: true) {
    case .line(let end): ": " + data.text(end)
    case .notText: ""
    case .cut: " [|\(name)]"
    case .unterminated(let end): ": " + data.text(end) + " [|\(name)]"
    }
  }

  /// tcpdump's ssh_print: ": SSH: BANNER" for an identification line.
  static func sshVersion(_ data: AppData) -> String {
    for (offset, expected) in Array("SSH-".utf8).enumerated() {
      guard let byte = data.at(offset) else { return " [|ssh]" }
      if byte != expected { return "" }
    }
    switch scanLine(data, from: 4, allowingTab: false) {
    case .line(let end): return ": SSH: " + data.text(end)
    case .notText, .unterminated: return ""
    case .cut: return " [|ssh]"
    }
  }
}
