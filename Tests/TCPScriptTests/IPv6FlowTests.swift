import Foundation
import PacketKit
import RawSocket
import TestSupport
import Testing

@testable import TCPScript

/// Endpoints of either family: the IPv4 spellings of before still work, IPv6 prints in brackets.
@Suite struct EndpointFamilyTests {
  @Test func ipv4SpellingsAreKept() {
    let a = Endpoint(address: .loopback, port: 8080)
    let b = Endpoint(address: IPv4Address.loopback, port: 8080)
    let c = Endpoint(IPv4Address(127, 0, 0, 1), 8080)
    #expect(a == b && b == c)
    #expect(a.address == .v4(.loopback) && a.ipv4 == .loopback && a.ipv6 == nil)
    #expect(a.description == "127.0.0.1:8080")
    #expect(a.family == .ipv4)
  }

  @Test func ipv6PrintsInBrackets() {
    let endpoint = Endpoint(address: .v6(.loopback), port: 8080)
    #expect(endpoint.description == "[::1]:8080")
    #expect(endpoint.ipv6 == .loopback && endpoint.ipv4 == nil && endpoint.family == .ipv6)
    #expect(Endpoint(address: .v6(.any), port: 0).isAnyAddress)
    #expect(Endpoint(address: .v4(.any), port: 0).isAnyAddress)
    #expect(!endpoint.isAnyAddress)
    #expect(endpoint != Endpoint(address: .v4(.loopback), port: 8080))
  }
}

/// Flows over IPv6 against real kernel sockets on `::1`: the handshake, both closes, a crafted
/// segment and a passive open, with the kernel's states read by inet_diag (AF_INET6).
@Suite(.serialized) struct IPv6FlowTests {
  /// The kernel state of the IPv6 socket `port` on ::1 talking to `remote`, by inet_diag.
  func kernelState(port: UInt16, talkingTo remote: Endpoint) -> KernelTCPState? {
    guard let address = remote.ipv6 else { return nil }
    return (try? InetDiag().state(localIPv6: KernelSockets6.loopback6, localPort: port, remoteIPv6: address.octets, remotePort: remote.port)) ?? nil
  }

  /// A kernel listener on ::1 and a flow to it, handshaken by hand; the listener's `accept()`
  /// returned. The caller closes the flow and the descriptors.
  func established(options: [TCPOption] = []) throws -> (listener: Int32, connection: Int32, port: UInt16, flow: Flow) {
    try Privileges.check(.netRaw, .netAdmin)
    let (listener, port) = try KernelSockets6.listener()
    let flow: Flow
    do {
      flow = try Flow.open(to: Endpoint(address: .v6(.loopback), port: port))
      try flow.activeOpen(options: options)
    } catch {
      close(listener)
      throw error
    }
    guard let connection = KernelSockets.accept(listener, milliseconds: 2000) else {
      flow.close()
      close(listener)
      throw TestSupportError("accept on [::1]:\(port) returned nothing")
    }
    return (listener, connection, port, flow)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func handshakeReachesEstablishedWithThePeersStateFromInetDiag() throws {
    let (listener, connection, port, flow) = try established(options: [
      .maximumSegmentSize(1440), .noOperation, .windowScale(7), .sackPermitted,
      .noOperation, .noOperation, .timestamps(value: 1000, echoReply: 0),
    ])
    defer {
      flow.close()
      close(connection)
      close(listener)
    }
    #expect(flow.family == .ipv6)
    #expect(flow.local.address == .v6(.loopback))
    #expect(flow.state == .established)
    let entries = flow.transcript.entries
    #expect(entries.map(\.stateAfter) == [.synSent, .established, .established])
    // tcpdump's own spelling of IPv6 segments (checked against tcpdump in the command tests).
    #expect(entries[0].summary.hasPrefix("IP6 ::1.\(flow.local.port) > ::1.\(port): Flags [S], seq \(flow.initialSendSequence)"))
    #expect(entries[0].summary.contains("mss 1440"))
    #expect(entries[0].summary.contains("wscale 7"))
    #expect(entries[1].summary.hasPrefix("IP6 ::1.\(port) > ::1.\(flow.local.port): Flags [S.]"))
    #expect(entries[1].acknowledgmentNumber == flow.initialSendSequence &+ 1)
    #expect(entries[1].sourceAddress == .v6(.loopback))
    // The kernel took our pseudo-header checksum (or it would have dropped the SYN: fact 6).
    // Its own SYN+ACK, captured on lo, has its checksum unfinished (CHECKSUM_PARTIAL, as over
    // IPv4); the pcap copy is completed over the IPv6 pseudo-header.
    #expect(entries[1].checksumNotReady)
    if let (tcp, pseudo) = entries[1].tcpSegment {
      #expect(!tcp.isChecksumValid(pseudoHeader: pseudo))
    }
    let wire = entries[1]
    var finished = wire
    finished.packet = wire.wirePacket
    finished.checksumNotReady = false
    #expect(finished.tcpSegment.map { $0.view.isChecksumValid(pseudoHeader: $0.pseudoHeader) } == true)
    #expect(flow.timestampsEnabled)
    #expect(entries[2].peerState == "ESTABLISHED")
    #expect(kernelState(port: port, talkingTo: flow.local) == .established)
    // Packets in the transcript are IPv6 (version 6, next header TCP).
    #expect(entries.allSatisfy { $0.packet.first.map { $0 >> 4 } == 6 && $0.packet.count > 6 && $0.packet[6] == 6 })
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func finClosesBothWays() throws {
    let (listener, connection, port, flow) = try established()
    defer {
      flow.close()
      close(listener)
    }
    try flow.send([.fin, .ack])
    #expect(flow.state == .finWait1)
    try flow.expect(.acknowledging(flow.sendNext))
    #expect(flow.state == .finWait2)
    #expect(kernelState(port: port, talkingTo: flow.local) == .closeWait)
    close(connection)  // the kernel's FIN
    try flow.expect(.fin)
    #expect(flow.state == .timeWait)
    #expect(kernelState(port: port, talkingTo: flow.local) == .lastAck)
    try flow.send(.ack)
    #expect(kernelState(port: port, talkingTo: flow.local) == nil)  // LAST_ACK got its ACK: gone
    let peerStates = flow.transcript.entries.compactMap(\.peerState)
    #expect(peerStates.contains("CLOSE-WAIT"))
    #expect(peerStates.contains("LAST-ACK"))
    flow.finish()
    #expect(flow.state == .closed)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func passiveCloseLeavesTheKernelInTimeWait() throws {
    let (listener, connection, port, flow) = try established()
    defer {
      flow.close()
      close(listener)
    }
    close(connection)
    try flow.passiveClose()
    #expect(flow.transcript.entries.map(\.stateAfter).suffix(3) == [.closeWait, .lastAck, .closed])
    #expect(kernelState(port: port, talkingTo: flow.local) == .timeWait)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func dataBothWaysAndACraftedSegment() throws {
    let (listener, connection, _, flow) = try established()
    defer {
      flow.close()
      close(connection)
      close(listener)
    }
    try flow.sendData(Array("hello6".utf8))
    #expect(KernelSockets.wait(connection, milliseconds: 2000))
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = recv(connection, &buffer, buffer.count, Int32(MSG_DONTWAIT))
    #expect(count == 6 && Array(buffer.prefix(6)) == Array("hello6".utf8))
    _ = Glibc.send(connection, "back", 4, Int32(MSG_NOSIGNAL))
    let reply = try flow.receiveData(timeout: .seconds(2))
    #expect(reply == Array("back".utf8))
    // A whole crafted IPv6 packet with a wrong TCP checksum: sent as built, untracked, and the
    // kernel drops it (RFC 8200 §8.1: the checksum is mandatory), so nothing is delivered.
    let before = flow.sendNext
    let local = try #require(flow.local.ipv6)
    let remote = try #require(flow.remote.ipv6)
    var tcp = TCPHeader(
      sourcePort: flow.local.port, destinationPort: flow.remote.port, sequenceNumber: flow.sendNext,
      acknowledgmentNumber: flow.receiveNext, flags: [.psh, .ack], window: 65535)
    tcp.checksum = 0xDEAD
    let entry = try flow.send(
      packet: IPv6Header(sourceAddress: local, destinationAddress: remote, hopLimit: 9) / tcp / Array("bad".utf8),
      effect: .untracked, note: "bad checksum")
    #expect(entry.summary.hasPrefix("IP6 ::1.\(flow.local.port) > ::1.\(flow.remote.port): Flags [P.]"))
    #expect(entry.packet[7] == 9)  // the hop limit as built (kernel fact 18)
    #expect(flow.sendNext == before)
    #expect(!KernelSockets.wait(connection, milliseconds: 200))
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func passiveOpenAnswersAKernelConnectOnLoopback() throws {
    try Privileges.check(.netRaw, .netAdmin)
    // A free port: a listener opened and closed at once.
    let (probe, port) = try KernelSockets6.listener()
    close(probe)
    let flow = try Flow.listening(on: Endpoint(address: .v6(.loopback), port: port))
    defer { flow.close() }
    #expect(flow.state == .listen)
    let (client, clientPort) = try KernelSockets6.connecting(port: port)
    defer { close(client) }
    try flow.passiveOpen(timeout: .seconds(2))
    #expect(flow.state == .established)
    #expect(flow.remote == Endpoint(address: .v6(.loopback), port: clientPort))
    #expect(KernelSockets.wait(client, for: Int16(POLLOUT), milliseconds: 2000))
    #expect(kernelState(port: clientPort, talkingTo: flow.local) == .established)
    _ = Glibc.send(client, "GET /", 5, Int32(MSG_NOSIGNAL))
    shutdown(client, Int32(SHUT_WR))
    try flow.passiveClose(timeout: .seconds(2))
    #expect(flow.receivedData == Array("GET /".utf8))
    #expect(flow.state == .closed)
  }

  /// Two namespaces' worth of IPv6: the host and a namespace of ours joined by a veth, with ULA
  /// addresses (fd00:PID::1 and ::2, `nodad`: kernel fact 15). The flow leaves from the host's
  /// veth to a kernel listener inside the namespace; its states come from our side only (the
  /// peer's socket is in another namespace: inet_diag here cannot see it).
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func handshakeOverAVethToAListenerInAnotherNamespace() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let prefix = "fd00:\(String(UInt16(truncatingIfNeeded: getpid()), radix: 16)):6::"
    let hostAddress = try #require(IPv6Address(prefix + "1"))
    let namespaceAddress = try #require(IPv6Address(prefix + "2"))
    let fixture = try VethNamespaceFixture(prefix: "tc6v", hostPrefix: "t6vh", namespacePrefix: "t6vn") { veth in
      [
        ["ip", "-n", veth.name, "link", "set", "lo", "up"],
        ["ip", "addr", "add", "\(hostAddress)/64", "dev", veth.hostInterface, "nodad"],
        ["ip", "link", "set", veth.hostInterface, "up"],
        ["ip", "-n", veth.name, "addr", "add", "\(namespaceAddress)/64", "dev", veth.namespaceInterface, "nodad"],
        ["ip", "-n", veth.name, "link", "set", veth.namespaceInterface, "up"],
      ]
    }
    defer {
      fixture.destroy()
      #expect(fixture.isGone)
    }
    let (listener, port) = try NetworkNamespace.run(named: fixture.name) {
      try KernelSockets6.listener(address: namespaceAddress.octets)
    }
    defer { close(listener) }
    // A positive control (and it fills the neighbour cache): the host kernel's own connect works.
    var control: (fd: Int32, port: UInt16)?
    for _ in 0..<30 where control == nil {
      let attempt = try KernelSockets6.connecting(from: hostAddress.octets, to: namespaceAddress.octets, port: port)
      if KernelSockets.wait(attempt.fd, for: Int16(POLLOUT), milliseconds: 1000) {
        var error: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(attempt.fd, SOL_SOCKET, SO_ERROR, &error, &length)
        if error == 0 { control = attempt; break }
      }
      close(attempt.fd)
      usleep(100_000)
    }
    let kernelClient = try #require(control, "the host kernel could not connect to [\(namespaceAddress)]:\(port) over the veth")
    if let accepted = KernelSockets.accept(listener, milliseconds: 2000) { close(accepted) }
    close(kernelClient.fd)

    let flow = try Flow.open(to: Endpoint(address: .v6(namespaceAddress), port: port))
    defer { flow.close() }
    #expect(flow.local.address == .v6(hostAddress))  // the route's source over the veth
    try flow.activeOpen(options: [.maximumSegmentSize(1440), .sackPermitted], timeout: .seconds(3))
    #expect(flow.state == .established)
    #expect(flow.transcript.entries[1].summary.hasPrefix("IP6 \(namespaceAddress).\(port) > \(hostAddress).\(flow.local.port): Flags [S.]"))
    let connection = try #require(KernelSockets.accept(listener, milliseconds: 2000))
    defer { close(connection) }
    _ = Glibc.send(connection, "from the namespace", 18, Int32(MSG_NOSIGNAL))
    #expect(try flow.receiveData(timeout: .seconds(2)) == Array("from the namespace".utf8))
    shutdown(connection, Int32(SHUT_WR))
    try flow.passiveClose(timeout: .seconds(2))
    #expect(flow.state == .closed)
    #expect(flow.transcript.entries.map(\.stateAfter).suffix(3) == [.closeWait, .lastAck, .closed])
    // The peer lives in another namespace: no state read, and none made up.
    #expect(flow.transcript.entries.allSatisfy { $0.peerState == nil })
  }

  @Test func aMixedFamilyFlowIsRefused() throws {
    final class NoTransport: FlowTransport {
      func send(_ packet: [UInt8], to address: IPAddress) throws(ScriptError) {}
      func receive(timeout: Duration) throws(ScriptError) -> CapturedPacket? { nil }
      func close() {}
    }
    let flow = Flow(
      local: Endpoint(address: .v6(.loopback), port: 1), remote: Endpoint(address: .loopback, port: 2),
      transport: NoTransport())
    flow.readsPeerState = false
    #expect(throws: ScriptError.self) { try flow.send(.syn) }
  }
}

/// A transport in memory: what the flow sends is kept, what it receives is queued by the test.
final class MemoryTransport: FlowTransport {
  var sent: [[UInt8]] = []
  var incoming: [[UInt8]] = []
  func send(_ packet: [UInt8], to address: IPAddress) throws(ScriptError) { sent.append(packet) }
  func receive(timeout: Duration) throws(ScriptError) -> CapturedPacket? {
    guard !incoming.isEmpty else { return nil }
    return CapturedPacket(bytes: incoming.removeFirst(), timestampSeconds: 0, timestampNanoseconds: 0, checksumNotReady: false)
  }
  func close() {}
}

/// How a flow reads IPv6 beyond the fixed header, with no kernel involved: extension headers
/// before TCP (walked, both ways), fragments (never tracked), and ICMPv6 errors quoting our
/// segments (recorded, the TCB untouched).
@Suite struct IPv6FlowParsingTests {
  let ours = IPv6Address(groups: [0xFD00, 0, 0, 0, 0, 0, 0, 1])
  let theirs = IPv6Address(groups: [0xFD00, 0, 0, 0, 0, 0, 0, 2])

  func flow() -> (Flow, MemoryTransport) {
    let transport = MemoryTransport()
    let flow = Flow(
      local: Endpoint(address: .v6(ours), port: 40000), remote: Endpoint(address: .v6(theirs), port: 8080),
      transport: transport, initialSendSequence: 1000)
    flow.readsPeerState = false
    return (flow, transport)
  }

  @Test func aSegmentAfterADestinationOptionsHeaderIsTrackedBothWays() throws {
    let (flow, transport) = flow()
    let syn = IPv6Header(sourceAddress: ours, destinationAddress: theirs) / IPv6OptionsHeader.destinationOptions()
      / TCPHeader(sourcePort: 40000, destinationPort: 8080, sequenceNumber: 1000, flags: .syn, window: 65535)
    let entry = try flow.send(packet: syn)
    #expect(flow.state == .synSent && flow.sendNext == 1001)
    #expect(entry.flagBits == FlagBits.syn && entry.sourceAddress == .v6(ours) && entry.sourcePort == 40000)
    #expect(transport.sent.count == 1 && transport.sent[0][6] == 60)  // next header: Destination Options
    // The peer's SYN+ACK behind a Hop-by-Hop header: walked to TCP, the handshake goes on.
    let synAck = IPv6Header(sourceAddress: theirs, destinationAddress: ours) / IPv6OptionsHeader.hopByHop()
      / TCPHeader(sourcePort: 8080, destinationPort: 40000, sequenceNumber: 5000, acknowledgmentNumber: 1001, flags: [.syn, .ack], window: 65535)
    transport.incoming = [try synAck.encoded()]
    try flow.expect(.synAcknowledging(1001), within: .milliseconds(50))
    #expect(flow.state == .established && flow.receiveNext == 5001)
    #expect(flow.transcript.entries[1].summary.hasPrefix("IP6 fd00::2 > fd00::1: HBH "))
  }

  @Test func fragmentsAreSentUntracked() throws {
    let (flow, transport) = flow()
    let syn = IPv6Header(sourceAddress: ours, destinationAddress: theirs)
      / TCPHeader(sourcePort: 40000, destinationPort: 8080, sequenceNumber: 1000, flags: .syn, window: 65535)
      / [UInt8](repeating: 0x41, count: 64)
    let pieces = try syn.ipv6Fragments(maximumSize: 40 + 8 + 48, identification: 7)
    #expect(pieces.count == 2)
    for piece in pieces {
      // Each fragment sent as its bytes (a first fragment still starts with the TCP header).
      try flow.send(packet: Packet(layers: [.payload(piece)]))
    }
    #expect(transport.sent == pieces)
    #expect(flow.state == .closed && flow.sendNext == 1000)
    // The first fragment's TCP header shows in the transcript; the second has none.
    #expect(flow.transcript.entries.map(\.flagBits) == [FlagBits.syn, 0])
    #expect(flow.transcript.entries.map(\.sourcePort) == [40000, 0])
  }

  @Test func anICMPv6ErrorQuotingOurSegmentIsRecorded() throws {
    let (flow, transport) = flow()
    let syn = try flow.send(.syn)
    let quoted = Array(syn.packet.prefix(48))
    let error = IPv6Header(sourceAddress: theirs, destinationAddress: ours) / ICMPv6Header.destinationUnreachable(code: 4) / quoted
    // An error quoting another port's segment is not ours.
    var otherQuote = quoted
    otherQuote[40] = 0x12
    let foreign = IPv6Header(sourceAddress: theirs, destinationAddress: ours) / ICMPv6Header.destinationUnreachable(code: 4) / otherQuote
    transport.incoming = [try foreign.encoded(), try error.encoded()]
    let got = try flow.collect(for: .milliseconds(50))
    #expect(got.count == 1)
    let entry = try #require(flow.transcript.entries.last)
    #expect(entry.direction == .received && entry.sourceAddress == .v6(theirs) && entry.flagBits == 0)
    #expect(entry.summary.contains("ICMP6, destination unreachable"))
    #expect(flow.state == .synSent)
  }
}
