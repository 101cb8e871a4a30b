import PacketKit

/// The verdict on one case. Only `conforms`, `partly`, `dropped` and `no requirement` are
/// given when the positive controls around the case passed; a failed control makes the case
/// `inconclusive`, whatever the crafted segment drew.
public enum Verdict: String, Sendable, CaseIterable {
  /// The target reacted as the RFC says.
  case conforms
  /// The required part was met, a part the RFC only recommends in lower-case words (or that
  /// could not be measured) was not: the observation says which.
  case partly
  /// Silence where the RFC asks for a reply, but a drop the stack makes on purpose for a reason
  /// another RFC gives (the observation names both).
  case dropped
  /// The target did not follow a procedure the RFC only suggests: no requirement is broken.
  case noRequirement = "no requirement"
  /// It reacted, or stayed silent, otherwise.
  case deviates
  /// A reply was expected and nothing came, while the path was shown to work.
  case noReply = "no reply"
  /// The harness could not judge: the state could not be reached, or a positive control failed
  /// (the path is broken, the target gone).
  case inconclusive
  /// Not run on this path (the case needs a layer-2 path).
  case notRun = "not run"

  /// A finding against the target.
  public var isDeviation: Bool { self == .deviates || self == .noReply }

  /// The exit status `tcpcraft probe` gives for these verdicts: 1 when a case deviates (or drew
  /// no reply), else 3 when a case could not be judged, else 0.
  public static func exitStatus(_ verdicts: [Verdict]) -> Int32 {
    if verdicts.contains(where: \.isDeviation) { return 1 }
    if verdicts.contains(.inconclusive) { return 3 }
    return 0
  }
}

/// What the positive controls around a case showed: a valid segment on the same path drew its
/// expected reply (before the case, where the state allows one, and after it).
public enum ControlOutcome: Hashable, Sendable {
  /// Every control drew its reply: the path works and the target is alive.
  case passed([String])
  /// A control drew nothing (or the wrong thing): why.
  case failed(String)
  /// No control was possible (nothing was sent).
  case none
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
  /// An IPv6 packet (then `icmpType` is an ICMPv6 type).
  public var isIPv6 = false
  /// An ICMPv6 parameter problem's pointer, or an error's rest-of-header.
  public var icmpPointer: UInt32?

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
    guard let ip = try? IPv4View(validating: packet.bytes[...]), IPAddress.v4(ip.destinationAddress) == local.address else {
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
        guard TCPHeader.quotedSourcePort(in: inner.bytes.dropFirst(inner.headerLength)) == local.port else { return nil }
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
    if isIPv6, let icmpType {
      switch icmpType {
      case 129: return "ICMP6 echo reply"
      case 4: return "ICMP6 parameter problem code \(icmpCode ?? 0) pointer \(icmpPointer ?? 0)"
      default: return "ICMP6 type \(icmpType) code \(icmpCode ?? 0)"
      }
    }
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
    case .alive(let text): "afterwards the connection is alive (a data byte drew \(text))"
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
  /// The verdict after the controls, the requirement level and known deliberate drops are
  /// taken into account: a failed control makes any case inconclusive ("path broken"); silence
  /// where a known deliberate drop applies is `dropped`; a suggested procedure not followed is
  /// `no requirement`.
  public static func settle(
    _ judged: (verdict: Verdict, observed: String), edgeCase: EdgeCase, replies: [ProbeReply], control: ControlOutcome
  ) -> (verdict: Verdict, observed: String) {
    if case .failed(let reason) = control {
      return (.inconclusive, "path broken (\(reason)); the crafted segment drew \(judged.observed)")
    }
    guard judged.verdict.isDeviation else { return judged }
    if let drop = edgeCase.allowedDrop, !replies.contains(where: \.isTCP) {
      return (.dropped, "nothing: dropped on purpose, \(drop.reason) (\(drop.rfc))")
    }
    if edgeCase.requirement == .suggested {
      return (.noRequirement, judged.observed + " (the RFC only suggests the expected procedure)")
    }
    return judged
  }

  /// A SYN carrying data: the SYN must be acknowledged (ack = SEG.SEQ+1, or +SEG.LEN when the
  /// data is acknowledged at once); RFC 9293 says in lower-case words that the data "should be
  /// queued for processing later". `ackedAfterHandshake`: an ACK covering the data came once our
  /// ACK completed the handshake; `ackedWhenResent`: it came only when the data was sent again.
  public static func judgeSYNData(
    segment: CraftedSegment, synAck: ProbeReply?, replies: [ProbeReply], ackedAfterHandshake: Bool?, ackedWhenResent: Bool?
  ) -> (verdict: Verdict, observed: String) {
    let observed = replies.isEmpty ? "nothing" : replies.map(\.brief).joined(separator: "; ")
    guard let synAck else { return (replies.isEmpty ? .noReply : .deviates, observed) }
    let synOnly = segment.sequence &+ 1
    let withData = segment.sequence &+ segment.length
    if synAck.acknowledgmentNumber == withData {
      return (.conforms, observed + " (SYN and data acknowledged in the SYN,ACK)")
    }
    guard synAck.acknowledgmentNumber == synOnly else {
      return (.deviates, observed + " (wanted ack \(synOnly) or \(withData))")
    }
    if ackedAfterHandshake == true {
      return (.conforms, observed + "; the data was queued: acknowledged once the handshake completed")
    }
    var text = observed + "; the SYN was acknowledged; the data was neither acknowledged nor queued"
    switch ackedWhenResent {
    case true?: text += " (it was delivered only when sent again)"
    case false?: text += " (and sending it again drew no acknowledgment either)"
    case nil: break
    }
    return (.partly, text)
  }

  /// The verdict and a one-line account of what was observed.
  ///
  /// - Parameters:
  ///   - expected: the case's expected reaction (`.synDataQueued` is judged by `judgeSYNData`;
  ///     here only its SYN,ACK is checked).
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
    if case .gone = fate, expected != .connectionReset, expected != .handled {
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

    case .handled:
      if case .gone = fate { return (.conforms, observed + "; the connection was reset (the suggested procedure)") }
      if tcp.isEmpty { return (.conforms, observed == "nothing" ? "nothing: the segment was dropped" : observed) }
      return (.conforms, observed)

    case .synDataQueued:
      return judgeSYNData(segment: segment, synAck: tcp.first { $0.flags.contains([.syn, .ack]) }, replies: replies,
        ackedAfterHandshake: nil, ackedWhenResent: nil)

    case .windowScaleClamped:
      guard let synAck = tcp.first(where: { $0.flags.contains([.syn, .ack]) && !$0.flags.contains(.rst) }) else {
        return (replies.isEmpty ? .noReply : .deviates, observed)
      }
      guard synAck.acknowledgmentNumber == segment.sequence &+ 1 else {
        return (.deviates, observed + " (wanted ack \(segment.sequence &+ 1))")
      }
      return (.partly, observed + "; the connection proceeds; the shift in use was not measured")

    case .echoReply:
      if replies.contains(where: { $0.isIPv6 && $0.icmpType == 129 }) { return (.conforms, observed) }
      return (replies.isEmpty ? .noReply : .deviates, observed)

    case .icmpv6ParameterProblem(let code):
      if let problem = replies.first(where: { $0.isIPv6 && $0.icmpType == 4 }) {
        if problem.icmpCode == code { return (.conforms, observed) }
        return (.deviates, observed + " (wanted code \(code))")
      }
      if replies.contains(where: { $0.isIPv6 && $0.icmpType == 129 }) { return (.deviates, observed + " (the datagram was processed)") }
      return (replies.isEmpty ? .noReply : .deviates, observed)

    case .icmpParameterProblem:
      if replies.contains(where: { $0.icmpType == 12 }) { return (.conforms, observed) }
      if tcp.contains(where: { $0.flags.contains(.syn) }) { return (.deviates, observed + " (the datagram was processed)") }
      return (replies.isEmpty ? .noReply : .deviates, observed)
    }
  }
}
