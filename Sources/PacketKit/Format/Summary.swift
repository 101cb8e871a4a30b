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
// "ip-proto-N LEN" where tcpdump may decode GRE, IGMP, ...), and MPTCP option contents.

extension Dissection {
  /// The `tcpdump -nn -S -t` line for this frame, followed by one bracketed note per problem
  /// tcpdump would not show without `-v` (e.g. ` [bad tcp cksum 0x1234 -> 0x8c5e]`,
  /// ` [ip length 60 > 40 bytes present]`). `tcpdumpLine` is the line without notes. A partial
  /// (offloaded) checksum accepted through `DissectionOptions.checksumNotReady` adds no note.
  public var summary: String {
    var line = tcpdumpLine
    for problem in problems where problem.isDefect {
      line += " [\(problem)]"
    }
    return line
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
  var printer = TcpdumpPrinter(FrameBytes(bytes))
  printer.interfaceNames = interfaceNames
  printer.printFrame(linkType: linkType)
  return printer.out
}

/// Exactly what `tcpdump -nn -S -t` prints for an IPv4 packet.
public func tcpdumpSummary(ipv4 bytes: ArraySlice<UInt8>) -> String {
  tcpdumpSummary(bytes, linkType: .ipv4)
}

/// Thrown inside the printer where tcpdump would longjmp out (truncation).
struct TcpdumpTruncated: Error {}

struct TcpdumpPrinter {
  let frame: FrameBytes
  var out = ""
  /// The captured end (tcpdump's snapend) as a zero-based offset; narrowed by IPv4's length.
  var snapEnd: Int
  /// Names for SLL2 interface indexes.
  var interfaceNames: [UInt32: String] = [:]

  init(_ frame: FrameBytes) {
    self.frame = frame
    self.snapEnd = frame.count
  }

  mutating func emit(_ text: String) { out += text }

  // Bounds-checked reads that "longjmp" (throw) past the captured end, like tcpdump's GET_*.
  func get8(_ offset: Int) throws(TcpdumpTruncated) -> UInt8 {
    guard offset >= 0, offset + 1 <= snapEnd else { throw TcpdumpTruncated() }
    return frame.u8(offset)
  }
  func get16(_ offset: Int) throws(TcpdumpTruncated) -> UInt16 {
    guard offset >= 0, offset + 2 <= snapEnd else { throw TcpdumpTruncated() }
    return frame.u16(offset)
  }
  func get32(_ offset: Int) throws(TcpdumpTruncated) -> UInt32 {
    guard offset >= 0, offset + 4 <= snapEnd else { throw TcpdumpTruncated() }
    return frame.u32(offset)
  }
  func has(_ offset: Int, _ count: Int) -> Bool { offset >= 0 && count >= 0 && offset + count <= snapEnd }

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
        emit(line)
      } else if etherType == 0x86DD {
        emit("IP6 (not decoded by PacketKit), length \(length - start)")
      } else {
        emit(
          "\(mac(6)) > \(mac(0)), ethertype \(etherTypeName(etherType)) (0x\(Fmt.hex(etherType, width: 4))), length \(length): ")
      }
    case .linuxSLL, .linuxSLL2:
      let header = linkType == .linuxSLL ? 16 : 20
      guard length >= header else {
        emit(" [|\(linkType == .linuxSLL ? "sll" : "sll2")]")
        return
      }
      let proto = linkType == .linuxSLL ? frame.u16(14) : frame.u16(0)
      if linkType == .linuxSLL2 {
        // tcpdump 4.99: "%-5s %-3s " with the interface name and the packet type.
        let name = interfaceNames[frame.u32(4)] ?? "?"
        let direction = ["In", "B", "M", "P", "Out"][safe: Int(frame.u8(10))] ?? "?"
        emit(Fmt.pad(name, 5) + " " + Fmt.pad(direction, 3) + " ")
      }
      if proto == 0x0800 {
        ip(at: header, length: length - header)
      } else {
        emit("ethertype \(etherTypeName(proto)) (0x\(Fmt.hex(proto, width: 4))), length \(length): ")
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
        emit("AF \(family) \(length - 4): ")
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
        emit(version == 6 ? "IP6 (not decoded by PacketKit), length \(length)" : "unknown ip \(version)")
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
        emit("IP\(version)")
      }
      emit(" (invalid)")
      return
    }
    emit("IP ")
    guard has(start, 20) else { throw TcpdumpTruncated() }
    if length < 20 {
      emit("truncated-ip \(length)")
      return
    }
    let headerLength = Int(frame.u8(start) & 0x0F) * 4
    if headerLength < 20 {
      emit("bad-hlen \(headerLength)")
      return
    }
    let totalLength = Int(frame.u16(start + 2))
    if length < totalLength {
      emit("truncated-ip - \(totalLength - length) bytes missing! ")
    }
    if totalLength < headerLength {
      emit("bad-len \(totalLength)")
      return
    }
    // Cut the captured end to the IPv4 total length.
    let savedSnap = snapEnd
    snapEnd = min(snapEnd, start + totalLength)
    defer { snapEnd = savedSnap }
    let payloadLength = totalLength - headerLength
    let flagsAndOffset = frame.u16(start + 6)
    let proto = frame.u8(start + 9)
    let source = try address(start + 12)
    let destination = try address(start + 16)
    if flagsAndOffset & 0x1FFF == 0 {
      // tcpdump leaves the addresses to the TCP, UDP, SCTP and DCCP printers; PacketKit has no
      // SCTP or DCCP printer, so their lines get the addresses here.
      if proto != 6 && proto != 17 {
        emit("\(source) > \(destination): ")
      }
      guard has(start, headerLength) else {
        emit(" [remaining caplen(\(max(0, snapEnd - start))) < header length(\(headerLength))]")
        throw TcpdumpTruncated()
      }
      let fragmented = flagsAndOffset & 0x2000 != 0
      let context = IPContext(
        start: start, source: source, destination: destination, proto: proto,
        sourceRaw: frame.u32(start + 12), destinationRaw: frame.u32(start + 16))
      switch proto {
      case 6: tcp(at: start + headerLength, length: payloadLength, context)
      case 17: udp(at: start + headerLength, length: payloadLength, context, fragmented: fragmented)
      case 1: icmp(at: start + headerLength, length: payloadLength)
      default: emit(" ip-proto-\(proto) \(payloadLength)")
      }
    } else {
      emit("\(source) > \(destination): ip-proto-\(proto)")
    }
  }

  struct IPContext {
    var start: Int
    var source: String
    var destination: String
    var proto: UInt8
    var sourceRaw: UInt32
    var destinationRaw: UInt32
  }

  // MARK: TCP (print-tcp.c)

  mutating func tcp(at start: Int, length: Int, _ ip: IPContext) {
    do {
      try tcpBody(at: start, length: length, ip)
    } catch {
      emit(" [|tcp]")
    }
  }

  private mutating func tcpBody(at start: Int, length: Int, _ ip: IPContext) throws(TcpdumpTruncated) {
    guard has(start + 2, 2) else {
      emit("\(ip.source) > \(ip.destination):")
      throw TcpdumpTruncated()
    }
    let sourcePort = frame.u16(start)
    let destinationPort = frame.u16(start + 2)
    emit("\(ip.source).\(sourcePort) > \(ip.destination).\(destinationPort): ")
    guard has(start, 20) else { throw TcpdumpTruncated() }
    let headerLength = Int(frame.u8(start + 12) >> 4) * 4
    if headerLength < 20 {
      emit(" tcp \(UInt32(truncatingIfNeeded: length &- headerLength)) [bad hdr length \(headerLength) - too short, < 20]")
      return
    }
    let seq = frame.u32(start + 4)
    let ack = frame.u32(start + 8)
    let window = frame.u16(start + 14)
    let urgent = frame.u16(start + 18)
    let flags = frame.u8(start + 13)
    emit("Flags [\(TCPFlags(rawValue: UInt16(flags)).tcpdumpLetters)]")
    if headerLength > length {
      emit(" [bad hdr length \(headerLength) - too long, > \(length)]")
      return
    }
    let dataLength = length - headerLength
    if dataLength > 0 || flags & 0x07 != 0 {
      emit(", seq \(seq)")
      if dataLength > 0 { emit(":\(seq &+ UInt32(truncatingIfNeeded: dataLength))") }
    }
    if flags & 0x10 != 0 { emit(", ack \(ack)") }
    emit(", win \(window)")
    if flags & 0x20 != 0 { emit(", urg \(urgent)") }
    if headerLength > 20 {
      emit(", options [")
      let complete = try tcpOptions(
        at: start + 20, length: headerLength - 20, segmentStart: start, segmentLength: length)
      guard complete else { return }
      emit("]")
    }
    emit(", length \(dataLength)")
    if dataLength > 0 {
      guard has(start, headerLength) else {
        emit(" [remaining caplen(\(max(0, snapEnd - start))) < header length(\(headerLength))]")
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
      emit(": " + Self.textProtocol(data, name: "SMTP", commands: nil))
    } else if port(22) {
      emit(Self.sshVersion(data))
    } else if port(139) || port(445) || port(10288) || port(6633) || port(6653) {
      return
    } else if port(21) {
      emit(": " + Self.textProtocol(data, name: "FTP", commands: nil))
    } else if port(80) || port(8080) {
      emit(": " + Self.textProtocol(data, name: "HTTP", commands: Self.httpCommands))
    } else if port(554) || port(8554) {
      emit(": " + Self.textProtocol(data, name: "RTSP", commands: Self.rtspCommands))
    }
  }

  /// Application data: the captured bytes and the length the TCP header claims (tcpdump reads up
  /// to `length` and stops, "truncated", where the capture ends).
  struct AppData {
    var bytes: ArraySlice<UInt8>
    var length: Int
    /// The byte at `offset`, or nil past the captured end.
    func at(_ offset: Int) -> UInt8? {
      offset < bytes.count ? bytes[bytes.startIndex + offset] : nil
    }
    func text(_ count: Int) -> String {
      String(decoding: bytes.prefix(count), as: UTF8.self)
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

  static func tcpOptionName(_ kind: UInt8) -> String {
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
    default: "unknown-\(kind)"
    }
  }

  /// Prints the options; returns `false` after "[bad opt]" (the line then ends there).
  private mutating func tcpOptions(
    at start: Int, length: Int, segmentStart: Int, segmentLength: Int
  ) throws(TcpdumpTruncated) -> Bool {
    var remaining = length
    var cursor = start
    var separator = false
    while remaining > 0 {
      if separator { emit(",") }
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
      emit(Self.tcpOptionName(kind))
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
        emit(" \(frame.u16(cursor))")
      case 3:
        dataLength = 1
        guard try lenCheck(1) else { return badOption(separator) }
        emit(" \(frame.u8(cursor))")
      case 5:
        dataLength = optionLength - 2
        if dataLength % 8 != 0 {
          emit(" invalid sack")
        } else {
          emit(" \(dataLength / 8) ")
          var index = 0
          while index < dataLength {
            guard try lenCheck(index + 4) else { return badOption(separator) }
            let first = frame.u32(cursor + index)
            guard try lenCheck(index + 8) else { return badOption(separator) }
            let second = frame.u32(cursor + index + 4)
            emit("{\(first):\(second)}")
            index += 8
          }
        }
      case 6, 7, 11, 12, 13:
        dataLength = 4
        guard try lenCheck(4) else { return badOption(separator) }
        emit(" \(frame.u32(cursor))")
      case 8:
        dataLength = 8
        guard try lenCheck(8) else { return badOption(separator) }
        emit(" val \(frame.u32(cursor)) ecr \(frame.u32(cursor + 4))")
      case 19:
        dataLength = 16
        guard try lenCheck(16) else { return badOption(separator) }
        // tcpdump first needs the whole segment to check a signature.
        emit(has(segmentStart, segmentLength) ? " shared secret not supplied with -M, can't check - " : " snaplen too short, can't check - ")
        emit(Fmt.hexBytes(frame.slice(cursor, cursor + 16)))
      case 20:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        emit(" cap \(Fmt.hex(frame.u8(cursor), width: 2)) id \(frame.u8(cursor + 1))")
      case 29:
        dataLength = optionLength - 2
        if dataLength < 2 {
          emit(" (invalid)")
        } else {
          guard try lenCheck(1) else { return badOption(separator) }
          emit(" keyid \(frame.u8(cursor))")
          guard try lenCheck(2) else { return badOption(separator) }
          emit(" rnextkeyid \(frame.u8(cursor + 1))")
          if dataLength > 2 {
            emit(" mac 0x")
            for index in 2..<dataLength {
              guard try lenCheck(index + 1) else { return badOption(separator) }
              emit(Fmt.hex(frame.u8(cursor + index), width: 2))
            }
          }
        }
      case 0, 1, 4:
        break
      case 28:
        dataLength = 2
        guard try lenCheck(2) else { return badOption(separator) }
        var value = UInt32(frame.u16(cursor))
        emit(" 0x\(String(value, radix: 16))")
        value = value & 1 != 0 ? (value >> 1) * 60 : value >> 1
        emit(" \(value)")
      case 34:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        emit(" ")
        fastOpen(cursor, dataLength)
      case 254:
        dataLength = optionLength - 2
        guard try lenCheck(dataLength) else { return badOption(separator) }
        guard dataLength >= 2 else { return badOption(separator) }
        let magic = frame.u16(cursor)
        emit("-")
        if magic == 0xF989 {
          fastOpen(cursor + 2, dataLength - 2, experimental: true)
        } else {
          emit(Fmt.hex(magic, width: 4))
        }
      default:
        dataLength = optionLength - 2
        if dataLength > 0 { emit(" 0x") }
        for index in 0..<max(0, dataLength) {
          guard try lenCheck(index + 1) else { return badOption(separator) }
          emit(Fmt.hex(frame.u8(cursor + index), width: 2))
        }
      }
      } catch {
        guard cutInsideOption else { throw error }
        emit(" [|tcp]")
        if separator { emit(">") }
        return false
      }
      cursor += dataLength
      remaining -= dataLength
      var expected = dataLength + 1
      if kind != 0 && kind != 1 { expected += 1 }
      if expected != optionLength { emit("[len \(optionLength)]") }
      separator = true
      if kind == 0 { break }
    }
    return true
  }

  private mutating func fastOpen(_ start: Int, _ length: Int, experimental: Bool = false) {
    if experimental { emit("tfo") }
    if length == 0 {
      emit(" cookiereq")
    } else if length % 2 != 0 || length < 4 || length > 16 {
      emit(" (invalid)")
    } else {
      emit(" cookie ")
      emit(Fmt.hexBytes(frame.slice(start, start + length)))
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
      emit("\(ip.source) > \(ip.destination): ")
      throw TcpdumpTruncated()
    }
    let ports = "\(ip.source).\(frame.u16(start)) > \(ip.destination).\(frame.u16(start + 2)): "
    if length < 8 {
      emit(ports + "truncated-udp \(length)")
      return
    }
    guard has(start + 4, 2) else {
      emit(ports)
      throw TcpdumpTruncated()
    }
    let udpLength = Int(frame.u16(start + 4))
    if udpLength < 8 {
      emit(ports + "truncated-udplength \(udpLength)")
      return
    }
    let dataLength = min(udpLength - 8, length - 8)
    guard start + 8 <= snapEnd else {
      emit(ports)
      throw TcpdumpTruncated()
    }
    emit(ports)
    if udpLength - 8 > dataLength && !fragmented {
      emit("UDP, bad length \(udpLength - 8) > \(dataLength)")
    } else {
      emit("UDP, length \(udpLength - 8)")
    }
  }

  // MARK: ICMP (print-icmp.c)

  mutating func icmp(at start: Int, length: Int) {
    do {
      let text = try icmpText(at: start)
      emit("ICMP \(text), length \(length)")
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
