import PacketKit

/// One segment a flow sent or saw, with what it did to the connection.
///
/// Plain values only (numbers and strings), so that a transcript can be printed, turned into JSON
/// lines or drawn as a ladder without the packet it came from. `summary` is the segment exactly as
/// `tcpdump -nn -S -t` prints it; `packet` keeps the IP bytes (IPv4 or IPv6) for pcap files.
public struct TranscriptEntry: Hashable, Sendable {
  /// Which way the segment went, seen from our side.
  public enum Direction: String, Hashable, Sendable {
    /// We sent it (tcpdump `-i any` would say `Out`).
    case sent = "out"
    /// It arrived from the peer (`In`).
    case received = "in"
  }

  /// Time since the flow started.
  public var elapsed: Duration
  /// Wall-clock time (seconds and nanoseconds since the Unix epoch): the kernel's capture
  /// timestamp for received segments, the send time for ours.
  public var timestampSeconds: Int64
  public var timestampNanoseconds: Int32
  public var direction: Direction
  /// The `tcpdump -nn -S -t` line for the segment.
  public var summary: String
  public var sourceAddress: IPAddress
  public var sourcePort: UInt16
  public var destinationAddress: IPAddress
  public var destinationPort: UInt16
  /// TCP flag bits as on the wire (FIN = 0x01 ... NS = 0x100).
  public var flagBits: UInt16
  public var sequenceNumber: UInt32
  public var acknowledgmentNumber: UInt32
  public var window: UInt16
  /// Payload length in bytes.
  public var payloadLength: Int
  /// Our state before and after this segment.
  public var stateBefore: TCPState
  public var stateAfter: TCPState
  /// The peer's real kernel state just after this segment, when the peer is a local socket
  /// (read with `inet_diag`), spelled as RFC 9293 does (`SYN-RECEIVED`, `CLOSE-WAIT`); `nil` when
  /// not known (a peer on another host: inet_diag sees only this host's sockets). A fast peer
  /// application may already have moved on: a received segment is recorded when the flow reads
  /// it, which can be after the peer's next step (`PeerStates` puts each state on its row).
  public var peerState: String?
  /// The peer's kernel state sampled just before this segment (before we sent it, or when we
  /// read it from the capture), same spelling; `nil` when not known.
  public var peerStateBefore: String?
  /// The peer's kernel timer (`idiag_expires`, milliseconds) in the `peerState` sample: for a
  /// peer in TIME-WAIT, how long it still waits (2·MSL, 60 s on Linux, counting down).
  public var peerTimerMilliseconds: UInt32?
  /// `false` for a received segment that no expectation asked for (kept and shown anyway).
  public var expected: Bool
  /// A note for the reader: why a segment is odd ("kernel RST: port closed").
  public var note: String?
  /// A sentence its producer attached (the probe: the rule a crafted segment tests). A flow
  /// leaves it `nil`: presentation asks the `Explainer` then.
  public var explanation: String?
  /// The IP packet (IPv4 or IPv6 header, TCP header, payload), as sent or as captured.
  public var packet: [UInt8]
  /// The kernel had not finished this captured segment's TCP checksum (CHECKSUM_PARTIAL on
  /// loopback and offloading NICs: the field holds only the pseudo-header sum). Not a bad
  /// checksum: see `wirePacket`.
  public var checksumNotReady: Bool = false

  public init(
    elapsed: Duration, timestampSeconds: Int64, timestampNanoseconds: Int32, direction: Direction,
    summary: String, sourceAddress: IPAddress, sourcePort: UInt16, destinationAddress: IPAddress,
    destinationPort: UInt16, flagBits: UInt16, sequenceNumber: UInt32, acknowledgmentNumber: UInt32,
    window: UInt16, payloadLength: Int, stateBefore: TCPState, stateAfter: TCPState,
    peerState: String? = nil, expected: Bool = true, note: String? = nil, packet: [UInt8] = []
  ) {
    self.elapsed = elapsed
    self.timestampSeconds = timestampSeconds
    self.timestampNanoseconds = timestampNanoseconds
    self.direction = direction
    self.summary = summary
    self.sourceAddress = sourceAddress
    self.sourcePort = sourcePort
    self.destinationAddress = destinationAddress
    self.destinationPort = destinationPort
    self.flagBits = flagBits
    self.sequenceNumber = sequenceNumber
    self.acknowledgmentNumber = acknowledgmentNumber
    self.window = window
    self.payloadLength = payloadLength
    self.stateBefore = stateBefore
    self.stateAfter = stateAfter
    self.peerState = peerState
    self.expected = expected
    self.note = note
    self.packet = packet
  }

  /// The address family of the segment.
  public var family: IPAddress.Family { sourceAddress.family }

  /// Flag names as textbooks write them: `SYN`, `SYN,ACK`, `FIN,ACK`, `PSH,ACK`, `RST`, `none`.
  public var flagNames: String { FlagBits.names(flagBits) }

  /// Sequence space the segment consumes: payload, plus one for SYN and one for FIN.
  public var sequenceLength: UInt32 {
    UInt32(truncatingIfNeeded: payloadLength) &+ (flagBits & FlagBits.syn != 0 ? 1 : 0)
      &+ (flagBits & FlagBits.fin != 0 ? 1 : 0)
  }

  public func has(_ bits: UInt16) -> Bool { flagBits & bits == bits }

  /// The state change as printed beside a segment: `CLOSED → SYN-SENT`, or just `ESTABLISHED`.
  public var stateChange: String { stateChange(rfcNames: false) }

  /// The state change with RFC 9293's spelling (`CLOSED → SYN-SENT`); both are the same now (one spelling).
  public func stateChange(rfcNames: Bool) -> String {
    let before = rfcNames ? stateBefore.rfcName : stateBefore.description
    let after = rfcNames ? stateAfter.rfcName : stateAfter.description
    return stateBefore == stateAfter ? before : "\(before) → \(after)"
  }
}

/// TCP flag bits as on the wire, and the names textbooks give them.
public enum FlagBits {
  public static let fin: UInt16 = 0x001
  public static let syn: UInt16 = 0x002
  public static let rst: UInt16 = 0x004
  public static let psh: UInt16 = 0x008
  public static let ack: UInt16 = 0x010
  public static let urg: UInt16 = 0x020
  public static let ece: UInt16 = 0x040
  public static let cwr: UInt16 = 0x080
  public static let ns: UInt16 = 0x100

  /// `SYN`, `SYN,ACK`, `FIN,ACK`, `PSH,ACK`, `RST,ACK`, `none` — the order textbooks use.
  public static func names(_ bits: UInt16) -> String {
    let order: [(UInt16, String)] = [
      (syn, "SYN"), (fin, "FIN"), (rst, "RST"), (psh, "PSH"), (urg, "URG"), (ece, "ECE"),
      (cwr, "CWR"), (ns, "NS"), (ack, "ACK"),
    ]
    let names = order.filter { bits & $0.0 != 0 }.map(\.1)
    return names.isEmpty ? "none" : names.joined(separator: ",")
  }
}

/// Every segment of a flow, in order, plus free-text notes (things that are not segments).
public struct Transcript: Sendable {
  public var entries: [TranscriptEntry] = []
  /// Our initial send sequence number and the peer's, once known (for relative numbers).
  public var initialSendSequence: UInt32?
  public var initialReceiveSequence: UInt32?

  public init() {}

  /// Received segments that no expectation asked for.
  public var unexpected: [TranscriptEntry] { entries.filter { !$0.expected } }
}

extension TranscriptEntry {
  /// `summary` with seq and ack numbers made relative to the two initial sequence numbers, as
  /// tcpdump prints them without `-S` (the SYNs themselves keep their absolute numbers).
  public func relativeSummary(ourISS: UInt32?, peerIRS: UInt32?) -> String {
    let seqBase = direction == .sent ? ourISS : peerIRS
    let ackBase = direction == .sent ? peerIRS : ourISS
    var text = summary
    if has(FlagBits.syn) { return text }
    if let seqBase {
      let start = SequenceSpace.offset(sequenceNumber, from: seqBase)
      let replacement: String
      if payloadLength > 0 {
        let end = start &+ UInt32(truncatingIfNeeded: payloadLength)
        replacement = "seq \(start):\(end)"
      } else {
        replacement = "seq \(start)"
      }
      let absolute =
        payloadLength > 0
        ? "seq \(sequenceNumber):\(sequenceNumber &+ UInt32(truncatingIfNeeded: payloadLength))"
        : "seq \(sequenceNumber)"
      text = text.replacingFirst(", \(absolute)", with: ", \(replacement)")
    }
    if let ackBase, has(FlagBits.ack) {
      let relative = SequenceSpace.offset(acknowledgmentNumber, from: ackBase)
      text = text.replacingFirst(", ack \(acknowledgmentNumber)", with: ", ack \(relative)")
    }
    return text
  }
}

extension String {
  /// This string with the first occurrence of `target` replaced (unchanged when absent).
  func replacingFirst(_ target: String, with replacement: String) -> String {
    guard !target.isEmpty, let range = textRange(of: target) else { return self }
    return replacingText(in: range, with: replacement)
  }

  // Small local helpers so that this file needs no Foundation.
  func textRange(of target: String) -> Range<String.Index>? {
    guard !target.isEmpty else { return nil }
    var start = startIndex
    while start < endIndex {
      if self[start...].hasPrefix(target) {
        let end = index(start, offsetBy: target.count)
        return start..<end
      }
      start = index(after: start)
    }
    return nil
  }

  func replacingText(in range: Range<String.Index>, with replacement: String) -> String {
    String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
  }
}
