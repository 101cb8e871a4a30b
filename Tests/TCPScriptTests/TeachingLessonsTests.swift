import PacketKit
import Testing

@testable import TCPScript

/// The lessons beside each segment: flags the first time they appear, MSS negotiation, window
/// scaling, half-close, a bad checksum marked, times from the capture timestamps, and the peer's
/// states placed on their rows. Entries carry real encoded packets.
@Suite struct TeachingLessonsTests {
  static let loopback = IPv4Address(rawValue: 0x7F00_0001)

  static func entry(
    _ direction: TranscriptEntry.Direction, _ flags: TCPFlags, seq: UInt32, ack: UInt32 = 0, payload: [UInt8] = [],
    options: [TCPOption] = [], checksum: UInt16? = nil, before: TCPState, after: TCPState, nanoseconds: Int32 = 0,
    peer: String? = nil
  ) throws -> TranscriptEntry {
    let sent = direction == .sent
    let ip = IPv4Header(sourceAddress: loopback, destinationAddress: loopback, identification: 1, flags: .dontFragment, timeToLive: 64)
    var tcp = TCPHeader(
      sourcePort: sent ? 57273 : 8080, destinationPort: sent ? 8080 : 57273, sequenceNumber: seq,
      acknowledgmentNumber: ack, flags: flags, window: 65535, options: options)
    if let checksum { tcp.checksum = checksum }
    var bytes: [UInt8] = []
    try (ip / tcp / payload).encode(into: &bytes)
    let entry = TranscriptEntry(
      elapsed: .zero, timestampSeconds: 1_700_000_000, timestampNanoseconds: nanoseconds, direction: direction,
      summary: "", sourceAddress: .v4(loopback), sourcePort: tcp.sourcePort, destinationAddress: .v4(loopback),
      destinationPort: tcp.destinationPort, flagBits: flags.rawValue, sequenceNumber: seq, acknowledgmentNumber: ack,
      window: 65535, payloadLength: payload.count, stateBefore: before, stateAfter: after, peerState: peer, packet: bytes)
    return entry
  }

  @Test func flagsAreExplainedTheFirstTimeOnly() throws {
    let syn = try Self.entry(.sent, .syn, seq: 100, before: .closed, after: .synSent)
    let synAck = try Self.entry(.received, [.syn, .ack], seq: 500, ack: 101, before: .synSent, after: .established)
    let ack = try Self.entry(.sent, .ack, seq: 101, ack: 501, before: .established, after: .established)
    let entries = [syn, synAck, ack]
    let first = try #require(Teaching.fullExplanation(syn, among: entries))
    #expect(first.contains("First SYN: synchronize"))
    let second = try #require(Teaching.fullExplanation(synAck, among: entries))
    #expect(second.contains("First ACK: acknowledgment") && !second.contains("First SYN"))
    #expect(!(Teaching.fullExplanation(ack, among: entries) ?? "").contains("First "))
  }

  @Test func mssNegotiationAndWindowScale() throws {
    let syn = try Self.entry(.received, .syn, seq: 500, options: [.maximumSegmentSize(65495), .noOperation, .windowScale(7)], before: .listen, after: .synReceived)
    let synAck = try Self.entry(.sent, [.syn, .ack], seq: 100, ack: 501, options: [.maximumSegmentSize(536)], before: .synReceived, after: .synReceived)
    let data = try Self.entry(.received, [.psh, .ack], seq: 501, ack: 101, payload: Array(repeating: 0x78, count: 1500), before: .established, after: .established)
    let entries = [syn, synAck, data]
    let offer = try #require(Teaching.fullExplanation(syn, among: entries))
    #expect(offer.contains("MSS 65495") && offer.contains("Window scale 7") && offer.contains("2^7 = 128 bytes"))
    let answer = try #require(Teaching.fullExplanation(synAck, among: entries))
    #expect(answer.contains("negotiated: each side sends at most min(65495, 536) = 536 bytes a segment"))
    let big = try #require(Teaching.fullExplanation(data, among: entries))
    #expect(big.contains("more than the MSS 536") && big.contains("a wire would carry 3 segments"))
  }

  @Test func halfCloseIsNamed() throws {
    let theirFIN = try Self.entry(.received, [.fin, .ack], seq: 500, ack: 101, before: .established, after: .closeWait)
    let ourData = try Self.entry(.sent, [.psh, .ack], seq: 101, ack: 501, payload: Array("late".utf8), before: .closeWait, after: .closeWait)
    let lesson = try #require(Teaching.fullExplanation(ourData, among: [theirFIN, ourData]))
    #expect(lesson.contains("Half-close: the peer's FIN closed only its direction"))
  }

  @Test func aBadChecksumIsMarkedAndChangesNoPeerState() throws {
    let good = try Self.entry(.sent, .syn, seq: 100, before: .closed, after: .synSent)
    #expect(Teaching.checksumMark(good) == nil)
    let bad = try Self.entry(.sent, .syn, seq: 100, checksum: 0xDEAD, before: .closed, after: .synSent, peer: "LISTEN")
    let mark = try #require(Teaching.checksumMark(bad))
    #expect(mark.hasPrefix("[bad TCP checksum 0xdead, should be 0x"))
    // The receiver drops it: its listener stays in LISTEN (no SYN-RECEIVED).
    var withBefore = bad
    withBefore.peerStateBefore = "LISTEN"
    let peers = PeerStates([withBefore])
    #expect(peers.initial == "LISTEN" && peers.after == ["LISTEN"] && peers.changed == [false])
  }

  @Test func timesCountFromTheFirstTimestamp() throws {
    let first = try Self.entry(.sent, .syn, seq: 1, before: .closed, after: .synSent, nanoseconds: 999_999_000)
    var later = try Self.entry(.received, [.syn, .ack], seq: 9, ack: 2, before: .synSent, after: .established, nanoseconds: 1_500)
    later.timestampSeconds += 2
    #expect(Teaching.time(first, since: first) == "0.000000")
    #expect(Teaching.time(later, since: first) == "1.000002")
  }

  @Test func simultaneousOpenCrosses() throws {
    let ours = try Self.entry(.sent, .syn, seq: 100, before: .closed, after: .synSent)
    let theirs = try Self.entry(.received, .syn, seq: 500, before: .synSent, after: .synReceived)
    #expect(SVGLadder.crossing(ours, theirs))
    let answer = try Self.entry(.received, [.syn, .ack], seq: 500, ack: 101, before: .synSent, after: .established)
    #expect(!SVGLadder.crossing(ours, answer))
  }

  @Test func timeWaitTimerIsShown() throws {
    var last = try Self.entry(.sent, .ack, seq: 101, ack: 502, before: .lastAck, after: .lastAck, peer: "TIME-WAIT")
    last.peerTimerMilliseconds = 59_820
    #expect(PeerStates.timeWaitNote(last) == "2·MSL timer: 59.8 s left")
  }

  @Test func pcapngCarriesTheLessons() throws {
    var transcript = Transcript()
    transcript.entries = [try Self.entry(.sent, .syn, seq: 100, before: .closed, after: .synSent, peer: "SYN-RECEIVED")]
    transcript.entries[0].peerStateBefore = "LISTEN"
    let packets = try PcapNGReader.packets(Teaching.pcapng(transcript))
    #expect(packets.count == 1)
    let comment = try #require(packets.first?.comments.first)
    #expect(comment.hasPrefix("#1 sent by us: SYN | us: CLOSED → SYN-SENT | peer: LISTEN → SYN-RECEIVED | Our SYN"))
    #expect(packets.first?.data == transcript.entries[0].packet)
    #expect(packets.first?.timestamp == 1_700_000_000 * 1_000_000_000)
  }
}
