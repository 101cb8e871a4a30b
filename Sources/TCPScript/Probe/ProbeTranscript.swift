import PacketKit

extension ProbeResult {
  /// A case's flow transcript with each entry's role (`setup`, `control`, `crafted`, `reply`,
  /// `follow-up`, `cleanup`) as its note (before any note the flow gave it), and, for a crafted
  /// packet, the rule it tests as its explanation.
  static func transcript(_ flowTranscript: Transcript, roles: [String], edgeCase: EdgeCase) -> Transcript {
    var transcript = flowTranscript
    for index in transcript.entries.indices {
      let role = index < roles.count ? roles[index] : "reply"
      let note = transcript.entries[index].note
      transcript.entries[index].note = note.map { "\(role): \($0)" } ?? role
      if role == "crafted" {
        transcript.entries[index].explanation =
          "\(edgeCase.name): \(edgeCase.rfc) [\(edgeCase.requirement.rawValue)]: \(edgeCase.rule)"
      }
    }
    return transcript
  }
}
