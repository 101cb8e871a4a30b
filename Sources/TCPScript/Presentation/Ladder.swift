import PacketKit

/// An ASCII ladder diagram of an exchange, as textbooks draw it:
///
/// ```
///                client 127.0.0.1:57273 (us)                   server 127.0.0.1:8080
///  CLOSED         |                                             | LISTEN
///  SYN-SENT       |-- SYN seq=84347051 ------------------------>| SYN-RECEIVED
///  ESTABLISHED    |<-- SYN,ACK seq=2958367133 ack=84347052 -----|
///                 |-- ACK seq=84347052 ack=2958367134 --------->| ESTABLISHED
/// ```
///
/// Our side is drawn on the left when we are the client (we sent the first SYN) and on the right
/// when we are the server. The first row gives both ends' states before the first segment; after
/// that each state is written on the row where it began (see `PeerStates` for the peer's).
public enum Ladder {
  /// Draws `entries` between `local` and `remote` (`"127.0.0.1:57273"`), `relative` numbers
  /// counted from the initial sequence numbers when given.
  public static func draw(
    _ entries: [TranscriptEntry], local: String, remote: String,
    ourISS: UInt32? = nil, peerIRS: UInt32? = nil, width minimumWidth: Int = 46
  ) -> String {
    guard !entries.isEmpty else { return "" }
    let labels = entries.map { label($0, ourISS: ourISS, peerIRS: peerIRS) }
    let width = max(minimumWidth, (labels.map(\.count).max() ?? 0) + 8)
    // We are the client unless the first segment we saw was a SYN without ACK from the peer.
    let first = entries[0]
    let weAreClient = !(first.direction == .received && first.has(FlagBits.syn) && !first.has(FlagBits.ack))
    let leftName = weAreClient ? "client \(local) (us)" : "client \(remote)"
    let rightName = weAreClient ? "server \(remote)" : "server \(local) (us)"
    let peers = PeerStates(entries)
    let stateWidth = 14
    var lines: [String] = []
    let headerGap = max(1, width + 2 - leftName.count)
    lines.append(pad("", stateWidth) + " " + leftName + String(repeating: " ", count: headerGap) + rightName)
    // The states before the first segment (LISTEN for a server waiting), then each state on the
    // row where it began: a blank means the state is unchanged.
    let ourStart = first.stateBefore.description
    let peerStart = peers.initial ?? ""
    let startLeft = weAreClient ? ourStart : peerStart
    let startRight = weAreClient ? peerStart : ourStart
    lines.append(pad(startLeft, stateWidth) + " |" + String(repeating: " ", count: width) + "| " + startRight)
    for (index, (entry, label)) in zip(entries, labels).enumerated() {
      let leftToRight = (entry.direction == .sent) == weAreClient
      let body = " " + label + " "
      let dashes = max(2, width - body.count - 3)
      let arrow: String
      if leftToRight {
        arrow = "|--" + body + String(repeating: "-", count: dashes) + ">|"
      } else {
        arrow = "|<" + String(repeating: "-", count: 2) + body + String(repeating: "-", count: dashes) + "|"
      }
      let ours = entry.stateAfter != entry.stateBefore ? entry.stateAfter.description : ""
      let theirs = peers.changed[index] ? (peers.after[index] ?? "") : ""
      let left = weAreClient ? ours : theirs
      let right = weAreClient ? theirs : ours
      lines.append(pad(left, stateWidth) + " " + arrow + " " + right)
    }
    if let reason = peers.unknownReason { lines.append(pad("", stateWidth) + " (" + reason + ")") }
    if let last = entries.last, let note = PeerStates.timeWaitNote(last) {
      lines.append(pad("", stateWidth) + " (the peer's kernel: TIME-WAIT, " + note + ")")
    }
    return lines.joined(separator: "\n")
  }

  /// `SYN,ACK seq=2958367133 ack=84347052`
  static func label(_ entry: TranscriptEntry, ourISS: UInt32?, peerIRS: UInt32?) -> String {
    if let other = nonTCPLabel(entry) { return other }
    var label = entry.flagNames
    let seqBase = entry.direction == .sent ? ourISS : peerIRS
    let ackBase = entry.direction == .sent ? peerIRS : ourISS
    let shownSeq = seqBase.map { SequenceSpace.offset(entry.sequenceNumber, from: $0) } ?? entry.sequenceNumber
    label += " seq=\(shownSeq)"
    if entry.has(FlagBits.ack) {
      let shownAck = ackBase.map { SequenceSpace.offset(entry.acknowledgmentNumber, from: $0) }
        ?? entry.acknowledgmentNumber
      label += " ack=\(shownAck)"
    }
    if entry.payloadLength > 0 { label += " len=\(entry.payloadLength)" }
    if let note = entry.note, note.hasPrefix("port closed") {
      label += " (port closed)"
    } else if !entry.expected {
      label += " (unexpected)"
    }
    return label
  }

  /// For a packet that is not TCP right after its IP header (an ICMPv6 echo behind extension
  /// headers, say, in a probe case): the start of its tcpdump line (`DSTOPT ICMP6, echo request`).
  static func nonTCPLabel(_ entry: TranscriptEntry) -> String? {
    guard let first = entry.packet.first else { return nil }
    // The protocol right after the IP header: IPv4's Protocol field, IPv6's Next Header.
    let field: Int? =
      switch first >> 4 {
      case 4: IPv4Layout.protocol
      case 6: IPv6Layout.nextHeader
      default: nil
      }
    guard let field, field < entry.packet.count, entry.packet[field] != IPProtocol.tcp.rawValue else { return nil }
    guard let colon = entry.summary.firstRange(of: ": ") else { return nil }
    return entry.summary[colon.upperBound...].split(separator: ",").prefix(2).joined(separator: ",")
  }

  private static func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
  }
}
