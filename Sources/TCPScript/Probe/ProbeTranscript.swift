import PacketKit

extension ProbeResult {
  /// The case as a `Transcript`: every packet it sent and received (setup, controls, crafted,
  /// replies, follow-up, cleanup), in order, with our side's RFC 9293 state before and after each
  /// (crafted segments are injected beside the state machine and leave it as it was) and the
  /// packet's role as its note, so that the ladder, `--explain` and pcap files work for
  /// probe cases as for any flow. A crafted segment's explanation is the rule it tests.
  public var transcript: Transcript {
    var transcript = Transcript()
    var state = TCPState.closed
    guard let first = records.first else { return transcript }
    let start = Duration.seconds(first.timestampSeconds) + .nanoseconds(Int64(first.timestampNanoseconds))
    for record in records {
      guard let ip = try? IPv4View(validating: record.bytes[...]) else { continue }
      let tcp = ip.protocol == .tcp ? try? TCPView(validating: ip.payload) : nil
      let bits = tcp.map { $0.flags.rawValue } ?? 0
      let before = state
      let sent = record.direction == .sent
      // A crafted segment is injected, not a step of our state machine: it changes nothing here.
      if tcp != nil && record.role != "crafted" {
        if bits & FlagBits.rst != 0 {
          state = .closed
        } else if sent && bits & FlagBits.syn != 0 && bits & FlagBits.ack == 0 && before == .closed {
          state = .synSent
        } else if !sent && before == .synSent && bits & (FlagBits.syn | FlagBits.ack) == FlagBits.syn | FlagBits.ack {
          state = .established
        }
      }
      let time = Duration.seconds(record.timestampSeconds) + .nanoseconds(Int64(record.timestampNanoseconds))
      var entry = TranscriptEntry(
        elapsed: time - start, timestampSeconds: record.timestampSeconds, timestampNanoseconds: record.timestampNanoseconds,
        direction: sent ? .sent : .received, summary: record.summary, sourceAddress: ip.sourceAddress,
        sourcePort: tcp?.sourcePort ?? 0, destinationAddress: ip.destinationAddress,
        destinationPort: tcp?.destinationPort ?? 0, flagBits: bits, sequenceNumber: tcp?.sequenceNumber ?? 0,
        acknowledgmentNumber: tcp?.acknowledgmentNumber ?? 0, window: tcp?.window ?? 0,
        payloadLength: tcp?.payload.count ?? 0, stateBefore: before, stateAfter: state, note: record.role,
        packet: record.bytes)
      entry.explanation =
        record.role == "crafted"
        ? "\(edgeCase.name): \(edgeCase.rfc) [\(edgeCase.requirement.rawValue)]: \(edgeCase.rule)"
        : Explainer.explain(entry)
      if sent && bits & FlagBits.syn != 0 && transcript.initialSendSequence == nil, let tcp {
        transcript.initialSendSequence = tcp.sequenceNumber
      }
      if !sent && bits & FlagBits.syn != 0 && transcript.initialReceiveSequence == nil, let tcp {
        transcript.initialReceiveSequence = tcp.sequenceNumber
      }
      transcript.entries.append(entry)
    }
    return transcript
  }
}
