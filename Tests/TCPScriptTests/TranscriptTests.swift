import PacketKit
import Testing
@testable import TCPScript

/// Output built from transcript entries: relative numbers, explanations, the ladder, JSON.
/// The entries are written by hand from the classic trace in the lab walkthrough (seed 001).
@Suite struct TranscriptTests {
  static let client: IPv4Address = .loopback

  static func entry(
    _ direction: TranscriptEntry.Direction, flags: UInt16, seq: UInt32, ack: UInt32, length: Int = 0,
    before: TCPState, after: TCPState, summary: String, peer: String? = nil
  ) -> TranscriptEntry {
    let sent = direction == .sent
    return TranscriptEntry(
      elapsed: .zero, timestampSeconds: 1_632_206_150, timestampNanoseconds: 265_450_000,
      direction: direction, summary: summary, sourceAddress: .v4(client), sourcePort: sent ? 57273 : 8080,
      destinationAddress: .v4(client), destinationPort: sent ? 8080 : 57273, flagBits: flags,
      sequenceNumber: seq, acknowledgmentNumber: ack, window: 65535, payloadLength: length,
      stateBefore: before, stateAfter: after, peerState: peer)
  }

  // 127.0.0.1.57273 > 127.0.0.1.8080: Flags [S], seq 84347051, win 65535, length 0
  static let syn = entry(
    .sent, flags: FlagBits.syn, seq: 84_347_051, ack: 0, before: .closed, after: .synSent,
    summary: "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [S], seq 84347051, win 65535, length 0", peer: "SYN-RECEIVED")
  // 127.0.0.1.8080 > 127.0.0.1.57273: Flags [S.], seq 2958367133, ack 84347052, win 65535, length 0
  static let synAck = entry(
    .received, flags: FlagBits.syn | FlagBits.ack, seq: 2_958_367_133, ack: 84_347_052, before: .synSent,
    after: .established,
    summary: "IP 127.0.0.1.8080 > 127.0.0.1.57273: Flags [S.], seq 2958367133, ack 84347052, win 65535, length 0",
    peer: "SYN-RECEIVED")
  // 127.0.0.1.57273 > 127.0.0.1.8080: Flags [.], ack 2958367134, win 65535, length 0
  static let ack = entry(
    .sent, flags: FlagBits.ack, seq: 84_347_052, ack: 2_958_367_134, before: .established, after: .established,
    summary: "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [.], ack 2958367134, win 65535, length 0",
    peer: "ESTABLISHED")
  // 127.0.0.1.57273 > 127.0.0.1.8080: Flags [P.], seq 84347052:84347057, ack 2958367134, win 65535, length 5
  static let data = entry(
    .sent, flags: FlagBits.psh | FlagBits.ack, seq: 84_347_052, ack: 2_958_367_134, length: 5,
    before: .established, after: .established,
    summary: "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [P.], seq 84347052:84347057, ack 2958367134, win 65535, length 5")
  // 127.0.0.1.57273 > 127.0.0.1.8080: Flags [F.], seq 84347052, ack 2958367134, win 65535, length 0
  static let fin = entry(
    .sent, flags: FlagBits.fin | FlagBits.ack, seq: 84_347_052, ack: 2_958_367_134, before: .established,
    after: .finWait1,
    summary: "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [F.], seq 84347052, ack 2958367134, win 65535, length 0",
    peer: "CLOSE-WAIT")

  @Test func sequenceLengthCountsSYNAndFIN() {
    #expect(Self.syn.sequenceLength == 1)
    #expect(Self.ack.sequenceLength == 0)
    #expect(Self.data.sequenceLength == 5)
    #expect(Self.fin.sequenceLength == 1)
  }

  @Test func relativeNumbersLikeTcpdumpWithoutS() {
    // SYNs keep absolute numbers; afterwards seq/ack count from the two ISNs.
    #expect(Self.syn.relativeSummary(ourISS: 84_347_051, peerIRS: 2_958_367_133) == Self.syn.summary)
    #expect(
      Self.ack.relativeSummary(ourISS: 84_347_051, peerIRS: 2_958_367_133)
        == "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [.], ack 1, win 65535, length 0")
    #expect(
      Self.data.relativeSummary(ourISS: 84_347_051, peerIRS: 2_958_367_133)
        == "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [P.], seq 1:6, ack 1, win 65535, length 5")
    #expect(
      Self.fin.relativeSummary(ourISS: 84_347_051, peerIRS: 2_958_367_133)
        == "IP 127.0.0.1.57273 > 127.0.0.1.8080: Flags [F.], seq 1, ack 1, win 65535, length 0")
  }

  @Test func explanationsQuoteTheArithmetic() throws {
    let syn = try #require(Explainer.explain(Self.syn))
    #expect(syn.contains("84347051") && syn.contains("84347052") && syn.contains("consumes one sequence number"))
    let synAck = try #require(Explainer.explain(Self.synAck))
    #expect(synAck.contains("ack = our ISN + 1 = 84347052"))
    let ack = try #require(Explainer.explain(Self.ack, ourISS: 84_347_051, peerIRS: 2_958_367_133))
    #expect(ack.contains("handshake is complete"))
    let fin = try #require(Explainer.explain(Self.fin))
    #expect(fin.contains("FIN-WAIT-1") && fin.contains("84347053"))
  }

  @Test func ladderDrawsArrowsBothWays() {
    let ladder = Ladder.draw(
      [Self.syn, Self.synAck, Self.ack], local: "127.0.0.1:57273", remote: "127.0.0.1:8080")
    let lines = ladder.split(separator: "\n").map(String.init)
    #expect(lines.count == 5)
    #expect(lines[0].contains("client 127.0.0.1:57273 (us)") && lines[0].contains("server 127.0.0.1:8080"))
    // Before the first segment: we are CLOSED, the server LISTENs.
    #expect(lines[1].hasPrefix("CLOSED") && lines[1].hasSuffix("| LISTEN"))
    #expect(lines[2].hasPrefix("SYN-SENT") && lines[2].contains("|-- SYN seq=84347051 ") && lines[2].hasSuffix(">| SYN-RECEIVED"))
    #expect(lines[3].hasPrefix("ESTABLISHED") && lines[3].contains("|<-- SYN,ACK seq=2958367133 ack=84347052 "))
    // Each state on the row where it began: ours is unchanged on the ACK row, the server's begins.
    #expect(!lines[4].hasPrefix("ESTABLISHED") && lines[4].contains("ACK seq=84347052 ack=2958367134") && lines[4].hasSuffix("| ESTABLISHED"))
    // Every arrow has the same width.
    let arrowWidths = lines.dropFirst().map { line in
      line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().first?.count ?? 0
    }
    #expect(Set(arrowWidths).count == 1)
  }

  @Test func jsonLineEscapesAndKeepsOrder() {
    var line = JSONLine()
    line.add("type", "segment")
    line.add("text", "a \"quoted\"\nline\t\u{1}")
    line.add("n", 42)
    line.add("ok", true)
    line.add("none", nil as String?)
    #expect(line.description == #"{"type":"segment","text":"a \"quoted\"\nline\t\u0001","n":42,"ok":true,"none":null}"#)
  }

  @Test func entryAsJSON() {
    let json = Self.synAck.json().description
    #expect(json.hasPrefix(#"{"type":"segment","time":1632206150.26545"#))
    #expect(json.contains(#""direction":"in""#))
    #expect(json.contains(#""flags":"SYN,ACK""#))
    #expect(json.contains(#""seq":2958367133,"ack":84347052"#))
    #expect(json.contains(#""state_before":"SYN-SENT","state_after":"ESTABLISHED","peer_state":"SYN-RECEIVED""#))
    // The explanation is made here, by presentation, not stored by the flow.
    #expect(json.contains(#""explanation":"#) && json.contains("ack = our ISN + 1 = 84347052"))
  }

  @Test func errorsSayWhatWasAwaited() {
    let timeout = ScriptError.timedOut(
      step: "handshake: waiting for SYN+ACK", expected: "Flags [S.], ack 84347052", waited: .milliseconds(1500), unmatched: [])
    #expect(timeout.description == "handshake: waiting for SYN+ACK: no reply: waited 1.5 s for Flags [S.], ack 84347052, and nothing arrived")
    let reset = ScriptError.reset(step: "handshake", summary: "IP ...: Flags [R.]", portClosed: true)
    #expect(reset.description.contains("port closed"))
  }
}
