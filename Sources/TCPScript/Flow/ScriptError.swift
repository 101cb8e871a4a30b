/// Why a step of a scripted exchange did not go as asked.
///
/// Every case names the step (`"handshake: waiting for SYN+ACK"`) and says what happened in one
/// or two plain sentences (`description`), fit to print as the last line of a command.
public enum ScriptError: Error, Sendable, CustomStringConvertible {
  /// Nothing matching `expected` arrived within `waited`. `unmatched` holds the summaries of the
  /// segments that did arrive but did not match.
  case timedOut(step: String, expected: String, waited: Duration, unmatched: [String])
  /// The peer answered with a RST. `portClosed` when it answered our SYN (nothing listening).
  case reset(step: String, summary: String, portClosed: Bool)
  /// A segment arrived that contradicts the expectation (and nothing matching followed).
  case mismatch(step: String, expected: String, got: String)
  /// A capability is missing: the message says which one and how to grant it.
  case privileges(String)
  /// A system call failed (`description` carries the errno text).
  case system(step: String, description: String)
  /// Our crafted segment was dropped by a firewall rule (EPERM from `sendto`).
  case blockedByFirewall(step: String)
  /// The segment could not be built (a field override out of range, ...).
  case packet(step: String, description: String)
  /// The flow is not in a state where the step makes sense.
  case invalidState(step: String, state: TCPState)

  public var description: String {
    switch self {
    case .timedOut(let step, let expected, let waited, let unmatched):
      var text = "\(step): no reply: waited \(ScriptError.format(waited)) for \(expected)"
      if unmatched.isEmpty {
        text += ", and nothing arrived"
      } else {
        text += "; got instead: " + unmatched.joined(separator: "; ")
      }
      return text
    case .reset(let step, let summary, let portClosed):
      if portClosed {
        return "\(step): port closed: the peer answered with RST (\(summary)); nothing is "
          + "listening on that port, so its kernel refused the connection"
      }
      return "\(step): the peer reset the connection (\(summary))"
    case .mismatch(let step, let expected, let got):
      return "\(step): expected \(expected), got \(got)"
    case .privileges(let message):
      return message
    case .system(let step, let description):
      return "\(step): \(description)"
    case .blockedByFirewall(let step):
      return "\(step): our segment was blocked by the firewall (sendto returned EPERM)"
    case .packet(let step, let description):
      return "\(step): cannot build the segment: \(description)"
    case .invalidState(let step, let state):
      return "\(step): not possible in state \(state)"
    }
  }

  /// `1.5 s`, `200 ms`.
  public static func format(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
    if milliseconds < 1000 { return "\(milliseconds) ms" }
    let tenths = (milliseconds % 1000) / 100
    return "\(milliseconds / 1000).\(tenths) s"
  }
}
