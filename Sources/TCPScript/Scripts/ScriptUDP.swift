import PacketKit
import RawSocket

// UDP lines (`< udp (N)`, `> udp (N)`, with optional `SRC>DST` ports) and outbound ICMP lines
// (`> icmp unreachable port_unreachable [udp (N)]`, `> icmp echo_reply id 7`), as packetdrill
// plays them: the parser gives `ScriptUDP` and `ScriptICMP`, the matcher builds and compares them
// field by field, the runner injects and expects them.

/// A `<` (injected) or `>` (expected) UDP datagram line: `< udp (100)`, `> udp 8080>8080 (50)`.
public struct ScriptUDP: Hashable, Sendable {
  public var inbound: Bool
  /// The ports as written (`SRC>DST`, in the datagram's own direction); `nil`: the script's UDP
  /// socket and its peer.
  public var sourcePort: UInt16?
  public var destinationPort: UInt16?
  /// The payload length.
  public var length: Int
  public init(inbound: Bool, sourcePort: UInt16? = nil, destinationPort: UInt16? = nil, length: Int) {
    self.inbound = inbound
    self.sourcePort = sourcePort
    self.destinationPort = destinationPort
    self.length = length
  }
}

extension ScriptICMP {
  /// Echo reply and echo request: they quote no packet.
  public static let echoTypes: Set<UInt8> = [0, 8]
}

/// The script's UDP socket as the kernel sees it: its local port (getsockname) and, once it
/// connected, its peer's port (getpeername). Without a peer, datagrams come from and go to the
/// script's remote port.
public struct ScriptUDPEndpoint: Hashable, Sendable {
  public var localPort: UInt16?
  public var remotePort: UInt16?
  public init(localPort: UInt16? = nil, remotePort: UInt16? = nil) {
    self.localPort = localPort
    self.remotePort = remotePort
  }
}

extension ScriptMatcher {
  /// The datagram a `< udp` line injects, as IPv4 bytes: from the script's remote end to the
  /// kernel, `length` zero bytes, ports as written or the UDP socket's.
  public static func inboundDatagram(
    _ line: ScriptUDP, connection: ScriptConnection, udp: ScriptUDPEndpoint
  ) throws(ScriptRunError) -> [UInt8] {
    guard let destination = line.destinationPort ?? udp.localPort else {
      throw ScriptRunError("no UDP socket to send to yet (bind or connect one first, or write the ports: udp SRC>DST (N))")
    }
    let header = UDPHeader(sourcePort: line.sourcePort ?? udp.remotePort ?? connection.remotePort, destinationPort: destination)
    let ip = IPv4Header(sourceAddress: connection.remoteAddress, destinationAddress: connection.localAddress)
    do {
      return try (ip / header / [UInt8](repeating: 0, count: line.length)).encoded()
    } catch {
      throw ScriptRunError("cannot build the inbound datagram: \(error)")
    }
  }

  /// An inbound ICMP message that quotes a UDP datagram (`[udp (N)]`: the IPv4 header and UDP
  /// header of one the UDP socket sent, with its ports) or nothing (echo request and reply).
  static func icmpPacketQuotingUDP(
    _ line: ScriptICMP, connection: ScriptConnection, udp: ScriptUDPEndpoint
  ) throws(ScriptRunError) -> [UInt8] {
    var quoted: [UInt8] = []
    if line.quote == .udp {
      guard let localPort = udp.localPort else {
        throw ScriptRunError("no UDP socket for the ICMP message to quote yet (bind or connect one first)")
      }
      let quotedIP = IPv4Header(
        sourceAddress: connection.localAddress, destinationAddress: connection.remoteAddress,
        totalLength: UInt16(truncatingIfNeeded: 28 + line.quotedLength), timeToLive: 64, protocol: .udp)
      do { quoted = try quotedIP.encoded() } catch { throw ScriptRunError("cannot build the quoted header: \(error)") }
      let remotePort = udp.remotePort ?? connection.remotePort
      let length = UInt16(truncatingIfNeeded: 8 + line.quotedLength)
      quoted += [UInt8(localPort >> 8), UInt8(localPort & 0xFF), UInt8(remotePort >> 8), UInt8(remotePort & 0xFF)]
      quoted += [UInt8(length >> 8), UInt8(length & 0xFF), 0, 0]
    }
    return try icmpv4Message(line, connection: connection, quoting: quoted)
  }

  /// What a `> udp` line expects, in live space, for reports (a tcpdump line).
  public static func expectedDatagram(_ line: ScriptUDP, connection: ScriptConnection, udp: ScriptUDPEndpoint) -> [UInt8]? {
    let header = UDPHeader(
      sourcePort: line.sourcePort ?? udp.localPort ?? 0,
      destinationPort: line.destinationPort ?? udp.remotePort ?? connection.remotePort)
    let ip = IPv4Header(sourceAddress: connection.localAddress, destinationAddress: connection.remoteAddress)
    return try? (ip / header / [UInt8](repeating: 0, count: line.length)).encoded()
  }

  /// Every field where `packet` differs from a `> udp` line: protocol, addresses, ports (as
  /// written, else the UDP socket's where known), payload length. Empty: a match.
  public static func mismatches(
    _ packet: [UInt8], udpLine line: ScriptUDP, connection: ScriptConnection, udp: ScriptUDPEndpoint
  ) -> [ScriptFieldMismatch] {
    guard let ip = try? IPv4View(validating: packet[...]) else {
      return [ScriptFieldMismatch(field: "packet", expected: "an IPv4 packet", actual: "\(packet.count) bytes that are not IPv4")]
    }
    guard ip.protocol == .udp, let datagram = try? UDPView(validating: ip.payload) else {
      return [ScriptFieldMismatch(field: "protocol", expected: "UDP", actual: "\(ip.protocol)")]
    }
    var out = addressMismatches(ip, connection: connection)
    if let want = line.sourcePort ?? udp.localPort, want != datagram.sourcePort {
      out.append(ScriptFieldMismatch(field: "source port", expected: String(want), actual: String(datagram.sourcePort)))
    }
    let wantDestination = line.destinationPort ?? udp.remotePort ?? connection.remotePort
    if wantDestination != datagram.destinationPort {
      out.append(ScriptFieldMismatch(
        field: "destination port", expected: String(wantDestination), actual: String(datagram.destinationPort)))
    }
    let length = Int(datagram.length) - 8
    if length != line.length {
      out.append(ScriptFieldMismatch(field: "length", expected: String(line.length), actual: String(length)))
    }
    return out
  }

  /// What a `> icmp` line expects, for reports: the type, code and rest of header it writes,
  /// quoting a datagram from the script's remote end when it writes `[udp (N)]`.
  public static func expectedICMP(_ line: ScriptICMP, connection: ScriptConnection, udp: ScriptUDPEndpoint) -> [UInt8]? {
    var quoted: [UInt8] = []
    if line.quote == .udp {
      let datagram = ScriptUDP(inbound: true, length: line.quotedLength)
      quoted = ((try? inboundDatagram(datagram, connection: connection, udp: udp)) ?? []).prefix(28).map { $0 }
    }
    let rest = line.mtu.map { UInt32($0) } ?? (UInt32(line.identifier) << 16)
    let icmp = ICMPv4Header(type: ICMPv4Type(line.type), code: line.code, restOfHeader: rest)
    let ip = IPv4Header(sourceAddress: connection.localAddress, destinationAddress: connection.remoteAddress)
    return try? (ip / icmp / quoted).encoded()
  }

  /// Every field where `packet` differs from a `> icmp` line: protocol, addresses, type, code, the
  /// mtu and id when written, and the quoted packet when written (`[udp (N)]`: a UDP datagram of
  /// N bytes; `[start:end(len)]`: a TCP segment at that sequence number, counted from the remote
  /// end's ISN, as the inbound segment it is about). Empty: a match.
  public static func mismatches(
    _ packet: [UInt8], icmpLine line: ScriptICMP, connection: ScriptConnection
  ) -> [ScriptFieldMismatch] {
    guard let ip = try? IPv4View(validating: packet[...]) else {
      return [ScriptFieldMismatch(field: "packet", expected: "an IPv4 packet", actual: "\(packet.count) bytes that are not IPv4")]
    }
    guard ip.protocol == .icmp, let icmp = try? ICMPv4View(validating: ip.payload) else {
      return [ScriptFieldMismatch(field: "protocol", expected: "ICMP", actual: "\(ip.protocol)")]
    }
    var out = addressMismatches(ip, connection: connection)
    if icmp.type.rawValue != line.type {
      out.append(ScriptFieldMismatch(field: "type", expected: "\(ICMPv4Type(line.type))", actual: "\(icmp.type)"))
    }
    if icmp.code != line.code {
      out.append(ScriptFieldMismatch(field: "code", expected: String(line.code), actual: String(icmp.code)))
    }
    if let mtu = line.mtu, UInt16(truncatingIfNeeded: icmp.restOfHeader) != mtu {
      out.append(ScriptFieldMismatch(
        field: "mtu", expected: String(mtu), actual: String(UInt16(truncatingIfNeeded: icmp.restOfHeader))))
    }
    if line.identifier != 0, icmp.identifier != line.identifier {
      out.append(ScriptFieldMismatch(field: "id", expected: String(line.identifier), actual: String(icmp.identifier)))
    }
    switch line.quote {
    case .none: break
    case .udp, .tcp:
      let want: IPProtocol = line.quote == .udp ? .udp : .tcp
      guard let quotedIP = try? IPv4View(validating: icmp.payload), quotedIP.protocol == want else {
        let what = (try? IPv4View(validating: icmp.payload)).map { "a quoted \($0.protocol) packet" } ?? "no quoted IPv4 packet"
        out.append(ScriptFieldMismatch(field: "quoted packet", expected: "a quoted \(want) packet", actual: what))
        break
      }
      let body = quotedIP.payload
      if line.quote == .udp {
        // The quoted UDP header's length field: 8 + the datagram's payload.
        let length = body.count >= 6 ? Int(UInt16(body[body.startIndex + 4]) << 8 | UInt16(body[body.startIndex + 5])) - 8 : -1
        if length != line.quotedLength {
          out.append(ScriptFieldMismatch(
            field: "quoted udp length", expected: String(line.quotedLength), actual: length < 0 ? "truncated" : String(length)))
        }
      } else if body.count >= 8 {
        let sequence = body[(body.startIndex + 4)..<(body.startIndex + 8)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let relative = sequence &- connection.remoteISN
        if relative != line.quotedStart {
          out.append(ScriptFieldMismatch(field: "quoted seq", expected: String(line.quotedStart), actual: String(relative)))
        }
      }
    }
    return out
  }

  /// From the kernel under test to the script's remote end, or say what differs.
  static func addressMismatches(_ ip: IPv4View, connection: ScriptConnection) -> [ScriptFieldMismatch] {
    var out: [ScriptFieldMismatch] = []
    if ip.sourceAddress != connection.localAddress {
      out.append(ScriptFieldMismatch(field: "source", expected: "\(connection.localAddress)", actual: "\(ip.sourceAddress)"))
    }
    if ip.destinationAddress != connection.remoteAddress {
      out.append(ScriptFieldMismatch(
        field: "destination", expected: "\(connection.remoteAddress)", actual: "\(ip.destinationAddress)"))
    }
    return out
  }
}

extension ScriptSession {
  // MARK: - UDP and ICMP lines

  /// After a call on a UDP socket: its local port and, once connected, its peer's port.
  mutating func noteUDPSocket(_ call: ScriptSyscall) {
    guard let number = call.arguments.first, let fd = try? executor.descriptor(number), ScriptSockets.isDatagram(fd)
    else { return }
    if case .success(let (_, port)) = ScriptSockets.name(fd, peer: false), port != 0 { udp.localPort = port }
    if case .success(let (_, port)) = ScriptSockets.name(fd, peer: true), port != 0 { udp.remotePort = port }
  }

  mutating func injectUDP(_ line: ScriptUDP, event: ScriptEvent) throws(Stop) {
    let packet: [UInt8]
    do throws(ScriptRunError) {
      packet = try ScriptMatcher.inboundDatagram(line, connection: connection, udp: udp)
    } catch {
      throw fail(event, error.message)
    }
    try send(packet, event: event, what: "datagram")
  }

  mutating func send(_ packet: [UInt8], event: ScriptEvent, what: String) throws(Stop) {
    do throws(Errno) {
      try tun?.send(packet)
    } catch {
      throw fail(event, "cannot inject the \(what): \(error)")
    }
    record(.inbound, tcpdumpSummary(ipv4: packet[...]), line: event.location.line, packet: packet)
  }

  /// Waits for the kernel's next packet (until `deadline`) and matches it against a `> udp` or
  /// `> icmp` line with `compare`, then checks its time.
  mutating func expectOther(
    event: ScriptEvent, time: Int64, end: Int64, deadline: Int64, slack: Int64, any: Bool,
    expected: [UInt8]?, compare: ([UInt8]) -> [ScriptFieldMismatch]
  ) throws(Stop) {
    let expectedText = expected.map { tcpdumpSummary(ipv4: $0[...]) }
    while captured.isEmpty {
      let left = deadline - now
      if left <= 0 {
        throw fail(
          event, "expected packet did not arrive (waited until \(seconds(deadline)), tolerance \(seconds(slack)))",
          expected: expectedText, actual: "nothing")
      }
      try pump(timeoutMicroseconds: left)
    }
    let (packet, arrival) = captured.removeFirst()
    let actualText = tcpdumpSummary(ipv4: packet[...])
    record(.outbound, actualText, line: event.location.line, packet: packet)
    let mismatches = compare(packet)
    if !mismatches.isEmpty {
      throw fail(
        event, "outbound packet does not match: " + mismatches.map(\.description).joined(separator: "; "),
        expected: expectedText, actual: actualText, timeError: arrival - time)
    }
    if !any, !ScriptTiming.isOnTime(arrival, start: time, end: end, tolerance: slack) {
      throw fail(
        event,
        "timing error: expected the packet at \(seconds(time))\(end != time ? "~\(seconds(end))" : "") s, it came at \(seconds(arrival)) s (tolerance \(seconds(slack)) s)",
        expected: expectedText, actual: actualText, timeError: arrival - time)
    }
  }

  mutating func expectUDP(_ line: ScriptUDP, event: ScriptEvent, time: Int64, end: Int64, deadline: Int64, slack: Int64, any: Bool) throws(Stop) {
    let connection = connection
    var endpoint = udp
    try expectOther(
      event: event, time: time, end: end, deadline: deadline, slack: slack, any: any,
      expected: ScriptMatcher.expectedDatagram(line, connection: connection, udp: endpoint)
    ) { packet in
      ScriptMatcher.mismatches(packet, udpLine: line, connection: connection, udp: endpoint)
    }
    // A socket that sent before anything named its port (sendto on an unbound socket).
    if endpoint.localPort == nil, line.sourcePort == nil, let ip = try? IPv4View(validating: (transcript.last?.packet ?? [])[...]),
      let datagram = try? UDPView(validating: ip.payload)
    {
      endpoint.localPort = datagram.sourcePort
      udp = endpoint
    }
  }

  mutating func expectICMP(_ line: ScriptICMP, event: ScriptEvent, time: Int64, end: Int64, deadline: Int64, slack: Int64, any: Bool) throws(Stop) {
    let connection = connection
    try expectOther(
      event: event, time: time, end: end, deadline: deadline, slack: slack, any: any,
      expected: ScriptMatcher.expectedICMP(line, connection: connection, udp: udp)
    ) { packet in
      ScriptMatcher.mismatches(packet, icmpLine: line, connection: connection)
    }
  }
}
