import PacketKit
import Testing
@testable import TCPScript

/// A script's log as a Flow `Transcript`: directions from the script's side, our RFC 9293 state
/// walked on the segments, calls and non-TCP packets left out, ignored segments kept as unexpected.
@Suite struct ScriptTranscriptTests {
  static let remote = IPv4Address(192, 0, 2, 1)
  static let local = IPv4Address(192, 168, 0, 1)

  static func packet(_ flags: TCPFlags, seq: UInt32, ack: UInt32, fromScript: Bool, length: Int = 0, port: UInt16 = 8080) -> [UInt8] {
    let tcp = TCPHeader(
      sourcePort: fromScript ? 48123 : port, destinationPort: fromScript ? port : 48123, sequenceNumber: seq,
      acknowledgmentNumber: ack, flags: flags, window: 1000)
    let ip = IPv4Header(sourceAddress: fromScript ? remote : local, destinationAddress: fromScript ? local : remote)
    return (try? (ip / tcp / [UInt8](repeating: 0, count: length)).encoded()) ?? []
  }

  static func entry(
    _ kind: ScriptTranscriptEntry.Kind, _ packet: [UInt8]?, text: String = "", note: ScriptTranscriptEntry.Note? = nil,
    time: Int64
  ) -> ScriptTranscriptEntry {
    var entry = ScriptTranscriptEntry(time: time, kind: kind, text: text, line: 1, packet: packet)
    entry.note = note
    return entry
  }

  @Test("A passive close played by a script: directions, states, ISNs, times, notes")
  func passiveClose() {
    let log: [ScriptTranscriptEntry] = [
      Self.entry(.call, nil, text: "connect(...) = 0", time: 0),
      Self.entry(.outbound, Self.packet(.syn, seq: 500, ack: 0, fromScript: false), time: 100),
      Self.entry(.inbound, Self.packet([.syn, .ack], seq: 0, ack: 501, fromScript: true), time: 200),
      Self.entry(.outbound, Self.packet(.ack, seq: 501, ack: 1, fromScript: false), time: 300),
      Self.entry(
        .outbound, Self.packet(.ack, seq: 9, ack: 9, fromScript: false, port: 9999), note: .otherConnection, time: 350),
      Self.entry(.outbound, Self.packet([.fin, .ack], seq: 501, ack: 1, fromScript: false, length: 10), time: 400),
      Self.entry(.inbound, Self.packet(.ack, seq: 1, ack: 512, fromScript: true), time: 500),
      Self.entry(.inbound, Self.packet([.fin, .ack], seq: 1, ack: 512, fromScript: true), time: 600),
      Self.entry(.outbound, Self.packet(.ack, seq: 512, ack: 2, fromScript: false), time: 700),
    ]
    var result = ScriptResult(path: "p.pkt", status: .passed, transcript: log)
    result.startRealtimeMicroseconds = 1_700_000_000_000_000
    let transcript = result.flowTranscript
    #expect(transcript.entries.count == 8)
    #expect(transcript.entries.map(\.direction) == [.received, .sent, .received, .received, .received, .sent, .sent, .received])
    #expect(transcript.entries.map(\.stateAfter) == [.synReceived, .synReceived, .established, .established, .closeWait, .closeWait, .lastAck, .closed])
    #expect(transcript.initialSendSequence == 0 && transcript.initialReceiveSequence == 500)
    #expect(transcript.entries[3].expected == false && transcript.entries[3].note == "another connection: ignored")
    #expect(transcript.entries[0].elapsed == .microseconds(100))
    #expect(transcript.entries[0].timestampSeconds == 1_700_000_000 && transcript.entries[0].timestampNanoseconds == 100_000)
    #expect(transcript.entries[4].payloadLength == 10 && transcript.entries[4].summary.contains("Flags [F.]"))
    #expect(transcript.entries.allSatisfy { $0.sourceAddress == .v4(Self.remote) || $0.sourceAddress == .v4(Self.local) })
  }

  @Test("A refused SYN: RST from the kernel closes our SYN-SENT; UDP datagrams are left out")
  func refused() throws {
    let udp = try (IPv4Header(sourceAddress: Self.remote, destinationAddress: Self.local)
      / UDPHeader(sourcePort: 1, destinationPort: 2) / [UInt8](repeating: 0, count: 3)).encoded()
    let log: [ScriptTranscriptEntry] = [
      Self.entry(.inbound, udp, time: 0),
      Self.entry(.inbound, Self.packet(.syn, seq: 0, ack: 0, fromScript: true), time: 10),
      Self.entry(.outbound, Self.packet([.rst, .ack], seq: 0, ack: 1, fromScript: false), time: 20),
    ]
    let transcript = ScriptResult(path: "r.pkt", status: .passed, transcript: log).flowTranscript
    #expect(transcript.entries.map(\.flagNames) == ["SYN", "RST,ACK"])
    #expect(transcript.entries.map(\.stateAfter) == [.synSent, .closed])
  }
}
