import PacketKit

/// The live connection a script talks about: addresses, ports, and the two initial sequence
/// numbers that map the script's relative numbers onto the wire (packetdrill's semantics: `<`
/// sequence numbers count from the remote ISN, which the runner chooses; `>` ones from the
/// kernel's, learned from its first SYN or SYN+ACK).
public struct ScriptConnection: Hashable, Sendable {
  public var localAddress: IPv4Address
  public var remoteAddress: IPv4Address
  /// The kernel socket's port (8080 for a listener; learned from its SYN for `connect`).
  public var localPort: UInt16?
  public var remotePort: UInt16
  /// The kernel's ISN, once seen (live).
  public var kernelISN: UInt32?
  /// The sequence number the script wrote on the kernel's SYN (`> S. 1234:1234(0)`: 1234).
  public var scriptKernelISN: UInt32 = 0
  /// The remote end's ISN: the sequence number of the last inbound SYN, used as written.
  public var remoteISN: UInt32
  /// Live TS val minus script TS val, learned from the first outbound timestamp the script spells.
  public var timestampOffset: UInt32?
  /// The last TS val the kernel sent.
  public var lastKernelTimestamp: UInt32?
  /// Every outbound TS val the script spelled, mapped to the live one that came (packetdrill's
  /// per-socket map): an inbound TS ecr that names one of them echoes exactly that live value.
  public var timestampValues: [UInt32: UInt32] = [:]
  /// How the script runs (see `ScriptIPVersion`): `localAddress` and `remoteAddress` stay the
  /// script's IPv4 names for its two ends; in `ipv6` mode the wire uses the IPv6 ones.
  public var ipVersion: ScriptIPVersion = .ipv4
  public var localIPv6: IPv6Address = IPv6Address(groups: [0xFD3D, 0x0A0B, 0x17D6, 0, 0, 0, 0, 1])
  public var remoteIPv6: IPv6Address = IPv6Address(groups: [0xFD3D, 0xFA7B, 0xD17D, 0, 0, 0, 0, 1])
  /// The flow labels paired by the last `[flowlabel N]` outbound line: script N, live label.
  public var scriptFlowLabel: UInt32?
  public var liveFlowLabel: UInt32?

  public init(
    localAddress: IPv4Address, remoteAddress: IPv4Address, localPort: UInt16? = nil,
    remotePort: UInt16, remoteISN: UInt32
  ) {
    self.localAddress = localAddress
    self.remoteAddress = remoteAddress
    self.localPort = localPort
    self.remotePort = remotePort
    self.remoteISN = remoteISN
  }
}

/// One field where an outbound segment differs from the script line.
public struct ScriptFieldMismatch: Hashable, Sendable, CustomStringConvertible {
  public var field: String
  public var expected: String
  public var actual: String
  public init(field: String, expected: String, actual: String) {
    self.field = field
    self.expected = expected
    self.actual = actual
  }
  public var description: String { "\(field): expected \(expected), got \(actual)" }
}

/// Builds inbound segments and checks outbound ones, field by field.
public enum ScriptMatcher {
  /// The TCP options of a script line, in live space (SACK blocks, TS ecr and cookies mapped).
  static func liveOptions(
    _ options: [ScriptTCPOption], inbound: Bool, connection: ScriptConnection
  ) -> [TCPOption] {
    options.map { option -> TCPOption in
      switch option {
      case .noOperation: return .noOperation
      case .endOfOptionList: return .endOfOptionList
      case .maximumSegmentSize(let value): return .maximumSegmentSize(value)
      case .windowScale(let shift): return .windowScale(shift)
      case .sackPermitted: return .sackPermitted
      case .sack(let blocks):
        // Inbound SACK blocks acknowledge the kernel's data: they count from its ISN.
        let base = inbound ? (connection.kernelISN ?? 0) : connection.remoteISN
        return .sack(blocks.map { SACKBlock(leftEdge: $0.leftEdge &+ base, rightEdge: $0.rightEdge &+ base) })
      case .timestamps(let value, let echoReply):
        guard inbound else {
          return .timestamps(value: value &+ (connection.timestampOffset ?? 0), echoReply: echoReply)
        }
        var echo = echoReply
        if echoReply != 0 {
          if let live = connection.timestampValues[echoReply] {
            echo = live
          } else if let offset = connection.timestampOffset {
            echo = echoReply &+ offset
          } else if let last = connection.lastKernelTimestamp {
            echo = last
          }
        }
        return .timestamps(value: value, echoReply: echo)
      case .fastOpen(let cookie, let experimental):
        return experimental
          ? .unknown(kind: 254, data: [0xF9, 0x89] + cookie) : .unknown(kind: 34, data: cookie)
      case .md5:
        return .unknown(kind: 19, data: [UInt8](repeating: 0, count: 16))
      }
    }
  }

  /// The IPv4 ECN bits for a mark (`ect01` builds as ECT(1)).
  static func ecnBits(_ mark: ScriptECN?) -> UInt8 {
    switch mark {
    case nil, .noECN: 0
    case .ect1, .ect01: 1
    case .ect0: 2
    case .ce: 3
    }
  }

  /// The segment a `<` line injects, as IPv4 bytes.
  /// - Throws: `ScriptRunError` when the line lacks what an inbound segment needs (a window).
  public static func inboundPacket(
    _ line: ScriptPacket, connection: ScriptConnection
  ) throws(ScriptRunError) -> [UInt8] {
    guard let window = line.window else {
      throw ScriptRunError("an inbound packet needs a window (win N)")
    }
    guard let localPort = connection.localPort else {
      throw ScriptRunError("no socket to send to yet (bind/listen or connect first)")
    }
    // packetdrill's mapping: a SYN's own numbers are absolute (its seq is the remote ISN; its ack
    // counts from the ISN the script wrote for the kernel's SYN), the others are relative.
    let syn = line.flags.contains(.syn)
    var acknowledgment: UInt32 = 0
    if let ack = line.acknowledgment {
      let base = (connection.kernelISN ?? connection.scriptKernelISN) &- (syn ? connection.scriptKernelISN : 0)
      acknowledgment = ack &+ base
    }
    let tcp = TCPHeader(
      sourcePort: connection.remotePort, destinationPort: localPort,
      sequenceNumber: syn ? line.sequenceStart : line.sequenceStart &+ connection.remoteISN,
      acknowledgmentNumber: acknowledgment,
      flags: line.flags, window: window,
      options: liveOptions((line.options ?? nil) ?? [], inbound: true, connection: connection),
      urgentPointer: line.urgentPointer ?? 0)
    do {
      return try frame(tcp, payload: [UInt8](repeating: 0, count: line.length), line: line, inbound: true, connection: connection)
    } catch {
      throw ScriptRunError("cannot build the inbound packet: \(error)")
    }
  }

  /// The ICMP error an `< icmp` line injects (ICMPv6 in `ipv6` mode): from the script's remote
  /// end to the kernel, quoting an IP header (kernel to remote, TCP, the quoted segment's length)
  /// and the first 8 bytes of its TCP header: the connection's ports and the quoted sequence
  /// number mapped onto the kernel's live ISN (as packetdrill maps it), since Linux ignores ICMP
  /// errors about sequence numbers it never sent. A `[udp (N)]` quote or none: see
  /// `icmpPacketQuotingUDP`.
  public static func icmpPacket(
    _ line: ScriptICMP, connection: ScriptConnection, udp: ScriptUDPEndpoint = ScriptUDPEndpoint()
  ) throws(ScriptRunError) -> [UInt8] {
    if line.quote != .tcp { return try icmpPacketQuotingUDP(line, connection: connection, udp: udp) }
    guard let localPort = connection.localPort else {
      throw ScriptRunError("no connection for the ICMP message to quote yet")
    }
    var quoted = try quotedIPHeader(.tcp, upperLength: TCPLayout.minimumHeaderLength + line.quotedLength, connection: connection)
    quoted += quotedTCPStart(line, connection: connection, localPort: localPort)
    return try icmpMessage(line, connection: connection, quoting: quoted)
  }

  /// The first 8 bytes of the kernel's TCP header an ICMP error quotes: the ports and the quoted
  /// sequence number on the kernel's live ISN (either family).
  static func quotedTCPStart(_ line: ScriptICMP, connection: ScriptConnection, localPort: UInt16) -> [UInt8] {
    let sequence = line.quotedStart &+ (connection.kernelISN ?? 0)
    return [UInt8(localPort >> 8), UInt8(localPort & 0xFF), UInt8(connection.remotePort >> 8), UInt8(connection.remotePort & 0xFF)]
      + [UInt8(sequence >> 24), UInt8((sequence >> 16) & 0xFF), UInt8((sequence >> 8) & 0xFF), UInt8(sequence & 0xFF)]
  }

  /// What the script expects, as a segment in live space, for reports (tcpdump line).
  public static func expectedPacket(_ line: ScriptPacket, connection: ScriptConnection) -> [UInt8]? {
    let syn = line.flags.contains(.syn)
    let tcp = TCPHeader(
      sourcePort: connection.localPort ?? 0, destinationPort: connection.remotePort,
      sequenceNumber: line.sequenceStart &+ localOffset(syn: syn, connection: connection),
      acknowledgmentNumber: (line.acknowledgment ?? 0) &+ (syn ? 0 : connection.remoteISN),
      flags: line.flags, window: line.window ?? 0,
      options: liveOptions((line.options ?? nil) ?? [], inbound: false, connection: connection),
      urgentPointer: line.urgentPointer ?? 0)
    return try? frame(tcp, payload: [UInt8](repeating: 0, count: line.length), line: line, inbound: false, connection: connection)
  }

  /// Learns from an outbound segment what the connection did not know yet (the kernel's ISN and
  /// port on its SYN, its timestamp), before matching.
  public static func learn(from packet: [UInt8], line: ScriptPacket, connection: inout ScriptConnection) {
    guard let tcp = ScriptWirePacket(packet)?.tcp else { return }
    if tcp.flags.contains(.syn) {
      connection.kernelISN = tcp.sequenceNumber
      connection.scriptKernelISN = line.sequenceStart
      if connection.localPort == nil || !tcp.flags.contains(.ack) { connection.localPort = tcp.sourcePort }
      // The kernel's own SYN (connect): it chose the remote port too.
      if !tcp.flags.contains(.ack) { connection.remotePort = tcp.destinationPort }
    }
    for option in tcp.options {
      guard case .success(.timestamps(let value, _)) = option else { continue }
      connection.lastKernelTimestamp = value
      // A new socket's first segment (its SYN or SYN+ACK) starts its own mapping, as packetdrill
      // keeps one a socket: another socket's clock may have moved on since the script's first.
      if tcp.flags.contains(.syn) { connection.timestampOffset = nil }
      if let scripted = line.options ?? nil {
        for case .timestamps(let scriptValue, _) in scripted {
          if connection.timestampOffset == nil { connection.timestampOffset = value &- scriptValue }
          connection.timestampValues[scriptValue] = value
        }
      }
    }
  }

  /// For pieces that continue each other from the line's start (same ACK and flags but PSH/FIN),
  /// how many payload bytes they cover; `nil` when they are not such a run.
  public static func coveredLength(_ pieces: [[UInt8]], line: ScriptPacket, connection: ScriptConnection) -> Int? {
    guard line.length > 0, let kernelISN = connection.kernelISN else { return nil }
    var next = line.sequenceStart &+ kernelISN
    var total = 0
    var first: TCPView?
    for piece in pieces {
      guard let tcp = ScriptWirePacket(piece)?.tcp, tcp.sequenceNumber == next, !tcp.payload.isEmpty,
        !tcp.flags.contains(.syn), !tcp.flags.contains(.rst)
      else { return nil }
      if let first {
        let steady: TCPFlags = [.ack, .urg, .ece, .cwr]
        guard first.flags.intersection(steady) == tcp.flags.intersection(steady),
          first.acknowledgmentNumber == tcp.acknowledgmentNumber
        else { return nil }
      } else {
        first = tcp
      }
      next = next &+ UInt32(tcp.payload.count)
      total += tcp.payload.count
    }
    return total
  }

  /// The pieces as one segment: the first's headers, the last's PSH and FIN, every payload.
  public static func merge(_ pieces: [[UInt8]]) -> [UInt8]? {
    guard let firstBytes = pieces.first, let lastBytes = pieces.last,
      let tcp = ScriptWirePacket(firstBytes)?.tcp, let lastTCP = ScriptWirePacket(lastBytes)?.tcp
    else { return nil }
    var payload: [UInt8] = []
    for piece in pieces {
      guard let pieceTCP = ScriptWirePacket(piece)?.tcp else { return nil }
      payload += pieceTCP.payload
    }
    var header = TCPHeader(tcp)
    header.flags = tcp.flags.subtracting([.psh, .fin]).union(lastTCP.flags.intersection([.psh, .fin]))
    header.checksum = nil
    header.dataOffset = nil
    if let ip = try? IPv4View(validating: firstBytes[...]), ip.version == 4 {
      var ipHeader = IPv4Header(ip)
      ipHeader.totalLength = nil
      ipHeader.checksum = nil
      ipHeader.ihl = nil
      return try? (ipHeader / header / payload).encoded()
    }
    guard let ip = try? IPv6View(validating: firstBytes[...]) else { return nil }
    var ipHeader = IPv6Header(ip)
    ipHeader.payloadLength = nil
    ipHeader.nextHeader = nil
    return try? (ipHeader / header / payload).encoded()
  }

  /// Every field where `packet` (IPv4 bytes from the kernel) differs from the `>` line. Empty: a
  /// match. TS val is not compared (the kernel's clock is its own); TS ecr is.
  public static func mismatches(
    _ packet: [UInt8], line: ScriptPacket, connection: ScriptConnection
  ) -> [ScriptFieldMismatch] {
    var out: [ScriptFieldMismatch] = []
    let version = connection.ipVersion.wireIsIPv6 ? "IPv6" : "IPv4"
    guard let ip = ScriptWirePacket(packet), ip.isIPv6 == connection.ipVersion.wireIsIPv6 else {
      return [ScriptFieldMismatch(field: "packet", expected: "an \(version) packet", actual: "\(packet.count) bytes that are not \(version)")]
    }
    guard let tcp = ip.tcp else {
      return [ScriptFieldMismatch(field: "protocol", expected: "TCP", actual: "\(ip.upperProtocol)")]
    }
    out += ipFieldMismatches(ip, line: line)
    if let mark = line.ecn {
      let actual = ip.ecn
      let ok = mark == .ect01 ? (actual == 1 || actual == 2) : actual == ecnBits(mark)
      if !ok { out.append(ScriptFieldMismatch(field: "ECN", expected: mark.rawValue, actual: ecnName(actual))) }
    }
    if tcp.flags != line.flags {
      out.append(ScriptFieldMismatch(field: "flags", expected: letters(line.flags), actual: letters(tcp.flags)))
    }
    let syn = line.flags.contains(.syn)
    let relativeSequence = tcp.sequenceNumber &- localOffset(syn: syn, connection: connection)
    let length = tcp.payload.count
    if relativeSequence != line.sequenceStart || length != line.length {
      out.append(ScriptFieldMismatch(
        field: "seq", expected: "\(line.sequenceStart):\(line.sequenceEnd)(\(line.length))",
        actual: "\(relativeSequence):\(relativeSequence &+ UInt32(truncatingIfNeeded: length))(\(length))"))
    }
    if line.flags.contains(.ack) || line.acknowledgment != nil {
      let expected = line.acknowledgment ?? 0
      let actual = tcp.acknowledgmentNumber &- (syn ? 0 : connection.remoteISN)
      if expected != actual {
        out.append(ScriptFieldMismatch(field: "ack", expected: String(expected), actual: String(actual)))
      }
    }
    if let window = line.window, window != tcp.window {
      out.append(ScriptFieldMismatch(field: "win", expected: String(window), actual: String(tcp.window)))
    }
    if let urgent = line.urgentPointer, urgent != tcp.urgentPointer {
      out.append(ScriptFieldMismatch(field: "urg", expected: String(urgent), actual: String(tcp.urgentPointer)))
    }
    if let mismatch = optionMismatch(tcp: tcp, line: line, connection: connection) { out.append(mismatch) }
    return out
  }

  /// Live minus script for the kernel's sequence numbers: on a SYN, relative to the ISN the script
  /// wrote for it; elsewhere, relative to the kernel's ISN.
  static func localOffset(syn: Bool, connection: ScriptConnection) -> UInt32 {
    let live = connection.kernelISN ?? 0
    return syn ? live &- connection.scriptKernelISN : live
  }

  static func ecnName(_ bits: UInt8) -> String {
    switch bits {
    case 1: "ect1"
    case 2: "ect0"
    case 3: "ce"
    default: "noecn"
    }
  }

  static func letters(_ flags: TCPFlags) -> String {
    var text = ""
    if flags.contains(.fin) { text += "F" }
    if flags.contains(.syn) { text += "S" }
    if flags.contains(.rst) { text += "R" }
    if flags.contains(.psh) { text += "P" }
    if flags.contains(.urg) { text += "U" }
    if flags.contains(.ece) { text += "E" }
    if flags.contains(.cwr) { text += "W" }
    if flags.contains(.ns) { text += "A" }
    if flags.contains(.ack) { text += "." }
    return text.isEmpty ? "none" : text
  }

  static func describe(_ options: [TCPOption]) -> String {
    "<" + options.map { option -> String in
      switch option {
      case .noOperation: return "nop"
      case .endOfOptionList: return "eol"
      case .maximumSegmentSize(let value): return "mss \(value)"
      case .windowScale(let shift): return "wscale \(shift)"
      case .sackPermitted: return "sackOK"
      case .sack(let blocks): return "sack " + blocks.map { "\($0.leftEdge):\($0.rightEdge)" }.joined(separator: " ")
      case .timestamps(let value, let echo): return "TS val \(value) ecr \(echo)"
      case .unknown(let kind, let data), .raw(let kind, let data):
        return "kind \(kind) len \(data.count + 2)"
      }
    }.joined(separator: ",") + ">"
  }

  private static func optionMismatch(
    tcp: TCPView, line: ScriptPacket, connection: ScriptConnection
  ) -> ScriptFieldMismatch? {
    guard case .some(let written) = line.options else {
      // No options written: the kernel must send none.
      if tcp.optionBytes.isEmpty { return nil }
      return ScriptFieldMismatch(
        field: "options", expected: "none", actual: describe(TCPOption.decodeAll(tcp.optionBytes)))
    }
    guard let scripted = written else { return nil }  // <...>
    let actual = TCPOption.decodeAll(tcp.optionBytes)
    let expected = liveOptions(scripted, inbound: false, connection: connection)
    let failure = ScriptFieldMismatch(field: "options", expected: describe(expected), actual: describe(actual))
    guard actual.count == expected.count else { return failure }
    for (have, want) in zip(actual, expected) {
      switch (have, want) {
      case (.timestamps(_, let haveEcr), .timestamps(_, let wantEcr)):
        if haveEcr != wantEcr { return failure }
      case (.unknown(let haveKind, let haveData), .unknown(let wantKind, let wantData)):
        guard haveKind == wantKind else { return failure }
        if wantKind == 19 { continue }  // MD5: the digest is not checked
        let cookieWanted = wantKind == 254 ? wantData.count > 2 : !wantData.isEmpty
        if cookieWanted, haveData != wantData { return failure }
      default:
        if have != want { return failure }
      }
    }
    return nil
  }
}

/// Something a script asked that cannot be done (not a mismatch: a script or environment error).
public struct ScriptRunError: Error, Hashable, Sendable, CustomStringConvertible {
  public var message: String
  /// The script uses something the runner does not support: it is NOT RUN, not failed.
  public var unsupported: Bool
  public init(_ message: String, unsupported: Bool = false) {
    self.message = message
    self.unsupported = unsupported
  }
  public var description: String { message }
}
