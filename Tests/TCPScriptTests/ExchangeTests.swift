import Foundation
import PacketKit
import RawSocket
import TestSupport
import Testing
@testable import TCPScript

/// Every exchange against a real kernel TCP socket on loopback, with its states checked on both
/// sides: ours from the flow, the kernel's from inet_diag.
@Suite(.serialized) struct ExchangeTests {
  /// Our states, in order, as the transcript recorded them after each segment.
  func states(_ flow: Flow) -> [TCPState] { flow.transcript.entries.map(\.stateAfter) }

  /// The common start of most exchanges: a kernel listener, a flow to it, the handshake by hand,
  /// and the listener's `accept()` returning. The caller closes the flow.
  func establishedWithKernelPeer() throws -> (KernelPeer, Flow) {
    try Privileges.check(.netRaw, .netAdmin)
    let server = try KernelPeer.listening()
    let flow = try Flow.open(to: server.endpoint)
    do {
      try flow.activeOpen()
    } catch {
      flow.close()
      throw error
    }
    #expect(server.accept())
    return (server, flow)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func activeOpenCompletesTheKernelsAccept() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let server = try KernelPeer.listening()
    let flow = try Flow.open(to: server.endpoint)
    defer { flow.close() }
    try flow.activeOpen(options: [.maximumSegmentSize(1460)])
    #expect(flow.state == .established)
    #expect(states(flow) == [.synSent, .established, .established])
    // The SYN+ACK acknowledged ISN + 1, and we acknowledged theirs.
    let entries = flow.transcript.entries
    #expect(entries[1].acknowledgmentNumber == flow.initialSendSequence &+ 1)
    #expect(entries[2].acknowledgmentNumber == entries[1].sequenceNumber &+ 1)
    #expect(entries[1].summary.contains("Flags [S.]"))
    #expect(server.accept())
    #expect(server.state(talkingTo: flow.local) == .established)
    #expect(entries[2].peerState == "ESTABLISHED")
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func timestampsOnceNegotiatedGoOnEverySegment() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let server = try KernelPeer.listening()
    let flow = try Flow.open(to: server.endpoint)
    defer { flow.close() }
    try flow.activeOpen(options: [.noOperation, .noOperation, .timestamps(value: 1_525_310_591, echoReply: 0)])
    #expect(flow.timestampsEnabled)
    let synAck = flow.transcript.entries[1].summary
    // Linux echoes our TSval in its SYN+ACK...
    #expect(synAck.contains("ecr 1525310591"))
    // ...and our ACK carries TSopt echoing Linux's TSval (TS.Recent).
    #expect(flow.transcript.entries[2].summary.contains("options [nop,nop,TS val "))
    #expect(flow.transcript.entries[2].summary.contains("ecr \(flow.peerTimestamp)]"))
    #expect(server.accept())
    try flow.abort()
    #expect(!flow.transcript.entries[3].summary.contains("TS val"))  // never on a RST
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func activeOpenToAClosedPortReportsTheRST() throws {
    try Privileges.check(.netRaw, .netAdmin)
    // A port nothing listens on: bind a listener to get a free port, then close it.
    let port = try KernelPeer.listening().port
    let flow = try Flow.open(to: Endpoint(address: .loopback, port: port))
    defer { flow.close() }
    #expect {
      try flow.activeOpen()
    } throws: { error in
      guard case ScriptError.reset(_, let summary, let portClosed) = error else { return false }
      return portClosed && summary.contains("Flags [R.]")
    }
    #expect(flow.state == .closed)
    #expect(flow.transcript.entries.last?.note?.hasPrefix("port closed") == true)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func dataBothWays() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    let before = flow.sendNext
    try flow.sendData(Array("hello, kernel".utf8))
    #expect(flow.sendNext == before &+ 13)
    #expect(flow.sendUnacknowledged == flow.sendNext)
    #expect(try server.receive()?.get() == Array("hello, kernel".utf8))
    server.send("hello, tcpcraft")
    #expect(try flow.receiveData() == Array("hello, tcpcraft".utf8))
    #expect(flow.receivedData == Array("hello, tcpcraft".utf8))
    // Our ACK of their data is the last segment, and acknowledges all of it.
    #expect(flow.transcript.entries.last?.acknowledgmentNumber == flow.receiveNext)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func activeCloseStepByStepThroughFinWait2() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    try flow.send([.fin, .ack])
    #expect(flow.state == .finWait1)
    try flow.expect(.acknowledging(flow.sendNext))
    #expect(flow.state == .finWait2)
    #expect(server.state(talkingTo: flow.local) == .closeWait)
    #expect(try server.receive()?.get() == [])  // EOF
    server.closeConnection()
    try flow.expect(.fin)
    #expect(flow.state == .timeWait)
    try flow.send(.ack)
    #expect(server.state(talkingTo: flow.local) == nil)  // LAST_ACK got its ACK: gone
    #expect(states(flow) == [.synSent, .established, .established, .finWait1, .finWait2, .timeWait, .timeWait])
    flow.finish()
    #expect(flow.state == .closed)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func activeCloseExchange() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    // The server closes as soon as it reads EOF, on its own thread.
    let done = DispatchSemaphore(value: 0)
    let serverThread = Thread {
      _ = server.receive()
      server.closeConnection()
      done.signal()
    }
    serverThread.start()
    try flow.activeClose()
    #expect(done.wait(timeout: .now() + 2) == .success)
    #expect(flow.state == .timeWait)
    #expect(states(flow).contains(.finWait1))
    #expect(flow.transcript.entries.last?.direction == .sent)
    #expect(server.state(talkingTo: flow.local) == nil)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func passiveClose() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    server.closeConnection()  // the kernel closes first: its FIN
    try flow.passiveClose()
    #expect(states(flow).suffix(3) == [.closeWait, .lastAck, .closed])
    #expect(flow.state == .closed)
    // The kernel was the active closer: it waits in TIME_WAIT now.
    #expect(server.state(talkingTo: flow.local) == .timeWait)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func simultaneousCloseGoesThroughClosing() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    server.closeConnection()
    // The kernel's FIN is on its way (FIN_WAIT1); we send ours before reading it.
    #expect(server.waitForState(.finWait1, talkingTo: flow.local))
    try flow.simultaneousClose()
    #expect(states(flow).contains(.closing))
    #expect(flow.state == .timeWait)
    // The kernel went FIN_WAIT1 → CLOSING → TIME_WAIT as well.
    #expect(server.state(talkingTo: flow.local) == .timeWait)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func abortResetsTheKernelsConnection() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    try flow.abort()
    #expect(flow.state == .closed)
    guard case .failure(let error)? = server.receive() else {
      Issue.record("recv did not fail after our RST")
      return
    }
    #expect(error.errno == ECONNRESET)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func simultaneousOpenWithAConnectingKernelSocket() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let client = try KernelPeer.bound()
    let ourPort = try KernelPeer.listening().port  // a free port, nothing listens on it
    let flow = try Flow.open(to: client.endpoint, sourcePort: ourPort)
    defer { flow.close() }
    try client.connect(to: ourPort)  // its SYN is on the way to us; ours crosses it
    try flow.simultaneousOpen()
    #expect(states(flow).prefix(3) == [.synSent, .synReceived, .synReceived])
    #expect(flow.state == .established)
    #expect(client.connected())
    #expect(client.state(talkingTo: flow.local) == .established)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func thePeersResetEndsTheWaitAndTheConnection() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    server.resetConnection()
    #expect {
      try flow.expect(.fin, within: .seconds(2), step: "waiting for FIN")
    } throws: { error in
      guard case ScriptError.reset(_, let summary, let portClosed) = error else { return false }
      return !portClosed && summary.contains("Flags [R.]")
    }
    #expect(flow.state == .closed)
    #expect(flow.transcript.entries.last?.stateChange == "ESTABLISHED → CLOSED")
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func passiveOpenAnswersARealClient() throws {
    try Privileges.check(.netRaw, .netAdmin)
    // A free port: nothing listens in the kernel; we answer by hand.
    let port = try KernelPeer.listening().port
    let flow = try Flow.listening(on: Endpoint(address: .loopback, port: port))
    defer { flow.close() }
    #expect(flow.state == .listen)
    let client = try KernelPeer.connecting(to: port)
    try flow.passiveOpen(timeout: .seconds(2))
    #expect(flow.state == .established)
    #expect(flow.remote == client.endpoint)
    #expect(states(flow) == [.synReceived, .synReceived, .established])
    #expect(client.connected())
    // Data from the client, then its close: the passive close from the server side.
    client.send("GET /")
    client.closeConnection()
    try flow.passiveClose(timeout: .seconds(2))
    #expect(flow.receivedData == Array("GET /".utf8))
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func unmatchedSegmentsAreKeptAndShown() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    server.send("surprise")
    #expect {
      try flow.expect(.fin, within: .milliseconds(500), step: "waiting for FIN")
    } throws: { error in
      guard case ScriptError.timedOut(_, let expected, _, let unmatched) = error else { return false }
      // The kernel may retransmit the unacknowledged data meanwhile: every copy is kept.
      return expected.contains("F.") && !unmatched.isEmpty && unmatched.allSatisfy { $0.contains("length 8") }
    }
    let kept = flow.unmatched.count
    #expect(kept >= 1)
    #expect(flow.transcript.unexpected.count == kept)
    #expect(flow.transcript.entries.last?.note?.hasPrefix("unexpected") == true)
    // A later expectation takes it from the kept segments.
    let data = try flow.expect(.data, within: .milliseconds(500))
    #expect(data.payload == Array("surprise".utf8))
    #expect(flow.unmatched.count == kept - 1)
    #expect(flow.transcript.entries[data.transcriptIndex].expected)
  }

  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func anyFieldCanBeForced() throws {
    try Privileges.check(.netRaw, .netAdmin)
    let server = try KernelPeer.listening()
    let flow = try Flow.open(to: server.endpoint, guardResets: false)
    defer { flow.close() }
    // A SYN with a wrong checksum is dropped by the receiving kernel (kernel fact 6): no reply.
    let sent = try flow.send(.syn, seq: 1000) { _, tcp in tcp.checksum = 0xDEAD }
    #expect(sent.packet[36] == 0xDE && sent.packet[37] == 0xAD)
    #expect(throws: ScriptError.self) { try flow.expect(.synAcknowledging(1001), within: .milliseconds(300)) }
  }
  /// `Flow.send(packet:)` sends a whole crafted packet byte for byte and records it. Untracked
  /// (here with a wrong TCP checksum, which the kernel drops, kernel fact 6) it leaves SND.NXT
  /// and the state alone; tracked, a valid segment of ours moves them as RFC 9293 says: data
  /// advances SND.NXT, a FIN takes us to FIN-WAIT-1.
  @Test(.enabled(if: Privileges.shouldRun(.netRaw, .netAdmin), "needs root"))
  func sendPacketSendsAWholeCraftedPacketTrackedOrNot() throws {
    let (server, flow) = try establishedWithKernelPeer()
    defer { flow.close() }
    func segment(_ flags: TCPFlags, _ data: [UInt8], checksum: UInt16? = nil) -> Packet {
      var tcp = TCPHeader(
        sourcePort: flow.local.port, destinationPort: flow.remote.port, sequenceNumber: flow.sendNext,
        acknowledgmentNumber: flow.receiveNext, flags: flags, window: 65535)
      tcp.checksum = checksum
      let ip = IPv4Header(
        sourceAddress: flow.local.ipv4 ?? .any, destinationAddress: flow.remote.ipv4 ?? .any,
        identification: 0x4242, flags: .dontFragment, timeToLive: 64)
      return ip / tcp / data
    }
    let start = flow.sendNext
    let bad = segment([.psh, .ack], Array("bad!".utf8), checksum: 0xDEAD)
    let count = flow.transcript.entries.count
    let entry = try flow.send(packet: bad, effect: .untracked, note: "crafted")
    #expect(entry.packet == (try bad.encoded()))
    #expect(entry.packet[36] == 0xDE && entry.packet[37] == 0xAD)
    #expect(entry.direction == .sent && entry.sequenceNumber == start && entry.payloadLength == 4 && entry.note == "crafted")
    #expect(flow.transcript.entries.count == count + 1)
    #expect(flow.sendNext == start && flow.state == .established)
    let afterBad = try flow.collect(for: .milliseconds(300))
    #expect(afterBad.isEmpty, "the kernel answered a segment with a bad checksum")

    let good = segment([.psh, .ack], Array("good".utf8))
    try flow.send(packet: good)
    #expect(flow.sendNext == start &+ 4)
    try flow.expect(.acknowledging(start &+ 4, what: "the ACK of the crafted data"), within: .seconds(2))
    #expect(flow.sendUnacknowledged == start &+ 4)
    #expect(try server.receive()?.get() == Array("good".utf8))

    try flow.send(packet: segment([.fin, .ack], []))
    #expect(flow.state == .finWait1)
    #expect(flow.finSequence == start &+ 4)
    try flow.expect(.acknowledging(start &+ 5, what: "the ACK of the crafted FIN"), within: .seconds(2))
    #expect(flow.state == .finWait2)
  }
}
