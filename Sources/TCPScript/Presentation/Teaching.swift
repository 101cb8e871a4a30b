import PacketKit

/// What a class needs beside the bare segments: the lesson each segment teaches (the
/// `Explainer` sentence plus the first appearance of each flag, the options negotiated, a
/// half-close named, the reason for TIME-WAIT), a bad checksum marked, times that match the
/// capture file, and the capture itself as pcapng with a comment on every packet.
public enum Teaching {
  /// What each of the six classic flags means, said the first time it appears.
  static let flagLessons: [(UInt16, String, String)] = [
    (FlagBits.syn, "SYN", "synchronize: opens a connection and carries the sender's initial sequence number"),
    (FlagBits.ack, "ACK", "acknowledgment: the ack field is valid and names the next byte the sender expects"),
    (FlagBits.psh, "PSH", "push: hand the data to the application now instead of waiting for more"),
    (FlagBits.fin, "FIN", "finish: the sender will send no more data (its direction is closed)"),
    (FlagBits.rst, "RST", "reset: abort the connection at once, no FIN exchange"),
    (FlagBits.urg, "URG", "urgent: the urgent pointer marks data to be read ahead of the rest (rarely used today)"),
  ]

  /// The full lesson for `entry` (one paragraph), or `nil` when there is nothing to say.
  public static func fullExplanation(_ entry: TranscriptEntry, in transcript: Transcript) -> String? {
    fullExplanation(
      entry, among: transcript.entries, ourISS: transcript.initialSendSequence,
      peerIRS: transcript.initialReceiveSequence)
  }

  /// `ourISS` and `peerIRS` feed the `Explainer`'s arithmetic (as in `Explainer.explain`).
  public static func fullExplanation(
    _ entry: TranscriptEntry, among entries: [TranscriptEntry], ourISS: UInt32? = nil, peerIRS: UInt32? = nil
  ) -> String? {
    var parts: [String] = []
    let index = entries.firstIndex(of: entry) ?? entries.count
    // A fragment never reaches TCP, and a listener makes nothing of a segment it drops or resets:
    // there the TCP lesson would mislead, and what really happens replaces it.
    var ignored: String?
    if entry.direction == .sent, checksumMark(entry) == nil, let reason = listenerIgnores(entry) {
      let peers = PeerStates(entries)
      let peerBefore = index == 0 ? peers.initial : (peers.after.indices.contains(index - 1) ? peers.after[index - 1] : nil)
      if peerBefore == TCPState.listen.description { ignored = reason }
    }
    if let fragment = fragmentLesson(entry) {
      parts.append(fragment)
    } else if let ignored {
      parts.append(ignored)
    } else if let base = entry.explanation ?? Explainer.explain(entry, ourISS: ourISS, peerIRS: peerIRS) {
      parts.append(base)
    }
    parts += ipFlagLessons(entry, after: entries[..<min(index, entries.count)])
    let earlier = entries[..<index]
    let seen = earlier.reduce(UInt16(0)) { $0 | $1.flagBits }
    let fresh = flagLessons.filter { entry.flagBits & $0.0 != 0 && seen & $0.0 == 0 }
    if !fresh.isEmpty {
      parts.append(fresh.map { "First \($0.1): \($0.2)." }.joined(separator: " "))
    }
    let options = tcpOptions(entry)
    let who = entry.direction == .sent ? "we" : "the peer"
    let whose = entry.direction == .sent ? "our" : "the peer's"
    for option in options {
      switch option {
      case .maximumSegmentSize(let mss):
        var text = "MSS \(mss): the largest segment payload \(who) will accept (RFC 9293 §3.7.1)"
        if entry.has(FlagBits.syn | FlagBits.ack), let offered = earlier.lazy.compactMap({ mssOf($0) }).first {
          text += "; negotiated: each side sends at most min(\(offered), \(mss)) = \(min(offered, mss)) bytes a segment"
        } else if !entry.has(FlagBits.ack) {
          text += "; the other side will send no more than this in one segment"
        }
        parts.append(text + ".")
      case .windowScale(let shift):
        let factor = 1 << Int(min(shift, 14))
        parts.append(
          "Window scale \(shift): once both SYNs carry it, \(whose) window field counts in units of 2^\(shift) = \(factor) bytes "
            + "(RFC 7323 §2), so a 16-bit window can say more than 64 KiB; the SYNs' own windows are never scaled.")
      case .sackPermitted:
        parts.append("SACK permitted: \(who) can receive selective acknowledgments of out-of-order data (RFC 2018).")
      default: break
      }
    }
    // Half-close: data flowing one way after the other way was closed by a FIN.
    if entry.payloadLength > 0 {
      if entry.direction == .sent, entry.stateBefore == .closeWait {
        parts.append(
          "Half-close: the peer's FIN closed only its direction; we may still send, and it must still receive and acknowledge (RFC 9293 §3.6).")
      } else if entry.direction == .received, [.finWait1, .finWait2].contains(entry.stateBefore) {
        parts.append(
          "Half-close: our FIN closed only our direction; the peer keeps sending and we still receive and acknowledge (RFC 9293 §3.6).")
      }
    }
    // A segment longer than the negotiated MSS: the kernel's segmentation offload on lo.
    let announced = entries.compactMap { mssOf($0) }
    if entry.payloadLength > 0, announced.count == 2, let mss = announced.min(), entry.payloadLength > Int(mss) {
      parts.append(
        "It carries \(entry.payloadLength) bytes, more than the MSS \(mss): the sending kernel built one super-segment "
          + "and left the cutting to the device (segmentation offload); loopback never cuts, a wire would carry "
          + "\((entry.payloadLength + Int(mss) - 1) / Int(mss)) segments of at most \(mss) bytes.")
    }
    let peers = PeerStates(entries)
    if peers.changed.indices.contains(index), peers.changed[index], peers.after[index] == TCPState.timeWait.description {
      parts.append(
        "The peer closed first, so it is the one in TIME-WAIT: it waits 2·MSL (60 s on Linux) so that a lost last ACK can be "
          + "sent again when the FIN is retransmitted, and so that old segments of this connection die out before the same "
          + "four numbers (addresses and ports) are used again (RFC 9293 §3.6.1).")
    }
    if let note = PeerStates.timeWaitNote(entry) { parts.append("Seen in the peer's kernel now: \(note).") }
    if let mark = checksumMark(entry) { parts.append(mark.dropFirst().dropLast() + ": the receiver drops it without a word.") }
    return parts.isEmpty ? nil : parts.joined(separator: " ")
  }

  /// The IPv4 header's flags and fragment offset (in 8-byte units), or `nil` for IPv6 or bytes
  /// that do not parse.
  static func ipv4FlagsAndOffset(_ entry: TranscriptEntry) -> (flags: IPv4Flags, offset: UInt16)? {
    guard entry.family == .ipv4, let ip = try? IPv4View(validating: entry.packet[...]) else { return nil }
    return (ip.flags, ip.fragmentOffset)
  }

  /// The fragment's place when `entry` is an IPv4 fragment (MF set or a non-zero offset), else `nil`.
  public static func ipv4Fragment(_ entry: TranscriptEntry) -> (moreFragments: Bool, offset: UInt16)? {
    guard let (flags, offset) = ipv4FlagsAndOffset(entry) else { return nil }
    let more = flags.contains(.moreFragments)
    return more || offset != 0 ? (more, offset) : nil
  }

  /// What a fragment teaches: the receiver's IP holds it for reassembly, its TCP never sees it.
  static func fragmentLesson(_ entry: TranscriptEntry) -> String? {
    guard let (more, offset) = ipv4Fragment(entry) else { return nil }
    let who = entry.direction == .sent ? "the peer's kernel" : "our kernel"
    let place =
      switch (more, offset) {
      case (true, 0): "IP flag MF (more fragments) with offset 0 makes this the first fragment of a larger datagram"
      case (true, _):
        "IP flag MF with fragment offset \(offset) (\(offset) × 8 = \(Int(offset) * 8) bytes) makes this a middle fragment of a larger datagram"
      default:
        "Fragment offset \(offset) (\(offset) × 8 = \(Int(offset) * 8) bytes) without MF makes this the last fragment of a larger datagram"
      }
    return place + ": \(who) holds it for reassembly until the other fragments arrive, so its TCP never sees "
      + "this segment and nothing answers (no state changes); after net.ipv4.ipfrag_time (30 s) the incomplete "
      + "datagram is dropped without a word (RFC 791 §3.2; kernel fact 34)."
  }

  /// Short lessons for the IPv4 flags other than MF: DF and the reserved (\"evil\") bit, each
  /// said the first time it appears (like the TCP flags), not again on `earlier`'s flags.
  static func ipFlagLessons(_ entry: TranscriptEntry, after earlier: ArraySlice<TranscriptEntry>) -> [String] {
    guard var (flags, _) = ipv4FlagsAndOffset(entry) else { return [] }
    for previous in earlier { if let (seen, _) = ipv4FlagsAndOffset(previous) { flags.subtract(seen) } }
    var lessons: [String] = []
    if flags.contains(.dontFragment) {
      lessons.append(
        "First IP flag DF (don't fragment): a router whose next link is too small must drop it and send back ICMP "
          + "\"fragmentation needed\" instead of cutting it, which is how path-MTU discovery works (RFC 1191); "
          + "Linux sets DF on its own TCP segments.")
    }
    if flags.contains(.reserved) {
      lessons.append(
        "The reserved IP flag (the \"evil bit\" of RFC 3514, an April Fools' RFC) is set: the receiving kernel does "
          + "not check it and delivers the packet as usual.")
    }
    return lessons
  }

  /// Why a listener (LISTEN) makes no connection from `entry`, or `nil` for a SYN it accepts,
  /// as Linux's `tcp_rcv_state_process` does (kernel fact 35).
  public static func listenerIgnores(_ entry: TranscriptEntry) -> String? {
    if entry.has(FlagBits.rst) {
      return "A listener drops any RST without a reply (there is no connection to reset): it stays in LISTEN (RFC 9293 §3.10.7.2)."
    }
    if entry.has(FlagBits.ack) {
      return "A listener answers any segment carrying ACK (a SYN+ACK too) with a RST, seq = its ack "
        + "\(entry.acknowledgmentNumber): no connection exists to acknowledge; it stays in LISTEN (RFC 9293 §3.10.7.2)."
    }
    if entry.has(FlagBits.syn) && entry.has(FlagBits.fin) {
      return "A SYN with FIN is no connection request: Linux's listener drops it without a reply (tcp_rcv_state_process "
        + "discards a SYN carrying FIN), so it stays in LISTEN and no SYN-RECEIVED entry is made."
    }
    if !entry.has(FlagBits.syn) {
      return "A listener drops a segment without SYN, ACK or RST silently: only a SYN opens a connection; it stays in LISTEN (RFC 9293 §3.10.7.2)."
    }
    return nil
  }

  /// The options of the segment's TCP header (empty when it cannot be read).
  static func tcpOptions(_ entry: TranscriptEntry) -> [TCPOption] {
    guard let tcp = entry.tcpSegment?.view else { return [] }
    return tcp.options.compactMap { try? $0.get() }
  }

  static func mssOf(_ entry: TranscriptEntry) -> UInt16? {
    for case .maximumSegmentSize(let mss) in tcpOptions(entry) where entry.has(FlagBits.syn) { return mss }
    return nil
  }

  /// `[bad TCP checksum 0xdead, should be 0x3271]` for a segment whose checksum is wrong (and
  /// not merely left unfinished by the kernel's offload), else `nil`.
  public static func checksumMark(_ entry: TranscriptEntry) -> String? {
    guard !entry.checksumNotReady, let (tcp, pseudo) = entry.tcpSegment else { return nil }
    guard !tcp.isChecksumValid(pseudoHeader: pseudo) else { return nil }
    let right = tcp.computedChecksum(pseudoHeader: pseudo)
    return "[bad TCP checksum 0x\(hex(tcp.checksum)), should be 0x\(hex(right))]"
  }

  static func hex(_ value: UInt16) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
  }

  /// Seconds from `first`'s timestamp to `entry`'s, microseconds shown (`0.000123`): the same
  /// timestamps the capture files carry, so Wireshark's relative time column agrees.
  public static func time(_ entry: TranscriptEntry, since first: TranscriptEntry) -> String {
    let nanos =
      (entry.timestampSeconds - first.timestampSeconds) * 1_000_000_000
      + Int64(entry.timestampNanoseconds) - Int64(first.timestampNanoseconds)
    let micros = max(0, nanos) / 1000
    let fraction = String(micros % 1_000_000)
    return "\(micros / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
  }

  /// The comment written on a packet in `--pcapng`: the lesson and both ends' states.
  public static func comment(_ entry: TranscriptEntry, index: Int, among entries: [TranscriptEntry], peers: PeerStates) -> String {
    var text = "#\(index + 1) \(entry.direction == .sent ? "sent by us" : "from the peer"): \(entry.flagNames)"
    text += " | us: \(entry.stateChange)"
    if peers.after.indices.contains(index), let peerAfter = peers.after[index] {
      let peerBefore = index == 0 ? peers.initial : peers.after[index - 1]
      text += " | peer: " + (peerBefore.map { $0 == peerAfter ? peerAfter : "\($0) → \(peerAfter)" } ?? peerAfter)
    } else if let reason = peers.unknownReason {
      text += " | \(reason)"
    }
    if let lesson = fullExplanation(entry, among: entries) { text += " | " + lesson }
    if let note = entry.note { text += " (\(note))" }
    return text
  }

  /// The transcript as a pcapng file (LINKTYPE_RAW: IPv4 and IPv6 alike), each packet with its
  /// `comment`.
  public static func pcapng(_ transcript: Transcript) -> [UInt8] {
    let entries = transcript.entries
    let peers = PeerStates(entries)
    let writer = PcapNGWriter(linkType: .raw, application: "tcpcraft")
    var file: [UInt8] = []
    writer.appendHeader(to: &file)
    for (index, entry) in entries.enumerated() {
      writer.appendPacket(
        entry.wirePacket, timestampSeconds: UInt64(clamping: entry.timestampSeconds),
        timestampNanoseconds: UInt32(clamping: entry.timestampNanoseconds),
        comment: comment(entry, index: index, among: entries, peers: peers), to: &file)
    }
    return file
  }

  /// `tcpcraft: 127.0.0.1:57273 → 127.0.0.1:8080` for the SVG page.
  public static func title(local: String, remote: String) -> String { "tcpcraft: \(local) ⇄ \(remote)" }
}
