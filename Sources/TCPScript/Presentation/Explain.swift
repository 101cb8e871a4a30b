/// One plain sentence a step, naming the rule at work (`tcpcraft --explain`).
///
/// The sentences are derived from the segment, its direction and the state change it caused;
/// they quote the actual numbers so that a student can check the arithmetic.
public enum Explainer {
  /// A sentence for `entry`, or `nil` when there is nothing to teach.
  public static func explain(_ entry: TranscriptEntry, ourISS: UInt32? = nil, peerIRS: UInt32? = nil) -> String? {
    let seq = entry.sequenceNumber
    let ack = entry.acknowledgmentNumber
    let length = entry.payloadLength
    let next = seq &+ entry.sequenceLength
    let us = entry.direction == .sent
    let syn = entry.has(FlagBits.syn)
    let fin = entry.has(FlagBits.fin)
    let rst = entry.has(FlagBits.rst)
    let hasACK = entry.has(FlagBits.ack)
    let before = entry.stateBefore
    let after = entry.stateAfter

    if rst {
      if us {
        return "A RST aborts the connection at once: no FIN exchange and no TIME-WAIT; the peer's "
          + "kernel drops the socket and its next recv() fails with ECONNRESET (RFC 9293 §3.10.7)."
      }
      if before == .synSent {
        return "A RST answering our SYN means nothing listens on that port (port closed): its ack "
          + "\(ack) = our ISN + 1 shows it is a reply to our SYN (RFC 9293 §3.10.7.1)."
      }
      return "The peer reset the connection: a RST whose seq \(seq) falls in our receive window "
        + "ends it at once, with no FIN exchange (RFC 9293 §3.10.7.4)."
    }
    if syn && !hasACK {
      if us {
        return "Our SYN carries our initial sequence number (ISN) \(seq); a SYN consumes one "
          + "sequence number, so the peer must acknowledge \(next) (RFC 9293 §3.4)."
      }
      return "The client's SYN carries its ISN \(seq); a SYN consumes one sequence number, so our "
        + "SYN+ACK must carry ack = \(seq) + 1 = \(next)."
    }
    if syn && hasACK {
      if us {
        return "Our SYN+ACK acknowledges the client's SYN (ack \(ack) = its ISN + 1) and carries "
          + "our own ISN \(seq), which the client must acknowledge with \(next)."
      }
      return "The SYN+ACK acknowledges our SYN: ack = our ISN + 1 = \(ack), because a SYN consumes "
        + "one sequence number; the peer's own ISN is \(seq), so we must acknowledge \(next)."
    }
    if fin {
      let dataPart = length > 0 ? "it carries \(length) bytes and " : ""
      if us {
        let what =
          switch after {
          case .finWait1: "we enter FIN-WAIT-1 and wait for the peer to acknowledge it"
          case .lastAck: "we enter LAST-ACK and wait for the last ACK"
          default: "we have no more data to send"
          }
        return "Our FIN at seq \(seq) says we will send no more data; \(dataPart)a FIN consumes "
          + "one sequence number like a SYN, so the peer must acknowledge \(next); \(what)."
      }
      let what =
        switch after {
        case .closeWait: "we are in CLOSE-WAIT until we close our side too"
        case .closing: "both sides sent FIN before seeing the other's: a simultaneous close, CLOSING"
        case .timeWait:
          hasACK && before == .finWait1
            ? "it also acknowledges our FIN, so we skip FIN-WAIT-2 and enter TIME-WAIT"
            : "we enter TIME-WAIT"
        default: "the peer will send no more data"
        }
      return "The peer's FIN at seq \(seq) closes its direction; \(dataPart)it consumes one "
        + "sequence number, so we acknowledge \(next); \(what)."
    }
    if length > 0 {
      if us {
        return "We send \(length) bytes occupying seq \(seq)…\(next &- 1); the peer acknowledges "
          + "them with ack = \(seq) + \(length) = \(next), the next byte it expects."
      }
      return "The peer sends \(length) bytes at seq \(seq); we acknowledge them with ack = \(next), "
        + "the next byte we expect."
    }
    if hasACK {
      if us {
        if before == .established, let ourISS, let peerIRS, ack == peerIRS &+ 1, seq == ourISS &+ 1 {
          return "Our ACK acknowledges the peer's SYN (ack = its ISN + 1 = \(ack)); it carries no "
            + "data, so it consumes no sequence number: the 3-way handshake is complete."
        }
        if after == .timeWait {
          return "Our ACK (ack \(ack)) acknowledges the peer's FIN; we stay in TIME-WAIT for 2·MSL "
            + "in case it is lost and the FIN comes again (RFC 9293 §3.6)."
        }
        if after == .closeWait {
          return "Our ACK (ack \(ack)) acknowledges the peer's FIN; the connection is half closed: "
            + "we may still send data until we send our own FIN."
        }
        return "An ACK with no data consumes no sequence number: it only says the next byte we "
          + "expect is \(ack)."
      }
      switch (before, after) {
      case (.synReceived, .established):
        return "The client's ACK acknowledges our SYN (ack \(ack) = our ISN + 1): the 3-way "
          + "handshake is complete and both sides are ESTABLISHED."
      case (.finWait1, .finWait2):
        return "The peer acknowledges our FIN (ack \(ack) = our FIN's seq + 1) and is now in "
          + "CLOSE-WAIT; we wait in FIN-WAIT-2 for its FIN."
      case (.closing, .timeWait):
        return "The peer acknowledges our FIN: after a simultaneous close both sides go from "
          + "CLOSING to TIME-WAIT."
      case (.lastAck, .closed):
        return "The last ACK acknowledges our FIN: the connection is CLOSED and forgotten."
      default:
        return "The peer acknowledges every byte before \(ack) (ack is the next byte it expects)."
      }
    }
    return nil
  }
}
