import PacketKit

/// One named edge case: the state to reach first, the segment(s) to craft, the RFC rule that
/// governs what a conforming stack does with them, and that reaction.
///
/// Cases are values (`EdgeCaseCatalog.all`); `ProbeRunner` runs them against a real stack and
/// `Conformance.judge` compares what came back with `expected`. The expectations are taken from
/// the RFC texts named in `rfc`, never from what one implementation did.
public struct EdgeCase: Sendable, CustomStringConvertible {
  /// Short, stable, kebab-case name (`--case NAME`).
  public let name: String
  /// What is sent, in one line.
  public let summary: String
  /// The state to reach before the crafted segments go out.
  public let setup: EdgeCaseSetup
  /// The governing text: `RFC 9293 §3.10.7.1`.
  public let rfc: String
  /// How strong the RFC's words are (MUST, SHOULD, a suggestion, or what the rules imply).
  public let requirement: RequirementLevel
  /// The rule, paraphrased from the RFC.
  public let rule: String
  /// What a conforming stack does.
  public let expected: ExpectedReaction
  /// `.ipv4` cases malform the IPv4 header, so they must leave at layer 2 (AF_PACKET) to keep it
  /// as built; `.tcp` cases go out the same way, with a correct IPv4 header.
  public let layer: Layer
  /// The case means nothing unless the IPv4 header reaches the target exactly as built (a raw
  /// IPv4 socket would rewrite its checksum and total length): it needs a layer-2 path.
  public let needsExactIPv4Header: Bool
  /// A drop some stacks make on purpose, and the text that allows it: silence is then reported
  /// as `dropped` with this reason, not as a missing reply.
  public let allowedDrop: AllowedDrop?
  /// Builds the packets from the connection's numbers.
  public let craft: @Sendable (CraftContext) -> CraftedPackets
  /// The IP version the case speaks: IPv4 cases run on `Flow`s (`ProbeRunner`), IPv6 cases as
  /// whole crafted packets judged from the captured replies (`IPv6ProbeRunner`).
  public let family: Family

  public enum Layer: String, Sendable { case tcp, ipv4, ipv6 }

  public enum Family: String, Sendable { case ipv4, ipv6 }

  public init(
    name: String, summary: String, setup: EdgeCaseSetup, rfc: String, requirement: RequirementLevel,
    rule: String, expected: ExpectedReaction, layer: Layer = .tcp, needsExactIPv4Header: Bool = false,
    allowedDrop: AllowedDrop? = nil, family: Family = .ipv4, craft: @escaping @Sendable (CraftContext) -> CraftedPackets
  ) {
    self.family = family
    self.name = name
    self.summary = summary
    self.setup = setup
    self.rfc = rfc
    self.requirement = requirement
    self.rule = rule
    self.expected = expected
    self.layer = layer
    self.needsExactIPv4Header = needsExactIPv4Header
    self.allowedDrop = allowedDrop
    self.craft = craft
  }

  public var description: String { "\(name): \(summary) [\(setup)] → \(expected) (\(rfc), \(requirement))" }
}

/// A deliberate drop: why a stack makes it, and the RFC that allows or motivates it.
public struct AllowedDrop: Hashable, Sendable {
  public var reason: String
  public var rfc: String

  public init(reason: String, rfc: String) {
    self.reason = reason
    self.rfc = rfc
  }
}

/// How strong the governing words are. MUST, SHOULD and MAY come only from BCP 14 key words
/// (RFC 2119/8174) in the cited text; everything else says where its weight comes from.
public enum RequirementLevel: String, Sendable, CaseIterable {
  case must = "MUST"
  case should = "SHOULD"
  /// An option the RFC grants with MAY (RFC 8504 §5.3's limits): either way conforms, as long as
  /// the target keeps working.
  case may = "MAY"
  /// RFC 9293 §3.10's event-processing text: normative steps written without BCP 14 key words.
  case procedure = "procedure"
  /// An optional mechanism with mandatory behaviour once adopted (RFC 5961 §5.2: "All TCP stacks
  /// MAY implement the following mitigation. TCP stacks that implement this mitigation MUST ...").
  case mayThenMust = "MAY, then MUST"
  /// The RFC suggests a procedure without requiring it (RFC 9293 MUST-7's "suggested procedure").
  case suggested = "suggested"
  /// No sentence names this case; the reaction follows from the general rules.
  case implied = "implied"
}

/// The state the target must be in before the crafted segments are sent.
public struct EdgeCaseSetup: Hashable, Sendable, CustomStringConvertible {
  public enum Kind: String, Hashable, Sendable {
    /// A port nothing listens on (RFC 9293's CLOSED state).
    case closedPort = "closed port"
    /// The listening port, no connection from our port (LISTEN).
    case listening = "listening"
    /// A connection we opened by hand (SYN, SYN+ACK, ACK): ESTABLISHED.
    case established = "established"
  }

  public var kind: Kind
  /// Offer timestamps in our SYN (RFC 7323) and carry them on every segment afterwards.
  public var timestamps: Bool
  /// Our ISN (e.g. near 2^32 for the wrap case); `nil`: random.
  public var initialSequence: UInt32?
  /// After the handshake, send data until the target advertises a zero window (its application
  /// must not read).
  public var closeWindow: Bool
  /// After the handshake, send this many bytes of data and wait for their acknowledgment (so a
  /// case can resend them as an old duplicate).
  public var preload: Int

  public init(
    _ kind: Kind, timestamps: Bool = false, initialSequence: UInt32? = nil, closeWindow: Bool = false, preload: Int = 0
  ) {
    self.kind = kind
    self.timestamps = timestamps
    self.initialSequence = initialSequence
    self.closeWindow = closeWindow
    self.preload = preload
  }

  public static let closedPort = EdgeCaseSetup(.closedPort)
  public static let listening = EdgeCaseSetup(.listening)
  public static let established = EdgeCaseSetup(.established)

  public var description: String {
    var text = kind.rawValue
    if timestamps { text += ", timestamps negotiated" }
    if let initialSequence { text += ", ISN \(initialSequence)" }
    if closeWindow { text += ", target's window closed" }
    if preload > 0 { text += ", \(preload) bytes sent and acknowledged" }
    return text
  }
}

/// Where an expected sequence or acknowledgment number comes from.
public enum SequenceRule: Hashable, Sendable, CustomStringConvertible {
  /// 0.
  case zero
  /// The crafted segment's acknowledgment number (SEG.ACK).
  case segmentAck
  /// The crafted segment's sequence number plus its length, SYN and FIN counted (SEG.SEQ+SEG.LEN).
  case segmentSeqPlusLength
  /// SEG.SEQ+1: the SYN alone, any data it carried not counted.
  case segmentSeqPlusOne

  public var description: String {
    switch self {
    case .zero: "0"
    case .segmentAck: "SEG.ACK"
    case .segmentSeqPlusLength: "SEG.SEQ+SEG.LEN"
    case .segmentSeqPlusOne: "SEG.SEQ+1"
    }
  }

  func value(for segment: CraftedSegment) -> UInt32 {
    switch self {
    case .zero: 0
    case .segmentAck: segment.acknowledgment
    case .segmentSeqPlusLength: segment.sequence &+ segment.length
    case .segmentSeqPlusOne: segment.sequence &+ 1
    }
  }
}

/// The reaction a conforming stack shows.
public enum ExpectedReaction: Hashable, Sendable, CustomStringConvertible {
  /// A RST with this seq (and, when `ack` is given, the ACK bit with this ack).
  case reset(seq: SequenceRule, ack: SequenceRule?)
  /// A SYN+ACK acknowledging the SYN alone (ack = SEG.SEQ+1): the connection is accepted.
  case synAcknowledged
  /// RFC 5961's challenge ACK: `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`; the connection stays.
  case challengeACK
  /// RFC 9293's "send an acknowledgment" for an unacceptable segment:
  /// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` (a duplicate ACK); nothing of it is accepted.
  case duplicateACK
  /// An ACK that reports RCV.NXT unchanged and a zero window.
  case zeroWindowACK
  /// The data is accepted: an ACK covering it (ack = SEG.SEQ+SEG.LEN).
  case dataAcknowledged
  /// Nothing comes back, and the connection (if any) is unaffected.
  case silentDrop
  /// Nothing comes back and the connection is gone (a later segment finds no connection).
  case connectionReset
  /// The datagram is discarded and an ICMP Parameter Problem (type 12) comes back.
  case icmpParameterProblem
  /// A SYN carrying data: the SYN,ACK acknowledges the SYN, and the data is queued and
  /// acknowledged once the connection is established (checked by completing the handshake).
  case synDataQueued
  /// A SYN with a window-scale shift above 14: the connection proceeds and the target uses
  /// 14 (checked from the target's own connection state when it is visible, e.g. `--netns`).
  case windowScaleClamped
  /// Any reaction (accept, drop, reset) as long as the target keeps working: MUST-7's "be
  /// prepared to handle an illegal option length". The positive control checks the "keeps working".
  case handled
  /// The datagram is processed: the ICMPv6 echo request it carries draws its echo reply.
  case echoReply
  /// The datagram is discarded and an ICMPv6 Parameter Problem (type 4) with this code comes
  /// back (0 erroneous header field, 1 unrecognized next header, 2 unrecognized option,
  /// 3 first fragment without the whole header chain).
  case icmpv6ParameterProblem(code: UInt8)

  public var description: String {
    switch self {
    case .reset(let seq, let ack):
      ack.map { "RST,ACK seq=\(seq) ack=\($0)" } ?? "RST seq=\(seq)"
    case .synAcknowledged: "SYN,ACK ack=SEG.SEQ+1 (accepted)"
    case .challengeACK: "challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT>"
    case .duplicateACK: "ACK <SEQ=SND.NXT><ACK=RCV.NXT>, segment dropped"
    case .zeroWindowACK: "ACK ack=RCV.NXT, window 0"
    case .dataAcknowledged: "data delivered: ACK ack=SEG.SEQ+SEG.LEN"
    case .silentDrop: "silent drop"
    case .connectionReset: "connection reset (no reply)"
    case .icmpParameterProblem: "discard + ICMP parameter problem"
    case .synDataQueued: "SYN,ACK ack=SEG.SEQ+1; data queued, acked once established"
    case .windowScaleClamped: "SYN,ACK; the target uses shift 14"
    case .handled: "any reaction; the target keeps working"
    case .echoReply: "processed: echo reply"
    case .icmpv6ParameterProblem(let code): "discard + ICMPv6 parameter problem code \(code)"
    }
  }

  /// Whether a conforming stack answers at all (otherwise the probe waits the whole time).
  public var expectsReply: Bool {
    switch self {
    case .silentDrop, .connectionReset, .handled: false
    default: true
    }
  }
}

/// The numbers a case builds its packets from.
public struct CraftContext: Sendable {
  /// Our end (address and the fresh source port of this case).
  public var source: Endpoint
  /// The target's end: the listening port, or the closed port for closed-port cases.
  public var destination: Endpoint
  /// Our next sequence number: a fresh ISN before a connection, SND.NXT in one.
  public var sequence: UInt32
  /// RCV.NXT in a connection (the target's next seq); a random number outside one.
  public var acknowledgment: UInt32
  /// The target's last advertised window (unscaled; no window scaling is negotiated).
  public var peerWindow: UInt16
  /// Our next timestamp value and the target's last one (to echo), when negotiated.
  public var timestampValue: UInt32?
  public var timestampEcho: UInt32?
  /// An IPv4 identification for this case's packets.
  public var identification: UInt16

  public init(
    source: Endpoint, destination: Endpoint, sequence: UInt32, acknowledgment: UInt32,
    peerWindow: UInt16 = 65535, timestampValue: UInt32? = nil, timestampEcho: UInt32? = nil,
    identification: UInt16 = 1
  ) {
    self.source = source
    self.destination = destination
    self.sequence = sequence
    self.acknowledgment = acknowledgment
    self.peerWindow = peerWindow
    self.timestampValue = timestampValue
    self.timestampEcho = timestampEcho
    self.identification = identification
  }

  /// The IPv4 header every case starts from: our address to the target, DF, TTL 64.
  public func ip() -> IPv4Header {
    IPv4Header(
      sourceAddress: source.ipv4 ?? .any, destinationAddress: destination.ipv4 ?? .any,
      identification: identification, flags: .dontFragment, timeToLive: 64)
  }

  /// A TCP header from our port to the target's with these flags; seq defaults to `sequence`,
  /// ack to `acknowledgment` when ACK is set (else 0). Timestamps are added when negotiated.
  public func tcp(
    _ flags: TCPFlags, seq: UInt32? = nil, ack: UInt32? = nil, window: UInt16 = 65535,
    options: [TCPOption] = []
  ) -> TCPHeader {
    var all = options
    if let timestampValue, !options.contains(where: { $0.kind == 8 }) {
      all = [.noOperation, .noOperation, .timestamps(value: timestampValue, echoReply: timestampEcho ?? 0)] + options
    }
    return TCPHeader(
      sourcePort: source.port, destinationPort: destination.port, sequenceNumber: seq ?? sequence,
      acknowledgmentNumber: ack ?? (flags.contains(.ack) ? acknowledgment : 0), flags: flags,
      window: window, options: all)
  }

  /// One packet `ip() / tcp / payload` with `reference` describing it.
  public func single(_ tcp: TCPHeader, payload: [UInt8] = [], ip: IPv4Header? = nil) -> CraftedPackets {
    CraftedPackets(
      packets: [(ip ?? self.ip()) / tcp / payload], reference: CraftedSegment(tcp, payloadLength: payload.count),
      payload: payload)
  }
}

/// The TCP segment a case is about (for fragments: the whole segment before it was split).
public struct CraftedSegment: Hashable, Sendable {
  public var sequence: UInt32
  public var acknowledgment: UInt32
  public var flags: TCPFlags
  public var payloadLength: Int

  public init(sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags, payloadLength: Int) {
    self.sequence = sequence
    self.acknowledgment = acknowledgment
    self.flags = flags
    self.payloadLength = payloadLength
  }

  public init(_ tcp: TCPHeader, payloadLength: Int) {
    self.init(sequence: tcp.sequenceNumber, acknowledgment: tcp.acknowledgmentNumber, flags: tcp.flags, payloadLength: payloadLength)
  }

  /// SEG.LEN: payload, plus one for SYN and one for FIN.
  public var length: UInt32 {
    UInt32(truncatingIfNeeded: payloadLength) &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
  }
}

/// What a case sends: IPv4 packets (each encoded as built), and the segment they carry.
public struct CraftedPackets: Sendable {
  public var packets: [Packet]
  public var reference: CraftedSegment
  /// Bytes to add after the encoded packet (a frame longer than the IPv4 total length).
  public var trailer: [UInt8]
  /// The data bytes of the segment (a SYN's data is resent from these when checking that it
  /// was queued).
  public var payload: [UInt8]

  public init(packets: [Packet], reference: CraftedSegment, trailer: [UInt8] = [], payload: [UInt8] = []) {
    self.packets = packets
    self.reference = reference
    self.trailer = trailer
    self.payload = payload
  }

  /// Packets already encoded (IPv6 fragments), sent after `packets`, exactly as given.
  public var encodedPackets: [[UInt8]] = []

  /// The bytes of every packet (the trailer appended to the last).
  public func encoded() throws(PacketError) -> [[UInt8]] {
    var result: [[UInt8]] = []
    for packet in packets { result.append(try packet.encoded()) }
    result += encodedPackets
    if !trailer.isEmpty, !result.isEmpty { result[result.count - 1] += trailer }
    return result
  }
}
