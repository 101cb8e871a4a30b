import PacketKit

// A script run as a Flow `Transcript`, so that what presents an exchange (the ladder, JSON,
// `--explain`, the SVG picture, pcapng with comments) presents a script's too.
//
// `ScriptResult.transcript` stays the run's full log: it also holds system calls, commands and
// python blocks, which are not segments. `flowTranscript` is its TCP segments, seen from the side
// tcpcraft plays: the script's remote end.

extension ScriptResult {
  /// The script's TCP segments as a Flow transcript, from the script's side (the remote end
  /// tcpcraft plays): `<` lines are `.sent`, `>` lines `.received`, and the kernel under test is
  /// the peer. Our state walks RFC 9293's machine on the segments (a script's remote end starts
  /// CLOSED when it sends the first SYN, LISTEN when the kernel does; each new SYN starts a new
  /// connection); IPv4 or IPv6 on the wire. The peer's state is the kernel socket's, read after each segment when the run
  /// asked for it (`ScriptRunOptions.samplesKernelState`), else `nil`. Segments the runner ignored (another
  /// connection's) are kept as unexpected, with the runner's note. UDP and ICMP are left out.
  public var flowTranscript: Transcript {
    var transcript = Transcript()
    var walker = ScriptStateWalker()
    var lastKernelState: String?
    for entry in self.transcript {
      guard entry.kind == .inbound || entry.kind == .outbound, let packet = entry.packet,
        let wire = ScriptWirePacket(packet), let tcp = wire.tcp
      else { continue }
      let sent = entry.kind == .inbound
      let ignored = entry.note == .otherConnection
      let piece = entry.note == .piece
      let before = walker.state
      if !ignored, !piece { walker.apply(tcp, sent: sent) }
      if transcript.initialSendSequence == nil, let iss = walker.initialSendSequence { transcript.initialSendSequence = iss }
      if transcript.initialReceiveSequence == nil, let irs = walker.initialReceiveSequence {
        transcript.initialReceiveSequence = irs
      }
      let wall = startRealtimeMicroseconds + entry.time
      var record = TranscriptEntry(
        elapsed: .microseconds(entry.time), timestampSeconds: wall / 1_000_000,
        timestampNanoseconds: Int32(truncatingIfNeeded: (wall % 1_000_000) * 1000), direction: sent ? .sent : .received,
        summary: scriptSummary(packet), sourceAddress: wire.source, sourcePort: tcp.sourcePort,
        destinationAddress: wire.destination, destinationPort: tcp.destinationPort,
        flagBits: UInt16(tcp.flags.rawValue), sequenceNumber: tcp.sequenceNumber,
        acknowledgmentNumber: tcp.acknowledgmentNumber, window: tcp.window, payloadLength: tcp.payload.count,
        stateBefore: before, stateAfter: ignored || piece ? before : walker.state, expected: !ignored,
        note: ignored ? ScriptTranscriptEntry.Note.otherConnection.rawValue : (piece ? "a piece of the next segment" : nil),
        packet: packet)
      // The kernel's segments leave the tun with checksums it never finished (offloads).
      record.checksumNotReady = !sent
      // The kernel's state, when the run sampled it: after the segment; before one of ours, as
      // read just before it was injected (before one of its own, the state it left, as a Flow
      // reads it).
      if let state = entry.kernelState.map({ TCPState(name: $0)?.description ?? $0 }) {
        record.peerState = state
        let before = entry.kernelStateBefore.map { TCPState(name: $0)?.description ?? $0 }
        record.peerStateBefore = sent ? (before ?? lastKernelState ?? state) : state
        lastKernelState = state
      }
      transcript.entries.append(record)
    }
    return transcript
  }
}

/// Our side's RFC 9293 state along a script's segments (the script's remote end).
struct ScriptStateWalker {
  var state: TCPState = .closed
  var initialSendSequence: UInt32?
  var initialReceiveSequence: UInt32?
  /// Where our SYN and FIN end: an ACK at or past them acknowledges them.
  var synEnd: UInt32?
  var finEnd: UInt32?

  mutating func apply(_ tcp: TCPView, sent: Bool) {
    let flags = tcp.flags
    let syn = flags.contains(.syn)
    let ack = flags.contains(.ack)
    // A SYN without ACK starts a new connection: ours when we send it, the kernel's otherwise.
    if syn, !ack {
      state = sent ? .closed : .listen
      finEnd = nil
    }
    if syn {
      if sent {
        initialSendSequence = initialSendSequence ?? tcp.sequenceNumber
        synEnd = tcp.sequenceNumber &+ 1
      } else {
        initialReceiveSequence = initialReceiveSequence ?? tcp.sequenceNumber
      }
    }
    var events: [TCPEvent] = []
    if flags.contains(.rst) {
      events.append(sent ? .sendRST : .receiveRST)
    } else if sent {
      if syn { events.append(ack ? .sendSYNACK : .sendSYN) }
      if flags.contains(.fin) {
        events.append(.sendFIN)
        finEnd = tcp.sequenceNumber &+ UInt32(truncatingIfNeeded: tcp.payload.count) &+ 1
      }
    } else {
      let acknowledges = { (end: UInt32?) -> Bool in
        guard ack, let end else { return false }
        return SequenceSpace.lessOrEqual(end, tcp.acknowledgmentNumber)
      }
      if syn {
        events.append(ack ? .receiveSYNACK : .receiveSYN)
      } else {
        if state == .synReceived, acknowledges(synEnd) { events.append(.receiveACKOfSYN) }
        let ackOfFIN = acknowledges(finEnd)
        if flags.contains(.fin) {
          events.append(ackOfFIN ? .receiveFINACKOfFIN : .receiveFIN)
        } else if ackOfFIN {
          events.append(.receiveACKOfFIN)
        }
      }
    }
    for event in events {
      if let next = TCPStateMachine.next(after: state, on: event) { state = next }
    }
  }
}
