// Verdicts from hand-written observations: what the judge says for replies a stack could send.
import PacketKit
import Testing
@testable import TCPScript

struct ProbeJudgeTests {
  static let syn = CraftedSegment(sequence: 1000, acknowledgment: 0, flags: .syn, payloadLength: 0)
  static let ack = CraftedSegment(sequence: 1000, acknowledgment: 5000, flags: .ack, payloadLength: 0)
  static let connection = ConnectionNumbers(ourNext: 1000, peerNext: 7000)

  @Test("RST,ACK seq 0 ack SEG.SEQ+SEG.LEN for a SYN to a closed port")
  func closedPortReset() {
    let expected = ExpectedReaction.reset(seq: .zero, ack: .segmentSeqPlusLength)
    let right = Conformance.judge(expected: expected, segment: Self.syn, replies: [ProbeReply(flags: [.rst, .ack], seq: 0, ack: 1001)])
    #expect(right.verdict == .conforms)
    let wrongAck = Conformance.judge(expected: expected, segment: Self.syn, replies: [ProbeReply(flags: [.rst, .ack], seq: 0, ack: 1000)])
    #expect(wrongAck.verdict == .deviates)
    #expect(wrongAck.observed.contains("wanted seq 0 ack 1001"))
    let noAckBit = Conformance.judge(expected: expected, segment: Self.syn, replies: [ProbeReply(flags: .rst, seq: 0, ack: 1001)])
    #expect(noAckBit.verdict == .deviates)
    #expect(Conformance.judge(expected: expected, segment: Self.syn, replies: []).verdict == .noReply)
    let synAck = Conformance.judge(expected: expected, segment: Self.syn, replies: [ProbeReply(flags: [.syn, .ack], seq: 9, ack: 1001)])
    #expect(synAck.verdict == .deviates)
  }

  @Test("RST seq SEG.ACK for an ACK")
  func resetForACK() {
    let expected = ExpectedReaction.reset(seq: .segmentAck, ack: nil)
    #expect(Conformance.judge(expected: expected, segment: Self.ack, replies: [ProbeReply(flags: .rst, seq: 5000, ack: 0)]).verdict == .conforms)
    #expect(Conformance.judge(expected: expected, segment: Self.ack, replies: [ProbeReply(flags: .rst, seq: 4999, ack: 0)]).verdict == .deviates)
  }

  @Test("SYN,ACK must acknowledge the SYN alone")
  func synAcknowledged() {
    let ok = Conformance.judge(expected: .synAcknowledged, segment: Self.syn, replies: [ProbeReply(flags: [.syn, .ack], seq: 1, ack: 1001)])
    #expect(ok.verdict == .conforms)
    let acksData = CraftedSegment(sequence: 1000, acknowledgment: 0, flags: .syn, payloadLength: 8)
    let withData = Conformance.judge(expected: .synAcknowledged, segment: acksData, replies: [ProbeReply(flags: [.syn, .ack], seq: 1, ack: 1009)])
    #expect(withData.verdict == .deviates, "the data in a SYN is queued, not acknowledged by the SYN,ACK")
  }

  @Test("Challenge ACK: seq = SND.NXT, ack = RCV.NXT; accepting the segment deviates")
  func challengeACK() {
    let rst = CraftedSegment(sequence: 1500, acknowledgment: 0, flags: .rst, payloadLength: 0)
    let good = Conformance.judge(
      expected: .challengeACK, segment: rst, replies: [ProbeReply(flags: .ack, seq: 7000, ack: 1000)], connection: Self.connection)
    #expect(good.verdict == .conforms)
    let wrongSeq = Conformance.judge(
      expected: .challengeACK, segment: rst, replies: [ProbeReply(flags: .ack, seq: 7001, ack: 1000)], connection: Self.connection)
    #expect(wrongSeq.verdict == .deviates)
    let reset = Conformance.judge(
      expected: .challengeACK, segment: rst, replies: [ProbeReply(flags: .ack, seq: 7000, ack: 1000)], connection: Self.connection,
      fate: .gone("RST"))
    #expect(reset.verdict == .deviates, "a challenge ACK and then a dead connection is not conforming")
  }

  @Test("Zero-window ACK needs window 0 and an unchanged ack")
  func zeroWindow() {
    let probe = CraftedSegment(sequence: 1000, acknowledgment: 7000, flags: .ack, payloadLength: 1)
    #expect(
      Conformance.judge(
        expected: .zeroWindowACK, segment: probe, replies: [ProbeReply(flags: .ack, seq: 7000, ack: 1000, window: 0)],
        connection: Self.connection
      ).verdict == .conforms)
    #expect(
      Conformance.judge(
        expected: .zeroWindowACK, segment: probe, replies: [ProbeReply(flags: .ack, seq: 7000, ack: 1001, window: 0)],
        connection: Self.connection
      ).verdict == .deviates)
  }

  @Test("Data acknowledged across the 2^32 wrap")
  func dataAcrossWrap() {
    let data = CraftedSegment(sequence: 0xFFFF_FFF1, acknowledgment: 7000, flags: [.psh, .ack], payloadLength: 32)
    #expect(Conformance.judge(expected: .dataAcknowledged, segment: data, replies: [ProbeReply(flags: .ack, seq: 7000, ack: 0x11)]).verdict == .conforms)
    #expect(Conformance.judge(expected: .dataAcknowledged, segment: data, replies: [ProbeReply(flags: .ack, seq: 7000, ack: 0xFFFF_FFF1)]).verdict == .deviates)
  }

  @Test("Silence: a drop conforms; a reset needs the connection gone")
  func silence() {
    #expect(Conformance.judge(expected: .silentDrop, segment: Self.ack, replies: []).verdict == .conforms)
    #expect(Conformance.judge(expected: .silentDrop, segment: Self.ack, replies: [ProbeReply(flags: .ack, seq: 1, ack: 2)]).verdict == .deviates)
    let rst = CraftedSegment(sequence: 1000, acknowledgment: 0, flags: .rst, payloadLength: 0)
    #expect(Conformance.judge(expected: .connectionReset, segment: rst, replies: [], fate: .gone("RST")).verdict == .conforms)
    #expect(Conformance.judge(expected: .connectionReset, segment: rst, replies: [], fate: .alive("ACK")).verdict == .deviates)
  }

  @Test("ICMP parameter problem")
  func parameterProblem() {
    #expect(Conformance.judge(expected: .icmpParameterProblem, segment: Self.syn, replies: [ProbeReply(icmpType: 12, code: 0)]).verdict == .conforms)
    #expect(Conformance.judge(expected: .icmpParameterProblem, segment: Self.syn, replies: []).verdict == .noReply)
    #expect(
      Conformance.judge(expected: .icmpParameterProblem, segment: Self.syn, replies: [ProbeReply(flags: [.syn, .ack], seq: 1, ack: 1001)])
        .verdict == .deviates)
  }

  @Test("Kernel counters: /proc/net/snmp line pairs, named as nstat names them; rises only")
  func counters() {
    // Hand-written in the layout of /proc/net/snmp and /proc/net/netstat.
    let before = """
      Ip: Forwarding DefaultTTL InReceives InHdrErrors
      Ip: 2 64 100 3
      Tcp: RtoAlgorithm InCsumErrors CurrEstab
      Tcp: 1 7 4
      TcpExt: SyncookiesSent PAWSEstab
      TcpExt: 0 2
      """
    let after = """
      Ip: Forwarding DefaultTTL InReceives InHdrErrors
      Ip: 2 64 101 3
      Tcp: RtoAlgorithm InCsumErrors CurrEstab
      Tcp: 1 8 3
      TcpExt: SyncookiesSent PAWSEstab
      TcpExt: 0 2
      """
    var a: [String: Int64] = [:]
    var b: [String: Int64] = [:]
    KernelCounters.parse(before, into: &a)
    KernelCounters.parse(after, into: &b)
    #expect(a["TcpInCsumErrors"] == 7 && a["TcpExtPAWSEstab"] == 2 && a["IpInHdrErrors"] == 3)
    let rises = KernelCounters(values: b).rises(since: KernelCounters(values: a))
    #expect(rises.map(\.name) == ["IpInReceives", "TcpInCsumErrors"])
    #expect(rises.map(\.rise) == [1, 1])
  }

  @Test("Parsing a captured reply: a TCP segment to our port; other ports and truncated packets are ignored")
  func replyParsing() throws {
    // 10.0.0.2.8080 > 10.0.0.99.40000: Flags [R.], seq 0, ack 1001, win 0, length 0 (written by hand)
    let rst: [UInt8] = [  // checksums computed by hand (RFC 1071): IPv4 0x266c, TCP 0xdbb2
      0x45, 0x00, 0x00, 0x28, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x26, 0x6C, 0x0A, 0x00, 0x00, 0x02, 0x0A, 0x00, 0x00, 0x63,
      0x1F, 0x90, 0x9C, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE9, 0x50, 0x14, 0x00, 0x00, 0xDB, 0xB2, 0x00, 0x00,
    ]
    let local = Endpoint(address: IPv4Address(10, 0, 0, 99), port: 40000)
    let packet = CapturedPacket(bytes: rst, timestampSeconds: 1, timestampNanoseconds: 2, checksumNotReady: false)
    let reply = try #require(ProbeReply(packet, local: local, remotePort: 8080))
    #expect(reply.flags == [.rst, .ack] && reply.sequenceNumber == 0 && reply.acknowledgmentNumber == 1001)
    #expect(reply.summary.hasPrefix("IP 10.0.0.2.8080 > 10.0.0.99.40000: Flags [R.], seq 0, ack 1001"))
    #expect(ProbeReply(packet, local: Endpoint(address: IPv4Address(10, 0, 0, 99), port: 40001), remotePort: 8080) == nil)
    #expect(ProbeReply(packet, local: local, remotePort: 8081) == nil)
    let truncated = CapturedPacket(bytes: Array(rst[0..<30]), timestampSeconds: 0, timestampNanoseconds: 0, checksumNotReady: false)
    #expect(ProbeReply(truncated, local: local, remotePort: 8080) == nil)
  }

  static func edgeCase(_ name: String) -> EdgeCase? { EdgeCaseCatalog.named(name) }

  @Test("A failed positive control makes any verdict inconclusive: path broken")
  func controlFailure() throws {
    let edgeCase = try #require(Self.edgeCase("closed-rst"))
    let silent = Conformance.judge(expected: .silentDrop, segment: Self.syn, replies: [])
    #expect(silent.verdict == .conforms)
    let broken = Conformance.settle(silent, edgeCase: edgeCase, replies: [], control: .failed("after the case: nothing"))
    #expect(broken.verdict == .inconclusive && broken.observed.hasPrefix("path broken (after the case: nothing)"))
    let fine = Conformance.settle(silent, edgeCase: edgeCase, replies: [], control: .passed(["after: RST"]))
    #expect(fine.verdict == .conforms)
  }

  @Test("Silence with a known deliberate drop is 'dropped' with reason and RFC; a suggestion is 'no requirement'")
  func droppedAndSuggested() throws {
    let synFin = try #require(Self.edgeCase("listen-syn-fin"))
    let judged = Conformance.judge(expected: synFin.expected, segment: Self.syn, replies: [])
    #expect(judged.verdict == .noReply)
    let settled = Conformance.settle(judged, edgeCase: synFin, replies: [], control: .passed([]))
    #expect(settled.verdict == .dropped && settled.observed.contains("RFC 9293"))
    // A reply that is wrong is still a deviation, drop or not.
    let reset = [ProbeReply(flags: [.rst, .ack], seq: 0, ack: 1001)]
    let wrong = Conformance.settle(
      Conformance.judge(expected: synFin.expected, segment: Self.syn, replies: reset), edgeCase: synFin, replies: reset,
      control: .passed([]))
    #expect(wrong.verdict == .deviates)
    let suggested = EdgeCase(
      name: "x", summary: "x", setup: .listening, rfc: "RFC 9293 §3.2", requirement: .suggested, rule: "suggested",
      expected: .reset(seq: .zero, ack: .segmentSeqPlusLength)
    ) { c in c.single(c.tcp(.syn)) }
    let noReset = Conformance.settle(
      Conformance.judge(expected: suggested.expected, segment: Self.syn, replies: []), edgeCase: suggested, replies: [],
      control: .passed([]))
    #expect(noReset.verdict == .noRequirement)
  }

  @Test("Option-length cases ask only what MUST-7 asks: any reaction, the target working afterwards")
  func optionLengthHandled() throws {
    for name in ["tcp-option-length-0", "tcp-option-length-0-long", "tcp-mss-length-0-long", "est-option-length-0-long"] {
      let edgeCase = try #require(Self.edgeCase(name))
      #expect(edgeCase.expected == .handled && edgeCase.requirement == .must)
    }
    #expect(Conformance.judge(expected: .handled, segment: Self.syn, replies: []).verdict == .conforms)
    let accepted = Conformance.judge(expected: .handled, segment: Self.syn, replies: [ProbeReply(flags: [.syn, .ack], seq: 1, ack: 1001)])
    #expect(accepted.verdict == .conforms)
    // No requirement level is stronger than its words: no suggested case is judged as MUST.
    #expect(!EdgeCaseCatalog.all.contains { $0.rule.contains("suggested procedure") && $0.expected != .handled })
  }

  @Test("SYN data: acknowledged at once or once established conforms; only when resent is 'partly'")
  func synData() {
    let segment = CraftedSegment(sequence: 1000, acknowledgment: 0, flags: .syn, payloadLength: 8)
    let synOnly = ProbeReply(flags: [.syn, .ack], seq: 5, ack: 1001)
    let both = ProbeReply(flags: [.syn, .ack], seq: 5, ack: 1009)
    #expect(
      Conformance.judgeSYNData(segment: segment, synAck: both, replies: [both], ackedAfterHandshake: nil, ackedWhenResent: nil)
        .verdict == .conforms)
    #expect(
      Conformance.judgeSYNData(segment: segment, synAck: synOnly, replies: [synOnly], ackedAfterHandshake: true, ackedWhenResent: nil)
        .verdict == .conforms)
    let linux = Conformance.judgeSYNData(
      segment: segment, synAck: synOnly, replies: [synOnly], ackedAfterHandshake: false, ackedWhenResent: true)
    #expect(linux.verdict == .partly && linux.observed.contains("delivered only when sent again"))
    let wrong = ProbeReply(flags: [.syn, .ack], seq: 5, ack: 1003)
    #expect(
      Conformance.judgeSYNData(segment: segment, synAck: wrong, replies: [wrong], ackedAfterHandshake: nil, ackedWhenResent: nil)
        .verdict == .deviates)
    #expect(
      Conformance.judgeSYNData(segment: segment, synAck: nil, replies: [], ackedAfterHandshake: nil, ackedWhenResent: nil)
        .verdict == .noReply)
  }

  @Test("Exit status: 1 when a case deviates, else 3 when one could not be judged, else 0")
  func exitStatus() {
    #expect(Verdict.exitStatus([.conforms, .partly, .dropped, .noRequirement, .notRun]) == 0)
    #expect(Verdict.exitStatus([.conforms, .inconclusive]) == 3)
    #expect(Verdict.exitStatus([.inconclusive, .deviates]) == 1)
    #expect(Verdict.exitStatus([.noReply]) == 1)
    #expect(Verdict.exitStatus([]) == 0)
  }
}
