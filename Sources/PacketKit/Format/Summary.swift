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

// The printer is one struct whose steps live with their protocols: Link/Link+Tcpdump.swift (the
// link-type dispatch), IPv4/IPv4+Tcpdump.swift, TCP/TCP+Tcpdump.swift (options and MPTCP),
// UDP/UDP+Tcpdump.swift, IPv4/ICMPv4+Tcpdump.swift, and Format/Tcpdump+Application.swift.

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

  /// Appends "SOURCE > DESTINATION" (addresses only, no ports).
  mutating func emit(source: UInt32, destination: UInt32) {
    emit(address: source)
    emit(" > ")
    emit(address: destination)
  }

  /// tcpdump's check that a header of `length` bytes at `start` is captured: if not, its note
  /// and a truncation (throws).
  mutating func requireHeader(at start: Int, length: Int) throws(TcpdumpTruncated) {
    guard !has(start, length) else { return }
    emit(" [remaining caplen(")
    emit(decimal: max(0, snapEnd - start))
    emit(") < header length(")
    emit(decimal: length)
    emit(")]")
    throw TcpdumpTruncated()
  }

  // MARK: Reading the frame

  // The cursor's checked reads against the captured end: they "longjmp" (throw) past it, like
  // tcpdump's GET_*.
  /// Runs one protocol's printer (`body`); when it reads past the captured end, the text ends
  /// with tcpdump's mark for that protocol (`" [|ip]"`, `" [|udp]"`, ...).
  @inline(__always)
  mutating func printing(_ truncated: StaticString, _ body: (inout TcpdumpPrinter) throws(TcpdumpTruncated) -> Void) {
    do {
      try body(&self)
    } catch {
      emit(truncated)
    }
  }

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
}

extension Array {
  /// The element at `index`, or nil when out of range.
  subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
