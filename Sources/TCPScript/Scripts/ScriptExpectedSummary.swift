extension ScriptMatcher {
  /// The tcpdump line of the segment an outbound script line describes, for failure reports.
  ///
  /// A field the line does not write is not checked (packetdrill's language), so the line does
  /// not claim a value for it: without `win N` the `win` field is left out, as the script leaves
  /// it out, instead of showing the `win 0` the frame built for the report happens to carry.
  public static func expectedSummary(_ line: ScriptPacket, connection: ScriptConnection) -> String? {
    guard let packet = expectedPacket(line, connection: connection) else { return nil }
    let summary = scriptSummary(packet)
    guard line.window == nil else { return summary }
    return Self.removingWindow(from: summary)
  }

  /// `summary` without its `win N` field (tcpdump separates fields with ", " and prints one
  /// `win` a segment; the options' list uses "," alone, so it is never split).
  static func removingWindow(from summary: String) -> String {
    let fields = summary.split(separator: ", ", omittingEmptySubsequences: false)
    let kept = fields.filter { field in
      guard field.hasPrefix("win ") else { return true }
      let number = field.dropFirst(4)
      return number.isEmpty || !number.allSatisfy(\.isNumber)
    }
    return kept.joined(separator: ", ")
  }
}
