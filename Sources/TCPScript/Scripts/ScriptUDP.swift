import PacketKit
import RawSocket

// UDP lines (`< udp (N)`, `> udp (N)`, with optional `SRC>DST` ports) and outbound ICMP lines
// (`> icmp unreachable port_unreachable [udp (N)]`, `> icmp echo_reply id 7`), as packetdrill
// plays them: the parser gives `ScriptUDP` and `ScriptICMP`, the matcher builds and compares them
// field by field, the runner injects and expects them. IPv6 and ICMPv6 on the wire in `ipv6` mode,
// IPv4 and ICMP otherwise, on one path (`wireIPLayer`, `icmpLayer`, `ScriptWirePacket`).

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
  /// Echo reply and echo request (ICMP 0 and 8, ICMPv6 129 and 128): they quote no packet.
  public static func isEcho(_ type: UInt8, ipv6: Bool) -> Bool {
    ipv6 ? type == 128 || type == 129 : type == 0 || type == 8
  }

  /// The type's name for reports: ICMP's or ICMPv6's (`destination unreachable`, `echo reply`).
  static func typeName(_ type: UInt8, ipv6: Bool) -> String {
    ipv6 ? ICMPv6Type(type).description : ICMPv4Type(type).description
  }
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
  // Every datagram and ICMP message here is built and read in the run's wire version (IPv6 in
  // `ipv6` mode, IPv4 otherwise) on one path for both: the IP layer from `wireIPLayer`, the ICMP
  // header from `icmpLayer`, captured packets read through `ScriptWirePacket`.

  /// An IP header of the run's wire version from the script's remote end to the kernel
  /// (`inbound`) or back; its protocol (next header) is the layer's above it. TTL 64 for IPv4,
  /// hop limit 255 for IPv6 (as `frame`'s packets).
  static func wireIPLayer(inbound: Bool, connection: ScriptConnection) -> Layer {
    let from = inbound ? connection.remoteWireAddress : connection.localWireAddress
    let to = inbound ? connection.localWireAddress : connection.remoteWireAddress
    if case .v6(let source) = from, case .v6(let destination) = to {
      return .ipv6(IPv6Header(sourceAddress: source, destinationAddress: destination, hopLimit: 255))
    }
    return .ipv4(IPv4Header(sourceAddress: from.ipv4 ?? .any, destinationAddress: to.ipv4 ?? .any))
  }

  /// The start of a packet the kernel sent, as an ICMP error quotes it: its IP header in the
  /// run's wire version (kernel to remote end, `protocol`, lengths counting `upperLength` bytes
  /// above it, the TTL or hop limit of `wireIPLayer`).
  static func quotedIPHeader(_ protocol: IPProtocol, upperLength: Int, connection: ScriptConnection) throws(ScriptRunError) -> [UInt8] {
    do {
      if connection.ipVersion.wireIsIPv6 {
        return try IPv6Header(
          sourceAddress: connection.localIPv6, destinationAddress: connection.remoteIPv6,
          payloadLength: UInt16(truncatingIfNeeded: upperLength), nextHeader: `protocol`, hopLimit: 255
        ).encoded()
      }
      return try IPv4Header(
        sourceAddress: connection.localAddress, destinationAddress: connection.remoteAddress,
        totalLength: UInt16(truncatingIfNeeded: IPv4Layout.minimumHeaderLength + upperLength), timeToLive: 64,
        protocol: `protocol`
      ).encoded()
    } catch {
      throw ScriptRunError("cannot build the quoted header: \(error)")
    }
  }

  /// The ICMP header of `line` in the run's wire version (ICMPv6 in `ipv6` mode): its type and
  /// code, and `mtu` (frag needed's low 16 bits, packet too big's 32) or an echo's `id`.
  static func icmpLayer(_ line: ScriptICMP, connection: ScriptConnection) -> Layer {
    let rest = line.mtu.map { UInt32($0) } ?? (UInt32(line.identifier) << 16)
    if connection.ipVersion.wireIsIPv6 {
      return .icmpv6(ICMPv6Header(type: ICMPv6Type(line.type), code: line.code, restOfHeader: rest))
    }
    return .icmpv4(ICMPv4Header(type: ICMPv4Type(line.type), code: line.code, restOfHeader: rest))
  }

  /// The ICMP (ICMPv6) message an `< icmp` line injects: from the remote end to the kernel,
  /// around `quoted` (the start of a TCP segment or UDP datagram the kernel sent, or nothing).
  static func icmpMessage(_ line: ScriptICMP, connection: ScriptConnection, quoting quoted: [UInt8]) throws(ScriptRunError) -> [UInt8] {
    do {
      return try (Packet(layers: [wireIPLayer(inbound: true, connection: connection), icmpLayer(line, connection: connection)]) / quoted)
        .encoded()
    } catch {
      throw ScriptRunError("cannot build the ICMP message: \(error)")
    }
  }

  /// The datagram a `< udp` line injects: from the script's remote end to the kernel, `length`
  /// zero bytes, ports as written or the UDP socket's (checksum over the pseudo-header of either
  /// IP version).
  public static func inboundDatagram(
    _ line: ScriptUDP, connection: ScriptConnection, udp: ScriptUDPEndpoint
  ) throws(ScriptRunError) -> [UInt8] {
    guard let destination = line.destinationPort ?? udp.localPort else {
      throw ScriptRunError("no UDP socket to send to yet (bind or connect one first, or write the ports: udp SRC>DST (N))")
    }
    let header = UDPHeader(sourcePort: line.sourcePort ?? udp.remotePort ?? connection.remotePort, destinationPort: destination)
    do {
      return try (Packet(layers: [wireIPLayer(inbound: true, connection: connection)]) / header
        / [UInt8](repeating: 0, count: line.length)).encoded()
    } catch {
      throw ScriptRunError("cannot build the inbound datagram: \(error)")
    }
  }

  /// An inbound ICMP message that quotes a UDP datagram (`[udp (N)]`: the IP header and UDP
  /// header of one the UDP socket sent, with its ports) or nothing (echo request and reply).
  static func icmpPacketQuotingUDP(
    _ line: ScriptICMP, connection: ScriptConnection, udp: ScriptUDPEndpoint
  ) throws(ScriptRunError) -> [UInt8] {
    var quoted: [UInt8] = []
    if line.quote == .udp {
      guard let localPort = udp.localPort else {
        throw ScriptRunError("no UDP socket for the ICMP message to quote yet (bind or connect one first)")
      }
      let length = UDPLayout.headerLength + line.quotedLength
      quoted = try quotedIPHeader(.udp, upperLength: length, connection: connection)
      let remotePort = udp.remotePort ?? connection.remotePort
      quoted += [UInt8(localPort >> 8), UInt8(localPort & 0xFF), UInt8(remotePort >> 8), UInt8(remotePort & 0xFF)]
      quoted += [UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF), 0, 0]
    }
    return try icmpMessage(line, connection: connection, quoting: quoted)
  }

  /// What a `> udp` line expects, in live space, for reports (a tcpdump line).
  public static func expectedDatagram(_ line: ScriptUDP, connection: ScriptConnection, udp: ScriptUDPEndpoint) -> [UInt8]? {
    let header = UDPHeader(
      sourcePort: line.sourcePort ?? udp.localPort ?? 0,
      destinationPort: line.destinationPort ?? udp.remotePort ?? connection.remotePort)
    return try? (Packet(layers: [wireIPLayer(inbound: false, connection: connection)]) / header
      / [UInt8](repeating: 0, count: line.length)).encoded()
  }

  /// Every field where `packet` differs from a `> udp` line: protocol, addresses, ports (as
  /// written, else the UDP socket's where known), payload length. Empty: a match.
  public static func mismatches(
    _ packet: [UInt8], udpLine line: ScriptUDP, connection: ScriptConnection, udp: ScriptUDPEndpoint
  ) -> [ScriptFieldMismatch] {
    guard let wire = ScriptWirePacket(packet) else { return [notIP(packet, connection: connection)] }
    guard wire.upperProtocol == .udp, let datagram = try? UDPView(validating: wire.upper) else {
      return [ScriptFieldMismatch(field: "protocol", expected: "UDP", actual: "\(wire.upperProtocol)")]
    }
    var out = addressMismatches(wire, connection: connection)
    if let want = line.sourcePort ?? udp.localPort, want != datagram.sourcePort {
      out.append(ScriptFieldMismatch(field: "source port", expected: String(want), actual: String(datagram.sourcePort)))
    }
    let wantDestination = line.destinationPort ?? udp.remotePort ?? connection.remotePort
    if wantDestination != datagram.destinationPort {
      out.append(ScriptFieldMismatch(
        field: "destination port", expected: String(wantDestination), actual: String(datagram.destinationPort)))
    }
    let length = Int(datagram.length) - UDPLayout.headerLength
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
      let ipHeader = connection.ipVersion.wireIsIPv6 ? IPv6Layout.headerLength : IPv4Layout.minimumHeaderLength
      quoted = Array(((try? inboundDatagram(datagram, connection: connection, udp: udp)) ?? []).prefix(ipHeader + UDPLayout.headerLength))
    }
    return try? (Packet(layers: [wireIPLayer(inbound: false, connection: connection), icmpLayer(line, connection: connection)]) / quoted)
      .encoded()
  }

  /// An ICMP or ICMPv6 message's common header (RFC 792, RFC 4443 §2.1: type, code, checksum,
  /// 4 bytes that depend on the type) and the bytes after it.
  struct ICMPFields {
    var type: UInt8
    var code: UInt8
    var restOfHeader: UInt32
    var body: ArraySlice<UInt8>

    /// The message in `wire` when it is ICMPv6 over IPv6 (`ipv6`) or ICMP over IPv4.
    init?(_ wire: ScriptWirePacket, ipv6: Bool) {
      guard wire.isIPv6 == ipv6 else { return nil }
      if ipv6 {
        guard wire.upperProtocol == .icmpv6, let icmp = try? ICMPv6View(validating: wire.upper) else { return nil }
        (type, code, restOfHeader, body) = (icmp.type.rawValue, icmp.code, icmp.restOfHeader, icmp.body)
      } else {
        guard wire.upperProtocol == .icmp, let icmp = try? ICMPv4View(validating: wire.upper) else { return nil }
        (type, code, restOfHeader, body) = (icmp.type.rawValue, icmp.code, icmp.restOfHeader, icmp.payload)
      }
    }
  }

  /// Every field where `packet` differs from a `> icmp` line: protocol, addresses, type, code, the
  /// mtu and id when written, and the quoted packet when written (`[udp (N)]`: a UDP datagram of
  /// N bytes; `[start:end(len)]`: a TCP segment at that sequence number, counted from the remote
  /// end's ISN, as the inbound segment it is about). ICMPv6 in `ipv6` mode. Empty: a match.
  public static func mismatches(
    _ packet: [UInt8], icmpLine line: ScriptICMP, connection: ScriptConnection
  ) -> [ScriptFieldMismatch] {
    let ipv6 = connection.ipVersion.wireIsIPv6
    guard let wire = ScriptWirePacket(packet) else { return [notIP(packet, connection: connection)] }
    guard let icmp = ICMPFields(wire, ipv6: ipv6) else {
      let name = wire.upperProtocol == .icmpv6 ? "icmpv6" : "\(wire.upperProtocol)"
      let actual = name + (wire.isIPv6 == ipv6 ? "" : wire.isIPv6 ? " over IPv6" : " over IPv4")
      return [ScriptFieldMismatch(field: "protocol", expected: ipv6 ? "ICMPv6" : "ICMP", actual: actual)]
    }
    var out = addressMismatches(wire, connection: connection)
    if icmp.type != line.type {
      out.append(ScriptFieldMismatch(
        field: "type", expected: ScriptICMP.typeName(line.type, ipv6: ipv6), actual: ScriptICMP.typeName(icmp.type, ipv6: ipv6)))
    }
    if icmp.code != line.code {
      out.append(ScriptFieldMismatch(field: "code", expected: String(line.code), actual: String(icmp.code)))
    }
    // Fragmentation needed carries the MTU in the low 16 bits; packet too big in all 32.
    let mtu = ipv6 ? icmp.restOfHeader : icmp.restOfHeader & 0xFFFF
    if let want = line.mtu, mtu != UInt32(want) {
      out.append(ScriptFieldMismatch(field: "mtu", expected: String(want), actual: String(mtu)))
    }
    let identifier = UInt16(truncatingIfNeeded: icmp.restOfHeader >> 16)
    if line.identifier != 0, identifier != line.identifier {
      out.append(ScriptFieldMismatch(field: "id", expected: String(line.identifier), actual: String(identifier)))
    }
    switch line.quote {
    case .none: break
    case .udp, .tcp:
      let want: IPProtocol = line.quote == .udp ? .udp : .tcp
      let quotedPacket = ScriptWirePacket(Array(icmp.body))
      guard let quotedPacket, quotedPacket.upperProtocol == want else {
        let what = quotedPacket.map { "a quoted \($0.upperProtocol) packet" } ?? "no quoted IP packet"
        out.append(ScriptFieldMismatch(field: "quoted packet", expected: "a quoted \(want) packet", actual: what))
        break
      }
      let body = quotedPacket.upper
      if line.quote == .udp {
        // The quoted UDP header's length field: 8 + the datagram's payload.
        let at = body.startIndex + UDPLayout.length
        let length = body.count >= UDPLayout.length + 2 ? (Int(body[at]) << 8 | Int(body[at + 1])) - UDPLayout.headerLength : -1
        if length != line.quotedLength {
          out.append(ScriptFieldMismatch(
            field: "quoted udp length", expected: String(line.quotedLength), actual: length < 0 ? "truncated" : String(length)))
        }
      } else if body.count >= TCPLayout.sequenceNumber + 4 {
        let at = body.startIndex + TCPLayout.sequenceNumber
        let sequence = body[at..<(at + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let relative = sequence &- connection.remoteISN
        if relative != line.quotedStart {
          out.append(ScriptFieldMismatch(field: "quoted seq", expected: String(line.quotedStart), actual: String(relative)))
        }
      }
    }
    return out
  }

  /// The mismatch for bytes that are no IP packet at all.
  static func notIP(_ packet: [UInt8], connection: ScriptConnection) -> ScriptFieldMismatch {
    let version = connection.ipVersion.wireIsIPv6 ? "IPv6" : "IPv4"
    return ScriptFieldMismatch(field: "packet", expected: "an \(version) packet", actual: "\(packet.count) bytes that are not IP")
  }

  /// From the kernel under test to the script's remote end (in the run's wire version), or say
  /// what differs.
  static func addressMismatches(_ wire: ScriptWirePacket, connection: ScriptConnection) -> [ScriptFieldMismatch] {
    var out: [ScriptFieldMismatch] = []
    if wire.source != connection.localWireAddress {
      out.append(ScriptFieldMismatch(field: "source", expected: "\(connection.localWireAddress)", actual: "\(wire.source)"))
    }
    if wire.destination != connection.remoteWireAddress {
      out.append(ScriptFieldMismatch(
        field: "destination", expected: "\(connection.remoteWireAddress)", actual: "\(wire.destination)"))
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
    if case .success(let name) = ScriptSockets.socketName(fd, peer: false), name.port != 0 { udp.localPort = name.port }
    if case .success(let name) = ScriptSockets.socketName(fd, peer: true), name.port != 0 { udp.remotePort = name.port }
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
    record(.inbound, scriptSummary(packet), line: event.location.line, packet: packet)
  }

  /// Waits for the kernel's next packet (until `deadline`) and matches it against a `> udp` or
  /// `> icmp` line with `compare`, then checks its time.
  mutating func expectOther(
    event: ScriptEvent, time: Int64, end: Int64, deadline: Int64, slack: Int64, any: Bool,
    expected: [UInt8]?, compare: ([UInt8]) -> [ScriptFieldMismatch]
  ) throws(Stop) {
    let expectedText = expected.map { scriptSummary($0) }
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
    let actualText = scriptSummary(packet)
    record(.outbound, actualText, line: event.location.line, packet: packet)
    let mismatches = compare(packet)
    if !mismatches.isEmpty {
      throw fail(
        event, "outbound packet does not match: " + mismatches.map(\.description).joined(separator: "; "),
        expected: expectedText, actual: actualText, timeError: arrival - time)
    }
    try checkArrival(arrival, event: event, time: time, end: end, slack: slack, any: any, expected: expectedText, actual: actualText)
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
    if endpoint.localPort == nil, line.sourcePort == nil, let wire = ScriptWirePacket(transcript.last?.packet ?? []),
      wire.upperProtocol == .udp, let datagram = try? UDPView(validating: wire.upper)
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
