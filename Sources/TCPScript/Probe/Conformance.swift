import PacketKit

/// The verdict on one case.
public enum Verdict: String, Sendable, CaseIterable {
  /// The target reacted as the RFC says.
  case conforms
  /// It reacted, or stayed silent, otherwise.
  case deviates
  /// A reply was expected and nothing came.
  case noReply = "no reply"
  /// The state could not be reached (the handshake failed, the window never closed...).
  case inconclusive
}

/// A packet the target sent back: a TCP segment to our port, or an ICMP message.
public struct ProbeReply: Hashable, Sendable {
  /// The IPv4 packet as captured.
  public var bytes: [UInt8]
  /// The `tcpdump -nn -S -t` line.
  public var summary: String
  public var flags: TCPFlags
  public var sequenceNumber: UInt32
  public var acknowledgmentNumber: UInt32
  public var window: UInt16
  public var payloadLength: Int
  /// ICMP type and code when the reply is ICMP (then the TCP fields are zero).
  public var icmpType: UInt8?
  public var icmpCode: UInt8?
  public var timestampSeconds: Int64
  public var timestampNanoseconds: Int32

  public var isTCP: Bool { icmpType == nil }

  /// A TCP reply made from its fields (for tests and hand-written observations).
  public init(
    flags: TCPFlags, seq: UInt32, ack: UInt32, window: UInt16 = 65535, payloadLength: Int = 0,
    summary: String = "", bytes: [UInt8] = []
  ) {
    self.bytes = bytes
    self.summary = summary
    self.flags = flags
    self.sequenceNumber = seq
    self.acknowledgmentNumber = ack
    self.window = window
    self.payloadLength = payloadLength
    self.timestampSeconds = 0
    self.timestampNanoseconds = 0
  }

  /// An ICMP reply.
  public init(icmpType: UInt8, code: UInt8, summary: String = "", bytes: [UInt8] = []) {
    self.init(flags: [], seq: 0, ack: 0, window: 0, summary: summary, bytes: bytes)
    self.icmpType = icmpType
    self.icmpCode = code
  }

  /// Parses a captured IPv4 packet: TCP from `remote` to `local`, or ICMP to `local.address`
  /// whose quoted datagram came from `local`. Anything else is `nil`.
  public init?(_ packet: CapturedPacket, local: Endpoint, remotePort: UInt16) {
    guard let ip = try? IPv4View(validating: packet.bytes[...]), ip.destinationAddress == local.address else {
      return nil
    }
    let summary = tcpdumpSummary(ipv4: packet.bytes[...])
    if ip.protocol == .tcp {
      guard let tcp = try? TCPView(validating: ip.payload), tcp.destinationPort == local.port,
        tcp.sourcePort == remotePort
      else { return nil }
      self.init(
        flags: tcp.flags, seq: tcp.sequenceNumber, ack: tcp.acknowledgmentNumber, window: tcp.window,
        payloadLength: tcp.payload.count, summary: summary, bytes: packet.bytes)
    } else if ip.protocol == .icmp {
      let icmp = ip.payload
      guard icmp.count >= 8 else { return nil }
      // The quoted datagram: its IPv4 header, then at least the TCP ports.
      let quoted = icmp.dropFirst(8)
      if let inner = try? IPv4View(validating: quoted), inner.protocol == .tcp {
        let ports = inner.bytes.dropFirst(inner.headerLength)
        guard ports.count >= 2 else { return nil }
        let sourcePort = UInt16(ports[ports.startIndex]) << 8 | UInt16(ports[ports.startIndex + 1])
        guard sourcePort == local.port else { return nil }
      } else if quoted.count >= 20 {
        return nil
      }
      self.init(icmpType: icmp[icmp.startIndex], code: icmp[icmp.startIndex + 1], summary: summary, bytes: packet.bytes)
    } else {
      return nil
    }
    timestampSeconds = packet.timestampSeconds
    timestampNanoseconds = packet.timestampNanoseconds
  }

  /// `RST,ACK seq 0 ack 1235`, `ACK seq 5 ack 9 win 0`, `ICMP type 12 code 0`.
  public var brief: String {
    if let icmpType { return "ICMP type \(icmpType) code \(icmpCode ?? 0)" + (icmpType == 12 ? " (parameter problem)" : "") }
    var text = "\(FlagBits.names(flags.rawValue)) seq \(sequenceNumber)"
    if flags.contains(.ack) { text += " ack \(acknowledgmentNumber)" }
    text += " win \(window)"
    if payloadLength > 0 { text += " length \(payloadLength)" }
    return text
  }
}

/// What a later segment showed about the connection after the crafted one.
public enum ConnectionFate: Hashable, Sendable {
  /// A data byte was acknowledged: the connection is still there.
  case alive(String)
  /// A data byte drew a RST: the connection is gone.
  case gone(String)
  /// Nothing came back.
  case unknown(String)
  /// Not checked (no connection in this case).
  case notChecked

  public var text: String? {
    switch self {
    case .alive(let text): "afterwards the connection is alive (a data byte was acknowledged: \(text))"
    case .gone(let text): "afterwards the connection is gone (a data byte drew \(text))"
    case .unknown(let text): "afterwards: \(text)"
    case .notChecked: nil
    }
  }
}

/// The connection's numbers just before the crafted segment went out, seen from our side.
public struct ConnectionNumbers: Hashable, Sendable {
  /// Our SND.NXT: the target's RCV.NXT, what its ACKs must acknowledge if it accepted nothing.
  public var ourNext: UInt32
  /// Our RCV.NXT: the target's SND.NXT, the seq of its next segment.
  public var peerNext: UInt32

  public init(ourNext: UInt32, peerNext: UInt32) {
    self.ourNext = ourNext
    self.peerNext = peerNext
  }
}

/// Compares what came back with what the RFC expects.
public enum Conformance {
  /// The verdict and a one-line account of what was observed.
  ///
  /// - Parameters:
  ///   - expected: the case's expected reaction.
  ///   - segment: the crafted segment (for SEG.SEQ, SEG.ACK, SEG.LEN).
  ///   - replies: everything the target sent back in the wait that followed.
  ///   - connection: the connection's numbers before the segment (established cases only).
  ///   - fate: what a later data byte showed (established cases only).
  public static func judge(
    expected: ExpectedReaction, segment: CraftedSegment, replies: [ProbeReply],
    connection: ConnectionNumbers? = nil, fate: ConnectionFate = .notChecked
  ) -> (verdict: Verdict, observed: String) {
    let observed = replies.isEmpty ? "nothing" : replies.map(\.brief).joined(separator: "; ")
    let tcp = replies.filter(\.isTCP)
    if case .gone = fate, expected != .connectionReset {
      return (.deviates, observed + "; the connection was reset")
    }
    switch expected {
    case .reset(let seqRule, let ackRule):
      guard let reset = tcp.first(where: { $0.flags.contains(.rst) }) else {
        return (replies.isEmpty ? .noReply : .deviates, observed)
      }
      let seqOK = reset.sequenceNumber == seqRule.value(for: segment)
      let ackOK = ackRule.map { reset.flags.contains(.ack) && reset.acknowledgmentNumber == $0.value(for: segment) } ?? true
      if seqOK && ackOK { return (.conforms, observed) }
      var wanted = "wanted seq \(seqRule.value(for: segment))"
      if let ackRule { wanted += " ack \(ackRule.value(for: segment))" }
      return (.deviates, observed + " (\(wanted))")

    case .synAcknowledged:
      guard let synAck = tcp.first(where: { $0.flags.contains([.syn, .ack]) && !$0.flags.contains(.rst) }) else {
        return (replies.isEmpty ? .noReply : .deviates, observed)
      }
      let wanted = segment.sequence &+ 1
      if synAck.acknowledgmentNumber == wanted { return (.conforms, observed) }
      return (.deviates, observed + " (wanted ack \(wanted))")

    case .challengeACK, .duplicateACK, .zeroWindowACK:
      guard let ack = tcp.first(where: { $0.flags.contains(.ack) && !$0.flags.contains(.rst) && !$0.flags.contains(.syn) }) else {
        return (replies.isEmpty ? .noReply : .deviates, observed)
      }
      guard let connection else { return (.deviates, observed + " (no connection to compare with)") }
      var problems: [String] = []
      if ack.acknowledgmentNumber != connection.ourNext {
        problems.append("ack \(ack.acknowledgmentNumber), wanted RCV.NXT \(connection.ourNext): the segment was accepted")
      }
      if ack.sequenceNumber != connection.peerNext {
        problems.append("seq \(ack.sequenceNumber), wanted SND.NXT \(connection.peerNext)")
      }
      if expected == .zeroWindowACK && ack.window != 0 { problems.append("window \(ack.window), wanted 0") }
      if problems.isEmpty { return (.conforms, observed) }
      return (.deviates, observed + " (" + problems.joined(separator: "; ") + ")")

    case .dataAcknowledged:
      let wanted = segment.sequence &+ segment.length
      if tcp.contains(where: { $0.flags.contains(.ack) && !$0.flags.contains(.rst) && SequenceSpace.lessOrEqual(wanted, $0.acknowledgmentNumber) }) {
        return (.conforms, observed)
      }
      return (replies.isEmpty ? .noReply : .deviates, observed + " (wanted ack \(wanted))")

    case .silentDrop:
      if replies.isEmpty { return (.conforms, observed) }
      return (.deviates, observed)

    case .connectionReset:
      if !replies.isEmpty { return (.deviates, observed) }
      switch fate {
      case .gone: return (.conforms, "nothing; the connection is gone")
      case .alive: return (.deviates, "nothing; but the connection is still alive")
      case .unknown, .notChecked: return (.conforms, "nothing (the connection's fate is unknown)")
      }

    case .icmpParameterProblem:
      if replies.contains(where: { $0.icmpType == 12 }) { return (.conforms, observed) }
      if tcp.contains(where: { $0.flags.contains(.syn) }) { return (.deviates, observed + " (the datagram was processed)") }
      return (replies.isEmpty ? .noReply : .deviates, observed)
    }
  }
}
