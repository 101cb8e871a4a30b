// One-line summaries identical to `tcpdump -nn -S -t` (tcpdump 4.99, no -v, no -e) for IPv4 with
// TCP, UDP and ICMP, including tcpdump's own wording for malformed packets ("bad-hlen 16",
// "truncated-ip - 20 bytes missing!", "[bad opt]", " [|tcp]", ...).
//
// Decoded like tcpdump without -v: the first line of HTTP (80, 8080), RTSP (554, 8554), SMTP (25)
// and FTP (21), the SSH identification line (22), and ARP requests/replies for IPv4 on Ethernet.
// Not decoded (the line then differs from tcpdump's; the differential test in
// SummaryTcpdumpTests found no other difference): other application protocols tcpdump
// recognises by port (DNS on 53, telnet, BGP, Redis, SMB, ...: we stop at ", length N"; for
// UDP we print "UDP, length N" where tcpdump would name the protocol),
// IPv6 and other EtherTypes, IP protocols other than TCP/UDP/ICMP (we print
// "ip-proto-N LEN" where tcpdump may decode GRE, IGMP, ...).
//
// The text is written as bytes into one buffer the caller may reuse (`appendSummary(to:)`):
// numbers, addresses and fixed words are written digit by digit, no `String` is built for the
// common lines (only the rare ICMP, ARP and application texts go through `String`).

extension Dissection {
  /// The `tcpdump -nn -S -t` line for this frame, followed by one bracketed note per problem
  /// tcpdump would not show without `-v` (e.g. ` [bad tcp cksum 0x1234 -> 0x8c5e]`,
  /// ` [ip length 60 > 40 bytes present]`). `tcpdumpLine` is the line without notes. A partial
  /// (offloaded) checksum accepted through `DissectionOptions.checksumNotReady` adds no note.
  public var summary: String {
    var text: [UInt8] = []
    appendSummary(to: &text)
    return String(decoding: text, as: UTF8.self)
  }

  /// Appends `summary`'s UTF-8 bytes (no newline) to `buffer`: for printing many lines from one
  /// reused buffer (e.g. `tcpcraft decode --pcap`), with no `String` per line.
  public func appendSummary(to buffer: inout [UInt8]) {
    appendTcpdumpLine(to: &buffer)
    guard layers.hasProblems else { return }
    for problem in problems where problem.isDefect {
      buffer.append(contentsOf: " [\(problem)]".utf8)
    }
  }

  /// Appends `tcpdumpLine`'s UTF-8 bytes (no newline) to `buffer`.
  public func appendTcpdumpLine(to buffer: inout [UInt8]) {
    appendTcpdumpSummary(bytes, linkType: linkType, interfaceNames: options.interfaceNames, to: &buffer)
  }

  /// Exactly what `tcpdump -nn -S -t` prints for this frame (for what PacketKit decodes).
  public var tcpdumpLine: String {
    tcpdumpSummary(bytes, linkType: linkType, interfaceNames: options.interfaceNames)
  }
}

/// Exactly what `tcpdump -nn -S -t` prints for a frame (see the file notes for what is not
/// decoded). Never traps.
/// `interfaceNames` serve `LINKTYPE_LINUX_SLL2` lines (see `DissectionOptions.interfaceNames`).
public func tcpdumpSummary(
  _ bytes: ArraySlice<UInt8>, linkType: LinkType, interfaceNames: [UInt32: String] = [:]
) -> String {
  var text: [UInt8] = []
  appendTcpdumpSummary(bytes, linkType: linkType, interfaceNames: interfaceNames, to: &text)
  return String(decoding: text, as: UTF8.self)
}

/// Exactly what `tcpdump -nn -S -t` prints for an IPv4 packet.
public func tcpdumpSummary(ipv4 bytes: ArraySlice<UInt8>) -> String {
  tcpdumpSummary(bytes, linkType: .ipv4)
}

/// Appends the `tcpdump -nn -S -t` line for a frame (no newline) to `buffer`.
func appendTcpdumpSummary(
  _ bytes: ArraySlice<UInt8>, linkType: LinkType, interfaceNames: [UInt32: String], to buffer: inout [UInt8]
) {
  bytes.withUnsafeBytes { raw in
    var printer = TcpdumpPrinter(ByteCursor(raw))
    printer.interfaceNames = interfaceNames
    // The buffer moves into the printer and back (no copy).
    swap(&printer.out, &buffer)
    printer.printFrame(linkType: linkType)
    swap(&printer.out, &buffer)
  }
}

/// Thrown inside the printer where tcpdump would longjmp out (truncation).
struct TcpdumpTruncated: Error {}

struct TcpdumpPrinter {
  /// The frame's memory (valid inside the `withUnsafeBytes` that made the printer).
  let frame: ByteCursor
  /// The text so far, as UTF-8.
  var out: [UInt8] = []
  /// The captured end (tcpdump's snapend) as a zero-based offset; narrowed by IPv4's length.
  var snapEnd: Int
  /// Names for SLL2 interface indexes.
  var interfaceNames: [UInt32: String] = [:]
  /// Whether an MPTCP option was printed: tcpdump then names "mptcp" (not "tcp") when the
  /// capture ends later in the segment (" [|mptcp]").
  var printedMPTCP = false

  init(_ frame: ByteCursor) {
    self.frame = frame
    self.snapEnd = frame.count
  }

  // MARK: Writing text as bytes

  /// Appends fixed text.
  @inline(__always) mutating func emit(_ text: StaticString) {
    out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
  }

  /// Appends text built at run time (rare lines only).
  mutating func emit(text: String) { out.append(contentsOf: text.utf8) }

  @inline(__always) mutating func emit(byte: UInt8) { out.append(byte) }

  /// Appends `value` in decimal.
  @inline(__always) mutating func emit(decimal value: UInt32) { emit(decimal64: UInt64(value)) }

  /// Appends `value` in decimal.
  mutating func emit(decimal64 value: UInt64) {
    if value < 10 {
      out.append(0x30 &+ UInt8(truncatingIfNeeded: value))
      return
    }
    // Up to 20 digits, written right to left into a small stack buffer.
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &digits) { buffer in
      var index = 24
      var rest = value
      repeat {
        index &-= 1
        buffer[index] = 0x30 &+ UInt8(truncatingIfNeeded: rest % 10)
        rest /= 10
      } while rest != 0
      out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index..<24]))
    }
  }

  /// Appends `value` (non-negative) in decimal; a negative value is written with its sign.
  mutating func emit(decimal value: Int) {
    if value >= 0 && value <= Int(UInt32.max) {
      emit(decimal: UInt32(truncatingIfNeeded: value))
    } else {
      emit(text: String(value))
    }
  }

  /// Appends `value` as lower-case hex, zero-padded to `width` digits.
  mutating func emit(hex value: UInt64, width: Int) {
    let digits: StaticString = "0123456789abcdef"
    var significant = 1
    while significant < 16 && value >> (4 * UInt64(significant)) != 0 { significant += 1 }
    let count = max(width, significant)
    for position in stride(from: count - 1, through: 0, by: -1) {
      let nibble = position < 16 ? Int((value >> (4 * UInt64(position))) & 0xF) : 0
      out.append(digits.utf8Start[nibble])
    }
  }

  @inline(__always) mutating func emit(hex value: UInt32, width: Int) { emit(hex: UInt64(value), width: width) }

  /// Appends the captured bytes `start..<start+count` as continuous lower-case hex.
  mutating func emit(hexBytes start: Int, count: Int) {
    let bytes = frame.slice(start, start + count)
    for byte in bytes { emit(hex: UInt32(byte), width: 2) }
  }

  /// Appends the IPv4 address held big-endian in `value` as a dotted quad.
  mutating func emit(address value: UInt32) {
    emit(decimal: value >> 24)
    out.append(0x2E)
    emit(decimal: (value >> 16) & 0xFF)
    out.append(0x2E)
    emit(decimal: (value >> 8) & 0xFF)
    out.append(0x2E)
    emit(decimal: value & 0xFF)
  }

  /// Appends "ADDRESS.PORT".
  mutating func emit(address value: UInt32, port: UInt16) {
    emit(address: value)
    out.append(0x2E)
    emit(decimal: UInt32(port))
  }

  // MARK: Reading the frame

  // The cursor's checked reads against the captured end: they "longjmp" (throw) past it, like
  // tcpdump's GET_*.
  func get8(_ offset: Int) throws(TcpdumpTruncated) -> UInt8 {
    guard let value = frame.get8(offset, before: snapEnd) else { throw TcpdumpTruncated() }
    return value
  }
  func get16(_ offset: Int) throws(TcpdumpTruncated) -> UInt16 {
    guard let value = frame.get16(offset, before: snapEnd) else { throw TcpdumpTruncated() }
    return value
  }
  func get32(_ offset: Int) throws(TcpdumpTruncated) -> UInt32 {
    guard let value = frame.get32(offset, before: snapEnd) else { throw TcpdumpTruncated() }
    return value
  }
  func has(_ offset: Int, _ count: Int) -> Bool { frame.has(offset, count, before: snapEnd) }

  func address(_ offset: Int) throws(TcpdumpTruncated) -> String {
    IPv4Address(rawValue: try get32(offset)).description
  }

  mutating func printFrame(linkType: LinkType) {
    let length = frame.count
    switch linkType {
    case .ethernet:
      guard length >= 14 else {
        emit(" [|ether]")
        return
      }
      var etherType = frame.u16(12)
      var start = 14
      // 802.1Q / 802.1ad tags: tcpdump shows them only with -e.
      while Dissector.isVLAN(etherType) {
        guard length >= start + 4 else {
          emit(" [|vlan]")
          return
        }
        etherType = frame.u16(start + 2)
        start += 4
      }
      if etherType == 0x0800 {
        ip(at: start, length: length - start)
      } else if etherType == 0x0806, let line = arp(at: start, length: length - start) {
        emit(text: line)
      } else if etherType == 0x86DD {
        emit(text: "IP6 (not decoded by PacketKit), length \(length - start)")
      } else {
        emit(text: 
          "\(mac(6)) > \(mac(0)), ethertype \(etherTypeName(etherType)) (0x\(Fmt.hex(etherType, width: 4))), length \(length): ")
      }
    case .linuxSLL, .linuxSLL2:
      let header = linkType == .linuxSLL ? 16 : 20
      guard length >= header else {
        emit(linkType == .linuxSLL ? " [|sll]" : " [|sll2]")
        return
      }
      let proto = linkType == .linuxSLL ? frame.u16(14) : frame.u16(0)
      if linkType == .linuxSLL2 {
        // tcpdump 4.99: "%-5s %-3s " with the interface name and the packet type.
        let name = interfaceNames[frame.u32(4)] ?? "?"
        let direction = ["In", "B", "M", "P", "Out"][safe: Int(frame.u8(10))] ?? "?"
        emit(text: Fmt.pad(name, 5) + " " + Fmt.pad(direction, 3) + " ")
      }
      if proto == 0x0800 {
        ip(at: header, length: length - header)
      } else {
        emit(text: "ethertype \(etherTypeName(proto)) (0x\(Fmt.hex(proto, width: 4))), length \(length): ")
      }
    case .null:
      guard length >= 4 else {
        emit(" [|null]")
        return
      }
      let family = NullLinkView.family(frame.u32(0))
      if family == 2 {
        ip(at: 4, length: length - 4)
      } else {
        emit(text: "AF \(family) \(length - 4): ")
      }
    case .raw:
      guard length >= 1 else {
        emit("truncated-ip 0")
        return
      }
      let version = frame.u8(0) >> 4
      if version == 4 {
        ip(at: 0, length: length)
      } else {
        emit(text: version == 6 ? "IP6 (not decoded by PacketKit), length \(length)" : "unknown ip \(version)")
      }
    case .ipv4:
      ip(at: 0, length: length)
    }
  }

  /// tcpdump's ARP line for Ethernet/IPv4 requests and replies (nil for other ARP forms).
  func arp(at start: Int, length: Int) -> String? {
    // tcpdump needs the fixed part and every address captured, else " [|arp]".
    guard length >= 8, length >= 8 + 2 * Int(frame.u8(start + 4)) + 2 * Int(frame.u8(start + 5)) else {
      return " [|arp]"
    }
    guard frame.u16(start) == 1, frame.u16(start + 2) == 0x0800,
      frame.u8(start + 4) == 6, frame.u8(start + 5) == 4
    else { return nil }
    func ip(_ offset: Int) -> String {
      "\(frame.u8(offset)).\(frame.u8(offset + 1)).\(frame.u8(offset + 2)).\(frame.u8(offset + 3))"
    }
    let senderMAC = mac(start + 8)
    let senderIP = ip(start + 14)
    let targetIP = ip(start + 24)
    switch frame.u16(start + 6) {
    case 1:
      let targetHasMAC = (0..<6).contains { frame.u8(start + 18 + $0) != 0 }
      return "ARP, Request who-has \(targetIP)\(targetHasMAC ? " (\(mac(start + 18)))" : "") tell \(senderIP), length \(length)"
    case 2:
      return "ARP, Reply \(senderIP) is-at \(senderMAC), length \(length)"
    default:
      return nil
    }
  }

  func mac(_ offset: Int) -> String {
    (0..<6).map { Fmt.hex(frame.u8(offset + $0), width: 2) }.joined(separator: ":")
  }

  func etherTypeName(_ type: UInt16) -> String {
    switch type {
    case 0x0806: "ARP"
    case 0x86DD: "IPv6"
    case 0x8100: "802.1Q"
    case 0x8035: "Reverse ARP"
    case 0x88CC: "LLDP"
    case 0x8847: "MPLS unicast"
    default: "Unknown"
    }
  }

  // MARK: IPv4 (print-ip.c)

  mutating func ip(at start: Int, length: Int) {
    do {
      try ipBody(at: start, length: length)
    } catch {
      emit(" [|ip]")
    }
  }

  private mutating func ipBody(at start: Int, length: Int) throws(TcpdumpTruncated) {
    let version = try get8(start) >> 4  // nothing at all: just " [|ip]"
    if version != 4 {
      if version == 6 {
        emit("IP6, wrong link-layer encapsulation")
      } else {
        emit("IP")
        emit(decimal: UInt32(version))
      }
      emit(" (invalid)")
      return
    }
    emit("IP ")
    guard has(start, 20) else { throw TcpdumpTruncated() }
    if length < 20 {
      emit("truncated-ip ")
      emit(decimal: length)
      return
    }
    let headerLength = Int(frame.u8(start) & 0x0F) * 4
    if headerLength < 20 {
      emit("bad-hlen ")
      emit(decimal: headerLength)
      return
    }
    let totalLength = Int(frame.u16(start + 2))
    if length < totalLength {
      emit("truncated-ip - ")
      emit(decimal: totalLength - length)
      emit(" bytes missing! ")
    }
    if totalLength < headerLength {
      emit("bad-len ")
      emit(decimal: totalLength)
      return
    }
    // Cut the captured end to the IPv4 total length.
    let savedSnap = snapEnd
    snapEnd = min(snapEnd, start + totalLength)
    defer { snapEnd = savedSnap }
    let payloadLength = totalLength - headerLength
    let flagsAndOffset = frame.u16(start + 6)
    let proto = frame.u8(start + 9)
    let source = try get32(start + 12)
    let destination = try get32(start + 16)
    if flagsAndOffset & 0x1FFF == 0 {
      // tcpdump leaves the addresses to the TCP, UDP, SCTP and DCCP printers; PacketKit has no
      // SCTP or DCCP printer, so their lines get the addresses here.
      if proto != 6 && proto != 17 {
        emit(address: source)
        emit(" > ")
        emit(address: destination)
        emit(": ")
      }
      guard has(start, headerLength) else {
        emit(" [remaining caplen(")
        emit(decimal: max(0, snapEnd - start))
        emit(") < header length(")
        emit(decimal: headerLength)
        emit(")]")
        throw TcpdumpTruncated()
      }
      let fragmented = flagsAndOffset & 0x2000 != 0
      let context = IPContext(start: start, source: source, destination: destination, proto: proto)
      switch proto {
      case 6: tcp(at: start + headerLength, length: payloadLength, context)
      case 17: udp(at: start + headerLength, length: payloadLength, context, fragmented: fragmented)
      case 1: icmp(at: start + headerLength, length: payloadLength)
      default:
        emit(" ip-proto-")
        emit(decimal: UInt32(proto))
        emit(byte: 0x20)
        emit(decimal: payloadLength)
      }
    } else {
      emit(address: source)
      emit(" > ")
      emit(address: destination)
      emit(": ip-proto-")
      emit(decimal: UInt32(proto))
    }
  }

  struct IPContext {
    var start: Int
    /// The addresses as stored (big-endian values).
    var source: UInt32
    var destination: UInt32
    var proto: UInt8
  }

  // MARK: TCP (print-tcp.c)

  mutating func tcp(at start: Int, length: Int, _ ip: IPContext) {
    do {
      try tcpBody(at: start, length: length, ip)
    } catch {
      emit(printedMPTCP ? " [|mptcp]" : " [|tcp]")
    }
  }

  private mutating func tcpBody(at start: Int, length: Int, _ ip: IPContext) throws(TcpdumpTruncated) {
    guard has(start + 2, 2) else {
      emit(address: ip.source)
      emit(" > ")
      emit(address: ip.destination)
      emit(":")
      throw TcpdumpTruncated()
    }
    let sourcePort = frame.u16(start)
    let destinationPort = frame.u16(start + 2)
    emit(address: ip.source, port: sourcePort)
    emit(" > ")
    emit(address: ip.destination, port: destinationPort)
    emit(": ")
    guard has(start, 20) else { throw TcpdumpTruncated() }
    let headerLength = Int(frame.u8(start + 12) >> 4) * 4
    if headerLength < 20 {
      emit(" tcp ")
      emit(decimal: UInt32(truncatingIfNeeded: length &- headerLength))
      emit(" [bad hdr length ")
      emit(decimal: headerLength)
      emit(" - too short, < 20]")
      return
    }
    let seq = frame.u32(start + 4)
    let ack = frame.u32(start + 8)
    let window = frame.u16(start + 14)
    let urgent = frame.u16(start + 18)
    let flags = frame.u8(start + 13)
    emit("Flags [")
    TCPFlags(rawValue: UInt16(flags)).appendTcpdumpLetters(to: &out)
    emit("]")
    if headerLength > length {
      emit(" [bad hdr length ")
      emit(decimal: headerLength)
      emit(" - too long, > ")
      emit(decimal: length)
      emit("]")
      return
    }
    let dataLength = length - headerLength
    if dataLength > 0 || flags & 0x07 != 0 {
      emit(", seq ")
      emit(decimal: seq)
      if dataLength > 0 {
        emit(byte: 0x3A)
        emit(decimal: seq &+ UInt32(truncatingIfNeeded: dataLength))
      }
    }
    if flags & 0x10 != 0 {
      emit(", ack ")
      emit(decimal: ack)
    }
    emit(", win ")
    emit(decimal: UInt32(window))
    if flags & 0x20 != 0 {
      emit(", urg ")
      emit(decimal: UInt32(urgent))
    }
    if headerLength > 20 {
      emit(", options [")
      let complete = try tcpOptions(
        at: start + 20, length: headerLength - 20, segmentStart: start, segmentLength: length, tcpFlags: flags)
      guard complete else { return }
      emit("]")
    }
    emit(", length ")
    emit(decimal: dataLength)
    if dataLength > 0 {
      guard has(start, headerLength) else {
        emit(" [remaining caplen(")
        emit(decimal: max(0, snapEnd - start))
        emit(") < header length(")
        emit(decimal: headerLength)
        emit(")]")
        throw TcpdumpTruncated()
      }
      application(at: start + headerLength, length: dataLength, sourcePort, destinationPort)
    }
  }

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

  /// tcpdump's print_txt_line (first line, non-verbose): ": LINE", "" for binary data, and
  /// " [|proto]" where the capture ends first.
  static func firstLine(_ data: AppData, protocol name: String) -> String {
    var cursor = 0
    while cursor < data.length {
      guard let byte = data.at(cursor) else { return " [|\(name)]" }
      if byte == 0x0A {
        return ": " + data.text(cursor)
      } else if byte == 0x0D {
        guard cursor + 1 < data.length else { return "" }
        guard let next = data.at(cursor + 1) else { return " [|\(name)]" }
        guard next == 0x0A else { return "" }
        return ": " + data.text(cursor)
      } else if !isPrint(byte) && byte != 0x09 {
        return ""
      }
      cursor += 1
    }
    return ": " + data.text(cursor) + " [|\(name)]"
  }

  /// tcpdump's ssh_print: ": SSH: BANNER" for an identification line.
  static func sshVersion(_ data: AppData) -> String {
    for (offset, expected) in Array("SSH-".utf8).enumerated() {
      guard let byte = data.at(offset) else { return " [|ssh]" }
      if byte != expected { return "" }
    }
    var cursor = 4
    while cursor < data.length {
      guard let byte = data.at(cursor) else { return " [|ssh]" }
      if byte == 0x0A {
        return ": SSH: " + data.text(cursor)
      } else if byte == 0x0D {
        guard cursor + 1 < data.length else { return "" }
        guard let next = data.at(cursor + 1) else { return " [|ssh]" }
        guard next == 0x0A else { return "" }
        return ": SSH: " + data.text(cursor)
      } else if !isPrint(byte) {
        return ""
      }
      cursor += 1
    }
    return ""
  }

  /// tcpdump's text for one well-formed TCP option (`bytes`: kind, length and data), as inside
  /// its "options [...]" list: e.g. "mss 1460", "mptcp 12 capable v1 {0x...}", "unknown-99 0x01".
  /// `tcpFlags` matter to MPTCP. `show()` lists options with it, so both say the same.
  static func optionText(_ bytes: [UInt8], tcpFlags: UInt8) -> String {
    bytes.withUnsafeBytes { raw in
      var printer = TcpdumpPrinter(ByteCursor(raw))
      _ = try? printer.tcpOptions(
        at: 0, length: raw.count, segmentStart: 0, segmentLength: raw.count, tcpFlags: tcpFlags)
      return String(decoding: printer.out, as: UTF8.self)
    }
  }

  /// tcpdump's name for a TCP option kind (print-tcp.c's `tcp_option_values`), `nil` for kinds
  /// it calls "unknown-N".
  static func tcpOptionName(_ kind: UInt8) -> StaticString? {
    switch kind {
    case 0: "eol"
    case 1: "nop"
    case 2: "mss"
    case 3: "wscale"
    case 4: "sackOK"
    case 5: "sack"
    case 6: "echo"
    case 7: "echoreply"
    case 8: "TS"
    case 11: "cc"
    case 12: "ccnew"
    case 13: ""
    case 19: "md5"
    case 20: "scps"
    case 28: "uto"
    case 29: "tcp-ao"
    case 30: "mptcp"
    case 34: "tfo"
    case 254: "exp"
    default: nil
    }
  }

  /// Prints the options; returns `false` after "[bad opt]" (the line then ends there).
  private mutating func tcpOptions(
    at start: Int, length: Int, segmentStart: Int, segmentLength: Int, tcpFlags: UInt8
  ) throws(TcpdumpTruncated) -> Bool {
    var remaining = length
    var cursor = start
    var separator = false
    while remaining > 0 {
      if separator { emit(byte: 0x2C) }
      let kind = try get8(cursor)
      cursor += 1
      var optionLength: Int
      if kind == 0 || kind == 1 {
        optionLength = 1
      } else {
        optionLength = Int(try get8(cursor))
        cursor += 1
        if optionLength < 2 || optionLength > remaining { return badOption(separator) }
        remaining -= 1
      }
      remaining -= 1
      var dataLength = 0
      if let name = Self.tcpOptionName(kind) {
        emit(name)
      } else {
        emit("unknown-")
        emit(decimal: UInt32(kind))
      }
      // LENCHECK: enough option bytes left, and captured. Past the captured end tcpdump jumps to
      // its "trunc" label, which closes the list with ">" once an option was printed.
      var cutInsideOption = false
      func lenCheck(_ needed: Int) throws(TcpdumpTruncated) -> Bool {
        guard needed <= remaining else { return false }
        guard has(cursor, needed) else {
          cutInsideOption = true
          throw TcpdumpTruncated()
        }
        return true
      }
      do {
      switch kind {
      case 2:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        emit(byte: 0x20)
        emit(decimal: UInt32(frame.u16(cursor)))
      case 3:
        dataLength = 1
        guard try lenCheck(1) else { return badOption(separator) }
        emit(byte: 0x20)
        emit(decimal: UInt32(frame.u8(cursor)))
      case 5:
        dataLength = optionLength - 2
        if dataLength % 8 != 0 {
          emit(" invalid sack")
        } else {
          emit(byte: 0x20)
          emit(decimal: dataLength / 8)
          emit(byte: 0x20)
          var index = 0
          while index < dataLength {
            guard try lenCheck(index + 4) else { return badOption(separator) }
            let first = frame.u32(cursor + index)
            guard try lenCheck(index + 8) else { return badOption(separator) }
            let second = frame.u32(cursor + index + 4)
            emit(byte: 0x7B)
            emit(decimal: first)
            emit(byte: 0x3A)
            emit(decimal: second)
            emit(byte: 0x7D)
            index += 8
          }
        }
      case 6, 7, 11, 12, 13:
        dataLength = 4
        guard try lenCheck(4) else { return badOption(separator) }
        emit(byte: 0x20)
        emit(decimal: frame.u32(cursor))
      case 8:
        dataLength = 8
        guard try lenCheck(8) else { return badOption(separator) }
        emit(" val ")
        emit(decimal: frame.u32(cursor))
        emit(" ecr ")
        emit(decimal: frame.u32(cursor + 4))
      case 19:
        dataLength = 16
        guard try lenCheck(16) else { return badOption(separator) }
        // tcpdump first needs the whole segment to check a signature.
        emit(has(segmentStart, segmentLength) ? " shared secret not supplied with -M, can't check - " : " snaplen too short, can't check - ")
        emit(hexBytes: cursor, count: 16)
      case 20:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        emit(" cap ")
        emit(hex: UInt32(frame.u8(cursor)), width: 2)
        emit(" id ")
        emit(decimal: UInt32(frame.u8(cursor + 1)))
      case 29:
        dataLength = optionLength - 2
        if dataLength < 2 {
          emit(" (invalid)")
        } else {
          guard try lenCheck(1) else { return badOption(separator) }
          emit(" keyid ")
          emit(decimal: UInt32(frame.u8(cursor)))
          guard try lenCheck(2) else { return badOption(separator) }
          emit(" rnextkeyid ")
          emit(decimal: UInt32(frame.u8(cursor + 1)))
          if dataLength > 2 {
            emit(" mac 0x")
            for index in 2..<dataLength {
              guard try lenCheck(index + 1) else { return badOption(separator) }
              emit(hex: UInt32(frame.u8(cursor + index)), width: 2)
            }
          }
        }
      case 0, 1, 4:
        break
      case 28:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        var value = UInt32(frame.u16(cursor))
        emit(" 0x")
        emit(hex: value, width: 1)
        value = value & 1 != 0 ? (value >> 1) * 60 : value >> 1
        emit(byte: 0x20)
        emit(decimal: value)
      case 30:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        guard mptcp(at: cursor - 2, length: optionLength, tcpFlags: tcpFlags) else {
          return badOption(separator)
        }
      case 34:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        emit(byte: 0x20)
        fastOpen(cursor, dataLength)
      case 254:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        guard dataLength >= 2 else { return badOption(separator) }
        let magic = frame.u16(cursor)
        emit(byte: 0x2D)
        if magic == 0xF989 {
          fastOpen(cursor + 2, dataLength - 2, experimental: true)
        } else {
          emit(hex: UInt32(magic), width: 4)
        }
      default:
        dataLength = optionLength - 2
        if dataLength > 0 { emit(" 0x") }
        for index in 0..<max(0, dataLength) {
          guard try lenCheck(index + 1) else { return badOption(separator) }
          emit(hex: UInt32(frame.u8(cursor + index)), width: 2)
        }
      }
      } catch {
        guard cutInsideOption else { throw error }
        emit(printedMPTCP ? " [|mptcp]" : " [|tcp]")
        if separator { emit(">") }
        return false
      }
      cursor += dataLength
      remaining -= dataLength
      var expected = dataLength + 1
      if kind != 0 && kind != 1 { expected += 1 }
      if expected != optionLength {
        emit("[len ")
        emit(decimal: optionLength)
        emit("]")
      }
      separator = true
      if kind == 0 { break }
    }
    return true
  }

  /// An MPTCP option (RFC 8684) as tcpdump prints it without -v (print-mptcp.c): its length,
  /// the subtype's name and the subtype's fields; `false` when tcpdump calls it "[bad opt]" (a
  /// length the subtype does not have, or one that does not fit the segment's flags). The whole
  /// option (`length` bytes from `start`) is captured.
  private mutating func mptcp(at start: Int, length: Int, tcpFlags: UInt8) -> Bool {
    guard length >= 3 else { return false }
    printedMPTCP = true
    let syn = tcpFlags & 0x02 != 0
    let ack = tcpFlags & 0x10 != 0
    let subtype = frame.u8(start + 2) >> 4
    emit(byte: 0x20)
    emit(decimal: length)
    switch subtype {
    case 0:
      emit(" capable")
      guard ((length == 12 || length == 4) && syn) || ((length == 20 || length == 22) && ack && !syn) else {
        return false
      }
      let version = frame.u8(start + 2) & 0x0F
      guard version <= 1 else {
        emit(" Unknown Version (")
        emit(decimal: UInt32(version))
        emit(")")
        return true
      }
      emit(" v")
      emit(decimal: UInt32(version))
      if frame.u8(start + 3) & 0x80 != 0 { emit(" csum") }
      if length == 12 || length >= 20 {
        emit(" {0x")
        emit(hex: frame.u64(start + 4), width: 1)
        if length >= 20 {
          emit(",0x")
          emit(hex: frame.u64(start + 12), width: 1)
        }
        emit("}")
      }
    case 1:
      emit(" join")
      guard (length == 12 && syn) || (length == 16 && syn && ack) || (length == 24 && ack) else { return false }
      if length != 24 {
        if frame.u8(start + 2) & 0x01 != 0 { emit(" backup") }
        emit(" id ")
        emit(decimal: UInt32(frame.u8(start + 3)))
      }
      switch length {
      case 12:
        emit(" token 0x")
        emit(hex: frame.u32(start + 4), width: 1)
        emit(" nonce 0x")
        emit(hex: frame.u32(start + 8), width: 1)
      case 16:
        emit(" hmac 0x")
        emit(hex: frame.u64(start + 4), width: 1)
        emit(" nonce 0x")
        emit(hex: frame.u32(start + 12), width: 1)
      default:
        emit(" hmac 0x")
        emit(hexBytes: start + 4, count: 20)
      }
    case 2:
      emit(" dss")
      guard length >= 4, !syn else { return false }
      let dssFlags = frame.u8(start + 3)
      if dssFlags & 0x10 != 0 { emit(" fin") }
      var at = start + 4
      var left = length - 4
      // A 4- or 8-byte number (the wide form when `wide`), or `nil` when too few bytes are left.
      func number(wide: Bool) -> UInt64? {
        let size = wide ? 8 : 4
        guard left >= size else { return nil }
        defer {
          at += size
          left -= size
        }
        return wide ? frame.u64(at) : UInt64(frame.u32(at))
      }
      if dssFlags & 0x01 != 0 {
        emit(" ack ")
        guard let value = number(wide: dssFlags & 0x02 != 0) else { return false }
        emit(decimal64: value)
      }
      if dssFlags & 0x04 != 0 {
        emit(" seq ")
        guard let value = number(wide: dssFlags & 0x08 != 0) else { return false }
        emit(decimal64: value)
        guard let subflow = number(wide: false) else { return false }
        emit(" subseq ")
        emit(decimal64: subflow)
        guard left >= 2 else { return false }
        emit(" len ")
        emit(decimal: UInt32(frame.u16(at)))
        at += 2
        left -= 2
        if left >= 2 {
          emit(" csum 0x")
          emit(hex: UInt32(frame.u16(at)), width: 1)
          left -= 2
        }
      }
      guard left == 0 else { return false }
    case 3:
      emit(" add-addr")
      guard [8, 10, 16, 18, 20, 22, 28, 30].contains(length) else { return false }
      switch frame.u8(start + 2) & 0x0F {
      case 0x6: emit(" v0-ip6")
      case 0x4: emit(" v0-ip4")
      case 0x1: emit(" v1-echo")
      case 0x0: emit(" v1")
      default: emit(" [bad version/echo]")
      }
      emit(" id ")
      emit(decimal: UInt32(frame.u8(start + 3)))
      emit(byte: 0x20)
      let ipv4 = length <= 18
      let addressLength = ipv4 ? 4 : 16
      if ipv4 {
        emit(address: frame.u32(start + 4))
      } else {
        emitIPv6(at: start + 4)
      }
      let hasPort = [10, 18, 22, 30].contains(length)
      if hasPort {
        emit(byte: 0x3A)
        emit(decimal: UInt32(frame.u16(start + 4 + addressLength)))
      }
      if [16, 18, 28, 30].contains(length) {
        emit(" hmac 0x")
        emit(hex: frame.u64(start + 4 + addressLength + (hasPort ? 2 : 0)), width: 1)
      }
    case 4:
      emit(" rem-addr")
      guard length >= 4 else { return false }
      emit(" id")
      for index in 3..<length {
        emit(byte: 0x20)
        emit(decimal: UInt32(frame.u8(start + index)))
      }
    case 5:
      emit(" prio")
      guard length == 3 || length == 4 else { return false }
      emit(frame.u8(start + 2) & 0x01 != 0 ? " backup" : " non-backup")
      if length == 4 {
        emit(" id ")
        emit(decimal: UInt32(frame.u8(start + 3)))
      }
    case 6:
      emit(" fail")
      guard length == 12 else { return false }
      emit(" seq ")
      emit(decimal64: frame.u64(start + 4))
    case 7:
      emit(" fast-close")
      guard length == 12 else { return false }
      emit(" key 0x")
      emit(hex: frame.u64(start + 4), width: 1)
    default:
      emit(" unknown")
    }
    return true
  }

  /// The IPv6 address stored at `start`, as inet_ntop writes it: lower-case hex groups, the
  /// longest run of two or more zero groups (the first of equal runs) as "::", and the last 32
  /// bits as a dotted quad for IPv4-compatible (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) forms.
  mutating func emitIPv6(at start: Int) {
    var groups: [UInt16] = []
    for index in 0..<8 { groups.append(frame.u16(start + 2 * index)) }
    var bestStart = -1
    var bestLength = 0
    var runStart = -1
    for index in 0...8 {
      if index < 8 && groups[index] == 0 {
        if runStart < 0 { runStart = index }
      } else if runStart >= 0 {
        if index - runStart > bestLength {
          bestStart = runStart
          bestLength = index - runStart
        }
        runStart = -1
      }
    }
    if bestLength < 2 { bestStart = -1 }
    var index = 0
    while index < 8 {
      if index == bestStart {
        emit(byte: 0x3A)
        if index == 0 { emit(byte: 0x3A) }
        index += bestLength
        continue
      }
      if index == 6 && bestStart == 0 && (bestLength == 6 || (bestLength == 5 && groups[5] == 0xFFFF)) {
        emit(address: frame.u32(start + 12))
        return
      }
      emit(hex: UInt32(groups[index]), width: 1)
      index += 1
      if index < 8 { emit(byte: 0x3A) }
    }
  }

  private mutating func fastOpen(_ start: Int, _ length: Int, experimental: Bool = false) {
    if experimental { emit("tfo") }
    if length == 0 {
      emit(" cookiereq")
    } else if length % 2 != 0 || length < 4 || length > 16 {
      emit(" (invalid)")
    } else {
      emit(" cookie ")
      emit(hexBytes: start, count: length)
    }
  }

  private mutating func badOption(_ separator: Bool) -> Bool {
    emit("[bad opt]")
    if separator { emit("]") }
    return false
  }

  // MARK: UDP (print-udp.c)

  mutating func udp(at start: Int, length: Int, _ ip: IPContext, fragmented: Bool) {
    do {
      try udpBody(at: start, length: length, ip, fragmented: fragmented)
    } catch {
      emit(" [|udp]")
    }
  }

  private mutating func udpBody(at start: Int, length: Int, _ ip: IPContext, fragmented: Bool)
    throws(TcpdumpTruncated)
  {
    guard has(start + 2, 2) else {
      emit(address: ip.source)
      emit(" > ")
      emit(address: ip.destination)
      emit(": ")
      throw TcpdumpTruncated()
    }
    emit(address: ip.source, port: frame.u16(start))
    emit(" > ")
    emit(address: ip.destination, port: frame.u16(start + 2))
    emit(": ")
    if length < 8 {
      emit("truncated-udp ")
      emit(decimal: length)
      return
    }
    guard has(start + 4, 2) else { throw TcpdumpTruncated() }
    let udpLength = Int(frame.u16(start + 4))
    if udpLength < 8 {
      emit("truncated-udplength ")
      emit(decimal: udpLength)
      return
    }
    let dataLength = min(udpLength - 8, length - 8)
    guard start + 8 <= snapEnd else { throw TcpdumpTruncated() }
    if udpLength - 8 > dataLength && !fragmented {
      emit("UDP, bad length ")
      emit(decimal: udpLength - 8)
      emit(" > ")
      emit(decimal: dataLength)
    } else {
      emit("UDP, length ")
      emit(decimal: udpLength - 8)
    }
  }

  // MARK: ICMP (print-icmp.c)

  mutating func icmp(at start: Int, length: Int) {
    do {
      let text = try icmpText(at: start)
      emit(text: "ICMP \(text), length \(length)")
    } catch {
      emit(" [|icmp]")
    }
  }

  private func icmpText(at start: Int) throws(TcpdumpTruncated) -> String {
    let type = try get8(start)
    let code = try get8(start + 1)
    switch type {
    case 0, 8:
      return "echo \(type == 8 ? "request" : "reply"), id \(try get16(start + 4)), seq \(try get16(start + 6))"
    case 3:
      let quoted = start + 8
      switch code {
      case 0: return "net \(try address(quoted + 16)) unreachable"
      case 1: return "host \(try address(quoted + 16)) unreachable"
      case 2: return "\(try address(quoted + 16)) protocol \(try get8(quoted + 9)) unreachable"
      case 3:
        let headerLength = Int(try get8(quoted) & 0x0F) * 4
        let port = try get16(quoted + headerLength + 2)
        let proto = try get8(quoted + 9)
        let destination = try address(quoted + 16)
        switch proto {
        case 6: return "\(destination) tcp port \(port) unreachable"
        case 17: return "\(destination) udp port \(port) unreachable"
        default: return "\(destination) protocol \(proto) port \(port) unreachable"
        }
      case 4:
        let mtu = try get16(start + 6)
        let destination = try address(quoted + 16)
        return mtu != 0
          ? "\(destination) unreachable - need to frag (mtu \(mtu))"
          : "\(destination) unreachable - need to frag"
      default:
        let destination = try address(quoted + 16)
        switch code {
        case 5: return "\(destination) unreachable - source route failed"
        case 6: return "net \(destination) unreachable - unknown"
        case 7: return "host \(destination) unreachable - unknown"
        case 8: return "\(destination) unreachable - source host isolated"
        case 9: return "net \(destination) unreachable - admin prohibited"
        case 10: return "host \(destination) unreachable - admin prohibited"
        case 11: return "net \(destination) unreachable - tos prohibited"
        case 12: return "host \(destination) unreachable - tos prohibited"
        case 13: return "host \(destination) unreachable - admin prohibited filter"
        case 14: return "host \(destination) unreachable - host precedence violation"
        case 15: return "host \(destination) unreachable - precedence cutoff"
        default: return "\(destination) unreachable - #\(code)"
        }
      }
    case 5:
      let destination = try address(start + 8 + 16)
      let gateway = try address(start + 4)
      switch code {
      case 0: return "redirect \(destination) to net \(gateway)"
      case 1: return "redirect \(destination) to host \(gateway)"
      case 2: return "redirect-tos \(destination) to net \(gateway)"
      case 3: return "redirect-tos \(destination) to host \(gateway)"
      default: return "redirect-#\(code) \(destination) to \(gateway)"
      }
    case 11:
      _ = try get32(start + 8 + 16)
      switch code {
      case 0: return "time exceeded in-transit"
      case 1: return "ip reassembly time exceeded"
      default: return "time exceeded-#\(code)"
      }
    case 12:
      return code != 0 ? "parameter problem - code \(code)" : "parameter problem - octet \(try get8(start + 4))"
    case 18:
      return "address mask is 0x\(Fmt.hex(try get32(start + 8), width: 8))"
    case 13:
      return "time stamp query id \(try get16(start + 4)) seq \(try get16(start + 6))"
    case 14:
      let head = "time stamp reply id \(try get16(start + 4)) seq \(try get16(start + 6))"
      return head + ": org \(Self.timeOfDay(try get32(start + 8)))"
        + ", recv \(Self.timeOfDay(try get32(start + 12)))"
        + ", xmit \(Self.timeOfDay(try get32(start + 16)))"
    case 4: return "source quench"
    case 9:
      // tcpdump builds this text in a 164-byte buffer: longer text is cut at 163 characters.
      var text = "router advertisement lifetime "
      _ = try get32(start + 4)
      let lifetime = UInt32(frame.u16(start + 6))
      func two(_ value: UInt32) -> String { value < 10 ? "0\(value)" : "\(value)" }
      if lifetime < 60 {
        text += "\(lifetime)"
      } else if lifetime < 3600 {
        text += "\(lifetime / 60):\(two(lifetime % 60))"
      } else {
        text += "\(lifetime / 3600):\(two(lifetime % 3600 / 60)):\(two(lifetime % 60))"
      }
      let count = Int(frame.u8(start + 4))
      text += " \(count):"
      let size = frame.u8(start + 5)
      if size != 2 {
        text += " [size \(size)]"
      } else {
        for entry in 0..<count {
          let offset = start + 8 + entry * 8
          _ = try get32(offset + 4)
          text += " {\(try address(offset)) \(frame.u32(offset + 4))}"
        }
      }
      return String(text.prefix(163))
    case 10: return "router solicitation"
    case 15: return "information request"
    case 16: return "information reply"
    case 17: return "address mask request"
    default: return "type-#\(type)"
    }
  }

  /// Milliseconds since midnight UT as tcpdump prints them ("00:00:01.000").
  /// Hours are not wrapped at 24, as tcpdump does not wrap them.
  static func timeOfDay(_ milliseconds: UInt32) -> String {
    let ms = milliseconds % 1000
    let seconds = milliseconds / 1000
    func two(_ value: UInt32) -> String { value < 10 ? "0\(value)" : "\(value)" }
    let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
    return "\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60)).\(msText)"
  }
}

extension Array {
  /// The element at `index`, or nil when out of range.
  subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
