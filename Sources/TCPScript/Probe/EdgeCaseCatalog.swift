import PacketKit

/// The named edge cases. Each expectation is read from the RFC named beside it (RFC 9293 for
/// TCP's event processing, RFC 5961 for blind-attack defences, RFC 7323 for timestamps and
/// window scaling, RFC 1122 for host requirements, RFC 791/815 for IPv4 and reassembly).
public enum EdgeCaseCatalog {
  /// Every case, in the order `probe --all` runs them.
  public static let all: [EdgeCase] = closedPort + listening + malformedTCP + established + ipv4

  /// The case called `name`, if any.
  public static func named(_ name: String) -> EdgeCase? { all.first { $0.name == name } }

  static let data: [UInt8] = Array("tcpcraft".utf8)
  static let everyFlag: TCPFlags = [.fin, .syn, .rst, .psh, .ack, .urg, .ece, .cwr, .ns]

  // MARK: - A port nothing listens on (RFC 9293 §3.10.7.1)

  static let closedPortRule =
    "CLOSED: a segment without RST draws a RST; if ACK is off <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, "
    + "if ACK is on <SEQ=SEG.ACK><CTL=RST>; an incoming RST is discarded"

  static let closedPort: [EdgeCase] = [
    EdgeCase(
      name: "closed-syn", summary: "SYN to a port nothing listens on", setup: .closedPort,
      rfc: "RFC 9293 §3.10.7.1", requirement: .procedure, rule: closedPortRule,
      expected: .reset(seq: .zero, ack: .segmentSeqPlusLength)
    ) { c in c.single(c.tcp(.syn)) },
    EdgeCase(
      name: "closed-ack", summary: "ACK to a port nothing listens on", setup: .closedPort,
      rfc: "RFC 9293 §3.10.7.1", requirement: .procedure, rule: closedPortRule,
      expected: .reset(seq: .segmentAck, ack: nil)
    ) { c in c.single(c.tcp(.ack)) },
    EdgeCase(
      name: "closed-no-flags", summary: "a segment with no flags at all, 8 bytes of data, to a closed port",
      setup: .closedPort, rfc: "RFC 9293 §3.10.7.1", requirement: .procedure, rule: closedPortRule,
      expected: .reset(seq: .zero, ack: .segmentSeqPlusLength)
    ) { c in c.single(c.tcp([]), payload: data) },
    EdgeCase(
      name: "closed-rst", summary: "RST to a closed port", setup: .closedPort,
      rfc: "RFC 9293 §3.10.7.1", requirement: .procedure, rule: closedPortRule, expected: .silentDrop
    ) { c in c.single(c.tcp(.rst)) },
  ]

  // MARK: - The listening port (RFC 9293 §3.10.7.2)

  static let listening: [EdgeCase] = [
    EdgeCase(
      name: "listen-syn", summary: "a plain SYN (the baseline)", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN, third check: a SYN is answered <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with RCV.NXT = SEG.SEQ+1",
      expected: .synAcknowledged
    ) { c in c.single(c.tcp(.syn, options: [.maximumSegmentSize(1460)])) },
    EdgeCase(
      name: "listen-ack", summary: "an ACK to the listening port, no connection", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN, second check: any acknowledgment is bad; answer <SEQ=SEG.ACK><CTL=RST>",
      expected: .reset(seq: .segmentAck, ack: nil)
    ) { c in c.single(c.tcp(.ack)) },
    EdgeCase(
      name: "listen-syn-ack", summary: "a SYN+ACK to the listening port", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN: the ACK check comes before the SYN check; an ACK-bearing segment draws <SEQ=SEG.ACK><CTL=RST>",
      expected: .reset(seq: .segmentAck, ack: nil)
    ) { c in c.single(c.tcp([.syn, .ack])) },
    EdgeCase(
      name: "listen-syn-data", summary: "a SYN carrying 8 bytes of data", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN: RCV.NXT = SEG.SEQ+1 and the SYN,ACK acknowledges the SYN; \"any other control or text should be "
        + "queued for processing later\" (lower-case should: no requirement). Checked by completing the handshake "
        + "and, if the data is not acknowledged then, sending it again",
      expected: .synDataQueued
    ) { c in c.single(c.tcp(.syn), payload: data) },
    EdgeCase(
      name: "listen-syn-fin", summary: "SYN+FIN to the listening port", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .implied,
      rule: "LISTEN, third check: SYN set, so answer SYN,ACK; the FIN is other control \"queued for processing later\"",
      expected: .synAcknowledged,
      allowedDrop: AllowedDrop(
        reason: "SYN+FIN opens nothing a real client sends and is a scanner's signature (Linux drops it in LISTEN)",
        rfc: "RFC 9293 §3.10.7.2 sets no BCP 14 requirement for it")
    ) { c in c.single(c.tcp([.syn, .fin])) },
    EdgeCase(
      name: "listen-syn-rst", summary: "SYN+RST to the listening port", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN, first check: an incoming RST is ignored (checked before the SYN)", expected: .silentDrop
    ) { c in c.single(c.tcp([.syn, .rst])) },
    EdgeCase(
      name: "listen-fin", summary: "FIN without ACK to the listening port", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN, fourth check: any other segment (no SYN, no ACK, no RST) is dropped", expected: .silentDrop
    ) { c in c.single(c.tcp(.fin)) },
    EdgeCase(
      name: "listen-no-flags", summary: "no flags at all to the listening port", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN, fourth check: a segment without SYN, ACK or RST is dropped", expected: .silentDrop
    ) { c in c.single(c.tcp([]), payload: data) },
    EdgeCase(
      name: "listen-every-flag", summary: "every flag set (NS CWR ECE URG ACK PSH RST SYN FIN)", setup: .listening,
      rfc: "RFC 9293 §3.10.7.2", requirement: .procedure,
      rule: "LISTEN, first check: an incoming RST is ignored, whatever else is set", expected: .silentDrop
    ) { c in
      var tcp = c.tcp(everyFlag)
      tcp.urgentPointer = 1
      return c.single(tcp, payload: data)
    },
  ]

  // MARK: - Malformed TCP headers and options, sent as SYNs to the listening port

  static let optionRule =
    "MUST-7: \"TCP implementations MUST be prepared to handle an illegal option length (e.g., zero); "
    + "a suggested procedure is to reset the connection and log the error cause\": any reaction that leaves the "
    + "target working conforms (a LISTEN has no connection to reset; the reset is only a suggestion)"

  /// `count` NOPs: filler so that a bad option has that many option bytes after it.
  static func nops(_ count: Int) -> [TCPOption] { Array(repeating: .noOperation, count: count) }

  static let malformedTCP: [EdgeCase] = [
    EdgeCase(
      name: "tcp-bad-checksum", summary: "SYN with a wrong TCP checksum", setup: .listening,
      rfc: "RFC 9293 §3.1 (MUST-2, MUST-3); RFC 1122 §4.2.2.7", requirement: .must,
      rule: "the receiver MUST check the checksum; a segment that fails it is discarded", expected: .silentDrop
    ) { c in
      var tcp = c.tcp(.syn)
      tcp.checksum = wrongChecksum(c.ip(), tcp, [])
      return c.single(tcp)
    },
    EdgeCase(
      name: "tcp-data-offset-short", summary: "SYN whose data offset is 4 (16 bytes, below the 20-byte header)",
      setup: .listening, rfc: "RFC 9293 §3.1", requirement: .implied,
      rule: "Data Offset counts 32-bit words of a header that is at least 5 words; a shorter header cannot be parsed: discard",
      expected: .silentDrop
    ) { c in
      var tcp = c.tcp(.syn)
      tcp.dataOffset = 4
      return c.single(tcp)
    },
    EdgeCase(
      name: "tcp-data-offset-long", summary: "SYN whose data offset is 15 (60 bytes) in a 20-byte segment",
      setup: .listening, rfc: "RFC 9293 §3.1", requirement: .implied,
      rule: "a header longer than the segment cannot be parsed: discard", expected: .silentDrop
    ) { c in
      var tcp = c.tcp(.syn)
      tcp.dataOffset = 15
      return c.single(tcp)
    },
    EdgeCase(
      name: "tcp-option-length-0", summary: "SYN with an option of kind 99 and length 0 (4 option bytes from it on)",
      setup: .listening, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp(.syn, options: [.raw(kind: 99, bytes: [0, 0, 0])])) },
    EdgeCase(
      name: "tcp-option-length-0-long", summary: "SYN with an option of kind 99 and length 0, 20 option bytes from it on",
      setup: .listening, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp(.syn, options: [.raw(kind: 99, bytes: [0])] + nops(18))) },
    EdgeCase(
      name: "tcp-option-length-1", summary: "SYN with an MSS option of length 1 (4 option bytes from it on)",
      setup: .listening, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp(.syn, options: [.raw(kind: 2, bytes: [1, 0, 0])])) },
    EdgeCase(
      name: "tcp-mss-length-0-long", summary: "SYN with an MSS option of length 0, then 18 more option bytes",
      setup: .listening, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp(.syn, options: [.raw(kind: 2, bytes: [0])] + nops(18))) },
    EdgeCase(
      name: "tcp-option-overrun", summary: "SYN with an MSS option claiming 40 bytes in a 4-byte option area",
      setup: .listening, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp(.syn, options: [.raw(kind: 2, bytes: [40, 0x05, 0xb4])])) },
    EdgeCase(
      name: "tcp-option-overrun-long", summary: "SYN with an option claiming 40 bytes at the start of a 20-byte option area",
      setup: .listening, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp(.syn, options: [.raw(kind: 99, bytes: [40])] + nops(18))) },
    EdgeCase(
      name: "tcp-option-bad-last", summary: "SYN with MSS and timestamps, then a last option of length 1",
      setup: .listening, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in
      c.single(
        c.tcp(.syn, options: [
          .maximumSegmentSize(1460), .noOperation, .noOperation, .timestamps(value: 1, echoReply: 0),
          .raw(kind: 30, bytes: [1, 0, 0]),
        ]))
    },
    EdgeCase(
      name: "tcp-option-unknown", summary: "SYN with unknown options (kinds 99 and 254, well formed)", setup: .listening,
      rfc: "RFC 9293 §3.2 (MUST-5)", requirement: .must,
      rule: "a TCP MUST ignore without error any option it does not implement, assuming it has a length field",
      expected: .synAcknowledged
    ) { c in
      c.single(c.tcp(.syn, options: [.unknown(kind: 99, data: [1, 2]), .unknown(kind: 254, data: [0xAB, 0xCD]), .maximumSegmentSize(1460)]))
    },
    EdgeCase(
      name: "tcp-mss-zero", summary: "SYN with MSS 0", setup: .listening,
      rfc: "RFC 9293 §3.7.1, §3.2 (MUST-4, MUST-5)", requirement: .implied,
      rule: "MSS limits what the target may send; no rule refuses a connection for its value: SYN,ACK",
      expected: .synAcknowledged
    ) { c in c.single(c.tcp(.syn, options: [.maximumSegmentSize(0)])) },
    EdgeCase(
      name: "tcp-window-scale-15", summary: "SYN with window scale 15 (above the limit of 14)", setup: .listening,
      rfc: "RFC 7323 §2.3", requirement: .must,
      rule: "a shift count above 14: the TCP SHOULD log the error but MUST use 14 instead; the connection proceeds",
      expected: .windowScaleClamped
    ) { c in c.single(c.tcp(.syn, options: [.maximumSegmentSize(1460), .noOperation, .windowScale(15)])) },
    EdgeCase(
      name: "tcp-reserved-bits", summary: "SYN with the three reserved header bits set", setup: .listening,
      rfc: "RFC 9293 §3.1", requirement: .implied,
      rule: "reserved bits \"must be zero\" when sent; nothing tells a receiver to refuse them: SYN,ACK",
      expected: .synAcknowledged
    ) { c in
      var tcp = c.tcp(.syn)
      tcp.reserved = 7
      return c.single(tcp)
    },
  ]

  // MARK: - In a connection we opened by hand (RFC 9293 §3.10.7.4, RFC 5961, RFC 7323)

  static let unacceptableRule =
    "first check: a segment whose seq is not acceptable draws <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and is dropped"

  static let established: [EdgeCase] = [
    EdgeCase(
      name: "est-data", summary: "8 bytes of data in order (the baseline)", setup: .established,
      rfc: "RFC 9293 §3.10.7.4", requirement: .procedure,
      rule: "seventh step: in-order text is accepted and acknowledged (<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>)",
      expected: .dataAcknowledged
    ) { c in c.single(c.tcp([.psh, .ack]), payload: data) },
    EdgeCase(
      name: "est-rst-exact", summary: "RST with seq = RCV.NXT exactly", setup: .established,
      rfc: "RFC 5961 §3.2; RFC 9293 §3.10.7.4", requirement: .must,
      rule: "a RST whose seq exactly matches RCV.NXT MUST reset the connection", expected: .connectionReset
    ) { c in c.single(c.tcp(.rst, ack: 0)) },
    EdgeCase(
      name: "est-rst-in-window", summary: "RST inside the window but not at RCV.NXT", setup: .established,
      rfc: "RFC 5961 §3.2; RFC 9293 §3.10.7.4", requirement: .must,
      rule: "a RST in the window but not exactly at RCV.NXT MUST draw a challenge ACK; the connection stays",
      expected: .challengeACK
    ) { c in c.single(c.tcp(.rst, seq: c.sequence &+ UInt32(max(1, c.peerWindow / 2)), ack: 0)) },
    EdgeCase(
      name: "est-rst-out-of-window", summary: "RST far outside the window", setup: .established,
      rfc: "RFC 5961 §3.2; RFC 9293 §3.10.7.4", requirement: .must,
      rule: "a RST outside the receive window is silently dropped", expected: .silentDrop
    ) { c in c.single(c.tcp(.rst, seq: c.sequence &+ 0x4000_0000, ack: 0)) },
    EdgeCase(
      name: "est-syn", summary: "SYN inside the window of an established connection", setup: .established,
      rfc: "RFC 5961 §4.2; RFC 9293 §3.10.7.4", requirement: .must,
      rule: "fourth check: a SYN, whatever its seq, MUST draw a challenge ACK; the connection stays",
      expected: .challengeACK
    ) { c in c.single(c.tcp(.syn, seq: c.sequence &+ 1)) },
    EdgeCase(
      name: "est-ack-unsent", summary: "8 bytes whose ACK acknowledges 1000 bytes the target never sent",
      setup: .established, rfc: "RFC 9293 §3.10.7.4; RFC 5961 §5.2", requirement: .procedure,
      rule: "fifth check: if SEG.ACK > SND.NXT, send an ACK, drop the segment, and return",
      expected: .duplicateACK
    ) { c in c.single(c.tcp([.psh, .ack], ack: c.acknowledgment &+ 1000), payload: data) },
    EdgeCase(
      name: "est-ack-too-old", summary: "8 bytes whose ACK lies 2^29 below SND.UNA", setup: .established,
      rfc: "RFC 5961 §5.2", requirement: .mayThenMust,
      rule: "stacks MAY adopt this mitigation; one that does MUST accept SEG.ACK only in [SND.UNA - MAX.SND.WND, SND.NXT] "
        + "and discard other segments, sending an ACK back",
      expected: .duplicateACK
    ) { c in c.single(c.tcp([.psh, .ack], ack: c.acknowledgment &- 0x2000_0000), payload: data) },
    EdgeCase(
      name: "est-seq-out-of-window", summary: "8 bytes with seq 2^30 beyond RCV.NXT", setup: .established,
      rfc: "RFC 9293 §3.10.7.4", requirement: .procedure, rule: unacceptableRule, expected: .duplicateACK
    ) { c in c.single(c.tcp([.psh, .ack], seq: c.sequence &+ 0x4000_0000), payload: data) },
    EdgeCase(
      name: "est-keepalive", summary: "a keep-alive probe: no data, seq = RCV.NXT-1", setup: .established,
      rfc: "RFC 1122 §4.2.3.6; RFC 9293 §3.10.7.4", requirement: .procedure,
      rule: unacceptableRule + " (which is how keep-alives get their answer)", expected: .duplicateACK
    ) { c in c.single(c.tcp(.ack, seq: c.sequence &- 1)) },
    EdgeCase(
      name: "est-fin-without-ack", summary: "FIN without the ACK bit in an established connection",
      setup: .established, rfc: "RFC 9293 §3.10.7.4", requirement: .procedure,
      rule: "fifth check: if the ACK bit is off, drop the segment and return", expected: .silentDrop
    ) { c in c.single(c.tcp(.fin)) },
    EdgeCase(
      name: "est-urgent-past-data", summary: "URG with 8 bytes and an urgent pointer 1000 bytes past them",
      setup: .established, rfc: "RFC 9293 §3.8.5, §3.10.7.4; RFC 1122 §4.2.2.4", requirement: .must,
      rule: "sixth step: RCV.UP = max(RCV.UP, SEG.UP); urgent data may lie beyond this segment; the text is accepted",
      expected: .dataAcknowledged
    ) { c in
      var tcp = c.tcp([.urg, .psh, .ack])
      tcp.urgentPointer = 1000
      return c.single(tcp, payload: data)
    },
    EdgeCase(
      name: "est-seq-wrap", summary: "32 bytes of data that cross the 2^32 sequence wrap (ISN 2^32-16)",
      setup: EdgeCaseSetup(.established, initialSequence: 0xFFFF_FFF0), rfc: "RFC 9293 §3.4", requirement: .procedure,
      rule: "sequence numbers are compared modulo 2^32; data across the wrap is in order and acknowledged (ack wraps)",
      expected: .dataAcknowledged
    ) { c in c.single(c.tcp([.psh, .ack]), payload: Array(repeating: 0x57, count: 32)) },
    EdgeCase(
      name: "est-paws-old-timestamp", summary: "8 bytes with a timestamp older than TS.Recent",
      setup: EdgeCaseSetup(.established, timestamps: true), rfc: "RFC 7323 §5.3 (R1)", requirement: .must,
      rule: "SEG.TSval < TS.Recent: not acceptable; send an acknowledgment and drop the segment",
      expected: .duplicateACK
    ) { c in
      let old = (c.timestampValue ?? 0) &- 100_000
      return c.single(
        c.tcp([.psh, .ack], options: [.noOperation, .noOperation, .timestamps(value: old, echoReply: c.timestampEcho ?? 0)]),
        payload: data)
    },
    EdgeCase(
      name: "est-missing-timestamp", summary: "8 bytes without a timestamp after timestamps were negotiated",
      setup: EdgeCaseSetup(.established, timestamps: true), rfc: "RFC 7323 §3.2", requirement: .should,
      rule: "once negotiated, a non-RST segment without TSopt SHOULD be silently dropped", expected: .silentDrop
    ) { c in
      var plain = c
      plain.timestampValue = nil
      return plain.single(plain.tcp([.psh, .ack]), payload: data)
    },
    EdgeCase(
      name: "est-zero-window-probe", summary: "a 1-byte probe when the target's window is zero",
      setup: EdgeCaseSetup(.established, closeWindow: true), rfc: "RFC 9293 §3.8.6.1; RFC 1122 §4.2.2.17",
      requirement: .must,
      rule: "with a zero window a TCP must still acknowledge, showing its next expected seq and its current (zero) window",
      expected: .zeroWindowACK
    ) { c in c.single(c.tcp([.ack]), payload: [0x5A]) },
    EdgeCase(
      name: "est-no-flags", summary: "8 bytes of data in order with no flags at all", setup: .established,
      rfc: "RFC 9293 §3.10.7.4", requirement: .procedure,
      rule: "fifth check: if the ACK bit is off, drop the segment and return", expected: .silentDrop
    ) { c in c.single(c.tcp([]), payload: data) },
    EdgeCase(
      name: "est-option-length-0", summary: "8 bytes of data with an option of length 0 (4 option bytes from it on)",
      setup: .established, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp([.psh, .ack], options: [.raw(kind: 99, bytes: [0, 0, 0])]), payload: data) },
    EdgeCase(
      name: "est-option-length-0-long", summary: "8 bytes of data with an option of length 0, 20 option bytes from it on",
      setup: .established, rfc: "RFC 9293 §3.2 (MUST-7)", requirement: .must, rule: optionRule, expected: .handled
    ) { c in c.single(c.tcp([.psh, .ack], options: [.raw(kind: 99, bytes: [0])] + nops(18)), payload: data) },
    EdgeCase(
      name: "est-every-flag", summary: "every flag set, seq = RCV.NXT, 8 bytes of data", setup: .established,
      rfc: "RFC 5961 §3.2; RFC 9293 §3.10.7.4", requirement: .must,
      rule: "the RST bit is checked before SYN, ACK and the text; a RST whose seq exactly matches RCV.NXT MUST reset "
        + "the connection",
      expected: .connectionReset
    ) { c in
      var tcp = c.tcp(everyFlag)
      tcp.urgentPointer = 1
      return c.single(tcp, payload: data)
    },
    EdgeCase(
      name: "est-pure-ack-unsent", summary: "a pure ACK (no data) acknowledging 1000 bytes the target never sent",
      setup: .established, rfc: "RFC 9293 §3.10.7.4; RFC 5961 §5.2", requirement: .procedure,
      rule: "fifth check: if SEG.ACK > SND.NXT, send an ACK, drop the segment, and return (Linux rate-limits "
        + "these ACKs per connection, kernel fact 10: each case has its own connection)",
      expected: .duplicateACK
    ) { c in c.single(c.tcp(.ack, ack: c.acknowledgment &+ 1000)) },
    EdgeCase(
      name: "est-old-duplicate", summary: "the 8 bytes already acknowledged, sent again (an old duplicate)",
      setup: EdgeCaseSetup(.established, preload: 8), rfc: "RFC 9293 §3.10.7.4, §3.4", requirement: .procedure,
      rule: "first check: a segment wholly before RCV.NXT is not acceptable; \"an acknowledgment should be sent in "
        + "reply\" <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, and the segment is dropped",
      expected: .duplicateACK
    ) { c in c.single(c.tcp([.psh, .ack], seq: c.sequence &- 8), payload: data) },
  ]

  // MARK: - Malformed IPv4 headers (sent at layer 2 so they stay as built), carrying a SYN

  static func syn(_ c: CraftContext) -> TCPHeader { c.tcp(.syn, options: [.maximumSegmentSize(1460)]) }

  static let ipv4: [EdgeCase] = [
    EdgeCase(
      name: "ip-bad-checksum", summary: "SYN in an IPv4 header with a wrong header checksum", setup: .listening,
      rfc: "RFC 1122 §3.2.1.2; RFC 791 §3.1", requirement: .must,
      rule: "a host MUST verify the header checksum and silently discard a datagram that fails", expected: .silentDrop,
      layer: .ipv4, needsExactIPv4Header: true
    ) { c in
      var ip = c.ip()
      let tcp = syn(c)
      ip.checksum = wrongIPv4Checksum(ip, tcp)
      return c.single(tcp, ip: ip)
    },
    EdgeCase(
      name: "ip-ihl-short", summary: "SYN in an IPv4 header whose IHL is 4 (16 bytes)", setup: .listening,
      rfc: "RFC 791 §3.1; RFC 1122 §3.2.1", requirement: .implied,
      rule: "IHL's minimum value for a correct header is 5; a shorter header cannot be parsed: discard",
      expected: .silentDrop, layer: .ipv4, needsExactIPv4Header: true
    ) { c in
      var ip = c.ip()
      ip.ihl = 4
      return c.single(syn(c), ip: ip)
    },
    EdgeCase(
      name: "ip-version-5", summary: "SYN in an IPv4 header with version 5", setup: .listening,
      rfc: "RFC 1122 §3.2.1.1", requirement: .must,
      rule: "a datagram whose version number is not 4 MUST be silently discarded", expected: .silentDrop,
      layer: .ipv4, needsExactIPv4Header: true
    ) { c in
      var ip = c.ip()
      ip.version = 5
      return c.single(syn(c), ip: ip)
    },
    EdgeCase(
      name: "ip-total-length-long", summary: "SYN whose IPv4 total length is 20 bytes more than the frame holds",
      setup: .listening, rfc: "RFC 791 §3.1; RFC 1122 §3.2.1", requirement: .implied,
      rule: "Total Length is the datagram's length; a frame that holds less is a truncated datagram: discard",
      expected: .silentDrop, layer: .ipv4, needsExactIPv4Header: true
    ) { c in
      var ip = c.ip()
      let tcp = syn(c)
      ip.totalLength = UInt16(truncatingIfNeeded: ip.encodedLength + tcp.encodedLength + 20)
      return c.single(tcp, ip: ip)
    },
    EdgeCase(
      name: "ip-total-length-short", summary: "SYN followed by 16 bytes past the IPv4 total length",
      setup: .listening, rfc: "RFC 791 §3.1", requirement: .implied,
      rule: "the datagram ends at Total Length; what follows in the frame is link padding and is ignored: SYN,ACK",
      expected: .synAcknowledged, layer: .ipv4, needsExactIPv4Header: true
    ) { c in
      var crafted = c.single(syn(c))
      crafted.trailer = Array(repeating: 0xEE, count: 16)
      return crafted
    },
    EdgeCase(
      name: "ip-ttl-0", summary: "SYN with TTL 0", setup: .listening,
      rfc: "RFC 1122 §3.2.1.7", requirement: .must,
      rule: "a host MUST NOT discard a datagram just because it was received with TTL less than 2: SYN,ACK",
      expected: .synAcknowledged, layer: .ipv4
    ) { c in
      var ip = c.ip()
      ip.timeToLive = 0
      return c.single(syn(c), ip: ip)
    },
    EdgeCase(
      name: "ip-reserved-flag", summary: "SYN with the reserved IPv4 flag bit set", setup: .listening,
      rfc: "RFC 791 §3.1", requirement: .implied,
      rule: "bit 0 is reserved and must be zero when sent; no rule tells a receiver to discard it: SYN,ACK",
      expected: .synAcknowledged, layer: .ipv4
    ) { c in
      var ip = c.ip()
      ip.flags = [.reserved, .dontFragment]
      return c.single(syn(c), ip: ip)
    },
    EdgeCase(
      name: "ip-tiny-fragments", summary: "SYN split into an 8-byte first fragment and the rest", setup: .listening,
      rfc: "RFC 791 §3.2; RFC 815", requirement: .must,
      rule: "fragments are reassembled into the original datagram, however small: SYN,ACK",
      expected: .synAcknowledged, layer: .ipv4
    ) { c in fragments(c, syn(c), [(0, 8), (8, nil)]) },
    EdgeCase(
      name: "ip-overlapping-fragments", summary: "SYN in two fragments that overlap by 8 identical bytes",
      setup: .listening, rfc: "RFC 791 §3.2; RFC 815", requirement: .implied,
      rule: "the reassembly procedure fills the datagram from every fragment; identical overlapping bytes give the original: SYN,ACK",
      expected: .synAcknowledged, layer: .ipv4,
      allowedDrop: AllowedDrop(
        reason: "overlapping fragments are discarded whole, so that no overlap can rewrite what a filter saw",
        rfc: "RFC 5722 (IPv6's MUST, which Linux applies to IPv4 too); RFC 1858 §4")
    ) { c in fragments(c, syn(c), [(0, 16), (8, nil)]) },
    EdgeCase(
      name: "ip-duplicate-fragment", summary: "SYN in two fragments; the first sent twice, the second copy corrupted",
      setup: .listening, rfc: "RFC 791 §3.2; RFC 5722 §4", requirement: .implied,
      rule: "a duplicate adds nothing: the first copy is kept (a later copy that rewrote it would break the checksum "
        + "here and the SYN would be lost): SYN,ACK",
      expected: .synAcknowledged, layer: .ipv4
    ) { c in
      var crafted = fragments(c, syn(c), [(0, 16), (16, nil)])
      guard crafted.packets.count == 2, case .payload(var bytes)? = crafted.packets[0].layers.last, bytes.count == 16 else {
        return crafted
      }
      bytes[14] ^= 0xFF
      var copy = crafted.packets[0]
      copy.layers[copy.layers.count - 1] = .payload(bytes)
      crafted.packets.insert(copy, at: 1)
      return crafted
    },
    EdgeCase(
      name: "ip-total-length-into-tcp", summary: "SYN whose IPv4 total length ends 10 bytes into the TCP header",
      setup: .listening, rfc: "RFC 791 §3.1; RFC 9293 §3.1", requirement: .implied,
      rule: "the datagram ends at Total Length, so it holds 10 bytes of a 20-byte TCP header: it cannot be parsed, discard",
      expected: .silentDrop, layer: .ipv4, needsExactIPv4Header: true
    ) { c in
      var ip = c.ip()
      let tcp = syn(c)
      ip.totalLength = UInt16(truncatingIfNeeded: ip.encodedLength + 10)
      return c.single(tcp, ip: ip)
    },
    EdgeCase(
      name: "ip-option-length-0", summary: "SYN with an IPv4 record-route option of length 0", setup: .listening,
      rfc: "RFC 1122 §3.2.2.5; RFC 791 §3.1", requirement: .should,
      rule: "a datagram whose header cannot be processed is discarded; a host SHOULD send ICMP Parameter Problem",
      expected: .icmpParameterProblem, layer: .ipv4
    ) { c in
      var ip = c.ip()
      ip.options = [.raw(kind: 7, bytes: [0, 0, 0])]
      return c.single(syn(c), ip: ip)
    },
    EdgeCase(
      name: "ip-option-overrun", summary: "SYN with an IPv4 option claiming 39 bytes in a 4-byte option area",
      setup: .listening, rfc: "RFC 1122 §3.2.2.5; RFC 791 §3.1", requirement: .should,
      rule: "a datagram whose header cannot be processed is discarded; a host SHOULD send ICMP Parameter Problem",
      expected: .icmpParameterProblem, layer: .ipv4
    ) { c in
      var ip = c.ip()
      ip.options = [.raw(kind: 7, bytes: [39, 4, 0])]
      return c.single(syn(c), ip: ip)
    },
    EdgeCase(
      name: "ip-option-unknown", summary: "SYN with an unknown (experimental, kind 30) IPv4 option", setup: .listening,
      rfc: "RFC 1122 §3.2.1.8", requirement: .must,
      rule: "IP and transport MUST interpret the options they understand and silently ignore the others: SYN,ACK",
      expected: .synAcknowledged, layer: .ipv4
    ) { c in
      var ip = c.ip()
      ip.options = [.unknown(kind: 30, data: [0, 0])]
      return c.single(syn(c), ip: ip)
    },
  ]

  // MARK: - Helpers

  /// A checksum value that is certainly not the right one for this segment.
  static func wrongChecksum(_ ip: IPv4Header, _ tcp: TCPHeader, _ payload: [UInt8]) -> UInt16 {
    let right = (try? (ip / tcp / payload).resolved().tcp?.checksum ?? 0) ?? 0
    return right ^ 0x5A5A
  }

  static func wrongIPv4Checksum(_ ip: IPv4Header, _ tcp: TCPHeader) -> UInt16 {
    let right = (try? (ip / tcp).resolved().ipv4?.checksum ?? 0) ?? 0
    return right ^ 0x5A5A
  }

  /// The segment `tcp` (with its checksum computed) split into IPv4 fragments: each piece is
  /// (byte offset, length or `nil` for the rest); offsets must be multiples of 8.
  static func fragments(_ c: CraftContext, _ tcp: TCPHeader, _ pieces: [(Int, Int?)]) -> CraftedPackets {
    var whole = c.ip()
    whole.flags = []
    let reference = CraftedSegment(tcp, payloadLength: 0)
    guard let segment = try? (whole / tcp).encoded().dropFirst(whole.encodedLength) else {
      return CraftedPackets(packets: [], reference: reference)
    }
    let bytes = Array(segment)
    var packets: [Packet] = []
    for (index, piece) in pieces.enumerated() {
      let start = min(piece.0, bytes.count)
      let end = piece.1.map { min(bytes.count, start + $0) } ?? bytes.count
      var ip = whole
      ip.protocol = .tcp
      ip.fragmentOffset = UInt16(truncatingIfNeeded: start / 8)
      if index < pieces.count - 1 { ip.flags = [.moreFragments] }
      packets.append(ip / Array(bytes[start..<end]))
    }
    return CraftedPackets(packets: packets, reference: reference)
  }
}
